"""The multi-fidelity search end to end, all real (NNI manager, trials on MNIST) at tiny sizes: two
rungs (1 epoch on 256 images; 3 epochs on 512 images with 2 seeds), one control, the race, the
export of its pick; and a SIGKILL between rungs followed by `nas resume`: nothing lost, nothing
trained twice, the schedule completed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from test_e2e import free_port, listeners, nas, wait_for_line

pytestmark = pytest.mark.slow

TINY = ["--max-params", "8000", "--trials", "6", "--rungs", "1x256,3x512:2", "--race-cap", "3", "--race-min", "2",
        "--fresh-seeds", "1", "--controls", "exp3", "--set", "val_size=500", "--set", "eval_batch=5000",
        "--max-ram", "8KB", "--prefer", "params"]


def _jobs(trials) -> Counter:
    return Counter((t.final["key"], t.final["rung"], t.final["seed"]) for t in trials if t.status == "SUCCEEDED")


def _check_schedule(work, exp_id):
    """What every finished tiny search must show; returns (trials, rungs.json)."""
    from nas.results.store import load_rungs, read_trials

    trials = read_trials(work, exp_id)
    ok = [t for t in trials if t.status == "SUCCEEDED"]
    assert all({"rung", "epochs", "images", "seed", "score", "key"} <= set(t.final) for t in ok)
    assert all(t.final.get("test_acc") is None for t in ok)           # selection never reads the test set
    assert all(t.final["cpu_seconds"] > 0 for t in ok)                 # what the budget counts
    assert all((t.final["epochs"], t.final["images"]) == ((1, 256) if t.final["rung"] == 0 else (3, 512)) for t in ok)
    assert max(_jobs(trials).values()) == 1                       # no training ran twice
    rung0 = {t.final["key"] for t in ok if t.final["rung"] == 0}
    promoted = {t.final["key"] for t in ok if t.final["rung"] == 1 and not t.final["control"]}
    # the best 1/3 of 6 at the end; asynchronous promotions made earlier stand (at most one more here)
    assert len(rung0) == 6 and promoted <= rung0 and 2 <= len(promoted) <= 3
    control = [t for t in ok if t.final["control"] == "exp3"]
    assert {t.final["seed"] for t in control} >= {0, 1} and all(t.final["params"] == 8880 for t in control)
    doc = load_rungs(work, exp_id)
    o = doc["outcome"]
    assert o is not None and o["pick"] in promoted and len(o["seeds"]) >= 2
    assert set(o["controls"]) == {"exp3"} and o["controls"]["exp3"]["verdict"] in ("pick better", "pick worse", "tie")
    # the pick's score is the mean of its late-validation scores over its seeds
    pick_scores = [t.final["score"] for t in ok if t.final["key"] == o["pick"] and t.final["rung"] == 1 and t.final["seed"] < 3]
    assert o["mean"] == pytest.approx(sum(pick_scores) / len(pick_scores))
    # the device bound held for every candidate, before it trained (the control is a reference, not gated)
    assert all(t.final["ram"] <= 8000 for t in ok if not t.final["control"])
    # --prefer params: the pick is the cheapest candidate shown within the margin of the best (the best
    # itself when none is), and every candidate with fewer parameters than the pick was not shown so
    assert o["prefer"] == "params" and o["margin"] == 0.1 and o["costs"][o["pick"]] <= o["costs"][o["leader"]]
    assert all(v["verdict"] != "non-inferior" for v in o["tests"].values()
               if v["cost"] is not None and v["cost"] < o["costs"][o["pick"]])
    # after the race, the fresh seed 3 (above the cap): the pick, the best (when another) and the
    # control alone, judged on it alone
    assert {t.final["key"] for t in ok if t.final["seed"] == 3} == {o["pick"], o["leader"], "control:exp3"}
    assert o["fresh"]["seeds"] == [3] and o["fresh"]["controls"]["exp3"]["seeds"] == [3]
    return trials, doc


def test_multi_fidelity_search_killed_between_rungs_resumes_races_a_control_and_exports_its_pick(tmp_path, data_dir):
    """SIGKILL the search between rungs, SIGTERM its resume while the strategy runs, resume again: the
    schedule completes without loss or repeat, races its pick against the control exp3 (on fresh
    seeds too), says so, and exports the pick with its trained weights. (One search answers what two did before: an
    uninterrupted tiny search checked the same schedule, race and export as this one's end.)"""
    from nas.nni_boundary import managers
    from search_spaces.choices import network_key
    from nas.results.store import read_trials

    res, port = tmp_path / "res", free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    common = ["--results", str(res), "--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", "nas", "search", "--id", "mk", "--data-dir", str(data_dir),
                             *TINY, *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = wait_for_line(proc, "rung 1 seed", timeout=600)          # a promotion has finished
    proc.kill()
    proc.wait(timeout=30)
    kept = {t.id: t.final for t in read_trials(res / "searches", "mk") if t.status == "SUCCEEDED"}
    assert any(f["rung"] == 1 for f in kept.values())

    # a resumed search stopped by SIGTERM while its strategy runs stops cleanly too (exit 143, as a shell
    # reports a SIGTERM), and loses nothing
    proc = subprocess.Popen([sys.executable, "-m", "nas", "resume", "mk", *common], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    wait_for_line(proc, "[rungs]", timeout=600)                       # a training of this session has ended
    proc.terminate()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "interrupted; stopping the experiment" in err and "Traceback" not in err, err
    kept = {t.id: t.final for t in read_trials(res / "searches", "mk") if t.status == "SUCCEEDED"}

    r = nas("resume", "mk", *common, timeout=900, env=env)
    assert r.returncode == 0, r.stderr
    assert "the schedule continues" in r.stdout and "pick: late-validation mean" in r.stdout
    assert "rung 0:" in "\n".join(first) and "vs control exp3" in r.stdout and "on fresh seeds: late-validation mean" in r.stdout
    trials, doc = _check_schedule(res / "searches", "mk")
    arch_json = next((res / "exports" / "mk").glob("rank1_*/arch.json"))
    exported = json.loads(arch_json.read_text())
    assert network_key(exported["arch"]) == doc["outcome"]["pick"]     # the race's pick is what is exported
    assert exported["metrics"]["rung"] == 1
    # handed over trained: the weights of its last-rung training of seed 0 (fixed in advance), which
    # onnxruntime classifies as PyTorch does, at the trial's own last-epoch validation accuracy (to
    # one image of 500: the trial ran on one thread, the export on several)
    assert exported["metrics"]["seed"] == 0 and (arch_json.parent / "model.pt").exists()
    assert exported["onnx"]["weights"].startswith("trained: the last rung's training of seed 0, 3 epochs x 512 images")
    acc = exported["onnx"]["val_acc"]
    assert acc["images"] == 500 and acc["onnxruntime"] == acc["pytorch"]
    # and its int8 file beside it, checked on the same validation images
    assert (arch_json.parent / "model.int8.onnx").exists() and exported["int8"]["accuracy"]["fp32"] == acc["onnxruntime"]
    assert exported["int8"]["accuracy"]["images"] == 500
    assert abs(acc["pytorch"] - exported["metrics"]["val_acc"]) <= 100 / 500 + 1e-9
    done = {t.id: t.final for t in trials if t.status == "SUCCEEDED"}
    assert all(done[k] == v for k, v in kept.items())                # nothing finished was lost or changed
    assert all(t.status in ("SUCCEEDED", "USER_CANCELED") for t in trials)
    assert not managers("mk") and not listeners(port)
