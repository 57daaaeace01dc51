"""Small-image datasets in memory: find the files, verify them, decode once, cache, split.

Datasets (`--dataset`): `mnist` (the default), `fashion-mnist` and `kmnist` (four IDX files each,
checked against known checksums), `idx` (any folder of the four IDX files: structural checks only;
the number of classes comes from the labels) and `cifar10` (its `cifar-10-batches-py` folder, or the
published `cifar-10-python.tar.gz` beside it, unpacked on first use).

Where the files come from, in order: the `data_dir` argument (the CLI's `--data-dir`); for mnist the
`NAS_MNIST_DIR` environment variable and the team's offline copy `../shared/data/mnist`; for
fashion-mnist Debian's `dataset-fashion-mnist` package when installed; else
`~/.cache/nas/<dataset>`. A named dataset's files are downloaded (download.py: progress line, stall
timeout) when its folder holds none of them: into that cache folder, or into a folder given that
exists. A folder given that does not exist is refused, never created; a folder holding some of the
files is refused, naming those it lacks. `idx` never downloads.

Every file is checked before anything trains on it (formats.py): gzip integrity, IDX magic number,
shape, label range and, for the named datasets, a checksum. A problem raises `DataError` with one
line that names the dataset, the file or folder and what is wrong. Decoded uint8 tensors are cached,
keyed by the dataset and the sha256 of its files, so each trial process loads its data in well under
a second.

Normalisation statistics (per channel) are computed from the training file, rounded to 4 decimals
(MNIST's come out as the familiar 0.1307 / 0.3081, so MNIST runs are bitwise what they were).

    python -m nas.data.datasets --dataset fashion-mnist --data-dir DIR   # verify, decode, cache, summarise
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nas.atomic import save_torch
from nas.config import DATASETS
from nas.data.download import extract_cifar, fetch, source
from nas.data.formats import (CIFAR_FILES, CIFAR_FOLDER, FILES, IDX_NAMES, idx_paths, read_any_idx, read_cifar,
                              read_idx)
from nas.errors import DataError

NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "kmnist": "KMNIST", "idx": "IDX dataset",
         "cifar10": "CIFAR-10"}
# md5 of the uncompressed files where known: Fashion-MNIST's from Debian's dataset-fashion-mnist
# 0.0~git20200523.55506a9-1, which re-compresses the files (so torchvision's .gz md5s miss them;
# its first training labels are 9 0 0 3 0 2 7 2 5 5, 6,000 per class, as published). KMNIST is
# checked by torchvision's md5s of its .gz files only. Either kind of match will do.
DECODED_MD5 = {"fashion-mnist": {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                                 "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                                 "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                                 "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
               "kmnist": {}}
MEAN, STD = 0.1307, 0.3081  # MNIST's statistics as computed below (a blank MNIST pixel, in tests and benches)
ENV_DIR = "NAS_MNIST_DIR"
ENV_CACHE = "NAS_CACHE_DIR"
# the team's offline copy beside the project (machines without internet); users download instead
TEAM_COPY = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}  # its download's subfolder


@dataclass(frozen=True)
class Input:
    """What a network trained on a dataset takes and gives: the image shape, the number of classes,
    and the per-channel statistics that normalise its pixels (on the [0, 1] scale)."""
    dataset: str = "mnist"
    channels: int = 1
    height: int = 28
    width: int = 28
    classes: int = 10
    mean: tuple[float, ...] = (MEAN,)
    std: tuple[float, ...] = (STD,)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.channels, self.height, self.width

    @classmethod
    def from_dict(cls, d: dict | None) -> "Input":
        """An Input saved as JSON (a search's record, a run's config, an ONNX file's metadata);
        MNIST's for None: what everything written before datasets took."""
        return cls(**{**d, "mean": tuple(d["mean"]), "std": tuple(d["std"])}) if d else cls()

    def blank(self) -> float | torch.Tensor:
        """The normalised value of a black pixel: a float for one channel, else (1, C, 1, 1)."""
        if self.channels == 1:
            return -self.mean[0] / self.std[0]
        return (-torch.tensor(self.mean) / torch.tensor(self.std)).float().view(1, -1, 1, 1)


MNIST_INPUT = Input()

CLASS_NAMES = {  # what `nas predict` prints beside a class number (idx datasets: the number alone)
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


def check_dataset(name: str) -> str:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return name


def default_cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "nas")


def _has_files(folder: Path, dataset: str = "mnist") -> bool:
    if dataset == "cifar10":
        return all((folder / n).is_file() for n in CIFAR_FILES)
    return len(idx_paths(folder)) == len(IDX_NAMES)


def _layouts(folder: Path, dataset: str) -> list[Path]:
    """The folder and where torchvision's download left the files below it (earlier caches)."""
    if dataset == "cifar10":
        return [folder, folder / CIFAR_FOLDER]
    return [folder, folder / TORCHVISION[dataset] / "raw"] if dataset in TORCHVISION else [folder]


def _inventory(folder: Path, dataset: str) -> tuple[list[str], list[str]]:
    """(present, missing): the dataset's file names a folder holds and lacks. IDX names stand for
    the file gzip'd or not: the present ones as found, the missing ones as `name[.gz]` for a user's
    folder and as published (`.gz`) for a named dataset."""
    if dataset == "cifar10":
        return ([n for n in CIFAR_FILES if (folder / n).is_file()],
                [n for n in CIFAR_FILES if not (folder / n).is_file()])
    found = idx_paths(folder)
    suffix = "[.gz]" if dataset == "idx" else ".gz"
    return [found[b].name for b in IDX_NAMES if b in found], [b + suffix for b in IDX_NAMES if b not in found]


def _contents(folder: Path) -> str:
    """What a folder holds instead, in a few names: the hint that it is the wrong one."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir() if not p.name.startswith("."))
    if not names:
        return "it is empty"
    return "it holds " + ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def resolve_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True,
                     dataset: str = "mnist") -> Path:
    """The folder holding the dataset's files. A named dataset's files are downloaded when allowed
    and the folder holds none of them: into the default cache folder, or into a folder given that
    exists; a folder given that does not exist is refused, never created."""
    check_dataset(dataset)
    name = NAMES[dataset]
    chosen, given_as = data_dir, "--data-dir"
    if not chosen and dataset == "mnist":
        if os.environ.get(ENV_DIR):
            chosen, given_as = os.environ[ENV_DIR], f"${ENV_DIR}"
        elif _has_files(TEAM_COPY):
            chosen = TEAM_COPY
    if not chosen and dataset == "fashion-mnist" and _has_files(DEBIAN_FASHION):
        chosen = DEBIAN_FASHION
    if not chosen and dataset == "idx":
        raise DataError(f"--dataset idx needs --data-dir: a folder with the four IDX files "
                        f"({', '.join(n + '[.gz]' for n in IDX_NAMES)})")
    cache = default_cache_dir() / dataset
    folder = Path(chosen).expanduser() if chosen else cache
    if chosen and not folder.exists():
        tail = ("" if dataset == "idx" else f"; nothing is downloaded into a folder that does not exist: create "
                f"it, or leave out {given_as} to download into {cache}")
        raise DataError(f"{name}: folder {folder} ({given_as}) does not exist{tail}")
    if chosen and not folder.is_dir():
        raise DataError(f"{name}: {folder} ({given_as}) is a file; give the folder that holds the dataset's files")
    layouts = _layouts(folder, dataset)
    for candidate in layouts:
        if _has_files(candidate, dataset):
            return candidate
    if dataset == "cifar10":  # the archive as published, placed by the user or left by a download
        archive = folder / source(dataset).names[0]
        if archive.is_file() and not (folder / CIFAR_FOLDER).exists():
            return extract_cifar(archive, folder)
    where, (present, missing) = max(((c, _inventory(c, dataset)) for c in layouts), key=lambda f: len(f[1][0]))
    hint = f"give --data-dir or set ${ENV_DIR}" if dataset == "mnist" and not chosen else ""
    if present:  # a partial folder is damage, not a fresh start: nothing is downloaded over it
        raise DataError(f"{name}: {where} lacks {', '.join(missing)} (it holds {', '.join(present)}; all "
                        f"{len(present) + len(missing)} files are needed{'; ' + hint if hint else ''})")
    if not download and not folder.is_dir():  # the cache folder of a machine that must not download
        raise DataError(f"{name}: folder {folder} does not exist; it would hold {', '.join(missing)}"
                        f"{'; ' + hint if hint else ''}")
    if dataset == "idx" or not download:
        raise DataError(f"{name}: {folder} holds none of its files, {', '.join(missing)} ({_contents(folder)}"
                        f"{'; ' + hint if hint else ''})")
    folder.mkdir(parents=True, exist_ok=True)  # only ever the cache folder: a folder given exists
    return _download(folder, dataset)


def _download(folder: Path, dataset: str) -> Path:
    """Fetch a dataset's published files into `folder` (CIFAR-10's archive, then unpacked)."""
    src = source(dataset)
    fetch(NAMES[dataset], folder, src)
    if dataset == "cifar10":
        return extract_cifar(folder / src.names[0], folder)
    return folder


def _read_named_idx(folder: Path, dataset: str) -> dict[str, torch.Tensor]:
    """Fashion-MNIST or KMNIST: MNIST's shapes and label range, and their own checksums."""
    gz_md5s = dict(source(dataset).files)
    paths = idx_paths(folder)
    out = {}
    for key, base, (magic, shape, _) in zip(("train_x", "train_y", "test_x", "test_y"), IDX_NAMES, FILES.values()):
        decoded, gz = DECODED_MD5[dataset].get(base), gz_md5s[base + ".gz"]
        out[key] = read_idx(paths[base], magic, shape, decoded, 9, NAMES[dataset], gz)
    return out


