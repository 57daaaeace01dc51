"""Small pieces of the report's prose and its tables: a run's results, a re-rank, a recipe study,
the searches."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from nas.budget import BOUNDS
from nas.facts import LATE_EPOCHS
from nas.results import decide
from nas.results.decide import Finalist
from nas.results.store import Run, Search, recipe_of, rerank_seeds, study_trial


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def recipe_words(recipe: dict) -> str:
    return "the defaults" if not recipe else "the defaults with " + ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in recipe.items())


def plural(k: int, noun: str) -> str:
    return f"{k:,} {noun}" + ("" if k == 1 else "s")


def _late_cell(values: list[float]) -> str:
    """Late validation accuracies, LATE_EPOCHS per seed, seeds separated by ';'."""
    seeds = [values[i:i + LATE_EPOCHS] for i in range(0, len(values), LATE_EPOCHS)]
    return "; ".join(" / ".join(f"{v:.2f}" for v in s) for s in seeds)


def seed_words(rr: dict) -> str:
    seeds = rerank_seeds(rr)
    return f"seed {seeds[0]}" if len(seeds) == 1 else "seeds " + ", ".join(map(str, seeds)) + " each"


def pick_words(pick: Finalist | None) -> str:
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


def shown(path: Path, root: Path) -> str:
    """A path below the results root as the report prints it: from the root's own name on
    (`results/confirm/x`), the same wherever the report runs and for a copy of the root."""
    try:
        return (Path(root.resolve().name) / Path(path).resolve().relative_to(root.resolve())).as_posix()
    except ValueError:  # not below the root
        return Path(path).as_posix()


def results_table(run: Run, root: Path, verdict: bool = True) -> list[str]:
    """The Results block of one run: parameters, FLOPs, best and last-3 accuracies, and the protocol's
    verdict (`verdict`: a root whose study has that protocol)."""
    t = run.config["train"]
    lines = [f"`{shown(run.path, root)}`: {run.params:,} parameters, {run.config['flops']:,} FLOPs; "
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
                      f"std {s:.2f}. Final-epoch test accuracy: mean {fm:.2f}% (std {fs:.2f})."]
        lines += [f"Verdict: {decide.verdict(run)}."] if verdict else []
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


def studies_of(rr: dict, studies: list, root: Path) -> list[str]:
    """The recipe studies of a re-rank's candidates, winning or not, with their cost."""
    lines = []
    for folder, st in studies:
        trial = study_trial(st)
        if trial in {c["trial"] for c in rr["candidates"]}:
            runs = [r for v in st["variants"] if (r := Run.load(folder / v["variant"]))]
            lines += [f"Recipe study `{shown(folder, root)}` of `{trial}` ({st['params']:,} parameters; "
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
        limits += [f"<= {rec[field]:,}{unit} {name}" for field, _, name, unit in BOUNDS[1:] if rec.get(field)]
        lines.append(f"| `{s.id}` | {rec['strategy']}{' (' + '; '.join(limits) + ')' if limits else ''} | "
                     f"{s.budget:,} | {ok} / {failed} / {len(s.trials) - ok - failed} | {learnt_from(s)} | "
                     f"{s.record['train']['epochs']} ep x {s.epoch_images:,} img | "
                     + (f"{b.val_acc:.2f}% | {b.final['params']:,}" if b else "- | -")
                     + f" | {s.cpu_hours:.2f} | {s.wall_hours:.2f} |")
    return lines


def sci(x: float) -> str:
    """1e-4, not 0.0001 or 1e-04."""
    return f"{x:.0e}".replace("e-0", "e-")


def seed_range(seeds) -> str:
    return f"seeds {seeds[0]}-{seeds[-1]}" if list(seeds) == list(range(seeds[0], seeds[-1] + 1)) else \
        "seeds " + ", ".join(map(str, seeds))
