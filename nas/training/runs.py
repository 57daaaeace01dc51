"""Train one architecture for N epochs x M seeds into a run folder (what `nas train` and
`nas baselines` do, and each training of a re-rank and a recipe study).

A confirmation or a baseline evaluates the test set every epoch (`evaluate_test=True`: the look). A
re-rank's or recipe study's training selects, so it evaluates no test image (`evaluate_test=False`):
its histories hold test_loss and test_acc as null, its summary no test value, and its ONNX check
runs on validation images.

A run folder holds everything needed to re-run it and to report on it:
  config.json          the architecture, the resolved TrainConfig, seeds, params, FLOPs, the device
                       figures (`footprint`: nas/footprint.py), versions
  seed<S>/history.csv  one row per epoch: train / validation / test loss and accuracy, lr, seconds
                       (test nan in the CSV, null in JSON, where the run evaluates no test image)
  seed<S>/history.json the same rows as JSON
  seed<S>/model.pt     the final weights (state_dict of `build_network(arch)`)
  seed<first>/model.onnx  the first seed's trained network as ONNX, checked against PyTorch (nas.deploy.onnx);
                       `nas onnx RUN_DIR [--seed S]` writes it again from the weights (`write_run_onnx`)
  seed<first>/model.int8.onnx  its int8 model (nas.deploy.int8), calibrated on the run's training images
  int8.json            the int8 file's sizes, constant bytes and latency, and the int8 accuracy beside the
                       fp32 one (onnxruntime): of every seed on the test set for a confirmation (no
                       validation split; part of its look), of the first seed on validation otherwise
                       (`write_run_int8`); scored again later by `nas onnx`, a confirmation's int8
                       accuracy is a new look at the test set, counted there ("looks")
  seed<S>/checkpoint.pt  the state after the last finished epoch (`--resume` continues from it)
  summary.json         per seed: final validation accuracy, and final, best and last-3-epoch test
                       accuracy where the run evaluates the test set
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from nas.atomic import json_text, save_torch, write_text
from nas.budget import count
from nas.config import TrainConfig, asdict, default_threads, fit_val_size, with_recipe
from nas.data.datasets import Input, load_splits, load_uint8
from nas.deploy.int8 import INT8_FILE, write_int8
from nas.deploy.onnx import TOLERANCE, WEIGHTS_KEY, accuracy, check_images, run_onnx, write_onnx
from nas.errors import ConfigError, DataError, RunError
from nas.footprint import footprint
from nas.results.store import INT8_RECORD, late
from nas.training.loop import check_schedule, format_epoch, train
from nas.training.teacher import announce, load as load_teacher, vetted
from nas.training.workers import map_in_workers, print_flush
from search_spaces import choices
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network


def load_arch(spec: str) -> tuple[str, dict, dict]:
    """(name, canonical arch, recipe overrides) for a baseline name or an arch.json path."""
    if spec in BASELINES:
        b = BASELINES[spec]
        return spec, choices.canonical(b["arch"]), dict(b["recipe"])
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"{spec!r} is neither a baseline ({', '.join(BASELINES)}) nor an existing arch.json file")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    arch = data.get("arch", data) if isinstance(data, dict) else None
    if not isinstance(arch, dict):
        raise ConfigError(f"{path}: expected a JSON object with the architecture's choices")
    try:
        arch = choices.canonical(choices.complete(arch))
    except (ValueError, KeyError) as e:
        raise ConfigError(f"{path}: {e}") from None
    # an export knows its dataset: trained again, it trains on that one unless told otherwise
    dataset = (data.get("input") or {}).get("dataset")
    return path.parent.name or path.stem, arch, ({"dataset": dataset} if dataset else {})


def _history_csv(history: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(history[0]))
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _train_seed(arch: dict, cfg: TrainConfig, seed: int, out: Path, data_dir: str | None,
                fresh: bool, prefix: str = "", log=print, data=None, evaluate_test: bool = True) -> dict:
    """Train one seed into `out/seed<S>` (continuing its checkpoint unless `fresh`); its summary entry."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if data is None:  # a worker process loads its own copy (from the decode cache)
        data = load_splits(data_dir, cfg.val_size, cfg.split_seed, cfg.train_subset or None, dataset=cfg.dataset)
    folder = out / f"seed{seed}"
    folder.mkdir(exist_ok=True)
    ckpt = folder / "checkpoint.pt"
    if fresh and ckpt.exists():
        ckpt.unlink()
    log(f"{prefix}seed {seed}\n{prefix}" + format_epoch({}, header=True))
    model = build_network(arch, data.input.shape, data.input.classes)
    history = train(model, data, replace(cfg, seed=seed), checkpoint=ckpt, evaluate_test=evaluate_test,
                    on_epoch=lambda r: log(prefix + format_epoch(r)))
    write_text(folder / "history.csv", _history_csv(history))
    write_text(folder / "history.json", json_text(history, indent=1))
    save_torch(model.state_dict(), folder / "model.pt")
    if not evaluate_test:
        return {"final_val_acc": history[-1]["val_acc"]}
    return {"final_test_acc": history[-1]["test_acc"], "last3_test_acc": late(history, "test_acc"),
            "final_val_acc": history[-1]["val_acc"], "best_test_acc": max(r["test_acc"] for r in history)}


