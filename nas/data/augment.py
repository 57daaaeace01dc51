"""Batch augmentation for small images: a small random rotation and translation per image, in one
affine-grid call on the whole batch (no per-sample Python).

The randomness comes from an explicit `torch.Generator`, so a seeded run augments identically.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nas.data.datasets import MEAN, STD


def random_affine(x: torch.Tensor, gen: torch.Generator, max_degrees: float = 7.0,
                  max_shift: float = 2.0, background: float | torch.Tensor = -MEAN / STD) -> torch.Tensor:
    """Rotate each image by U(-max_degrees, max_degrees) and shift it by U(-max_shift, max_shift)
    pixels in each direction. x: (N, C, H, W) float, already normalised; the area uncovered by the
    transform is filled with `background`, the value of a blank (zero-intensity) pixel of the
    normalised data (data.Input.blank; MNIST's by default)."""
    n, _, h, w = x.shape
    u = torch.rand(n, 3, generator=gen, device="cpu").to(x.device) * 2 - 1  # U(-1, 1)
    angle = u[:, 0] * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid works in normalised coordinates where the image spans [-1, 1]: 1 px = 2 / size
    tx, ty = u[:, 1] * max_shift * 2 / w, u[:, 2] * max_shift * 2 / h
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + background
