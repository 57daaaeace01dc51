"""How often the test set was looked at: the confirmations per budget, the int8 scorings of runs
already confirmed (each a look of its own), and the test values that older files hold though no rule
reads them. Also the int8 models of the confirmed runs, whose test accuracy is such a look."""
from __future__ import annotations

import statistics
from pathlib import Path

from nas.config import DATASETS
from nas.data.datasets import NAMES
from nas.deploy.int8 import cpu_words
from nas.reporting.distill import CONFIRM as KD_CONFIRM
from nas.reporting.inputs import Inputs
from nas.reporting.tables import shown
from nas.results.store import INT8_RECORD, Layout, Run, Search


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
            ("recipe-study trainings (`recipe/*/*/seed*/history.json`)", _trainings_with_test(inp.layout.recipe)),
            ("distillation-study trainings, the teacher's included (`distill/*/*/seed*/history.json`)",
             _trainings_with_test(inp.layout.root / "distill"))]
    for name in DATASETS[1:]:
        other = Layout.at(inp.layout.root / name)
        if other.searches.is_dir():
            found = Search.load_all(other.searches) + Search.load_all(other.searches, "asha")
            rows.append((f"{NAMES[name]} search trials (`{name}/searches/*`)", _trials_with_test(found)))
    return [(kind, n) for kind, n in rows if n[1]]


def int8_looks(runs: list[tuple[str, Run]]) -> int:
    """Looks at the test set that scoring int8 files of already confirmed runs took (int8.json's
    "looks"; a confirmation that scored its own int8 files took none beyond its own)."""
    return sum((r.int8 or {}).get("looks", 0) for _, r in runs)


def int8_table(runs: list[tuple[str, Run]], root: Path) -> list[str]:
    """The int8 models of the runs that have them (nas.deploy.int8): per run, the seeds scored, their
    fp32 and int8 test accuracy (onnxruntime, mean of those seeds), the int8 file, its constant bytes
    and both files' latency on the host that wrote it; [] where none has one."""
    rows = [(n, r, r.int8) for n, r in runs if r.int8 and r.int8.get("seeds")]
    if not rows:
        return []
    L = ["| run | params | seeds scored | fp32 | int8 | int8, this CPU's kernels | int8 file (fp32) | "
         "constants (int8 conv weights) | latency fp32 / int8 | when scored |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, run, rec in rows:
        seeds = rec["seeds"]
        def mean(k: str) -> str:
            values = [v[k] for v in seeds.values() if k in v]
            return f"{statistics.fmean(values):.2f}% (min {min(values):.2f})" if len(values) == len(seeds) else "-"

        lat, c = rec.get("latency_ms") or {}, rec["constant_bytes"]
        L.append(f"| `{name}` | {run.params:,} | {','.join(seeds)} | {mean('fp32')} | {mean('int8')} | "
                 f"{mean('int8_host_kernels')} | "
                 f"`{shown(run.path / rec['file'], root)}`: {rec['bytes']['int8']:,} B ({rec['bytes']['fp32']:,} B) | "
                 f"{c['total']:,} B ({c['int8_conv_weights']:,} B) | "
                 + (f"{lat['fp32']:.3f} / {lat['int8']:.3f} ms" if lat else "-")
                 + f" | {rec.get('scored', '-')} |")
    cpus = sorted({cpu_words(rec["latency_ms"]["cpu"]) for _, _, rec in rows if rec.get("latency_ms")})
    return L + ["", f"{rows[0][2]['split'].capitalize()} accuracy on {rows[0][2]['images']:,} images by onnxruntime, "
                    "the mean (and the least) of the seeds scored (each seed's final weights, quantized alike: "
                    f"{rows[0][2]['weights'].split('; ', 1)[-1]}). int8: each op on the dequantized int8 "
                    "values, as a device accumulating in int32 computes it; this CPU's kernels: onnxruntime's fused "
                    "int8 kernels, whose int16 sums saturate on a CPU without VNNI (nas/deploy/int8.py). "
                    "Constants: every constant byte of the int8 file "
                    "(nas/deploy/int8.py: constant_bytes). Latency: batch 1, one thread, the median after a warm-up, "
                    f"on {', '.join(cpus) or 'an unrecorded CPU'}: a host figure, not a device's."]


def int8_section(inp: Inputs) -> list[str]:
    """The int8 models of the confirmed runs, where any was scored."""
    table = int8_table(list(inp.finalists.items()), inp.layout.root)
    if not table:
        return []
    return ["## int8 models of the confirmed runs", "",
            "Each run's final weights quantized to int8 after training (its `int8.json`; `nas onnx RUN_DIR` "
            "writes it). A run scored by itself shows its int8 accuracy in its one look at the test set; one "
            "scored after it was confirmed took a look of its own, counted in *Looks at the test set*.", ""] + table + [""]


def device_bound(inp: Inputs) -> dict[str, list[tuple[str, Run]]]:
    """{"<search> (device bounds)": [(name, run), ...]}: the confirmations of each search bounded by
    device figures (experiments/unas.sh, mcu8k.sh), which no parameter budget counts."""
    out = {}
    for s in inp.multi:
        if any(s.record["search"].get(k) for k in ("max_macs", "max_flash", "max_ram")):
            runs = [(p.name, r) for p in sorted(inp.layout.confirm.glob(f"{s.id}-*")) if (r := Run.load(p)) is not None]
            if runs:
                out[f"{s.id} (device bounds)"] = runs
    return out


def looks_section(inp: Inputs) -> list[str]:
    """How often each budget's test set has been read under the protocol (every confirmation is a
    look, and so is every later int8 scoring of one), and the test values the files of selection
    hold from before it stopped reading any."""
    later = any(int8_looks(runs) for runs in inp.by_budget.values())
    L = ["## Looks at the test set", "",
         "Every confirmation under the protocol reads the test set once; no rule of selection reads it."
         + (f" Scoring the int8 files of runs already confirmed reads it again: each such scoring is a look of its "
            f"own (`{INT8_RECORD}`'s looks)." if later else "") + " Per budget:",
         "", "| budget | confirmations (looks) | " + ("int8 scorings after them (looks) | " if later else "") + "runs |",
         "| --- | --- | " + ("--- | " if later else "") + "--- |"]
    bound = device_bound(inp)  # a device-bound search's confirmations: no parameter budget's
    again = [(p.name, r) for p in sorted((inp.layout.root / "int8-handmade").glob("*")) if (r := Run.load(p))]
    bound.update({"hand-made, trained again for int8 (experiments/handmade_int8.sh)": again} if again else {})
    kd = [(p.name, r) for p in sorted(inp.layout.confirm.glob(f"{KD_CONFIRM}*")) if (r := Run.load(p))]
    bound.update({"with a teacher (experiments/distill.sh)": kd} if kd else {})
    for label, runs in {**inp.by_budget, **bound}.items():
        L.append(f"| {label} | {len(runs)} | " + (f"{int8_looks(runs)} | " if later else "")
                 + ", ".join(f"`{n}`" for n, _ in runs) + " |")
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
