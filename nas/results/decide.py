"""The decisions, each rule in one place: the protocol's verdicts, the targets, and the finalist.

`nas finalist`, `nas report` and the scripts in results/ all call these; nothing re-implements them.

The protocol (nas/facts.py) is fixed before any run: all the training images, at most
PROTOCOL_EPOCHS epochs, PROTOCOL_SEEDS; "consistently >= THRESHOLD" means the test accuracy of each
of the last LATE_EPOCHS epochs of every seed is >= THRESHOLD. A run that does not follow it is shown but never called consistent. Choices are made
on the validation split only; the test accuracy plays no part in them.
"""
from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from nas.errors import ExportError
from nas.facts import (LATE_EPOCHS, LATE_MEAN_GOALS, LATE_READINGS, MEAN_TARGET_20K, PROTOCOL_EPOCHS, PROTOCOL_SEEDS,
                       RACE_MIN, THRESHOLD)
from nas.results.store import (Layout, Run, Search, load_rerank, load_rungs, load_studies, recipe_of, records,
                               rerank_seeds, study_trial)


def follows_protocol(run: Run) -> bool:
    t = run.config["train"]
    return (t["val_size"] == 0 and t["train_subset"] == 0 and t["epochs"] <= PROTOCOL_EPOCHS
            and sorted(run.config["seeds"]) == list(PROTOCOL_SEEDS))


def consistent(run: Run) -> bool:
    return run.complete and follows_protocol(run) and min(run.late()) >= THRESHOLD


def finished_misses(run: Run) -> list[float]:
    """Late test accuracies below the line, of the seeds that trained every epoch."""
    return [a for h in run.histories.values() if len(h) == run.epochs for a in (r["test_acc"] for r in h[-LATE_EPOCHS:])
            if a < THRESHOLD]


def decided_miss(run: Run) -> bool:
    """Incomplete, yet not consistent already: a finished seed missed, which more seeds cannot undo."""
    return not run.complete and follows_protocol(run) and bool(finished_misses(run))


def verdict(run: Run) -> str:
    if not run.complete:
        done = sum(len(h) for h in run.histories.values())
        part = f"{done} of {len(run.config['seeds']) * run.epochs} seed-epochs"
        if decided_miss(run):
            below = finished_misses(run)
            return (f"**not consistent** (decided before the run is complete, {part}): {len(below)} last-{LATE_EPOCHS}-epoch "
                    f"test accuracies of the finished seeds below {THRESHOLD:.2f}% (lowest {min(below):.2f}%)")
        return f"incomplete ({part})"
    low = min(run.late())
    if not follows_protocol(run):
        return f"not under the protocol (reference only); lowest last-{LATE_EPOCHS} test accuracy {low:.2f}%"
    if low >= THRESHOLD:
        return f"**consistent**: all {LATE_READINGS} last-{LATE_EPOCHS}-epoch test accuracies >= {THRESHOLD:.2f}% (lowest {low:.2f}%)"
    below = sum(a < THRESHOLD for a in run.late())
    return f"**not consistent**: {below} of {LATE_READINGS} last-{LATE_EPOCHS}-epoch test accuracies below {THRESHOLD:.2f}% (lowest {low:.2f}%)"


def target_met(budget: int, run: Run) -> tuple[bool | None, str]:
    """(met? None while undecided, the reason in words) of a budget's target for one run."""
    if not run.complete:
        if budget != 20000 and decided_miss(run):
            return False, "no: " + verdict(run).replace("**", "")
        return None, "not yet decided (run incomplete)"
    if run.params > budget:
        return False, f"no: {run.params:,} parameters is over {budget:,}"
    if budget == 20000:
        m = statistics.fmean(run.finals())
        ok = follows_protocol(run) and m >= MEAN_TARGET_20K
        return ok, f"{'yes' if ok else 'no'}: mean final test accuracy {m:.2f}% (target {MEAN_TARGET_20K:.2f}%)"
    ok = consistent(run)
    return ok, "yes" if ok else "no: " + verdict(run).replace("**", "")


