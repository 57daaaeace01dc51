"""Training throughput of the evaluator's loop (`nas.train.train`) against a plain PyTorch eager
loop over the same in-memory data (batch 128, float32, no compile), and the budget gate's cost.

    python bench/throughput.py            # prints a table and appends it to bench/RESULTS.md

Both loops run side by side in one process on the same models: the ~4k, ~10k and ~20k parameter
references below. Images/s is the median over `REPEATS` timed epochs of `IMAGES` training images
after one warm-up epoch (the evaluator's number includes its per-epoch validation pass, as a trial's
does, so that cost is visible), also with `dropout_masks="pcg64"` (nas/dropmask.py). Gate cost is the median fvcore count (params + FLOPs) per candidate.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish  # noqa: E402
from nas.budget import count  # noqa: E402
from nas.config import TrainConfig  # noqa: E402
from nas.data import load_splits  # noqa: E402
from nas.train import train  # noqa: E402
from search_spaces.baselines import EXP1, EXP3  # noqa: E402
from search_spaces.blocks import build_network  # noqa: E402

IMAGES, REPEATS = 10000, 3
MODELS = {  # reference architectures of about 4k, 10k and 20k parameters
    "~4k": {**EXP3, "c1_0": 6, "c1_1": 10, "trans1": 6, "c2_0": 8, "c2_1": 10, "c2_2": 10, "c2_3": 12},
    "~10k": EXP3,
    "~20k": {**EXP1, "bn": True, "dropout": 0.05},
}


def plain_epoch(model, x, y, opt, gen, batch=128):
    """The reference: a plain eager loop over in-memory tensors, nothing else."""
    model.train()
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def images_per_second(fn) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return IMAGES / statistics.median(times)


def main() -> None:
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    data = load_splits(None, val_size=5000, train_subset=IMAGES)
    cfg = TrainConfig(epochs=1, batch_size=128, augment=True)
    rows = []
    for name, arch in MODELS.items():
        params, _ = count(build_network(arch))
        model = build_network(arch)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        gen = torch.Generator().manual_seed(0)
        plain = images_per_second(lambda: plain_epoch(model, data.train_x, data.train_y, opt, gen))
        ours = images_per_second(lambda: train(build_network(arch), data, replace(cfg, augment=True),
                                               evaluate_test=False))
        ours_noaug = images_per_second(lambda: train(build_network(arch), data, replace(cfg, augment=False),
                                                     evaluate_test=False))
        ours_pcg = images_per_second(lambda: train(build_network(arch), data, replace(cfg, dropout_masks="pcg64"),
                                                   evaluate_test=False))
        rows.append((name, params, plain, ours, ours_noaug, ours_pcg))
    gate = []
    for arch in list(MODELS.values()) * 5:
        net = build_network(arch)
        t0 = time.perf_counter()
        count(net)
        gate.append(time.perf_counter() - t0)

    lines = [f"## {datetime.date.today()} — {platform.processor() or platform.machine()}, "
             f"{len(os.sched_getaffinity(0))} cores, torch {torch.__version__}, no GPU, "
             f"load average before: {os.getloadavg()[0]:.1f}",
             "", f"`python bench/throughput.py`: {IMAGES:,} training images per timed epoch, median of {REPEATS}.",
             "", "| model | params | plain eager loop img/s | evaluator img/s (aug + val pass) | evaluator, no aug | "
                 "evaluator, pcg64 dropout masks | ratio (evaluator / plain) | ratio with pcg64 masks |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, params, plain, ours, noaug, pcg in rows:
        lines.append(f"| {name} | {params:,} | {plain:,.0f} | {ours:,.0f} | {noaug:,.0f} | {pcg:,.0f} | "
                     f"{ours / plain:.2f} | {pcg / plain:.2f} |")
    lines += ["", f"Gate (fvcore params + FLOPs) per candidate: median {1000 * statistics.median(gate):.1f} ms "
                  f"over {len(gate)} counts.", ""]
    publish(lines)


if __name__ == "__main__":
    main()
