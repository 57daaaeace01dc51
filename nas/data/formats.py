"""The two file formats the datasets come in, read and checked: IDX (MNIST's four files, gzip'd or
not) and CIFAR-10's pickled batches. Each problem raises `DataError` with one line naming the file
and what is wrong with it; nothing here finds, downloads or caches files (datasets.py does).
"""
from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import zlib
from pathlib import Path

import torch

from nas.errors import DataError

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FILES = {  # MNIST: name -> (IDX magic, shape, md5 of the uncompressed bytes)
    "train-images-idx3-ubyte.gz": (0x803, (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte.gz": (0x801, (60000,), "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte.gz": (0x803, (10000, 28, 28), "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte.gz": (0x801, (10000,), "27ae3e4e09519cfbb04c329615203637"),
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_FILES = (*CIFAR_TRAIN, "test_batch")


def idx_paths(folder: Path) -> dict[str, Path]:
    """Those of the four IDX files a folder holds (each gzip'd or not), by base name."""
    found = {}
    for base in IDX_NAMES:
        for name in (base + ".gz", base):
            if (folder / name).is_file():
                found[base] = folder / name
                break
    return found


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DataError(f"{path}: truncated gzip stream (download it again)") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e})") from None


def read_idx(path: Path, magic: int, shape: tuple[int, ...] | None, md5: str | None,
             max_label: int | None = 9, name: str = "MNIST", gz_md5: str | None = None) -> torch.Tensor:
    """Decode one IDX file (gzip'd or not) into a uint8 tensor, checking everything that can be
    checked. `shape` None: read it from the header (1 dim for labels, 3 for images). `md5`: of the
    uncompressed bytes; `gz_md5`, of the file as downloaded: either matching will do."""
    raw = _read_bytes(path)
    ndim = len(shape) if shape is not None else (3 if magic == 0x803 else 1)
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    got_magic = struct.unpack(">I", raw[:4])[0]
    if got_magic != magic:
        raise DataError(f"{path}: IDX magic {got_magic:#x}, expected {magic:#x} (wrong or corrupt file)")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    if shape is not None and dims != shape:
        raise DataError(f"{path}: shape {dims}, expected {shape}")
    what = "images" if ndim == 3 else "labels"
    if dims[0] == 0:
        raise DataError(f"{path}: holds no {what} (its header counts 0)")
    if 0 in dims[1:]:
        raise DataError(f"{path}: images of {'x'.join(map(str, dims[1:]))} pixels (an empty image)")
    body = raw[4 + 4 * ndim:]
    expected = 1
    for d in dims:
        expected *= d
    if len(body) != expected:
        raise DataError(f"{path}: {len(body)} data bytes, header promises {expected} ({dims[0]} {what}; "
                        f"{'truncated' if len(body) < expected else 'padded'})")
    data = torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)
    if ndim == 1 and max_label is not None and int(data.max()) > max_label:
        bad = int((data > max_label).nonzero()[0])
        raise DataError(f"{path}: label {int(data[bad])} at index {bad} is out of range 0..{max_label}")
    if md5 is not None or gz_md5 is not None:
        decoded = hashlib.md5(raw).hexdigest()
        if decoded != md5 and (gz_md5 is None or hashlib.md5(path.read_bytes()).hexdigest() != gz_md5):
            want = f"expected {md5}" if md5 else f"the .gz file's md5 is not the published {gz_md5}"
            raise DataError(f"{path}: contents differ from {name} (md5 {decoded}, {want}); another dataset? "
                            "name it with --dataset")
    return data


def _ranges(values: list[int]) -> str:
    """Sorted distinct integers as runs: [0, 1, 2, 3, 4, 200] -> '0..4, 200'."""
    runs, start = [], values[0]
    for prev, v in zip(values, values[1:] + [None]):
        if v is None or v != prev + 1:  # a run ends at prev
            runs.append(str(start) if start == prev else f"{start}..{prev}")
            start = v
    return ", ".join(runs)


