"""The results report: `<root>/README.md` and its figures, written from the run files (`nas report`).

Nothing in it is typed by hand. It reads the results model (nas/results/store.py), takes every decision
from nas/results/decide.py and draws with nas/reporting/figures.py; this module only writes markdown, in the seed's
own form (Target / Results / Analysis per step), one function a section.
"""
from __future__ import annotations

import functools
import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from nas.atomic import write_text
from nas.config import DATASETS, TrainConfig
from nas.data.datasets import NAMES
from nas.errors import ConfigError, ExportError
from nas.facts import (BUDGETS, BUDGET_TARGETS, LATE_EPOCHS, LATE_MEAN_GOALS, LATE_READINGS, PROTOCOL_EPOCHS,
                       PROTOCOL_SEEDS, RACE_MIN, RESULTS_ROOT, THRESHOLD, TRAIN_IMAGES)
from nas.reporting import figures
from nas.results import decide
from nas.results.decide import Finalist
from nas.results.store import (Layout, Run, Search, load_rerank, load_rungs, load_studies, recipe_of, rerank_seeds,
                               study_trial)
from nas.studies.proxy import schedule_from_study
from nas.training.runs import load_arch
from search_spaces.choices import network_key

SEED_TARGETS = {  # the seed's own words and numbers (../shared/seed), quoted
    "exp1": ("To create a simple model architecture under 20k parameters with no data augmentation or "
             "regularization.", 19552, 99.07, 98.99),
    "exp2": ("To make a model will less than 10k parameters.", 9032, 98.98, 98.85),
    "exp3": ("Add regularization to model (Batch Normalization and Dropout).", 9192, 99.19, 99.29),
    "exp4": ("Experiment with Image Augmentations and Learning Rates.", 9752, 98.86, 99.39),
}


@dataclass
class Inputs:
    """Everything the report reads, loaded once."""
    layout: Layout
    base: dict[str, Run | None]                    # the hand-made models under the protocol
    own: dict[str, Run | None]                     # ... under their own recipe from the seed
    other: dict[str, list[tuple[str, Run]]]        # ... under another recipe: (tag, run)
    searches: list[Search]
    by_budget: dict[str, list[tuple[str, Run]]]    # label -> confirmation runs, the current pick's first
    picks: dict[str, Finalist | None]
    no_pick: dict[str, str]                        # label -> why `nas finalist` has no pick
    studies: list[tuple[Path, dict]]
    multi: list[Search]                            # multi-fidelity searches (nas.engine.multifidelity), with rungs.json
    proxy: dict | None                             # the proxy study's table (nas.studies.proxy), if any

    @functools.cached_property
    def finalists(self) -> dict[str, Run]:
        return {name: run for runs in self.by_budget.values() for name, run in runs}

    @functools.cached_property
    def current(self) -> set[str]:
        """The confirmation runs of the current picks."""
        return {name for label, runs in self.by_budget.items() for name, run in runs
                if decide.is_pick(run, self.picks[label])}


def load_inputs(layout: Layout) -> Inputs:
    root = layout.root
    base = {n: Run.load(layout.baselines / n) for n in SEED_TARGETS}
    own = {n: Run.load(root / "baselines-own" / n) for n in SEED_TARGETS}
    other = {n: [(p.parent.name.removeprefix("baselines-"), r) for p in sorted(root.glob(f"baselines-*/{n}"))
                 if p.parent.name != "baselines-own" and (r := Run.load(p))] for n in SEED_TARGETS}
    searches = Search.load_all(layout.searches) if layout.searches.exists() else []
    by_budget, picks, no_pick = {}, {}, {}
    for label, budget in BUDGETS.items():
        runs = [(p.name, r) for p in sorted(layout.confirm.glob(f"{label}*"))
                if p.name == label or p.name.startswith(label + "-") if (r := Run.load(p))]
        try:
            picks[label] = decide.choose_finalist(layout, budget, searches)
        except (ExportError, OSError) as e:
            picks[label], no_pick[label] = None, str(e)
        by_budget[label] = sorted(runs, key=lambda nr: not decide.is_pick(nr[1], picks[label]))  # stable
    studies = load_studies(layout.recipe) if layout.recipe.exists() else []
    multi = Search.load_all(layout.searches, "asha") if layout.searches.exists() else []
    study = layout.proxy / "study.json"
    proxy = json.loads(study.read_text()) if study.exists() else None
    return Inputs(layout, base, own, other, searches, by_budget, picks, no_pick, studies, multi, proxy)


def write_report(root: str | Path = RESULTS_ROOT, data_dir: str | None = None, pictures: bool = True) -> Path:
    """Regenerate `<root>/README.md` (and the PNGs under `<root>/figures/`) from the run files."""
    inp = load_inputs(Layout.at(root))
    L = header() + summary(inp)
    for i, name in enumerate(SEED_TARGETS, 1):
        L += handmade_step(i, name, inp)
    L += searches_step(inp, pictures)
    for i, (label, budget) in enumerate(BUDGETS.items(), 6):
        L += budget_step(i, label, budget, inp)
    L += proxy_step(inp)
    L += multi_step(inp)
    L += datasets_step(inp)
    L += looks_section(inp)
    L += pictures_section(inp, data_dir) if pictures else []
    L += rerunning()
    write_text(inp.layout.root / "README.md", "\n".join(L))
    return inp.layout.root / "README.md"


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def recipe_words(recipe: dict) -> str:
    return "the defaults" if not recipe else "the defaults with " + ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in recipe.items())


def _n(k: int, noun: str) -> str:
    return f"{k:,} {noun}" + ("" if k == 1 else "s")


def _late_cell(values: list[float]) -> str:
    """Late validation accuracies, LATE_EPOCHS per seed, seeds separated by ';'."""
    seeds = [values[i:i + LATE_EPOCHS] for i in range(0, len(values), LATE_EPOCHS)]
    return "; ".join(" / ".join(f"{v:.2f}" for v in s) for s in seeds)


def _seed_words(rr: dict) -> str:
    seeds = rerank_seeds(rr)
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds)) + " each"


def _pick_words(pick: Finalist | None) -> str:
    """' (`TRIAL` of `SEARCH`, recipe ...)' naming a finalist pick, or '' when there is none."""
    if pick is None or not pick.arch.exists():
        return ""
    trial = json.loads(pick.arch.read_text()).get("trial", pick.arch.parent.name)
    return f" (`{trial}` of `{pick.experiment}`, recipe: {recipe_words(recipe_of(pick.recipe))})"


