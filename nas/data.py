"""MNIST in memory: find the four IDX files, verify them, decode once, cache, split.

Where the data comes from, in order: the `data_dir` argument (the CLI's `--data-dir`), the
`NAS_MNIST_DIR` environment variable, the offline copy `../shared/data/mnist` beside the project
when it exists, else `~/.cache/nas/mnist`, where torchvision's own MNIST code downloads the files
(with its mirrors and checksums) when they are absent.

Every file is checked before anything trains on it: gzip integrity, IDX magic number, shape,
label range and the md5 of the decoded bytes. A problem raises `DataError` with one line that
names the file and what is wrong. Decoded uint8 tensors are cached (keyed by the sha256 of the
.gz files) so that each trial process loads MNIST in well under a second.

    python -m nas.data --data-dir ../shared/data/mnist     # verify, decode, cache, print a summary
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from nas.atomic import save_torch
from nas.errors import DataError

FILES = {  # name -> (IDX magic, shape, md5 of the uncompressed bytes)
    "train-images-idx3-ubyte.gz": (0x803, (60000, 28, 28), "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte.gz": (0x801, (60000,), "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte.gz": (0x803, (10000, 28, 28), "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte.gz": (0x801, (10000,), "27ae3e4e09519cfbb04c329615203637"),
}
MEAN, STD = 0.1307, 0.3081  # MNIST training-set pixel statistics on the [0, 1] scale
ENV_DIR = "NAS_MNIST_DIR"
ENV_CACHE = "NAS_CACHE_DIR"
# the team's offline copy beside the project (machines without internet); users download instead
TEAM_COPY = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def default_cache_dir() -> Path:
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "nas")


def _has_files(folder: Path) -> bool:
    return all((folder / name).exists() for name in FILES)


def resolve_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The folder holding the four .gz files; downloads them with torchvision when allowed and absent."""
    chosen = data_dir or os.environ.get(ENV_DIR)
    if not chosen and _has_files(TEAM_COPY):
        chosen = TEAM_COPY
    folder = Path(chosen).expanduser() if chosen else default_cache_dir() / "mnist"
    for candidate in (folder, folder / "MNIST" / "raw"):  # the second is torchvision's layout
        if _has_files(candidate):
            return candidate
    missing = [n for n in FILES if not (folder / n).exists()]
    if not download or len(missing) < len(FILES):  # a partial folder is damage, not a fresh start
        missing = missing[0]
        raise DataError(f"{folder / missing}: file not found (give --data-dir or set {ENV_DIR})")
    return _download(folder)


def _download(folder: Path) -> Path:
    """Fetch MNIST with torchvision's own code (mirrors + md5 checks) into `folder`/MNIST/raw."""
    from torchvision.datasets import MNIST

    folder.mkdir(parents=True, exist_ok=True)
    try:
        MNIST(str(folder), train=True, download=True)
        MNIST(str(folder), train=False, download=True)
    except Exception as e:  # network errors come in many types; the user needs one line
        raise DataError(f"MNIST not found in {folder} and the download failed: {e!s:.200}") from None
    raw = folder / "MNIST" / "raw"
    if not _has_files(raw):
        raise DataError(f"{raw}: the download did not leave the four .gz files")
    return raw


def read_idx(path: Path, magic: int, shape: tuple[int, ...], md5: str | None) -> torch.Tensor:
    """Decode one gzip'd IDX file into a uint8 tensor, checking everything that can be checked."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except EOFError:
        raise DataError(f"{path}: truncated gzip stream (download it again)") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e})") from None
    ndim = len(shape)
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    got_magic = struct.unpack(">I", raw[:4])[0]
    if got_magic != magic:
        raise DataError(f"{path}: IDX magic {got_magic:#x}, expected {magic:#x} (wrong or corrupt file)")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    if dims != shape:
        raise DataError(f"{path}: shape {dims}, expected {shape}")
    body = raw[4 + 4 * ndim:]
    expected = 1
    for d in shape:
        expected *= d
    if len(body) != expected:
        raise DataError(f"{path}: {len(body)} data bytes, header promises {expected} (truncated or padded)")
    data = torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)
    if ndim == 1 and int(data.max()) > 9:
        bad = int((data > 9).nonzero()[0])
        raise DataError(f"{path}: label {int(data[bad])} at index {bad} is out of range 0..9")
    if md5 is not None and hashlib.md5(raw).hexdigest() != md5:
        raise DataError(f"{path}: contents differ from MNIST (md5 {hashlib.md5(raw).hexdigest()}, expected {md5})")
    return data


def load_uint8(data_dir: str | os.PathLike | None = None, download: bool = True) -> dict[str, torch.Tensor]:
    """Verified uint8 MNIST: {'train_x', 'train_y', 'test_x', 'test_y'}; decoded once, then cached."""
    folder = resolve_data_dir(data_dir, download)
    digest = hashlib.sha256()
    for name in FILES:
        digest.update((folder / name).read_bytes())
    cache = default_cache_dir() / f"mnist-{digest.hexdigest()[:16]}.pt"
    if cache.exists():
        try:
            return torch.load(cache, weights_only=True)
        except Exception:
            pass  # a damaged cache is rebuilt from the verified files below
    arrays = [read_idx(folder / name, *spec) for name, spec in FILES.items()]
    out = dict(zip(["train_x", "train_y", "test_x", "test_y"], arrays))
    save_torch(out, cache)
    return out


@dataclass
class Splits:
    """Normalised float32 images (N, 1, 28, 28) and int64 labels, all in memory."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def to(self, device: str | torch.device) -> "Splits":
        """The splits on `device` (these very splits when they are there already)."""
        moved = {k: v.to(device) for k, v in vars(self).items()}
        return self if all(moved[k] is v for k, v in vars(self).items()) else Splits(**moved)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), (x / 255 - MEAN) / STD. In place on one new
    tensor: bitwise the same as the out-of-place formula, a third of its time (a trial start pays it)."""
    return x.unsqueeze(1).float().div_(255.0).sub_(MEAN).div_(STD)


def load_splits(data_dir=None, val_size: int = 5000, split_seed: int = 0,
                train_subset: int | None = None, download: bool = True) -> Splits:
    """Train/validation/test splits. The validation images are a fixed seeded draw from the 60k
    training images (val_size=0 trains on all 60k); `train_subset` keeps only the first N of the
    remaining training images, for cheap proxy trials. The test set is never part of any choice."""
    if not 0 <= val_size < 60000:
        raise ValueError(f"val_size must be in 0..59999, got {val_size}")
    raw = load_uint8(data_dir, download)
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_subset is not None:
        if train_subset <= 0:
            raise ValueError(f"train_subset must be positive, got {train_subset}")
        train_idx = train_idx[:train_subset]
    x, y = raw["train_x"], raw["train_y"].long()
    return Splits(normalise(x[train_idx]), y[train_idx], normalise(x[val_idx]), y[val_idx],
                  normalise(raw["test_x"]), raw["test_y"].long())


if __name__ == "__main__":
    import argparse
    import time

    p = argparse.ArgumentParser(description="Verify, decode and cache MNIST; print a summary.")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args()
    t0 = time.perf_counter()
    s = load_splits(args.data_dir)
    print(f"train {tuple(s.train_x.shape)}  val {tuple(s.val_x.shape)}  test {tuple(s.test_x.shape)}"
          f"  in {time.perf_counter() - t0:.2f}s")
