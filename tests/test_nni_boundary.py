"""The NNI boundary: it refuses an NNI of another version in one line, and reads a search whose
trial folders are gone from its compacted trials.json."""
from __future__ import annotations

import importlib.metadata
import json
import shutil

import pytest

from nas import nni_boundary


def test_another_nni_version_stops_with_one_line(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "2.10")
    with pytest.raises(nni_boundary.NNIVersionError, match="written for NNI 3.0, found 2.10") as e:
        nni_boundary._check_version()
    assert "\n" not in str(e.value)


def test_a_compacted_search_keeps_its_trials_samples(tmp_path):
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "results" / "searches" / "s8k-evolution-sep"
    shutil.copytree(src, tmp_path / "s8k-evolution-sep")
    kept = json.loads((src / "trials.json").read_text())
    trials = {t.id: t for t in nni_boundary.read_trials(tmp_path, "s8k-evolution-sep")}
    assert kept and all(trials[tid].sample == v["sample"] and trials[tid].sample_from == "trial"
                        for tid, v in kept.items())
    (tmp_path / "s8k-evolution-sep" / "trials.json").unlink()  # without it: NNI's record, checked by counts
    assert any(t.sample_from != "trial" for t in nni_boundary.read_trials(tmp_path, "s8k-evolution-sep"))


def test_a_chain_loads_a_checkpoint_written_with_fewer_middlewares():
    """Searches recorded before Replay joined the chain resume: the missing middleware starts fresh,
    where NNI's own Chain fails on the shorter state."""
    from nni.nas import strategy
    from nni.nas.strategy.middleware import Chain, Filter

    from nas.budget import Budget, Gate
    from nas.engine.replay import Replay

    def parts():
        return [strategy.Random(dedup=True, seed=0), Filter(Gate(Budget(8000, 0, 0)), metric_for_invalid=0.0),
                Replay([])]

    old = Chain(*parts()[:2]).state_dict()
    nni_boundary.tolerant_chain(*parts()).load_state_dict(old)
    with pytest.raises(IndexError):
        Chain(*parts()).load_state_dict(old)


def test_warm_evolution_seeds_first_and_resumes():
    """Evolution's population opens with the seeds, in order, then random samples; a strategy resumed
    from its state proposes no seed again; a seed is a parent mutation can breed from (every label)."""
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.space import SimplifiedModelSpace
    from nni.nas.strategy.evolution import Individual as Ind

    from nas.engine.experiment import warm_start_samples
    from search_spaces import mnist
    from search_spaces.choices import network_key

    space = SimplifiedModelSpace.from_model(mnist.MnistSpace(), FunctionalEvaluator(lambda model: None))
    seeds = warm_start_samples("era7918,r3cpl8k")

    def strategy():
        s = nni_boundary.warm_evolution(seeds, population_size=4, sample_size=2, mutation_prob=0.2, dedup=True, seed=0)
        s._model_space = space  # what NNI's `initialize` sets; no engine is needed to propose
        return s

    first = strategy()
    proposed = [first.random().sample for _ in range(3)]
    assert [network_key(p) for p in proposed[:2]] == [network_key(s) for s in seeds]
    assert network_key(proposed[2]) not in {network_key(s) for s in seeds}
    again = strategy()
    again.load_state_dict(first.state_dict())
    assert network_key(again.random().sample) not in {network_key(s) for s in seeds}
    again._population.extend([Ind(proposed[0], 99.4), Ind(proposed[1], 99.3)])
    child = again.new_individual().sample
    assert set(child) == set(proposed[0])
