"""The proxy study: which short training ranks architectures the way the full schedule does.

A multi-fidelity search promotes candidates on a cheap first rung; this study measures which rung-0
proxy to trust, before the search's defaults are fixed. Its rules, fixed before any run:

- Architectures: `ARCHS` drawn uniformly at random (each label independently, as NNI's random
  strategy samples) from the search space with BatchNorm on, kept if fvcore counts 4,000 to 8,000
  parameters (the 8k budget's population a rung 0 must rank), one per network, seed 0.
- Full fidelity: the confirmation's recipe (`TrainConfig` defaults: 15 epochs, OneCycle, augmentation)
  on the 55,000-image training split, seeds 0 and 1. An architecture's score is the mean over both
  seeds of its validation accuracy over the last 3 epochs (the late window the verdicts look at).
- Proxies: the same recipe, seed 0, with its schedule squeezed into E epochs on the first N training
  images, for each (E, N) in `PROXIES`; each is read four ways: validation accuracy and loss, at the
  last epoch and at the best epoch. Free ones beside them: the full run's own seed-0 accuracy at an
  early epoch, parameters and FLOPs.
- Measures: Spearman's rho between proxy and full score over all architectures and over the better
  half (by full score); the share of the full top 5 that the proxy's top third keeps (what promoting
  1/3 at rung 0 would keep); the CPU cost of one proxy training as a share of one full training
  (medians of the trainings that ran on the CPU; a GPU's seconds say nothing of what a rung costs
  on the CPU; while some full training ran elsewhere, a full training's CPU cost is estimated at the
  CPU pace of the 55,000-image proxies). The ceiling: rho between the full scores of seed 0 and 1.
- The test split is never evaluated.

    nas proxy-study --results results --jobs 2       # runs what is missing, then writes the table
    NAS_DEVICE=cuda nas proxy-study --jobs 8         # the same trainings on a GPU (no NNI needed)

Layout: `<results>/proxy/archs.json` (the draw), `<arch>/<job>/history.json` (one training each; a
`checkpoint.pt` while it runs; `device.json` where it ran, absent for the CPU), `study.json` (the table the report reads) and `proxy.png`. Finished
trainings are skipped and interrupted ones continue from their checkpoints: the same command resumes.
"""
from __future__ import annotations

import json
import platform
import random
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from nas.atomic import json_text, write_text
from nas.budget import count
from nas.config import PROVISIONAL_RUNGS, TrainConfig, default_threads, make
from nas.data.datasets import load_splits, load_uint8, resolve_data_dir
from nas.errors import ConfigError
from nas.facts import FULL_EPOCHS, FULL_IMAGES, FULL_RUNG, FULL_SEEDS, LATE_EPOCHS
from nas.process import prepare_process
from nas.results.store import late
from nas.training.loop import train
from nas.training.workers import map_in_workers, print_flush
from search_spaces.blocks import build_network
from search_spaces.choices import CHOICES, canonical, network_key

ARCHS, SAMPLE_SEED = 30, 0
MIN_PARAMS, MAX_PARAMS = 4000, 8000
PROXIES = [(1, 20000), (2, 20000), (4, 20000), (1, 55000), (2, 55000), (4, 55000), (2, 10000)]  # (epochs, images)
EARLY_EPOCHS = (1, 2, 3, 5)      # the full run's own seed-0 accuracy at these epochs
TOP, KEEP = 5, 1 / 3             # recall of the full top 5 in the proxy's top third


@dataclass(frozen=True)
class Job:
    arch: str          # the architecture's id in archs.json
    epochs: int
    images: int        # training images (55,000: the whole training split)
    seed: int

    @property
    def name(self) -> str:
        return f"e{self.epochs}-n{self.images}-s{self.seed}"

    @property
    def full(self) -> bool:
        return self.epochs == FULL_EPOCHS and self.images == FULL_IMAGES


def sample_archs(n: int, seed: int, lo: int, hi: int) -> dict:
    """{id: canonical arch} of `n` distinct random networks with BN on and lo..hi parameters."""
    rng, out, seen = random.Random(seed), {}, set()
    while len(out) < n:
        arch = canonical({**{k: rng.choice(v) for k, v in CHOICES.items()}, "bn": True})
        key = network_key(arch)
        if key in seen:
            continue
        seen.add(key)
        try:
            net = build_network(arch)
        except ValueError:  # a feature map shrunk below 1x1
            continue
        if lo <= sum(p.numel() for p in net.parameters()) <= hi and lo <= count(net)[0] <= hi:
            out[f"a{len(out):02d}"] = arch
    return out


def plan(archs: dict) -> list[Job]:
    """Every training, cheapest first: the proxies, then full seed 0, then full seed 1 (so a partial
    study already ranks on one seed)."""
    jobs = [Job(a, e, n, 0) for a in archs for e, n in PROXIES]
    return jobs + [Job(a, FULL_EPOCHS, FULL_IMAGES, s) for s in FULL_SEEDS for a in archs]


