"""`Replay`, the strategy chain's last middleware: a candidate whose network already has a result
is answered from that result instead of being trained again.

Results come from the trials of earlier sessions (a resumed search: its strategy restarts from its
last checkpoint and proposes the same candidates again) and from this session's (evolution's
mutation changes labels a network ignores, and would train the same network twice). Public NNI API
only (NNI's hooks: nas.nni_boundary.middleware).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from nni.nas.execution.event import ModelEventType
from nni.nas.space import ModelStatus

from nas.nni_boundary.middleware import ChainMiddleware

_log = logging.getLogger("nas.engine.replay")


def _sample_key(sample: dict) -> str:
    return json.dumps(sample, sort_keys=True, default=str)


@dataclass
class _Record:
    intermediates: list
    final: object       # the final result (a dict with "default", or a number)
    succeeded: bool


class Replay(ChainMiddleware):
    """Answers a candidate whose network already has a result, instead of training it again.

    Placed last in the strategy chain (after the budget gate). Results come from two places: the
    trials that finished in earlier sessions (resume), and those that finish in this one. A proposed
    model whose key matches a result gets that result's intermediate and final scores and its end
    status, as events, and is not submitted; everything else goes to the engine as usual.

    `key` maps a sample to what identifies its network. The default is the whole sample; the search
    passes its space's `canonical`, because a strategy (evolution's mutation, above all) changes labels
    the network ignores (the width of a conv beyond a stage's depth) and would otherwise train the same
    network again."""

    # the strategy's callbacks reach the engine too, as NNI's Filter and Deduplication do it; they
    # stay here as well, for the replayed models' events
    callbacks_reach_engine = True

    def __init__(self, finished: list, key=None, patience: int = 1000):
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

    def on_engine(self, engine) -> None:
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._remember)

    def on_cleanup(self) -> None:
        self.engine.unregister_model_event_callback(ModelEventType.TrainingEnd, self._remember)

    def _remember(self, event) -> None:
        """A trained model's scores answer any later proposal of the same network."""
        model = event.model
        if event.status == ModelStatus.Trained and model.metric is not None and model.sample:
            self.records.setdefault(self._key(model.sample),
                                    _Record(list(model.metrics.intermediates), model.metric, True))

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
