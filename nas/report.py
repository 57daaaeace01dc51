"""The results report: `results/README.md` and its pictures, generated from the committed run files.

    nas report                      # rewrites results/README.md and results/figures/*.png

Nothing in the report is typed by hand. It reads
  results/baselines/<exp>/        the four hand-made models under the protocol (`nas baselines`)
  results/baselines-own/<exp>/    the same models under their own recipe from the seed
  results/baselines-<tag>/<exp>/  the same models under another recipe (a recipe study's pick), if any
  results/recipe/<name>/          recipe studies (`nas recipe`): variants of the recipe ranked on validation
  results/searches/<id>/          NNI experiments (`results/run_searches.sh`), via NNI's database
  results/rerank/<id>/            a search's second stage (`nas rerank`): whose winner is the finalist
  results/confirm/<label>-<trial>/  the finalists' confirmation runs (`results/run_confirmations.sh`);
                                  <label> is s20k, s8k or s4k
and writes the report in the seed's own form (Target / Results / Analysis per step), a Pareto chart,
per-epoch test-accuracy curves of the finalists and a grid of the final model's misclassified digits.

The protocol is fixed before any run (issue 3): all 60,000 training images, at most 15 epochs,
seeds 0-4; "consistently >= 99.40%" means the test accuracy of each of the last 3 epochs of every
seed is >= 99.40%. A run that does not follow it is shown but never called consistent.
"""
from __future__ import annotations

import functools
import json
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

THRESHOLD = 99.40          # test accuracy, %
PROTOCOL_SEEDS = [0, 1, 2, 3, 4]
PROTOCOL_EPOCHS = 15
BUDGETS = {"s20k": 20000, "s8k": 8000, "s4k": 4000}
BUDGET_TARGETS = {
    20000: "mean final test accuracy >= 99.60% over the 5 seeds with <= 20,000 parameters",
    8000: "consistently >= 99.40% with <= 8,000 parameters (required)",
    4000: "consistently >= 99.40% with <= 4,000 parameters (stretch)",
}
SEED_TARGETS = {  # the seed's own words and numbers (../shared/seed), quoted
    "exp1": ("To create a simple model architecture under 20k parameters with no data augmentation or "
             "regularization.", 19552, 99.07, 98.99),
    "exp2": ("To make a model will less than 10k parameters.", 9032, 98.98, 98.85),
    "exp3": ("Add regularization to model (Batch Normalization and Dropout).", 9192, 99.19, 99.29),
    "exp4": ("Experiment with Image Augmentations and Learning Rates.", 9752, 98.86, 99.39),
}


@dataclass
class Run:
    """One run folder of `nas train` / `nas baselines`, read back from its files."""
    path: Path
    config: dict
    histories: dict[int, list[dict]] = field(default_factory=dict)  # seed -> per-epoch records
    current: bool = False  # a finalist run of the architecture `pick_finalist` chooses now

    @classmethod
    def load(cls, path: Path) -> "Run | None":
        cfg = path / "config.json"
        if not cfg.exists():
            return None
        run = cls(path, json.loads(cfg.read_text()))
        for seed in run.config["seeds"]:
            hist = path / f"seed{seed}" / "history.json"
            if hist.exists():
                run.histories[seed] = json.loads(hist.read_text())
        return run

    @property
    def epochs(self) -> int:
        return self.config["train"]["epochs"]

    @property
    def complete(self) -> bool:
        return (set(self.histories) == set(self.config["seeds"])
                and all(len(h) == self.epochs for h in self.histories.values()))

    @property
    def follows_protocol(self) -> bool:
        t = self.config["train"]
        return (t["val_size"] == 0 and t["train_subset"] == 0 and t["epochs"] <= PROTOCOL_EPOCHS
                and sorted(self.config["seeds"]) == PROTOCOL_SEEDS)

    def last3(self) -> list[float]:
        return [r["test_acc"] for h in self.histories.values() for r in h[-3:]]

    def finals(self, key: str = "test_acc") -> list[float]:
        return [h[-1][key] for h in self.histories.values()]

    def best(self, key: str) -> float:
        return max(r[key] for h in self.histories.values() for r in h)

    @property
    def consistent(self) -> bool:
        return self.complete and self.follows_protocol and min(self.last3()) >= THRESHOLD

    @property
    def decided_miss(self) -> bool:
        """Incomplete, yet already not consistent: a seed that finished has a late number below the
        line, which more seeds cannot undo."""
        return not self.complete and self.follows_protocol and bool(self.finished_misses())

    def finished_misses(self) -> list[float]:
        """Last-3-epoch test accuracies below the line, of the seeds that trained every epoch."""
        return [a for h in self.histories.values() if len(h) == self.epochs for a in [r["test_acc"] for r in h[-3:]]
                if a < THRESHOLD]

    @property
    def train_seconds(self) -> float:
        return sum(r["seconds"] for h in self.histories.values() for r in h)


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def verdict(run: Run) -> str:
    if not run.complete:
        done = sum(len(h) for h in run.histories.values())
        part = f"{done} of {len(run.config['seeds']) * run.epochs} seed-epochs"
        if run.decided_miss:
            below = run.finished_misses()
            return (f"**not consistent** (decided before the run is complete, {part}): {len(below)} last-3-epoch "
                    f"test accuracies of the finished seeds below {THRESHOLD:.2f}% (lowest {min(below):.2f}%)")
        return f"incomplete ({part})"
    low = min(run.last3())
    if not run.follows_protocol:
        return f"not under the protocol (reference only); lowest last-3 test accuracy {low:.2f}%"
    if low >= THRESHOLD:
        return f"**consistent**: all 15 last-3-epoch test accuracies >= {THRESHOLD:.2f}% (lowest {low:.2f}%)"
    below = sum(a < THRESHOLD for a in run.last3())
    return f"**not consistent**: {below} of 15 last-3-epoch test accuracies below {THRESHOLD:.2f}% (lowest {low:.2f}%)"


RUN_KEYS = ("threads", "seed", "eval_batch", "val_size", "split_seed", "train_subset", "device")  # how and on what, not the recipe


def recipe_of(train: dict) -> dict:
    """A run's recipe as the TrainConfig keys that differ from the defaults (keys added to TrainConfig
    after a run was made count as their default, which is what it ran)."""
    from nas.config import TrainConfig, asdict

    defaults = asdict(TrainConfig())
    return {k: v for k, v in train.items() if k in defaults and k not in RUN_KEYS and v != defaults[k]}


