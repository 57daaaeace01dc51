"""What one NNI trial runs: train a frozen candidate with the `TrainConfig` recipe on the
validation split and report to NNI.

Each epoch reports the validation accuracy (%) as an intermediate result; the final result has the
validation accuracy as its default metric, plus parameters, fvcore's FLOPs, the device figures
(nas/footprint.py: macs, flash, weight_bytes, ram, ram_with_input), train accuracy and seconds, so
the dashboard's trial table shows all of them. A trial evaluates no test image: it selects, and
selection reads validation only.

Early stopping (`nas search --early-stop`): NNI 3.0's own MedianStop middleware cannot stop a trial
(its engine has no way to kill a model), so the rule runs here, in the trial: after each epoch but the
last, a trial whose best validation accuracy so far is below the median of the finished trials' at
the same epoch stops and reports what it has (with `early_stopped` set to the epoch). At least
`MEDIAN_MIN_TRIALS` finished trials are needed before anything stops.
"""
from __future__ import annotations

import dataclasses

import json
import os
import statistics
import time

import nni
import psutil
import torch

from nas import nni_boundary
from nas.atomic import save_torch, write_text
from nas.budget import count
from nas.config import TrainConfig, make, with_recipe
from nas.data.datasets import load_splits
from nas.footprint import footprint
from nas.nni_boundary.trial_entry import IMPORTED_AT
from nas.nni_boundary.trial_side import TRIAL_WEIGHTS
from nas.results.store import read_trials
from nas.schedule.rungs import read
from nas.training.loop import train


MEDIAN_MIN_TRIALS = 5


class _Stop(Exception):
    """Raised from the epoch callback to end a hopeless trial early."""


def median_rule(finished: list[list[float]], epoch: int, best_so_far: float) -> float | None:
    """The median that `best_so_far` (after `epoch`, 1-based) must reach, or None if the rule does not
    apply yet. `finished`: the per-epoch validation accuracies of each finished trial."""
    at_epoch = [vals[epoch - 1] for vals in finished if len(vals) >= epoch]
    if len(at_epoch) < MEDIAN_MIN_TRIALS:
        return None
    median = statistics.median(at_epoch)
    return median if best_so_far < median else None


def finished_curves(workdir: str, exp_id: str) -> list[list[float]]:
    """Per-epoch validation accuracies of the experiment's succeeded trials, from NNI's database."""
    return [[m.get("default", 0.0) for m in t.intermediates]
            for t in read_trials(workdir, exp_id) if t.status == "SUCCEEDED"]


def overhead_marks(entered: float, clock: dict) -> dict:
    """Seconds from this process's start to: its imports done (when started by nas.nni_boundary.trial_entry),
    this evaluator's call and the first optimiser step; and the times of the first and last step."""
    born = psutil.Process().create_time()
    imported = os.environ.get(IMPORTED_AT)
    return {"startup_s": round(clock["first_step"] - born, 2), "evaluator_in_s": round(entered - born, 2),
            **({"imports_s": round(float(imported) - born, 2)} if imported else {}),
            "first_step_at": round(clock["first_step"], 3), "last_step_at": round(clock["last_step"], 3)}


