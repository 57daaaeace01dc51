"""The labels of the MNIST search space and what can be done with an architecture dict without NNI:
its canonical form, its identity, completing and checking it, pinning labels.

`search_spaces.mnist` builds NNI's `ModelSpace` from `CHOICES`; everything else here is plain
Python, so training, exporting and re-loading an architecture (`nas train`, a GPU machine without
NNI) never imports NNI. To change what is searched, edit `CHOICES`; `blocks.py` says what each
label means.
"""
from __future__ import annotations

import json
import re

from search_spaces.blocks import HEADS, MAX_DEPTH

WIDTHS = [4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 64]  # output channels of a 3x3 conv (48, 64: for
                                                         # separable convs, added with the sep labels)
TRANS_WIDTHS = [4, 6, 8, 10, 12, 16]            # output channels of a transition's 1x1 conv

CHOICES: dict[str, list] = {
    "depth1": [1, 2, 3], "pad1": [0, 1],
    **{f"c1_{i}": WIDTHS for i in range(MAX_DEPTH[1])},
    "trans1": TRANS_WIDTHS,
    "depth2": [1, 2, 3, 4], "pad2": [0, 1],
    **{f"c2_{i}": WIDTHS for i in range(MAX_DEPTH[2])},
    "depth3": [0, 1, 2], "trans2": TRANS_WIDTHS,
    **{f"c3_{i}": WIDTHS for i in range(MAX_DEPTH[3])},
    "bn": [True, False],
    "dropout": [0.0, 0.02, 0.05, 0.1],
    "head": list(HEADS),
    # depthwise-separable 3x3 convs in a stage (blocks.py); added after the first searches, so their
    # first choice (False) is the network every earlier architecture and search had
    "sep1": [False, True], "sep2": [False, True], "sep3": [False, True],
}
ADDED_LATER = ("sep1", "sep2", "sep3")  # labels that searches recorded before them did not have
# The space every search explored before nas.json recorded its choices (before the sep labels and
# the widths 48 and 64): `nas resume` of such a search rebuilds this space, since NNI's evolution
# refuses a parent sample that lacks a label, and a resumed search should not explore a new space.
LEGACY_CHOICES: dict[str, list] = {
    k: [w for w in v if w not in (48, 64)] if re.fullmatch(r"c\d_\d", k) else v
    for k, v in CHOICES.items() if k not in ADDED_LATER}


def used_labels(arch: dict) -> list[str]:
    """The labels that change the network: widths beyond a stage's depth, trans2 without a third
    stage, and a sep label that is off or has no conv to separate are sampled by NNI but ignored
    by `build_network`."""
    unused = {f"c{s}_{i}" for s in (1, 2, 3) for i in range(arch[f"depth{s}"], MAX_DEPTH[s])}
    if arch["depth3"] == 0:
        unused.add("trans2")
    # a sep label matters only when on, and for a stage with a conv it can separate; off, the network
    # is the one of an architecture without the label, and has the same key
    applies = {"sep1": arch["depth1"] >= 2, "sep2": True, "sep3": arch["depth3"] > 0}
    unused.update(k for k in ADDED_LATER if not (arch.get(k, False) and applies[k]))
    return [k for k in CHOICES if k not in unused]


def canonical(arch: dict) -> dict:
    """The architecture with only the labels that matter, in `CHOICES` order (for JSON and dedup)."""
    return {k: arch[k] for k in used_labels(arch)}


def network_key(arch: dict) -> str:
    """What identifies an architecture's network: its canonical form as JSON. Samples that differ
    only in labels the network ignores have the same key (Replay, export and report dedup on it)."""
    return json.dumps(canonical(arch), sort_keys=True, default=str)


def complete(arch: dict) -> dict:
    """Fill the ignored labels of a canonical architecture with the first choice, so NNI can freeze it.
    Raises ValueError naming unknown labels or values outside the space."""
    unknown = sorted(set(arch) - set(CHOICES))
    if unknown:
        raise ValueError(f"unknown architecture keys {unknown}; valid keys: {', '.join(CHOICES)}")
    full = {k: arch.get(k, values[0]) for k, values in CHOICES.items()}
    for k in used_labels(full):
        if k not in arch:
            raise ValueError(f"architecture is missing {k!r}")
        if full[k] not in CHOICES[k]:
            raise ValueError(f"{k}={full[k]!r} is not in the space; choices: {CHOICES[k]}")
    return full


def _same(text: str, value) -> bool:
    """Does command-line `text` name the choice `value` (true/false, 0.1 == 0.10, exact strings)?"""
    if isinstance(value, bool):
        return text.lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(text) == value
        except ValueError:
            return False
    return text == value


def parse_fixed(text: str) -> dict:
    """'bn=true,head=1x1_gap' -> {'bn': True, 'head': '1x1_gap'}: labels pinned to one value.
    Raises ValueError naming an unknown label or a value that is not one of the label's choices."""
    fixed: dict = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, sep, raw = item.partition("=")
        label, raw = label.strip(), raw.strip()
        if not sep or not raw:
            raise ValueError(f"fix expects label=value, got {item!r}")
        if label not in CHOICES:
            raise ValueError(f"cannot fix unknown label {label!r}; labels: {', '.join(CHOICES)}")
        value = next((v for v in CHOICES[label] if _same(raw, v)), None)
        if value is None:
            raise ValueError(f"{label}={raw} is not in the space; choices: {', '.join(map(str, CHOICES[label]))}")
        fixed[label] = value
    return fixed


def smallest_arch(fixed: dict | None = None) -> dict:
    """The architecture with the fewest parameters (given the `fixed` labels): parameters only grow
    with depth, width, BN, a bigger head kernel and full (not separable) convs, so the smallest
    choice of each gives the minimum."""
    arch = {k: min(v) if k not in ("bn", "head") else v[0] for k, v in CHOICES.items()}
    arch.update(bn=False, head="gap_1x1")
    arch.update({k: True for k in ADDED_LATER})  # a separable conv has fewer weights than a full one
    arch.update(fixed or {})
    return arch
