"""`nas report` on a results root that is not this project's study: a user's own. It reports what
the root holds (the search, its pick and export, the confirmations and their looks at the test set)
and nothing of the MNIST study, whose words live in results/NARRATIVE.md. And a run's source is
found below the results root, wherever the report runs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nas.errors import ConfigError
from nas.reporting.narrative import Narrative
from test_report import GOOD, study_report, write_run, write_search

# words of the MNIST study that a user's report must not hold (its budgets, targets, the seed's
# write-up, its step structure, its threshold and its scripts)
STUDY_WORDS = ("20k", "20,000", "8k", "stretch", "required", "seed's", "hand-made", "## Step", "99.40", "Protocol",
               "experiments/", "exp1", "exp3", "finalist")


def nas(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def users_root(user_search, tmp_path_factory):
    """A copy of conftest's shared search of a user's own data: this test writes a run into it."""
    root = tmp_path_factory.mktemp("report") / "my-results"
    shutil.copytree(user_search.pristine, root)
    return root


@pytest.mark.slow
def test_a_users_report_holds_its_search_and_nothing_of_the_study(users_root, tmp_path, user_search):
    arch = next((users_root / "exports" / "mine").glob("rank1_*/arch.json"))
    trial = json.loads(arch.read_text())["trial"]
    # a confirmation of the pick, its source written relative to the folder it ran in (the root's parent)
    run = write_run(users_root / "runs" / f"confirm-{trial}", {0: GOOD, 1: GOOD}, params=3000, name="confirm")
    cfg = json.loads((run.path / "config.json").read_text())
    source = f"{users_root.name}/exports/mine/{arch.parent.name}/arch.json"
    (run.path / "config.json").write_text(json.dumps({**cfg, "source": source, "arch": json.loads(arch.read_text())["arch"]}))

    done = nas("report", "--results", str(users_root), "--data-dir", str(user_search.data), cwd=tmp_path)  # another folder
    assert done.returncode == 0, done.stderr[-2000:]
    text = (users_root / "README.md").read_text()
    assert "### Search `mine`" in text
    command = next(line for line in text.splitlines() if line.startswith("`nas search --id mine "))
    for flag in ("--schedule flat", "--strategy evolution", "--max-params 8000", "--trials 3", "--train-subset 800",
                 "--dataset idx"):
        assert flag in command, command  # every setting that differs from no flag, so it runs the same search
    assert f"Pick: trial `{trial}`, validation " in text
    assert f"Export `my-results/exports/mine`:" in text and f"| 1 | `{trial}` |" in text and "model.onnx" in text
    assert f"`my-results/runs/confirm-{trial}`: 3,000 parameters" in text
    # one look at the test set, counted against the network it confirmed
    assert f"| `my-results/exports/mine/{arch.parent.name}/arch.json` | 3,000 | 1 | `my-results/runs/confirm-{trial}` |" in text
    assert (users_root / "figures" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "No grid of misclassified test images:" in text  # its model.pt is not there: said, not a crash
    found = [w for w in STUDY_WORDS if w in text]
    assert not found, found


def test_a_confirmation_is_the_pick_wherever_the_report_runs(tmp_path, monkeypatch):
    """Sources are recorded relative to the folder a run started in (`results/exports/...`): the
    report finds them below the results root given, not below the working folder, so a confirmed
    pick is not called an earlier finalist with the pick 'not run yet' beside it."""
    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"T": (98.0, 7500)})
    run = res / "confirm" / "s8k-T"
    write_run(run, {s: GOOD for s in range(5)}, params=7500)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "source": "results/exports/s/rank1_T/arch.json"}))
    texts = []
    for cwd in (tmp_path, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        texts.append(study_report(res, pictures=False).read_text())
    assert texts[0] == texts[1]
    assert "| 7 | s8k finalist (`s8k-T`) |" in texts[1]
    assert "earlier finalist" not in texts[1] and "not confirmed yet" not in texts[1]


def test_the_study_words_come_from_the_narrative(tmp_path):
    """The committed narrative holds the study's words: without it no budget or quote appears; a
    section it lacks, or a value it names that the report does not give, is one line naming the file."""
    from nas.reporting.report import write_report

    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"T": (98.0, 7500)})
    plain = write_report(res, pictures=False).read_text()
    assert "### Search `s`" in plain and not [w for w in STUDY_WORDS if w in plain]
    study = study_report(res, pictures=False).read_text()
    assert "stretch" in study and "## Step 6: finalist under 20,000 parameters" in study
    assert '"Add regularization to model (Batch Normalization and Dropout)."' in study
    assert "*Consistently >= 99.40%* means the test accuracy of each of the last 3 epochs" in study

    narrative = res / "NARRATIVE.md"
    narrative.write_text("preface\n<!-- section: protocol -->\nat {nowhere:,} images\n")
    n = Narrative.load(res)
    assert n.seeds == []
    with pytest.raises(ConfigError, match=r"NARRATIVE.md has no section `searches`"):
        n.text("searches")
    with pytest.raises(ConfigError, match=r"section `protocol`: cannot fill in 'nowhere'"):
        write_report(res, pictures=False)


def test_a_search_without_trials_is_named_and_a_missing_root_is_one_line(tmp_path):
    """A search stopped before NNI wrote its database does not stop the report: it is named with
    why. A results folder that does not exist is refused, not created."""
    from nas.reporting.report import write_report

    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"T": (98.0, 7500)})
    (res / "searches" / "gone").mkdir()
    (res / "searches" / "gone" / "nas.json").write_text((res / "searches" / "s" / "nas.json").read_text())
    text = write_report(res, pictures=False).read_text()
    assert "### Search `s`" in text
    assert "- `gone`: no NNI database for experiment 'gone'" in text
    with pytest.raises(ConfigError, match="no results folder .*nowhere"):
        write_report(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()
