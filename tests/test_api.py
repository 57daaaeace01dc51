"""The Python API: README's Python session ("From Python"), run as written but at tiny sizes in a
fresh interpreter (the replacements below shrink the budget and redirect paths; each must find its
text, so README and this test stay in step), with nothing of NNI's own logging in what it prints;
the names `from nas import ...` gives; an unknown option's error."""
from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torchvision.io as tio

from nas.data.datasets import CLASS_NAMES, load_uint8

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NNI_LINES = ("[INFO]", "Web portal URLs", "time.sleep(FOREVER)", "\x1b[")  # NNI's stdout handler, colours included


def python(code: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env)
FASHION_CLASSES = CLASS_NAMES["fashion-mnist"]


def session() -> str:
    text = README.read_text()
    block = re.search(r"<!-- api-session[^>]*-->\s*```python\n(.*?)```\s*<!-- /api-session -->", text, re.S)
    assert block, "README lost its Python session"
    return block.group(1)


@pytest.mark.slow
def test_readme_python_session_runs(tmp_path, fashion_dir):
    from test_e2e import free_port

    code = session()
    tiny = {
        # BatchNorm pinned: a deep network without it can sit at chance for this few steps, and the
        # accuracy check below is about the training, not about which network two trials pick
        'cpu_hours=1.0,': f'schedule="flat", trials=2, epochs=1, train_subset=1000, recipe={{"val_size": 500}}, '
                          f'port={free_port()}, log=lambda line: None, fix="bn=True",',
        # 3 epochs of 4,000 images (94 steps): enough for the test accuracy to say whether training
        # works (the search's trials, 8 steps each, score near chance)
        'epochs=15, seeds=[0, 1], recipe={"val_size": 0}': 'epochs=3, seeds=[0], recipe={"train_subset": 4000}, '
                                                          'log=lambda *a: None',
    }
    for old, new in tiny.items():
        assert old in code, f"README's session changed: {old!r} is gone"
        code = code.replace(old, new)
    raw = load_uint8(fashion_dir, dataset="fashion-mnist")
    tio.write_png(raw["test_x"][0][None], str(tmp_path / "shoe.png"))  # the first test image: an ankle boot
    # the session's objects, for the checks below, on a last line of their own
    tail = ('\nimport json\nprint("RESULT", json.dumps({"id": found.id, "best": best, "onnx": str(run.onnx), '
            '"out": str(run.out), "params": run.params, "mean": run.mean_test_acc}))\n')
    r = python(code + tail, cwd=tmp_path)  # results="my-results" and "shoe.png" resolve there
    assert r.returncode == 0, r.stderr
    for noise in NNI_LINES:  # as on the command line: NNI's own log lines stay out unless asked for
        assert noise not in r.stdout and noise not in r.stderr, noise
    *lines, last_line = r.stdout.strip().splitlines()
    got = json.loads(last_line.removeprefix("RESULT "))
    # the session's paths are relative to its folder, as its results="my-results" is
    best, out, onnx, mean = got["best"], tmp_path / got["out"], tmp_path / got["onnx"], got["mean"]
    assert got["id"] == "fm" and (tmp_path / "my-results" / "exports" / "fm").is_dir()
    assert best["input"]["dataset"] == "fashion-mnist" and Path(best["path"], "model.onnx").exists()
    assert onnx.exists() and out.parent.parent == tmp_path / "my-results"
    # what the session returns and prints is what it wrote: the export's arch.json, the run's files
    arch = json.loads(Path(best["path"], "arch.json").read_text())
    assert arch["params"] == best["params"] == got["params"]
    assert arch["metrics"]["val_acc"] == best["metrics"]["val_acc"]
    assert lines[0].split() == [str(best["params"]), str(best["metrics"]["val_acc"]), best["path"]]
    summary = json.loads((out / "summary.json").read_text())
    history = json.loads((out / "seed0" / "history.json").read_text())
    assert summary["seeds"]["0"]["final_test_acc"] == history[-1]["test_acc"] == mean
    assert lines[1].split() == [str(mean), got["onnx"]]
    # the training learnt: far above the 10 % of chance on Fashion-MNIST's ten classes (a broken loop,
    # optimiser or data pipeline stays near 10 %)
    assert mean > 50, mean
    last = lines[-1].split()
    assert last[0] == "shoe.png" and 0.1 <= float(last[-1]) <= 1  # the predicted class's name and probability
    assert " ".join(last[1:-1]) in FASHION_CLASSES


def test_the_package_gives_the_functions():
    # in a fresh interpreter, after the command line and the heavy modules are imported too: no
    # submodule may shadow a function; importing the API loads neither torch nor NNI (their import-time
    # warnings come after the process is prepared)
    r = python("import sys, nas.api\n"
               "assert 'torch' not in sys.modules and 'nni' not in sys.modules\n"
               "import nas.cli, nas.cli.commands, nas.deploy.predict, nas.reporting.report, nas.engine.launch\n"
               "from nas import search, train, export, predict, report, resume, baselines\n"
               "import inspect\n"
               "assert all(inspect.isfunction(f) and f.__module__ == 'nas.api' "
               "for f in (search, train, export, predict, report, resume, baselines))\n")
    assert r.returncode == 0, r.stderr


def test_an_unknown_search_option_lists_every_valid_one():
    from nas import api
    from nas.config import SearchConfig
    from nas.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        api.search(max_param=8000)
    valid = set(e.value.args[0].split("valid: ")[1].split(", "))
    own = {n for n, p in inspect.signature(api.search).parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert {"dataset", "data_dir", "recipe", "id", "results", "verbose"} <= own
    assert valid == own | {f.name for f in fields(SearchConfig)} - {"workdir"}
    assert "'max_param'" in str(e.value)


def test_nni_log_lines_reach_the_caller_only_when_asked():
    # what a search logs through NNI (its dashboard's URLs, "put time.sleep(FOREVER) here") goes
    # where NNI sends its lines: off stdout after a quiet call, back on it after verbose=True
    r = python("from nas import api\n"
               "import logging\n"
               "api._prepare(verbose=False)\n"
               "logging.getLogger('nni.experiment').info('Web portal URLs: quiet')\n"
               "api._prepare(verbose=True)\n"
               "logging.getLogger('nni.experiment').info('Web portal URLs: asked')\n", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "quiet" not in r.stdout + r.stderr and "Web portal URLs: asked" in r.stdout
