"""Where one training step of the evaluator spends its time, on one CPU thread: the evidence behind
which throughput levers can pay (bench/levers.py measures the levers themselves).

    python bench/profile_step.py          # prints the tables and appends them to bench/RESULTS.md

For the ~10k reference (search_spaces.baselines.EXP3) and the 8k finalist of the search
(results/exports/s8k-evolution-bn/rank1_cO0Lb), batch 128, the recipe's augmentation and SGD step:
  1. ms per step in each phase (augmentation, forward, backward, optimiser), median of 5 rounds of
     20 steps; the same step with every dropout set to p=0 (what dropout's random masks cost) and
     with the masks drawn by nas/training/dropmask.py (`--set dropout_masks=pcg64`), rounds interleaved;
  2. the operators with the most self time, from torch.profiler over 20 steps.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish  # noqa: E402
from nas.data.augment import random_affine  # noqa: E402
from nas.training.dropmask import MaskSource, attach  # noqa: E402
from search_spaces.baselines import EXP3  # noqa: E402
from search_spaces.blocks import build_network  # noqa: E402

STEPS, ROUNDS, BATCH = 20, 5, 128


def models() -> dict[str, dict]:
    out = {"EXP3 (reference)": EXP3}
    found = ROOT / "results/exports/s8k-evolution-bn/rank1_cO0Lb/arch.json"
    if found.exists():
        out["cO0Lb (8k finalist)"] = json.loads(found.read_text())["arch"]
    return out


def phases(model, opt, x, y, gen) -> dict[str, float]:
    """Seconds per phase over STEPS steps."""
    t = dict.fromkeys(["augmentation", "forward", "backward", "optimiser"], 0.0)
    for _ in range(STEPS):
        t0 = time.perf_counter()
        xb = random_affine(x, gen)
        t1 = time.perf_counter()
        loss = F.cross_entropy(model(xb), y)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        for k, a, b in (("augmentation", t0, t1), ("forward", t1, t2), ("backward", t2, t3), ("optimiser", t3, t4)):
            t[k] += b - a
    return t


def main() -> None:
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    lines = [f"## {datetime.date.today()} — one training step, profiled: {platform.machine()}, 1 thread, "
             f"torch {torch.__version__}, load average before: {os.getloadavg()[0]:.1f}", "",
             f"`python bench/profile_step.py`: batch {BATCH}, ms per step, median of {ROUNDS} rounds of {STEPS} steps.", "",
             "| model | params | augmentation | forward | backward | optimiser | step | step with dropout p=0 | "
             "step with pcg64 masks |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    tops = []
    for name, arch in models().items():
        model = build_network(arch).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
        phases(model, opt, x, y, gen)  # warm-up
        drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
        ps = [m.p for m in drops]
        with_p, without, pcg = [], [], []
        for _ in range(ROUNDS):  # interleaved, so all three see the same load
            with_p.append(phases(model, opt, x, y, gen))
            with attach(model, MaskSource(0)):
                pcg.append(sum(phases(model, opt, x, y, gen).values()))
            for m in drops:
                m.p = 0.0
            without.append(sum(phases(model, opt, x, y, gen).values()))
            for m, p in zip(drops, ps):
                m.p = p
        med = {k: statistics.median(r[k] for r in with_p) * 1000 / STEPS for k in with_p[0]}
        step = statistics.median(sum(r.values()) for r in with_p) * 1000 / STEPS
        params = sum(q.numel() for q in model.parameters())
        lines.append(f"| {name} | {params:,} | " + " | ".join(f"{v:.1f}" for v in med.values())
                     + f" | {step:.1f} | {statistics.median(without) * 1000 / STEPS:.1f} | "
                     f"{statistics.median(pcg) * 1000 / STEPS:.1f} |")
        with torch.profiler.profile() as prof:
            phases(model, opt, x, y, gen)
        ev = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
        total = sum(e.self_cpu_time_total for e in ev)
        tops.append(f"- {name}: " + ", ".join(f"`{e.key}` {100 * e.self_cpu_time_total / total:.0f}%" for e in ev[:6]))
    lines += ["", "Operators with the most self time (share of the profiled steps):", ""] + tops
    publish(lines)


if __name__ == "__main__":
    main()
