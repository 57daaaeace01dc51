"""The distillation study (experiments/distill.sh, issue 41) in the report: the teacher, per network
the paired gap of "with the teacher" to "without" on validation, from the run files under
`<root>/distill/`, and the study's rule for its one confirmation under the protocol, read from the same
files (`python -m nas.reporting.distill RESULTS` prints the network it confirms). Seeds still training
are left out of a gap and counted."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from nas.facts import ALPHA, LATE_READINGS, THRESHOLD
from nas.reporting.inputs import Inputs
from nas.results.store import Run, late
from nas.schedule.race import interval_label, versus
from nas.training.runs import teacher_cost

WITH, WITHOUT = "kd", "default"  # the two variants of each network's `nas recipe` study
SEEDS = [0, 1, 2, 3, 4]
BAR = 99.6  # the teacher bar: validation accuracy
SUB8K = ("phtQI", "era7918")  # the rules' networks under 8,000 parameters: only they can earn the confirmation
CONFIRM = "kd-"  # <root>/confirm/kd-<network>: the confirmation, with the teacher trained on all 60,000 images
BUDGET_CPU_H = 8  # the bound on the study


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


def _runs(study: Path) -> dict[str, Run | None]:
    return {v: Run.load(study / v) for v in (WITHOUT, WITH)}


def _compare(runs: dict[str, Run | None]) -> dict | None:
    """Both variants' late validation scores over the seeds both have finished, and the paired verdict
    (None under 2 such seeds); None before both variants' config.json exist (a variant's folder can
    exist before it)."""
    if any(r is None for r in runs.values()):
        return None
    seeds = [s for s in SEEDS if all(s in r.histories for r in runs.values())]
    score = {v: dict(zip(seeds, r.seed_scores(seeds))) for v, r in runs.items()}
    return {"seeds": seeds, "score": score,
            "vs": versus(score[WITH], score[WITHOUT], ALPHA) if len(seeds) >= 2 else None}


def earned(root: Path, names: tuple[str, ...] = SUB8K) -> tuple[bool, str | None]:
    """The rule for the confirmation, read from `<root>/distill`: (decided, network). Decided once each
    of `names` has all its paired seeds; the network is the one with the highest mean with the teacher
    among those whose gap is positive and significant, None when none is."""
    better = []  # (mean with the teacher, network) of each network the teacher significantly lifts
    for name in names:
        c = _compare(_runs(root / "distill" / name))
        if c is None or len(c["seeds"]) < len(SEEDS):
            return False, None
        if c["vs"]["verdict"] == "pick better":
            better.append((statistics.fmean(c["score"][WITH].values()), name))
    return True, max(better)[1] if better else None


def _row(name: str, study: Path) -> str:
    runs = _runs(study)
    c = _compare(runs)
    if c is None:
        done = {v: len([s for s in SEEDS if r is not None and s in r.histories]) for v, r in runs.items()}
        params = next((f"{r.params:,}" for r in runs.values() if r is not None), "-")
        return (f"| `{name}` | {params} | - | - | - | - | seeds done: {done[WITHOUT]} of {len(SEEDS)} "
                f"without the teacher, {done[WITH]} with it |")
    seeds, score, vs = c["seeds"], c["score"], c["vs"]
    left = f"{len(seeds)} of {len(SEEDS)} seeds done" if len(seeds) < len(SEEDS) else ""
    if vs is None:
        return f"| `{name}` | {runs[WITH].params:,} | - | - | - | - | {left} |"
    verdict = {"pick better": "with the teacher better", "pick worse": "with the teacher worse"}.get(vs["verdict"],
                                                                                                 vs["verdict"])
    cost = teacher_cost(runs[WITH].path, seeds)  # from the histories: summary.json is not committed
    note = f"the teacher adds a median {cost['adds_pct']:.0f}% to an epoch" if cost["teacher_seconds"] else ""
    mean = lambda v: statistics.fmean(score[v].values())  # noqa: E731
    return (f"| `{name}` | {runs[WITH].params:,} | {mean(WITHOUT):.3f}% | {mean(WITH):.3f}% | "
            f"{vs['gap']:+.3f} (±{vs['gap_half_width']:.3f}) | {verdict} | {'; '.join(x for x in (left, note) if x)} |")


def _confirmation_lines(inp: Inputs) -> list[str]:
    """What the rule says now, and the confirmation's test readings once it has run."""
    names = " and ".join(f"`{n}`" for n in SUB8K)
    decided, name = earned(inp.layout.root)
    if not decided:
        return [f"Confirmation: decided once {names} have their {len(SEEDS)} paired seeds each."]
    if name is None:
        return [f"Confirmation: none earned. No network under 8,000 parameters ({names}) has a positive "
                "significant gap with the teacher, so the study read no test image. The goal, a sub-8k network "
                f"with all {LATE_READINGS} late test readings at or above {THRESHOLD:.2f}%, is not reached by "
                "distillation here; the networks above 8k are references and cannot earn the confirmation."]
    head = (f"Confirmation: earned by `{name}` (the highest mean with the teacher among the sub-8k networks whose "
            f"gap is positive and significant), trained once more on all 60,000 images with a teacher trained "
            f"alike (`distill/teacher-all`), seeds {SEEDS[0]}-{SEEDS[-1]}: one look at the test set, counted below.")
    run = Run.load(inp.layout.confirm / f"{CONFIRM}{name}")
    if run is None or any(s not in run.histories for s in SEEDS):
        return [head, "", "Not run yet: `bash experiments/distill.sh confirm`."]
    readings = run.late("test_acc")
    per_seed = ", ".join(f"{statistics.fmean(x):.2f}" for x in run.late_by_seed(SEEDS, "test_acc"))
    met = sum(a >= THRESHOLD for a in readings)
    return [head, "", f"`confirm/{run.path.name}`: late test mean {statistics.fmean(readings):.2f}% (seeds: {per_seed}), "
            f"lowest reading {min(readings):.2f}%; {met} of {len(readings)} late readings at or above {THRESHOLD:.2f}%: "
            f"the goal {'met' if met == len(readings) else 'missed'}."]


def _cost_lines(root: Path) -> list[str]:
    """What the study's trainings took, from their histories (the teachers' included)."""
    histories = [json.loads(f.read_text()) for f in sorted(root.glob("**/seed*/history.json"))]
    hours = sum(r["seconds"] for h in histories for r in h) / 3600
    return [f"Cost: {len(histories)} trainings, {hours:.1f} h of training summed (each on one thread; wall "
            f"seconds, which also count whatever else ran beside a training, so an upper bound on its CPU time). "
            f"The issue allowed the study {BUDGET_CPU_H} CPU-hours."]


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
            "| --- | --- | --- | --- | --- | --- | --- |", *rows, "", *_confirmation_lines(inp), "",
            *_cost_lines(root), "",
            "Reproduce: `bash experiments/distill.sh` (resumes what is missing).", ""]


if __name__ == "__main__":  # experiments/distill.sh: the network the rule confirms, or nothing
    import sys

    decided, network = earned(Path(sys.argv[1]))
    if not decided:
        sys.exit(f"{sys.argv[1]}/distill: the rule is not decided yet ({', '.join(SUB8K)} need all their seeds)")
    print(network or "")