def beats_control(gap: float, seeds: int, params: int | None, control_params: int | None) -> bool:
    """A multi-fidelity pick beats a control in its race: a higher paired late-validation mean over at
    least RACE_MIN shared seeds, with fewer parameters. Significance is the race's verdict, apart."""
    return (gap > 0 and seeds >= RACE_MIN and params is not None and control_params is not None
            and params < control_params)


def search_goal(max_params: int, run: Run) -> tuple[bool, str]:
    """(met?, in words) of the test goal of a multi-fidelity search's confirmed pick: a late test mean
    for the budgets in LATE_MEAN_GOALS, consistency for the others."""
    if max_params in LATE_MEAN_GOALS:
        goal, m = LATE_MEAN_GOALS[max_params], statistics.fmean(run.late())
        ok = follows_protocol(run) and run.complete and m >= goal
        return ok, f"late test mean >= {goal:.2f}%: {'yes' if ok else 'no'} ({m:.2f}%)"
    ok, late = consistent(run), run.late()
    below = sum(a < THRESHOLD for a in late)
    return ok, (f"consistent: {'yes' if ok else 'no'} ({below} of {len(late)} last-{LATE_EPOCHS}-epoch test accuracies below "
                f"{THRESHOLD:.2f}%, lowest {min(late):.2f}%)")


def final_model(runs: dict[str, Run]):
    """(name, run) of the smallest consistent finalist, else the best by mean final test accuracy."""
    done = [(n, r) for n, r in runs.items() if r.complete]
    ok = [(n, r) for n, r in done if consistent(r)]
    if ok:
        return min(ok, key=lambda nr: nr[1].params)
    return max(done, key=lambda nr: statistics.fmean(nr[1].finals()), default=None)


@dataclass(frozen=True)
class Finalist:
    """What `nas finalist` picks at a budget: an exported architecture and the recipe to train it with."""
    arch: Path                          # the exported arch.json
    recipe: dict = field(default_factory=dict)  # TrainConfig overrides of the defaults ({}: the defaults)
    variant: str = ""                   # the recipe study's variant name ("" for the defaults)
    study: Path | None = None           # the recipe study's folder (its study.json and pick.json)
    score: float | None = None          # its validation score (re-rank or recipe study), None without one
    experiment: str = ""                # the search it came from
    rivals: tuple = ()                  # (search, trial, variant or "", score): the other searches' best pairs


def rerank_setting(rr: dict) -> tuple:
    """What a re-rank's scores depend on besides the models; equal settings score on one scale."""
    t = rr["train"]
    return (tuple(rerank_seeds(rr)), t["epochs"], json.dumps(recipe_of(t), sort_keys=True),
            t.get("val_size"), t.get("split_seed"), t.get("train_subset"))


def parameter_budget(search: dict, budget: int) -> bool:
    """Is a search (its record's "search") one of this parameter budget's? A search bounded by a
    device figure too (MACs, int8 model bytes, peak RAM) answers another question, so it is never a
    parameter budget's finalist."""
    return search["max_params"] == budget and not any(search.get(k) for k in ("max_macs", "max_flash", "max_ram"))


def _comparable(st: dict, rr: dict) -> bool:
    """Does a recipe study score on the re-rank's seeds, epochs and images?"""
    split = st.get("split", {})
    return (st["seeds"], st["epochs"], split) == (rerank_seeds(rr), rr["train"]["epochs"],
                                                  {k: rr["train"][k] for k in split})


def _group(searches: list[Search], budget: int, where: Path) -> list[Search]:
    """The searches compared at a budget: those that trained the longest proxy (a longer proxy scores
    every model higher, so shorter ones are not compared), best proxy score first."""
    at = [s for s in searches if parameter_budget(s.record["search"], budget) and s.best() is not None]
    if not at:
        raise ExportError(f"no finished search with a budget of {budget:,} parameters in {where}")
    longest = max(s.proxy_images for s in at)
    return sorted((s for s in at if s.proxy_images == longest),
                  key=lambda s: (s.best().val_acc, -s.best().final["params"]), reverse=True)


