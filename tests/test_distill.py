"""Knowledge distillation (nas/training/teacher.py): the loss on known logits, which teachers a run may
use, what its config records, and a tiny run that learns from a teacher."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import export_files_skipped
from nas.config import ConfigError, TrainConfig
from nas.errors import RunError
from nas.training.runs import run
from nas.training.teacher import check_split, describe, distill_loss

# a small network with BatchNorm and a strided stem (unas's pick): 40 steps take it past 80% on validation
ARCH = dict(depth1=1, pad1=0, c1_0=8, trans1=6, depth2=1, pad2=0, c2_0=10, depth3=0, bn=True, dropout=0.0,
            head="conv_full", tkind1="conv_s2", sq2=8, sqpos2=1, stem="conv_s2", stem_width=6)
TINY = dict(epochs=1, train_subset=2000, threads=2, batch_size=50)  # a few seconds a run


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_the_loss_on_known_logits():
    s = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3]])
    t = np.array([[3.0, 1.0, 0.0], [-1.0, 2.0, 1.0]])
    y = np.array([0, 2])
    T, w = 2.0, 0.3
    hard = -np.mean(np.log(_softmax(s)[np.arange(2), y]))
    p, q = _softmax(t / T), _softmax(s / T)
    soft = np.mean(np.sum(p * (np.log(p) - np.log(q)), 1)) * T * T
    got = distill_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), T, w).item()
    assert got == pytest.approx((1 - w) * hard + w * soft, rel=1e-9)
    # weight 0 is the labels' loss; a student equal to its teacher has no soft loss
    assert distill_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), T, 0.0).item() == pytest.approx(hard)
    assert distill_loss(torch.tensor(t), torch.tensor(t), torch.tensor(y), T, 1.0).item() == pytest.approx(0, abs=1e-12)


def test_bad_distillation_settings_are_config_errors():
    with pytest.raises(ConfigError, match="kd_weight"):
        TrainConfig(kd_weight=1.5)
    with pytest.raises(ConfigError, match="kd_temperature"):
        TrainConfig(kd_temperature=0)


@pytest.fixture(scope="module")
def quick_runs():
    with export_files_skipped():  # this module's in-process runs test the teacher, not their files
        yield


@pytest.fixture(scope="module")
def teachers(tmp_path_factory, data_dir, quick_runs):
    """A tiny trained teacher that held out validation (val_size 500, split_seed 0, no test image
    read), and the same weights recorded as trained on every image (only the record differs: the
    refusal reads the record)."""
    root = tmp_path_factory.mktemp("teachers")
    run(ARCH, TrainConfig(**TINY, val_size=500), [0], root / "held-out", data_dir, evaluate_test=False, log=lambda *_: None)
    shutil.copytree(root / "held-out", root / "all")
    config = json.loads((root / "all" / "config.json").read_text())
    config["train"]["val_size"] = 0
    (root / "all" / "config.json").write_text(json.dumps(config))
    return root


@pytest.fixture(scope="module")
def student(teachers, data_dir, tmp_path_factory):
    """`nas train --no-test` of a student with a teacher: (its folder, its teacher's folder, the output)."""
    root = tmp_path_factory.mktemp("student")
    teacher = root / "teacher"
    shutil.copytree(teachers / "held-out", teacher)
    arch = root / "arch.json"
    arch.write_text(json.dumps({"arch": ARCH}))
    r = subprocess.run([sys.executable, "-m", "nas", "train", str(arch), "--out", str(root / "run"), "--no-test",
                        "--data-dir", str(data_dir), *_tiny_args(), "--set", f"teacher={teacher}",
                        "--set", "kd_weight=0.7"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return root / "run", teacher, r.stdout


def _tiny_args(**over) -> list[str]:
    sets = {**{k: v for k, v in TINY.items() if k != "epochs"}, "val_size": 500, **over}
    return ["--epochs", str(TINY["epochs"])] + [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


@pytest.mark.slow  # tiny trainings
def test_the_config_records_the_teacher_and_a_tiny_run_learns_from_it(student):
    out, teacher, stdout = student
    config = json.loads((out / "config.json").read_text())
    t = config["teacher"]
    assert t["sha256"] == hashlib.sha256((teacher / "seed0" / "model.pt").read_bytes()).hexdigest()
    assert t["kind"] == "run" and t["val_size"] == 500 and t["train_images"] == 2000
    history = json.loads((teacher / "seed0" / "history.json").read_text())
    assert t["accuracy"] == {"val_acc": pytest.approx(history[-1]["val_acc"])}  # one epoch: its late mean
    assert config["train"]["teacher"] == str(teacher) and config["train"]["kd_weight"] == 0.7
    rows = json.loads((out / "seed0" / "history.json").read_text())
    assert rows[0]["teacher_seconds"] > 0 and rows[0]["val_acc"] > 50  # it learnt, with the teacher beside it
    assert all(r["test_acc"] is None for r in rows)  # --no-test: no test image read
    cost = json.loads((out / "summary.json").read_text())["teacher_cost"]
    assert 0 < cost["teacher_seconds"] < cost["seconds"] and cost["adds_pct"] > 0
    assert "teacher" in stdout and t["sha256"][:12] in stdout


@pytest.mark.slow  # tiny trainings
def test_a_run_resumes_only_with_the_same_teacher_file(student, teachers, data_dir, quick_runs):
    out, teacher, _ = student
    (teacher / "seed0" / "model.pt").write_bytes((teacher / "seed0" / "model.pt").read_bytes() + b"\0")  # retrained
    cfg = TrainConfig(**TINY, val_size=500, teacher=str(teacher), kd_weight=0.7)
    with pytest.raises(RunError, match="another teacher"):
        run(ARCH, cfg, [0], out, data_dir, resume=True, evaluate_test=False, log=lambda *_: None)


@pytest.mark.slow  # tiny trainings
def test_a_teacher_that_saw_the_validation_images_is_refused_where_they_are_read(teachers, data_dir, tmp_path):
    for teacher, cfg in [(teachers / "all", dict(val_size=500)),                       # trained on them
                         (teachers / "held-out", dict(val_size=1000)),                 # a larger split
                         (teachers / "held-out", dict(val_size=500, split_seed=1))]:   # another split
        with pytest.raises(ConfigError, match="validation images"):
            run(ARCH, TrainConfig(**{**TINY, **cfg}, teacher=str(teacher)), [0], tmp_path / "refused", data_dir,
                evaluate_test=False, log=lambda *_: None)
        assert not (tmp_path / "refused").exists()  # refused before anything is written
    assert "train_acc" in describe(str(teachers / "all")).accuracy  # what it reached on its training images
    # a confirmation reads no validation image: the teacher of all 60,000 may teach it
    check_split(describe(str(teachers / "all")), "mnist", 0, 0)
    # a smaller split of the same seed lies inside the teacher's held-out images
    check_split(describe(str(teachers / "held-out" / "seed0")), "mnist", 300, 0)
    with pytest.raises(ConfigError, match="fashion-mnist"):
        check_split(describe(str(teachers / "held-out")), "fashion-mnist", 0, 0)
    # on the command line: one line, exit 2, nothing written
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"arch": ARCH}))
    bad = subprocess.run([sys.executable, "-m", "nas", "train", str(arch), "--out", str(tmp_path / "bad"),
                          "--data-dir", str(data_dir), *_tiny_args(), "--set", f"teacher={teachers / 'all'}"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "validation" in bad.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow  # tiny trainings
def test_a_torchscript_teacher_teaches_a_confirmation_but_not_a_selection(teachers, data_dir, tmp_path, quick_runs):
    from search_spaces.blocks import build_network

    net = build_network(ARCH)
    net.load_state_dict(torch.load(teachers / "held-out" / "seed0" / "model.pt", weights_only=True))
    file = tmp_path / "teacher.ts"
    torch.jit.save(torch.jit.trace(net.eval(), torch.zeros(2, 1, 28, 28)), str(file))
    with pytest.raises(ConfigError, match="TorchScript"):
        run(ARCH, TrainConfig(**TINY, val_size=500, teacher=str(file)), [0], tmp_path / "sel", data_dir,
            evaluate_test=False, log=lambda *_: None)
    run(ARCH, TrainConfig(**TINY, val_size=0, teacher=str(file)), [0], tmp_path / "conf", data_dir,
        evaluate_test=False, log=lambda *_: None)
    assert json.loads((tmp_path / "conf" / "config.json").read_text())["teacher"]["kind"] == "torchscript"
    (tmp_path / "junk.pt").write_text("not a model")  # a file that is no model is one clear line
    with pytest.raises(ConfigError, match="not a TorchScript file"):
        describe(str(tmp_path / "junk.pt"))


def test_a_search_refuses_such_a_teacher_before_anything_is_written(teachers, data_dir, tmp_path):
    from nas.config import SearchConfig
    from nas.engine.launch import search
    from test_e2e import free_port

    res = tmp_path / "res"
    with pytest.raises(ConfigError, match="validation images"):
        search(SearchConfig(schedule="flat", trials=1, port=free_port()),
               TrainConfig(val_size=500, teacher=str(teachers / "all")), results=res, exp_id="kd",
               data_dir=str(data_dir), log=lambda *_: None)
    assert not (res / "searches" / "kd").exists()


@pytest.mark.slow  # tiny trainings
def test_a_remote_worker_finds_the_teacher_staged_with_the_code(teachers, tmp_path):
    """What a remote search uploads (nas.engine.machines.stage_code, then the teacher beside it) is
    enough for a trial there to find the teacher by the driver's path, which the worker lacks."""
    from nas.engine.machines import stage_code
    from nas.training.teacher import stage

    spec = str(teachers / "held-out")
    code = stage_code(tmp_path / "exp")
    stage(spec, code)
    worker = tmp_path / "worker"
    shutil.copytree(code, worker)  # the worker's copy: the driver's teacher folder is not there
    probe = ("import sys; from nas.training.teacher import on_this_machine, describe; "
             "p = on_this_machine(sys.argv[1]); print(p); print(describe(p).sha256)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(worker)}
    moved = str(tmp_path / "gone")
    shutil.move(spec, moved)  # as on a worker: the spec's path does not exist
    try:
        r = subprocess.run([sys.executable, "-c", probe, spec], capture_output=True, text=True, cwd=worker, env=env,
                           timeout=120)
    finally:
        shutil.move(moved, spec)
    assert r.returncode == 0, r.stderr
    path, sha = r.stdout.split()
    assert path.startswith(str(worker)) and sha == hashlib.sha256((teachers / "held-out" / "seed0" / "model.pt")
                                                                    .read_bytes()).hexdigest()


@pytest.mark.slow  # tiny trainings
def test_a_recipe_study_compares_the_teacher_with_the_default_seed_by_seed(teachers, data_dir, tmp_path, quick_runs):
    from nas.studies.recipe import parse_variant, study

    small = ",".join(f"{k}={v}" for k, v in {**TINY, "val_size": 500}.items() if k != "epochs")
    variants = [parse_variant(f"default:{small}"),
                parse_variant(f"kd:{small},teacher={teachers / 'held-out'},kd_temperature=2,kd_weight=0.9")]
    r = study(str(_arch_file(tmp_path)), variants, [0, 1], tmp_path / "study", epochs=1, data_dir=str(data_dir))
    default, kd = r["variants"]
    vs = kd["versus_default"]
    gaps = [a - b for a, b in zip(kd["seed_scores"], default["seed_scores"])]
    assert vs["seeds"] == [0, 1] and vs["gap"] == pytest.approx(sum(gaps) / 2)
    assert vs["verdict"] in ("better", "worse", "tie") and vs["gap_half_width"] > 0
    assert "versus_default" not in default and "teacher_cost" in kd and "teacher_cost" not in default
    assert kd["overrides"]["teacher"] == str(teachers / "held-out") and kd["overrides"]["kd_weight"] == 0.9


def _arch_file(folder):
    file = folder / "arch.json"
    file.write_text(json.dumps({"arch": ARCH}))
    return file


def _study_run(folder, late_val: dict[int, float], teacher_s: float = 0.0, late_test: dict[int, list] | None = None):
    """A recipe-study run folder whose seed S ends with 3 epochs at validation accuracy late_val[S]
    (with `late_test`: a confirmation's, whose seed S reads late_test[S] on the test set)."""
    from dataclasses import asdict

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"name": "x", "source": "", "arch": ARCH, "train": asdict(TrainConfig(epochs=3, val_size=5000)),
         "seeds": sorted(late_val), "params": 2894, "flops": 1, "evaluate_test": late_test is not None}))
    for seed, v in late_val.items():
        (folder / f"seed{seed}").mkdir()
        tests = late_test[seed] if late_test else [None] * 3
        rows = [dict(epoch=i + 1, lr=0.01, train_loss=0.1, train_acc=99.0, val_loss=0.03, val_acc=v, test_loss=None,
                     test_acc=tests[i], seconds=10.0, **({"teacher_seconds": teacher_s} if teacher_s else {}))
                for i in range(3)]
        (folder / f"seed{seed}" / "history.json").write_text(json.dumps(rows))


def test_the_report_gives_each_networks_paired_gap_and_counts_the_seeds_left(tmp_path):
    from nas.reporting.distill import distill_section
    from nas.reporting.inputs import load_inputs
    from nas.results.store import Layout

    root = tmp_path / "results"
    base = {0: 99.20, 1: 99.30, 2: 99.10, 3: 99.25, 4: 99.15}
    _study_run(root / "distill" / "netA" / "default", base)
    _study_run(root / "distill" / "netA" / "kd", {s: v + 0.10 + 0.01 * s for s, v in base.items()}, teacher_s=5.0)
    _study_run(root / "distill" / "netB" / "default", {0: 99.0, 1: 99.1})
    _study_run(root / "distill" / "netB" / "kd", {0: 99.0})  # one seed of the teacher's side done
    text = "\n".join(distill_section(load_inputs(Layout.at(root))))
    a = next(line for line in text.splitlines() if line.startswith("| `netA`"))
    assert "+0.120" in a and "with the teacher better" in a and "adds a median 100%" in a  # 5 s of 10 s each epoch: +100%
    b = next(line for line in text.splitlines() if line.startswith("| `netB`"))
    assert "1 of 5 seeds done" in b and "+0." not in b
    assert "No teacher trained yet." in text
    assert "Cost: 13 trainings, 0.1 h" in text  # 13 seeds of 3 epochs of 10 s: 390 s


def test_the_rule_confirms_the_sub8k_network_the_teacher_lifts_most_once_all_seeds_are_in(tmp_path):
    from nas.reporting.distill import distill_section, earned
    from nas.reporting.inputs import load_inputs
    from nas.reporting.looks import looks_section
    from nas.results.store import Layout

    base = {0: 99.20, 1: 99.30, 2: 99.10, 3: 99.25, 4: 99.15}
    noisy = dict(zip(base, (0.05, -0.06, 0.04, -0.05, 0.03)))  # a mean gap of +0.002: a tie

    def studies(root, era_seeds):
        _study_run(root / "distill" / "phtQI" / "default", base)
        _study_run(root / "distill" / "phtQI" / "kd", {s: v + noisy[s] for s, v in base.items()})
        _study_run(root / "distill" / "era7918" / "default", {s: base[s] for s in era_seeds})
        _study_run(root / "distill" / "era7918" / "kd", {s: base[s] + 0.10 + 0.01 * s for s in era_seeds})
        _study_run(root / "distill" / "exp3" / "default", base)  # over 8k: it cannot earn the confirmation
        _study_run(root / "distill" / "exp3" / "kd", {s: v + 0.30 + 0.01 * s for s, v in base.items()})
        return root

    assert earned(studies(tmp_path / "partial", [0, 1, 2, 3])) == (False, None)  # era7918's seed 4 still missing
    root = studies(tmp_path / "results", [0, 1, 2, 3, 4])
    assert earned(root) == (True, "era7918")
    assert earned(root, ("phtQI",)) == (True, None)
    tie = studies(tmp_path / "tie", [0, 1, 2, 3, 4])
    shutil.rmtree(tie / "distill" / "era7918")  # era7918 a tie as well: nothing to confirm, no test image read
    _study_run(tie / "distill" / "era7918" / "default", base)
    _study_run(tie / "distill" / "era7918" / "kd", {s: v + noisy[s] for s, v in base.items()})
    assert earned(tie) == (True, None)
    assert "none earned" in "\n".join(distill_section(load_inputs(Layout.at(tie))))

    def section():
        inp = load_inputs(Layout.at(root))
        return "\n".join(distill_section(inp)), "\n".join(looks_section(inp))

    text, looks = section()
    assert "earned by `era7918`" in text and "Not run yet" in text and "with a teacher" not in looks
    # the confirmation: seed 3 reads 99.38 once, so 14 of 15 late readings reach the goal
    tests = {s: [99.45, 99.42 + 0.01 * s, 99.38 if s == 3 else 99.50] for s in base}
    _study_run(root / "confirm" / "kd-era7918", base, late_test=tests)
    text, looks = section()
    line = next(x for x in text.splitlines() if "confirm/kd-era7918" in x)
    assert "14 of 15" in line and "missed" in line and "lowest reading 99.38%" in line
    row = next(x for x in looks.splitlines() if "with a teacher" in x)
    assert "| 1 |" in row and "kd-era7918" in row


def test_the_printed_training_of_a_searchs_pick_carries_its_teacher():
    from nas.cli.commands import _teacher_flags

    assert _teacher_flags({"teacher": "", "kd_weight": 0.7}) == ""
    assert _teacher_flags({"teacher": "/runs/my teacher", "kd_temperature": 4.0, "kd_weight": 0.7}) == \
        " --set teacher='/runs/my teacher' --set kd_weight=0.7"


def test_the_teachers_cost_is_a_median_that_a_paused_epoch_does_not_move(tmp_path):
    from nas.training.runs import teacher_cost

    (tmp_path / "seed0").mkdir()
    # teacher 5 s of each 10 s epoch, but one epoch stood still for 390 s more (a paused process)
    rows = [dict(epoch=i + 1, seconds=s, teacher_seconds=5.0) for i, s in enumerate((10.0, 400.0, 10.0))]
    (tmp_path / "seed0" / "history.json").write_text(json.dumps(rows))
    cost = teacher_cost(tmp_path, [0])
    assert cost["adds_pct"] == 100.0 and cost["teacher_seconds"] == 15.0 and cost["seconds"] == 420.0
