"""The hand-made controls of a search's race: which ones (`--controls`; `auto` is nas.facts'
control rule) and each as a full sample of the space, checked against the search's fixed labels and
the dataset's input."""
from __future__ import annotations

from nas import facts
from nas.errors import ConfigError
from nas.training.runs import load_arch
from search_spaces.blocks import build_network
from search_spaces.choices import RECIPE_CHOICES, complete, recipe_labels


def control_names(text: str, max_params: int) -> list[str]:
    """The names or paths `--controls` stands for ("auto": the control rule; "none": none)."""
    if text == "auto":
        return facts.default_controls(max_params)
    return [] if text in ("none", "") else [n.strip() for n in text.split(",") if n.strip()]


def resolve_controls(text: str, max_params: int, fixed: dict, search_recipe: bool = False, inp=None,
                     skipped: list | None = None) -> dict[str, dict]:
    """name -> full sample of each control ("auto", "none", or comma-separated baseline names or
    arch.json paths). A control outside the search's fixed labels cannot be frozen by the space, nor
    one with recipe labels by a space without them (`search_recipe`: the search has them). `inp`
    (nas.data.datasets.Input): a control whose network cannot take the dataset's images is refused,
    or, when the rule chose it ("auto"), left out and appended to `skipped` as (name, why)."""
    # pinned recipe labels (--search-recipe --fix lr_x=2) are the search's recipe: the controls train with it too
    pinned = {k: v for k, v in fixed.items() if k in RECIPE_CHOICES}
    out = {}
    for spec in control_names(text, max_params):
        name, arch, _ = load_arch(spec)
        if not search_recipe and (own := recipe_labels(arch)):
            raise ConfigError(f"control {name} has recipe labels {own}; race it in a search with --search-recipe")
        sample = complete({**arch, **pinned})
        clash = {k: v for k, v in fixed.items() if sample.get(k) != v}
        if clash:
            raise ConfigError(f"control {name} has {clash} outside the search's fixed labels; "
                              f"pass --controls none or other controls")
        if inp is not None:
            try:
                build_network(sample, inp.shape, inp.classes)
            except ValueError as e:
                why = f"cannot take {inp.dataset}'s {'x'.join(map(str, inp.shape))} images ({e})"
                if text != "auto":
                    raise ConfigError(f"control {name} {why}; pass --controls none or other controls") from None
                if skipped is not None:
                    skipped.append((name, why))
                continue
        out[name] = sample
    return out
