"""Trial overhead, trials per CPU-hour and peak memory of real NNI searches on this machine.

    python bench/trial_overhead.py [--trials 8]      # appends a table to bench/RESULTS.md
    python bench/trial_overhead.py --machines FILE   # ... and the shipped variant on NNI's remote (SSH)
                                                     # service, e.g. one machine on loopback, trials: 1

Runs `nas search` with short proxy trials (1 epoch of 5,000 images, 1,000 validation images), one
trial at a time, three times in a row (`VARIANTS`): as shipped (trials start through
nas/nni_boundary/trial_entry.py, which skips NNI's scipy.stats and pandas imports, and NNI_FRAMEWORK=none skips
pytorch_lightning); with NNI's own trial entry (NAS_TRIAL_ENTRY=nni); and with NNI's defaults for
both (NNI_FRAMEWORK=pytorch too). Per trial, from NNI's database and the marks the evaluator reports
(nas/engine/trial.py):
  start overhead  NNI submits the trial (its first event) -> the trial's first optimiser step
  startup         the trial process is created -> its first step, in three parts: imports (python,
                  torch, NNI: nas/nni_boundary/trial_entry.py), NNI handing over the model (-> the evaluator's
                  call), and the evaluator's own start (data, model, optimiser, first step)
  end overhead    the last step -> the trial sends its final result (the last epoch's validation
                  and test passes) -> NNI records it; the last step -> NNI marks the trial SUCCEEDED
Trials per CPU-hour = trials / (search wall time x cores); peak memory = the largest sum of resident
memory over the search's whole process tree (CLI, NNI manager, trials), sampled every 0.2 s.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from record import publish  # noqa: E402


def peak_rss(proc: subprocess.Popen, stop: threading.Event, out: list) -> None:
    peak = 0
    while not stop.wait(0.2):
        try:
            root = psutil.Process(proc.pid)
            total = sum(p.memory_info().rss for p in [root] + root.children(recursive=True))
        except psutil.Error:
            continue
        peak = max(peak, total)
    out.append(peak)


VARIANTS = {  # name -> environment of the search (NNI's manager and trials inherit it)
    "shipped": {"NNI_FRAMEWORK": "none", "NAS_TRIAL_ENTRY": "light"},
    "NNI's trial entry": {"NNI_FRAMEWORK": "none", "NAS_TRIAL_ENTRY": "nni"},
    "NNI's trial entry, NNI_FRAMEWORK=pytorch": {"NNI_FRAMEWORK": "pytorch", "NAS_TRIAL_ENTRY": "nni"},
}


def run_search(workdir: Path, name: str, env_vars: dict, trials: int, port: int, extra: list | None = None) -> dict:
    from nas import nni_boundary
    from nas.results.store import read_trials

    env = dict(os.environ, PYTHONUNBUFFERED="1", **env_vars)
    exp_id = f"bench-{len(list((workdir / 'searches').glob('bench-*')))}"
    cmd = [sys.executable, "-m", "nas", "search", "--schedule", "flat", "--id", exp_id, "--results", str(workdir),
           "--trials", str(trials), "--epochs", "1", "--train-subset", "5000", "--set", "val_size=1000",
           "--max-params", "20000", "--port", str(port), "--export-dir", str(workdir / "exports"),
           "--concurrency", "1", *(extra or [])]
    stop, peak = threading.Event(), []
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    watcher = threading.Thread(target=peak_rss, args=(proc, stop, peak))
    watcher.start()
    output = proc.communicate()[0]
    wall = time.time() - t0
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"search failed ({name}):\n{output}")
    events = {}
    for tid, event, ts in nni_boundary.trial_events(workdir / "searches", exp_id):
        events.setdefault(tid, {}).setdefault(event, ts / 1000)
    final_at = {m.trial_id: m.timestamp / 1000 for m in nni_boundary.metrics(workdir / "searches", exp_id)
                if m.kind == "FINAL"}
    rows = []
    for t in read_trials(workdir / "searches", exp_id):
        if t.status != "SUCCEEDED":
            continue
        ev, f = events[t.id], t.final
        submitted = min(ev.values())
        rows.append(dict(start=f["first_step_at"] - submitted, startup=f["startup_s"],
                         # NNI's own entry leaves no mark between the imports and the hand-over
                         imports=f.get("imports_s"), handover=f["evaluator_in_s"] - f["imports_s"]
                         if "imports_s" in f else None, to_evaluator=f["evaluator_in_s"],
                         in_evaluator=f["startup_s"] - f["evaluator_in_s"],
                         train=f["last_step_at"] - f["first_step_at"],
                         end_metric=final_at[t.id] - f["last_step_at"],
                         end_eval=f["reported_at"] - f["last_step_at"] if "reported_at" in f else None,
                         end_nni=final_at[t.id] - f["reported_at"] if "reported_at" in f else None,
                         end_status=ev["SUCCEEDED"] - f["last_step_at"]))
    return dict(rows=rows, wall=wall, peak=peak[0] if peak else 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--machines", help="a --machines file: also run the shipped variant through SSH")
    args = ap.parse_args()
    load = os.getloadavg()[0]  # before the searches add their own
    cores = len(os.sched_getaffinity(0))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, env_vars) in enumerate(VARIANTS.items()):
            results[name] = run_search(Path(tmp), name, env_vars, args.trials, 8700 + i)
        if args.machines:
            results["shipped, remote (SSH)"] = run_search(Path(tmp), "remote", VARIANTS["shipped"], args.trials, 8699,
                                                          ["--machines", str(Path(args.machines).resolve())])
    def med(rows, key, digits=1):
        values = [r[key] for r in rows if r[key] is not None]
        return f"{statistics.median(values):.{digits}f} s" if values else "-"

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    lines = [f"## {datetime.date.today()} — trial overhead, {platform.machine()} ({cpu}), {cores} cores, "
             f"load average before: {load:.1f}",
             "", f"`python bench/trial_overhead.py --trials {args.trials}`: one trial at a time, each 1 epoch of "
                 "5,000 images; medians over the trials.", "",
             "| trials start | NNI submit -> first step | process start -> first step | of which: imports | "
             "NNI hands over the model | (imports + hand-over) | evaluator -> first step | training | "
             "last step -> result recorded | of which: last evaluation | NNI records it | last step -> SUCCEEDED | "
             "trials per CPU-hour | peak memory |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        rows = r["rows"]
        lines.append(f"| {name} | {med(rows, 'start')} | {med(rows, 'startup')} | {med(rows, 'imports')} | "
                     f"{med(rows, 'handover')} | {med(rows, 'to_evaluator')} | {med(rows, 'in_evaluator')} | "
                     f"{med(rows, 'train')} | {med(rows, 'end_metric', 2)} | {med(rows, 'end_eval', 2)} | "
                     f"{med(rows, 'end_nni', 2)} | {med(rows, 'end_status')} | "
                     f"{len(rows) / (r['wall'] * cores / 3600):.0f} | {r['peak'] / 2**20:,.0f} MiB |")
    publish(lines)


if __name__ == "__main__":
    main()