def recipe_words(recipe: dict) -> str:
    return "the defaults" if not recipe else "the defaults with " + ", ".join(f"{k}={v:g}" if isinstance(v, float)
                                                                              else f"{k}={v}" for k, v in recipe.items())


def results_table(run: Run) -> list[str]:
    """The Results block of one run: parameters, FLOPs, best and last-3 accuracies, verdict."""
    t = run.config["train"]
    lines = [f"`{run.path.as_posix()}`: {run.config['params']:,} parameters, {run.config['flops']:,} FLOPs; "
             f"{t['epochs']} epochs, {t['optimizer']} lr {t['lr']:g} {t['schedule']}, batch {t['batch_size']}, "
             f"augment {'on' if t['augment'] else 'off'}, seeds {run.config['seeds']}; "
             f"recipe: {recipe_words(recipe_of(t))}; "
             f"training time {run.train_seconds / 3600:.2f} h summed over the seeds shown "
             + (f"(on {run.config.get('device_name') or 'a CUDA GPU'}, several seeds at once)" if t.get("device") == "cuda"
                else f"({t.get('threads') or '?'} CPU thread(s) each)"),
             "", "| seed | best train | best test | last-3 test | final train | final test |",
             "| --- | --- | --- | --- | --- | --- |"]
    for seed, h in sorted(run.histories.items()):
        l3 = " / ".join(f"{r['test_acc']:.2f}" for r in h[-3:])
        lines.append(f"| {seed} | {max(r['train_acc'] for r in h):.2f} | {max(r['test_acc'] for r in h):.2f} | "
                     f"{l3} | {h[-1]['train_acc']:.2f} | {h[-1]['test_acc']:.2f} |")
    if run.histories:
        l3 = run.last3()
        m, s = _mean_std(l3)
        fm, fs = _mean_std(run.finals())
        lines += ["", f"Last-3-epoch test accuracy over all seeds: min {min(l3):.2f}%, mean {m:.2f}%, "
                      f"std {s:.2f}. Final-epoch test accuracy: mean {fm:.2f}% (std {fs:.2f}).",
                  f"Verdict: {verdict(run)}."]
    return lines


def analysis(run: Run) -> list[str]:
    """Measured facts only: train-test gap, over/underfitting, the target."""
    if not run.histories:
        return []
    train_final, _ = _mean_std(run.finals("train_acc"))
    test_final, _ = _mean_std(run.finals())
    gap = train_final - test_final
    aug = run.config["train"]["augment"] or run.config["arch"].get("dropout", 0) > 0
    if gap > 0.3:
        fit = "the model fits the training images better than the test images (overfitting)"
    elif gap < -0.1:
        fit = ("test accuracy is above training accuracy" + (" (training accuracy is measured on augmented "
               "images with dropout active, so the gap is not overfitting)" if aug else ""))
    else:
        fit = "training and test accuracy are close (no sign of overfitting)"
    lines = [f"- Final-epoch train accuracy {train_final:.2f}% vs test {test_final:.2f}% "
             f"(gap {gap:+.2f} points): {fit}."]
    curve = [statistics.fmean(h[i]["test_acc"] for h in run.histories.values())
             for i in range(min(len(h) for h in run.histories.values()))]
    if len(curve) >= 4:
        late = curve[-1] - curve[-4]
        lines.append(f"- Mean test accuracy moved {late:+.2f} points over the last 3 epochs"
                     + (" (still rising: more epochs would likely help)" if late > 0.1 else " (converged)") + ".")
    return lines


# ---------------------------------------------------------------- searches


def busy_hours(events) -> float:
    """Hours covered by the union of trial spans; `events`: (trial id, event, ms timestamp) in time
    order. A span runs from a trial's RUNNING to its first SUCCEEDED / FAILED / EARLY_STOPPED /
    SYS_CANCELED; USER_CANCELED is what `nas resume` writes for a trial a stop interrupted, at resume
    time, so it ends nothing."""
    start: dict[str, int] = {}
    spans = []
    for trial, event, ts in events:
        if event == "RUNNING":
            start.setdefault(trial, ts)
        elif event in ("SUCCEEDED", "FAILED", "EARLY_STOPPED", "SYS_CANCELED") and trial in start:
            spans.append((start.pop(trial), ts))
    total, reach = 0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total, reach = total + hi - lo, hi
        elif hi > reach:
            total, reach = total + hi - reach, hi
    return total / 3.6e6


