"""The hand-made controls of a search's race: which ones (`--controls`; `auto` is nas.facts'
control rule) and each as a full sample of the space, checked against the search's fixed labels."""
from __future__ import annotations

from nas import facts
from nas.errors import ConfigError
from nas.training.runs import load_arch
from search_spaces.choices import RECIPE_CHOICES, complete, recipe_labels


def resolve_controls(text: str, max_params: int, fixed: dict, search_recipe: bool = False) -> dict[str, dict]:
    """name -> full sample of each control ("auto", "none", or comma-separated baseline names or
    arch.json paths). A control outside the search's fixed labels cannot be frozen by the space, nor
    one with recipe labels by a space without them (`search_recipe`: the search has them)."""
    names = facts.default_controls(max_params) if text == "auto" else [] if text in ("none", "") else \
        [n.strip() for n in text.split(",") if n.strip()]
    # pinned recipe labels (--search-recipe --fix lr_x=2) are the search's recipe: the controls train with it too
    pinned = {k: v for k, v in fixed.items() if k in RECIPE_CHOICES}
    out = {}
    for spec in names:
        name, arch, _ = load_arch(spec)
        if not search_recipe and (own := recipe_labels(arch)):
            raise ConfigError(f"control {name} has recipe labels {own}; race it in a search with --search-recipe")
        sample = complete({**arch, **pinned})
        clash = {k: v for k, v in fixed.items() if sample.get(k) != v}
        if clash:
            raise ConfigError(f"control {name} has {clash} outside the search's fixed labels; "
                              f"pass --controls none or other controls")
        out[name] = sample
    return out