def _best_pair(s: Search, rr: dict, exports: Path, studies: list) -> tuple[tuple, Finalist, str]:
    """A re-ranked search's best (architecture, recipe) pair: its re-rank's winner, unless a recipe
    study of one of its candidates scored higher. Key: (score, fewer params, the defaults first)."""
    top = rr["candidates"][0]
    key = (top["score"], -top["params"], 1)
    best = Finalist(exports / s.id / top["export"] / "arch.json", score=top["score"], experiment=s.id)
    trial_of = top["trial"]
    candidates = {c["trial"] for c in rr["candidates"]}
    for folder, st in studies:
        src = Path(st["source"])  # found below this results root by `studies_at`
        if src.resolve().parent.parent != (exports / s.id).resolve() or not src.exists():
            continue  # a study of another search's model
        trial = study_trial(st)
        if trial not in candidates or not _comparable(st, rr):
            continue
        pick = next(v for v in st["variants"] if v["variant"] == st["pick"])
        k = (pick["score"], -st.get("params", 0), int(not pick["overrides"]))
        if k > key:
            key, best, trial_of = k, Finalist(src, pick["overrides"], pick["variant"], folder, pick["score"], s.id), trial
    return key, best, trial_of


def raced_pick(layout: Layout, budget: int) -> Finalist | None:
    """The pick of a finished multi-fidelity search at this budget (the best race mean if there are
    several): its race decided it on validation at the full schedule, against the hand-made
    controls, so it supersedes the flat searches' rule below. None without such a search."""
    found = []
    for exp_id, rec in records(layout.searches).items():
        if rec["search"].get("schedule") != "asha" or not parameter_budget(rec["search"], budget):
            continue
        doc = load_rungs(layout.searches, exp_id)
        if not doc or not doc.get("outcome"):
            continue
        arch = sorted((layout.exports / exp_id).glob("rank1_*/arch.json"))
        if not arch:
            raise ExportError(f"the multi-fidelity search {exp_id} has no export: run "
                              f"`nas export {exp_id} --results {layout.root}`")
        found.append(Finalist(arch[0], score=doc["outcome"]["mean"], experiment=exp_id))
    return max(found, key=lambda f: f.score) if found else None


def choose_finalist(layout: Layout, budget: int, searches: list[Search] | None = None) -> Finalist:
    """The finalist at this budget: a finished multi-fidelity search's pick (`raced_pick`), else the
    flat searches' rule. Without re-ranks: the best trial by proxy validation accuracy
    of the compared searches (`_group`). With re-ranks (every search of the group needs one, all
    with the same seeds, epochs, recipe and split): the best second-stage validation score over all
    of them, pooled, where a comparable recipe study of a candidate competes with its re-rank's pick.
    Ties: fewer parameters, then the defaults, then the search with the better proxy."""
    raced = raced_pick(layout, budget)
    if raced is not None:
        return raced
    searches = Search.load_all(layout.searches) if searches is None else searches
    group = _group(searches, budget, layout.searches)
    reranks = {s.id: rr for s in group if (rr := load_rerank(layout.rerank, s.id))}
    if not reranks:
        s = group[0]
        best = Finalist(layout.exports / s.id / f"rank1_{s.best().id}" / "arch.json", experiment=s.id)
        if not best.arch.exists():
            raise ExportError(f"{best.arch} is missing: run `nas export {s.id} --results {layout.root}`")
        return best
    missing = [s.id for s in group if s.id not in reranks]
    if missing:  # a search left out would lose without having competed
        raise ExportError(f"{', '.join(missing)} trained as long a proxy as {', '.join(reranks)} but has no re-rank: "
                          f"run `nas rerank` on it with the same seeds")
    for s in group:
        if s.best().id not in {c["trial"] for c in reranks[s.id]["candidates"]}:
            raise ExportError(f"the re-rank of {s.id} predates its best trial {s.best().id}: run `nas rerank {s.id}` again")
    if len({rerank_setting(rr) for rr in reranks.values()}) > 1:
        raise ExportError(f"the re-ranks of {', '.join(reranks)} differ in seeds, epochs, recipe or split: their "
                          f"scores are not comparable; re-run them with the same settings")
    studies = studies_at(layout)
    pairs = [_best_pair(s, reranks[s.id], layout.exports, studies) for s in group]
    winner = max(range(len(pairs)), key=lambda i: (pairs[i][0], -i))  # ties: the better proxy
    rivals = tuple((b.experiment, trial, b.variant, b.score) for i, (_, b, trial) in enumerate(pairs) if i != winner)
    best = replace(pairs[winner][1], rivals=rivals)
    if not best.arch.exists():
        raise ExportError(f"{best.arch} is missing: run `nas export {best.experiment} --results {layout.root}`")
    return best