def check_training_labels(path: Path, y: torch.Tensor) -> int:
    """The number of classes K of a user's training labels, which must be 0..K-1 with each present.
    A gap names its cause: a few images with a label far above the rest (200 among 0..4) are out of
    range; otherwise the first label that never occurs is named, beside the labels that do."""
    counts = torch.bincount(y.long())
    present = [int(v) for v in counts.nonzero().flatten()]
    if len(present) < 2:
        raise DataError(f"{path}: every label is {present[0]}: a classifier needs at least 2 classes (labels 0..K-1)")
    gap = next((k for k in range(len(counts)) if counts[k] == 0), None)
    if gap is None:
        return len(counts)
    beyond = int(counts[gap:].sum())
    if gap >= 2 and beyond * 2 < int(counts[:gap].min()):  # a few stray labels, not a missing class
        bad = int((y >= gap).nonzero()[0])
        above = ", ".join(str(v) for v in present if v >= gap)
        raise DataError(f"{path}: label {int(y[bad])} at index {bad} is out of range: the other labels are "
                        f"0..{gap - 1} ({beyond} image{'s' * (beyond > 1)} labelled {above}; labels must be "
                        "0..K-1, each present)")
    hint = "; 1-based? subtract 1" if gap == 0 and present == list(range(1, len(counts))) else ""
    raise DataError(f"{path}: label {gap} never occurs: the labels are {_ranges(present)} (labels must be "
                    f"0..K-1, each present{hint})")


def read_any_idx(paths: dict[str, Path], name: str) -> dict[str, torch.Tensor]:
    """A user's four IDX files: images N x H x W, labels N, the same H x W for both splits, training
    labels 0..K-1 with each present, test labels within them. Adds 'classes' (K)."""
    out = {key: read_idx(paths[base], 0x803 if "images" in base else 0x801, None, None, None, name)
           for key, base in zip(("train_x", "train_y", "test_x", "test_y"), IDX_NAMES)}
    for split in ("train", "test"):
        x, y = out[f"{split}_x"], out[f"{split}_y"]
        if len(x) != len(y):
            raise DataError(f"{paths[IDX_NAMES[0 if split == 'train' else 2]]}: {len(x)} images but "
                            f"{len(y)} labels in {paths[IDX_NAMES[1 if split == 'train' else 3]].name}")
    if out["train_x"].shape[1:] != out["test_x"].shape[1:]:
        raise DataError(f"{paths[IDX_NAMES[2]]}: images of {tuple(out['test_x'].shape[1:])}, the training "
                        f"images are {tuple(out['train_x'].shape[1:])}")
    classes = check_training_labels(paths[IDX_NAMES[1]], out["train_y"])
    if int(out["test_y"].max()) >= classes:
        bad = int((out["test_y"] >= classes).nonzero()[0])
        raise DataError(f"{paths[IDX_NAMES[3]]}: label {int(out['test_y'][bad])} at index {bad} is out of "
                        f"range 0..{classes - 1} (the training labels' range)")
    out["classes"] = torch.tensor(classes)
    return out


class _ArraysOnly(pickle.Unpickler):
    """CIFAR's batches are pickles: let them build numpy arrays and nothing else."""
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refuses {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    import numpy as np

    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as e:
        raise DataError(f"{path}: not a CIFAR-10 batch ({e!s:.100})") from None
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (no 'data' and 'labels')")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: data of shape {data.shape} and type {data.dtype}, expected (N, 3072) uint8")
    if not len(data):
        raise DataError(f"{path}: holds no images")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {len(labels)} labels for {len(data)} images")
    if labels.min() < 0 or labels.max() > 9:
        bad = int(np.nonzero((labels < 0) | (labels > 9))[0][0])
        raise DataError(f"{path}: label {int(labels[bad])} at index {bad} is out of range 0..9")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels.astype(np.uint8))


def read_cifar(folder: Path) -> dict[str, torch.Tensor]:
    train = [read_cifar_batch(folder / n) for n in CIFAR_TRAIN]
    test_x, test_y = read_cifar_batch(folder / "test_batch")
    return {"train_x": torch.cat([x for x, _ in train]), "train_y": torch.cat([y for _, y in train]),
            "test_x": test_x, "test_y": test_y}
