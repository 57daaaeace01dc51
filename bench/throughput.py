"""Training throughput of the evaluator's loop (`nas.training.loop.train`) against a plain PyTorch eager
loop of the same architecture and recipe over the same in-memory data (batch 128, float32, no
compile), and the budget gate's cost.

    python bench/throughput.py            # prints a table and appends it to bench/RESULTS.md

Both loops run side by side in one process on the same models: the ~4k, ~10k and ~20k parameter
references below. The plain loop does what the recipe does and nothing else: SGD with Nesterov
momentum and weight decay, a OneCycle step per batch, and the same batch augmentation
(`nas.data.augment.random_affine`). The evaluator also accumulates its training loss and accuracy and
runs a validation pass (5,000 images) after every epoch, as a trial does; that pass is timed on its
own and shown apart: "evaluator, training" is timed by the loop's own clock from its first
optimiser step to its last, so it compares like with like. Images/s is the median over
`REPEATS` timed epochs of `IMAGES` training images after one warm-up epoch, also with
`dropout_masks="pcg64"` (nas/training/dropmask.py). Gate cost is the median fvcore count (params + FLOPs) per
candidate.

"fast path": the evaluator with pcg64 masks, batch 256 and the linearly scaled peak LR 0.1
(`FAST` below; its 15-epoch accuracy against the defaults: `bench/dropout_parity.py --variant fast`).

"2 x 1 thread" columns: how `nas search --concurrency 2` uses 2 cores, two trainings at once, each in
its own process with one thread; their images/s are summed. The plain loop is measured the same way,
so the table shows how much of that gain is the concurrency (it helps a plain loop as much) and how
much is the evaluator.
"""
from __future__ import annotations

import datetime
import multiprocessing as mp
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
from nas.data.augment import random_affine  # noqa: E402
from nas.config import TrainConfig  # noqa: E402
from nas.data.datasets import load_splits  # noqa: E402
from nas.training.loop import evaluate, make_optimizer, make_schedule, train  # noqa: E402
from search_spaces.baselines import EXP1, EXP3  # noqa: E402
from search_spaces.blocks import build_network  # noqa: E402

IMAGES, REPEATS = int(os.environ.get("BENCH_IMAGES", 10000)), int(os.environ.get("BENCH_REPEATS", 3))
MODELS = {  # reference architectures of about 4k, 10k and 20k parameters
    "~4k": {**EXP3, "c1_0": 6, "c1_1": 10, "trans1": 6, "c2_0": 8, "c2_1": 10, "c2_2": 10, "c2_3": 12},
    "~10k": EXP3,
    "~20k": {**EXP1, "bn": True, "dropout": 0.05},
}
# the fast path: cheaper dropout masks, and twice the batch with twice the peak LR (linear scaling)
FAST = dict(dropout_masks="pcg64", batch_size=256, lr=0.1)


