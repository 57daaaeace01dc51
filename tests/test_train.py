"""The evaluator's training loop on a small real subset: it learns, it is deterministic, and a
killed-and-resumed run ends bitwise where an uninterrupted one does."""
from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from nas.config import TrainConfig
from nas.errors import ConfigError
from nas.training.loop import Diverged, train
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network

QUICK = TrainConfig(epochs=2, batch_size=64, lr=0.05, threads=2)


@pytest.fixture(scope="module")
def tiny_splits(small_splits):
    """1,024 training images (8 steps of 128 an epoch), 500 validation, 500 test: enough for tests
    that compare trainings with each other bit for bit rather than judge how well they learn."""
    s = small_splits
    return replace(s, train_x=s.train_x[:1024], train_y=s.train_y[:1024], val_x=s.val_x[:500], val_y=s.val_y[:500],
                   test_x=s.test_x[:500], test_y=s.test_y[:500])


def test_training_learns_and_reports_every_epoch(small_splits):
    seen = []
    hist = train(build_network(BASELINES["exp3"]["arch"]), small_splits, QUICK, on_epoch=seen.append)
    assert [r["epoch"] for r in hist] == [1, 2] and seen == hist
    assert hist[-1]["val_acc"] > 80 and hist[-1]["test_acc"] > 80  # 2,000 images, 2 epochs
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    for r in hist:
        assert all(math.isfinite(r[k]) for k in ("train_loss", "val_loss", "test_loss", "seconds"))


def test_same_seed_same_weights_other_seed_other_weights(tiny_splits):
    cfg = TrainConfig(epochs=1, batch_size=128, threads=2, train_subset=0)
    arch = BASELINES["exp4"]["arch"]  # BN + dropout + augmentation: every source of randomness
    a, b, c = build_network(arch), build_network(arch), build_network(arch)
    ha = train(a, tiny_splits, cfg)
    hb = train(b, tiny_splits, cfg)
    train(c, tiny_splits, TrainConfig(epochs=1, batch_size=128, threads=2, seed=1))
    timeless = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert timeless(ha) == timeless(hb)  # every loss and accuracy of the epoch, not only one
    for (k, va), vb, vc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(va, vb), k
    assert not all(torch.equal(va, vc) for va, vc in zip(a.state_dict().values(), c.state_dict().values()))


@pytest.mark.parametrize("schedule, masks, ema", [  # the first in the fast subset, the other three with the slow tests
    ("onecycle", "torch", 0.0), pytest.param("step", "torch", 0.0, marks=pytest.mark.slow),
    pytest.param("onecycle", "pcg64", 0.0, marks=pytest.mark.slow),
    pytest.param("onecycle", "torch", 0.9, marks=pytest.mark.slow)])
def test_resume_from_checkpoint_is_bitwise_identical(tiny_splits, tmp_path, schedule, masks, ema):
    cfg = TrainConfig(epochs=3, batch_size=128, threads=2, schedule=schedule, step_epochs=1, dropout_masks=masks,
                      ema=ema)
    arch = BASELINES["exp4"]["arch"]
    full = build_network(arch)
    h_full = train(full, tiny_splits, cfg)
    # "kill" after epoch 2: a run configured for 2 epochs leaves the same checkpoint as epoch 2 of 3
    # would, except the OneCycle schedule depends on the total, so stop by raising from the callback
    ckpt = tmp_path / "ckpt.pt"

    class Killed(Exception):
        pass

    def kill_after_2(r):
        if r["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train(build_network(arch), tiny_splits, cfg, on_epoch=kill_after_2, checkpoint=ckpt)
    resumed = build_network(arch)
    h_res = train(resumed, tiny_splits, cfg, checkpoint=ckpt)
    assert len(h_res) == 3
    assert [r["val_acc"] for r in h_res] == [r["val_acc"] for r in h_full]
    for (k, va), vb in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(va, vb), k


def test_divergence_is_reported_not_silent(small_splits):
    with pytest.raises(Diverged, match="training diverged: loss is nan"):
        train(build_network(BASELINES["exp2"]["arch"]), small_splits,
              TrainConfig(epochs=1, lr=1e6, schedule="constant", threads=2, augment=False))


def test_a_one_step_onecycle_warmup_is_a_clear_error(small_splits):
    from nas.config import ConfigError
    from dataclasses import replace

    tiny = replace(small_splits, train_x=small_splits.train_x[:600], train_y=small_splits.train_y[:600])  # 5 steps
    with pytest.raises(ConfigError, match="onecycle schedule cannot run 5 steps with pct_start=0.2"):
        train(build_network(BASELINES["exp2"]["arch"]), tiny, TrainConfig(epochs=1, threads=2))


def test_a_recipe_that_cannot_run_fails_before_the_run_folder_exists(tmp_path, data_dir):
    """Refused at the config check, the run writes nothing, so the corrected command needs no --force."""
    from nas.training.runs import run

    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="onecycle schedule cannot run 5 steps"):
        run(BASELINES["exp2"]["arch"], TrainConfig(epochs=1, train_subset=600, val_size=500, threads=2),
                  [0], out, data_dir)
    assert not out.exists()


