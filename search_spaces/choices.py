"""The labels of the MNIST search space and what can be done with an architecture dict without NNI:
its canonical form, its identity, completing and checking it, pinning labels.

`search_spaces.mnist` builds NNI's `ModelSpace` from `CHOICES` (and `RECIPE_CHOICES` when a search
explores the recipe too); everything else here is plain
Python, so training, exporting and re-loading an architecture (`nas train`, a GPU machine without
NNI) never imports NNI. To change what is searched, edit `CHOICES`; `blocks.py` says what each
label means.
"""
from __future__ import annotations

import json
import re

from search_spaces.blocks import HEADS, MAX_DEPTH, STEMS, TRANSITIONS

WIDTHS = [4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 64]  # output channels of a 3x3 conv (48, 64: for
                                                         # separable convs, added with the sep labels)
TRANS_WIDTHS = [4, 6, 8, 10, 12, 16]            # output channels of a transition's 1x1 conv

SQUEEZE_WIDTHS = [0, 4, 6, 8, 10, 12, 16]      # a 1x1 squeeze inside a stage (0: none)
HEAD_WIDTHS = [8, 12, 16, 20, 24, 32]           # the expand head's 1x1 conv
STEM_WIDTHS = [4, 6, 8, 12, 16]                 # a conv_s2 stem's output channels

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
    # Labels added after the first searches (blocks.py says what they build). The first choice of
    # each is the network every earlier architecture and search had.
    "sep1": [False, True], "sep2": [False, True], "sep3": [False, True],
    "tkind1": list(TRANSITIONS), "tkind2": list(TRANSITIONS),
    **{f"sq{s}": SQUEEZE_WIDTHS for s in (1, 2, 3)},
    **{f"sqpos{s}": list(range(1, MAX_DEPTH[s] + 1)) for s in (1, 2, 3)},
    "head_width": HEAD_WIDTHS,
    "stem": list(STEMS), "stem_width": STEM_WIDTHS,
}
# Recipe labels (`nas search --search-recipe`): a candidate is then an architecture and how it trains.
# Each scales the run's recipe (`TrainConfig`), so it composes with any --set; the first choice of
# each leaves the recipe as it is, so an architecture without them trains as before. Dropout is
# already a label of the network.
RECIPE_CHOICES: dict[str, list] = {
    "lr_x": [1.0, 0.5, 2.0, 4.0],      # peak LR x this
    "batch_x": [1.0, 0.5, 2.0],        # batch size x this (the LR is not rescaled: lr_x is its own label)
    "aug_x": [1.0, 0.0, 0.5, 1.5],     # rotation and shift ranges x this (0: no augmentation)
    "smooth": [0.0, 0.05, 0.1],        # label smoothing (0: the recipe's own)
}
LABELS: dict[str, list] = {**CHOICES, **RECIPE_CHOICES}  # every label a candidate may carry

# labels that matter only away from their first choice, and those that matter only beside one of them
SWITCHES = ("sep1", "sep2", "sep3", "tkind1", "tkind2", "sq1", "sq2", "sq3", "stem")
ADDED_LATER = SWITCHES + ("sqpos1", "sqpos2", "sqpos3", "head_width", "stem_width")
# The space every search explored before nas.json recorded its choices (before the labels above,
# the widths 48 and 64 and the expand head): `nas resume` of such a search rebuilds this space,
# since NNI's evolution refuses a parent sample that lacks a label, and a resumed search should
# not explore a new space.
LEGACY_CHOICES: dict[str, list] = {
    k: [w for w in v if w not in (48, 64)] if re.fullmatch(r"c\d_\d", k)
    else [h for h in v if h != "expand"] if k == "head" else v
    for k, v in CHOICES.items() if k not in ADDED_LATER}


def _off(arch: dict, label: str) -> bool:
    return arch.get(label, LABELS[label][0]) == LABELS[label][0]


def search_choices(recipe: bool = False) -> dict[str, list]:
    """The labels a new search explores: the network's, and with `recipe` the recipe's too."""
    return LABELS if recipe else CHOICES


def recipe_overrides(arch: dict, base: dict) -> dict:
    """The `TrainConfig` fields a candidate's recipe labels change, computed from `base` (a
    TrainConfig as a dict); {} for an architecture without them or at their first choices."""
    out: dict = {}
    if not _off(arch, "lr_x"):
        out["lr"] = base["lr"] * arch["lr_x"]
    if not _off(arch, "batch_x"):
        out["batch_size"] = max(1, round(base["batch_size"] * arch["batch_x"]))
    if not _off(arch, "aug_x"):
        if arch["aug_x"] == 0:
            out["augment"] = False
        else:
            out.update(max_degrees=base["max_degrees"] * arch["aug_x"], max_shift=base["max_shift"] * arch["aug_x"])
    if not _off(arch, "smooth"):
        out["label_smoothing"] = float(arch["smooth"])
    return out


def recipe_labels(arch: dict) -> dict:
    """The recipe labels of `arch` away from their first choice (what `canonical` keeps of them)."""
    return {k: _as_choice(k, arch[k]) for k in RECIPE_CHOICES if not _off(arch, k)}


