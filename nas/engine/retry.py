"""`RetryOnce`, the strategy chain's lowest middleware: a trial that ended without a word of its own
(its process killed, its worker gone) is trained once more before anyone above hears of it.

A failure the trial reported itself (an exception: its final result says `failed`) is not retried:
it would fail again. Everything above (Replay, the multi-fidelity schedule, the strategy) sees one
model: the retry's events are passed up as the original's. Public NNI API only (NNI's hooks:
nas.nni_boundary.middleware).
"""
from __future__ import annotations

import threading

from nni.nas.execution.event import ModelEventType
from nni.nas.space import ModelStatus

from nas.nni_boundary.middleware import ChainMiddleware


class RetryOnce(ChainMiddleware):
    def __init__(self, log=None, on_retry=None):
        super().__init__()
        self.log = log
        self.on_retry = on_retry  # called before a retry is submitted (a flat search raises its trial limit)
        self._origin: dict[int, object] = {}   # id(retry copy) -> the model above asked to train
        self._keep: list = []                  # every model submitted: the engine keeps weak references only,
                                               # and drops the events of a model nobody else holds (random's)
        self._retried: set[int] = set()        # ids of models already retried
        self._said_failed: set[int] = set()    # ids of models whose trial reported its own failure
        self._open: set[int] = set()           # ids of models submitted whose end has not been passed up
        self._lock = threading.Lock()
        self.retries = 0
        self.stopping = False                  # set by the search before it stops the experiment
        self.grace_s = 5.0                     # how long a failed trial's own final result may lag its end

    def on_engine(self, engine) -> None:
        for kind, fn in ((ModelEventType.IntermediateMetric, self._pass), (ModelEventType.FinalMetric, self._final),
                         (ModelEventType.TrainingEnd, self._end)):
            engine.register_model_event_callback(kind, fn)

    def on_cleanup(self) -> None:
        pass  # NNI cleans up once the strategy has submitted its last trial; trials still end after that

    def load_state_dict(self, state_dict: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def list_models(self, status=None):
        for model in self.engine.list_models(status):
            if id(model) not in self._origin:
                yield model

    def submit_models(self, *models) -> None:
        self._keep.extend(models)
        with self._lock:
            self._open.update(id(m) for m in models)
        self.engine.submit_models(*models)

    def outstanding(self) -> int:
        """How many submitted models have not ended yet, as seen from above: a model being retried, or
        waiting out its grace period, counts until its retry ends. The search waits on this, not on
        NNI's trial statistics (nni_boundary.wait_completion)."""
        with self._lock:
            return len(self._open)

    def _above(self, model):
        return self._origin.get(id(model), model)

    def _pass(self, event) -> None:
        event.prevent_default()
        self.dispatch_model_event(ModelEventType.IntermediateMetric, model=self._above(event.model), metric=event.metric)

    def _final(self, event) -> None:
        if isinstance(event.metric, dict) and event.metric.get("failed"):
            self._said_failed.add(id(event.model))
        event.prevent_default()
        self.dispatch_model_event(ModelEventType.FinalMetric, model=self._above(event.model), metric=event.metric)

    def _end(self, event) -> None:
        event.prevent_default()
        model, status = event.model, event.status
        # a killed trial process ends FAILED (on NNI's remote service USER_CANCELED, which NNI's engine
        # reads as failed too); a stop of the search cancels trials as well: `stopping` then
        if status == ModelStatus.Failed and id(model) not in self._said_failed and not self.stopping:
            # NNI can announce the end before the trial's own final result: give that a moment to
            # arrive (on this listener thread, so not by waiting here) before calling the trial silent
            threading.Timer(self.grace_s, self._decide, args=(model, status)).start()
            return
        self._decide(model, status)

    def _decide(self, model, status) -> None:
        top = self._above(model)
        silent = status == ModelStatus.Failed and id(model) not in self._said_failed and not self.stopping
        if silent and id(top) not in self._retried:
            self._retried.add(id(top))
            self.retries += 1
            copy = self.model_space.freeze(top.sample)
            copy.evaluator = top.evaluator
            self._origin[id(copy)] = top
            self._keep.append(copy)
            if self.log is not None:
                self.log("a trial ended without a result of its own (killed, or its worker lost): training it once more")
            if self.on_retry is not None:
                self.on_retry(self.retries)
            self.engine.submit_models(copy)
            return
        with self._lock:
            self._open.discard(id(top))
        self.dispatch_model_event(ModelEventType.TrainingEnd, model=top, status=status)