def _history(folder: Path) -> list[dict] | None:
    path = folder / "history.json"
    return json.loads(path.read_text()) if path.exists() else None


def hours_left(root: Path, archs: dict, todo: list[Job], jobs: int, device: str = "cpu") -> float | None:
    """Wall hours the trainings in `todo` need on `device`, `jobs` at a time, at the median pace
    (seconds per image-epoch) of the ones finished there on as many images (each epoch's validation
    pass weighs more on fewer), else of all finished there; None before any has finished there."""
    paces: dict[int, list[float]] = {}
    for j in plan(archs):
        if _ran_on(root / j.arch / j.name) == device and (h := _history(root / j.arch / j.name)) is not None:
            paces.setdefault(j.images, []).append(sum(r["seconds"] for r in h) / (j.epochs * j.images))
    if not paces:
        return None
    overall = statistics.median(p for ps in paces.values() for p in ps)
    seconds = sum(j.epochs * j.images * (statistics.median(paces[j.images]) if j.images in paces else overall)
                  for j in todo)
    return seconds / jobs / 3600


def _train_job(args: tuple) -> str:
    """One training into its folder (a worker process); continues its checkpoint if there is one."""
    import torch


    prepare_process()
    arch, job, cfg, folder, data_dir = args
    torch.set_num_threads(cfg.threads)
    data = load_splits(data_dir, cfg.val_size, cfg.split_seed, job.images)  # the first N of the training split
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / "checkpoint.pt"
    history = train(build_network(arch), data, cfg, checkpoint=ckpt, evaluate_test=False)
    if cfg.device != "cpu":  # before the history: a finished training always says where it ran
        write_text(folder / "device.json", json_text({"device": cfg.device, "name": torch.cuda.get_device_name(0)}))
    write_text(folder / "history.json", json_text(history, indent=1))
    ckpt.unlink(missing_ok=True)
    seconds = sum(r["seconds"] for r in history)
    print_flush(f"{job.arch} {job.name}: val {history[-1]['val_acc']:.2f}%  {seconds:.0f}s")
    return job.name


def run(root: Path, jobs: int = 2, data_dir: str | None = None, log=print_flush) -> dict:
    """Train what is missing (resuming interrupted trainings), then analyse; the study's table."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    root.mkdir(parents=True, exist_ok=True)
    draw = root / "archs.json"
    if draw.exists():  # the draw is made once; a resumed study trains the same architectures
        archs = json.loads(draw.read_text())["archs"]
    else:
        archs = sample_archs(ARCHS, SAMPLE_SEED, MIN_PARAMS, MAX_PARAMS)
        write_text(draw, json_text({"seed": SAMPLE_SEED, "min_params": MIN_PARAMS, "max_params": MAX_PARAMS,
                                    "archs": archs}))
    data_dir = str(resolve_data_dir(data_dir).resolve())
    load_uint8(data_dir)  # verify + cache once, before the workers start
    base = make(TrainConfig, {}, threads=default_threads(jobs))
    todo = [j for j in plan(archs) if _history(root / j.arch / j.name) is None]
    left = hours_left(root, archs, todo, jobs, base.device)
    log(f"proxy study: {len(archs)} architectures, {len(plan(archs)) - len(todo)} trainings done, "
        f"{len(todo)} to run, {jobs} at once" + (f", about {left:.1f} h at the pace so far" if left else "")
        + f" -> {root}")
    args = [(archs[j.arch], j, replace(base, epochs=j.epochs, seed=j.seed), root / j.arch / j.name, data_dir)
            for j in todo]
    if args:
        map_in_workers(_train_job, args, min(jobs, len(args)))
    return analyse(root)


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho (Pearson's r of the ranks); None under 3 points or with a constant side."""
    if len(x) < 3:
        return None
    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else None


def top_recall(proxy: list[float], full: list[float], top: int = TOP, keep: float = KEEP) -> float | None:
    """Share of the `top` best by `full` that are among the best `keep` share by `proxy`."""
    if len(full) < 2 * top:
        return None
    best = set(sorted(range(len(full)), key=lambda i: -full[i])[:top])
    kept = set(sorted(range(len(proxy)), key=lambda i: -proxy[i])[:max(top, round(keep * len(proxy)))])
    return len(best & kept) / top


def _ran_on(folder: Path) -> str:
    """The device a training ran on (its device.json; none: the CPU)."""
    path = folder / "device.json"
    return json.loads(path.read_text())["device"] if path.exists() else "cpu"


