"""Make a stopped or killed search resumable without losing or repeating trials (`nas resume`).

`prepare` runs before NNI starts again. It
  1. stops the experiment's NNI manager if it outlived its search process (a SIGKILL of `nas search`
     leaves it and its running trial behind, holding the port), and refuses if the search that owns
     it is still alive;
  2. marks every trial that was running or waiting at the stop as interrupted (USER_CANCELED): it
     never finished, so it is no result;
  3. raises the trial limit by the number of interrupted trials, so the search still ends with
     `--trials` finished trials (a multi-fidelity search has no limit: its schedule ends it);
and returns the finished trials, which `nas.engine.replay.Replay` answers from when the strategy proposes
them again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from nas import nni_boundary
from nas.errors import ExperimentError
from nas.results.store import read_trials


class RecoveryError(ExperimentError):
    """The experiment cannot be resumed as it is (e.g. its search is still running)."""


@dataclass
class Prepared:
    finished: list                # trials that finished (nni_boundary.Trial)
    interrupted_now: list[str]    # trial ids marked interrupted by this call
    stopped_manager: int | None   # pid of an orphaned NNI manager that was stopped


def stop_orphaned_manager(exp_id: str, timeout: float = 15.0) -> int | None:
    """Stop the NNI manager of `exp_id` (and its trials) if its search process is gone."""
    for proc in nni_boundary.managers(exp_id):
        try:
            parent = proc.parent()
            if parent is not None and any("python" in c for c in (parent.cmdline() or [])[:1]):
                raise RecoveryError(f"experiment {exp_id!r} is still running (search process {parent.pid}); "
                                    "stop it first (Ctrl-C), then resume")
            group = proc.children(recursive=True) + [proc]
            for p in group:
                p.terminate()
            _, alive = psutil.wait_procs(group, timeout=timeout)
            for p in alive:
                p.kill()
            psutil.wait_procs(alive, timeout=timeout)
            return proc.pid
        except psutil.NoSuchProcess:
            continue
    return None


def prepare(workdir: str | Path, exp_id: str, trials: int | None) -> Prepared:
    """Steps 1-3 of the module docstring; NNI's manager must not be running for this experiment."""
    stopped = stop_orphaned_manager(exp_id)
    all_trials = read_trials(workdir, exp_id)
    pending = [t.id for t in all_trials if t.status not in nni_boundary.ENDED]
    nni_boundary.mark_interrupted(Path(workdir), exp_id, pending, trials)
    return Prepared([t for t in all_trials if t.status in nni_boundary.FINISHED], pending, stopped)
