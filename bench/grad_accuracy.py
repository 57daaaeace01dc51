"""Does a memory-format lever compute the same gradients? Error of one float32 training step's
gradients against the same step in float64, plain (NCHW) against channels-last.

    python bench/grad_accuracy.py         # prints a table and appends it to bench/RESULTS.md

Why it is here: channels-last is ~1.1x faster on these CPUs (bench/levers.py) and gives the same loss,
but with BatchNorm its gradients are much further from the float64 truth than the plain layout's,
so the tool does not use it. Dropout is off (p=0): masks would be drawn in another memory order.
"""
from __future__ import annotations

import copy
import datetime
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish  # noqa: E402
from nas.data.datasets import load_splits  # noqa: E402
from search_spaces.baselines import BASELINES  # noqa: E402
from search_spaces.blocks import build_network  # noqa: E402


def grads(model, x, y) -> list[torch.Tensor]:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    F.cross_entropy(model(x), y).backward()
    return [p.grad.double() for p in model.parameters()]


def error(g, truth) -> float:
    """The worst layer's max |g - truth| relative to that layer's largest true gradient."""
    return max(((a - t).abs().max() / t.abs().max()).item() for a, t in zip(g, truth))


def main() -> None:
    torch.set_num_threads(1)
    data = load_splits(None, val_size=1000, train_subset=2000)
    x, y = data.train_x[:128], data.train_y[:128]
    lines = [f"## {datetime.date.today()} — gradient accuracy of channels-last, torch {torch.__version__}", "",
             "`python bench/grad_accuracy.py`: one batch of 128 real images at initialisation (seed 0), "
             "worst layer's max gradient error relative to float64.", "",
             "| model | BatchNorm | plain NCHW | channels-last |", "| --- | --- | --- | --- |"]
    for name in ("exp2", "exp3", "exp4"):
        arch = BASELINES[name]["arch"]
        torch.manual_seed(0)
        base = build_network(arch)
        truth = grads(copy.deepcopy(base).double(), x.double(), y)
        plain = grads(copy.deepcopy(base), x, y)
        cl = grads(copy.deepcopy(base).to(memory_format=torch.channels_last),
                   x.contiguous(memory_format=torch.channels_last), y)
        lines.append(f"| {name} | {'yes' if arch['bn'] else 'no'} | {error(plain, truth):.1e} | {error(cl, truth):.1e} |")
    publish(lines)


if __name__ == "__main__":
    main()
