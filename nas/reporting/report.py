"""The results report: `<root>/README.md` and its figures, written from the run files (`nas report`).

Nothing in it is typed by hand. It reads the results model (nas/results/store.py), takes every
decision from nas/results/decide.py and draws with nas/reporting/figures.py. This module puts the
sections in order; each section is one function of inputs.py (what is read), steps.py (the seed's
Target / Results / Analysis steps), races.py (the multi-fidelity steps), looks.py (the looks at
the test set) and tables.py (the small pieces).
"""
from __future__ import annotations

from pathlib import Path

from nas.atomic import write_text
from nas.facts import BUDGETS, RESULTS_ROOT
from nas.reporting import figures
from nas.reporting.inputs import Inputs, SEED_TARGETS, load_inputs
from nas.reporting.looks import looks_section
from nas.reporting.races import multi_step, proxy_step
from nas.reporting.steps import budget_step, datasets_step, handmade_step, header, searches_step, summary
from nas.results import decide
from nas.results.store import Layout


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
