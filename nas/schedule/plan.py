"""The budget plan: the image-epochs a schedule trains with a given number of rung-0 candidates, and
the most candidates a CPU budget affords. `nas.engine.multifidelity`'s tracker prices image-epochs
with what the search has measured."""
from __future__ import annotations

import math

from nas.schedule.rungs import Rung


def planned_image_epochs(rungs: list[Rung], candidates: int, eta: int, race_cap: int, controls: int,
                         shares: list[float | None] | None = None, fresh: int = 0) -> float:
    """Image-epochs the schedule trains with `candidates` at rung 0: each rung's share (1/eta, or
    `shares[k]`, the share measured promoting from rung k), the controls' base seeds, and the race:
    its first round takes every last-rung candidate and control (at the base seeds the paired test
    has few degrees of freedom and separates almost no one),
    each later round the leader, one rival and every control, to the cap; then `fresh` seeds of the
    pick and every control."""
    total, n = 0.0, candidates
    for k, rung in enumerate(rungs):
        total += n * rung.image_epochs()
        if k < len(rungs) - 1:
            share = shares[k] if shares and k < len(shares) else None
            n = n // eta if share is None else math.floor(n * share + 1e-9)
    full = rungs[-1].epochs * rungs[-1].images
    extra_seeds = max(0, race_cap - len(rungs[-1].seeds))
    race = (n + controls) + (2 + controls) * (extra_seeds - 1) if extra_seeds else 0
    return total + controls * len(rungs[-1].seeds) * full + race * full + fresh * (1 + controls) * full


def candidates_for(budget_s: float, seconds_per_image_epoch: float, rungs: list[Rung], eta: int,
                   race_cap: int, controls: int, shares: list[float | None] | None = None, fresh: int = 0) -> int:
    """The most rung-0 candidates whose schedule fits `budget_s` CPU-seconds, at least enough to
    bring 2 candidates to the last rung."""
    least = 2 * eta ** (len(rungs) - 1)
    n = least
    while planned_image_epochs(rungs, n + 1, eta, race_cap, controls, shares, fresh) * seconds_per_image_epoch <= budget_s:
        n += 1
    return n
