"""GPU figures of the throughput benchmark (issue 4): bench/throughput.py's comparison with the data
on the GPU, how far one GPU serves several trainings at once, and the 15-epoch accuracy of both
loops there.

    python bench/gpu.py              # needs a CUDA GPU; prints its tables and appends them to bench/RESULTS.md
    BENCH_IMAGES=5000 BENCH_REPEATS=1 BENCH_SEEDS=0 BENCH_EPOCHS=1 python bench/gpu.py   # a quick look

Three measurements, all with every tensor (training, validation and test images) on the GPU:

1. Images/s of the plain eager loop (bench/throughput.py's `plain_epoch`: batch 128, float32, no
   compile) against the evaluator's loop (`nas.training.loop.train` with `device=cuda`), on the ~4k, ~10k
   and ~20k references. The evaluator is timed over a whole one-epoch `train` call without its
   validation pass (a GPU runs ahead of the Python that queues its work, so the CPU-side clock of
   throughput.py would time the queueing, not the training); the time ends at a device sync. Also
   the evaluator with pcg64 masks (drawn on the CPU, then copied: a CPU lever, shown for
   completeness) and the fast path (batch 256, peak LR 0.1, nn.Dropout's masks).
2. Several one-epoch trainings of the ~10k reference at once, each in its own process (as `nas
   search --concurrency N` would run trials on one GPU): summed images/s for N = 1, 2, 4, 8.
3. 15 epochs of the ~10k reference (exp3) under the protocol (60,000 images, test every epoch) with
   the evaluator and with the plain loop, seeds 0-2, all six at once: final and last-3 test accuracy.
"""
from __future__ import annotations

import datetime
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish  # noqa: E402
from throughput import FAST, MODELS, plain_epoch  # noqa: E402
from nas.budget import count  # noqa: E402
from nas.config import TrainConfig  # noqa: E402
from nas.data.datasets import Splits, load_splits  # noqa: E402
from nas.training.loop import evaluate, init_weights, make_optimizer, make_schedule, train  # noqa: E402
from search_spaces.blocks import build_network  # noqa: E402

IMAGES = int(os.environ.get("BENCH_IMAGES", 20000))
REPEATS = int(os.environ.get("BENCH_REPEATS", 3))
SEEDS = [int(s) for s in os.environ.get("BENCH_SEEDS", "0,1,2").split(",")]
EPOCHS = int(os.environ.get("BENCH_EPOCHS", 15))
CONCURRENCY = (1, 2, 4, 8)
# BENCH_DEVICE=cpu runs the same code on the CPU, to try this script out before a GPU is at hand
DEVICE = os.environ.get("BENCH_DEVICE", "cuda")
GPU_FAST = {k: v for k, v in FAST.items() if k != "dropout_masks"}  # batch 256, lr 0.1; torch's masks
REFERENCE = "~10k"


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def sync_seconds(fn) -> float:
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def median_rate(fn, images: int) -> float:
    """images / median seconds of `fn` over REPEATS timed calls after one warm-up."""
    sync_seconds(fn)
    return images / statistics.median(sync_seconds(fn) for _ in range(REPEATS))


def training_only(data: Splits) -> Splits:
    """The splits without validation and test images: `train` then runs no evaluation pass."""
    empty = data.val_x[:0]
    return replace(data, val_x=empty, val_y=data.val_y[:0], test_x=empty, test_y=data.test_y[:0])


def plain_rate(arch: dict, data: Splits, cfg: TrainConfig) -> float:
    model = build_network(arch).to(DEVICE)
    opt = make_optimizer(model, cfg)
    # a schedule long enough for every timed epoch: the LR it gives does not change the cost
    sched = make_schedule(opt, replace(cfg, epochs=REPEATS + 1), math.ceil(IMAGES / cfg.batch_size))
    gen = torch.Generator().manual_seed(0)
    return median_rate(lambda: plain_epoch(model, data.train_x, data.train_y, opt, sched, gen, cfg), IMAGES)


def evaluator_rate(arch: dict, data: Splits, cfg: TrainConfig) -> float:
    bare = training_only(data)
    return median_rate(lambda: train(build_network(arch), bare, cfg, evaluate_test=False), IMAGES)


def _concurrent_worker(barrier, out) -> None:
    torch.set_num_threads(1)
    data = load_splits(None, val_size=5000, train_subset=IMAGES).to(DEVICE)
    cfg = TrainConfig(epochs=1, device=DEVICE, threads=1)
    evaluator_rate(MODELS[REFERENCE], data, cfg)  # warm-up: cuDNN's choices, the allocator
    barrier.wait()  # every process starts its timed epochs together
    out.put(evaluator_rate(MODELS[REFERENCE], data, cfg))


