"""Seed noise at full fidelity: how far a network's late validation accuracy moves from seed to seed,
and how many paired seeds a race needs to tell the leaders of the 8k search apart.

The models: the 8k search w8k's two controls (exp3, exp4) and its best networks at the full rung so
far (mean late validation of seeds 0 and 1), chosen on validation only. Each trains again under the
full rung's recipe (15 epochs, 55,000 images, 5,000 held out) with seeds 100-107, apart from the
race's seeds 0-4. No test image is evaluated: this study reads validation only, so it is no look at
the test set, and it decides nothing: the search's race, fixed before it ran, picks. Everything is
read and written below one results root (`--results`, default `$NAS_RESULTS`, else ./results):

    python -m nas.studies.seed_noise select                  # <root>/seeds/models.json, from w8k's run files
    NAS_DEVICE=cuda python -m nas.studies.seed_noise train --jobs 16   # a GPU (or cpu, --jobs 2); resumable
    python -m nas.studies.seed_noise table                   # <root>/seeds/table.md and study.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
from dataclasses import replace
from pathlib import Path

from nas.config import TrainConfig
from nas.data.datasets import load_splits
from nas.errors import ConfigError, ExperimentError
from nas.facts import LATE_EPOCHS, results_root
from nas.nni_boundary import read_trials
from nas.results.store import load_record, score
from nas.studies.proxy import spearman
from nas.training.loop import train
from nas.training.runs import load_arch
from nas.training.workers import map_in_workers
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network
from search_spaces.choices import network_key

SEEDS = list(range(100, 108))
SEARCH = "w8k"
Z_ALPHA, Z_POWER = 1.2816, 0.8416   # one-sided alpha 0.1 (the race's level) and 80% power


def select(root: Path, leaders: int) -> None:
    """models.json: the controls and the `leaders` best networks of w8k's full rung, on validation."""
    by_key: dict[str, dict] = {}
    for t in read_trials(root / "searches", SEARCH):
        f = t.final
        if t.status != "SUCCEEDED" or f.get("rung") != 1 or f.get("score") is None:
            continue
        m = by_key.setdefault(f["key"], {"arch": t.sample, "control": f.get("control"), "params": f["params"],
                                         "scores": {}})
        m["scores"][f["seed"]] = f["score"]
    both = [m for m in by_key.values() if {0, 1} <= set(m["scores"])]
    for m in both:
        m["rung_mean"] = statistics.fmean(m["scores"][s] for s in (0, 1))
    controls = [m for m in both if m["control"]]
    searched = sorted((m for m in both if not m["control"]), key=lambda m: -m["rung_mean"])[:leaders]
    seeded = {network_key(b["arch"]): n for n, b in BASELINES.items()}  # the warm start's reference models
    models = {}
    for m in controls + searched:
        name = m["control"] or seeded.get(network_key(m["arch"])) or f"searched{m['params']}"
        while name in models:  # two networks of one size
            name += "b"
        models[name] = {"arch": m["arch"], "params": m["params"], "control": bool(m["control"]),
                        "rung_mean_seeds_0_1": round(m["rung_mean"], 3)}
    out = root / "seeds"
    out.mkdir(parents=True, exist_ok=True)
    (out / "models.json").write_text(json.dumps(models, indent=1) + "\n")
    for name, m in models.items():
        print(f"{name:12s} {m['params']:6,d} params  rung mean {m['rung_mean_seeds_0_1']:.3f}")


