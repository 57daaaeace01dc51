"""Export the top-k architectures of a search.

For each exported architecture, a folder with:
  arch.json   the choices that matter (canonical form), the trial's metrics, params and FLOPs, the
              device figures (`footprint`: nas/footprint.py), and
              the input it takes (dataset, shape, classes, normalisation); for a candidate with
              recipe labels (--search-recipe), the recipe fields they set (`nas train` applies them)
  model.py    a self-contained PyTorch file (torch only, no NNI): `build_model()` rebuilds it
  model.pt    the trained weights (state_dict of `build_model()`), where the trial kept them
  model.onnx  the network as ONNX, checked by onnxruntime against PyTorch (nas.deploy.onnx); its
              metadata says whether its weights are trained, and how
  model.int8.onnx  a trained export's int8 model (nas.deploy.int8), calibrated on the search's
              training images; an untrained export has none
  table.txt   fvcore's per-layer parameter / FLOP table, then the device figures
and, beside them, `summary.json` and `trials.csv` with every trial of the experiment (its device
figures where the trial reported them).

Weights: a multi-fidelity search's last-rung trials of seed 0 keep theirs (fixed in advance, not the
luckiest seed), and so does every trial of a flat search (proxy-trained: its epochs x images); a
search copies them into `<id>/weights/` when it ends, fetching them from remote workers
(nas.engine.weights). A trial without kept weights (an earlier rung; a search from before trials
kept them) is exported with its initial weights (seed 0), and its model.onnx says "untrained".
A trained export's validation accuracy is measured twice, by PyTorch and by onnxruntime, on the
search's validation split, and both are recorded in arch.json and table.txt; so are its int8
file's validation accuracy beside the fp32 one, its file size, its constant bytes and both files'
latency (arch.json's "int8", or "int8_none" saying why there is no int8 file).

Trials are ranked by their final validation accuracy (the search's metric; never the test
accuracy), ties going to the smaller model (`nas.results.store.rank`). Export reads NNI's database, so it
works whether or not the experiment's manager runs, and without NNI installed.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pprint
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from fvcore.nn import flop_count_table

import search_spaces.blocks as blocks
from nas.budget import count, flop_analysis
from nas.config import asdict
from nas.data.datasets import MNIST_INPUT, load_splits
from nas.deploy.int8 import INT8_FILE, int8_lines, write_int8
from nas.deploy.onnx import CHECK_IMAGES, UNTRAINED, accuracy, check_images, run_onnx, write_onnx
from nas.errors import DataError, ExportError
from nas.facts import epoch_images
from nas.footprint import BOUNDS as FIGURES, footprint
from nas.nni_boundary.trial_side import TRIAL_WEIGHTS
from nas.results.store import distinct, load_record, load_rungs, rank, read_trials, recorded_input
from search_spaces import choices
from search_spaces.blocks import build_network


def model_source(arch: dict, inp=None) -> str:
    """A self-contained PyTorch file that rebuilds `arch` for the dataset's input `inp`
    (nas.data.datasets.Input, MNIST's by default): the searched blocks, copied verbatim, and the input's shape,
    classes and normalisation."""
    inp = inp or MNIST_INPUT
    code = Path(blocks.__file__).read_text()
    return ("# Exported architecture: needs torch only, not NNI. Use it with\n"
            "#     from model import build_model; net = build_model()\n"
            "# Its input: images of INPUT_SHAPE (channels, height, width), pixels scaled to [0, 1], then\n"
            "# (x - MEAN) / STD per channel; its output: one logit per class.\n"
            f"# ---- search_spaces/blocks.py, copied verbatim ----\n{code}\n\n"
            f"# ---- the exported choice ----\nARCH = {pprint.pformat(arch, sort_dicts=False)}\n"
            f"DATASET = {inp.dataset!r}\nINPUT_SHAPE = {tuple(inp.shape)!r}\nCLASSES = {inp.classes!r}\n"
            f"MEAN = {tuple(inp.mean)!r}\nSTD = {tuple(inp.std)!r}\n\n\n"
            f"def build_model() -> nn.Sequential:\n    return build_network(ARCH, INPUT_SHAPE, CLASSES)\n\n\n"
            f'if __name__ == "__main__":\n    net = build_model()\n'
            f'    print(net)\n    print(sum(p.numel() for p in net.parameters()), "parameters")\n')


def layer_table(model: torch.nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> str:
    return (flop_count_table(flop_analysis(model.eval(), shape), max_depth=3)
            + f"\n(FLOPs: fvcore multiply-adds for one {'x'.join(map(str, shape))} image)\n")


def figures_lines(fp: dict) -> str:
    """table.txt's device figures (a Footprint's dict; conventions: nas/footprint.py)."""
    return (f"device figures (int8, nas/footprint.py): {fp['params']:,} parameters, {fp['macs']:,} MACs, "
            f"int8 model {fp['flash']:,} B ({fp['weight_bytes']:,} B of int8 weights), peak RAM {fp['ram']:,} B "
            f"({fp['ram_with_input']:,} B with the input)\n")


def refuse_existing(target: Path, force: bool) -> None:
    if target.exists() and not force:
        raise ExportError(f"{target} exists; pass --force to replace it")


def write_dir_atomically(target: Path, files: dict[str, str | bytes], force: bool) -> None:
    """Write `files` (text or bytes) into a fresh folder that replaces `target` in one rename
    (refused if it exists)."""
    refuse_existing(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private (0700); an export is an ordinary folder
    try:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(text) if isinstance(text, bytes) else (tmp / name).write_text(text)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def auto_export_allowed(out: str | os.PathLike) -> bool:
    """A search or resume may (re)write `out` unless it holds an export the user made with
    `nas export`: that one is never replaced without `nas export --force`."""
    summary = Path(out) / "summary.json"
    if not Path(out).exists():
        return True
    try:
        return json.loads(summary.read_text()).get("written_by") == "search"
    except (OSError, ValueError):
        return False


def _weights_lines(entry: dict) -> str:
    """table.txt's last lines: what the exported weights are, their validation accuracy, and their
    int8 file (or why there is none)."""
    onnx_entry = entry["onnx"]
    lines = f"weights: {onnx_entry['weights']}\n"
    acc = onnx_entry.get("val_acc")
    if acc:
        lines += (f"validation accuracy on {acc['images']:,} images: PyTorch {acc['pytorch']:.2f}%, "
                  f"onnxruntime {acc['onnxruntime']:.2f}%\n")
    return lines + int8_lines(entry.get("int8"), entry.get("int8_none", ""))


def trials_csv(trials: list) -> str:
    cols = ["trial", "status", "val_acc", "best_val_acc", "params", "flops", "macs", "flash", "ram", "ram_with_input",
            "train_acc", "test_acc", "seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols + ["arch"])
    for t in trials:
        f = t.final
        w.writerow([t.id, t.status] + [f.get(c, "") for c in cols[2:]] + [json.dumps(t.sample, sort_keys=True)])
    return buf.getvalue()


KEPT_WEIGHTS = "weights"  # <searches>/<id>/weights/<trial>/model.pt: trials' weights, kept when the search ends


def trial_weights(workdir: str | os.PathLike, exp_id: str, trial) -> Path | None:
    """The weights a trial kept: copied into the search's `weights/` folder (nas.engine.weights), else
    still in its local trial folder; None if it kept none."""
    folders = [Path(workdir) / exp_id / KEPT_WEIGHTS / trial.id,
               Path(workdir) / exp_id / "environments" / "local-env" / "trials" / trial.id]
    if trial.log_dir and Path(trial.log_dir).is_absolute():  # a remote trial's is "host:~/..."
        folders.insert(1, Path(trial.log_dir))
    return next((f / TRIAL_WEIGHTS for f in folders if (f / TRIAL_WEIGHTS).exists()), None)


def how_trained(trial, record: dict) -> str:
    """The ONNX file's `nas.weights` line for a trial's kept weights."""
    f = trial.final
    train = record["train"]
    epochs = f.get("epochs", train.get("epochs"))
    epochs = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    if "rung" in f:  # a multi-fidelity search: its last rung, the full schedule
        return f"trained: the last rung's training of seed {f['seed']}, {epochs} x {f['images']:,} images (trial {trial.id})"
    images = epoch_images(train.get("dataset", "mnist"), train.get("val_size", 0), train.get("train_subset", 0))
    return (f"trained: proxy-trained, {epochs} x "
            f"{f'{images:,} images' if images else 'all training images'} (trial {trial.id}); "
            f"`nas train` trains it in full")


def _search_data(record: dict, inp):
    """The search's splits (its training images calibrate the int8 file, its validation split
    scores both files), or None where its data is not here."""
    train = record["train"]
    try:
        return load_splits(record.get("data_dir"), train.get("val_size", 0), train.get("split_seed", 0),
                           train.get("train_subset") or None, download=False, dataset=inp.dataset)
    except DataError:
        return None


def _val_accuracies(net: torch.nn.Module, onnx_file: Path, val) -> dict:
    """The validation accuracy of a trained export, by PyTorch and by onnxruntime."""
    x, y = val
    with torch.no_grad():
        torch_logits = np.concatenate([net(x[i:i + 1000]).numpy() for i in range(0, len(x), 1000)])
    ort_logits = np.concatenate([run_onnx(onnx_file, x[i:i + 1000].numpy()) for i in range(0, len(x), 1000)])
    return {"images": len(y), "pytorch": round(accuracy(torch_logits, y), 4),
            "onnxruntime": round(accuracy(ort_logits, y), 4)}


def export(workdir: str, exp_id: str, out: str | os.PathLike, top_k: int = 1, force: bool = False,
           written_by: str = "export") -> list[dict]:
    """Export the top-k trials of an experiment into `out` (one folder, written atomically).
    `written_by` ("export" or "search") is recorded in summary.json: a search or resume refreshes
    only the exports it wrote itself (see `auto_export_allowed`)."""
    record = load_record(workdir, exp_id)   # an unknown id first, then an existing target:
    refuse_existing(Path(out), force)       # both before any work (an export checks ONNX for seconds)
    inp = recorded_input(record)
    if top_k < 1:
        raise ExportError(f"top-k must be at least 1, got {top_k}")
    trials = read_trials(workdir, exp_id)
    ranked = rank(trials, load_rungs(workdir, exp_id))
    if not ranked:
        failed = [t for t in trials if t.status == "FAILED"]
        why = f"; {len(failed)} failed, e.g. {failed[0].id}: {failed[0].reason}" if failed else ""
        raise ExportError(f"experiment {exp_id} has no trial with a final result yet "
                          f"({len(trials)} trials recorded{why})")
    files: dict[str, str | bytes] = {}
    exported = []
    data = _search_data(record, inp)
    val = (data.val_x, data.val_y) if data is not None and len(data.val_x) else None
    # the check reads validation images where there are (selection never reads the test set)
    images, source = (val[0][:CHECK_IMAGES], "validation images") if val else check_images(inp, record.get("data_dir"))
    for i, t in enumerate(distinct(ranked)[:top_k], 1):
        arch = choices.canonical(t.sample)
        torch.manual_seed(0)  # without kept weights: the network as initialised with seed 0
        net = build_network(arch, inp.shape, inp.classes)
        params, flops = count(net, inp.shape)
        fp = footprint(net, inp.shape).as_dict()
        folder = f"rank{i}_{t.id}"
        kept = trial_weights(workdir, exp_id, t)
        if kept is not None:
            try:
                net.load_state_dict(torch.load(kept, weights_only=True, map_location="cpu"))
            except Exception as e:
                raise ExportError(f"{kept}: not the weights of trial {t.id}'s network "
                                  f"({(str(e).splitlines() or [''])[0][:150]})") from None
            weights = how_trained(t, record)
            files[f"{folder}/model.pt"] = kept.read_bytes()
        else:
            weights = (f"{UNTRAINED}: initial weights (seed 0); trial {t.id} kept none (an earlier rung, or a "
                       "search from before trials kept weights); `nas train` writes a trained model.onnx")
        net.eval()
        int8 = {}
        with tempfile.TemporaryDirectory() as tmp:
            check = write_onnx(net, Path(tmp) / "model.onnx", images, source, inp, weights)
            if kept is not None and val is not None:
                check["val_acc"] = _val_accuracies(net, Path(tmp) / "model.onnx", val)
            files[f"{folder}/model.onnx"] = (Path(tmp) / "model.onnx").read_bytes()
            if kept is None:
                int8["int8_none"] = "untrained weights: an int8 file of them would mean nothing"
            elif data is None:
                int8["int8_none"] = "the search's training images are not on this machine to calibrate it"
            else:
                int8["int8"] = write_int8(Path(tmp) / "model.onnx", data.train_x, *(val or (None, None)),
                                          "validation", inp.shape)
                files[f"{folder}/{INT8_FILE}"] = (Path(tmp) / INT8_FILE).read_bytes()
        entry = {"rank": i, "trial": t.id, "arch": arch, "params": params, "flops": flops, "footprint": fp,
                 "metrics": t.final, "experiment": exp_id, "input": asdict(inp),
                 "data_dir": record.get("data_dir"),  # where the search read its data: `nas train` reads it there too
                 "onnx": {**check, "weights": weights}, **int8}
        recipe = choices.recipe_overrides(arch, record["train"])
        if recipe:  # a candidate of a --search-recipe search: how it trained differs from the search's recipe
            entry["recipe"] = recipe
        files[f"{folder}/arch.json"] = json.dumps(entry, indent=2) + "\n"
        files[f"{folder}/model.py"] = model_source(arch, inp)
        files[f"{folder}/table.txt"] = layer_table(net, inp.shape) + figures_lines(fp) + _weights_lines(entry)
        exported.append({**entry, "path": str(Path(out) / folder)})
    summary = {"experiment": exp_id, "written_by": written_by, "trials": len(trials),
               "succeeded": sum(t.status == "SUCCEEDED" for t in trials),
               "failed": [{"trial": t.id, "status": t.status, "reason": t.reason}
                          for t in trials if t.status not in ("SUCCEEDED", "RUNNING", "WAITING")],
               "ranking": [{"trial": t.id, "val_acc": t.val_acc, "params": t.final.get("params"),
                            "flops": t.final.get("flops"), **{k: t.final[k] for k in FIGURES if k in t.final}}
                           for t in ranked]}
    files["summary.json"] = json.dumps(summary, indent=2) + "\n"
    files["trials.csv"] = trials_csv(trials)
    write_dir_atomically(Path(out), files, force)
    return exported
