"""NNI's records of a search, read without NNI (report, export, re-rank and bench work on a machine
without it): its SQLite database (`<id>/db/nni.sqlite`), its experiment log, and the files this tool
keeps beside them. One writer: `mark_interrupted`.

- `read_trials` and `Trial`: every trial, with the sample it really trained (`check_samples`: NNI
  3.0's local training service can swap two trials' parameters).
- `compact`: what a finished search's trial folders hold that the database lacks, in one file.
- `mark_interrupted`: NNI re-queues a trial running at a stop as a job the NAS engine never hears of.
- `trial_events`, `metrics`, `experiment_started_ms`, `has_database`: NNI's rows as they are, with
  their times (the report's busy hours, bench/trial_overhead.py, bench/search_to_target.py).
- `scores_heard`: the scores evolution logged as heard (experiment.log).
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from nas.atomic import write_text

SAMPLE_FILE = "sample.json"    # a trial's own record of the sample it trained (see `check_samples`)
COMPACT_FILE = "trials.json"   # a finished search's trial samples and reasons, so its trial folders can go
FINISHED = ("SUCCEEDED", "FAILED")
ENDED = FINISHED + ("USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
INTERRUPTED_MESSAGE = "interrupted: the search stopped while this trial ran; a new trial replaces it"


def _db(folder: Path, exp_id: str) -> Path:
    return Path(folder).resolve() / exp_id / "db" / "nni.sqlite"


@dataclass
class Trial:
    """One trial as NNI recorded it."""
    id: str
    status: str
    sample: dict
    final: dict = field(default_factory=dict)          # the final result reported by the trial
    intermediates: list = field(default_factory=list)  # one dict per epoch
    message: str = ""
    log_dir: str = ""
    sample_from: str = "nni"  # nni (NNI's record) | trial (the trial's own sample.json) | repaired | unknown
    stderr_reason: str = ""   # a compacted search's last exception line

    @property
    def val_acc(self) -> float | None:
        return self.final.get("default")

    @property
    def reason(self) -> str:
        """Why a trial failed: NNI's message, else the exception line at the end of its stderr."""
        if self.message or self.stderr_reason or not self.log_dir:
            return self.message or self.stderr_reason
        try:
            lines = (Path(self.log_dir) / "trial.stderr").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        exception_lines = [l for l in lines if l.strip() and not l.startswith((" ", "Traceback"))]
        return exception_lines[-1][:300] if exception_lines else ""


class NoDatabase(FileNotFoundError):
    """The experiment has no NNI database (yet)."""


def _metric(raw: str) -> dict:
    value = json.loads(raw)
    value = json.loads(value) if isinstance(value, str) else value  # NNI stores it JSON-in-JSON
    return value if isinstance(value, dict) else {"default": value}