def _readings(history: list[dict]) -> dict[str, float]:
    """The four ways a proxy training is read; higher is better for each (losses are negated)."""
    return {"val_acc last": history[-1]["val_acc"], "val_acc best": max(r["val_acc"] for r in history),
            "val_loss last": -history[-1]["val_loss"], "val_loss best": -min(r["val_loss"] for r in history)}


def _cpu() -> str:
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        flags = Path("/proc/cpuinfo").read_text()
        isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
        return f"{names[0] if names else platform.processor()} ({isa})"
    except OSError:
        return platform.processor() or platform.machine()


def _full_cost(seconds: dict, full_elsewhere: int) -> tuple[float | None, str | None]:
    """(a full training's CPU seconds, how it was found): the median of the full trainings when all of
    them ran on the CPU; while some ran elsewhere (those left are not a fair sample), the median CPU
    pace per image-epoch of the proxies on all 55,000 images, times the full schedule's image-epochs."""
    if seconds.get("full") and not full_elsewhere:
        return statistics.median(seconds["full"]), "measured"
    paces = [t / (key[0] * key[1]) for key, ts in seconds.items() if key != "full" and key[1] == FULL_IMAGES
             for t in ts]
    if not paces:
        return None, None
    return statistics.median(paces) * FULL_EPOCHS * FULL_IMAGES, "estimated"


def analyse(root: Path) -> dict:
    """Write `study.json` and `proxy.png` from the finished trainings; return the table. Uses the
    architectures whose full runs (both seeds) have finished; with none, only counts."""
    archs = json.loads((root / "archs.json").read_text())["archs"]

    full, per_seed, early, readings, seconds = {}, {s: {} for s in FULL_SEEDS}, {}, {}, {}
    elsewhere = full_elsewhere = 0  # trainings that ran on a GPU: their scores count, their seconds do not
    for a in archs:
        folders = {s: root / a / Job(a, FULL_EPOCHS, FULL_IMAGES, s).name for s in FULL_SEEDS}
        hs = {s: _history(f) for s, f in folders.items()}
        for s, h in hs.items():
            if h is not None:
                per_seed[s][a] = statistics.fmean(late(h))
                if _ran_on(folders[s]) == "cpu":
                    seconds.setdefault("full", []).append(sum(r["seconds"] for r in h))
                else:
                    elsewhere, full_elsewhere = elsewhere + 1, full_elsewhere + 1
        if all(h is not None for h in hs.values()):
            full[a] = statistics.fmean(per_seed[s][a] for s in FULL_SEEDS)
            early[a] = {f"full run, epoch {k}": hs[0][k - 1]["val_acc"] for k in EARLY_EPOCHS}
        for e, n in PROXIES:
            folder = root / a / Job(a, e, n, 0).name
            h = _history(folder)
            if h is not None:
                readings.setdefault((e, n), {})[a] = _readings(h)
                if _ran_on(folder) == "cpu":
                    seconds.setdefault((e, n), []).append(sum(r["seconds"] for r in h))
                else:
                    elsewhere += 1
    ids = sorted(full)
    scores = [full[a] for a in ids]
    better = [a for a in ids if full[a] >= statistics.median(scores)] if ids else []
    full_cost, full_cost_from = _full_cost(seconds, full_elsewhere)

    def row(name: str, values: dict[str, float], cost: float | None, kind: str) -> dict:
        have = [a for a in ids if a in values]
        xs, ys = [values[a] for a in have], [full[a] for a in have]
        top = [a for a in better if a in values]
        return {"proxy": name, "kind": kind, "n": len(have), "spearman": spearman(xs, ys),
                "spearman_top_half": spearman([values[a] for a in top], [full[a] for a in top]),
                "top5_recall": top_recall(xs, ys), "cost": cost}

    rows = []
    for (e, n), by_arch in sorted(readings.items(), key=lambda kv: (kv[0][0] * kv[0][1], kv[0])):
        cost = statistics.median(seconds[(e, n)]) / full_cost if full_cost and seconds.get((e, n)) else None
        for reading in ("val_acc last", "val_acc best", "val_loss last", "val_loss best"):
            rows.append(row(f"{e} ep x {n:,} img, {reading}", {a: r[reading] for a, r in by_arch.items()},
                            cost, "proxy") | {"epochs": e, "images": n, "reading": reading})
    for k in EARLY_EPOCHS:
        name = f"full run, epoch {k}"
        rows.append(row(name, {a: v[name] for a, v in early.items()}, None, "free"))
    sizes = {a: count(build_network(archs[a])) for a in ids}
    rows.append(row("parameters", {a: float(p) for a, (p, _) in sizes.items()}, 0.0, "free"))
    rows.append(row("FLOPs", {a: float(f) for a, (_, f) in sizes.items()}, 0.0, "free"))
    both = [a for a in archs if all(a in per_seed[s] for s in FULL_SEEDS)]
    ceiling = spearman([per_seed[0][a] for a in both], [per_seed[1][a] for a in both])
    study = {"archs": len(archs), "complete": len(ids), "full_seconds_median": full_cost,
             "full_seconds_from": full_cost_from, "not_on_cpu": elsewhere, "cpu": _cpu(),
             "ceiling_seed0_vs_seed1": ceiling, "full_scores": full, "rows": rows,
             "rules": {"min_params": MIN_PARAMS, "max_params": MAX_PARAMS, "seeds": list(FULL_SEEDS),
                       "late_epochs": LATE_EPOCHS, "top": TOP, "keep": KEEP}}
    write_text(root / "study.json", json_text(study))
    if len(ids) >= 3:
        proxy_png(study, root / "proxy.png")
    return study


