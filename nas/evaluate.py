"""What one NNI trial runs: train a frozen candidate with the `TrainConfig` recipe on the
validation split and report to NNI.

Each epoch reports the validation accuracy (%) as an intermediate result; the final result has the
validation accuracy as its default metric, plus parameters, FLOPs, train and test accuracy and
seconds, so the dashboard's trial table shows all of them. The test accuracy is reported, never
used to choose anything.
"""
from __future__ import annotations

import time

import nni
import psutil
import torch

from nas.budget import count
from nas.config import TrainConfig, make
from nas.data import load_splits
from nas.train import train


def evaluate_model(model: torch.nn.Module, config: dict, data_dir: str | None = None) -> dict:
    """The `FunctionalEvaluator` function. `config` is a `TrainConfig` as a dict (it crosses
    process boundaries as JSON); `data_dir` is the verified MNIST folder the search resolved."""
    t0 = time.perf_counter()
    cfg = make(TrainConfig, config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    params, flops = count(model)
    data = load_splits(data_dir, cfg.val_size, cfg.split_seed, cfg.train_subset or None, download=False)

    def report(r: dict) -> None:
        nni.report_intermediate_result({"default": r["val_acc"], "train_acc": r["train_acc"],
                                        "val_loss": r["val_loss"], "epoch": r["epoch"]})

    clock: dict = {}
    history = train(model, data, cfg, on_epoch=report, clock=clock, evaluate_test="last")
    last = history[-1]
    result = {"default": last["val_acc"], "val_acc": last["val_acc"], "best_val_acc": max(r["val_acc"] for r in history),
              "params": params, "flops": flops, "train_acc": last["train_acc"], "test_acc": last["test_acc"],
              "epochs": len(history), "seconds": round(time.perf_counter() - t0, 2),
              # trial overhead (bench/trial_overhead.py): process start -> first step, and the time of
              # the last step, to compare with when NNI records this result
              "startup_s": round(clock["first_step"] - psutil.Process().create_time(), 2),
              "first_step_at": round(clock["first_step"], 3),
              "last_step_at": round(clock["last_step"], 3)}
    nni.report_final_result(result)
    return result