def how_trained(cfg: dict, seed: int, images: int) -> str:
    """The ONNX file's `nas.weights` line for a run's seed."""
    return f"trained: `nas train`, {cfg['epochs']} epochs x {images:,} images, seed {seed}"


def _write_onnx(arch: dict, data, folder: Path, evaluate_test: bool = True, weights: str = "trained") -> dict:
    """The trained model.onnx of one seed, beside its weights, checked on 256 test images (nas.deploy.onnx);
    on 256 validation images where the run evaluates no test image."""
    model = build_network(arch, data.input.shape, data.input.classes)
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True, map_location="cpu"))
    images, which = ((data.test_x, "test images") if evaluate_test else (data.val_x, "validation images")
                     if len(data.val_x) else (data.train_x, "training images"))
    return write_onnx(model, folder / "model.onnx", images[:256].to("cpu"), which, data.input, weights)


def write_run_onnx(run_dir: str | os.PathLike, seed: int | None = None, data_dir: str | None = None) -> dict:
    """Write `seed<S>/model.onnx` of a trained run folder from its weights, without training again
    (`nas onnx RUN_DIR`; default: the run's first seed). Checked by onnxruntime against PyTorch; where
    the data is on this machine, the split the run itself read (test for a confirmation, else
    validation) is classified by both and their accuracies returned beside the check
    ("accuracy": {split, images, pytorch, onnxruntime})."""
    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
        arch, train_cfg, seeds = config["arch"], config["train"], config["seeds"]
    except (OSError, ValueError, KeyError):
        raise RunError(f"{run_dir}: no run folder of `nas train` (it needs config.json)") from None
    seed = seeds[0] if seed is None else seed
    folder = run_dir / f"seed{seed}"
    if not (folder / "model.pt").exists():
        raise RunError(f"{folder / 'model.pt'}: no trained weights (seeds with weights: "
                       f"{', '.join(p.parent.name for p in sorted(run_dir.glob('seed*/model.pt'))) or 'none'})")
    inp = Input.from_dict(config.get("input"))
    model = build_network(arch, inp.shape, inp.classes)
    try:
        model.load_state_dict(torch.load(folder / "model.pt", weights_only=True, map_location="cpu"))
    except Exception as e:
        raise RunError(f"{folder / 'model.pt'}: not the weights of the run's network "
                       f"({(str(e).splitlines() or [''])[0][:150]})") from None
    model.eval()
    split = "test" if config.get("evaluate_test", True) else "val"
    recorded = config.get("data_dir")  # the folder the run read, if it is still here
    data_dir = data_dir or (recorded if recorded and Path(recorded).is_dir() else None)
    try:
        data = load_splits(data_dir, train_cfg.get("val_size", 0), train_cfg.get("split_seed", 0),
                           train_cfg.get("train_subset") or None, download=False, dataset=inp.dataset)
        x, y = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
    except DataError:
        x = y = None
    if x is None or not len(x):
        images, which = check_images(inp, data_dir)
    else:
        images, which = x[:256], f"{'test' if split == 'test' else 'validation'} images"
    history = json.loads((folder / "history.json").read_text()) if (folder / "history.json").exists() else []
    epochs = len(history) or train_cfg["epochs"]  # an interrupted seed's weights are those of its last epoch
    trained_on = len(data.train_x) if x is not None else train_cfg.get("train_subset", 0)
    weights = (how_trained({**train_cfg, "epochs": epochs}, seed, trained_on) if trained_on
               else f"trained: `nas train`, {epochs} epochs, seed {seed}")
    check = write_onnx(model, folder / "model.onnx", images, which, inp, weights)
    if x is not None and len(x):
        with torch.no_grad():
            want = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)]).numpy()
        got = [run_onnx(folder / "model.onnx", x[i:i + 1000].numpy()) for i in range(0, len(x), 1000)]
        check["accuracy"] = {"split": split, "images": len(y), "pytorch": round(accuracy(want, y), 4),
                             "onnxruntime": round(accuracy(np.concatenate(got), y), 4)}
        check["int8"] = write_run_int8(run_dir, data, seed, later=True)
    else:
        check["int8_none"] = "the run's training images are not on this machine to calibrate it"
    return {**check, "path": str(folder / "model.onnx"), "weights": weights}


