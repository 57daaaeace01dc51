"""The budget gate: every candidate a strategy proposes is measured (nas/footprint.py: parameters,
MACs, int8 model bytes, peak int8 activation RAM) and a candidate over any bound is rejected before
it costs a trial. This module is the one place that decides "over budget" and how a broken bound
is worded.

`count` keeps fvcore's total FLOPs (convs, the linear layer and two per BatchNorm element) for the
tables that have always listed them, and for the one bound on them a search recorded before
`max_macs` existed may carry (`Budget.max_flops`).
"""
from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count
from torch import nn

from nas.footprint import BOUNDS as FIGURES, Footprint, footprint

_log = logging.getLogger("nas.budget")

_BYTES_NAMES = {"flash": "int8 model", "ram": "peak RAM"}  # how a line names a figure counted in bytes
# Each bound: (Budget's field, Footprint's figure, how a line names it, the unit after the number)
BOUNDS = tuple((f"max_{figure}", figure, _BYTES_NAMES[figure] if unit == "B" else unit, " B" if unit == "B" else "")
               for figure, unit in FIGURES.items())


@dataclass(frozen=True)
class Budget:
    max_params: int = 20000   # parameters (weights + biases + BatchNorm affine)
    max_macs: int = 0         # multiply-accumulates of the convs for one image; 0: no limit
    max_flash: int = 0        # bytes of the int8 model's constant tensors; 0: no limit
    max_ram: int = 0          # bytes of peak int8 activation RAM, the input left out; 0: no limit
    min_params: int = 0       # parameters; a floor that keeps a search near its budget (0: none)
    max_flops: int = 0        # fvcore's total FLOPs: only searches recorded with the old --max-flops (0: none)

    @classmethod
    def of(cls, search) -> "Budget":
        """The budget of a nas.config.SearchConfig."""
        return cls(search.max_params, search.max_macs, search.max_flash, search.max_ram, search.min_params,
                   search.max_flops)

    @property
    def device_bounds(self) -> bool:
        """Whether a verdict needs the figures beyond the parameter count."""
        return bool(self.max_macs or self.max_flash or self.max_ram)

    def broken(self, fp: Footprint, flops: int = 0) -> list[tuple[str, str]]:
        """(figure, line) of each bound `fp` breaks, in BOUNDS' order; `flops`: fvcore's total,
        read only under a recorded FLOP bound."""
        out = []
        for field, figure, name, unit in BOUNDS:
            limit, value = getattr(self, field), getattr(fp, figure)
            if limit and value > limit:
                out.append((figure, f"{value:,}{unit} {name} > budget {limit:,}{unit}"))
        if fp.params < self.min_params:
            out.append(("min_params", f"{fp.params:,} parameters < floor {self.min_params:,}"))
        if self.max_flops and flops > self.max_flops:
            out.append(("flops", f"{flops:,} FLOPs (fvcore's total) > budget {self.max_flops:,}"))
        return out

    def verdict(self, fp: Footprint, flops: int = 0) -> str | None:
        """None if `fp` is within every bound, else the bounds it breaks, one line, e.g.
        "3,120 B peak RAM > budget 2,500 B"."""
        return "; ".join(line for _, line in self.broken(fp, flops)) or None

    def check(self, model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> list[tuple[str, str]]:
        """The bounds `model` breaks on images of `shape` (C, H, W), measured as the gate measures."""
        with one_thread():
            flops = count(model, shape)[1] if self.max_flops else 0
            return self.broken(footprint(model, shape), flops)

    def describe(self) -> str:
        """The bounds in words, e.g. "8,000 parameters / 2,500 B peak RAM, at least 6,000 parameters"."""
        parts = [f"{getattr(self, field):,}{unit} {name}" for field, _, name, unit in BOUNDS if getattr(self, field)]
        parts += [f"{self.max_flops:,} FLOPs (fvcore's total)"] if self.max_flops else []
        return " / ".join(parts) + (f", at least {self.min_params:,} parameters" if self.min_params else "")


@contextmanager
def one_thread():
    """Measure on one thread: the measurement runs the network on one image, and on a machine whose
    cores the trials hold, threads waiting for each other made it ten times slower (1.2 s against 0.13 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def flop_analysis(model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> FlopCountAnalysis:
    """fvcore's FLOP analysis of `model` (in eval mode) on one image of `shape` (C, H, W)."""
    flops = FlopCountAnalysis(model, torch.zeros(1, *shape))
    flops.unsupported_ops_warnings(False)  # relu / pooling have no multiply-adds to count
    flops.uncalled_modules_warnings(False)
    return flops


def count(model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> tuple[int, int]:
    """(parameters, fvcore's total FLOPs for one image of `shape`)."""
    was_training = model.training
    model.eval()
    try:
        total = int(flop_analysis(model, shape).total())
    finally:
        model.train(was_training)
    return int(parameter_count(model)[""]), total


class Gate:
    """Filter for NNI's `Filter` middleware: True lets a candidate become a trial. `rejected_by`
    counts the rejections by the figure whose bound they broke (one candidate may break several)."""

    def __init__(self, budget: Budget, shape: tuple[int, int, int] = (1, 28, 28)):
        self.budget = budget
        self.shape = shape  # the input the candidates are built for (the space builds them so)
        self.accepted = 0
        self.rejected = 0
        self.rejected_by: Counter = Counter()

    def __call__(self, candidate) -> bool:
        model = candidate.executable_model()
        reason = getattr(model, "impossible", "")  # its network cannot take the dataset's images
        if reason:
            self.rejected_by["input"] += 1
        else:
            broken = self.budget.check(getattr(model, "net", model), self.shape)  # the space's network
            self.rejected_by.update(figure for figure, _ in broken)
            reason = "; ".join(line for _, line in broken)
        if not reason:
            self.accepted += 1
            return True
        self.rejected += 1
        _log.info("gate: rejected %s (%s)", candidate.sample, reason)
        return False
