"""The results report: `<root>/README.md` and its figures, written from the run files (`nas report`).

No number in it is typed by hand. It reads the results model (nas/results/store.py), takes every
decision from nas/results/decide.py and draws with nas/reporting/figures.py; a study's words come
from the root's narrative (NARRATIVE.md, nas/reporting/narrative.py). This module puts the sections
in order; each section is one function of inputs.py (what is read), steps.py (the seed's
Target / Results / Analysis steps), races.py (the multi-fidelity steps), looks.py (the looks at
the test set), holdings.py (the report of a root without a narrative) and tables.py (the small pieces).
"""
from __future__ import annotations

from pathlib import Path

from nas.atomic import write_text
from nas.errors import ConfigError, NasError
from nas.facts import BUDGETS, RESULTS_ROOT
from nas.reporting import figures
from nas.reporting.holdings import holdings_report
from nas.reporting.inputs import Inputs, load_inputs
from nas.reporting.device import device_section
from nas.reporting.distill import distill_section
from nas.reporting.looks import int8_section, looks_section
from nas.reporting.races import multi_step, proxy_step
from nas.reporting.steps import budget_step, datasets_step, handmade_step, header, searches_step, summary
from nas.results import decide
from nas.results.store import Layout


def write_report(root: str | Path = RESULTS_ROOT, data_dir: str | None = None, pictures: bool = True) -> Path:
    """Regenerate `<root>/README.md` (and the PNGs under `<root>/figures/`) from the run files: the
    study's report where the root holds its narrative (nas/reporting/narrative.py), else the report
    of what the root holds (nas/reporting/holdings.py)."""
    if not Path(root).is_dir():
        raise ConfigError(f"no results folder {root} (give --results, the folder a search or a training wrote into)")
    inp = load_inputs(Layout.at(root))
    L = header(inp) + (study_report(inp, data_dir, pictures) if inp.narrative else
                       holdings_report(inp, data_dir, pictures))
    write_text(inp.layout.root / "README.md", "\n".join(L))
    return inp.layout.root / "README.md"


def study_report(inp: Inputs, data_dir: str | None, pictures: bool) -> list[str]:
    """The steps of a study: its hand-made models, its searches, a finalist per budget, its studies."""
    L = summary(inp)
    for i, name in enumerate(inp.narrative.seeds, 1):
        L += handmade_step(i, name, inp)
    L += searches_step(inp, pictures)
    for i, (label, budget) in enumerate(BUDGETS.items(), 6):
        L += budget_step(i, label, budget, inp)
    L += proxy_step(inp)
    L += multi_step(inp, pictures)
    L += datasets_step(inp)
    L += int8_section(inp)
    L += device_section(inp)
    L += distill_section(inp)
    L += looks_section(inp)
    L += pictures_section(inp, data_dir) if pictures else []
    return L + inp.narrative.lines("re-running") + [""]


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
        try:
            n = figures.misclassified_png(final[1], fig / "misclassified.png", data_dir)
        except NasError as e:  # its test images are not at hand
            return L + [f"No misclassified-digits grid: {e}.", ""]
        L += [f"The final model is the `{final[0]}` finalist ({final[1].params:,} parameters), "
              f"seed 0: {n} misclassified test digits.", "",
              "![Misclassified test digits](figures/misclassified.png)", ""]
    return L