def _seed_onnx(template: Path, model: torch.nn.Module, out: Path, images: torch.Tensor, source: str, inp,
               weights: str) -> None:
    """The fp32 file of another seed's weights: `template` (the same network's checked file) with
    its initializers, named as the state_dict, replaced by `model`'s, then checked against PyTorch as
    write_onnx checks a fresh export (seconds less a seed); exported afresh where a name or a shape
    does not match or the check fails."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(template))
    inits = {i.name: i for i in graph.graph.initializer}
    state = {k: v.numpy() for k, v in model.state_dict().items() if v.is_floating_point()}
    if all(k in inits and tuple(inits[k].dims) == v.shape for k, v in state.items()):
        for name, value in state.items():
            inits[name].CopyFrom(numpy_helper.from_array(value, name))
        for prop in graph.metadata_props:
            prop.value = weights if prop.key == WEIGHTS_KEY else prop.value
        onnx.save(graph, str(out))
        with torch.no_grad():
            want = model(images).numpy()
        got = run_onnx(out, images.numpy())
        if np.abs(got - want).max() <= TOLERANCE and (got.argmax(1) == want.argmax(1)).all():
            return
    write_onnx(model, out, images, source, inp, weights)


SCORES = ("fp32", "int8", "int8_host_kernels")  # int8.json's per seed: nas.deploy.int8.write_int8's accuracy


def write_run_int8(run_dir: str | os.PathLike, data, file_seed: int, later: bool = False) -> dict:
    """Write `seed<file_seed>/model.int8.onnx` from the model.onnx beside it (calibrated on the run's
    training images), score int8 and fp32 files with onnxruntime, time both, and record it all in
    the run's int8.json. A run with a validation split (it chooses) scores `file_seed` on validation;
    a confirmation (no validation split, the test set read) scores every seed with weights on the
    test set, each quantized alike: in the run itself, part of its one look. `later`: scored after
    the run ended (`nas onnx`): on the test set, a look of its own, added to the looks int8.json counts."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    inp = Input.from_dict(config.get("input"))
    on_test = not len(data.val_x) and config.get("evaluate_test", True)
    x, y = (data.test_x, data.test_y) if on_test else (data.val_x, data.val_y)
    split = "test" if on_test else "validation"
    fp32 = run_dir / f"seed{file_seed}" / "model.onnx"
    entry = write_int8(fp32, data.train_x, x, y, split, inp.shape)
    seeds = {str(file_seed): {k: entry["accuracy"][k] for k in SCORES}} if "accuracy" in entry else {}
    others = [s for s in config["seeds"] if on_test and len(x) and s != file_seed
              and (run_dir / f"seed{s}" / "model.pt").exists()]
    for seed in others:  # each seed's final weights, quantized as the first one's were
        model = build_network(config["arch"], inp.shape, inp.classes)
        model.load_state_dict(torch.load(run_dir / f"seed{seed}" / "model.pt", weights_only=True, map_location="cpu"))
        with tempfile.TemporaryDirectory() as tmp:
            _seed_onnx(fp32, model.eval(), Path(tmp) / "model.onnx", x[:256].cpu(), f"{split} images", inp,
                       f"trained: `nas train`, seed {seed}")
            scored = write_int8(Path(tmp) / "model.onnx", data.train_x, x, y, split)["accuracy"]
        seeds[str(seed)] = {k: scored[k] for k in SCORES}
    old = json.loads((run_dir / INT8_RECORD).read_text()) if (run_dir / INT8_RECORD).exists() else {}
    record = {"file": f"seed{file_seed}/{INT8_FILE}", **{k: v for k, v in entry.items() if k != "file"},
              "split": split, "images": len(x), "seeds": dict(sorted(seeds.items(), key=lambda kv: int(kv[0]))),
              "scored": "after the run (`nas onnx`)" if later else "by the run itself",
              "looks": old.get("looks", 0) + (1 if later and on_test and seeds else 0)}
    write_text(run_dir / INT8_RECORD, json.dumps(record, indent=2) + "\n")
    return record


