"""The search space (named `mnist`, where it began; it builds for any dataset's input) as an NNI `ModelSpace`: every choice of `blocks.build_network`.

Each label below is one NNI categorical choice; a sample (label -> value) frozen by NNI rebuilds
the space's `__init__` with those values, which builds a plain `nn.Sequential` via `build_network`.
Widths and depths span networks from about 1k to far over 100k parameters, so the budget gate
(`nas.budget`), not the space, decides what is small enough.

The labels and their choices live in `choices.py` (no NNI import); `blocks.py` says what each
label means.
"""
from __future__ import annotations

import nni
from nni.mutable import ensure_frozen
from nni.nas.nn.pytorch import ModelSpace
from nni.nas.space import model_context

from search_spaces.blocks import build_network
# what nas.engine.experiment takes from a space module beside MnistSpace, re-exported from choices.py
from search_spaces.choices import (CHOICES, LABELS, canonical, complete, network_key, parse_fixed,  # noqa: F401
                                   sample_arch, smallest_arch)


class MnistSpace(ModelSpace):
    """Conv / BatchNorm / dropout / transition blocks with a choice of head (see `blocks.py`).
    `fixed`: labels pinned to one value (`parse_fixed`); the strategy then only searches the rest."""

    def __init__(self, fixed: dict | None = None, choices: dict[str, list] | None = None,
                 shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10):
        """`choices`: label -> values NNI searches (default: `CHOICES`, the network's labels; a search
        of the recipe too adds `RECIPE_CHOICES`); a label it lacks keeps its first value in `LABELS`
        and is no NNI choice at all. A search recorded with an older space
        resumes in that space (`nas.engine.experiment.recorded_choices`). `shape` (C, H, W) and `classes`:
        the dataset's (nas.data.datasets.Input); the space's networks are built for them."""
        super().__init__()
        self._shape, self._classes = tuple(shape), int(classes)
        self._fixed = dict(fixed or {})
        self._choices = {k: list(v) for k, v in (CHOICES if choices is None else choices).items()}
        arch = {}
        for label, values in LABELS.items():
            if label not in self._choices:
                arch[label] = values[0]
                continue
            values = [self._fixed[label]] if label in self._fixed else self._choices[label]
            arch[label] = ensure_frozen(self.add_mutable(nni.choice(label, values)))
        self.impossible = ""  # why this sample's network cannot take the input (the gate rejects it)
        try:
            self.net = build_network(arch, self._shape, self._classes)
        except ValueError as e:  # e.g. too many unpadded convs for 20x20 images
            self.net, self.impossible = None, str(e)
        self.arch = arch  # every label's value; meaningful once frozen (nas/engine/trial.py records it and
                          # trains with its recipe labels)

    def freeze(self, sample: dict) -> "MnistSpace":
        with model_context(sample):  # ensure_frozen above reads the sample from this context
            return self.__class__(self._fixed, self._choices, self._shape, self._classes)

    def forward(self, x):
        if self.net is None:  # the gate keeps such a sample from training; anything else that tries hears why
            raise ValueError(f"this network cannot take {'x'.join(map(str, self._shape))} images: {self.impossible}")
        return self.net(x)
