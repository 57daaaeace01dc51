"""The budget gate: fvcore counts the parameters and FLOPs of every candidate a strategy proposes,
and candidates over budget are rejected before they cost a trial.

FLOPs here are fvcore's count for one image of the dataset's shape (1x28x28 for MNIST), where one
multiply-add counts as one FLOP.
This module is the one place that decides "over budget".
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count
from torch import nn

_log = logging.getLogger("nas.budget")


@dataclass(frozen=True)
class Budget:
    max_params: int = 20000   # parameters (weights + biases + BatchNorm affine)
    max_flops: int = 0        # multiply-adds per image; 0 means no limit
    min_params: int = 0       # parameters; a floor that keeps a search near its budget (0: none)

    def verdict(self, params: int, flops: int) -> str | None:
        """None if within budget, else the reason (one line)."""
        if params > self.max_params:
            return f"{params:,} parameters > budget {self.max_params:,}"
        if params < self.min_params:
            return f"{params:,} parameters < floor {self.min_params:,}"
        if self.max_flops and flops > self.max_flops:
            return f"{flops:,} FLOPs > budget {self.max_flops:,}"
        return None


def flop_analysis(model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> FlopCountAnalysis:
    """fvcore's FLOP analysis of `model` (in eval mode) on one image of `shape` (C, H, W)."""
    flops = FlopCountAnalysis(model, torch.zeros(1, *shape))
    flops.unsupported_ops_warnings(False)  # relu / pooling have no multiply-adds to count
    flops.uncalled_modules_warnings(False)
    return flops


def count(model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> tuple[int, int]:
    """(parameters, FLOPs for one image of `shape`), both as fvcore counts them."""
    was_training = model.training
    model.eval()
    try:
        total = int(flop_analysis(model, shape).total())
    finally:
        model.train(was_training)
    return int(parameter_count(model)[""]), total


class Gate:
    """Filter for NNI's `Filter` middleware: True lets a candidate become a trial."""

    def __init__(self, budget: Budget, shape: tuple[int, int, int] = (1, 28, 28)):
        self.budget = budget
        self.shape = shape  # the input the candidates are built for (the space builds them so)
        self.accepted = 0
        self.rejected = 0

    def __call__(self, candidate) -> bool:
        model = candidate.executable_model()
        reason = getattr(model, "impossible", "")  # its network cannot take the dataset's images
        if not reason:
            reason = self.budget.verdict(*count(model, self.shape))
        if reason is None:
            self.accepted += 1
            return True
        self.rejected += 1
        _log.info("gate: rejected %s (%s)", candidate.sample, reason)
        return False