def plain_epoch(model, x, y, opt, sched, gen, cfg: TrainConfig):
    """The reference: a plain eager loop over in-memory tensors with the recipe's optimiser step,
    LR schedule and augmentation, and nothing else (no metrics, no validation)."""
    model.train()
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), cfg.batch_size):
        idx = perm[i:i + cfg.batch_size]
        loss = F.cross_entropy(model(random_affine(x[idx], gen, cfg.max_degrees, cfg.max_shift)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def median_seconds(fn) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def evaluator_rates(arch: dict, data, cfg: TrainConfig) -> tuple[float, float]:
    """(training images/s, images/s of the whole epoch with its validation pass) of `nas.training.loop.train`,
    medians over `REPEATS` one-epoch runs after a warm-up. Training is timed by the loop's own clock,
    from its first optimiser step to its last: the images of every batch but the first."""
    spans, wholes = [], []
    for i in range(REPEATS + 1):
        clock: dict = {}
        t0 = time.perf_counter()
        train(build_network(arch), data, cfg, evaluate_test=False, clock=clock)
        if i:  # the first run warms up
            wholes.append(time.perf_counter() - t0)
            spans.append(clock["last_step"] - clock["first_step"])
    return (IMAGES - cfg.batch_size) / statistics.median(spans), IMAGES / statistics.median(wholes)


def _worker(which: str, arch: dict, overrides: dict, barrier, out) -> None:
    """One of two processes run side by side: `which` is "plain" or "evaluator"; one thread each;
    `overrides`: TrainConfig fields the evaluator changes (e.g. FAST)."""
    torch.set_num_threads(1)
    data = load_splits(None, val_size=5000, train_subset=IMAGES)
    cfg = replace(TrainConfig(epochs=1, batch_size=128, augment=True, threads=1), **overrides)
    barrier.wait()  # both start timing together, so their epochs overlap
    if which == "plain":
        model = build_network(arch)
        opt = make_optimizer(model, cfg)
        sched = make_schedule(opt, replace(cfg, epochs=REPEATS + 1), -(-IMAGES // cfg.batch_size))
        gen = torch.Generator().manual_seed(0)
        out.put(IMAGES / median_seconds(lambda: plain_epoch(model, data.train_x, data.train_y, opt, sched, gen, cfg)))
    else:
        out.put(evaluator_rates(arch, data, cfg)[0])


def side_by_side(which: str, arch: dict, overrides: dict | None = None) -> float:
    """Summed images/s of two one-thread processes training `arch` at once."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(which, arch, overrides or {}, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def main() -> None:
    load = os.getloadavg()[0]  # before this benchmark adds its own
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    data = load_splits(None, val_size=5000, train_subset=IMAGES)
    cfg = TrainConfig(epochs=1, batch_size=128, augment=True)
    rows = []
    for name, arch in MODELS.items():
        params, _ = count(build_network(arch))
        model = build_network(arch)
        # a schedule long enough for every timed epoch: the LR it gives does not change the cost
        opt = make_optimizer(model, cfg)
        sched = make_schedule(opt, replace(cfg, epochs=REPEATS + 1), -(-IMAGES // cfg.batch_size))
        gen = torch.Generator().manual_seed(0)
        plain = IMAGES / median_seconds(lambda: plain_epoch(model, data.train_x, data.train_y, opt, sched, gen, cfg))
        val = median_seconds(lambda: evaluate(model, data.val_x, data.val_y, cfg.eval_batch))
        ours, whole = evaluator_rates(arch, data, cfg)
        pcg, _ = evaluator_rates(arch, data, replace(cfg, dropout_masks="pcg64"))
        fast, _ = evaluator_rates(arch, data, replace(cfg, **FAST))
        plain2, ours2, pcg2, fast2 = (side_by_side("plain", arch), side_by_side("evaluator", arch),
                                      side_by_side("evaluator", arch, {"dropout_masks": "pcg64"}),
                                      side_by_side("evaluator", arch, FAST))
        rows.append((name, params, plain, ours, whole, pcg, fast, val, plain2, ours2, pcg2, fast2))
    gate = []
    for arch in list(MODELS.values()) * 5:
        net = build_network(arch)
        t0 = time.perf_counter()
        count(net)
        gate.append(time.perf_counter() - t0)

    lines = [f"## {datetime.date.today()} — {platform.processor() or platform.machine()}, "
             f"{len(os.sched_getaffinity(0))} cores, torch {torch.__version__}, no GPU, "
             f"load average before: {load:.1f}",
             "", f"`python bench/throughput.py`: {IMAGES:,} training images per timed epoch, median of {REPEATS}; "
                 "both loops augment every batch and step OneCycle; the evaluator's validation pass (5,000 images) "
                 "is timed apart; the evaluator's training columns are timed by its loop's clock, first to last step; "
                 f"fast path: {', '.join(f'{k}={v}' for k, v in FAST.items())}.",
             "", "| model | params | plain eager loop img/s | evaluator, training img/s | ratio (evaluator / plain) | "
                 "evaluator, pcg64 dropout masks | ratio with pcg64 | evaluator, fast path | ratio, fast path | "
                 "validation pass s | evaluator with it img/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, params, plain, ours, whole, pcg, fast, val, *_ in rows:
        lines.append(f"| {name} | {params:,} | {plain:,.0f} | {ours:,.0f} | {ours / plain:.2f} | {pcg:,.0f} | "
                     f"{pcg / plain:.2f} | {fast:,.0f} | {fast / plain:.2f} | {val:.2f} | {whole:,.0f} |")
    lines += ["", "Two one-thread processes at once, images/s summed (as `nas search --concurrency 2` trains); "
                  "ratios against the one-process plain loop above:",
              "", "| model | plain, 2 x 1 thread | ratio | evaluator, 2 x 1 thread | ratio | "
                  "evaluator with pcg64, 2 x 1 thread | ratio | evaluator, fast path, 2 x 1 thread | ratio |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, params, plain, *_, plain2, ours2, pcg2, fast2 in rows:
        lines.append(f"| {name} | {plain2:,.0f} | {plain2 / plain:.2f} | {ours2:,.0f} | {ours2 / plain:.2f} | "
                     f"{pcg2:,.0f} | {pcg2 / plain:.2f} | {fast2:,.0f} | {fast2 / plain:.2f} |")
    lines += ["", f"Gate (fvcore params + FLOPs) per candidate: median {1000 * statistics.median(gate):.1f} ms "
                  f"over {len(gate)} counts.", ""]
    publish(lines)


if __name__ == "__main__":
    main()
