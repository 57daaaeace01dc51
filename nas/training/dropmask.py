"""Cheaper dropout masks for CPU training: the `dropout_masks="pcg64"` option of `TrainConfig`.

On these CPUs `nn.Dropout` spends most of its time drawing one Bernoulli number per element from
torch's Mersenne Twister: 30-35% of a whole training step of the searched models
(bench/profile_step.py). This draws the same kind of mask, independent per element, from numpy's
PCG64 instead, 16 random bits per element (four from each 64-bit draw), and applies it as one multiplication, which autograd
differentiates like any other.

What changes and what does not:
- The drop probability is rounded to a multiple of 1/65536 (p=0.02 becomes 0.0200043); kept units
  are scaled by 1 / (1 - that p), as nn.Dropout scales by 1 / (1 - p).
- The masks come from their own generator, seeded from the run's seed and saved in its checkpoint, so
  a run is still deterministic and resumes bitwise; it is a different random stream from torch's.
- Only training is affected: in eval mode, and with p=0, the layer passes its input through.
- The model keeps its `nn.Dropout` modules: `attach` swaps their forward for the duration of
  training only, so weights, state dicts and exported `model.py` files are the same as ever.
"""
from __future__ import annotations

import contextlib
import types

import numpy as np
import torch
from torch import nn

LEVELS = 65536  # 16 random bits per element


class MaskSource:
    """The random stream the masks come from (numpy PCG64), with a state a checkpoint can hold."""

    def __init__(self, seed: int):
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def keep(self, shape: torch.Size, p: float) -> tuple[torch.Tensor, float]:
        """(float mask of 0s and 1/(1-p') with `shape`, p') where p' is p rounded to 1/65536."""
        drop_below = round(p * LEVELS)
        n = int(np.prod(shape))
        # raw 64-bit draws cut into four 16-bit numbers: 4x fewer draws than one per element, and
        # several times faster than Generator.bytes
        bits = self.rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n].reshape(tuple(shape))
        p_eff = drop_below / LEVELS
        mask = np.multiply(bits >= drop_below, np.float32(1.0 / (1.0 - p_eff)), dtype=np.float32)
        return torch.from_numpy(mask), p_eff

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def _forward(source: MaskSource):
    def forward(self: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        mask, _ = source.keep(x.shape, self.p)
        return x * mask.to(device=x.device, dtype=x.dtype)
    return forward


@contextlib.contextmanager
def attach(model: nn.Module, source: MaskSource):
    """While active, every `nn.Dropout` of `model` draws its masks from `source`."""
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for m in drops:
        m.forward = types.MethodType(_forward(source), m)
    try:
        yield model
    finally:
        for m in drops:
            del m.forward  # back to the class's own forward
