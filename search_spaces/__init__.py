"""Search spaces by name (what `nas search --space NAME` accepts) and the hand-made baselines."""
from __future__ import annotations


def get_space(name: str):
    """(ModelSpace class, module) for a space name; ValueError naming the valid ones otherwise."""
    from search_spaces import mnist

    spaces = {"mnist": mnist}
    if name not in spaces:
        raise ValueError(f"unknown search space {name!r}; choose one of: {', '.join(spaces)}")
    return spaces[name]
