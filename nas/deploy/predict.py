"""Classify images with a trained network (`nas predict MODEL IMAGE...`).

MODEL is one of
  a model.onnx written by this tool (`nas train` puts one beside the first seed's weights), or the
      model.int8.onnx beside it (nas.deploy.int8): run by onnxruntime, its metadata says what input
      it takes;
  a run folder of `nas train` (config.json + seed<S>/model.pt): its first seed's weights, in PyTorch;
  an exported model.py with `weights=` (a state_dict file such as a run's seed0/model.pt).
IMAGE is a PNG or JPEG file, or an IDX image file (every image in it). Each image is converted as
the training data was: to the model's channels (grey or RGB) and size (bilinear, antialiased),
pixels scaled to [0, 1], then normalised with the dataset's statistics.

MNIST-like data is light on dark, a digit photographed or drawn on paper dark on light. For a model
of one channel, an image whose background (the mean of its border pixels) is light where the
training data's is dark (its mean pixel below the middle of the range), or the other way round, is
inverted first, and its prediction says so (`inverted`); `invert=True` / `False` decides instead.
An ONNX file whose metadata says its weights are untrained (an architecture's export without kept
weights) is refused unless `allow_untrained`: its answers would mean nothing.

    from nas.deploy.predict import predict
    result = predict("results/runs/exp3/seed0/model.onnx", ["seven.png"])
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nas.data.datasets import CLASS_NAMES, Input, normalise, read_idx
from nas.deploy.int8 import QUANTIZED, run_int8
from nas.deploy.onnx import is_untrained, read_input, read_weights, run_onnx
from nas.errors import DataError, NasError
from search_spaces.blocks import build_network


class ModelError(NasError):
    """A MODEL argument that cannot be loaded."""


@dataclass
class Prediction:
    source: str          # the file, with [index] for an image of an IDX file
    label: int           # the predicted class
    name: str            # its name where the dataset has names, else the number
    probability: float   # softmax probability of that class
    inverted: bool = False  # the image was inverted first (a background unlike the training data's)


@dataclass
class PredictResult:
    predictions: list[Prediction] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)   # one line per image that could not be read


@dataclass
class Model:
    """A trained network and the input it takes; `logits` maps normalised (N, C, H, W) images to (N, K)."""
    input: Input
    run: object
    kind: str  # onnx | onnx-int8 | pytorch

    def logits(self, x: torch.Tensor) -> np.ndarray:
        if self.kind == "onnx":
            return run_onnx(self.run, x.numpy())
        if self.kind == "onnx-int8":  # as a device computes it, not through kernels that may saturate here
            return run_int8(self.run, x.numpy())
        with torch.no_grad():
            return self.run(x).numpy()


def load_model(spec: str | os.PathLike, weights: str | os.PathLike | None = None,
               allow_untrained: bool = False) -> Model:
    """A Model from a model.onnx, a run folder, or a model.py with `weights`; ModelError otherwise
    (an untrained model.onnx too, unless `allow_untrained`)."""
    path = Path(spec)
    if not path.exists():
        raise ModelError(f"{path}: no such model (give a model.onnx, a run folder or an exported model.py)")
    if path.suffix == ".onnx":
        try:
            inp = read_input(path)
        except Exception as e:
            raise ModelError(f"{path}: not a readable ONNX file ({str(e)[:120]})") from None
        if inp is None:
            raise ModelError(f"{path}: an ONNX file without this tool's input metadata (write it with `nas train`)")
        said = read_weights(path)
        if is_untrained(said) and not allow_untrained:
            raise ModelError(f"{path}: its weights are {said.split(';')[0]}, so its answers mean nothing; "
                             "train it (`nas train ARCH.json`) or pass --allow-untrained")
        return Model(inp, path, "onnx-int8" if QUANTIZED in (said or "") else "onnx")
    if path.is_dir():
        config = path / "config.json"
        if not config.exists():
            raise ModelError(f"{path}: a folder without config.json is no run folder of `nas train`")
        run = json.loads(config.read_text())
        seed = run["seeds"][0]
        state = path / f"seed{seed}" / "model.pt"
        if weights is None and not state.exists():
            raise ModelError(f"{state}: the run has no trained weights yet")

        inp = Input.from_dict(run.get("input"))
        net = build_network(run["arch"], inp.shape, inp.classes)
        return Model(inp, _load_state(net, Path(weights) if weights else state), "pytorch")
    if path.suffix == ".py":
        if weights is None:
            raise ModelError(f"{path}: a model.py needs its trained weights (--weights FILE)")
        module_spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
            net = module.build_model()
        except Exception as e:
            raise ModelError(f"{path}: not an exported model.py ({type(e).__name__}: {str(e)[:120]})") from None
        inp = Input(getattr(module, "DATASET", "mnist"), *getattr(module, "INPUT_SHAPE", (1, 28, 28)),
                    getattr(module, "CLASSES", 10), tuple(getattr(module, "MEAN", Input().mean)),
                    tuple(getattr(module, "STD", Input().std)))
        return Model(inp, _load_state(net, Path(weights)), "pytorch")
    raise ModelError(f"{path}: give a model.onnx, a run folder or an exported model.py")


def _load_state(net: torch.nn.Module, weights: Path) -> torch.nn.Module:
    try:
        net.load_state_dict(torch.load(weights, weights_only=True))
    except FileNotFoundError:
        raise ModelError(f"{weights}: no such weights file") from None
    except Exception as e:
        raise ModelError(f"{weights}: not weights of this network ({str(e).splitlines()[0][:150]})") from None
    return net.eval()


LIGHT = 127.5  # the middle of the pixel range: a background above it is light


def needs_inverting(images: torch.Tensor, inp: Input) -> list[bool]:
    """Which one-channel uint8 images (N, H, W) have a background unlike the training data's: their
    border pixels' mean on the other side of the middle from the training data's mean pixel."""
    if inp.channels != 1:
        return [False] * len(images)  # colour photographs have no background to speak of
    x = images.float()
    border = torch.cat([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], 1)
    return ((border.mean(1) > LIGHT) != (inp.mean[0] * 255 > LIGHT)).tolist()


def read_image(path: Path, inp: Input, invert: bool | None = None) -> tuple[torch.Tensor, bool]:
    """A PNG or JPEG file as one normalised (C, H, W) image the model takes, and whether it was
    inverted (`invert` None: as `needs_inverting` finds); DataError if unreadable."""
    from torchvision.io import ImageReadMode, decode_image

    try:
        raw = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        img = decode_image(raw, mode=ImageReadMode.GRAY if inp.channels == 1 else ImageReadMode.RGB)
    except Exception:
        raise DataError(f"{path}: not a PNG or JPEG image") from None
    if invert is None:
        invert = needs_inverting(img, inp)[0]
    if invert:
        img = 255 - img
    if tuple(img.shape[1:]) != (inp.height, inp.width):
        img = F.interpolate(img[None].float(), size=(inp.height, inp.width), mode="bilinear", antialias=True,
                            align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    return normalise(img[None], inp.mean, inp.std)[0], invert


def read_idx_images(path: Path, inp: Input, invert: bool | None = None) -> tuple[torch.Tensor, list[bool]]:
    """Every image of an IDX image file, normalised, (N, C, H, W), and which were inverted (`invert`
    None: each as `needs_inverting` finds); DataError if they do not fit the model."""
    x = read_idx(path, 0x803, None, None, None, "an IDX image file")
    if inp.channels != 1 or tuple(x.shape[1:]) != (inp.height, inp.width):
        raise DataError(f"{path}: images of 1x{x.shape[1]}x{x.shape[2]}, the model takes "
                        f"{'x'.join(map(str, inp.shape))}")
    flips = needs_inverting(x, inp) if invert is None else [invert] * len(x)
    x = torch.stack([255 - img if flip else img for img, flip in zip(x, flips)]) if any(flips) else x
    return normalise(x, inp.mean, inp.std), flips


def predict(model: str | os.PathLike | Model, images: list[str | os.PathLike], weights: str | os.PathLike | None = None,
            invert: bool | None = None, batch: int = 1000, allow_untrained: bool = False) -> PredictResult:
    """Classify `images` (PNG/JPEG files or IDX image files); unreadable ones go to `errors`.
    `invert`: None inverts an image whose background is unlike the training data's (see the module
    docstring); True / False inverts every image / none."""
    model = model if isinstance(model, Model) else load_model(model, weights, allow_untrained)
    names = CLASS_NAMES.get(model.input.dataset)
    result = PredictResult()
    for item in images:
        path = Path(item)
        try:
            if path.name.endswith(("idx3-ubyte", "idx3-ubyte.gz")):
                x, flips = read_idx_images(path, model.input, invert)
                sources = [f"{path}[{i}]" for i in range(len(x))]
            else:
                img, flip = read_image(path, model.input, invert)
                x, flips, sources = img[None], [flip], [str(path)]
        except DataError as e:
            result.errors.append(str(e))
            continue
        for start in range(0, len(x), batch):
            logits = model.logits(x[start:start + batch])
            probs = torch.softmax(torch.from_numpy(logits).double(), 1)
            p, label = probs.max(1)
            for k, (pk, lk) in enumerate(zip(p.tolist(), label.tolist())):
                name = names[lk] if names and lk < len(names) else str(lk)
                result.predictions.append(Prediction(sources[start + k], lk, name, pk, flips[start + k]))
    return result
