"""Compare training recipes for one architecture on the validation split (`nas recipe`).

The search and the re-rank choose an architecture under one recipe (`TrainConfig`'s defaults). When
the chosen models all miss a target by a few test images, the recipe is the lever that moves every
model at once; this module chooses it the way the re-rank chooses a network: each variant (a named
set of `TrainConfig` overrides) trains the same architecture for the full schedule with each seed,
the validation split held out, and is scored by the mean validation accuracy of its last 3 epochs
averaged over the seeds (`nas.results.store.score`). The trainings evaluate no test image
(`nas.training.runs.run(evaluate_test=False)`).

    nas recipe results/exports/s8k-evolution-exp3/rank1_qV4oL/arch.json --out results/recipe/qV4oL \
        --seeds 0,1 --jobs 2 --variant lr0.1:lr=0.1 --variant aug-light:max_degrees=5,max_shift=1 \
        --variant default:
        # -> results/recipe/qV4oL/<variant>/   one `nas train` run folder per variant
        #    results/recipe/qV4oL/study.json   every variant's scores and the pick
        #    results/recipe/qV4oL/pick.json    the pick's overrides: `nas train ... --config pick.json`

Finished variants are skipped and interrupted ones continue from their checkpoints, so the same
command resumes a study; adding a variant keeps the ones done.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from nas.atomic import write_text
from nas.config import TrainConfig, asdict, make
from nas.errors import ConfigError
from nas.facts import ALPHA, LATE_EPOCHS
from nas.schedule.race import versus
from nas.results.store import Run, finished
from nas.training.runs import load_arch, run, teacher_cost

NAME = re.compile(r"^[A-Za-z0-9._-]+$")
SPLIT_KEYS = ("val_size", "split_seed", "train_subset")  # which images train and which score a run
VERDICT = {"pick better": "better", "pick worse": "worse"}  # race.versus's words, said of a variant


def parse_variant(text: str) -> tuple[str, dict]:
    """'aug-light:max_degrees=5,max_shift=1' -> ('aug-light', {'max_degrees': 5.0, 'max_shift': 1.0}).
    An empty right side is the default recipe. Keys and values are checked against TrainConfig."""
    name, sep, rest = text.partition(":")
    if not sep or not NAME.match(name):
        raise ConfigError(f"--variant expects NAME:key=value,... (NAME of letters, digits, '.', '_', '-'), got {text!r}")
    items = [part.strip() for part in rest.split(",") if part.strip()]
    cfg = make(TrainConfig, overrides=items)  # raises ConfigError naming a bad key or value
    defaults = asdict(make(TrainConfig))  # the same environment: $NAS_DEVICE is no part of a variant
    return name, {k: v for k, v in asdict(cfg).items() if v != defaults[k]}


def study(arch_spec: str, variants: list[tuple[str, dict]], seeds: list[int], out: Path, jobs: int = 1,
          epochs: int | None = None, data_dir: str | None = None, dataset: str | None = None) -> dict:
    """Train `arch_spec` under each variant into `out/<variant>`, score each on validation, write
    `out/study.json` and `out/pick.json` (the best variant's overrides); return the study's dict.
    `dataset`: what every variant trains on (default: an export's own, else mnist)."""
    names = [n for n, _ in variants]
    if not variants or len(set(names)) != len(names):
        raise ConfigError(f"need at least one variant and distinct names, got {names}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"need distinct seeds, got {seeds}")
    name, arch, known = load_arch(arch_spec)
    base = {"dataset": dataset or known.get("dataset", "mnist")}  # an export's own dataset unless told
    configs = {}
    for vname, overrides in variants:  # every variant checked before anything trains
        cfg = make(TrainConfig, base, overrides=[f"{k}={v}" for k, v in overrides.items()],
                   **({"epochs": epochs} if epochs else {}))
        if cfg.val_size <= 0:
            raise ConfigError(f"variant {vname}: a recipe study scores on the validation split; val_size must be above 0")
        configs[vname] = cfg
    splits = {(c.val_size, c.split_seed) for c in configs.values()}
    if len(splits) > 1:  # scores on different validation images cannot be ranked against each other
        raise ConfigError(f"every variant must hold out the same validation split (val_size, split_seed); got {sorted(splits)}")
    out.mkdir(parents=True, exist_ok=True)
    for vname, cfg in configs.items():
        run_dir = out / vname
        if finished(run_dir, seeds):
            print(f"recipe {vname}: done", flush=True)
            continue
        run(arch, cfg, seeds, run_dir, data_dir, resume=(run_dir / "config.json").exists(),
            name=f"{name} ({vname})", source=arch_spec, jobs=jobs, evaluate_test=False)
    rows = []
    for vname, overrides in variants:
        done = Run.load(out / vname)
        seed_scores = done.seed_scores(seeds)
        rows.append({"variant": vname, "overrides": overrides, "seed_scores": seed_scores,
                     "late_val_acc": done.late_by_seed(seeds),
                     "score": statistics.fmean(seed_scores)})
    # the variant named "default", else one without changes: what every other variant is compared with
    base = next((r for r in rows if r["variant"] == "default"), None) or next((r for r in rows if not r["overrides"]), None)
    for row in rows:
        if base is not None and row is not base and len(seeds) >= 2:
            # each change against the defaults, seed by seed: the same seeds start from the same weights
            # and batches, so the paired gap is free of the seed-to-seed spread the scores share
            row["versus_default"] = versus(dict(zip(seeds, row["seed_scores"])), dict(zip(seeds, base["seed_scores"])),
                                           ALPHA)
            row["versus_default"]["verdict"] = VERDICT.get(row["versus_default"]["verdict"],
                                                           row["versus_default"]["verdict"])
        if configs[row["variant"]].teacher:  # what its forward passes cost, from the seeds' histories
            row["teacher_cost"] = teacher_cost(out / row["variant"], seeds)
    # ties go to the smaller change of the defaults (as nas finalist's do), then to the variant listed first
    best = max(rows, key=lambda r: (r["score"], -len(r["overrides"])))
    picked = configs[best["variant"]]
    result = {"arch": arch, "source": arch_spec, "params": Run.load(out / variants[0][0]).config["params"], "seeds": seeds,
              "epochs": picked.epochs, "split": {k: getattr(picked, k) for k in SPLIT_KEYS},
              "variants": rows, "pick": best["variant"],
              "rule": f"mean validation accuracy of the last {LATE_EPOCHS} epochs, averaged over seeds "
                      f"{', '.join(map(str, seeds))}; ties go to the fewest changes of the defaults"}
    write_text(out / "study.json", json.dumps(result, indent=2) + "\n")
    write_text(out / "pick.json", json.dumps(best["overrides"], indent=2) + "\n")
    return result