def _job(args: tuple) -> str:
    name, arch, seed, out = args
    import torch


    cfg = TrainConfig(seed=seed, threads=1, device=os.environ.get("NAS_DEVICE", "cpu"))
    torch.set_num_threads(1)
    data = load_splits(None, cfg.val_size, cfg.split_seed, None)
    model = build_network(arch, data.input.shape, data.input.classes)
    history = train(model, data, replace(cfg, seed=seed), evaluate_test=False)
    keep = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
    record = {"model": name, "seed": seed, "device": cfg.device,
              "gpu": torch.cuda.get_device_name() if cfg.device == "cuda" else None,
              "cpu": _cpu(),
              "history": [{k: r[k] for k in keep if k in r} for r in history]}
    path = out / name / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return f"{name} seed {seed}: late val {score(history):.3f}"


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def train_all(root: Path, jobs: int, seeds: list[int]) -> None:
    out = root / "seeds"
    models = json.loads((out / "models.json").read_text())
    todo = [(n, m["arch"], s, out) for s in seeds for n, m in models.items() if not (out / n / f"seed{s}.json").exists()]
    print(f"{len(todo)} trainings to run, {jobs} at once", flush=True)
    for line in map_in_workers(_job, todo, jobs):
        print(line, flush=True)


def warm_start_names(root: Path, models: dict) -> list[str]:
    """The models that are reference designs w8k's evolution began from (its `--warm-start`), not
    networks the search found; none when its record is not under `root`."""
    try:
        specs = (load_record(root / "searches", SEARCH)["search"].get("warm_start") or "none").split(",")
    except ExperimentError:
        return []
    keys = set()
    for spec in specs:
        try:
            keys.add(network_key(load_arch(spec)[1]))
        except ConfigError:  # "none", or a path elsewhere
            continue
    return [n for n, m in models.items() if network_key(m["arch"]) in keys]


def _names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)


