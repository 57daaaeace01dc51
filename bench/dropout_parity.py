"""Does a fast path of the evaluator train as well as the default recipe? Issue 4 asks that a fast
path loses no final accuracy: the 15-epoch test accuracy of both, over 3 seeds, on the ~10k reference
model (the hand-made exp3, 8,880 params).

    python bench/dropout_parity.py                    # pcg64 dropout masks (nas/training/dropmask.py)
    python bench/dropout_parity.py --variant fast     # pcg64 + batch 256 + peak LR 0.1 (bench/throughput.py FAST)

Each trains what is missing and appends its table to RESULTS.md. The default side is the committed
protocol run of exp3 (results/baselines/exp3, seeds 0-4, made by `nas baselines --names exp3
--epochs 15 --seeds 0,1,2,3,4 --set val_size=0 --jobs 2`); this script trains the variant with the
same recipe but its changes into results/bench/exp3-<variant> (`nas baselines ... --resume` continues
an interrupted run) and compares seeds 0-2. Accuracy only: the two sides ran at different times and
loads (the script may run at low priority beside other work), so their epoch seconds say nothing
about speed; bench/throughput.py is the side-by-side timing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import publish  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TORCH_RUN = ROOT / "results" / "baselines" / "exp3"
SEEDS = [0, 1, 2]
VARIANTS = {  # name -> (TrainConfig changes, what the table calls it)
    "pcg64": ({"dropout_masks": "pcg64"}, "pcg64 (nas/training/dropmask.py)"),
    "fast": ({"dropout_masks": "pcg64", "batch_size": 256, "lr": 0.1}, "fast path: pcg64, batch 256, lr 0.1"),
}


def histories(run: Path) -> dict[int, list[dict]]:
    return {s: json.loads((run / f"seed{s}" / "history.json").read_text()) for s in SEEDS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="seeds trained at once (default %(default)s)")
    ap.add_argument("--variant", choices=VARIANTS, default="pcg64", help="what to compare (default %(default)s)")
    args = ap.parse_args()
    changes, label = VARIANTS[args.variant]
    var_run = ROOT / "results" / "bench" / f"exp3-{args.variant}"
    if not all((TORCH_RUN / f"seed{s}" / "history.json").exists() for s in SEEDS):
        sys.exit(f"error: {TORCH_RUN} lacks seeds {SEEDS}; run nas baselines --names exp3 (see this file)")
    if not all((var_run / f"seed{s}" / "history.json").exists() for s in SEEDS):
        cmd = [sys.executable, "-m", "nas", "baselines", "--names", "exp3", "--epochs", "15",
               "--seeds", ",".join(map(str, SEEDS)), "--set", "val_size=0",
               *[a for k, v in changes.items() for a in ("--set", f"{k}={v}")],
               "--jobs", str(args.jobs), "--out", str(var_run.parent)]
        tmp = var_run.parent / "exp3"
        if var_run.exists() and not tmp.exists():
            var_run.rename(tmp)  # nas baselines writes <out>/exp3; keep an interrupted run resumable
        if tmp.exists():
            cmd.append("--resume")
        subprocess.run(cmd, cwd=ROOT, check=True)
        tmp.rename(var_run)
    torch_h, var_h = histories(TORCH_RUN), histories(var_run)
    rows = []
    for name, hs in (("the defaults (nn.Dropout, batch 128, lr 0.05)", torch_h), (label, var_h)):
        finals = [h[-1]["test_acc"] for h in hs.values()]
        late = [r["test_acc"] for h in hs.values() for r in h[-3:]]
        rows.append(f"| {name} | {' / '.join(f'{f:.2f}' for f in finals)} | {statistics.fmean(finals):.3f} | "
                    f"{min(late):.2f} | {statistics.fmean(late):.3f} |")
    diff = statistics.fmean(h[-1]["test_acc"] for h in var_h.values()) - \
        statistics.fmean(h[-1]["test_acc"] for h in torch_h.values())
    flag = "" if args.variant == "pcg64" else f" --variant {args.variant}"
    publish([f"## {datetime.date.today()} — {label} against the defaults, 15 epochs x 3 seeds, {platform.machine()}, "
             f"torch {torch.__version__}",
             "",
             f"`python bench/dropout_parity.py{flag}`: exp3 (8,880 params) under the protocol (60,000 images, "
             "15 epochs, val_size=0, 2 seeds at once, 1 thread each), seeds 0-2.",
             "",
             "| recipe | final test acc, seeds 0 / 1 / 2 | mean | last-3 min | last-3 mean |",
             "| --- | --- | --- | --- | --- |", *rows, "",
             f"Mean final test accuracy, {args.variant} minus the defaults: {diff:+.3f} points "
             "(one seed's std here is about 0.04)."])


if __name__ == "__main__":
    main()
