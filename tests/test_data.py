"""MNIST loading: real files decode to the right shapes; damaged files fail with one clear line."""
from __future__ import annotations

import gzip
import shutil
import subprocess
import sys

import pytest
import torch

from nas.data.augment import random_affine
from nas.data.datasets import FILES, DataError, load_splits, load_uint8, normalise


def test_real_mnist_shapes_and_classes(data_dir):
    raw = load_uint8(data_dir)
    assert raw["train_x"].shape == (60000, 28, 28) and raw["test_x"].shape == (10000, 28, 28)
    assert raw["train_x"].dtype == torch.uint8
    # class counts published with the files
    assert torch.bincount(raw["test_y"].long()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_cache_is_written_and_reused(data_dir, private_cache):
    load_uint8(data_dir)
    cached = list(private_cache.glob("mnist-*.pt"))
    assert len(cached) == 1
    again = load_uint8(data_dir)
    assert torch.equal(again["train_y"], torch.load(cached[0])["train_y"])


def test_validation_split_is_fixed_disjoint_and_seeded(data_dir):
    a = load_splits(data_dir, val_size=5000)
    b = load_splits(data_dir, val_size=5000)
    c = load_splits(data_dir, val_size=5000, split_seed=1)
    assert len(a.train_x) == 55000 and len(a.val_x) == 5000 and len(a.test_x) == 10000
    assert torch.equal(a.val_x, b.val_x)
    assert not torch.equal(a.val_y, c.val_y)
    # no validation image is also a training image (compare exact pixel rows)
    train_keys = {bytes(x.flatten().numpy().tobytes()) for x in a.train_x[:20000]}
    assert not any(bytes(v.flatten().numpy().tobytes()) in train_keys for v in a.val_x[:500])
    assert a.train_x.shape[1:] == (1, 28, 28) and abs(float(a.train_x.mean())) < 0.05


def test_normalise_is_bitwise_the_formula():
    # runs trained before normalise went in place must train on the very same tensors
    x = torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8)
    want = ((x.float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1)
    got = normalise(x)
    assert got.shape == (64, 1, 28, 28) and got.dtype == torch.float32 and got.is_contiguous()
    assert torch.equal(got, want)
    assert x.dtype == torch.uint8  # the cached uint8 images are left alone


def _copy(data_dir, tmp_path):
    for name in FILES:
        shutil.copy(data_dir / name, tmp_path / name)
    return tmp_path


def _rewrite(path, fn):
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(fn(bytearray(raw)), compresslevel=1))  # level 9 takes seconds on 47 MB


def _corrupt_byte(b):
    b[5000] ^= 0xFF
    return b


def _bad_label(b):
    b[8 + 123] = 42
    return b


def _bad_magic(b):
    b[3] = 0x99
    return b


def _bad_shape(b):
    b[4:8] = (59999).to_bytes(4, "big")
    return b


@pytest.mark.parametrize("name, damage, expected", [
    ("t10k-images-idx3-ubyte.gz", "truncate", "truncated gzip"),
    ("t10k-images-idx3-ubyte.gz", _corrupt_byte, "contents differ from MNIST"),
    ("t10k-labels-idx1-ubyte.gz", _bad_label, "label 42 at index 123 is out of range"),
    ("train-labels-idx1-ubyte.gz", _bad_magic, "IDX magic"),
    ("train-images-idx3-ubyte.gz", _bad_shape, "shape (59999, 28, 28), expected (60000, 28, 28)"),
    ("t10k-labels-idx1-ubyte.gz", "delete", "lacks t10k-labels-idx1-ubyte.gz"),
    ("t10k-labels-idx1-ubyte.gz", "garbage", "not a valid gzip file"),
])
def test_damaged_files_fail_with_one_line_naming_the_file(data_dir, tmp_path, name, damage, expected):
    folder = _copy(data_dir, tmp_path)
    path = folder / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "delete":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"this is not gzip at all")
    else:
        _rewrite(path, damage)
    with pytest.raises(DataError) as err:
        load_uint8(folder, download=False)
    msg = str(err.value)
    assert name in msg and expected in msg and "\n" not in msg


def test_cli_reports_damaged_data_in_one_line(data_dir, tmp_path):
    folder = _copy(data_dir, tmp_path)
    p = folder / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:1000])
    out = subprocess.run([sys.executable, "-m", "nas", "train", "exp2", "--epochs", "1", "--data-dir", str(folder),
                          "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "train-images-idx3-ubyte.gz" in lines[0] and "truncated" in lines[0]
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_augmentation_is_batchwise_seeded_and_identity_at_zero(small_splits):
    x = small_splits.train_x[:64]
    same = random_affine(x, torch.Generator().manual_seed(0), max_degrees=0, max_shift=0)
    assert torch.allclose(same, x, atol=1e-5)
    a = random_affine(x, torch.Generator().manual_seed(1))
    b = random_affine(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.allclose(a, x, atol=1e-3)
    # a blank image stays blank: the fill value is the normalised black pixel
    blank = normalise(torch.zeros(2, 28, 28, dtype=torch.uint8))
    assert torch.allclose(random_affine(blank, torch.Generator().manual_seed(2)), blank, atol=1e-5)


def test_splits_to_their_own_device_are_the_same_splits(small_splits):
    assert small_splits.to("cpu") is small_splits  # no copy of 60,000 images when nothing moves
    moved = small_splits.to(torch.device("meta"))
    assert moved is not small_splits and moved.train_x.shape == small_splits.train_x.shape
    assert {t.device.type for t in moved.tensors().values()} == {"meta"} and moved.input == small_splits.input