def training_cost(runs: list[Run]) -> str:
    """CPU-hours (seconds x threads) and, for runs on a GPU, GPU-hours (their seconds; several
    trainings shared the one GPU, so these overstate its use)."""
    cpu = sum(r.train_seconds * (r.config["train"].get("threads") or 1) for r in runs if not r.on_gpu)
    gpu = [r for r in runs if r.on_gpu]
    parts = [f"{cpu / 3600:.2f} CPU-hours of training, seconds x threads"] if not gpu or len(gpu) < len(runs) else []
    if gpu:
        names = sorted({r.config.get("device_name") or "a CUDA GPU" for r in gpu})
        parts.append(f"{sum(r.train_seconds for r in gpu) / 3600:.2f} hours of training on {', '.join(names)}, "
                     "several at once")
    return "; ".join(parts)


def results_table(run: Run) -> list[str]:
    """The Results block of one run: parameters, FLOPs, best and last-3 accuracies, verdict."""
    t = run.config["train"]
    lines = [f"`{run.path.as_posix()}`: {run.params:,} parameters, {run.config['flops']:,} FLOPs; "
             f"{t['epochs']} epochs, {t['optimizer']} lr {t['lr']:g} {t['schedule']}, batch {t['batch_size']}, "
             f"augment {'on' if t['augment'] else 'off'}, seeds {run.config['seeds']}; "
             f"recipe: {recipe_words(run.recipe)}; "
             f"training time {run.train_seconds / 3600:.2f} h summed over the seeds shown "
             + (f"(on {run.config.get('device_name') or 'a CUDA GPU'}, several seeds at once)" if run.on_gpu
                else f"({t.get('threads') or '?'} CPU thread(s) each)"),
             "", f"| seed | best train | best test | last-{LATE_EPOCHS} test | final train | final test |",
             "| --- | --- | --- | --- | --- | --- |"]
    for seed, h in sorted(run.histories.items()):
        l3 = " / ".join(f"{r['test_acc']:.2f}" for r in h[-LATE_EPOCHS:])
        lines.append(f"| {seed} | {max(r['train_acc'] for r in h):.2f} | {max(r['test_acc'] for r in h):.2f} | "
                     f"{l3} | {h[-1]['train_acc']:.2f} | {h[-1]['test_acc']:.2f} |")
    if run.histories:
        l3 = run.late()
        m, s = mean_std(l3)
        fm, fs = mean_std(run.finals())
        lines += ["", f"Last-3-epoch test accuracy over all seeds: min {min(l3):.2f}%, mean {m:.2f}%, "
                      f"std {s:.2f}. Final-epoch test accuracy: mean {fm:.2f}% (std {fs:.2f}).",
                  f"Verdict: {decide.verdict(run)}."]
    return lines


def analysis(run: Run) -> list[str]:
    """Measured facts only: train-test gap, over/underfitting, the trend of the last epochs."""
    if not run.histories:
        return []
    train_final, _ = mean_std(run.finals("train_acc"))
    test_final, _ = mean_std(run.finals())
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
    if len(curve) > LATE_EPOCHS:
        late = curve[-1] - curve[-1 - LATE_EPOCHS]
        lines.append(f"- Mean test accuracy moved {late:+.2f} points over the last {LATE_EPOCHS} epochs"
                     + (" (still rising: more epochs would likely help)" if late > 0.1 else " (converged)") + ".")
    return lines


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


def studies_of(rr: dict, studies: list) -> list[str]:
    """The recipe studies of a re-rank's candidates, winning or not, with their cost."""
    lines = []
    for folder, st in studies:
        trial = study_trial(st)
        if trial in {c["trial"] for c in rr["candidates"]}:
            runs = [r for v in st["variants"] if (r := Run.load(folder / v["variant"]))]
            lines += [f"Recipe study `{folder.as_posix()}` of `{trial}` ({st['params']:,} parameters; "
                      f"{st['epochs']} epochs, seeds {', '.join(map(str, st['seeds']))}; {st['rule']}; "
                      f"{training_cost(runs)}):", ""]
            lines += recipe_table(st) + [""]
    return lines


def learnt_from(s: Search) -> str:
    if s.heard is None:
        return "- (does not learn)"
    return f"{s.heard} of {len(s.succeeded)}" + (" (blind)" if s.heard == 0 and s.succeeded else "")


