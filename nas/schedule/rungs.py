"""The multi-fidelity schedule of a search, as plain data and rules (no NNI): rungs, asynchronous
successive halving (ASHA), the race at the last rung with paired seeds and the hand-made controls,
and the budget that sizes it. `nas.engine.multifidelity` runs it inside an NNI experiment; tests run it on
recorded scores.

A candidate is a network (its `network_key`); a job is one training of it: (key, rung, seed). A
candidate finishes a rung when every seed of that rung has a score; its rung score is their mean.

Promotion (Li et al., MLSys 2020): whenever a worker is free, from the highest rung down, a
candidate finished at rung k and among the best floor(n_k / eta) of the n_k finished there, not
yet promoted, goes to rung k+1; with none, a new rung-0 candidate starts. Once no new candidates
come, the same rule on the complete rungs is synchronous successive halving.

The race (F-Race style, decided before any run): at the last rung (the full schedule) every
candidate and control trains the rung's seeds. The leader is the candidate with the best mean.
Each other entrant is *separated* from it when a one-sided paired t-test over their shared seeds
says one of the two is better at level `alpha`. Entrants not separated train the next seed, the
same one for all (paired), together with the leader, until all are separated or `race_cap` seeds
are reached; then an unseparated pair is a tie. Controls always train every seed the leader trains,
so the pick is compared with each hand-made model over the same seeds.

With a cost preferred (`--prefer params|flash|ram|macs`), the pick is the cheapest candidate
non-inferior to the leader within a margin (race.non_inferior), and a candidate cheaper than the
current pick whose non-inferiority is undecided trains the next seed too, to the same cap
(nas/schedule/ledger.py states it).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from nas.facts import LATE_EPOCHS


@dataclass(frozen=True)
class Rung:
    epochs: int
    images: int                  # training images (nas.facts.FULL_IMAGES: all of the training split)
    seeds: tuple[int, ...] = (0,)
    reading: str = "val_acc last"  # how a training is scored: val_acc|val_loss, last|best; "late" at the last rung

    def image_epochs(self) -> int:
        return self.epochs * self.images * len(self.seeds)


@dataclass(frozen=True)
class Job:
    key: str          # the candidate's network key (a control's: "control:<name>")
    rung: int
    seed: int

    @property
    def control(self) -> bool:
        return self.key.startswith("control:")


def read(history: list[dict], reading: str, late_epochs: int = LATE_EPOCHS) -> float:
    """A training's score, higher is better: `late` is the mean validation accuracy of the last
    epochs (the verdicts' window); the others read accuracy or (negated) loss at the last or best epoch."""
    if reading == "late":
        return statistics.fmean(r["val_acc"] for r in history[-late_epochs:])
    metric, when = reading.split()
    values = [r[metric] for r in history]
    value = values[-1] if when == "last" else (max(values) if metric == "val_acc" else min(values))
    return value if metric == "val_acc" else -value


def fit_rungs(rungs: list[Rung], images: int, full_images: int, scale: bool) -> tuple[list[Rung], bool]:
    """(the rungs for a training split of `images` images, whether they changed). `full_images`: the
    split the rungs were written for (MNIST's). `scale` (rungs chosen for MNIST by the proxy study or
    the provisional default): on a smaller split every rung keeps its share of it, so the last rung
    is still all of it; typed rungs are the user's numbers, but a rung asking for more images than
    the split holds trains on all of it. A larger split keeps the rungs as they are."""
    if scale and images < full_images:
        fitted = [Rung(r.epochs, max(1, min(images, round(r.images * images / full_images))), r.seeds, r.reading)
                  for r in rungs]
    else:
        fitted = [Rung(r.epochs, min(r.images, images), r.seeds, r.reading) for r in rungs]
    return fitted, fitted != list(rungs)