def used_labels(arch: dict) -> list[str]:
    """The labels that change the network. Sampled by NNI but ignored by `build_network`: widths
    beyond a stage's depth, the third stage's labels without it, a transition width the transition
    does not use (mp), a squeeze position without a squeeze, the head width of another head, and a
    label added later while at its first choice or with nothing to act on."""
    unused = {f"c{s}_{i}" for s in (1, 2, 3) for i in range(arch[f"depth{s}"], MAX_DEPTH[s])}
    if arch["depth3"] == 0:
        unused.update(("trans2", "tkind2", "sq3", "sep3"))
    if arch["depth1"] < 2 and arch.get("stem", "none") != "conv_s2":
        unused.add("sep1")  # the network's first conv is never separable (blocks.build_network)
    unused.update(k for k in SWITCHES if _off(arch, k))
    unused.update(f"trans{t}" for t in (1, 2) if arch.get(f"tkind{t}") == "mp")
    unused.update(f"sqpos{s}" for s in (1, 2, 3) if f"sq{s}" in unused)
    if arch["head"] != "expand":
        unused.add("head_width")
    if arch.get("stem", "none") != "conv_s2":
        unused.add("stem_width")
    return [k for k in CHOICES if k not in unused]


def _as_choice(label: str, value):
    for c in LABELS.get(label, ()):
        if c == value and type(c) is not type(value) and not isinstance(value, bool) and not isinstance(c, bool):
            return c
    return value


def canonical(arch: dict) -> dict:
    """The architecture with only the labels that matter, in `LABELS` order (for JSON and dedup);
    a squeeze position past its stage's depth becomes the last conv's, which is what it builds."""
    # each value as its choice is written (0 -> 0.0): JSON that passed through NNI's manager
    # (JavaScript) has lost the difference, and keys must not depend on it
    out = {k: _as_choice(k, arch[k]) for k in used_labels(arch)} | recipe_labels(arch)
    for s in (1, 2, 3):
        if f"sqpos{s}" in out:
            out[f"sqpos{s}"] = min(out[f"sqpos{s}"], arch[f"depth{s}"])
    return out


def network_key(arch: dict) -> str:
    """What identifies a candidate (its network, and its recipe labels if any): its canonical form as
    JSON. Samples that differ only in labels the network ignores have the same key (Replay, export
    and report dedup on it)."""
    return json.dumps(canonical(arch), sort_keys=True, default=str)


def complete(arch: dict) -> dict:
    """Fill the ignored labels of a canonical architecture with the first choice, so NNI can freeze it.
    Raises ValueError naming unknown labels or values outside the space."""
    unknown = sorted(set(arch) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown architecture keys {unknown}; valid keys: {', '.join(LABELS)}")
    full = {k: arch.get(k, values[0]) for k, values in LABELS.items()}
    for k in used_labels(full) + list(RECIPE_CHOICES):  # an absent recipe label is the recipe as it is
        if k not in arch and k in CHOICES:
            raise ValueError(f"architecture is missing {k!r}")
        if full[k] not in LABELS[k]:
            raise ValueError(f"{k}={full[k]!r} is not in the space; choices: {LABELS[k]}")
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
        if label not in LABELS:
            raise ValueError(f"cannot fix unknown label {label!r}; labels: {', '.join(LABELS)}")
        value = next((v for v in LABELS[label] if _same(raw, v)), None)
        if value is None:
            raise ValueError(f"{label}={raw} is not in the space; choices: {', '.join(map(str, LABELS[label]))}")
        fixed[label] = value
    return fixed


def smallest_arch(fixed: dict | None = None, stem: str = "none") -> dict:
    """The architecture with the fewest parameters (given the `fixed` labels): parameters only grow
    with depth, width, BN, a bigger head kernel and full (not separable) convs, so the smallest
    choice of each gives the minimum. `stem`: none or pool (no weights either; pool, a quarter of the
    FLOPs, but on small images it may leave too little for the convs)."""
    arch = {k: min(v) if k not in ("bn", "head", "stem") else v[0] for k, v in CHOICES.items()}
    arch.update(bn=False, head="gap_1x1", tkind1="mp", tkind2="mp", stem=stem)  # max-pool alone: no weights
    arch.update({f"sq{s}": 0 for s in (1, 2, 3)})
    arch.update(sep1=True, sep2=True, sep3=True)  # a separable conv has fewer weights than a full one
    arch.update(fixed or {})
    return arch


def sample_arch(rng, fixed: dict | None = None, choices: dict[str, list] | None = None) -> dict:
    """A uniform random sample of the space as a strategy's first proposals draw it: each label of
    `choices` (default `CHOICES`) one of its values (`rng`: a random.Random), the `fixed` ones pinned."""
    fixed, choices = fixed or {}, choices or CHOICES
    return {k: fixed[k] if k in fixed else rng.choice(choices[k]) if k in choices else values[0]
            for k, values in LABELS.items()}