def evaluate_model(model: torch.nn.Module, config: dict, data_dir: str | None = None,
                   early_stop: dict | None = None, job: dict | None = None, keep_weights: bool = False) -> dict:
    """The `FunctionalEvaluator` function. `config` is a `TrainConfig` as a dict (it crosses
    process boundaries as JSON); `data_dir` is the verified data folder the search resolved;
    `early_stop`, {"workdir": ..., "id": ...} of the experiment, turns the median rule on; `job`,
    a multi-fidelity search's {key, rung, seed, epochs, images, reading, control} (nas.engine.multifidelity): the
    final result then carries them and `score`, the rung's reading. A job that fails still reports
    its fields (score None), so that a resumed search knows which training failed. `keep_weights`:
    write the trained network's state_dict into the trial's folder (what the search's export hands
    over: a flat search's every trial, a multi-fidelity search's last rung of seed 0)."""
    t0, entered, cpu0 = time.perf_counter(), time.time(), time.process_time()
    cfg, recipe = with_recipe(make(TrainConfig, config), getattr(model, "arch", {}))  # --search-recipe
    if cfg.teacher:  # on a remote worker: the copy staged with the code
        from nas.training.teacher import on_this_machine

        cfg = dataclasses.replace(cfg, teacher=on_this_machine(cfg.teacher))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # NNI 3.0 can hand two trials started together each other's sample while recording the other
    # one; this file says what this trial really trains (nni_boundary.check_samples)
    own = nni_boundary.trial_output_dir()
    if hasattr(model, "arch") and own is not None:
        write_text(own / nni_boundary.SAMPLE_FILE, json.dumps(model.arch, sort_keys=True) + "\n")
    # on a remote worker the driver's folder may not exist: the worker's own lookup (its NAS_MNIST_DIR, ...)
    local = data_dir if data_dir and os.path.isdir(data_dir) else None
    data = load_splits(local, cfg.val_size, cfg.split_seed, cfg.train_subset or None, download=local is None,
                       dataset=cfg.dataset)
    params, flops = count(model, data.input.shape)
    # the device figures (nas/footprint.py), dashboard metrics beside validation accuracy, NNI's default
    figures = footprint(getattr(model, "net", model), data.input.shape).as_dict()

    history: list[dict] = []
    stopped = 0

    def report(r: dict) -> None:
        history.append(r)
        nni.report_intermediate_result({"default": r["val_acc"], "train_acc": r["train_acc"],
                                        "val_loss": r["val_loss"], "epoch": r["epoch"]})
        if early_stop and r["epoch"] < cfg.epochs:
            try:
                curves = finished_curves(early_stop["workdir"], early_stop["id"])
            except Exception:  # the database is busy or not there: train on rather than fail the trial
                return
            if median_rule(curves, r["epoch"], max(h["val_acc"] for h in history)) is not None:
                raise _Stop

    clock: dict = {}
    try:
        # a trial is selection (a flat search's proxy; a multi-fidelity job's rungs, race, controls):
        # it never reads the test set
        train(model, data, cfg, on_epoch=report, clock=clock, evaluate_test=False)
    except _Stop:
        stopped = history[-1]["epoch"]
    except Exception as e:
        # a failure the trial saw itself (an error, not a kill): said in its final result, so that it
        # is not retried (nas.engine.retry) and a resumed multi-fidelity search knows which job failed
        nni.report_final_result({"default": 0.0, "score": None, "failed": str(e)[:300], **(job or {})})
        raise
    if keep_weights and own is not None:
        net = getattr(model, "net", model)  # the space's network: its keys are build_network's
        save_torch(net.state_dict(), own / TRIAL_WEIGHTS)
    last = history[-1]
    result = {"default": last["val_acc"], "val_acc": last["val_acc"], "best_val_acc": max(r["val_acc"] for r in history),
              **figures, "params": params, "flops": flops, "input": list(data.input.shape), "classes": data.input.classes,
              # what answering the commonest validation class every time scores: a trial at it learnt nothing
              "constant_acc": round(100 * torch.bincount(data.val_y).max().item() / max(1, len(data.val_y)), 2),
              "train_acc": last["train_acc"],
              "epochs": len(history), "seconds": round(time.perf_counter() - t0, 2),
              # what a budget in CPU-hours counts: unlike the wall seconds, other load does not inflate it
              "cpu_seconds": round(time.process_time() - cpu0, 2),
              # a teacher's forward passes, within those seconds (nas/training/teacher.py)
              **({"teacher_seconds": round(sum(r["teacher_seconds"] for r in history), 2)} if cfg.teacher else {}),
              # trial overhead (bench/trial_overhead.py): process start -> first step, split where
              # torch and NNI are imported (nas.nni_boundary.trial_entry) and where NNI calls this function
              # (before: NNI hands over the model; after: data, model, first step), and the time of
              # the last step, to compare with when NNI records this result
              **overhead_marks(entered, clock)}
    if stopped:
        result["early_stopped"] = stopped
    if recipe:  # what this candidate's recipe labels set, for the dashboard
        result["recipe"] = recipe
    if job is not None:
        result.update(job, score=read(history, job["reading"]))
    result["reported_at"] = round(time.time(), 3)  # after the last epoch's evaluation; NNI's latency follows
    nni.report_final_result(result)
    return result