def int8_summary(record: dict, run_dir: str | os.PathLike) -> str:
    """One line on a run's int8 models: where, their accuracy beside fp32's, their constant bytes."""
    seeds, path = record["seeds"], Path(run_dir) / record["file"]
    if not seeds:
        return f"wrote {path} (not scored: the run has no {record['split']} images)"
    mean = lambda k: sum(v[k] for v in seeds.values()) / len(seeds)  # noqa: E731
    return (f"wrote {path}: {record['split']} accuracy int8 {mean('int8'):.2f}%, fp32 {mean('fp32'):.2f}% "
            f"(onnxruntime, {'mean of seeds ' if len(seeds) > 1 else 'seed '}{','.join(seeds)}; "
            f"{mean('int8_host_kernels'):.2f}% through this CPU's int8 kernels); "
            f"{record['constant_bytes']['total']:,} B of constants, {record['bytes']['int8']:,} B file; "
            f"latency {record['latency_ms']['int8']:.3f} ms int8, {record['latency_ms']['fp32']:.3f} ms fp32 "
            f"(1 thread, this host)" + (f"; int8.json counts {record['looks']} look(s) at the test set after the run"
                                         if record["looks"] else ""))


def teacher_cost(out: Path, seeds: list[int]) -> dict:
    """Seconds of the teacher's forward passes against all of a run's epoch seconds (their evaluation
    included), and what they add to the rest: `adds_pct`, the median over epochs of teacher seconds
    over the epoch's other seconds, in % (a median, so that one epoch slowed by something else on
    the machine does not move it)."""
    rows = [r for s in seeds for r in json.loads((out / f"seed{s}" / "history.json").read_text())]
    teach = [r.get("teacher_seconds", 0.0) for r in rows]
    ratios = [t / max(1e-9, r["seconds"] - t) for t, r in zip(teach, rows)]
    return {"teacher_seconds": round(sum(teach), 2), "seconds": round(sum(r["seconds"] for r in rows), 2),
            "adds_pct": round(100 * float(np.median(ratios)), 1) if ratios else 0.0}


def _seed_job(args: tuple) -> dict:
    """Entry point of a worker process (`jobs` > 1): one seed, its lines prefixed with the seed."""
    arch, cfg, seed, out, data_dir, fresh, evaluate_test = args
    return _train_seed(arch, cfg, seed, out, data_dir, fresh, prefix=f"[seed {seed}] ", log=print_flush,
                       evaluate_test=evaluate_test)


