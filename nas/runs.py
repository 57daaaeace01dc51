"""Train one architecture for N epochs x M seeds into a run folder (what `nas train` and
`nas baselines` do).

A run folder holds everything needed to re-run it and to report on it:
  config.json          the architecture, the resolved TrainConfig, seeds, params, FLOPs, versions
  seed<S>/history.csv  one row per epoch: train / validation / test loss and accuracy, lr, seconds
  seed<S>/history.json the same rows as JSON
  seed<S>/model.pt     the final weights (state_dict of `build_network(arch)`)
  seed<S>/checkpoint.pt  the state after the last finished epoch (`--resume` continues from it)
  summary.json         per seed: final and last-3-epoch test accuracy
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import torch

from nas.atomic import save_torch, write_text
from nas.budget import count
from nas.config import ConfigError, TrainConfig, asdict
from nas.data import load_splits
from nas.train import format_epoch, train


class RunError(RuntimeError):
    """A run folder cannot be written or resumed as asked; one line."""


def load_arch(spec: str) -> tuple[str, dict, dict]:
    """(name, canonical arch, recipe overrides) for a baseline name or an arch.json path."""
    from search_spaces import mnist
    from search_spaces.baselines import BASELINES

    if spec in BASELINES:
        b = BASELINES[spec]
        return spec, mnist.canonical(b["arch"]), dict(b["recipe"])
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"{spec!r} is neither a baseline ({', '.join(BASELINES)}) nor an existing arch.json file")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    arch = data.get("arch", data) if isinstance(data, dict) else None
    if not isinstance(arch, dict):
        raise ConfigError(f"{path}: expected a JSON object with the architecture's choices")
    try:
        arch = mnist.canonical(mnist.complete(arch))
    except (ValueError, KeyError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return path.parent.name or path.stem, arch, {}


def _history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(history[0]))
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def last3(history: list[dict], key: str = "test_acc") -> list[float]:
    return [r[key] for r in history[-3:]]


def run(arch: dict, cfg: TrainConfig, seeds: list[int], out: str | os.PathLike, data_dir: str | None = None,
        force: bool = False, resume: bool = False, name: str = "", log=print) -> dict:
    """Train `arch` once per seed into run folder `out`; return the summary."""
    from search_spaces.blocks import build_network

    out = Path(out)
    params, flops = count(build_network(arch))
    config = {"name": name, "arch": arch, "train": asdict(replace(cfg, seed=0)), "seeds": seeds,
              "params": params, "flops": flops, "torch": torch.__version__, "git": _git_commit()}
    cfg_path = out / "config.json"
    if cfg_path.exists():
        if resume:
            old = json.loads(cfg_path.read_text())
            if (old["arch"], old["train"]) != (config["arch"], config["train"]):
                raise RunError(f"{out} holds a run with another architecture or recipe; cannot resume it")
        elif not force:
            raise RunError(f"{out} already holds a run; pass --resume to continue it or --force to replace it")
    data = load_splits(data_dir, cfg.val_size, cfg.split_seed, cfg.train_subset or None)  # fails before any write
    out.mkdir(parents=True, exist_ok=True)
    write_text(cfg_path, json.dumps(config, indent=2) + "\n")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    log(f"{name or 'run'}: {params:,} parameters, {flops:,} FLOPs, {len(data.train_x):,} training images, "
        f"{len(data.val_x):,} validation, seeds {seeds} -> {out}")
    summary = {"name": name, "params": params, "flops": flops, "seeds": {}}
    for seed in seeds:
        folder = out / f"seed{seed}"
        folder.mkdir(exist_ok=True)
        ckpt = folder / "checkpoint.pt"
        if force and not resume and ckpt.exists():
            ckpt.unlink()
        log(f"seed {seed}\n" + format_epoch({}, header=True))
        model = build_network(arch)
        history = train(model, data, replace(cfg, seed=seed), checkpoint=ckpt,
                        on_epoch=lambda r: log(format_epoch(r)))
        write_text(folder / "history.csv", _history_csv(history))
        write_text(folder / "history.json", json.dumps(history, indent=1) + "\n")
        save_torch(model.state_dict(), folder / "model.pt")
        summary["seeds"][str(seed)] = {"final_test_acc": history[-1]["test_acc"],
                                       "last3_test_acc": last3(history),
                                       "final_val_acc": history[-1]["val_acc"],
                                       "best_test_acc": max(r["test_acc"] for r in history)}
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