NEAR = 0.05         # Spearman gaps this small are noise among 30 architectures: take the cheaper
RUNG0_COST = 0.2    # rung 0 costs at most this share of a full training
RUNG1_COST = 0.5    # a middle rung, if any, at most this share
RUNG1_GAIN = 0.1    # ... and only if it ranks this much better than rung 0


def _pick(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    best = max(r["spearman"] for r in rows)
    return min((r for r in rows if r["spearman"] >= best - NEAR), key=lambda r: (r["cost"], -r["spearman"]))


def schedule_from_study(study: dict) -> list[dict]:
    """The rungs before the full one, chosen from the table by rules fixed before the study ran:
    rung 0 is the proxy with the highest Spearman over all architectures among those costing at most
    `RUNG0_COST` of a full training (within `NEAR` of the best, the cheapest); a middle rung is the
    same choice among the costlier proxies up to `RUNG1_COST`, kept only if its Spearman beats rung
    0's by `RUNG1_GAIN`. Each rung: {epochs, images, reading, spearman, cost}."""
    proxies = [r for r in study["rows"] if r["kind"] == "proxy" and r["spearman"] is not None
               and r["cost"] is not None]
    first = _pick([r for r in proxies if r["cost"] <= RUNG0_COST])
    if first is None:
        return []
    rungs = [first]
    middle = _pick([r for r in proxies if first["cost"] < r["cost"] <= RUNG1_COST])
    if middle is not None and middle["spearman"] >= first["spearman"] + RUNG1_GAIN:
        rungs.append(middle)
    return [{k: r[k] for k in ("epochs", "images", "reading", "spearman", "cost")} for r in rungs]


def rungs_setting(root: Path) -> tuple[str, str]:
    """(the --rungs text for a search, where it came from): the rungs the finished study chose,
    then the full schedule; the provisional default while the study is missing or unfinished."""
    path = root / "study.json"
    if not path.exists():
        return PROVISIONAL_RUNGS, "provisional (no proxy study)"
    study = json.loads(path.read_text())
    if study["complete"] < study["archs"]:
        return PROVISIONAL_RUNGS, f"provisional (the proxy study has {study['complete']} of {study['archs']} architectures)"
    reading = {"val_acc last": "", "val_acc best": "/val_acc_best", "val_loss last": "/val_loss_last",
               "val_loss best": "/val_loss_best"}
    first = ",".join(f"{r['epochs']}x{r['images']}{reading[r['reading']]}" for r in schedule_from_study(study))
    return (f"{first},{FULL_RUNG}" if first else PROVISIONAL_RUNGS), f"chosen by the proxy study ({path})"


def proxy_png(study: dict, out: Path) -> None:
    """Each proxy's Spearman with the full-fidelity score against its cost (share of a full training),
    one marker per way of reading it, with the seed-to-seed ceiling as a line."""
    import matplotlib  # here: only the picture needs it

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    markers = {"val_acc last": "o", "val_acc best": "^", "val_loss last": "s", "val_loss best": "D"}
    for reading, marker in markers.items():
        rows = [r for r in study["rows"] if r.get("reading") == reading and r["spearman"] is not None]
        ax.scatter([r["cost"] for r in rows], [r["spearman"] for r in rows], marker=marker, s=40, label=reading)
        if reading == "val_acc last":
            for r in rows:
                ax.annotate(f"{r['epochs']}x{r['images'] // 1000}k", (r["cost"], r["spearman"]),
                            textcoords="offset points", xytext=(5, -12), fontsize=8)
    if study.get("ceiling_seed0_vs_seed1") is not None:
        ax.axhline(study["ceiling_seed0_vs_seed1"], color="0.4", ls="--", lw=1,
                   label="full run: seed 0 vs seed 1 (ceiling)")
    ax.set_xscale("log")
    ax.set_xlabel("cost of one proxy training (share of one full 15-epoch training, log scale)")
    ax.set_ylabel("Spearman rho with the full-fidelity score")
    ax.set_title(f"Which rung-0 proxy ranks like the full schedule ({study['complete']} architectures, 4k-8k)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=125)
    plt.close(fig)
