"""The budget gate: counts agree with PyTorch's, over-budget candidates are rejected."""
from __future__ import annotations

import random

import pytest
from torch import nn

from nas.budget import Budget, Gate, count
from nas.config import ConfigError
from nas.footprint import Footprint
from nas.engine.experiment import check_budget_reachable
from search_spaces import mnist
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network


def models():
    rng = random.Random(1)
    yield from (build_network(b["arch"]) for b in BASELINES.values())
    built = 0
    while built < 5:  # random samples whose networks take 28x28 images (a pooling stem may leave too little)
        try:
            net = build_network({k: rng.choice(v) for k, v in mnist.CHOICES.items()})
        except ValueError:
            continue
        built += 1
        yield net
    yield nn.Sequential(nn.Conv2d(1, 4, 3, bias=True), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))


@pytest.mark.parametrize("model", list(models()))
def test_fvcore_params_equal_numel(model):
    params, flops = count(model)
    assert params == sum(p.numel() for p in model.parameters())
    assert flops > 0


def test_flops_of_a_known_model():
    # conv 1->8 3x3 valid on 28x28: 26*26*8*9 multiply-adds; gap + 1x1 conv 8->10: 80
    net = build_network(dict(mnist.smallest_arch(), c1_0=8, depth1=1, trans1=4, c2_0=4))
    params, flops = count(nn.Sequential(nn.Conv2d(1, 8, 3, bias=False)))
    assert (params, flops) == (72, 26 * 26 * 8 * 9)
    assert count(net)[1] > flops


class Candidate:
    """Stands in for NNI's ExecutableModelSpace: the gate only calls executable_model() and reads sample."""

    def __init__(self, arch):
        self.sample = arch
        self.model = build_network(arch)

    def executable_model(self):
        return self.model


def test_gate_rejects_over_budget_and_counts():
    gate = Gate(Budget(max_params=9000))
    assert gate(Candidate(BASELINES["exp2"]["arch"]))        # 8,712
    assert not gate(Candidate(BASELINES["exp1"]["arch"]))    # 18,752
    assert (gate.accepted, gate.rejected) == (1, 1)
    flops_gate = Gate(Budget(max_params=20000, max_flops=1000))  # a search recorded with the old --max-flops
    assert not flops_gate(Candidate(BASELINES["exp2"]["arch"])) and flops_gate.rejected_by == {"flops": 1}
    assert Budget(10).verdict(Footprint(11, 5, 5, 5, 5, 5)) == "11 parameters > budget 10"
    floor_gate = Gate(Budget(max_params=20000, min_params=9000))  # keeps a search near its budget
    assert not floor_gate(Candidate(BASELINES["exp2"]["arch"]))   # 8,712 < 9,000
    assert floor_gate(Candidate(BASELINES["exp4"]["arch"]))       # 9,504
    assert Budget(10, min_params=5).verdict(Footprint(4, 5, 5, 5, 5, 5)) == "4 parameters < floor 5"


def test_unreachable_budget_is_refused_up_front():
    with pytest.raises(ConfigError, match="no architecture of the space fits the budget"):
        check_budget_reachable(mnist, Budget(max_params=100))
    check_budget_reachable(mnist, Budget(max_params=2000))  # the smallest model fits
    # pinning labels moves the smallest model: with BN and wide first convs 2,000 is out of reach
    with pytest.raises(ConfigError, match="with {'bn': True, 'depth1': 2"):
        check_budget_reachable(mnist, Budget(max_params=2000), {"bn": True, "depth1": 2, "c1_0": 32, "c1_1": 32, "sep1": False})