def data_files(folder: Path, dataset: str) -> list[Path]:
    """The files of a resolved dataset folder (resolve_data_dir) that hold its data."""
    if dataset == "cifar10":
        return [folder / n for n in CIFAR_FILES]
    return list(idx_paths(folder).values())


def statistics(train_x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images on the [0, 1] scale, rounded to 4
    decimals. `train_x`: (N, H, W) or (N, C, H, W)."""
    x = train_x.unsqueeze(1) if train_x.dim() == 3 else train_x
    flat = x.transpose(0, 1).reshape(x.shape[1], -1).double() / 255.0
    return tuple(round(float(m), 4) for m in flat.mean(1)), tuple(round(float(s), 4) for s in flat.std(1, correction=0))


def load_uint8(data_dir: str | os.PathLike | None = None, download: bool = True,
               dataset: str = "mnist") -> dict[str, torch.Tensor]:
    """Verified uint8 images and labels: {'train_x', 'train_y', 'test_x', 'test_y'}, images (N, H, W)
    for one channel and (N, C, H, W) otherwise; plus 'mean' and 'std' (float64, per channel) and
    'classes'. Decoded once, then cached."""
    folder = resolve_data_dir(data_dir, download, dataset)
    digest = hashlib.sha256(dataset.encode())
    for path in data_files(folder, dataset):
        digest.update(path.read_bytes())
    cache = default_cache_dir() / f"{dataset}-{digest.hexdigest()[:16]}.pt"
    if cache.exists():
        try:
            out = torch.load(cache, weights_only=True)
            if "mean" in out:
                return out
        except Exception:
            pass  # a damaged (or older) cache is rebuilt from the verified files below
    try:
        if dataset == "mnist":
            arrays = [read_idx(folder / name, *spec) for name, spec in FILES.items()]
            out = dict(zip(["train_x", "train_y", "test_x", "test_y"], arrays))
        elif dataset == "cifar10":
            out = read_cifar(folder)
        elif dataset == "idx":
            out = read_any_idx(idx_paths(folder), NAMES[dataset])
        else:
            out = _read_named_idx(folder, dataset)
    except DataError as e:
        raise DataError(f"{NAMES[dataset]}: {e}") from None
    mean, std = statistics(out["train_x"])
    out.update(mean=torch.tensor(mean, dtype=torch.float64), std=torch.tensor(std, dtype=torch.float64),
               classes=out.get("classes", torch.tensor(10)))
    save_torch(out, cache)
    return out


def describe(raw: dict[str, torch.Tensor], dataset: str = "mnist") -> Input:
    """The Input of a dataset loaded by `load_uint8`."""
    x = raw["train_x"]
    c = 1 if x.dim() == 3 else x.shape[1]
    return Input(dataset, c, x.shape[-2], x.shape[-1], int(raw["classes"]),
                 tuple(float(m) for m in raw["mean"]), tuple(float(s) for s in raw["std"]))


def load_input(data_dir=None, dataset: str = "mnist", download: bool = True) -> Input:
    """Verify (and cache) a dataset and return what a network for it takes and gives."""
    return describe(load_uint8(data_dir, download, dataset), dataset)


@dataclass
class Splits:
    """Normalised float32 images (N, C, H, W) and int64 labels, all in memory, and their Input."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    input: Input = field(default=MNIST_INPUT)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.Tensor)}

    def to(self, device: str | torch.device) -> "Splits":
        """The splits on `device` (these very splits when they are there already)."""
        moved = {k: v.to(device) for k, v in self.tensors().items()}
        return self if all(moved[k] is v for k, v in self.tensors().items()) else Splits(**moved, input=self.input)


def normalise(x: torch.Tensor, mean: tuple[float, ...] = (MEAN,), std: tuple[float, ...] = (STD,)) -> torch.Tensor:
    """uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W), (x / 255 - mean) / std per channel.
    In place on one new tensor: bitwise the same as the out-of-place formula, a third of its time
    (a trial start pays it)."""
    out = (x.unsqueeze(1) if x.dim() == 3 else x).float().div_(255.0)
    if len(mean) == 1:
        return out.sub_(mean[0]).div_(std[0])
    return out.sub_(torch.tensor(mean).view(1, -1, 1, 1)).div_(torch.tensor(std).view(1, -1, 1, 1))


def load_splits(data_dir=None, val_size: int = 5000, split_seed: int = 0,
                train_subset: int | None = None, download: bool = True, dataset: str = "mnist") -> Splits:
    """Train/validation/test splits. The validation images are a fixed seeded draw from the training
    file (val_size=0 trains on all of it); `train_subset` keeps only the first N of the remaining
    training images, for cheap proxy trials. The test set is never part of any choice."""
    raw = load_uint8(data_dir, download, dataset)
    n = len(raw["train_y"])
    if not 0 <= val_size < n:
        raise DataError(f"{NAMES[dataset]}: val_size must be in 0..{n - 1} (its training file has {n} images), "
                        f"got {val_size}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset is not None:
        if train_subset <= 0:
            raise ValueError(f"train_subset must be positive, got {train_subset}")
        train_idx = train_idx[:train_subset]
    info = describe(raw, dataset)
    x, y = raw["train_x"], raw["train_y"].long()
    return Splits(normalise(x[train_idx], info.mean, info.std), y[train_idx], normalise(x[val_idx], info.mean, info.std),
                  y[val_idx], normalise(raw["test_x"], info.mean, info.std), raw["test_y"].long(), info)


if __name__ == "__main__":
    import argparse
    import time

    p = argparse.ArgumentParser(description="Verify, decode and cache a dataset; print a summary.")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    args = p.parse_args()
    t0 = time.perf_counter()
    s = load_splits(args.data_dir, dataset=args.dataset)
    print(f"{args.dataset}: train {tuple(s.train_x.shape)}  val {tuple(s.val_x.shape)}  test {tuple(s.test_x.shape)}  "
          f"classes {s.input.classes}  mean {s.input.mean}  std {s.input.std}  in {time.perf_counter() - t0:.2f}s")
