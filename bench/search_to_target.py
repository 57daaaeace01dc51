"""How long a real search takes to reach a validation accuracy, on this machine (issue 4's goal: a
20k-parameter search reaches >= 99.40% validation accuracy within one hour on 2 cores).

    python bench/search_to_target.py                      # runs the search below, appends to RESULTS.md
    python bench/search_to_target.py --measure ID         # measures a search that already ran

The search is a plain `nas search` (`SEARCH` below): BatchNorm on, 12,000 to 20,000 parameters,
regularized evolution, 8-epoch proxy trials on all 55,000 images outside the validation split with
pcg64 dropout masks (nas/training/dropmask.py), 2 at a time with one thread each, median-rule early
stopping, more trials than an hour holds. Its NNI files go to results/bench/searches/<ID> (the
first run, 2026-11-25, went to results/searches/s20k-evolution-bn and is one of the searches of
results/README.md). This script polls NNI's database and stops the search (SIGINT, as Ctrl-C;
`nas resume ID` continues it) once any trial reports a validation accuracy at or above the
target, or when the time limit is up.

Time is measured from NNI's experiment start (its ExperimentProfile) to the NNI timestamp of the first
intermediate or final result at or above the target: what a user watching the dashboard would see.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from nas import nni_boundary  # noqa: E402
from record import publish  # noqa: E402

SEARCH = ["--strategy", "evolution", "--max-params", "20000", "--min-params", "12000", "--fix", "bn=true",
          "--trials", "60", "--epochs", "8", "--train-subset", "0", "--concurrency", "2", "--early-stop",
          "--set", "dropout_masks=pcg64"]


def measure(workdir: Path, exp_id: str, target: float) -> dict:
    """Times (s since the experiment started) of the first result >= target and of the best result."""
    start = nni_boundary.experiment_started_ms(workdir, exp_id)
    submitted, finished = {}, {}  # trial id -> its first event; -> its last end
    for tid, event, ts in nni_boundary.trial_events(workdir, exp_id):  # in time order
        submitted.setdefault(tid, ts)
        if event in ("SUCCEEDED", "FAILED", "USER_CANCELED"):
            finished[tid] = ts
    out = {"start": start / 1000, "hit_s": None, "hit_trial": None, "hit_epoch": None, "best": 0.0, "best_s": None,
           "trials_started": len(submitted), "trials_finished": len(finished)}
    for m in nni_boundary.metrics(workdir, exp_id):
        ts, value = m.timestamp, m.value  # a bare number comes as {"default": number}
        acc = value.get("default")
        if not isinstance(acc, (int, float)):
            continue
        if acc > out["best"]:
            out.update(best=acc, best_s=(ts - start) / 1000)
        if acc >= target and out["hit_s"] is None:
            out.update(hit_s=(ts - start) / 1000, hit_trial=m.trial_id, hit_epoch=value.get("epoch", value.get("epochs")),
                       trials_started_by_hit=sum(t <= ts for t in submitted.values()),
                       trials_finished_by_hit=sum(t <= ts for t in finished.values()))
    return out


def run_search(exp_id: str, workdir: Path, target: float, minutes: float, port: int) -> None:
    """Launch the search, stop it at the first result >= target or after `minutes`."""
    cmd = [str(ROOT / ".venv" / "bin" / "nas") if (ROOT / ".venv" / "bin" / "nas").exists() else "nas",
           "search", "--schedule", "flat", "--id", exp_id, "--results", str(workdir.parent), "--port", str(port),
           "--export-dir", str(workdir.parent / "exports"), *SEARCH]
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / f"{exp_id}.out", "a")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    t0 = time.time()
    try:
        while proc.poll() is None:
            time.sleep(10)
            if nni_boundary.has_database(workdir, exp_id) and measure(workdir, exp_id, target)["hit_s"] is not None:
                print("target reached; stopping the search", flush=True)
                break
            if time.time() - t0 > minutes * 60:
                print(f"{minutes:g} minutes are up; stopping the search", flush=True)
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # `nas` stops NNI and its trials cleanly on SIGINT
            proc.wait()
        log.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--id", default="s20k-evolution-pcg64", help="experiment id (default %(default)s)")
    p.add_argument("--workdir", default=str(ROOT / "results" / "bench" / "searches"),
                   help="NNI experiments folder, named searches (its parent is the results root)")
    p.add_argument("--target", type=float, default=99.40, help="validation accuracy, %% (default %(default)s)")
    p.add_argument("--minutes", type=float, default=60, help="time limit of the search (default %(default)s)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--measure", action="store_true", help="only measure the experiment --id, do not run it")
    args = p.parse_args()
    workdir = Path(args.workdir).resolve()
    load = os.getloadavg()[0]
    if not args.measure:
        run_search(args.id, workdir, args.target, args.minutes, args.port)
    m = measure(workdir, args.id, args.target)
    when = datetime.date.today().isoformat()
    lines = [f"## {when} — search to {args.target:.2f}% validation, {platform.machine()}, {os.cpu_count()} cores, "
             f"load average before: {load:.1f}", "",
             f"`python bench/search_to_target.py{' --measure' if args.measure else ''} --id {args.id}`: "
             f"`nas search {' '.join(SEARCH)}` (time limit {args.minutes:g} min).", ""]
    if m["hit_s"] is not None:
        lines.append(f"Reached {args.target:.2f}% after **{m['hit_s'] / 60:.1f} min** (trial `{m['hit_trial']}`, epoch "
                     f"{m['hit_epoch']}), with {m['trials_started_by_hit']} trials started and "
                     f"{m['trials_finished_by_hit']} finished by then. Goal (<= 60 min on 2 cores): "
                     f"{'met' if m['hit_s'] <= 3600 else 'not met'}.")
    else:
        lines.append(f"Did not reach {args.target:.2f}%: best validation accuracy {m['best']:.2f}% after "
                     f"{(m['best_s'] or 0) / 60:.1f} min; {m['trials_started']} trials started, "
                     f"{m['trials_finished']} finished. Goal (<= 60 min on 2 cores): not met.")
    publish(lines)


if __name__ == "__main__":
    main()
