"""The report's pictures (PNG, matplotlib without a screen), each legible at 1,000 pixels wide."""
from __future__ import annotations

import statistics
from pathlib import Path

from nas.data.datasets import load_splits
from nas.facts import THRESHOLD
from nas.results.store import Run, Search
from search_spaces.blocks import build_network


def _save(fig, ax, out: Path) -> bool:
    """A one-panel figure's legend and grid, written to `out` and closed."""
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    _plt().close(fig)
    return True


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def pareto_png(searches: list[Search], baselines: dict[str, Run], finalists: dict[str, Run], current: set[str],
               out: Path) -> bool:
    """Parameters against test accuracy: every trial that recorded one (its short proxy; trials no
    longer evaluate the test set), baselines and finalists confirmed; `current`: the names of the
    finalists that are the current picks. False, and no file, where there is nothing to draw."""
    floor = 94.0
    pts = [(t.final["params"], t.final["test_acc"]) for s in searches for t in s.succeeded
           if t.final.get("test_acc") is not None]  # early-stopped trials have no test accuracy
    if not pts and not any(r.histories for r in (*baselines.values(), *finalists.values())):
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    shown = [(p, a) for p, a in pts if a >= floor]
    ax.scatter([p for p, _ in shown], [a for _, a in shown], s=14, c="0.6",
               label=f"search trials, proxy training ({len(pts)}; {len(pts) - len(shown)} below {floor:.0f}% not shown)")
    front, best = [], -1.0
    for p, a in sorted(pts):
        if a > best:
            front.append((p, a))
            best = a
    front = [(p, a) for p, a in front if a >= floor]
    if front:
        ax.step([p for p, _ in front], [a for _, a in front], where="post", c="0.4", lw=1, label="Pareto front of the trials")
    for i, (name, run) in enumerate(baselines.items()):
        if run.histories:  # labels below, alternately left and right: exp2-4 sit within 1,000 params
            m = statistics.fmean(run.finals())
            ax.scatter(run.config["params"], m, marker="s", s=50, c="tab:blue", zorder=3)
            ax.annotate(name, (run.config["params"], m), textcoords="offset points", xytext=(5 if i % 2 else -5, -12),
                        ha="left" if i % 2 else "right", fontsize=8)
    for name, run in finalists.items():
        if run.histories:  # earlier finalists unlabelled: at one budget they sit within a few hundred params
            m = statistics.fmean(run.finals())
            ax.scatter(run.config["params"], m, marker="*", s=140, zorder=4,
                       **({"c": "tab:red"} if name in current else {"facecolors": "none", "edgecolors": "tab:red"}))
            if name in current:
                ax.annotate(name, (run.config["params"], m), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.scatter([], [], marker="s", c="tab:blue", label="hand-made baselines, 15 epochs, mean of seeds")
    ax.scatter([], [], marker="*", s=140, c="tab:red", label="search finalists, 15 epochs, mean of seeds")
    if any(n not in current and r.histories for n, r in finalists.items()):
        ax.scatter([], [], marker="*", s=140, facecolors="none", edgecolors="tab:red", label="earlier finalists")
    ax.axhline(THRESHOLD, ls="--", c="tab:green", lw=1, label=f"{THRESHOLD:.2f}%")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_ylim(floor, 100)
    ax.set_xlabel("parameters (fvcore)")
    ax.set_ylabel("final test accuracy, %")
    ax.set_title("Parameters against test accuracy")
    return _save(fig, ax, out)


# how a race's entrants are drawn: candidates, reference designs the warm start began from, the
# hand-made controls, the best and the pick
_RACE_MARKS = {"candidate": dict(marker="o", s=16, c="0.6"),
               "reference": dict(marker="^", s=40, c="tab:purple"),
               "control": dict(marker="s", s=50, c="tab:blue"),
               "best": dict(marker="o", s=120, facecolors="none", edgecolors="k"),
               "pick": dict(marker="*", s=160, c="tab:red")}
_RACE_WORDS = {"candidate": "searched candidates", "reference": "reference designs the warm start began from",
               "control": "hand-made controls", "best": "the best candidate (highest mean)", "pick": "the pick"}


def race_png(points: list[dict], cost: str, out: Path, title: str, margin: float | None = None) -> bool:
    """Late-validation accuracy against a cost for a race's entrants at the full rung: each point a
    dict of cost, acc (mean over its race seeds), seeds, kind (candidate, reference, control, best,
    pick; a network may be two of them: pass it twice) and label. `margin`: a dashed line that far
    below the best. False, and no file, where no point has a cost."""
    pts = [p for p in points if p["cost"] is not None]
    if not pts:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for kind, mark in _RACE_MARKS.items():
        mine = [p for p in pts if p["kind"] == kind]
        if mine:
            ax.scatter([p["cost"] for p in mine], [p["acc"] for p in mine], zorder=3, label=_RACE_WORDS[kind], **mark)
        for p in mine:
            if p.get("label"):
                ax.annotate(p["label"], (p["cost"], p["acc"]), textcoords="offset points", xytext=(5, -11), fontsize=7)
    best = next((p for p in pts if p["kind"] == "best"), None)
    if margin and best is not None:
        ax.axhline(best["acc"] - margin, ls="--", c="tab:green", lw=1, label=f"{margin:g} points below the best")
    front, top = [], -1.0  # the entrants no cheaper one matches in mean
    for p in sorted(pts, key=lambda p: (p["cost"], -p["acc"])):
        if p["acc"] > top:
            front.append(p)
            top = p["acc"]
    ax.step([p["cost"] for p in front], [p["acc"] for p in front], where="post", c="0.4", lw=1, label="Pareto front")
    ax.set_xlabel(cost)
    ax.set_ylabel("late-validation accuracy, %, mean over the race's seeds")
    ax.set_title(title)
    return _save(fig, ax, out)


def curves_png(finalists: dict[str, Run], out: Path, cols: int = 3, goal: float | None = THRESHOLD) -> None:
    """Per-epoch test accuracy of each finalist, one line per seed, with the `goal` line (None: none,
    and the axis fitted to the runs): a grid of at most `cols` panels a row, so that it reads at normal size."""
    plt = _plt()
    runs = [(n, r) for n, r in finalists.items() if r.histories]
    cols = max(1, min(cols, len(runs)))
    rows = max(1, -(-len(runs) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[len(runs):]:
        ax.axis("off")
    for ax, (name, run) in zip(axes.flat, runs):
        for seed, h in sorted(run.histories.items()):
            ax.plot([r["epoch"] for r in h], [r["test_acc"] for r in h], marker=".", lw=1, label=f"seed {seed}")
        ax.axvspan(run.epochs - 2.5, run.epochs + 0.5, color="tab:green", alpha=0.08)
        if goal is not None:
            ax.axhline(goal, ls="--", c="k", lw=1)
            ax.set_ylim(min(98.8, min(run.late()) - 0.2), 99.8)
        ax.set_title(f"{name}: {run.params:,} params", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("test accuracy, %")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Test accuracy per epoch (the last 3 epochs shaded)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def misclassified_png(run: Run, out: Path, data_dir: str | None = None, seed: int | None = None, limit: int = 60) -> int:
    """A grid of the test digits that `run`'s final model (seed 0 unless given) gets wrong; their count."""
    import torch


    seed = min(run.histories) if seed is None else seed
    # the report reads files only: a dataset that is not at hand is an error, never a download
    data = load_splits(data_dir, val_size=0, dataset=run.config["train"].get("dataset", "mnist"), download=False)
    model = build_network(run.config["arch"], data.input.shape, data.input.classes)
    model.load_state_dict(torch.load(run.path / f"seed{seed}" / "model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(data.test_x[i:i + 2000]).argmax(1) for i in range(0, len(data.test_x), 2000)])
    wrong = (pred != data.test_y).nonzero().flatten()
    plt = _plt()
    cols = 10
    rows = max(1, -(-min(limit, len(wrong)) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong[:limit].tolist()):
        ax.imshow(data.test_x[i, 0].numpy(), cmap="gray_r")
        ax.set_title(f"{data.test_y[i].item()} -> {pred[i].item()}", fontsize=8, color="tab:red")
    things = "digits" if run.config["train"].get("dataset", "mnist") == "mnist" else "images"
    fig.suptitle(f"{run.config['name'] or run.path.name}, seed {seed}: {len(wrong)} of {len(pred):,} test {things} "
                 f"wrong (true -> predicted)" + (f", first {limit} shown" if len(wrong) > limit else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return len(wrong)