def concurrent_rate(n: int) -> float:
    """Summed images/s of `n` processes training the reference at once on the one GPU."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_concurrent_worker, args=(barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def _accuracy_worker(which: str, seed: int, out) -> None:
    """15 epochs of exp3 under the protocol on the GPU; (which, seed, test accuracy per epoch)."""
    torch.set_num_threads(1)
    data = load_splits(None, val_size=0).to(DEVICE)
    cfg = TrainConfig(epochs=EPOCHS, seed=seed, device=DEVICE, threads=1)
    arch = MODELS[REFERENCE]
    if which == "evaluator":
        hist = train(build_network(arch), data, cfg)
        out.put((which, seed, [r["test_acc"] for r in hist]))
        return
    # the plain loop: the same start (weights from the seed), recipe and augmentation stream
    model = build_network(arch)
    init_weights(model, seed)
    model.to(DEVICE)
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg, math.ceil(len(data.train_x) / cfg.batch_size))
    gen = torch.Generator().manual_seed(seed)
    accs = []
    for _ in range(cfg.epochs):
        plain_epoch(model, data.train_x, data.train_y, opt, sched, gen, cfg)
        accs.append(evaluate(model, data.test_x, data.test_y, cfg.eval_batch)[1])
    out.put((which, seed, accs))


def accuracy_runs() -> dict[tuple[str, int], list[float]]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    jobs = [(w, s) for w in ("plain", "evaluator") for s in SEEDS]
    procs = [ctx.Process(target=_accuracy_worker, args=(w, s, out)) for w, s in jobs]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        which, seed, accs = out.get()
        results[(which, seed)] = accs
    for p in procs:
        p.join()
    return results


def main() -> None:
    if DEVICE == "cuda" and not torch.cuda.is_available():
        sys.exit("error: bench/gpu.py needs a CUDA GPU; bench/throughput.py is the CPU benchmark")
    t_start = time.perf_counter()
    data = load_splits(None, val_size=5000, train_subset=IMAGES).to(DEVICE)
    cfg = TrainConfig(epochs=1, device=DEVICE)
    rows = []
    for name, arch in MODELS.items():
        params, _ = count(build_network(arch))
        plain = plain_rate(arch, data, cfg)
        ours = evaluator_rate(arch, data, cfg)
        pcg = evaluator_rate(arch, data, replace(cfg, dropout_masks="pcg64"))
        fast = evaluator_rate(arch, data, replace(cfg, **GPU_FAST))
        model = build_network(arch).to(DEVICE)
        val = statistics.median(sync_seconds(lambda: evaluate(model, data.val_x, data.val_y, cfg.eval_batch))
                                for _ in range(REPEATS + 1))
        rows.append((name, params, plain, ours, pcg, fast, val))
        print(rows[-1], flush=True)
    conc = [(n, concurrent_rate(n)) for n in CONCURRENCY]
    print(conc, flush=True)
    acc = accuracy_runs()
    minutes = (time.perf_counter() - t_start) / 60

    gpu = torch.cuda.get_device_name(0) if DEVICE == "cuda" else f"none (BENCH_DEVICE={DEVICE}: a dry run)"
    lines = [f"## {datetime.date.today()} — GPU: {gpu}, {len(os.sched_getaffinity(0))} CPU cores, "
             f"torch {torch.__version__} (CUDA {torch.version.cuda}), {platform.machine()}",
             "", f"`python bench/gpu.py` ({minutes:.1f} min): every split on the GPU; {IMAGES:,} training images "
                 f"per timed epoch, median of {REPEATS} after a warm-up, each timed to a device sync; the evaluator is "
                 "a whole one-epoch `nas.training.loop.train(device=cuda)` call without evaluation passes; fast path: "
                 f"{', '.join(f'{k}={v}' for k, v in GPU_FAST.items())} (nn.Dropout's masks).",
             "", "| model | params | plain eager loop img/s | evaluator img/s | ratio (evaluator / plain) | "
                 "evaluator, pcg64 masks | ratio | evaluator, fast path | ratio | validation pass (5,000) s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, params, plain, ours, pcg, fast, val in rows:
        lines.append(f"| {name} | {params:,} | {plain:,.0f} | {ours:,.0f} | {ours / plain:.2f} | {pcg:,.0f} | "
                     f"{pcg / plain:.2f} | {fast:,.0f} | {fast / plain:.2f} | {val:.3f} |")
    one = conc[0][1]
    lines += ["", f"Several evaluator trainings of the {REFERENCE} reference at once on the one GPU, one process "
                  "and one CPU thread each, images/s summed (what `nas search --concurrency N` would get):",
              "", "| processes | images/s, summed | against one process |", "| --- | --- | --- |"]
    lines += [f"| {n} | {rate:,.0f} | {rate / one:.2f}x |" for n, rate in conc]
    lines += ["", f"{EPOCHS} epochs of exp3 (the {REFERENCE} reference) under the protocol on the GPU (60,000 images, "
                  "test accuracy every epoch), seeds " + ", ".join(map(str, SEEDS)) + ", all at once:",
              "", "| loop | final test acc, per seed | mean | last-3 min | last-3 mean |", "| --- | --- | --- | --- | --- |"]
    for which in ("plain", "evaluator"):
        hs = [acc[(which, s)] for s in SEEDS]
        late = [a for h in hs for a in h[-3:]]
        lines.append(f"| {which} | {' / '.join(f'{h[-1]:.2f}' for h in hs)} | "
                     f"{statistics.fmean(h[-1] for h in hs):.3f} | {min(late):.2f} | {statistics.fmean(late):.3f} |")
    lines.append("")
    if DEVICE == "cuda":
        publish(lines)
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
