"""Make a stopped or killed experiment resumable without losing or repeating trials.

`nas resume` calls `prepare(workdir, id, trials)` before NNI starts again. It
  1. stops the experiment's NNI manager if it outlived its search process (a SIGKILL of `nas search`
     leaves it and its running trial behind, holding the port), and refuses if the search that owns
     it is still alive;
  2. marks every trial that was running or waiting when the search stopped as USER_CANCELED, with the
     reason, in NNI's database: it never finished, so it is not a result (NNI 3.0 would otherwise
     re-queue it as ADD_RESUMED, a job the NAS engine never hears back from);
  3. raises the experiment's trial limit by the number of such interrupted trials, so the search
     still ends with `--trials` finished trials;
and returns the finished trials. `Replay`, a strategy middleware, answers a candidate the strategy
proposes again (its checkpoint after a SIGKILL is the one written at start) from those records instead
of training it twice: the strategy sees the same results and goes on where it was.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from nni.nas.execution.event import ModelEventType
from nni.nas.space import ModelStatus
from nni.nas.strategy.middleware import Chain, StrategyMiddleware

from nas.experiment import ExperimentError
from nas.export import Trial, read_trials

_log = logging.getLogger("nas.recovery")
FINISHED = ("SUCCEEDED", "FAILED")
ENDED = FINISHED + ("USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
INTERRUPTED_MESSAGE = "interrupted: the search stopped while this trial ran; a new trial replaces it"


class RecoveryError(ExperimentError):
    """The experiment cannot be resumed as it is (e.g. its search is still running); one line."""


@dataclass
class Prepared:
    finished: list[Trial]
    interrupted_now: list[str]   # trial ids marked interrupted by this call
    interrupted_total: int       # all trials ever interrupted (they do not count towards --trials)
    max_trials: int              # the limit NNI will apply: --trials + interrupted_total
    stopped_manager: int | None  # pid of an orphaned NNI manager that was stopped


def _sample_key(sample: dict) -> str:
    return json.dumps(sample, sort_keys=True, default=str)


def _managers(exp_id: str) -> list[psutil.Process]:
    """NNI manager processes (node main.js) of this experiment id."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if any(c.endswith("main.js") for c in cmd) and "--experiment-id" in cmd:
            i = cmd.index("--experiment-id")
            if i + 1 < len(cmd) and cmd[i + 1] == exp_id:
                found.append(p)
    return found


def stop_orphaned_manager(exp_id: str, timeout: float = 15.0) -> int | None:
    """Stop the NNI manager of `exp_id` (and its trials) if its search process is gone."""
    for proc in _managers(exp_id):
        try:
            parent = proc.parent()
            owner_alive = parent is not None and any("python" in c for c in (parent.cmdline() or [])[:1])
            if owner_alive:
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


def _db(workdir, exp_id) -> Path:
    return Path(workdir).resolve() / exp_id / "db" / "nni.sqlite"