def search_table(searches: list[Search]) -> list[str]:
    lines = ["| experiment | strategy | budget | trials (ok / failed / other) | strategy learnt from | proxy | "
             "best val | params of best | trial CPU-hours | wall hours (a trial running) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in searches:
        ok = len(s.succeeded)
        failed = sum(t.status == "FAILED" for t in s.trials)
        b = s.best()
        rec = s.record["search"]
        limits = [f"fixed {rec['fix']}"] if rec.get("fix") else []
        limits += [f">= {rec['min_params']:,} params"] if rec.get("min_params") else []
        limits += [f"<= {rec['max_flops']:,} FLOPs"] if rec.get("max_flops") else []
        lines.append(f"| `{s.id}` | {rec['strategy']}{' (' + '; '.join(limits) + ')' if limits else ''} | "
                     f"{s.budget:,} | {ok} / {failed} / {len(s.trials) - ok - failed} | {learnt_from(s)} | "
                     f"{s.record['train']['epochs']} ep x {s.epoch_images:,} img | "
                     + (f"{b.val_acc:.2f}% | {b.final['params']:,}" if b else "- | -")
                     + f" | {s.cpu_hours:.2f} | {s.wall_hours:.2f} |")
    return lines


def header() -> list[str]:
    t = TrainConfig()
    return ["# Results", "",
            "Generated by `nas report` from the run files in this folder; do not edit by hand (re-run it).", "",
            f"**Protocol**, fixed before any run: architectures are chosen on the {t.val_size:,}-image validation "
            f"split only. Confirmation trains on all {TRAIN_IMAGES['mnist']:,} training images for at most "
            f"{PROTOCOL_EPOCHS} epochs with {_seed_range(PROTOCOL_SEEDS)} "
            f"and one recipe for every architecture (the `TrainConfig` defaults: SGD with Nesterov momentum {t.momentum:g}, "
            f"OneCycle to lr {t.lr:g}, batch {t.batch_size}, weight decay {_sci(t.weight_decay)}, random rotation "
            f"+-{t.max_degrees:g} degrees and shift +-{t.max_shift:g} pixels), "
            "unless a recipe study (`nas recipe`) chose another on the validation split: each run's Results line "
            "names its recipe, and a step that uses another says why. "
            f"*Consistently >= {THRESHOLD:.2f}%* means the test accuracy of each of the last {LATE_EPOCHS} epochs of "
            f"every seed is >= {THRESHOLD:.2f}%: {LATE_READINGS} numbers, all of them.", ""]


def _sci(x: float) -> str:
    """1e-4, not 0.0001 or 1e-04."""
    return f"{x:.0e}".replace("e-0", "e-")


def _seed_range(seeds) -> str:
    return f"seeds {seeds[0]}-{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else \
        "seeds " + ", ".join(map(str, seeds))


def summary(inp: Inputs) -> list[str]:
    """One row a confirmed run (or a pick not run yet), step by step."""
    L = ["## Summary", "", "| step | model | params | FLOPs | last-3 test min | last-3 mean (std) | final mean | verdict |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    rows = [row for i, (n, r) in enumerate(inp.base.items(), 1)
            for row in [(f"{i}", n, r, None)] + [(f"{i}", f"{n} (recipe `{tag}`)", o, None) for tag, o in inp.other[n]]]
    current = inp.current
    for i, label in enumerate(BUDGETS, 6):
        runs = inp.by_budget[label]
        rows += [(f"{i}", f"{label} finalist (`{name}`)" if name in current else
                  f"{label} earlier finalist (`{name}`)", run, None) for name, run in runs]
        if not runs or runs[0][0] not in current:
            pick = inp.picks[label]
            rows.append((f"{i}", f"{label} finalist" + (_pick_words(pick) if pick else " (no pick yet: see its step)"),
                         None, pick.arch if pick else None))
    for step, name, r, arch_file in rows:
        if r is None or not r.histories:
            arch = json.loads(arch_file.read_text()) if arch_file is not None and arch_file.exists() else {}
            size = "".join(f"{arch[k]:,} | " if isinstance(arch.get(k), int) else "| " for k in ("params", "flops"))
            L.append(f"| {step} | {name} | {size}| | | not run yet |")
            continue
        m, s = mean_std(r.late())
        L.append(f"| {step} | {name} | {r.params:,} | {r.config['flops']:,} | {min(r.late()):.2f} | "
                 f"{m:.2f} ({s:.2f}) | {statistics.fmean(r.finals()):.2f} | {decide.verdict(r).split(':')[0]} |")
    return L + [""]


def handmade_step(i: int, name: str, inp: Inputs) -> list[str]:
    """A hand-made experiment of the seed: its target, and its runs under each recipe."""
    target, sp, s_train, s_test = SEED_TARGETS[name]
    base = inp.base[name]
    L = [f"## Step {i}: hand-made experiment {name[-1]}", "", "### Target",
         f"The seed's: \"{target}\" The seed reported {sp:,} parameters, best train {s_train:.2f}%, "
         f"best test {s_test:.2f}% (one run, up to 20 epochs).", "", "### Results"]
    for title, run, cmd in (("Under the protocol", base, f"nas baselines --names {name} --epochs 15 "
                             "--seeds 0,1,2,3,4 --set val_size=0 --jobs 2"),
                            ("Under its own recipe from the seed", inp.own[name], f"nas baselines --names {name} "
                             "--own-recipe --seeds 0,1,2,3,4 --set val_size=0 --jobs 2 --out results/baselines-own")):
        L += ["", f"**{title}** (`{cmd}`):", ""]
        L += results_table(run) if run and run.histories else ["Not run yet."]
    for tag, run in inp.other[name]:
        sets = " ".join(f"--set {k}={v}" for k, v in run.recipe.items())
        L += ["", f"**Under the protocol with recipe `{tag}`** (`nas baselines --names {name} --epochs 15 "
                  f"--seeds 0,1,2,3,4 --set val_size=0 {sets} --jobs 2 --out results/baselines-{tag}`):", ""]
        L += results_table(run)
    L += ["", "### Analysis"]
    L += analysis(base) if base and base.histories else ["- No protocol run yet."]
    if base and base.complete:
        L.append(f"- Consistently >= {THRESHOLD:.2f}%: {'yes' if decide.consistent(base) else 'no'}.")
    for tag, run in inp.other[name]:
        if run.complete:
            L.append(f"- With recipe `{tag}` ({recipe_words(run.recipe)}): consistently >= "
                     f"{THRESHOLD:.2f}%: {'yes' if decide.consistent(run) else 'no'} (lowest late test accuracy "
                     f"{min(run.late()):.2f}%, mean {statistics.fmean(run.late()):.2f}%).")
    return L + [""]


def searches_step(inp: Inputs, pictures: bool) -> list[str]:
    searches = inp.searches
    L = ["## Step 5: searches", "", "### Target",
         "NNI searches with two strategies at budgets of 20,000, 8,000 and 4,000 parameters "
         "(`bash experiments/searches.sh`). Each trial trains a short proxy of the recipe and is scored on "
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
        inp.layout.figures.mkdir(exist_ok=True)
        figures.pareto_png(searches, {n: r for n, r in inp.base.items() if r}, inp.finalists, inp.current,
                           inp.layout.figures / "pareto.png")
        L += ["", "![Parameters against test accuracy](figures/pareto.png)", "",
              "Grey: every successful trial at its proxy training (test accuracy reported by the trial, never "
              "used to choose). Squares and stars: mean final test accuracy of the 5 confirmation seeds."]
    return L + ["", "### Analysis"] + searches_analysis(searches) + [""]


def searches_analysis(searches: list[Search]) -> list[str]:
    L = []
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
                 + ", ".join(f"`{s.id}` ({learnt_from(s)})" for s in blind) + ". In these searches the `Replay` "
                 "middleware (nas/engine/replay.py, used for resume) kept NNI's model events from reaching the strategy "
                 "(fixed since: CHANGELOG.md), "
                 "so evolution and TPE never heard a trained trial's score: evolution bred from the candidates the "
                 "budget gate had rejected (score 0) or crashed when there were none (`s20k-evolution`), and TPE "
                 "sampled from its prior. Those searches are random searches in effect; their trials and "
                 "scores are real.")
    return L


def budget_step(i: int, label: str, budget: int, inp: Inputs) -> list[str]:
    """A budget's finalist: how it was chosen, its confirmation, and what was tried if it missed."""
    runs, pick = inp.by_budget[label], inp.picks[label]
    current = inp.current
    L = [f"## Step {i}: finalist under {budget:,} parameters", "", "### Target", BUDGET_TARGETS[budget] + ".", ""]
    if label in inp.no_pick:
        L += ["### Results", "", f"`nas finalist --max-params {budget}` has no pick at present: "
              f"{inp.no_pick[label]}." + (" The runs below are the earlier finalists'." if runs else ""), ""]
    elif not runs or runs[0][0] not in current:
        L += ["### Results", "", "The current pick of `nas finalist --max-params "
              f"{budget}`{_pick_words(pick)} is not confirmed yet (`bash experiments/confirmations.sh`).", ""]
    for name, run in runs:
        L += finalist_block(name, run, name in current, budget, pick, runs, current, inp)
    tried = decide.what_was_tried(budget, runs, inp.searches, inp.layout, inp.studies)
    return L + (tried_section(budget, tried) if tried else [])


def _how_chosen(run: Run, meta: dict, pick: Finalist, rr: dict | None, is_current: bool,
                runs: list[tuple[str, Run]], current: set[str]) -> tuple[str, str | None]:
    """(how this run's architecture was chosen, why a recipe study or None), in words."""
    if is_current and rr is not None and pick.study is not None:
        top = rr["candidates"][0]
        how = (f"The best (architecture, recipe) pair on the validation split at this budget. The re-rank of "
               f"`{rr['experiment']}` (`nas rerank`, first table) trained its {len(rr['candidates'])} candidates "
               f"under the default recipe for {rr['train']['epochs']} epochs with {_seed_words(rr)}; its best, "
               f"`{top['trial']}`, scored {top['score']:.3f} ({rr['rule']}). The recipe study of `{meta.get('trial')}` "
               f"(`nas recipe`, second table; `bash experiments/recipe.sh`) trained that candidate under "
               f"each recipe variant with the same seeds, epochs and validation split; its pick `{pick.variant}` "
               f"({recipe_words(pick.recipe)}) scored {pick.score:.3f}, above the re-rank's best, so the "
               f"finalist is `{meta.get('trial')}` trained with that recipe; the test accuracy plays no part")
        missed = [(n, r) for n, r in runs if n not in current and r.complete and not decide.consistent(r)
                  and not r.recipe]
        why = ("Why a study: the earlier finalists at this budget, confirmed under the defaults, were not "
               "consistent (" + ", ".join(f"`{n}` lowest late test accuracy {min(r.late()):.2f}%"
                                          for n, r in missed) + ").") if missed else ""
        return how, why
    if rr is not None and rr["pick"] == meta.get("trial"):
        return (f"The winner of the re-rank of `{rr['experiment']}` (`nas rerank`): its {len(rr['candidates'])} "
                f"trials within {rr['within']} points of the best proxy score, trained for "
                f"{rr['train']['epochs']} epochs with {_seed_words(rr)} on the training split and ranked by the "
                f"{rr['rule']}; the test accuracy plays no part"), None
    if is_current:
        return "The best trial by validation accuracy over the searches at this budget with the longest proxy", None
    return "An earlier finalist, the pick of `nas finalist` before later searches or re-ranks at this budget", None


def finalist_block(name: str, run: Run, is_current: bool, budget: int, pick: Finalist | None,
                   runs: list[tuple[str, Run]], current: set[str], inp: Inputs) -> list[str]:
    """One confirmation run at a budget: the current pick's (with its second stage) or an earlier one."""
    src = run.config.get("source", "")
    meta = json.loads(Path(src).read_text()) if src and Path(src).exists() else {}
    proxy = (f" Its proxy validation accuracy in the search was {meta['metrics']['default']:.2f}% "
             f"(trial `{meta.get('trial', '?')}`)." if meta else "")
    rr = load_rerank(inp.layout.rerank, pick.experiment) if is_current else None
    how, why = _how_chosen(run, meta, pick, rr, is_current, runs, current)
    race = (load_rungs(inp.layout.searches, pick.experiment) or {}).get("outcome") \
        if is_current and meta.get("metrics", {}).get("rung") is not None else None
    if race:  # a multi-fidelity search's pick: chosen by its race at the full schedule, not by a proxy
        how = (f"The pick of the race of the multi-fidelity search `{pick.experiment}` (its rungs and race are under "
               f"Step 10): late-validation mean {race['mean']:.3f} over seeds "
               + ",".join(map(str, race["seeds"])) + " at the full schedule, raced against the controls "
               + ", ".join(f"`{n}`" for n in race["controls"]) + "; the test accuracy plays no part")
        proxy = ""
    L = [] if is_current else [f"### Earlier finalist `{name}`", ""]
    pinned = next((x.record["search"].get("fix") for x in inp.searches if x.id == meta.get("experiment")), "")
    pinned = f" That search pinned `{pinned}`; the strategy chose the rest." if pinned else ""
    L += [f"{how}: `{src}`.{proxy}{pinned}", f"Architecture: `{json.dumps(run.config['arch'])}`", ""]
    L += [why, ""] if why else []
    L += rerank_table(rr, "re-rank's pick" if why is not None else "pick") + [""] if rr is not None else []
    if is_current and rr is not None:  # the recipe studies of this search's candidates, winning or not
        L += studies_of(rr, inp.studies)
    if is_current and pick.rivals:  # the other searches with as long a proxy: their second stage lost
        L += ["The other searches at this budget with as long a proxy, re-ranked the same way, scored lower "
              "on validation (" + ", ".join(f"`{t}`" + (f" with recipe `{v}`" if v else "") + f" of `{e}`: {sc:.3f}"
                                            for e, t, v, sc in pick.rivals)
              + "); their re-ranks and recipe studies:", ""]
        for e, *_ in pick.rivals:
            other_rr = load_rerank(inp.layout.rerank, e)
            L += [f"Re-rank of `{e}`:", ""] + rerank_table(other_rr) + [""] + studies_of(other_rr, inp.studies)
    L += ["### Results" if is_current else "**Results**", ""]
    L += results_table(run)
    L += ["", "### Analysis" if is_current else "**Analysis**"] + analysis(run)
    return L + [f"- Target met: {decide.target_met(budget, run)[1]}.", ""]


def tried_section(budget: int, t: decide.Tried) -> list[str]:
    """Its best result and everything tried for a budget whose target is missed, counted."""
    name, best = t.best
    late = lambda r: f"late mean {statistics.fmean(r.late()):.2f}%, lowest {min(r.late()):.2f}%"  # noqa: E731
    L = ["### What was tried", "",
         f"The target is not met at this budget. The best result is `{name}` ({best.params:,} "
         f"parameters): {late(best)}, final mean {statistics.fmean(best.finals()):.2f}%. What was tried for it:", "",
         f"- Searches: {len(t.searches)} at this budget ("
         + ", ".join(f"{k} {v}" for k, v in sorted(t.strategies.items())) + f"), "
         f"{sum(len(s.succeeded) for s in t.searches)} trained trials, "
         f"{sum(s.cpu_hours for s in t.searches):.2f} CPU-hours of trial training (step 5)."]
    if t.reranks:
        L.append(f"- Re-ranks (`nas rerank`, complete ones): {len(t.reranks)} of those searches, "
                 f"{_n(len(t.candidates), 'candidate')}, {_n(t.trainings, 'training')} of "
                 f"{'/'.join(map(str, t.rerank_epochs))} epochs scored on the validation split.")
    if t.studies:
        L.append(f"- Recipe studies (`nas recipe`): {_n(len(t.studies), 'candidate')} ("
                 + ", ".join(f"`{trial}`" for trial, _ in t.studies) + "); variants of the defaults tried: "
                 + ", ".join(f"`{v}`" for v in t.variants) + ".")
    L.append(f"- Confirmations under the protocol: {len(t.confirmed) + len(t.stopped)}, none meeting the target: "
             + "; ".join(f"`{n}` {late(r)}" + (f", final mean {statistics.fmean(r.finals()):.2f}%"
                                                 if budget == 20000 else "") for n, r in t.confirmed)
             + ("; stopped once a seed had missed: " + ", ".join(f"`{n}`" for n in t.stopped) if t.stopped else "")
             + ".")
    return L + [""]


def _full_cost_words(st: dict) -> str:
    """What a full training costs on the CPU in the proxy study, and how that was found."""
    words = ""
    if st.get("full_seconds_median"):
        how = ("median, 1 thread" if st.get("full_seconds_from", "measured") == "measured"
               else "1 thread, estimated at the pace of the 55,000-image proxies")
        words = f"; a full training takes {st['full_seconds_median'] / 60:.1f} min ({how})"
    if st.get("not_on_cpu"):
        words += f"; {st['not_on_cpu']} trainings ran on a GPU (their scores count, their seconds do not)"
    return words


def proxy_step(inp: Inputs) -> list[str]:
    """The proxy study: each rung-0 proxy's rank correlation with the full schedule, and its cost."""
    st = inp.proxy
    if st is None:
        return []

    L = ["## Step 9: which short training ranks like the full one (the proxy study)", "", "### Target",
         "Choose the multi-fidelity search's rung-0 proxy from evidence (nas/studies/proxy.py states the rules, fixed "
         "before the study ran): architectures drawn at random from the space (BatchNorm on, "
         f"{st['rules']['min_params']:,}-{st['rules']['max_params']:,} parameters), each trained with the full "
         f"schedule (seeds {', '.join(map(str, st['rules']['seeds']))}) and with every candidate proxy.", "",
         "### Results", "",
         f"`nas proxy-study` ({st['cpu']}): {st['complete']} of {st['archs']} architectures have both full runs"
         + _full_cost_words(st) + ".", ""]
    if st["complete"] < 3:
        return L + ["Too few finished architectures for a correlation yet.", ""]
    ceiling = st["ceiling_seed0_vs_seed1"]
    L += [f"Ceiling: the full schedule's own seed 0 and seed 1 agree with Spearman rho {ceiling:+.2f}; no proxy can "
          "be expected to rank better than a second full run.", "",
          "| proxy | cost (share of a full training) | Spearman, all | Spearman, better half | top-5 kept in top third |",
          "| --- | --- | --- | --- | --- |"]
    fmt = lambda v, f="{:+.2f}": "-" if v is None else f.format(v)  # noqa: E731
    for r in st["rows"]:
        cost = "free" if r["cost"] in (None, 0.0) else f"{r['cost']:.3f}"
        L.append(f"| {r['proxy']} | {cost} | {fmt(r['spearman'])} | {fmt(r['spearman_top_half'])} | "
                 f"{fmt(r['top5_recall'], '{:.0%}')} |")
    rungs = schedule_from_study(st)
    L += ["", "![Spearman against cost per proxy](proxy/proxy.png)" if (inp.layout.proxy / "proxy.png").exists() else "",
          "", "### Analysis"]
    if rungs:
        L.append("- By the rule fixed in advance, the rungs before the full schedule are: " + "; ".join(
            f"{r['epochs']} epochs on {r['images']:,} images read as {r['reading']} (rho {r['spearman']:+.2f}, "
            f"cost {r['cost']:.3f})" for r in rungs) + ".")
    if st["complete"] < st["archs"]:
        L.append(f"- Partial: {st['archs'] - st['complete']} architectures still lack a full run; "
                 "`nas proxy-study` continues the study.")
    return L + [""]


def _short(key: str, trials: list, seeds: dict | None = None) -> str:
    """A candidate by the trial its export is named after (its highest rung, lowest seed there:
    nas.results.store.rank), and by its name if it is a warm-start seed (`seeds`: key -> name); a control
    by its name."""
    if key.startswith("control:"):
        return f"control `{key.removeprefix('control:')}`"
    mine = [t for t in trials if t.final.get("key") == key and t.final.get("rung") is not None]
    name = f" (warm start `{seeds[key]}`)" if seeds and key in seeds else ""
    return (f"`{min(mine, key=lambda t: (-t.final['rung'], t.final['seed'])).id}`" if mine else "?") + name


def warm_seeds(search: dict) -> dict[str, str]:
    """network key -> name of each reference model a search's evolution started from (`--warm-start`;
    an arch.json path that is not on this machine is left out)."""
    out = {}
    for spec in (search.get("warm_start") or "none").split(","):
        try:
            name, arch, _ = load_arch(spec)
        except ConfigError:  # "none", or a path elsewhere
            continue
        out[network_key(arch)] = name
    return out


def multi_step(inp: Inputs) -> list[str]:
    """Each multi-fidelity search: its rungs, the race at the last one with its controls, its pick."""
    if not inp.multi:
        return []
    L = ["## Step 10: multi-fidelity searches", "", "### Target",
         "A search that beats the hand-made model on validation at equal fidelity: rungs of rising fidelity, "
         "the best 1/eta promoted, and a race at the full schedule with paired seeds in which the hand-made "
         "models run as controls. No rule here reads the test set.", "", "### Results", ""]
    for s in inp.multi:
        L += race_block(s) + race_on_test(inp, s)
    return L + seed_noise(inp.layout.root / "seeds" / "study.json") + multi_analysis(inp)


def _confirmation(inp: Inputs, key: str) -> tuple[str, Run] | None:
    """(name, run) of a complete run under the default recipe that trained the network `key`: a
    hand-made baseline or a budget's finalist."""
    runs = [(n, r) for n, r in list(inp.base.items()) + list(inp.finalists.items())
            if r is not None and r.complete and not r.recipe]
    return next(((n, r) for n, r in runs if network_key(r.config["arch"]) == key), None)


def multi_analysis(inp: Inputs) -> list[str]:
    """Per finished multi-fidelity search: does its pick beat each control in the race
    (decide.beats_control), what the fresh seeds say, and whether its one confirmation meets the
    search's test goal (decide.search_goal)."""
    L = []
    for s in inp.multi:
        doc = load_rungs(s.folder, s.id)
        o = (doc or {}).get("outcome")
        if not o:
            continue
        mine = _params(s.trials, o["pick"])
        parts = []
        for c, v in o["controls"].items():
            theirs = _params(s.trials, f"control:{c}")
            won = decide.beats_control(v["gap"], len(v["seeds"]), mine, theirs)
            parts.append(f"`{c}` ({_count(theirs)} parameters): {v['gap']:+.3f} over {len(v['seeds'])} paired seeds, "
                         f"{v['verdict']}; " + ("beats it" if won else "does not beat it"))
        line = f"- `{s.id}`: its pick ({_count(mine)} parameters) against " + "; against ".join(parts) + "."
        if fresh := o.get("fresh"):
            line += (" On the fresh seeds: " + "; ".join(f"`{c}` {v['gap']:+.3f}, {v['verdict']}"
                                                          for c, v in fresh["controls"].items()) + ".")
        found = _confirmation(inp, o["pick"])
        line += (f" Its confirmation `{found[0]}`: " + decide.search_goal(s.record["search"]["max_params"], found[1])[1]
                 + "." if found else " Not confirmed under the protocol yet.")
        L.append(line)
    if not L:
        return []
    return ["### Analysis", "",
            f"A pick beats a control when its paired late-validation mean over at least {RACE_MIN} "
            "seeds is higher and it has fewer parameters; the race's verdict says whether the gap is beyond "
            "seed noise. The test goal of a confirmed pick: "
            + ", ".join(f"a late test mean >= {g:.2f}% at {b:,} parameters" for b, g in LATE_MEAN_GOALS.items())
            + ", consistency at the other budgets.", ""] + L + [""]


def race_on_test(inp: Inputs, s: Search) -> list[str]:
    """The race's pick and its controls side by side under the protocol, once the pick is confirmed:
    what the race said on validation against what the test set says (each confirmation one look)."""
    o = (load_rungs(s.folder, s.id) or {}).get("outcome")
    if not o:
        return []
    pick = _confirmation(inp, o["pick"])
    if pick is None:
        return []

    def words(name: str, run: Run) -> str:
        return (f"`{name}` late test mean {statistics.fmean(run.late()):.2f}% (lowest {min(run.late()):.2f}%, "
                + ("consistent" if decide.consistent(run) else "not consistent") + ")")

    L = [words(*pick)]
    gaps = []
    for c, v in o["controls"].items():
        if (found := _confirmation(inp, network_key(load_arch(c)[1]))) is not None:
            L.append(words(*found))
            gaps.append(f"`{c}` {statistics.fmean(pick[1].late()) - statistics.fmean(found[1].late()):+.2f} "
                        f"(on validation {v['gap']:+.3f})")
    return [f"Under the protocol (all {TRAIN_IMAGES['mnist']:,} training images, {_seed_range(PROTOCOL_SEEDS)}, "
            "one look at the test set each): "
            + "; ".join(L) + "." + (" Pick minus control, late test mean: " + ", ".join(gaps) + "." if gaps else ""), ""]


def seed_noise(path: Path) -> list[str]:
    """The seed-noise study of the 8k search's full rung (nas/studies/seed_noise.py), if it ran."""
    if not path.exists():
        return []
    st = json.loads(path.read_text())
    m = st["models"]
    long = {n: v for n, v in m.items() if v["seeds"] >= 5}
    sds = [v["sd"] for v in long.values()]
    two = f"seeds {st['seeds'][0]}-{st['seeds'][1]}" if len(st.get("seeds", [])) > 1 else "seeds"
    if "change_top4_all_seeds" in st:
        warm = st.get("top4_warm_start") or []
        fall = ("the 4 it ranked best (controls aside: " + ", ".join(f"`{n}`" for n in st["top4"])
                + ("; " + " and ".join(f"`{n}`" for n in warm)
                   + (" are reference designs" if len(warm) > 1 else " is a reference design")
                   + " the warm start began from, not searched networks" if warm else "")
                + f") moved {st['change_top4_searched']:+.3f} points on fresh {two} and "
                f"{st['change_top4_all_seeds']:+.3f} over all their fresh seeds, the controls "
                f"{st['change_controls']:+.3f} and {st['change_controls_all_seeds']:+.3f}: the 4 fell "
                f"{st['change_controls'] - st['change_top4_searched']:.3f} points further than the controls on two "
                f"seeds, {st['change_controls_all_seeds'] - st['change_top4_all_seeds']:.3f} over all.")
    else:
        fall = (f"the 4 it ranked best (controls aside) moved {st['change_top4_searched']:+.3f} points on fresh "
                f"{two}, the controls {st['change_controls']:+.3f}.")
    return ["Seed noise at the full rung (`results/seeds/table.md`, from `python -m nas.studies.seed_noise table`; "
            "validation only, it decides nothing): over 8 fresh seeds the late validation of "
            + ", ".join(f"`{n}` is {v['mean']:.3f} +- {v['sd']:.3f}" for n, v in long.items())
            + f" (SD {min(sds):.2f}-{max(sds):.2f}). On {st['models_compared']} networks the full rung's two seeds "
            f"rank like two fresh ones with Spearman {st['spearman_rung_vs_fresh']:.2f}; " + fall, ""]


def _overrun(doc: dict) -> str:
    """How far a search ran past its CPU budget: what has started when the budget runs out (the race
    included) finishes its schedule."""
    budget, spent = doc.get("budget_cpu_hours"), doc["spent_cpu_hours"]
    if not budget or spent <= budget:
        return ""
    return f", {spent - budget:.2f} past its {budget:g}-hour budget"


def _entrant(doc: dict, trials: list, key: str) -> tuple[str, str]:
    """A race entrant's parameter count and its own late-validation mean over the race's seeds (the
    fresh seeds after it are reported apart), as table cells."""
    last, cap = len(doc["rungs"]) - 1, doc.get("race_cap", float("inf"))
    scores = [j["score"] for j in doc["jobs"]
              if j["key"] == key and j["rung"] == last and j["seed"] < cap and j["score"] is not None]
    return _count(_params(trials, key)), (f"{statistics.fmean(scores):.3f}" if scores else "-")


def _params(trials: list, key: str) -> int | None:
    """A network's parameter count, as its trials reported it (None if none did)."""
    return next((t.final["params"] for t in trials if t.final.get("key") == key and "params" in t.final), None)


def _count(n: int | None) -> str:
    return f"{n:,}" if n else "-"


def race_block(s: Search) -> list[str]:
    """One multi-fidelity search: its rungs, then the race at the last one with its controls."""
    doc = load_rungs(s.folder, s.id)
    if doc is None:
        return []
    cfg = s.record["search"]
    seeds = warm_seeds(cfg)
    L = [f"`{s.id}` (`nas search --max-params {cfg['max_params']} --strategy {cfg['strategy']}"
         + (f" --cpu-hours {cfg['cpu_hours']:g}" if cfg.get("cpu_hours") else f" --trials {cfg['trials']}")
         + (f" --fix {cfg['fix']}" if cfg.get("fix") else "")
         + (" --search-recipe" if cfg.get("search_recipe") else "")
         + (f" --warm-start {cfg['warm_start']}" if cfg.get("warm_start", "none") != "none" else "")
         + f" --rungs {cfg['rungs']}" + (f" --fresh-seeds {cfg['fresh_seeds']}" if cfg.get("fresh_seeds") else "")
         + f"`): {doc['started']} candidates of {doc['candidates']} planned, "
         f"{len(doc['jobs'])} trainings, {doc['spent_cpu_hours']:.2f} CPU-hours" + _overrun(doc) + ".", "",
         "| rung | epochs x images x seeds | reading | candidates finished | best score |",
         "| --- | --- | --- | --- | --- |"]
    for k, r in enumerate(doc["rungs"]):
        done: dict[str, list] = {}
        for j in doc["jobs"]:
            if j["rung"] == k and j["score"] is not None and not j["key"].startswith("control:"):
                done.setdefault(j["key"], []).append(j["score"])
        full = [statistics.fmean(v) for v in done.values() if len(v) >= len(r["seeds"])]
        L.append(f"| {k} | {r['epochs']} x {r['images']:,} x {len(r['seeds'])} | {r['reading']} | {len(full)} | "
                 + (f"{max(full):.3f}" if full else "-") + " |")
    o = doc.get("outcome")
    if o is None:
        base = len(doc["rungs"][-1]["seeds"])
        last = len(doc["rungs"]) - 1
        raced = Counter(j["seed"] for j in doc["jobs"] if j["rung"] == last and j["seed"] >= base)
        L += ["", "The schedule has not finished: `nas resume " + s.id + "` continues it."
              + (" The race has trained " + ", ".join(f"seed {sd} for {n} entrants" for sd, n in sorted(raced.items()))
                 + "." if raced else ""), ""]
        return L
    L += ["", "The race at the last rung (late-validation accuracy, mean over the seeds it trained; gaps "
          "paired over the shared seeds, one-sided t-test at alpha " + f"{doc['alpha']:g}):", "",
          "| entrant | params | seeds | late-validation mean | pick minus entrant, paired | verdict |",
          "| --- | --- | --- | --- | --- | --- |",
          f"| **pick** {_short(o['pick'], s.trials, seeds)} | {_entrant(doc, s.trials, o['pick'])[0]} | "
          f"{len(o['seeds'])} | {o['mean']:.3f} +- {o['half_width']:.3f} | - | - |"]
    runner = o["runner_up"]
    rivals = ([("runner-up " + _short(runner["key"], s.trials, seeds), runner["key"], runner)] if runner else []) \
        + [(f"control `{n}`", f"control:{n}", v) for n, v in o["controls"].items()]
    for name, key, v in rivals:
        params, mean = _entrant(doc, s.trials, key)
        L.append(f"| {name} | {params} | {len(v['seeds'])} | {mean} | {v['gap']:+.3f} +- {v['gap_half_width']:.3f} | "
                 f"{v['verdict']} |")
    L.append("")
    if fresh := o.get("fresh"):
        n = len(fresh["seeds"])
        L += [f"On {n} fresh seed{'s' if n > 1 else ''} ({', '.join(map(str, fresh['seeds']))}), which no entrant trained "
              f"while the race chose, so its choice does not flatter the pick there: the pick's late-validation mean "
              f"{fresh['mean']:.3f} +- {fresh['half_width']:.3f}; pick minus "
              + "; ".join(f"`{n}` {v['gap']:+.3f} +- {v['gap_half_width']:.3f}, {v['verdict']}"
                          for n, v in fresh["controls"].items()) + ".", ""]
    if any(t.final.get("test_acc") is not None for t in s.trials):
        L += ["Its trials also recorded a last-epoch test accuracy in NNI's database; no rule reads it.", ""]
    if o["pick"] in seeds:
        L += [f"The pick is `{seeds[o['pick']]}`, a reference model the warm start began from, unchanged: the "
              "search found nothing better than it on validation.", ""]
    return L


def datasets_step(inp: Inputs) -> list[str]:
    """Each other dataset with a folder under the results root (results/<dataset>/, e.g. by
    experiments/fashion_mnist.sh): its search's race, then its pick and the hand-made baselines under
    one protocol on that dataset's test set."""
    L: list[str] = []
    for name in DATASETS[1:]:
        layout = Layout.at(inp.layout.root / name)
        if not layout.root.is_dir():
            continue
        multi = Search.load_all(layout.searches, "asha") if layout.searches.exists() else []
        picks = [(p.name, r) for p in sorted(layout.runs.glob("pick-*")) if (r := Run.load(p))]
        base = [(n, r) for n in SEED_TARGETS if (r := Run.load(layout.baselines / n))]
        budget = f" at {multi[0].record['search']['max_params']:,} parameters" if multi else ""
        L += [f"## {NAMES[name]}", "", "### Target",
              f"The tool on another dataset: a search{budget}, chosen on validation; then its pick and the four "
              "hand-made models trained under one recipe (the tool's default, on every training image) and read "
              f"once on the test set. Commands: `experiments/{name.replace('-', '_')}.sh`.", "", "### Results", ""]
        for s in multi:
            L += race_block(s)
        rows = [(f"pick `{n.removeprefix('pick-')}`", r) for n, r in picks] + [(f"`{n}`", r) for n, r in base]
        seeds = sorted({sd for _, r in rows for sd in r.config["seeds"]})
        if rows:
            L += ["| model | parameters | " + " | ".join(f"test seed {sd}" for sd in seeds) + " | mean |",
                  "| --- | --- |" + " --- |" * (len(seeds) + 1)]
            for label, r in rows:
                finals = {sd: h[-1]["test_acc"] for sd, h in r.histories.items()}
                cells = [f"{finals[sd]:.2f}" if sd in finals else "training" if sd in r.config["seeds"] else "-"
                         for sd in seeds]
                mean = f"{statistics.fmean(finals.values()):.2f}" if finals else "-"
                L.append(f"| {label} | {r.params:,} | " + " | ".join(cells) + f" | {mean} |")
            L += ["", f"Final test accuracy (%) after {rows[0][1].epochs} epochs. Looks at the {NAMES[name]} test "
                      f"set for a choice: {len(picks)} (the pick's run; the baselines are references, chosen by no one).", ""]
            L += _dataset_analysis(picks, base, multi)
        else:
            L += ["No protocol run yet.", ""]
    return L


def _dataset_analysis(picks: list, base: list, multi: list) -> list[str]:
    """Once every run has finished: each pick against each hand-made model on the test set, the spread
    between seeds, and what the race had said on validation about the controls it trained."""
    if not picks or not base or not all(r.complete for _, r in picks + base):
        return []
    final_mean = lambda r: statistics.fmean(r.finals())  # noqa: E731
    bases = dict(base)
    raced = {}
    for s in multi:
        doc = load_rungs(s.folder, s.id) or {}
        raced.update({n: v["gap"] for n, v in ((doc.get("outcome") or {}).get("controls") or {}).items()})
    L = ["### Analysis", ""]
    for name, p in picks:
        gaps = ", ".join(f"`{n}` ({b.params:,} parameters) {final_mean(p) - final_mean(b):+.2f}" for n, b in base)
        L.append(f"- The pick `{name.removeprefix('pick-')}` ({p.params:,} parameters), by mean final test accuracy, "
                 f"against each hand-made model: {gaps} points.")
        for n, gap in raced.items():
            if n in bases:
                L.append(f"- The race had put it {gap:+.2f} points ahead of the control `{n}` on validation; on "
                         f"the test set the gap is {final_mean(p) - final_mean(bases[n]):+.2f}.")
    L.append("- Spread between seeds (largest minus smallest final test accuracy): "
             + ", ".join(f"`{n.removeprefix('pick-')}` {max(r.finals()) - min(r.finals()):.2f}" for n, r in picks + base)
             + " points.")
    return L + [""]


def _trials_with_test(searches: list[Search]) -> tuple[int, int, int]:
    """(trials holding a test value, trials, test values) of some searches' NNI records."""
    held = sum(t.final.get("test_acc") is not None for s in searches for t in s.trials)
    return held, sum(len(s.trials) for s in searches), held


def _trainings_with_test(folder: Path) -> tuple[int, int, int]:
    """(seed trainings holding a test value, seed trainings, test values) of the run folders two
    levels below `folder` (<search or study>/<candidate or variant>)."""
    histories = [h for p in sorted(folder.glob("*/*/config.json")) if (r := Run.load(p.parent))
                 for h in r.histories.values()]
    values = [sum(r.get("test_acc") is not None for r in h) for h in histories]
    return sum(v > 0 for v in values), len(histories), sum(values)


def selection_test_values(inp: Inputs) -> list[tuple[str, tuple[int, int, int]]]:
    """What the files of selection (search trials, re-rank and recipe-study trainings) hold of the
    test set, counted per kind: written before these stopped evaluating it; no rule reads them."""
    rows = [("flat-search trials (`searches/*`, NNI's records)", _trials_with_test(inp.searches)),
            ("multi-fidelity trials (`searches/*`, NNI's records)", _trials_with_test(inp.multi)),
            ("re-rank trainings (`rerank/*/*/seed*/history.json`)", _trainings_with_test(inp.layout.rerank)),
            ("recipe-study trainings (`recipe/*/*/seed*/history.json`)", _trainings_with_test(inp.layout.recipe))]
    for name in DATASETS[1:]:
        other = Layout.at(inp.layout.root / name)
        if other.searches.is_dir():
            found = Search.load_all(other.searches) + Search.load_all(other.searches, "asha")
            rows.append((f"{NAMES[name]} search trials (`{name}/searches/*`)", _trials_with_test(found)))
    return [(kind, n) for kind, n in rows if n[1]]


def looks_section(inp: Inputs) -> list[str]:
    """How often each budget's test set has been read under the protocol (every confirmation is a
    look), and the test values the files of selection hold from before it stopped reading any."""
    L = ["## Looks at the test set", "",
         "Every confirmation under the protocol reads the test set once; no rule of selection reads it. Per budget:",
         "", "| budget | confirmations (looks) | runs |", "| --- | --- | --- |"]
    for label, runs in inp.by_budget.items():
        L.append(f"| {label} | {len(runs)} | " + ", ".join(f"`{n}`" for n, _ in runs) + " |")
    rows = selection_test_values(inp)
    if any(n[0] for _, n in rows):
        L += ["", "Search trials, re-rank trainings and recipe-study trainings evaluate no test image now. Files "
                  "written before they stopped still hold test values, kept as they were: a search trial its last "
                  "epoch's, a re-rank or recipe-study training every epoch's. No rule reads them: the finalist, the race and the re-rank and recipe "
                  "scores read validation (nas/results/decide.py reads test accuracy only from confirmation and "
                  "baseline runs); the report shows them only in the grey points of pareto.png and says where "
                  "they are. Counted from the files:", "",
              "| files | trainings holding a test value | trainings | test values |", "| --- | --- | --- | --- |"]
        L += [f"| {kind} | {held:,} | {total:,} | {values:,} |" for kind, (held, total, values) in rows]
    return L + [""]


def pictures_section(inp: Inputs, data_dir: str | None) -> list[str]:
    finalists = inp.finalists
    if not any(r.histories for r in finalists.values()):
        return []
    fig = inp.layout.figures
    fig.mkdir(exist_ok=True)
    figures.curves_png(finalists, fig / "curves.png")
    L = ["## Pictures", "", "![Per-epoch test accuracy of the finalists](figures/curves.png)", ""]
    final = decide.final_model(finalists)
    weights = final[1].path / f"seed{min(final[1].histories)}" / "model.pt" if final else None
    if final is not None and not weights.exists():
        L += [f"No misclassified-digits grid: {weights} is missing.", ""]
    elif final is not None:
        n = figures.misclassified_png(final[1], fig / "misclassified.png", data_dir)
        L += [f"The final model is the `{final[0]}` finalist ({final[1].params:,} parameters), "
              f"seed 0: {n} misclassified test digits.", "",
              "![Misclassified test digits](figures/misclassified.png)", ""]
    return L


def rerunning() -> list[str]:
    return ["## Re-running", "",
            "- Report and pictures: `nas report` (reads only the files here; a few seconds).",
            "- One confirmation: the command line is in each run's section above; e.g. "
            "`nas train results/exports/<id>/rank1_<trial>/arch.json --epochs 15 --seeds 0,1,2,3,4 --set val_size=0 "
            "--jobs 2 --out results/confirm/<label> --force` (`--resume` continues an interrupted one).",
            "- Searches: `bash experiments/searches.sh` (resumes what was interrupted); confirmations: "
            "`bash experiments/confirmations.sh`.", ""]
