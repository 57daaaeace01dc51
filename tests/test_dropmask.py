"""The cheaper dropout masks (`dropout_masks="pcg64"`, nas/training/dropmask.py) compute what nn.Dropout
computes: kept units scaled by 1/(1-p), dropped ones zero, each dropped with probability p, the
same gradient rule; identity in eval mode. (Speed is in bench/, not here.)"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from nas.config import ConfigError, TrainConfig
from nas.training.dropmask import LEVELS, MaskSource, attach


def test_output_and_gradient_follow_the_mask():
    x = torch.randn(64, 8, 12, 12, requires_grad=True)
    layer = nn.Dropout(0.1).train()
    src = MaskSource(3)
    replay = copy.deepcopy(src.state())
    with attach(layer, src):
        y = layer(x)
    y.backward(torch.ones_like(y))
    check = MaskSource(0)
    check.set_state(replay)
    mask, p = check.keep(x.shape, 0.1)  # the very mask the layer drew
    assert p == round(0.1 * LEVELS) / LEVELS and abs(p - 0.1) < 1 / LEVELS
    assert mask.unique().tolist() == [0.0, pytest.approx(1 / (1 - p))]
    assert torch.allclose(y, x * mask) and torch.allclose(x.grad, mask)


def test_drop_rate_is_p():
    mask, p = MaskSource(0).keep(torch.Size([1_000_000]), 0.05)
    dropped = (mask == 0).float().mean().item()
    assert abs(dropped - p) < 4 * (p * (1 - p) / 1e6) ** 0.5  # within 4 standard errors
    assert abs(mask.mean().item() - 1) < 0.01  # the scale keeps the expected activation


def test_eval_mode_and_p0_pass_through_and_detach_restores():
    x = torch.randn(4, 3, 5, 5)
    model = nn.Sequential(nn.Dropout(0.5), nn.Dropout(0.0))
    with attach(model, MaskSource(0)):
        assert torch.equal(model.eval()(x), x)
        assert torch.equal(model[1].train()(x), x)
        assert not torch.equal(model[0].train()(x), x)
    assert "forward" not in vars(model[0]) and type(model[0]).forward is nn.Dropout.forward


def test_a_typo_in_the_option_is_an_error():
    with pytest.raises(ConfigError, match="dropout_masks='pcg' is not valid; choose one of: torch, pcg64"):
        TrainConfig(dropout_masks="pcg")
