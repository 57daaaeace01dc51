"""Does the cheaper dropout-mask generator (`TrainConfig.dropout_masks = "pcg64"`, nas/dropmask.py)
train as well as torch's own? Issue 4 asks that a fast path loses no final accuracy: the 15-epoch
test accuracy of both, over 3 seeds, on the ~10k reference model (the hand-made exp3, 8,880 params).

    python bench/dropout_parity.py            # trains what is missing, appends the table to RESULTS.md

The torch-mask side is the committed protocol run of exp3 (results/baselines/exp3, seeds 0-4, made
by `nas baselines --names exp3 --epochs 15 --seeds 0,1,2,3,4 --set val_size=0 --jobs 2`); this script
trains the pcg64 side with the same recipe into results/bench/exp3-pcg64 (`nas train ... --resume`
continues an interrupted run) and compares seeds 0-2. Accuracy only: the two sides ran at different
times and loads (the script may run at low priority beside other work), so their epoch seconds say
nothing about speed; bench/profile_step.py is the side-by-side timing.
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
PCG_RUN = ROOT / "results" / "bench" / "exp3-pcg64"
SEEDS = [0, 1, 2]


def histories(run: Path) -> dict[int, list[dict]]:
    return {s: json.loads((run / f"seed{s}" / "history.json").read_text()) for s in SEEDS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2, help="seeds trained at once (default %(default)s)")
    args = ap.parse_args()
    if not all((TORCH_RUN / f"seed{s}" / "history.json").exists() for s in SEEDS):
        sys.exit(f"error: {TORCH_RUN} lacks seeds {SEEDS}; run nas baselines --names exp3 (see this file)")
    if not all((PCG_RUN / f"seed{s}" / "history.json").exists() for s in SEEDS):
        cmd = [sys.executable, "-m", "nas", "baselines", "--names", "exp3", "--epochs", "15",
               "--seeds", ",".join(map(str, SEEDS)), "--set", "val_size=0", "--set", "dropout_masks=pcg64",
               "--jobs", str(args.jobs), "--out", str(PCG_RUN.parent)]
        tmp = PCG_RUN.parent / "exp3"
        if PCG_RUN.exists() and not tmp.exists():
            PCG_RUN.rename(tmp)  # nas baselines writes <out>/exp3; keep an interrupted run resumable
        if tmp.exists():
            cmd.append("--resume")
        subprocess.run(cmd, cwd=ROOT, check=True)
        tmp.rename(PCG_RUN)
    torch_h, pcg_h = histories(TORCH_RUN), histories(PCG_RUN)
    rows = []
    for name, hs in (("torch (nn.Dropout)", torch_h), ("pcg64 (nas/dropmask.py)", pcg_h)):
        finals = [h[-1]["test_acc"] for h in hs.values()]
        late = [r["test_acc"] for h in hs.values() for r in h[-3:]]
        rows.append(f"| {name} | {' / '.join(f'{f:.2f}' for f in finals)} | {statistics.fmean(finals):.3f} | "
                    f"{min(late):.2f} | {statistics.fmean(late):.3f} |")
    diff = statistics.fmean(h[-1]["test_acc"] for h in pcg_h.values()) - \
        statistics.fmean(h[-1]["test_acc"] for h in torch_h.values())
    publish([f"## {datetime.date.today()} — dropout masks, 15 epochs x 3 seeds, {platform.machine()}, "
             f"torch {torch.__version__}",
             "",
             "`python bench/dropout_parity.py`: exp3 (8,880 params) under the protocol (60,000 images, 15 epochs, "
             "val_size=0, 2 seeds at once, 1 thread each), seeds 0-2.",
             "",
             "| dropout masks | final test acc, seeds 0 / 1 / 2 | mean | last-3 min | last-3 mean |",
             "| --- | --- | --- | --- | --- |", *rows, "",
             f"Mean final test accuracy, pcg64 minus torch: {diff:+.3f} points (one seed's std here is about 0.04)."])


if __name__ == "__main__":
    main()