def prepare(workdir, exp_id: str, trials: int) -> Prepared:
    """Steps 1-3 of the module docstring; NNI's manager must not be running for this experiment."""
    stopped = stop_orphaned_manager(exp_id)
    all_trials = read_trials(workdir, exp_id)
    pending = [t for t in all_trials if t.status not in ENDED]
    con = sqlite3.connect(_db(workdir, exp_id))
    try:
        with con:  # one transaction: all of it or nothing
            now = int(time.time() * 1000)
            for t in pending:
                con.execute("INSERT INTO TrialJobEvent (timestamp, trialJobId, event, data, logPath, sequenceId, "
                            "message, environmentId) SELECT ?, trialJobId, 'USER_CANCELED', NULL, logPath, sequenceId, "
                            "?, environmentId FROM TrialJobEvent WHERE trialJobId = ? ORDER BY timestamp LIMIT 1",
                            (now, INTERRUPTED_MESSAGE, t.id))
            interrupted = con.execute("SELECT COUNT(DISTINCT trialJobId) FROM TrialJobEvent WHERE message = ?",
                                      (INTERRUPTED_MESSAGE,)).fetchone()[0]
            row = con.execute("SELECT params, id, execDuration, startTime, endTime, logDir, nextSequenceId, revision "
                              "FROM ExperimentProfile ORDER BY revision DESC LIMIT 1").fetchone()
            params = json.loads(row[0])
            if params.get("maxTrialNumber") != trials + interrupted:
                params["maxTrialNumber"] = trials + interrupted
                con.execute("INSERT INTO ExperimentProfile VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (json.dumps(params), *row[1:7], row[7] + 1))
    finally:
        con.close()
    finished = [t for t in all_trials if t.status in FINISHED]
    return Prepared(finished, [t.id for t in pending], interrupted, trials + interrupted, stopped)


@dataclass
class _Record:
    intermediates: list
    final: object       # the final result (a dict with "default", or a number)
    succeeded: bool


class Replay(StrategyMiddleware):
    """Answers a candidate whose network already has a result, instead of training it again.

    Placed last in the strategy chain (after the budget gate). Results come from two places: the
    trials that finished in earlier sessions (resume), and those that finish in this one. A proposed
    model whose key matches a result gets that result's intermediate and final scores and its end
    status, as events, and is not submitted; everything else goes to the engine as usual.

    `key` maps a sample to what identifies its network. The default is the whole sample; the search
    passes its space's `canonical`, because a strategy (evolution's mutation, above all) changes labels
    the network ignores (the width of a conv beyond a stage's depth) and would otherwise train the same
    network again: 4 of the first 19 trials of s8k-evolution-edge were such repeats."""

    def __init__(self, finished: list[Trial], key=None, patience: int = 1000):
        super().__init__()
        self.key = key or _sample_key
        # a strategy that only proposes networks with results (the space under the budget is used up)
        # would loop forever, since an answered candidate costs no trial: stop it after `patience`
        self.patience = patience
        self._answered_in_a_row = 0
        self.records: dict[str, _Record] = {}
        for t in finished:
            if t.sample:
                self.records.setdefault(self._key(t.sample), _Record(t.intermediates, t.final, t.status == "SUCCEEDED"))
        self.replayed = 0  # answered from an earlier session's trials
        self.repeats = 0   # answered from a trial of this session
        self._from_earlier = set(self.records)
        self._replayed_models: list = []

    def _key(self, sample: dict) -> str:
        try:
            return self.key(sample)
        except (KeyError, ValueError):  # not a sample of this space as we know it: compare it whole
            return _sample_key(sample)

    def _initialize_engine(self, engine) -> None:
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._remember)

    def _cleanup(self) -> None:
        self.engine.unregister_model_event_callback(ModelEventType.TrainingEnd, self._remember)

    def _remember(self, event) -> None:
        """A trained model's scores answer any later proposal of the same network."""
        model = event.model
        if event.status == ModelStatus.Trained and model.metric is not None and model.sample:
            self.records.setdefault(self._key(model.sample),
                                    _Record(list(model.metrics.intermediates), model.metric, True))

    # Callbacks must reach the engine too, as NNI's Filter and Deduplication do it: the base class
    # keeps them on this middleware only, so the strategy above (evolution, TPE) never heard of a
    # trained trial's metric and learnt from the gate's rejections alone (fixed 2026-11-25).
    def register_model_event_callback(self, event_type, callback) -> None:
        super().register_model_event_callback(event_type, callback)
        self.engine.register_model_event_callback(event_type, callback)

    def unregister_model_event_callback(self, event_type, callback) -> None:
        super().unregister_model_event_callback(event_type, callback)
        self.engine.unregister_model_event_callback(event_type, callback)

    def list_models(self, status=None):
        """The engine's models plus the replayed ones (strategies wait on and rank what they submitted)."""
        yield from self.engine.list_models(status)
        for model in self._replayed_models:
            if status is None or model.status == status:
                yield model

    def load_state_dict(self, state_dict: dict) -> None:
        pass  # the records come from NNI's database at every resume

    def state_dict(self) -> dict:
        return {}

    def budget_available(self) -> bool:
        if self._answered_in_a_row >= self.patience:
            _log.warning("the strategy proposed %d networks in a row that already had results; stopping it",
                         self._answered_in_a_row)
            return False
        return self.engine.budget_available()

    def submit_models(self, *models) -> None:
        new = []
        for model in models:
            key = self._key(model.sample)
            r = self.records.get(key)
            if r is None:
                new.append(model)
                self._answered_in_a_row = 0
                continue
            self._answered_in_a_row += 1
            if key in self._from_earlier:
                self.replayed += 1
            else:
                self.repeats += 1
            self._replayed_models.append(model)
            for metric in r.intermediates:
                self.dispatch_model_event(ModelEventType.IntermediateMetric, metric=metric, model=model)
            if r.final:
                self.dispatch_model_event(ModelEventType.FinalMetric, metric=r.final, model=model)
            status = ModelStatus.Trained if r.succeeded else ModelStatus.Failed
            self.dispatch_model_event(ModelEventType.TrainingEnd, status=status, model=model)
        if new:
            self.engine.submit_models(*new)


class TolerantChain(Chain):
    """NNI's `Chain`, loading a checkpoint written with fewer middlewares (experiments from before
    `Replay` joined the chain): the missing ones start from their initial state."""

    def load_state_dict(self, state_dict: dict) -> None:
        states = list(state_dict["middlewares"])
        states += [{}] * (len(self._middlewares) - len(states))
        super().load_state_dict({**state_dict, "middlewares": states})