def table(root: Path) -> None:
    """Per model: the mean and SD over fresh seeds of late validation; paired against exp3: the mean
    gap, its SD and the paired seeds a one-sided test at alpha 0.1 needs to find that gap 80% of the
    time. Then how well the full rung's two seeds predict two fresh ones, and how far the networks the
    rung ranked best fall back on fresh seeds (the controls, chosen by no one, show the rest): on the
    first two fresh seeds and on every fresh seed each trained, naming those of the four that are the
    warm start's reference designs."""
    out = root / "seeds"
    models = json.loads((out / "models.json").read_text())
    records = {n: [json.loads(p.read_text()) for p in sorted((out / n).glob("seed*.json"))] for n in models}
    scores = {n: {r["seed"]: score(r["history"]) for r in rs} for n, rs in records.items()}
    ref, both = scores["exp3"], SEEDS[:2]
    rows, study = [], {"seeds": SEEDS, "models": {}}
    for n, m in models.items():
        s = scores[n]
        common = sorted(set(s) & set(ref))
        d = [s[k] - ref[k] for k in common]
        entry = {"params": m["params"], "control": m["control"], "rung_mean_seeds_0_1": m["rung_mean_seeds_0_1"],
                 "fresh_mean_seeds_100_101": statistics.fmean(s[k] for k in both),
                 "seeds": len(s), "mean": statistics.fmean(s.values()), "sd": statistics.stdev(s.values())}
        if n != "exp3" and len(d) > 1:
            gap, sd = statistics.fmean(d), statistics.stdev(d)
            entry.update(gap_to_exp3=gap, gap_sd=sd,
                         # from 8 seeds only: two give no usable SD
                         seeds_needed=math.ceil(((Z_ALPHA + Z_POWER) * sd / abs(gap)) ** 2) if gap and len(d) >= 5 else None)
        study["models"][n] = entry
        rows.append(f"| {n}{' (control)' if m['control'] else ''} | {m['params']:,} | {m['rung_mean_seeds_0_1']:.3f} | "
                    f"{entry['fresh_mean_seeds_100_101']:.3f} | {entry['seeds']} | {entry['mean']:.3f} | {entry['sd']:.3f} | "
                    + (f"{entry['gap_to_exp3']:+.3f} | {entry['gap_sd']:.3f} | {entry['seeds_needed'] or '-'} |"
                       if "gap_to_exp3" in entry else "- | - | - |"))
    e = study["models"]
    rho = spearman([v["rung_mean_seeds_0_1"] for v in e.values()], [v["fresh_mean_seeds_100_101"] for v in e.values()])
    top4 = sorted((n for n, v in e.items() if not v["control"]), key=lambda n: -e[n]["rung_mean_seeds_0_1"])[:4]
    controls = [n for n, v in e.items() if v["control"]]
    warm = [n for n in top4 if n in warm_start_names(root, models)]
    two = lambda ns: statistics.fmean(e[n]["fresh_mean_seeds_100_101"] - e[n]["rung_mean_seeds_0_1"] for n in ns)  # noqa: E731
    every = lambda ns: statistics.fmean(e[n]["mean"] - e[n]["rung_mean_seeds_0_1"] for n in ns)  # noqa: E731
    fresh_all = sorted({e[n]["seeds"] for n in top4 + controls})
    study.update(spearman_rung_vs_fresh=rho, models_compared=len(e), top4=top4, top4_warm_start=warm,
                 change_top4_searched=two(top4), change_controls=two(controls),
                 fresh_seeds_per_model=fresh_all, change_top4_all_seeds=every(top4), change_controls_all_seeds=every(controls))
    devices = {r["gpu"] or r["cpu"] for rs in records.values() for r in rs}
    pair = f"{both[0]}-{both[-1]}"
    seeds_all = f"all {fresh_all[0]} fresh seeds" if len(fresh_all) == 1 else "all the fresh seeds each trained"
    text = ("# Seed noise at full fidelity (validation only)\n\n"
            f"`python -m nas.studies.seed_noise table`, from the run files beside it (`{out.as_posix()}/<model>/seed<S>.json`, "
            f"trained on {', '.join(sorted(devices))}; the w8k column was trained on the CPU by the search). "
            f"Late validation = mean of the last {LATE_EPOCHS} epochs' validation accuracy (the race's score). The models: the "
            "w8k search's controls and every network with two seeds at its full rung by 01:00 on 2026-12-01, "
            "best first; the 6 first trained fresh seeds 100-107, the others 100-101. 'seeds needed': paired "
            "seeds for a one-sided test at alpha 0.1 to find the gap to exp3 80% of the time (models with 8 fresh seeds).\n\n"
            "| model | params | w8k full rung, seeds 0-1 | fresh seeds 100-101 | fresh seeds | fresh mean | SD | "
            "gap to exp3, paired | SD of the gap | seeds needed |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
            f"- The full rung's two seeds against two fresh ones, over {len(e)} models: Spearman {rho:.2f}.\n"
            f"- The 4 networks (not controls) the full rung ranked best ({', '.join(top4)}"
            + (f"; {_names(warm)} {'are reference designs' if len(warm) > 1 else 'is a reference design'} the "
               "warm start began from, not networks the search found" if warm else "")
            + f") moved by {study['change_top4_searched']:+.3f} points on fresh seeds {pair} and by "
            f"{study['change_top4_all_seeds']:+.3f} over {seeds_all}; the two controls, which "
            f"no ranking chose, by {study['change_controls']:+.3f} on seeds {pair} and "
            f"{study['change_controls_all_seeds']:+.3f} over {seeds_all}.\n")
    (out / "table.md").write_text(text)
    (out / "study.json").write_text(json.dumps(study, indent=1) + "\n")
    print(text)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m nas.studies.seed_noise", description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("select", "train", "table"))
    p.add_argument("--results", default=None, help="the results root (default $NAS_RESULTS, else ./results)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--leaders", type=int, default=4, help="select: searched networks beside the controls")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="train: these seeds of every model")
    a = p.parse_args(argv)
    root = Path(a.results or results_root())
    {"select": lambda: select(root, a.leaders),
     "train": lambda: train_all(root, a.jobs, [int(s) for s in a.seeds.split(",")]),
     "table": lambda: table(root)}[a.step]()


if __name__ == "__main__":
    main()