def source_path(layout: Layout, recorded: str) -> Path:
    """Where the arch.json a run or a recipe study records as its `source` lies now. Sources are
    written relative to the folder the command ran in (`results/exports/...`), so one under an
    `exports/` folder is looked up below this results root's exports/ first: the same file wherever
    the report runs, and a copy's own file for a copy of a results root. Any other path as written."""
    parts = Path(recorded).parts
    if "exports" in parts:
        below = parts[len(parts) - parts[::-1].index("exports"):]
        mine = layout.exports.joinpath(*below)
        if below and mine.exists():
            return mine
    return Path(recorded)


def studies_at(layout: Layout) -> list[tuple[Path, dict]]:
    """The finished recipe studies under a results root, each `source` found by `source_path`."""
    studies = load_studies(layout.recipe) if layout.recipe.exists() else []
    return [(folder, {**st, "source": str(source_path(layout, st["source"]))}) for folder, st in studies]


def is_pick(run: Run, pick: Finalist | None, layout: Layout) -> bool:
    """Is this confirmation run (under `layout`) the current pick's architecture trained with its recipe?"""
    src = run.config.get("source")
    return (pick is not None and src is not None and source_path(layout, src).resolve() == pick.arch.resolve()
            and run.recipe == recipe_of(pick.recipe))


@dataclass
class Tried:
    """A budget whose target no complete confirmation meets: its best result and what was tried."""
    best: tuple[str, Run]
    searches: list[Search]
    strategies: Counter
    reranks: list[dict]
    candidates: set
    trainings: int
    rerank_epochs: list[int]
    studies: list[tuple[str, dict]]   # (trial, study.json) of the re-rank candidates' recipe studies
    variants: list[str]
    confirmed: list[tuple[str, Run]]
    stopped: list[str]


def what_was_tried(budget: int, runs: list[tuple[str, Run]], searches: list[Search], layout: Layout,
                   studies: list) -> Tried | None:
    """None when the target is met or nothing is confirmed yet. The best is the highest final mean
    at 20k (a mean target); else the highest lowest late number (the consistency criterion), then
    the late mean."""
    done = [(n, r) for n, r in runs if r.complete and follows_protocol(r)]
    if not done or any(target_met(budget, r)[0] for _, r in done):
        return None
    key = ((lambda r: statistics.fmean(r.finals())) if budget == 20000 else
           (lambda r: (min(r.late()), statistics.fmean(r.late()))))
    at = [s for s in searches if parameter_budget(s.record["search"], budget)]
    rrs = [rr for s in at if (rr := load_rerank(layout.rerank, s.id)) is not None]
    candidates = {c["trial"] for rr in rrs for c in rr["candidates"]}
    mine = [(trial, st) for _, st in studies if (trial := study_trial(st)) in candidates]
    return Tried(best=max(done, key=lambda nr: key(nr[1])), searches=at,
                 strategies=Counter(s.strategy for s in at), reranks=rrs, candidates=candidates,
                 trainings=sum(len(rr["candidates"]) * len(rr["seeds"]) for rr in rrs),
                 rerank_epochs=sorted({rr["train"]["epochs"] for rr in rrs}), studies=mine,
                 variants=sorted({v["variant"] for _, st in mine for v in st["variants"]} - {"default"}),
                 confirmed=done, stopped=[n for n, r in runs if decided_miss(r)])