def read_trials(folder: str | os.PathLike, exp_id: str) -> list[Trial]:
    """Every trial NNI recorded for the experiment, in submission order, with the sample each trial
    really trained (see `check_samples`)."""
    db = _db(Path(folder), exp_id)
    if not db.exists():
        raise NoDatabase(f"no NNI database for experiment {exp_id!r} at {db}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        trials: dict[str, Trial] = {}
        for tid, event, data, message, log_dir in con.execute(
                "SELECT trialJobId, event, data, message, logPath FROM TrialJobEvent ORDER BY timestamp"):
            t = trials.setdefault(tid, Trial(tid, event, {}))
            t.status = event
            t.message = message or t.message
            t.log_dir = log_dir or t.log_dir
            if data and not t.sample:
                try:
                    t.sample = json.loads(data)["parameters"].get("sample", {})
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass
        for tid, kind, data in con.execute("SELECT trialJobId, type, data FROM MetricData ORDER BY timestamp"):
            if tid in trials:
                if kind == "FINAL":
                    trials[tid].final = _metric(data)
                else:
                    trials[tid].intermediates.append(_metric(data))
    finally:
        con.close()
    compact_path = db.parent.parent / COMPACT_FILE
    compacted = json.loads(compact_path.read_text()) if compact_path.exists() else {}
    out = list(trials.values())
    for t in out:
        own = _own_sample(db.parent.parent, t)
        if own is not None:
            try:
                t.sample, t.sample_from = json.loads(own.read_text()), "trial"
            except (OSError, ValueError):
                pass
        elif t.id in compacted:
            kept = compacted[t.id]
            if kept.get("sample") is not None:
                t.sample, t.sample_from = kept["sample"], "trial"
            t.stderr_reason = kept.get("reason", "")
    check_samples(out)
    return out


def _own_sample(exp_folder: Path, t: Trial) -> Path | None:
    """The trial's sample.json: where NNI logged the trial, else in this experiment's own trial
    folder (a search copied from another machine), else None."""
    for own in ([Path(t.log_dir) / SAMPLE_FILE] if t.log_dir else []) + [
            exp_folder / "environments" / "local-env" / "trials" / t.id / SAMPLE_FILE]:
        if own.exists():
            return own
    return None


def compact(folder: Path, exp_id: str) -> Path:
    """Keep what a finished search's trial folders hold that the database lacks (each trial's own
    sample, a failed trial's exception line) in one file, `<id>/trials.json`, so the trial folders
    (logs, hundreds of files) need not be kept. `read_trials` reads it where the folders are gone."""

    path = Path(folder).resolve() / exp_id / COMPACT_FILE
    kept = json.loads(path.read_text()) if path.exists() else {}
    for t in read_trials(folder, exp_id):  # a trial's own sample is what read_trials just loaded
        entry = {"sample": t.sample if t.sample_from == "trial" else None,
                 "reason": t.reason if t.status == "FAILED" else ""}
        if entry["sample"] is not None or entry["reason"]:
            kept[t.id] = entry
    write_text(path, json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return path


def _param_count(sample: dict, final: dict) -> int | None:
    """The parameters of the sample's network, built for the input the trial reported (MNIST's when
    it reported none)."""
    from search_spaces import choices  # here: the space imports torch
    from search_spaces.blocks import build_network

    try:
        net = build_network(choices.canonical(sample), tuple(final.get("input", (1, 28, 28))), final.get("classes", 10))
        return sum(p.numel() for p in net.parameters())
    except (KeyError, ValueError):
        return None


def check_samples(trials: list[Trial]) -> None:
    """NNI 3.0's local training service caches a trial's parameters when it creates the trial and
    gives them to whichever trial asks first: two trials created in the same millisecond can train
    each other's sample while the database records the other (trials now read their own:
    take_own_parameters; searches from before remain). A trial's own sample.json wins; for
    older trials the reported parameter count is compared with the recorded sample's, a swapped pair
    is undone, and an unexplained mismatch is marked unknown. Proved by test_export.py."""
    suspects = [t for t in trials if t.sample_from == "nni" and t.sample and "params" in t.final]
    counts = {t.id: _param_count(t.sample, t.final) for t in suspects}
    wrong = [t for t in suspects if counts[t.id] != t.final["params"]]
    recorded = {t.id: dict(t.sample) for t in wrong}
    for t in wrong:
        partners = [o for o in wrong if o is not t and counts[o.id] == t.final["params"]]
        if len(partners) == 1:
            t.sample, t.sample_from = recorded[partners[0].id], "repaired"
        else:
            t.sample, t.sample_from = {}, "unknown"


def mark_interrupted(folder: Path, exp_id: str, trial_ids: list[str], trials: int | None) -> int:
    """NNI 3.0 re-queues a trial that was running at a stop as ADD_RESUMED, a job the NAS engine never
    hears back from. Write USER_CANCELED for each (with the reason) and set the trial limit to
    `trials` plus every trial ever interrupted (None: no limit, a multi-fidelity search ends with
    its schedule), in one transaction; returns that count.
    Proved by test_e2e.py::test_search_killed_at_random_moments_resumes_to_its_trial_count."""
    con = sqlite3.connect(_db(folder, exp_id))
    try:
        with con:
            now = int(time.time() * 1000)
            for tid in trial_ids:
                con.execute("INSERT INTO TrialJobEvent (timestamp, trialJobId, event, data, logPath, sequenceId, "
                            "message, environmentId) SELECT ?, trialJobId, 'USER_CANCELED', NULL, logPath, sequenceId, "
                            "?, environmentId FROM TrialJobEvent WHERE trialJobId = ? ORDER BY timestamp LIMIT 1",
                            (now, INTERRUPTED_MESSAGE, tid))
            interrupted = con.execute("SELECT COUNT(DISTINCT trialJobId) FROM TrialJobEvent WHERE message = ?",
                                      (INTERRUPTED_MESSAGE,)).fetchone()[0]
            row = con.execute("SELECT params, id, execDuration, startTime, endTime, logDir, nextSequenceId, revision "
                              "FROM ExperimentProfile ORDER BY revision DESC LIMIT 1").fetchone()
            params = json.loads(row[0])
            if trials is not None and params.get("maxTrialNumber") != trials + interrupted:
                params["maxTrialNumber"] = trials + interrupted
                con.execute("INSERT INTO ExperimentProfile VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (json.dumps(params), *row[1:7], row[7] + 1))
    finally:
        con.close()
    return interrupted


def trial_events(folder: Path, exp_id: str) -> list[tuple[str, str, int]]:
    """(trial id, event, ms timestamp) of every trial event, in time order; [] without a database."""
    db = _db(folder, exp_id)
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT trialJobId, event, timestamp FROM TrialJobEvent ORDER BY timestamp").fetchall()
    finally:
        con.close()


def has_database(folder: str | os.PathLike, exp_id: str) -> bool:
    """Whether NNI has created the experiment's database (yet)."""
    return _db(Path(folder), exp_id).exists()


def experiment_started_ms(folder: str | os.PathLike, exp_id: str) -> int:
    """When NNI started the experiment (ms): the earliest start time of its profile's revisions."""
    con = sqlite3.connect(f"file:{_db(Path(folder), exp_id)}?mode=ro", uri=True)
    try:
        return min(r[0] for r in con.execute("SELECT startTime FROM ExperimentProfile"))
    finally:
        con.close()


@dataclass(frozen=True)
class Metric:
    """One result a trial reported, as NNI recorded it."""
    timestamp: int   # ms, NNI's clock
    trial_id: str
    kind: str        # FINAL, or PERIODICAL (an intermediate result)
    value: dict      # the result; a bare number as {"default": number}


def metrics(folder: str | os.PathLike, exp_id: str) -> list[Metric]:
    """Every result NNI recorded, in time order; [] without a database."""
    db = _db(Path(folder), exp_id)
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT timestamp, trialJobId, type, data FROM MetricData ORDER BY timestamp").fetchall()
    finally:
        con.close()
    return [Metric(ts, tid, kind, _metric(data)) for ts, tid, kind, data in rows]


def scores_heard(folder: Path, exp_id: str) -> list[float]:
    """The scores NNI's evolution strategy logged as heard ("[Metric] X Sample" in experiment.log);
    TPE and random log none. Proved by test_e2e.py::test_evolution_search_runs_to_the_end (the log's format)."""
    log = Path(folder) / exp_id / "log" / "experiment.log"
    return [float(m) for m in re.findall(r"\[Metric\] ([0-9.]+) Sample", log.read_text())] if log.exists() else []
