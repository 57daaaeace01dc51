"""The distillation study (experiments/distill.sh, issue 41) in the report: the teacher, and per
network the paired gap of "with the teacher" to "without" on validation, from the run files under
`<root>/distill/`. Seeds still training are left out of a gap and counted."""
from __future__ import annotations

import statistics
from pathlib import Path

from nas.facts import ALPHA
from nas.reporting.inputs import Inputs
from nas.results.store import Run, late
from nas.schedule.race import interval_label, versus
from nas.training.runs import teacher_cost

WITH, WITHOUT = "kd", "default"  # the two variants of each network's `nas recipe` study
SEEDS = [0, 1, 2, 3, 4]
BAR = 99.6  # the teacher bar: validation accuracy


def _teacher_lines(folder: Path) -> list[str]:
    run = next((r for p in sorted(folder.glob("*")) if (r := Run.load(p)) is not None), None)
    if run is None:
        return ["No teacher trained yet."]
    done = run.histories.get(run.config["seeds"][0])
    if not done:
        return [f"The teacher `{run.path.name}` is training ({run.params:,} parameters)."]
    late_val = statistics.fmean(late(done))
    epoch_s = statistics.median(r["seconds"] for r in done)
    fp = run.config.get("footprint") or {}
    return [f"Teacher: `{run.path.relative_to(folder.parent.parent)}`, {run.params:,} parameters, "
            f"{fp.get('macs', 0):,} MACs, {run.epochs} epochs on {run.config.get('train_images', 55000):,} images "
            f"(validation held out, no test image read), late validation mean {late_val:.2f}% "
            f"({'meets' if late_val >= BAR else 'misses'} the issue's bar of {BAR}%); median {epoch_s:.0f} s an epoch "
            f"on one thread."]


def _row(name: str, study: Path) -> str:
    runs = {v: Run.load(study / v) for v in (WITHOUT, WITH)}
    if any(r is None for r in runs.values()):
        done = {v: len([s for s in SEEDS if r is not None and s in r.histories]) for v, r in runs.items()}
        # a variant's folder can exist before its config.json: then neither run loads yet
        params = next((f"{r.params:,}" for r in runs.values() if r is not None), "-")
        return (f"| `{name}` | {params} | - | - | - | - | seeds done: {done[WITHOUT]} of {len(SEEDS)} "
                f"without the teacher, {done[WITH]} with it |")
    seeds = [s for s in SEEDS if all(s in r.histories for r in runs.values())]
    score = {v: dict(zip(seeds, r.seed_scores(seeds))) for v, r in runs.items()}
    left = f"{len(seeds)} of {len(SEEDS)} seeds done" if len(seeds) < len(SEEDS) else ""
    if len(seeds) < 2:
        return f"| `{name}` | {runs[WITH].params:,} | - | - | - | - | {left} |"
    vs = versus(score[WITH], score[WITHOUT], ALPHA)
    verdict = {"pick better": "with the teacher better", "pick worse": "with the teacher worse"}.get(vs["verdict"],
                                                                                                 vs["verdict"])
    c = teacher_cost(runs[WITH].path, seeds)  # from the histories: summary.json is not committed
    cost = f"the teacher adds a median {c['adds_pct']:.0f}% to an epoch" if c["teacher_seconds"] else ""
    mean = lambda v: statistics.fmean(score[v].values())  # noqa: E731
    return (f"| `{name}` | {runs[WITH].params:,} | {mean(WITHOUT):.3f}% | {mean(WITH):.3f}% | "
            f"{vs['gap']:+.3f} (±{vs['gap_half_width']:.3f}) | {verdict} | {'; '.join(x for x in (left, cost) if x)} |")


def distill_section(inp: Inputs) -> list[str]:
    """The study's section; [] for a root without one."""
    root = inp.layout.root / "distill"
    studies = [p for p in sorted(root.glob("*")) if p.is_dir() and p.name != "teacher"]
    if not root.is_dir() or not ((root / "teacher").is_dir() or studies):
        return []
    rows = [_row(p.name, p) for p in studies if (p / WITHOUT).exists() or (p / WITH).exists()]
    return ["## Distillation: a teacher in the recipe", "",
            "Does learning from a larger network's soft targets lift the 8k networks? Rules, written before the "
            "runs in `experiments/distill.sh`: one teacher; temperature 4 and soft-loss weight 0.5 fixed in "
            "advance; per network the default recipe (`default`) against the same recipe with the teacher "
            "(`kd`), seeds 0-4 paired, 15 epochs, validation only; the gap is the kd score minus the default's "
            "(mean validation accuracy of the last 3 epochs, averaged over the seeds), with its "
            f"{interval_label(ALPHA)} and a one-sided paired t-test at {ALPHA}. A positive significant gap for a "
            "sub-8k network earns one confirmation under the protocol.", "",
            *_teacher_lines(root / "teacher"), "",
            f"| network | params | default | with the teacher | gap ({interval_label(ALPHA)}) | test at {ALPHA} | note |",
            "| --- | --- | --- | --- | --- | --- | --- |", *rows, "",
            "Reproduce: `bash experiments/distill.sh` (resumes what is missing).", ""]