def run(arch: dict, cfg: TrainConfig, seeds: list[int], out: str | os.PathLike, data_dir: str | None = None,
        force: bool = False, resume: bool = False, name: str = "", log=print, jobs: int = 1,
        source: str = "", evaluate_test: bool = True) -> dict:
    """Train `arch` once per seed into run folder `out`; return the summary.

    `evaluate_test`: True for a confirmation or a baseline (the test set every epoch); False for a
    training that selects (a re-rank's, a recipe study's), which evaluates no test image.

    `jobs` > 1 trains that many seeds at once in worker processes, each with cores / jobs threads
    (unless `cfg.threads` is set): on a 2-core CPU two 1-thread seeds finish in about 0.55x the time
    of one 2-thread seed after another (bench/RESULTS.md). A seed's numbers depend on its thread
    count in the last bits only; the count is recorded in config.json."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    jobs = min(jobs, len(seeds))
    cfg = replace(cfg, threads=cfg.threads or default_threads(jobs))
    cfg, recipe = with_recipe(cfg, arch)  # a searched candidate's recipe labels (--search-recipe)
    out = Path(out)
    # the default validation split sized to the dataset (a small one cannot give 5,000 images)
    cfg, line = fit_val_size(cfg, len(load_uint8(data_dir, dataset=cfg.dataset)["train_y"]))
    if line:
        log(line)
    teacher = vetted(cfg, data_dir)  # before the data loads and the run folder exists: its file, which images taught it
    # the data first: the network is built for its input, and bad data fails before any write
    data = load_splits(data_dir, cfg.val_size, cfg.split_seed, cfg.train_subset or None, dataset=cfg.dataset)
    try:
        net = build_network(arch, data.input.shape, data.input.classes)
        params, flops = count(net, data.input.shape)
        figures = footprint(net, data.input.shape).as_dict()  # the device figures (nas/footprint.py)
    except ValueError as e:
        raise ConfigError(f"this architecture cannot take {cfg.dataset}'s {'x'.join(map(str, data.input.shape))} "
                          f"images: {e}") from None
    check_schedule(cfg, len(data.train_x))  # a recipe that cannot run fails before the run folder exists
    if teacher:  # it takes these images and gives these classes
        load_teacher(cfg.teacher, data.input.shape, data.input.classes)
    config = {"name": name, "source": source, "arch": arch, "train": asdict(replace(cfg, seed=0)), "seeds": seeds,
              "input": asdict(data.input), "params": params, "flops": flops, "footprint": figures,
              "evaluate_test": evaluate_test, "train_images": len(data.train_x),
              **({"teacher": teacher.as_dict()} if teacher else {}),
              "torch": torch.__version__, "git": _git_commit(),
              "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
              "device_name": torch.cuda.get_device_name(0) if cfg.device == "cuda" else None}
    cfg_path = out / "config.json"
    if cfg_path.exists():
        if resume:
            old = json.loads(cfg_path.read_text())
            # keys added to TrainConfig later are absent from older runs, which ran their default
            defaults = asdict(TrainConfig())
            same = lambda t: {k: v for k, v in {**defaults, **t}.items() if k != "threads"}  # noqa: E731
            was = same(old["train"])["device"]
            if was != cfg.device:  # a checkpoint's tensors and RNG state belong to the device it ran on
                raise RunError(f"{out} holds a run trained on {was}; resume it with device={was} "
                               f"(NAS_DEVICE={was} or --set device={was})")
            if (old["arch"], same(old["train"])) != (config["arch"], same(config["train"])):
                raise RunError(f"{out} holds a run with another architecture or recipe; cannot resume it")
            if teacher and (old.get("teacher") or {}).get("sha256") != teacher.sha256:
                raise RunError(f"{out} was started with another teacher file than {cfg.teacher} "
                               f"(sha256 {teacher.sha256[:12]}); cannot resume it")
            # the commit that started the run stays; the ones that continued it are listed after it
            config["git"], config["resumed_git"] = old.get("git"), [*old.get("resumed_git", []), config["git"]]
        elif not force:
            raise RunError(f"{out} already holds a run; pass --resume to continue it or --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    if force and not resume:  # a replaced run keeps nothing of the old one (seed folders included)
        for old in out.glob("seed*"):
            if old.is_dir():
                shutil.rmtree(old)
        (out / "summary.json").unlink(missing_ok=True)
    write_text(cfg_path, json.dumps(config, indent=2) + "\n")
    log(f"{name or 'run'}: {params:,} parameters, {flops:,} FLOPs, {figures['macs']:,} MACs, int8 model "
        f"{figures['flash']:,} B, peak RAM {figures['ram']:,} B, {len(data.train_x):,} training images, "
        f"{len(data.val_x):,} validation, seeds {seeds} ({jobs} at once, {cfg.threads} threads each) -> {out}")
    if recipe:
        log("its recipe labels set " + ", ".join(f"{k}={v}" for k, v in recipe.items()))
    if teacher:
        log(announce(teacher, cfg))
    fresh = not resume  # a new or replaced run never continues a checkpoint it finds
    if jobs == 1:
        results = [_train_seed(arch, cfg, seed, out, data_dir, fresh, log=log, data=data, evaluate_test=evaluate_test)
                   for seed in seeds]
    else:
        results = map_in_workers(_seed_job, [(arch, cfg, s, out, data_dir, fresh, evaluate_test) for s in seeds], jobs)
    summary = {"name": name, "params": params, "flops": flops, "footprint": figures,
               "seeds": {str(s): r for s, r in zip(seeds, results)},
               "onnx": _write_onnx(arch, data, out / f"seed{seeds[0]}", evaluate_test,
                                   how_trained(asdict(cfg), seeds[0], len(data.train_x)))}
    log(f"wrote {out / f'seed{seeds[0]}' / 'model.onnx'} (onnxruntime matches PyTorch on "
        f"{summary['onnx']['checked_on']}: largest logit difference {summary['onnx']['max_abs_diff']:.1e})")
    summary["int8"] = write_run_int8(out, data, seeds[0])
    log(int8_summary(summary["int8"], out))
    if teacher:
        summary["teacher_cost"] = teacher_cost(out, seeds)
        log(f"the teacher's forward passes took {summary['teacher_cost']['teacher_seconds']:,.0f} s of "
            f"{summary['teacher_cost']['seconds']:,.0f} s: they add a median {summary['teacher_cost']['adds_pct']:.0f}% "
            "to an epoch of the student's training")
    write_text(out / "summary.json", json_text(summary))
    return summary
