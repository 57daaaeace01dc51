"""How often the test set was looked at: the confirmations per budget, and the test values that
older files hold though no rule reads them."""
from __future__ import annotations

from pathlib import Path

from nas.config import DATASETS
from nas.data.datasets import NAMES
from nas.reporting.inputs import Inputs
from nas.results.store import Layout, Run, Search


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
