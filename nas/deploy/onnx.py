"""ONNX files of the tool's networks, each checked by onnxruntime against PyTorch before it counts
as written.

The file: opset 18 (onnxruntime 1.14 and later read it), input "images" (N, C, H, W) normalised as
the training data was (nas.data.datasets.Input), output "logits" (N, classes), N free. Exporter: torch's
TorchScript one (dynamo=False), deprecated since torch 2.9 but present in the pinned 2.14.1: these
networks need nothing the dynamo exporter adds, which writes the same model in 3.2 s a file (9.4 s for
a process's first) against 0.06 s (1.6 s), and every trained run writes one file per seed
(bench/export.py).

The file says what its weights are (metadata `nas.weights`): "trained: ..." with how, or
"untrained: ..." for a network as initialised; `nas predict` refuses an untrained one.

The check: 256 images (the dataset's first test images; seeded random ones where the data is not on
this machine, said in the result) go through both; the largest logit difference must stay within
1e-4 and every predicted class must agree, or the export is an error and nothing is written.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from nas.data.datasets import DataError, Input, load_splits
from nas.errors import ExportError

OPSET = 18
TOLERANCE = 1e-4    # largest allowed |logit(onnxruntime) - logit(PyTorch)|
CHECK_IMAGES = 256


def check_images(inp, data_dir: str | None = None) -> tuple[torch.Tensor, str]:
    """(images, where from): the first 256 normalised test images of the dataset, or seeded random
    ones of its shape when its files are not here."""
    try:
        data = load_splits(data_dir, val_size=0, download=False, dataset=inp.dataset)
        return data.test_x[:CHECK_IMAGES], "test images"
    except DataError:
        return torch.randn(CHECK_IMAGES, *inp.shape, generator=torch.Generator().manual_seed(0)), "random images"


def run_onnx(path: str | os.PathLike, images: np.ndarray) -> np.ndarray:
    """The logits onnxruntime computes for `images` (N, C, H, W float32)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images.astype(np.float32)})[0]


META_KEY = "nas.input"  # the file's metadata: its nas.data.datasets.Input as JSON, so a model.onnx alone can be used
WEIGHTS_KEY = "nas.weights"  # ... and what its weights are: "trained: <how>" or "untrained: <why>"
UNTRAINED = "untrained"


def metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata_props of an ONNX file."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def read_input(path: str | os.PathLike):
    """The nas.data.datasets.Input stored in a model.onnx written here; None for another ONNX file."""
    import json

    props = metadata(path)
    if META_KEY not in props:
        return None
    return Input.from_dict(json.loads(props[META_KEY]))


def read_weights(path: str | os.PathLike) -> str | None:
    """What a model.onnx's weights are ("trained: ..." / "untrained: ..."), or None where it does not
    say. Files written before the key existed: an export's (its arch.json beside it says "initial")
    held its network's initial weights, a run's its trained ones."""
    import json

    said = metadata(path).get(WEIGHTS_KEY)
    if said is not None:
        return said
    arch = Path(path).with_name("arch.json")
    try:
        onnx_entry = json.loads(arch.read_text()).get("onnx") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if str(onnx_entry.get("weights", "")).startswith("initial"):
        return f"{UNTRAINED}: the network's initial weights (an export written before exports carried trained ones)"
    return None


def is_untrained(weights: str | None) -> bool:
    return bool(weights) and weights.startswith(UNTRAINED)


def accuracy(logits: np.ndarray, labels: torch.Tensor) -> float:
    """Accuracy (%) of `logits` (N, K) against `labels` (N)."""
    return float((torch.from_numpy(np.asarray(logits)).argmax(1) == labels.cpu()).double().mean()) * 100


def write_onnx(model: torch.nn.Module, path: str | os.PathLike, images: torch.Tensor, source: str = "",
               inp=None, weights: str = "trained") -> dict:
    """Export `model` (eval mode) to `path`, check it on `images`, then put it in place (a failed
    check leaves any older file there untouched). `inp`: the nas.data.datasets.Input the model takes, kept in
    the file's metadata with `weights` ("trained: <how>" or "untrained: <why>"). Returns the check:
    opset, images, max_abs_diff."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    model = model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's progress notes and deprecations
            torch.onnx.export(model, (images[:2],), str(tmp), dynamo=False, opset_version=OPSET,
                              input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
        _set_metadata(tmp, inp, weights)
        with torch.no_grad():
            want = model(images).numpy()
        got = run_onnx(tmp, images.numpy())
        diff = float(np.abs(got - want).max())
        same = bool((got.argmax(1) == want.argmax(1)).all())
        if got.shape != want.shape or not diff <= TOLERANCE or not same:
            raise ExportError(f"{path}: onnxruntime disagrees with PyTorch on {len(images)} {source or 'images'} "
                              f"(largest logit difference {diff:.2e}, tolerance {TOLERANCE:.0e}; "
                              f"{'same' if same else 'different'} classes); not written")
        os.replace(tmp, path)
    except ExportError:
        raise
    except Exception as e:  # the exporter's errors come in many types; the user needs one line
        raise ExportError(f"{path}: ONNX export failed ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": path.name, "opset": OPSET, "checked_on": f"{len(images)} {source}".strip(),
            "max_abs_diff": diff, "same_classes": same}


def _set_metadata(path: Path, inp, weights: str) -> None:
    import dataclasses
    import json

    import onnx

    model = onnx.load(str(path))
    props = {WEIGHTS_KEY: weights}
    if inp is not None:
        props[META_KEY] = json.dumps(dataclasses.asdict(inp))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
