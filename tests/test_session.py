"""README's "A session, step by step", in order, at tiny sizes, through the real command line and
one results root: search -> export -> train -> rerank -> finalist -> report."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_e2e import free_port

TINY = ["--set", "val_size=500", "--set", "train_subset=768", "--set", "eval_batch=5000"]


def nas(*args, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    r = subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"nas {' '.join(args)}: {r.stderr}"
    return r.stdout


@pytest.mark.slow
def test_readme_session_runs_in_order_under_one_results_root(tmp_path, data_dir):
    res, data = tmp_path / "results", ["--data-dir", str(data_dir)]
    out = nas("search", "--schedule", "flat", "--strategy", "evolution", "--max-params", "8000", "--trials", "2", "--epochs", "1",
              "--train-subset", "768", "--id", "demo", "--port", str(free_port()), "--results", str(res), *data,
              "--set", "val_size=500")
    assert "rank 1: trial" in out and (res / "searches" / "demo" / "nas.json").exists()
    nas("export", "demo", "--top-k", "2", "--force", "--results", str(res))
    arch = sorted((res / "exports" / "demo").glob("rank1_*/arch.json"))
    assert len(arch) == 1 and len(list((res / "exports" / "demo").glob("rank*_*/arch.json"))) == 2
    nas("train", str(arch[0]), "--epochs", "1", "--seeds", "0", "--results", str(res), *data, *TINY)
    assert (res / "runs" / arch[0].parent.name / "seed0" / "history.json").exists()
    nas("rerank", "demo", "--seeds", "0", "--epochs", "2", "--results", str(res), *data, *TINY)
    rr = json.loads((res / "rerank" / "demo" / "rerank.json").read_text())
    picked = nas("finalist", "--max-params", "8000", "--results", str(res)).strip()
    assert json.loads(open(picked).read())["trial"] == rr["pick"]  # the re-rank's winner
    nas("report", "--no-pictures", "--results", str(res))
    assert "`demo`" in (res / "README.md").read_text()