def test_a_training_that_selects_evaluates_no_test_image(tiny_splits):
    from dataclasses import replace

    cfg = TrainConfig(epochs=2, batch_size=128, threads=2)
    every = train(build_network(BASELINES["exp3"]["arch"]), tiny_splits, cfg)
    # test images it could not evaluate: a look at them would fail
    blind = replace(tiny_splits, test_x=tiny_splits.test_x[:, :, :1, :1])
    none = train(build_network(BASELINES["exp3"]["arch"]), blind, cfg, evaluate_test=False)
    assert all(math.isnan(r["test_acc"]) and math.isnan(r["test_loss"]) for r in none)
    assert [r["val_acc"] for r in none] == [r["val_acc"] for r in every]


def test_pcg64_masks_are_deterministic_and_differ_from_torchs(small_splits):
    cfg = TrainConfig(epochs=1, batch_size=128, threads=2, dropout_masks="pcg64")
    arch = BASELINES["exp4"]["arch"]  # dropout 0.05 after every conv
    a, b, c = build_network(arch), build_network(arch), build_network(arch)
    ha, hb = train(a, small_splits, cfg), train(b, small_splits, cfg)
    hc = train(c, small_splits, TrainConfig(epochs=1, batch_size=128, threads=2))
    assert ha[0]["train_loss"] == hb[0]["train_loss"] and ha[0]["train_loss"] != hc[0]["train_loss"]
    assert all(torch.equal(va, vb) for va, vb in zip(a.state_dict().values(), b.state_dict().values()))
    assert abs(ha[0]["val_acc"] - hc[0]["val_acc"]) < 5  # the same kind of training, another stream
    # training over, the modules are plain nn.Dropout again
    assert all("forward" not in vars(m) for m in a.modules())


def test_weight_average_follows_the_ramped_decay_and_copies_counts():
    from nas.training.ema import WeightAverage

    live = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False), torch.nn.BatchNorm1d(1))
    with torch.no_grad():
        live[0].weight.fill_(1.0)
    avg = WeightAverage(live, decay=0.5)
    expect = 1.0
    for step, value in enumerate([3.0, 5.0, 7.0], start=1):
        with torch.no_grad():
            live[0].weight.fill_(value)
        live[1].num_batches_tracked += 1
        avg.update()
        d = min(0.5, (1 + step) / (10 + step))  # 0.1818, 0.25, then the cap would be 0.3077 < 0.5
        expect = d * expect + (1 - d) * value
        assert avg.model[0].weight[0, 0].item() == pytest.approx(expect, rel=1e-6)
    assert avg.model[1].num_batches_tracked.item() == 3  # a count is copied, not averaged
    assert live[0].weight.requires_grad and not avg.model[0].weight.requires_grad
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(live, decay=1.0)


def test_ema_scores_the_average_and_leaves_the_training_path_alone(tiny_splits):
    from nas.training.loop import evaluate

    arch = BASELINES["exp4"]["arch"]  # BN + dropout: running statistics are averaged too
    plain, averaged = build_network(arch), build_network(arch)
    cfg = TrainConfig(epochs=2, batch_size=128, threads=2)
    hp = train(plain, tiny_splits, cfg)
    ha = train(averaged, tiny_splits, TrainConfig(epochs=2, batch_size=128, threads=2, ema=0.99))
    # the average draws no random numbers and changes no step: the trained path is the same
    assert [r["train_loss"] for r in ha] == [r["train_loss"] for r in hp]
    # what was scored is the average, and it is what the model holds at the end
    assert ha[-1]["val_acc"] != hp[-1]["val_acc"] or ha[-1]["val_loss"] != hp[-1]["val_loss"]
    assert evaluate(averaged, tiny_splits.val_x, tiny_splits.val_y)[1] == ha[-1]["val_acc"]
    assert not all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), averaged.state_dict().values()))


def test_eager_sgd_is_torchs_sgd_bit_for_bit_without_importing_dynamo(tmp_path):
    # a fresh process: this one may have imported torch._dynamo already
    script = '''
import sys, torch
from nas.config import TrainConfig
from nas.errors import ConfigError
from nas.training.loop import make_optimizer
from search_spaces.baselines import EXP3
from search_spaces.blocks import build_network
torch.manual_seed(0)
ours, ref = build_network(EXP3), build_network(EXP3)
ref.load_state_dict(ours.state_dict())
x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
opt = make_optimizer(ours, TrainConfig())
def steps(model, opt, n):
    torch.manual_seed(1)  # the same dropout masks for both
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=20)
    for _ in range(n):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
steps(ours, opt, 4)
state = opt.state_dict()
opt.load_state_dict(state)
assert "torch._dynamo" not in sys.modules, "EagerSGD imported torch._dynamo"
ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
steps(ref, ref_opt, 4)
assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), ref.state_dict().values()))
ref_state = ref_opt.state_dict()
assert state["param_groups"] == ref_state["param_groups"]
assert all(torch.equal(state["state"][i]["momentum_buffer"], ref_state["state"][i]["momentum_buffer"])
           for i in ref_state["state"])
print("ok")
'''
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
