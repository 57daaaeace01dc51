"""A moving average of a model's weights and BatchNorm statistics: the `ema` key of `TrainConfig`.

Why: late in a run the evaluated accuracy still moves from epoch to epoch by a few test images,
because SGD keeps stepping and BatchNorm keeps re-estimating its statistics. The average over
roughly the last `1 / (1 - decay)` steps moves less and is usually a little better (Polyak
averaging; timm's ModelEmaV2 does the same). `nas.training.loop` evaluates the average every epoch and
leaves it in the model at the end, so what is scored, exported and confirmed is one network.

The average starts at the initial weights; its decay ramps up as (1 + t) / (10 + t) after t steps
(capped at `decay`), so the first epoch's numbers are not dragged towards the initialisation.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """`model` (a deep copy, never trained) holds the average; `update(live)` after every step."""

    def __init__(self, live: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.model = copy.deepcopy(live).eval().requires_grad_(False)
        self.decay, self.steps = decay, 0
        avg, cur = self.model.state_dict(), live.state_dict()  # views of the tensors, in one order
        self._floats = [(avg[k], cur[k]) for k in avg if avg[k].is_floating_point()]
        self._counts = [(avg[k], cur[k]) for k in avg if not avg[k].is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_([a for a, _ in self._floats], [c for _, c in self._floats], 1.0 - d)
        for a, c in self._counts:  # BatchNorm's num_batches_tracked: a count, not averaged
            a.copy_(c)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])  # copies in place: the cached views stay valid
        self.steps = state["steps"]
