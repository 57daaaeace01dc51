"""Which levers make a training step cheaper on this machine: measured side by side in one run.

    python bench/levers.py            # prints a table and appends it to bench/RESULTS.md

On the ~10k-parameter reference (search_spaces.baselines.EXP3, 8,880 parameters), images/s of a plain
eager training loop (batch 128, float32, in-memory data, all cores) against the same loop with one
change each: channels-last memory format, bfloat16 autocast, torch.compile, batch 256 and 512, one
thread; then two 1-thread processes training at once (what `nas train --jobs 2` and a search at
concurrency 2 do), counted together. Median of 3 timed epochs of 10,000 images after a warm-up epoch.
"""
from __future__ import annotations

import datetime
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish  # noqa: E402
from nas.data.datasets import load_splits  # noqa: E402
from search_spaces.baselines import EXP3  # noqa: E402
from search_spaces.blocks import build_network  # noqa: E402

IMAGES, REPEATS = 10000, 3


def epoch(model, opt, x, y, batch, channels_last=False, bf16=False):
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        xb = x[idx].contiguous(memory_format=torch.channels_last) if channels_last else x[idx]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def measure(batch=128, channels_last=False, bf16=False, compile=False, threads=0, queue=None, start=None) -> float:
    torch.set_num_threads(threads or len(os.sched_getaffinity(0)))
    data = load_splits(None, val_size=5000, train_subset=IMAGES)
    torch.manual_seed(0)
    model = build_network(EXP3)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    run = lambda: epoch(model, opt, data.train_x, data.train_y, batch, channels_last, bf16)  # noqa: E731
    run()  # warm-up (and compilation)
    if start is not None:
        start.wait()  # parallel processes time the same interval
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    rate = IMAGES / statistics.median(times)
    if queue is not None:
        queue.put(rate)
    return rate


def two_processes() -> float:
    ctx = mp.get_context("spawn")
    queue, start = ctx.Queue(), ctx.Barrier(2)
    procs = [ctx.Process(target=measure, kwargs=dict(threads=1, queue=queue, start=start)) for _ in range(2)]
    for p in procs:
        p.start()
    rates = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def main() -> None:
    variants = [("plain eager loop (reference)", {}), ("channels-last", dict(channels_last=True)),
                ("bfloat16 autocast", dict(bf16=True)), ("torch.compile", dict(compile=True)),
                ("batch 256", dict(batch=256)), ("batch 512", dict(batch=512)), ("1 thread", dict(threads=1))]
    rows = [(name, measure(**kw)) for name, kw in variants]
    rows.append(("2 processes x 1 thread, together", two_processes()))
    ref = rows[0][1]
    flags = open("/proc/cpuinfo").read()
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in flags) or "none of avx2/avx512"
    lines = [f"## {datetime.date.today()} — levers, {platform.machine()} ({isa}), "
             f"{len(os.sched_getaffinity(0))} cores, torch {torch.__version__}, no GPU, "
             f"load average before: {os.getloadavg()[0]:.1f}",
             "", f"`python bench/levers.py`: 8,880-parameter reference, {IMAGES:,} images per timed "
                 f"epoch, median of {REPEATS}.", "", "| variant | img/s | vs reference |", "| --- | --- | --- |"]
    lines += [f"| {name} | {rate:,.0f} | {rate / ref:.2f}x |" for name, rate in rows]
    publish(lines)


if __name__ == "__main__":
    main()
