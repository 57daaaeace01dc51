"""Run folders of `nas train`: seeds in parallel worker processes give the same numbers as one after
another, and `--force` leaves nothing of the replaced run behind."""
from __future__ import annotations

import json

import pytest
import torch

from nas.config import TrainConfig
from nas.training.runs import RunError, run
from search_spaces.baselines import BASELINES

ARCH = BASELINES["exp4"]["arch"]  # BN + dropout: every source of randomness
CFG = TrainConfig(epochs=1, batch_size=128, train_subset=1280, val_size=500, threads=1, eval_batch=5000)


def _quiet(*_):
    pass


@pytest.mark.slow  # four trainings, two in worker processes
def test_parallel_seeds_match_sequential_seeds(tmp_path, data_dir, no_export_files):
    seq = run(ARCH, CFG, [0, 1], tmp_path / "seq", str(data_dir), log=_quiet, jobs=1)
    par = run(ARCH, CFG, [0, 1], tmp_path / "par", str(data_dir), log=_quiet, jobs=2)
    assert seq["seeds"] == par["seeds"]
    w = {(kind, s): torch.load(tmp_path / kind / f"seed{s}" / "model.pt") for kind in ("seq", "par") for s in (0, 1)}
    for s in (0, 1):
        assert all(torch.equal(w["seq", s][k], w["par", s][k]) for k in w["seq", s])
    assert not torch.equal(w["par", 0]["0.0.weight"], w["par", 1]["0.0.weight"])  # the seeds did differ
    assert json.loads((tmp_path / "par" / "config.json").read_text())["train"]["threads"] == 1


@pytest.mark.slow  # three trainings
def test_force_replaces_the_whole_run(tmp_path, data_dir, no_export_files):
    out = tmp_path / "run"
    run(ARCH, CFG, [0, 1], out, str(data_dir), log=_quiet)
    with pytest.raises(RunError, match="already holds a run"):
        run(ARCH, CFG, [2], out, str(data_dir), log=_quiet)
    run(ARCH, CFG, [2], out, str(data_dir), log=_quiet, force=True)
    assert sorted(p.name for p in out.glob("seed*")) == ["seed2"]
    assert list(json.loads((out / "summary.json").read_text())["seeds"]) == ["2"]


@pytest.mark.slow  # a training, then three resumes
def test_resume_accepts_older_runs_but_not_another_recipe(tmp_path, data_dir, no_export_files):
    from dataclasses import replace

    out = tmp_path / "run"
    run(ARCH, CFG, [0], out, str(data_dir), log=_quiet)
    cfg = json.loads((out / "config.json").read_text())
    del cfg["train"]["dropout_masks"]  # a run made before the key existed ran its default
    cfg["git"] = "started-here"
    (out / "config.json").write_text(json.dumps(cfg))
    run(ARCH, CFG, [0], out, str(data_dir), log=_quiet, resume=True)
    resumed = json.loads((out / "config.json").read_text())
    assert resumed["git"] == "started-here" and len(resumed["resumed_git"]) == 1  # where it began, then who went on
    for changed in (replace(CFG, dropout_masks="pcg64"), replace(CFG, lr=0.1)):
        with pytest.raises(RunError, match="another architecture or recipe"):
            run(ARCH, changed, [0], out, str(data_dir), log=_quiet, resume=True)
    cfg["train"]["device"] = "cuda"  # as if trained on a GPU machine: say so, not "another recipe"
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunError, match="trained on cuda; resume it with device=cuda"):
        run(ARCH, CFG, [0], out, str(data_dir), log=_quiet, resume=True)


@pytest.mark.slow  # a fresh interpreter trains
def test_training_needs_no_nni(tmp_path, data_dir):
    """`nas train` on a machine without NNI (a GPU machine that only confirms): run in a fresh
    interpreter where importing nni fails, it trains and writes its run folder; `nas search` there
    says in one line that it needs NNI."""
    import subprocess
    import sys

    def without_nni(argv: list[str]) -> subprocess.CompletedProcess:
        code = (
            "import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('nni', 'pytorch_lightning'):\n"
            "            raise ImportError('no ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "from nas.cli import main\n"
            f"rc = main({argv!r})\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'nni'], 'nni was imported'\n"
            "sys.exit(rc)\n")
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)

    done = without_nni(['train', 'exp3', '--epochs', '1', '--set', 'train_subset=256', '--set', 'val_size=256',
                        '--data-dir', str(data_dir), '--out', str(tmp_path / 'run')])
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["params"] == 8880
    done = without_nni(['search', '--trials', '1', '--results', str(tmp_path / 'res')])
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert done.stderr.startswith("error: nas search needs NNI"), done.stderr
    assert not (tmp_path / "nni").exists()


def test_a_candidate_with_recipe_labels_trains_and_records_its_recipe(tmp_path, data_dir):
    """An export of a --search-recipe search carries lr_x / aug_x: `nas train` applies them and
    config.json says what ran."""
    arch = {**ARCH, "lr_x": 2.0, "aug_x": 0.0}
    lines: list[str] = []
    run(arch, CFG, [0], tmp_path / "run", str(data_dir), log=lines.append)
    assert any("recipe labels set" in l and "augment=False" in l for l in lines)  # the user is told
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["train"]["lr"] == pytest.approx(2 * CFG.lr) and cfg["train"]["augment"] is False
    assert cfg["arch"]["lr_x"] == 2.0