@dataclass
class Search:
    id: str
    record: dict
    trials: list  # nas.export.Trial
    folder: Path | None = None  # the searches folder holding <id>/ (its NNI logs)

    @property
    def budget(self) -> int:
        return self.record["search"]["max_params"]

    @property
    def succeeded(self) -> list:
        return [t for t in self.trials if t.status == "SUCCEEDED" and t.final]

    def best(self):
        return max(self.succeeded, key=lambda t: (t.val_acc, -t.final.get("params", 0)), default=None)

    @property
    def wall_hours(self) -> float:
        """Hours in which at least one trial ran, from NNI's database: the union of the trials' spans
        from RUNNING to their end. A pause between a stop and its resume (days, across sessions) is
        not search time; a trial interrupted by a stop has no known end and counts nothing."""
        import sqlite3

        db = Path(self.record["search"]["workdir"]) / self.id / "db" / "nni.sqlite"
        if not db.exists():
            return 0.0
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT trialJobId, event, timestamp FROM TrialJobEvent ORDER BY timestamp").fetchall()
        finally:
            con.close()
        return busy_hours(rows)

    @functools.cached_property
    def heard(self) -> int | None:
        """How many trained trials the strategy heard the score of (None: random, which does not
        learn). Until 2026-11-25 the Replay middleware kept NNI's model events from reaching evolution
        and TPE (nas/recovery.py), so they heard none. Evolution logs each score it hears; TPE does
        not, so a TPE search counts as heard only when its record says it ran with the fix."""
        strategy, ok = self.record["search"]["strategy"], len(self.succeeded)
        if strategy == "random":
            return None
        if strategy == "tpe":
            return ok if self.record.get("strategy_hears_metrics") else 0
        log = (self.folder or Path(self.record["search"]["workdir"])) / self.id / "log" / "experiment.log"
        scores = re.findall(r"\[Metric\] ([0-9.]+) Sample", log.read_text()) if log.exists() else []
        # score 0: a budget-gate rejection, not a trial; repeats answered by Replay log a score too,
        # so the count can pass the trials'
        return min(sum(float(m) > 0 for m in scores), len(self.succeeded))

    @property
    def repeats(self) -> int:
        """Succeeded trials whose network (labels it ignores dropped) an earlier trial had trained:
        possible before nas/recovery.py's Replay answered such candidates from the first trial."""
        from nas.export import distinct

        trained = [t for t in self.succeeded if t.sample]
        return len(trained) - len(distinct(trained))

    @property
    def blind(self) -> bool:
        """Did the strategy miss trials' scores? The last `concurrency` trials may end after it stopped."""
        return self.heard is not None and self.heard < len(self.succeeded) - self.record["search"].get("concurrency", 1)

    @property
    def learnt_from(self) -> str:
        if self.heard is None:
            return "- (does not learn)"
        return f"{self.heard} of {len(self.succeeded)}" + (" (blind)" if self.heard == 0 and self.succeeded else "")

    @property
    def epoch_images(self) -> int:
        """Training images per proxy epoch (all outside the validation split unless a subset)."""
        t = self.record["train"]
        return t["train_subset"] or 60000 - t["val_size"]

    @property
    def proxy_images(self) -> int:
        """Training images one trial sees (epochs x images per epoch): the proxy's length."""
        return self.record["train"]["epochs"] * self.epoch_images

    @property
    def cpu_hours(self) -> float:
        """Trial seconds x threads per trial (the search's training cost; NNI's start-up is extra)."""
        threads = self.record["train"].get("threads") or 1
        return sum(t.final.get("seconds", 0) for t in self.succeeded) * threads / 3600


def load_searches(folder: Path) -> list[Search]:
    from nas.export import read_trials

    out = []
    for rec in sorted(folder.glob("*/nas.json")):
        if rec.parent.is_symlink():  # NNI's `_latest` link to the newest experiment
            continue
        record = json.loads(rec.read_text())
        out.append(Search(record["id"], record, read_trials(folder, record["id"]), folder))
    return out


