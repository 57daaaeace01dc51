"""The `Replay` strategy middleware (nas/engine/recovery.py), with NNI's real model-space objects and event
machinery under it; only the engine is a stand-in (a real one needs the NNI manager and trial
processes, which tests/test_e2e.py runs), so that a test can say exactly when a model "finishes"."""
from __future__ import annotations

from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution import ExecutionEngine
from nni.nas.execution.event import ModelEventType
from nni.nas.space import ModelStatus, SimplifiedModelSpace

from nas.nni_boundary import Trial
from nas.engine.replay import Replay
from search_spaces import mnist
from search_spaces.baselines import EXP3


class InstantEngine(ExecutionEngine):
    """Records what is submitted; `finish` reports a score and the end of training, as NNI's does."""

    def __init__(self):
        super().__init__()
        self.submitted = []

    def submit_models(self, *models):
        self.submitted += models

    def finish(self, model, score: float):
        self.dispatch_model_event(ModelEventType.FinalMetric, metric={"default": score, "params": 1}, model=model)
        self.dispatch_model_event(ModelEventType.TrainingEnd, status=ModelStatus.Trained, model=model)

    def list_models(self, status=None):
        return iter([m for m in self.submitted if status is None or m.status == status])

    def idle_worker_available(self):
        return True

    def budget_available(self):
        return True

    def shutdown(self):
        pass

    def load_state_dict(self, state_dict):
        pass

    def state_dict(self):
        return {}


def space():
    return SimplifiedModelSpace.from_model(mnist.MnistSpace(), FunctionalEvaluator(lambda model: None))


def heard_by_strategy(replay):
    """What a strategy registered on the middleware hears: (event type, model, metric or status)."""
    heard = []
    replay.register_model_event_callback(ModelEventType.FinalMetric,
                                         lambda e: heard.append(("final", e.model, e.metric)))
    replay.register_model_event_callback(ModelEventType.TrainingEnd,
                                         lambda e: heard.append(("end", e.model, e.status)))
    return heard


def test_the_strategy_hears_the_engine_and_a_repeated_network_is_not_trained_again():
    engine, s = InstantEngine(), space()
    replay = Replay([], key=mnist.network_key)
    replay.set_engine(engine)
    heard = heard_by_strategy(replay)
    exp3 = mnist.complete(EXP3)
    first = s.freeze(exp3)
    same_net = s.freeze({**exp3, "c1_2": 32})   # depth1 is 2: the third width is ignored
    other = s.freeze({**exp3, "c1_1": 14})

    replay.submit_models(first)
    assert engine.submitted == [first] and heard == []
    engine.finish(first, 98.5)
    # the events the engine dispatches reach the strategy above (they once stopped at this middleware)
    assert [(k, m) for k, m, _ in heard] == [("final", first), ("end", first)] and first.metric == 98.5

    heard.clear()
    replay.submit_models(same_net, other)
    assert engine.submitted == [first, other]  # the repeat was answered, not trained
    assert [(k, m) for k, m, _ in heard] == [("final", same_net), ("end", same_net)]
    assert same_net.metric == 98.5 and same_net.status == ModelStatus.Trained
    assert (replay.repeats, replay.replayed) == (1, 0)
    assert same_net in list(replay.list_models(ModelStatus.Trained))


def test_a_network_finished_before_a_resume_is_answered_from_its_record():
    engine, s = InstantEngine(), space()
    exp3 = mnist.complete(EXP3)
    done = Trial("abcde", "SUCCEEDED", {**exp3, "c2_3": 16}, final={"default": 97.25, "params": 8880},
                 intermediates=[{"default": 96.0}, {"default": 97.25}])
    replay = Replay([done], key=mnist.network_key)
    replay.set_engine(engine)
    heard = heard_by_strategy(replay)
    again = s.freeze({**exp3, "c3_0": 4, "trans2": 4})  # no third stage: both labels are ignored
    replay.submit_models(again)
    assert engine.submitted == [] and (replay.replayed, replay.repeats) == (1, 0)
    assert again.metric == 97.25 and list(again.metrics.intermediates) == [96.0, 97.25]
    assert [k for k, _, _ in heard] == ["final", "end"]


def test_without_a_key_only_identical_samples_are_repeats():
    engine, s = InstantEngine(), space()
    replay = Replay([])
    replay.set_engine(engine)
    exp3 = mnist.complete(EXP3)
    first = s.freeze(exp3)
    replay.submit_models(first)
    engine.finish(first, 98.0)
    replay.submit_models(s.freeze({**exp3, "c1_2": 32}))
    assert len(engine.submitted) == 2 and replay.repeats == 0


def test_a_strategy_that_only_repeats_networks_is_stopped():
    """An answered candidate costs no trial, so a strategy proposing nothing new would never end."""
    engine, s = InstantEngine(), space()
    replay = Replay([], key=mnist.network_key, patience=3)
    replay.set_engine(engine)
    exp3 = mnist.complete(EXP3)
    first = s.freeze(exp3)
    replay.submit_models(first)
    engine.finish(first, 98.0)
    for width in (4, 6):
        replay.submit_models(s.freeze({**exp3, "c1_2": width}))
    assert replay.budget_available()
    replay.submit_models(s.freeze({**exp3, "c1_2": 8}))
    assert not replay.budget_available()
    replay.submit_models(s.freeze({**exp3, "c1_1": 14}))  # something new resets the count
    assert replay.budget_available()
