"""What the report reads, loaded once from the results root: the searches, the runs, the studies;
and, where the root holds a study's narrative (nas/reporting/narrative.py), the hand-made models it
quotes and the finalist of each budget."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from nas.errors import ExportError
from nas.facts import BUDGETS
from nas.reporting.narrative import Narrative
from nas.results import decide
from nas.results.decide import Finalist
from nas.results.store import Layout, Run, Search, read_trials, records



@dataclass
class Inputs:
    """Everything the report reads, loaded once."""
    layout: Layout
    narrative: Narrative | None                    # the study's words; None: a root without a study
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
    unreadable: dict[str, str]                     # search id -> why its trials cannot be read

    @functools.cached_property
    def finalists(self) -> dict[str, Run]:
        return {name: run for runs in self.by_budget.values() for name, run in runs}

    @functools.cached_property
    def current(self) -> set[str]:
        """The confirmation runs of the current picks."""
        return {name for label, runs in self.by_budget.items() for name, run in runs
                if decide.is_pick(run, self.picks[label], self.layout)}


def load_inputs(layout: Layout) -> Inputs:
    root = layout.root
    narrative = Narrative.load(root)
    quoted = narrative.seeds if narrative else []  # the hand-made models the study's steps are about
    base = {n: Run.load(layout.baselines / n) for n in quoted}
    own = {n: Run.load(root / "baselines-own" / n) for n in quoted}
    other = {n: [(p.parent.name.removeprefix("baselines-"), r) for p in sorted(root.glob(f"baselines-*/{n}"))
                 if p.parent.name != "baselines-own" and (r := Run.load(p))] for n in quoted}
    searches, unreadable = _searches(layout, "flat")
    by_budget, picks, no_pick = {}, {}, {}
    for label, budget in (BUDGETS if narrative else {}).items():  # the study's budgets
        runs = [(p.name, r) for p in sorted(layout.confirm.glob(f"{label}*"))
                if p.name == label or p.name.startswith(label + "-") if (r := Run.load(p))]
        try:
            picks[label] = decide.choose_finalist(layout, budget, searches)
        except (ExportError, OSError) as e:
            picks[label], no_pick[label] = None, str(e)
        by_budget[label] = sorted(runs, key=lambda nr: not decide.is_pick(nr[1], picks[label], layout))  # stable
    studies = decide.studies_at(layout)
    multi, more = _searches(layout, "asha")
    study = layout.proxy / "study.json"
    proxy = json.loads(study.read_text()) if study.exists() else None
    return Inputs(layout, narrative, base, own, other, searches, by_budget, picks, no_pick, studies, multi, proxy,
                  {**unreadable, **more})


def _searches(layout: Layout, schedule: str) -> tuple[list[Search], dict[str, str]]:
    """The searches of one schedule (Search.load_all), and {id: why} of those whose trials cannot be
    read (a search stopped before NNI wrote its database): reported, not fatal."""
    found, unreadable = [], {}
    for exp_id, rec in records(layout.searches).items():
        if rec["search"].get("schedule", "flat") != schedule:
            continue
        try:
            found.append(Search(exp_id, rec, read_trials(layout.searches, exp_id), layout.searches))
        except ExportError as e:
            unreadable[exp_id] = str(e)
    return found, unreadable