def search_table(searches: list[Search]) -> list[str]:
    lines = ["| experiment | strategy | budget | trials (ok / failed / other) | strategy learnt from | proxy | "
             "best val | params of best | trial CPU-hours | wall hours (a trial running) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in searches:
        ok = len(s.succeeded)
        failed = sum(t.status == "FAILED" for t in s.trials)
        b = s.best()
        t = s.record["train"]
        rec = s.record["search"]
        limits = [f"fixed {rec['fix']}"] if rec.get("fix") else []
        limits += [f">= {rec['min_params']:,} params"] if rec.get("min_params") else []
        limits += [f"<= {rec['max_flops']:,} FLOPs"] if rec.get("max_flops") else []
        lines.append(f"| `{s.id}` | {rec['strategy']}{' (' + '; '.join(limits) + ')' if limits else ''} | "
                     f"{s.budget:,} | {ok} / {failed} / "
                     f"{len(s.trials) - ok - failed} | {s.learnt_from} | {t['epochs']} ep x {s.epoch_images:,} img | "
                     + (f"{b.val_acc:.2f}% | {b.final['params']:,}" if b else "- | -")
                     + f" | {s.cpu_hours:.2f} | {s.wall_hours:.2f} |")
    return lines


# ---------------------------------------------------------------- pictures


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def pareto_png(searches: list[Search], baselines: dict[str, Run], finalists: dict[str, Run], out: Path) -> None:
    """Parameters against test accuracy: every trial (its short proxy), baselines and finalists confirmed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    floor = 94.0
    pts = [(t.final["params"], t.final["test_acc"]) for s in searches for t in s.succeeded
           if t.final.get("test_acc") is not None]  # early-stopped trials have no test accuracy
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
                       **({"c": "tab:red"} if run.current else {"facecolors": "none", "edgecolors": "tab:red"}))
            if run.current:
                ax.annotate(name, (run.config["params"], m), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.scatter([], [], marker="s", c="tab:blue", label="hand-made baselines, 15 epochs, mean of seeds")
    ax.scatter([], [], marker="*", s=140, c="tab:red", label="search finalists, 15 epochs, mean of seeds")
    if any(not r.current and r.histories for r in finalists.values()):
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
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def curves_png(finalists: dict[str, Run], out: Path) -> None:
    """Per-epoch test accuracy of each finalist, one line per seed, with the 99.40% line."""
    plt = _plt()
    runs = [(n, r) for n, r in finalists.items() if r.histories]
    fig, axes = plt.subplots(1, max(1, len(runs)), figsize=(4.5 * max(1, len(runs)), 4), squeeze=False)
    for ax, (name, run) in zip(axes[0], runs):
        for seed, h in sorted(run.histories.items()):
            ax.plot([r["epoch"] for r in h], [r["test_acc"] for r in h], marker=".", lw=1, label=f"seed {seed}")
        ax.axhline(THRESHOLD, ls="--", c="k", lw=1)
        ax.axvspan(run.epochs - 2.5, run.epochs + 0.5, color="tab:green", alpha=0.08)
        ax.set_ylim(98.8, 99.8)
        ax.set_title(f"{name}: {run.config['params']:,} params", fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy, % (last 3 epochs shaded)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def misclassified_png(run: Run, out: Path, data_dir: str | None = None, seed: int | None = None, limit: int = 60) -> int:
    """A grid of the test digits that `run`'s final model (seed 0 unless given) gets wrong; their count."""
    import torch

    from nas.data import load_splits
    from search_spaces.blocks import build_network

    seed = min(run.histories) if seed is None else seed
    model = build_network(run.config["arch"])
    model.load_state_dict(torch.load(run.path / f"seed{seed}" / "model.pt", weights_only=True))
    model.eval()
    data = load_splits(data_dir, val_size=0)
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
    fig.suptitle(f"{run.config['name'] or run.path.name}, seed {seed}: {len(wrong)} of {len(pred):,} test digits "
                 f"wrong (true -> predicted)" + (f", first {limit} shown" if len(wrong) > limit else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return len(wrong)


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Finalist:
    """What `nas finalist` picks at a budget: an exported architecture and the recipe to train it with."""
    arch: Path                          # the exported arch.json
    recipe: dict = field(default_factory=dict)  # TrainConfig overrides of the defaults ({}: the defaults)
    variant: str = ""                   # the recipe study's variant name ("" for the defaults)
    study: Path | None = None           # the recipe study's folder (its study.json and pick.json)
    score: float | None = None          # its validation score (re-rank or recipe study), None without one
    experiment: str = ""                # the search it came from
    rivals: tuple = ()                  # (search, trial, recipe variant or "", score): the other searches' best pairs


def _rerank_setting(rr: dict) -> tuple:
    """What a re-rank's scores depend on besides the models: seeds, epochs, recipe and images.
    Re-ranks with the same setting score on one scale."""
    t = rr["train"]
    return (tuple(rr.get("seeds", [rr["seed"]])), t["epochs"], json.dumps(recipe_of(t), sort_keys=True),
            t.get("val_size"), t.get("split_seed"), t.get("train_subset"))


def choose_finalist(searches_dir: Path, exports_dir: Path, budget: int, searches: list[Search] | None = None,
                    rerank_dir: Path | None = None, recipe_dir: Path | None = None) -> Finalist:
    """The finalist at this parameter budget. The searches compared: those with this budget that
    trained the longest proxy (validation accuracies of shorter proxies are lower for every model,
    so they are not compared with longer ones). Without re-ranks: the best trial by proxy validation
    accuracy among them. With re-ranks (`nas rerank`, in `rerank_dir`; every search of the group must
    have one, all with the same seeds, epochs, recipe and split): the best second-stage validation
    score over all of them, pooled, where a recipe study (`nas recipe`, in `recipe_dir`) of one of a
    re-rank's candidates, with the same seeds, epochs and validation split, competes with its pick
    (the candidate trained with that recipe). Ties: fewer parameters, then the defaults, then the
    search with the better proxy. The test accuracy plays no part.
    `searches`: those of `searches_dir`, when the caller has already loaded them."""
    from nas import recipe, rerank
    from nas.export import ExportError

    searches = [s for s in (load_searches(searches_dir) if searches is None else searches)
                if s.budget == budget and s.best() is not None]
    if not searches:
        raise ExportError(f"no finished search with a budget of {budget:,} parameters in {searches_dir}")
    longest = max(s.proxy_images for s in searches)
    group = sorted((s for s in searches if s.proxy_images == longest),
                   key=lambda s: (s.best().val_acc, -s.best().final["params"]), reverse=True)
    reranks = {s.id: rr for s in group if rerank_dir is not None and (rr := rerank.load(rerank_dir, s.id))}
    if not reranks:
        s = group[0]
        best = Finalist(exports_dir / s.id / f"rank1_{s.best().id}" / "arch.json", experiment=s.id)
        if not best.arch.exists():
            raise ExportError(f"{best.arch} is missing: run `nas export {s.id} --workdir {searches_dir}`")
        return best
    missing = [s.id for s in group if s.id not in reranks]
    if missing:  # a search left out would lose to the re-ranked ones without having competed
        raise ExportError(f"{', '.join(missing)} trained as long a proxy as {', '.join(reranks)} but has no re-rank: "
                          f"run `nas rerank` on it with the same seeds")
    for s in group:
        if s.best().id not in {c["trial"] for c in reranks[s.id]["candidates"]}:
            raise ExportError(f"the re-rank of {s.id} predates its best trial {s.best().id}: run `nas rerank {s.id}` again")
    if len({_rerank_setting(rr) for rr in reranks.values()}) > 1:
        raise ExportError(f"the re-ranks of {', '.join(reranks)} differ in seeds, epochs, recipe or split: their "
                          f"scores are not comparable; re-run them with the same settings")
    studies = recipe.load_all(recipe_dir) if recipe_dir is not None else []
    per_search = []  # each search's best pair: (key, Finalist, its trial)
    for s in group:  # (score, fewer params, the defaults first) -> the pair; a re-rank's rows are sorted already
        rr = reranks[s.id]
        top = rr["candidates"][0]
        key = (top["score"], -top["params"], 1)
        best = Finalist(exports_dir / s.id / top["export"] / "arch.json", score=top["score"], experiment=s.id)
        trial_of = top["trial"]
        exports = (exports_dir / s.id).resolve()
        for folder, st in studies:
            src = Path(st["source"])
            if src.resolve().parent.parent != exports or not src.exists():
                continue  # a study of another search's model
            trial = _study_trial(st)
            if trial not in {c["trial"] for c in rr["candidates"]}:
                continue
            if (st["seeds"], st["epochs"], st.get("split", {})) != (rr.get("seeds", [rr["seed"]]), rr["train"]["epochs"],
                                                                    {k: rr["train"][k] for k in st.get("split", {})}):
                continue  # scores on other seeds, epochs or images are not comparable
            pick = next(v for v in st["variants"] if v["variant"] == st["pick"])
            k = (pick["score"], -st.get("params", 0), int(not pick["overrides"]))
            if k > key:
                key, best, trial_of = k, Finalist(src, pick["overrides"], pick["variant"], folder, pick["score"], s.id), trial
        per_search.append((key, best, trial_of))
    winner = max(range(len(per_search)), key=lambda i: (per_search[i][0], -i))  # ties: the better proxy
    best = per_search[winner][1]
    rivals = tuple((b.experiment, trial, b.variant, b.score) for i, (_, b, trial) in enumerate(per_search) if i != winner)
    best = replace(best, rivals=rivals)
    if not best.arch.exists():
        raise ExportError(f"{best.arch} is missing: run `nas export {best.experiment} --workdir {searches_dir}`")
    return best


def pick_finalist(searches_dir: Path, exports_dir: Path, budget: int, searches: list[Search] | None = None,
                  rerank_dir: Path | None = None) -> Path:
    """The exported arch.json of the finalist at this budget (`choose_finalist`, without recipe studies)."""
    return choose_finalist(searches_dir, exports_dir, budget, searches, rerank_dir).arch


def _seed_words(rr: dict) -> str:
    seeds = rr.get("seeds", [rr["seed"]])  # re-ranks before --seeds had one
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds)) + " each"


def rerank_table(rr: dict, mark_as: str = "pick") -> list[str]:
    """The candidates of a re-rank: proxy score, late validation accuracies, the score."""
    lines = ["| trial | params | FLOPs | proxy val | last-3 val | score |", "| --- | --- | --- | --- | --- | --- |"]
    for c in rr["candidates"]:
        mark = f" ({mark_as})" if c["trial"] == rr["pick"] else ""
        lines.append(f"| `{c['trial']}`{mark} | {c['params']:,} | {c['flops']:,} | {c['proxy_val_acc']:.2f} | "
                     f"{_late_cell(c['late_val_acc'])} | {c['score']:.3f} |")
    return lines


def recipe_table(study: dict) -> list[str]:
    """The variants of a recipe study: their overrides, late validation accuracies, the score."""
    lines = ["| variant | recipe | last-3 val | score |", "| --- | --- | --- | --- |"]
    for v in study["variants"]:
        mark = " (pick)" if v["variant"] == study["pick"] else ""
        lines.append(f"| `{v['variant']}`{mark} | {recipe_words(v['overrides'])} | "
                     f"{_late_cell([a for seed in v['late_val_acc'] for a in seed])} | {v['score']:.3f} |")
    return lines


def _late_cell(values: list[float]) -> str:
    """Late validation accuracies, LATE_EPOCHS per seed: seeds separated by ';'."""
    from nas.rerank import LATE_EPOCHS

    seeds = [values[i:i + LATE_EPOCHS] for i in range(0, len(values), LATE_EPOCHS)]
    return "; ".join(" / ".join(f"{v:.2f}" for v in s) for s in seeds)


def _target_met(budget: int, run: Run) -> str:
    if not run.complete:
        decided = budget != 20000 and run.decided_miss
        return "no: " + verdict(run).replace("**", "") if decided else "not yet decided (run incomplete)"
    if run.config["params"] > budget:
        return f"no: {run.config['params']:,} parameters is over {budget:,}"
    if budget == 20000:
        m = statistics.fmean(run.finals())
        ok = run.follows_protocol and m >= 99.60
        return f"{'yes' if ok else 'no'}: mean final test accuracy {m:.2f}% (target 99.60%)"
    return "yes" if run.consistent else "no: " + verdict(run).replace("**", "")


def write_report(results: Path, data_dir: str | None = None, pictures: bool = True) -> Path:
    """Regenerate results/README.md (and the PNGs under results/figures/) from the run files."""
    from nas import rerank
    from nas.atomic import write_text

    base = {n: Run.load(results / "baselines" / n) for n in SEED_TARGETS}
    own = {n: Run.load(results / "baselines-own" / n) for n in SEED_TARGETS}
    # the baselines under another recipe (a recipe study's pick): results/baselines-<tag>/<exp>, any tag but own
    other = {n: [(p.parent.name.removeprefix("baselines-"), r) for p in sorted(results.glob(f"baselines-*/{n}"))
                 if p.parent.name != "baselines-own" and (r := Run.load(p))] for n in SEED_TARGETS}
    searches = load_searches(results / "searches") if (results / "searches").exists() else []
    by_budget, picks, no_pick = load_finalists(results, searches)
    from nas import recipe as recipe_study

    studies = recipe_study.load_all(results / "recipe") if (results / "recipe").exists() else []
    finalists = {name: run for runs in by_budget.values() for name, run in runs}
    figures = results / "figures"
    L = ["# Results", "",
         "Generated by `nas report` from the run files in this folder; do not edit by hand (re-run it).", "",
         "**Protocol**, fixed before any run: architectures are chosen on the 5,000-image validation split only. "
         f"Confirmation trains on all 60,000 training images for at most {PROTOCOL_EPOCHS} epochs with seeds 0-4 "
         "and one recipe for every architecture (the `TrainConfig` defaults: SGD with Nesterov momentum 0.9, "
         "OneCycle to lr 0.05, batch 128, weight decay 1e-4, random rotation +-7 degrees and shift +-2 pixels), "
         "unless a recipe study (`nas recipe`) chose another on the validation split: each run's Results line "
         "names its recipe, and a step that uses another says why. "
         f"*Consistently >= {THRESHOLD:.2f}%* means the test accuracy of each of the last 3 epochs of every seed "
         f"is >= {THRESHOLD:.2f}%: 15 numbers, all of them.", ""]

    L += ["## Summary", "", "| step | model | params | FLOPs | last-3 test min | last-3 mean (std) | final mean | verdict |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    # (step, model, its run or None, the arch.json that sizes a row not run yet or None)
    rows = [row for i, (n, r) in enumerate(base.items(), 1)
            for row in [(f"{i}", n, r, None)] + [(f"{i}", f"{n} (recipe `{tag}`)", o, None) for tag, o in other[n]]]
    for i, label in enumerate(BUDGETS, 6):
        rows += [(f"{i}", f"{label} finalist (`{name}`)" if run.current else
                  f"{label} earlier finalist (`{name}`)", run, None) for name, run in by_budget[label]]
        if not by_budget[label] or not by_budget[label][0][1].current:
            pick = picks[label]
            rows.append((f"{i}", f"{label} finalist" + (_pick_words(pick) if pick else " (no pick yet: see its step)"),
                         None, pick.arch if pick else None))
    for step, name, r, arch_file in rows:
        if r is None or not r.histories:
            arch = json.loads(arch_file.read_text()) if arch_file is not None and arch_file.exists() else {}
            size = "".join(f"{arch[k]:,} | " if isinstance(arch.get(k), int) else "| " for k in ("params", "flops"))
            L.append(f"| {step} | {name} | {size}| | | not run yet |")
            continue
        m, s = _mean_std(r.last3())
        L.append(f"| {step} | {name} | {r.config['params']:,} | {r.config['flops']:,} | {min(r.last3()):.2f} | "
                 f"{m:.2f} ({s:.2f}) | {statistics.fmean(r.finals()):.2f} | {verdict(r).split(':')[0]} |")
    L.append("")

    for i, (name, (target, sp, s_train, s_test)) in enumerate(SEED_TARGETS.items(), 1):
        L += [f"## Step {i}: hand-made experiment {name[-1]}", "", "### Target",
              f"The seed's: \"{target}\" The seed reported {sp:,} parameters, best train {s_train:.2f}%, "
              f"best test {s_test:.2f}% (one run, up to 20 epochs).", "", "### Results"]
        for title, run, cmd in (("Under the protocol", base[name], f"nas baselines --names {name} --epochs 15 "
                                 "--seeds 0,1,2,3,4 --set val_size=0 --jobs 2"),
                                ("Under its own recipe from the seed", own[name], f"nas baselines --names {name} "
                                 "--own-recipe --seeds 0,1,2,3,4 --set val_size=0 --jobs 2 --out results/baselines-own")):
            L += ["", f"**{title}** (`{cmd}`):", ""]
            L += results_table(run) if run and run.histories else ["Not run yet."]
        for tag, run in other[name]:
            sets = " ".join(f"--set {k}={v}" for k, v in recipe_of(run.config["train"]).items())
            L += ["", f"**Under the protocol with recipe `{tag}`** (`nas baselines --names {name} --epochs 15 "
                      f"--seeds 0,1,2,3,4 --set val_size=0 {sets} --jobs 2 --out results/baselines-{tag}`):", ""]
            L += results_table(run)
        L += ["", "### Analysis"]
        L += (analysis(base[name]) if base[name] and base[name].histories else ["- No protocol run yet."])
        if base[name] and base[name].complete:
            L.append(f"- Consistently >= {THRESHOLD:.2f}%: {'yes' if base[name].consistent else 'no'}.")
        for tag, run in other[name]:
            if run.complete:
                L.append(f"- With recipe `{tag}` ({recipe_words(recipe_of(run.config['train']))}): consistently >= "
                         f"{THRESHOLD:.2f}%: {'yes' if run.consistent else 'no'} (lowest late test accuracy "
                         f"{min(run.last3()):.2f}%, mean {statistics.fmean(run.last3()):.2f}%).")
        L.append("")

    L += ["## Step 5: searches", "", "### Target",
          "NNI searches with two strategies at budgets of 20,000, 8,000 and 4,000 parameters "
          "(`bash results/run_searches.sh`). Each trial trains a short proxy of the recipe and is scored on "
          "the validation split; the budget gate (fvcore) rejects a candidate over budget before it trains.",
          "", "### Results", ""]
    if searches:
        L += search_table(searches)
        ok = sum(len(s.succeeded) for s in searches)
        L += ["", f"{len(searches)} searches, {sum(len(s.trials) for s in searches)} trials ({ok} succeeded), "
                  f"{sum(s.cpu_hours for s in searches):.2f} CPU-hours of trial training in all. "
                  "Trial CPU-hours = trial seconds x threads per trial; NNI's per-trial start-up is not in it."]
    else:
        L.append("No search recorded yet.")
    if pictures and searches:
        figures.mkdir(exist_ok=True)
        pareto_png(searches, {n: r for n, r in base.items() if r}, finalists, figures / "pareto.png")
        L += ["", "![Parameters against test accuracy](figures/pareto.png)", "",
              "Grey: every successful trial at its proxy training (test accuracy reported by the trial, never "
              "used to choose). Squares and stars: mean final test accuracy of the 5 confirmation seeds."]
    L += ["", "### Analysis"]
    for s in searches:
        b = s.best()
        failed = [t for t in s.trials if t.status == "FAILED"]
        bn = [t for t in s.succeeded if t.sample.get("bn")]
        plain = [t for t in s.succeeded if not t.sample.get("bn")]
        weak = lambda ts: sum(t.val_acc < 50 for t in ts)  # noqa: E731
        stopped = sum(bool(t.final.get("early_stopped")) for t in s.succeeded)
        below = (f"{weak(plain)} of {len(plain)} trials without BatchNorm, {weak(bn)} of {len(bn)} with it"
                 if plain else f"{weak(bn)} of {len(bn)} trials (all with BatchNorm)")
        line = (f"- `{s.id}`: best validation {b.val_acc:.2f}% at {b.final['params']:,} parameters; "
                f"below 50% in the proxy: {below}" if b else f"- `{s.id}`: no result")
        line += f"; {stopped} stopped early by the median rule" if stopped else ""
        line += f"; {s.repeats} trained a network an earlier trial had trained" if s.repeats else ""
        L.append(line + (f"; {len(failed)} failed" if failed else "") + ".")
    blind = [s for s in searches if s.blind]
    if blind:
        L.append("- Strategies that learnt from fewer trials than they ran (column *strategy learnt from*): "
                 + ", ".join(f"`{s.id}` ({s.learnt_from})" for s in blind) + ". Until 2026-11-25 the `Replay` "
                 "middleware (nas/recovery.py, used for resume) kept NNI's model events from reaching the strategy, "
                 "so evolution and TPE never heard a trained trial's score: evolution bred from the candidates the "
                 "budget gate had rejected (score 0) or crashed when there were none (`s20k-evolution`), and TPE "
                 "sampled from its prior. Those searches are random searches in effect; their trials and "
                 "scores are real.")
    L.append("")

    for i, (label, budget) in enumerate(BUDGETS.items(), 6):
        runs = by_budget[label]
        L += [f"## Step {i}: finalist under {budget:,} parameters", "", "### Target", BUDGET_TARGETS[budget] + ".", ""]
        if label in no_pick:
            L += ["### Results", "", f"`nas finalist --max-params {budget}` has no pick at present: "
                  f"{no_pick[label]}." + (" The runs below are the earlier finalists'." if runs else ""), ""]
        elif not runs or not runs[0][1].current:
            L += ["### Results", "", "The current pick of `nas finalist --max-params "
                  f"{budget}`{_pick_words(picks[label])} is not confirmed yet (`bash results/run_confirmations.sh`).", ""]
        for name, run in runs:
            current = run.current
            src = run.config.get("source", "")
            proxy, meta = "", {}
            if src and Path(src).exists():
                meta = json.loads(Path(src).read_text())
                proxy = (f" Its proxy validation accuracy in the search was {meta['metrics']['default']:.2f}% "
                         f"(trial `{meta.get('trial', '?')}`).")
            pick, why = picks[label], None  # a current run is the pick's: its search is pick.experiment
            rr = rerank.load(results / "rerank", pick.experiment) if current else None
            if current and rr is not None and pick.study is not None:
                top = rr["candidates"][0]
                how = (f"The best (architecture, recipe) pair on the validation split at this budget. The re-rank of "
                       f"`{rr['experiment']}` (`nas rerank`, first table) trained its {len(rr['candidates'])} candidates "
                       f"under the default recipe for {rr['train']['epochs']} epochs with {_seed_words(rr)}; its best, "
                       f"`{top['trial']}`, scored {top['score']:.3f} ({rr['rule']}). The recipe study of `{meta.get('trial')}` "
                       f"(`nas recipe`, second table; `bash results/run_recipe.sh`) trained that candidate under "
                       f"each recipe variant with the same seeds, epochs and validation split; its pick `{pick.variant}` "
                       f"({recipe_words(pick.recipe)}) scored {pick.score:.3f}, above the re-rank's best, so the "
                       f"finalist is `{meta.get('trial')}` trained with that recipe; the test accuracy plays no part")
                why = ""
                missed = [(n, r) for n, r in runs if not r.current and r.complete and not r.consistent
                          and not recipe_of(r.config["train"])]
                if missed:  # why another recipe: from the run files, not typed
                    why = ("Why a study: the earlier finalists at this budget, confirmed under the defaults, were not "
                           "consistent (" + ", ".join(f"`{n}` lowest late test accuracy {min(r.last3()):.2f}%"
                                                      for n, r in missed) + ").")
            elif rr is not None and rr["pick"] == meta.get("trial"):
                how = (f"The winner of the re-rank of `{rr['experiment']}` (`nas rerank`): its {len(rr['candidates'])} "
                       f"trials within {rr['within']} points of the best proxy score, trained for "
                       f"{rr['train']['epochs']} epochs with {_seed_words(rr)} on the training split and ranked by the "
                       f"{rr['rule']}; the test accuracy plays no part")
            elif current:
                how = "The best trial by validation accuracy over the searches at this budget with the longest proxy"
            else:
                how = "An earlier finalist, the pick of `nas finalist` before later searches or re-ranks at this budget"
            L += ([] if current else [f"### Earlier finalist `{name}`", ""])
            pinned = next((x.record["search"].get("fix") for x in searches if x.id == meta.get("experiment")), "")
            pinned = f" That search pinned `{pinned}`; the strategy chose the rest." if pinned else ""
            L += [f"{how}: `{src}`.{proxy}{pinned}", f"Architecture: `{json.dumps(run.config['arch'])}`", ""]
            L += [why, ""] if why else []
            L += rerank_table(rr, "re-rank's pick" if why is not None else "pick") + [""] if rr is not None else []
            if current and rr is not None:  # the recipe studies of this search's candidates, winning or not
                L += _studies_of(rr, studies)
            if current and pick.rivals:  # the other searches with as long a proxy: their second stage lost
                L += ["The other searches at this budget with as long a proxy, re-ranked the same way, scored lower "
                      "on validation (" + ", ".join(f"`{t}`" + (f" with recipe `{v}`" if v else "") + f" of `{e}`: {sc:.3f}"
                                                    for e, t, v, sc in pick.rivals)
                      + "); their re-ranks and recipe studies:", ""]
                for e, *_ in pick.rivals:
                    other_rr = rerank.load(results / "rerank", e)
                    L += [f"Re-rank of `{e}`:", ""] + rerank_table(other_rr) + [""] + _studies_of(other_rr, studies)
            L += ["### Results" if current else "**Results**", ""]
            L += results_table(run)
            L += ["", "### Analysis" if current else "**Analysis**"] + analysis(run)
            L += [f"- Target met: {_target_met(budget, run)}.", ""]
        L += what_was_tried(budget, runs, searches, results / "rerank", studies)

    if pictures and any(r.histories for r in finalists.values()):
        figures.mkdir(exist_ok=True)
        curves_png(finalists, figures / "curves.png")
        L += ["## Pictures", "", "![Per-epoch test accuracy of the finalists](figures/curves.png)", ""]
        final = _final_model(finalists)
        weights = final[1].path / f"seed{min(final[1].histories)}" / "model.pt" if final else None
        if final is not None and not weights.exists():
            L += [f"No misclassified-digits grid: {weights} is missing.", ""]
        elif final is not None:
            n = misclassified_png(final[1], figures / "misclassified.png", data_dir)
            L += [f"The final model is the `{final[0]}` finalist ({final[1].config['params']:,} parameters), "
                  f"seed 0: {n} misclassified test digits.", "",
                  "![Misclassified test digits](figures/misclassified.png)", ""]

    L += ["## Re-running", "",
          "- Report and pictures: `nas report` (reads only the files here; a few seconds).",
          "- One confirmation: the command line is in each run's section above; e.g. "
          "`nas train results/exports/<id>/rank1_<trial>/arch.json --epochs 15 --seeds 0,1,2,3,4 --set val_size=0 "
          "--jobs 2 --out results/confirm/<label> --force` (`--resume` continues an interrupted one).",
          "- Searches: `bash results/run_searches.sh` (resumes what was interrupted); confirmations: "
          "`bash results/run_confirmations.sh`.", ""]
    write_text(results / "README.md", "\n".join(L))
    return results / "README.md"


def load_finalists(results: Path, searches: list[Search]) -> tuple[dict[str, list[tuple[str, Run]]],
                                                                    dict[str, "Finalist | None"], dict[str, str]]:
    """(label -> [(folder name, run)] of the confirmation runs at that budget, label -> the current
    pick of `choose_finalist` over the loaded `searches`, or None, label -> why there is none). The
    runs of the current pick (its architecture trained with its recipe) come first when confirmed,
    then earlier finalists by name."""
    from nas.export import ExportError

    out, picks, why = {}, {}, {}
    for label, budget in BUDGETS.items():
        runs = [(p.name, r) for p in sorted((results / "confirm").glob(f"{label}*"))
                if p.name == label or p.name.startswith(label + "-") if (r := Run.load(p))]
        try:
            picks[label] = choose_finalist(results / "searches", results / "exports", budget, searches,
                                           results / "rerank", results / "recipe")
        except (ExportError, OSError) as e:
            picks[label], why[label] = None, str(e)
        pick = picks[label]
        for _, run in runs:
            run.current = (pick is not None and Path(run.config.get("source", "")).resolve() == pick.arch.resolve()
                           and recipe_of(run.config["train"]) == recipe_of(pick.recipe))
        out[label] = sorted(runs, key=lambda nr: not nr[1].current)  # stable: by name otherwise
    return out, picks, why


def _pick_words(pick: "Finalist | None") -> str:
    """' (`TRIAL` of `SEARCH`, recipe ...)' naming a finalist pick, or '' when there is none."""
    if pick is None or not pick.arch.exists():
        return ""
    trial = json.loads(pick.arch.read_text()).get("trial", pick.arch.parent.name)
    return f" (`{trial}` of `{pick.experiment}`, recipe: {recipe_words(recipe_of(pick.recipe))})"


def what_was_tried(budget: int, runs: list[tuple[str, Run]], searches: list[Search], rerank_dir: Path,
                   studies: list) -> list[str]:
    """A budget whose target no complete confirmation meets: its best result and everything tried for
    it (searches, re-ranks, recipe studies, confirmations), counted from the run files. Empty when the
    target is met or nothing is confirmed yet."""
    from collections import Counter

    from nas import rerank

    done = [(n, r) for n, r in runs if r.complete and r.follows_protocol]
    if not done or any(_target_met(budget, r).startswith("yes") for _, r in done):
        return []
    # best: the highest final mean for the 20k mean target; else the highest lowest late number (the
    # consistency criterion), then the late mean
    key = ((lambda r: statistics.fmean(r.finals())) if budget == 20000 else
           (lambda r: (min(r.last3()), statistics.fmean(r.last3()))))
    name, best = max(done, key=lambda nr: key(nr[1]))
    stopped = [n for n, r in runs if r.decided_miss]
    at = [s for s in searches if s.budget == budget]
    strategies = Counter(s.record["search"]["strategy"] for s in at)
    rrs = [rr for s in at if (rr := rerank.load(rerank_dir, s.id)) is not None]
    candidates = {c["trial"] for rr in rrs for c in rr["candidates"]}
    trainings = sum(len(rr["candidates"]) * len(rr["seeds"]) for rr in rrs)
    epochs = sorted({rr["train"]["epochs"] for rr in rrs})
    mine = [(trial, st) for _, st in studies if (trial := _study_trial(st)) in candidates]  # reads each source once
    variants = sorted({v["variant"] for _, st in mine for v in st["variants"]} - {"default"})
    late = lambda r: f"late mean {statistics.fmean(r.last3()):.2f}%, lowest {min(r.last3()):.2f}%"  # noqa: E731
    L = ["### What was tried", "",
         f"The target is not met at this budget. The best result is `{name}` ({best.config['params']:,} "
         f"parameters): {late(best)}, final mean {statistics.fmean(best.finals()):.2f}%. What was tried for it:", "",
         f"- Searches: {len(at)} at this budget ("
         + ", ".join(f"{k} {v}" for k, v in sorted(strategies.items())) + f"), "
         f"{sum(len(s.succeeded) for s in at)} trained trials, "
         f"{sum(s.cpu_hours for s in at):.2f} CPU-hours of trial training (step 5)."]
    if rrs:
        L.append(f"- Re-ranks (`nas rerank`, complete ones): {len(rrs)} of those searches, "
                 f"{_n(len(candidates), 'candidate')}, {_n(trainings, 'training')} of "
                 f"{'/'.join(map(str, epochs))} epochs scored on the validation split.")
    if mine:
        L.append(f"- Recipe studies (`nas recipe`): {_n(len(mine), 'candidate')} ("
                 + ", ".join(f"`{trial}`" for trial, _ in mine) + "); variants of the defaults tried: "
                 + ", ".join(f"`{v}`" for v in variants) + ".")
    L.append(f"- Confirmations under the protocol: {len(done) + len(stopped)}, none meeting the target: "
             + "; ".join(f"`{n}` {late(r)}" + (f", final mean {statistics.fmean(r.finals()):.2f}%"
                                                 if budget == 20000 else "") for n, r in done)
             + ("; stopped once a seed had missed: " + ", ".join(f"`{n}`" for n in stopped) if stopped else "")
             + ".")
    return L + [""]


def _n(k: int, noun: str) -> str:
    return f"{k:,} {noun}" + ("" if k == 1 else "s")


def _study_trial(st: dict) -> str | None:
    """The search trial a recipe study trained: from its source arch.json (None when that is gone)."""
    src = Path(st["source"])
    return json.loads(src.read_text()).get("trial") if src.exists() else None


def _studies_of(rr: dict, studies: list) -> list[str]:
    """The recipe studies (`nas recipe`) of a re-rank's candidates, winning or not, with their cost."""
    lines = []
    for folder, st in studies:
        trial = _study_trial(st)
        if trial in {c["trial"] for c in rr["candidates"]}:
            runs = [r for v in st["variants"] if (r := Run.load(folder / v["variant"]))]
            lines += [f"Recipe study `{folder.as_posix()}` of `{trial}` ({st['params']:,} parameters; "
                      f"{st['epochs']} epochs, seeds {', '.join(map(str, st['seeds']))}; {st['rule']}; "
                      f"{training_cost(runs)}):", ""]
            lines += recipe_table(st) + [""]
    return lines


def training_cost(runs: list[Run]) -> str:
    """What training `runs` cost: CPU-hours (seconds x threads) and, for runs made on a GPU, GPU-hours
    (their seconds; several trainings shared the one GPU, so these overstate its use)."""
    cpu = sum(r.train_seconds * (r.config["train"].get("threads") or 1) for r in runs
              if r.config["train"].get("device", "cpu") == "cpu")
    gpu = [r for r in runs if r.config["train"].get("device", "cpu") == "cuda"]
    parts = [f"{cpu / 3600:.2f} CPU-hours of training, seconds x threads"] if not gpu or len(gpu) < len(runs) else []
    if gpu:
        names = sorted({r.config.get("device_name") or "a CUDA GPU" for r in gpu})
        parts.append(f"{sum(r.train_seconds for r in gpu) / 3600:.2f} hours of training on {', '.join(names)}, "
                     "several at once")
    return "; ".join(parts)


def _final_model(finalists: dict[str, Run]):
    """The smallest finalist that is consistent, else the one with the best mean final test accuracy."""
    done = [(n, r) for n, r in finalists.items() if r.complete]
    ok = [(n, r) for n, r in done if r.consistent]
    if ok:
        return min(ok, key=lambda nr: nr[1].config["params"])
    return max(done, key=lambda nr: statistics.fmean(nr[1].finals()), default=None)
