"""What a search tells its user to run next, run as printed. One tiny flat search on a user's own IDX
dataset (3 classes of 20x20 images, made here) into a results root that is not the default, from a
folder that is neither the repository nor the results root; then the printed `nas train` (with tiny
overrides), `nas view` and `nas resume` lines, each of which must find the dataset and the search
without help. Also: the default results root, and the progress line of a trial that did not learn."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from test_datasets import write_idx
from test_e2e import free_port

REPO = Path(__file__).resolve().parents[1]


def nas(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NAS_RESULTS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


def printed(line: str) -> list[str]:
    """The command a printed line ends with (`... : nas train ...` or `... nas resume ID ...`), as argv after `nas`."""
    m = re.search(r"\bnas ([^`]+)`?\)?$", line.strip())
    assert m, f"no command in {line!r}"
    return shlex.split(m.group(1))


@pytest.fixture(scope="module")
def searched(user_search):
    """conftest's shared search of a user's own data (5 classes of 20x20 images, id `mine`)."""
    return user_search


@pytest.mark.slow
def test_the_printed_train_line_finds_the_users_data_and_results(searched):
    line = next(l for l in searched.out.splitlines() if l.startswith("train it: nas train "))
    argv = printed(line)
    assert argv[argv.index("--dataset") + 1] == "idx"
    assert Path(argv[argv.index("--data-dir") + 1]) == searched.data.resolve()
    assert Path(argv[argv.index("--results") + 1]) == searched.res
    # tiny overrides after the printed flags (the last of a repeated option wins): one epoch, one seed,
    # a validation split this small dataset has room for
    r = nas([*argv, "--epochs", "1", "--seeds", "0", "--set", "val_size=100"], cwd=searched.work)
    assert r.returncode == 0, r.stderr
    runs = list((searched.res / "runs").glob("*/summary.json"))
    assert len(runs) == 1 and (runs[0].parent / "seed0" / "model.onnx").exists()
    assert not (searched.work / "nas-results").exists()  # nothing went to the default root


@pytest.mark.slow
def test_the_printed_view_and_resume_lines_find_the_search(searched, capsys):
    view = next(l for l in searched.out.splitlines() if l.startswith("its dashboard again: nas view "))
    r = nas([*printed(view), "--seconds", "1", "--port", str(free_port())], cwd=searched.work, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "experiment mine: dashboard at" in r.stdout

    # an interrupted search prints how to continue it; the search above has its trials, so the
    # line must find it, keep both and run none
    from nas.cli.commands import _print_search

    _print_search(SimpleNamespace(interrupted=True, stopped=None, id="mine"), str(searched.res))
    r = nas([*printed(capsys.readouterr().err), "--port", str(free_port())], cwd=searched.work, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "resume: 3 finished trials kept" in r.stdout and "0 more to run" in r.stdout
    assert not (searched.work / "nas-results").exists()


@pytest.mark.slow
def test_a_trial_at_chance_says_so_in_its_progress_line(searched):
    trials = [l for l in searched.out.splitlines() if l.startswith("trial ")]
    assert len(trials) == 3
    for line in trials:  # 5 classes: chance is 20 %
        val = float(re.search(r"val\s+([\d.]+)%", line).group(1))
        if val <= 100 / 5 + 2 or val > 40:  # between, the commonest class's share decides
            assert ("did not learn" in line) == (val <= 100 / 5 + 2), line


def test_the_watcher_flags_chance_from_the_datasets_classes(monkeypatch):
    from nas.engine import launch

    final = {"params": 1000, "flops": 9, "seconds": 1.0}
    trials = [SimpleNamespace(id=i, status="SUCCEEDED", message="", final={**final, "default": v})
              for i, v in (("a", 10.3), ("b", 11.9), ("c", 12.1), ("d", 98.5))]
    monkeypatch.setattr(launch, "read_trials", lambda workdir, exp_id: trials)
    for classes, flagged in ((10, {"a", "b"}), (5, {"a", "b", "c"})):
        lines: list[str] = []
        launch.TrialWatcher("w", "x", 4, lines.append, classes=classes).poll()
        assert {l.split()[2] for l in lines if "did not learn" in l} == flagged
    # 7 classes, one of them 17.9 % of the validation images: a trial answering it every time is flagged
    trials[:] = [SimpleNamespace(id="e", status="SUCCEEDED", message="", final={**final, "default": 17.87, "constant_acc": 17.87})]
    lines = []
    launch.TrialWatcher("w", "x", 1, lines.append, classes=7).poll()
    assert "did not learn" in lines[0]


def test_the_default_results_root_is_not_the_projects_study(tmp_path, monkeypatch):
    from nas.cli.parser import build_parser
    from nas.facts import results_flag, results_root

    monkeypatch.delenv("NAS_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert results_root() == "nas-results" and build_parser().parse_args(["report"]).results == "nas-results"
    assert results_flag("nas-results") == "" and results_flag("results") == " --results results"
    monkeypatch.setenv("NAS_RESULTS", "mine")
    assert build_parser().parse_args(["report"]).results == "mine"
    assert build_parser().parse_args(["report", "--results", "x"]).results == "x"  # --results wins
    assert results_flag("mine") == "" and results_flag("nas-results") == " --results nas-results"
    # git keeps a user's searches out of the repository
    ignored = subprocess.run(["git", "check-ignore", "-q", "nas-results/searches/x/nas.json"], cwd=REPO)
    assert ignored.returncode == 0


@pytest.mark.slow
def test_a_flat_search_records_its_proxy_recipe_and_pins(searched):
    # README's first command is a flat search: BatchNorm pinned (fix auto) and the proxy's recipe
    # (nas.config.FLAT_RECIPE) under the command line's --set (eval_batch here)
    import json

    from nas.config import FLAT_FIX, FLAT_RECIPE

    rec = json.loads((searched.res / "searches" / "mine" / "nas.json").read_text())
    assert rec["search"]["fix"] == FLAT_FIX == "bn=true"
    assert {k: rec["train"][k] for k in FLAT_RECIPE} == FLAT_RECIPE and rec["train"]["eval_batch"] == 5000


def test_fix_auto_and_the_proxy_recipe_apply_to_a_flat_search_only():
    from nas.config import FLAT_RECIPE, flat_recipe, resolve_fix

    assert resolve_fix("auto", "flat") == "bn=true" and resolve_fix("auto", "asha") == ""
    assert resolve_fix("none", "flat") == "" and resolve_fix("bn=false", "flat") == "bn=false"
    # a searched recipe scales the batch and the augmentation through its own labels
    assert flat_recipe("flat", False) == FLAT_RECIPE and flat_recipe("flat", True) == flat_recipe("asha", False) == {}


def test_a_pick_worse_than_a_control_is_said_plainly():
    from nas.cli.commands import _race_lines

    v = lambda verdict: {"gap": -1.0, "gap_half_width": 0.2, "seeds": [0, 1], "verdict": verdict}  # noqa: E731
    o = {"mean": 97.0, "half_width": 0.1, "seeds": [0, 1], "runner_up": None,
         "controls": {"exp3": v("tie"), "exp4": v("pick worse")}, "fresh": {"mean": 96.0, "half_width": 0.3,
                                                                          "controls": {"exp4": v("pick worse")}}}
    lines = _race_lines(o, None).splitlines()
    warned = [line for line in lines if line.startswith("warning:")]
    assert len(warned) == 1 and "exp4" in warned[0] and "exp3" not in warned[0]
    o["controls"]["exp4"] = o["fresh"]["controls"]["exp4"] = v("tie")
    assert not any(line.startswith("warning:") for line in _race_lines(o, None).splitlines())
