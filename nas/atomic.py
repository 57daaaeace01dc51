"""Atomic file writes: write a temporary file beside the target, then rename it over the target,
so a reader (or a process killed mid-write) sees the old file or the new one, never half of one."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def save_torch(obj, path: str | os.PathLike) -> None:
    import torch  # here, not at the top: the command line imports this module before it parses

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def json_text(obj, indent: int = 2) -> str:
    """Strict JSON (what a browser's or jq's parser accepts): NaN and infinities, e.g. the validation
    accuracy of a run without a validation split, are written as null."""
    def clean(o):
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        return o
    return json.dumps(clean(obj), indent=indent, allow_nan=False) + "\n"
