"""README's Python session ("From Python"), run as written but at tiny sizes: the replacements below
shrink the budget and redirect paths; each must find its text, so README and this test stay in step."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torchvision.io as tio

from nas.data.datasets import CLASS_NAMES, load_uint8

README = Path(__file__).resolve().parents[1] / "README.md"
FASHION_CLASSES = CLASS_NAMES["fashion-mnist"]


def session() -> str:
    text = README.read_text()
    block = re.search(r"<!-- api-session[^>]*-->\s*```python\n(.*?)```\s*<!-- /api-session -->", text, re.S)
    assert block, "README lost its Python session"
    return block.group(1)


@pytest.mark.slow
def test_readme_python_session_runs(tmp_path, monkeypatch, fashion_dir):
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
    monkeypatch.chdir(tmp_path)  # results="my-results" and "shoe.png" resolve here
    tio.write_png(raw["test_x"][0][None], "shoe.png")  # the first test image: an ankle boot
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), scope)
    found, best, run = scope["found"], scope["best"], scope["run"]
    assert found.id == "fm" and (tmp_path / "my-results" / "exports" / "fm").is_dir()
    assert best["input"]["dataset"] == "fashion-mnist" and Path(best["path"], "model.onnx").exists()
    assert run.onnx.exists() and run.out.parent.parent.name == "my-results"
    # what the session returns and prints is what it wrote: the export's arch.json, the run's files
    lines = out.getvalue().strip().splitlines()
    arch = json.loads(Path(best["path"], "arch.json").read_text())
    assert arch["params"] == best["params"] == run.params and arch["metrics"]["val_acc"] == best["metrics"]["val_acc"]
    assert lines[0].split() == [str(best["params"]), str(best["metrics"]["val_acc"]), best["path"]]
    summary = json.loads((run.out / "summary.json").read_text())
    history = json.loads((run.out / "seed0" / "history.json").read_text())
    assert summary["seeds"]["0"]["final_test_acc"] == history[-1]["test_acc"] == run.mean_test_acc
    assert lines[1].split() == [str(run.mean_test_acc), str(run.onnx)]
    # the training learnt: far above the 10 % of chance on Fashion-MNIST's ten classes (a broken loop,
    # optimiser or data pipeline stays near 10 %)
    assert run.mean_test_acc > 50, run.mean_test_acc
    last = lines[-1].split()
    assert last[0] == "shoe.png" and 0.1 <= float(last[-1]) <= 1  # the predicted class's name and probability
    assert " ".join(last[1:-1]) in FASHION_CLASSES
