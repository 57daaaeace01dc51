"""Datasets beyond MNIST (nas.data.datasets): IDX folders made here (3 classes, 28x28 and 20x20), a tiny
CIFAR-10 folder made here, and Fashion-MNIST from Debian's dataset-fashion-mnist package (.ci/run
installs it). Each is loaded, checked and trained; searches on a user's own data are
tests/test_userdata.py's."""
from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data.datasets import DataError, load_input, load_splits, load_uint8, statistics
from search_spaces.blocks import build_network
from search_spaces.baselines import EXP3, LQZNT


def write_idx(folder: Path, n_train: int = 300, n_test: int = 90, size: tuple[int, int] = (20, 20),
              classes: int = 3, gz: bool = True, seed: int = 0) -> Path:
    """Four IDX files of a learnable toy task: class k is a bright bar at row band k, plus noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % classes
        x = rng.integers(0, 60, size=(n, h, w), dtype=np.uint8)
        band = h // classes
        for i, k in enumerate(y):
            x[i, k * band:(k + 1) * band, 2:w - 2] = 230
        for kind, arr, magic in (("images-idx3", x, 0x803), ("labels-idx1", y.astype(np.uint8), 0x801)):
            raw = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
            name = f"{split}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
    return folder


def write_cifar(folder: Path, per_batch: int = 40, seed: int = 0) -> Path:
    """A cifar-10-batches-py folder in CIFAR's own pickle format, random images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
                 "labels": [int(v) for v in np.arange(per_batch) % 10], "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder


def nas(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("size, gz", [((28, 28), True), ((20, 20), False)])
def test_an_idx_folder_loads_with_its_own_shape_classes_and_statistics(tmp_path, size, gz):
    folder = write_idx(tmp_path / "toy", size=size, gz=gz)
    s = load_splits(folder, val_size=60, dataset="idx")
    assert s.train_x.shape == (240, 1, *size) and s.val_x.shape == (60, 1, *size) and s.test_x.shape == (90, 1, *size)
    assert s.input.classes == 3 and s.input.shape == (1, *size)
    raw = load_uint8(folder, dataset="idx")
    x = raw["train_x"].double() / 255
    assert s.input.mean == (round(float(x.mean()), 4),) and s.input.std == (round(float(x.std(correction=0)), 4),)
    assert abs(float(s.train_x.mean())) < 0.05  # normalised by its own statistics, not MNIST's


def test_statistics_are_mnists_familiar_ones(data_dir):
    # what keeps MNIST runs bitwise the same as before the statistics were computed
    assert load_input(data_dir) .mean == (0.1307,) and load_input(data_dir).std == (0.3081,)
    assert statistics(torch.full((4, 3, 2, 2), 255, dtype=torch.uint8)) == ((1.0,) * 3, (0.0,) * 3)


def test_the_space_builds_for_the_input_and_the_gate_counts_that_network():
    from nas.budget import count

    net = build_network(EXP3, (3, 32, 32), 7)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    mnist, cifar = count(build_network(EXP3)), count(net, (3, 32, 32))
    assert cifar[0] > mnist[0] and cifar[1] > mnist[1]  # more input channels, fewer classes, more pixels
    assert build_network(LQZNT, (1, 20, 20), 3)(torch.zeros(1, 1, 20, 20)).shape == (1, 3)
    with pytest.raises(ValueError, match="below 1x1"):  # eight unpadded 3x3 convs and a pool: too many for 20x20
        build_network(EXP3, (1, 20, 20), 3)


def test_the_gate_rejects_a_sample_whose_network_cannot_take_the_input():
    from nas.budget import Budget, Gate
    from search_spaces.choices import CHOICES
    from search_spaces.mnist import MnistSpace

    space = MnistSpace(None, None, (1, 20, 20), 3)
    gate = Gate(Budget(20000), (1, 20, 20))

    class Candidate:
        def __init__(self, arch):
            self.sample = {k: arch.get(k, v[0]) for k, v in CHOICES.items()}
            self.model = space.freeze(self.sample)

        def executable_model(self):
            return self.model

    assert not gate(Candidate(EXP3)) and gate(Candidate(LQZNT))
    assert (gate.rejected, gate.accepted) == (1, 1)


@pytest.mark.parametrize("damage, expected", [
    ("missing class", "label 1 never occurs"),
    ("test label", "out of range 0..2"),
    ("count", "images but"),
    ("test size", "the training images are"),
    ("magic", "IDX magic"),
])
def test_a_bad_idx_folder_fails_in_one_line_naming_the_dataset(tmp_path, damage, expected):
    folder = write_idx(tmp_path / "toy")
    if damage == "missing class":
        y = np.array([0, 2] * 150, dtype=np.uint8)
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 0x801, 300) + y.tobytes()))
    elif damage == "test label":
        y = np.array([0, 1, 5] * 30, dtype=np.uint8)
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 0x801, 90) + y.tobytes()))
    elif damage == "count":
        y = np.array([0, 1, 2] * 20, dtype=np.uint8)
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 0x801, 60) + y.tobytes()))
    elif damage == "test size":
        write_idx(tmp_path / "other", size=(24, 24))
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes((tmp_path / "other" / "t10k-images-idx3-ubyte.gz").read_bytes())
    elif damage == "magic":
        raw = bytearray(gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes()))
        raw[3] = 0x99
        (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError) as err:
        load_uint8(folder, download=False, dataset="idx")
    msg = str(err.value)
    assert msg.startswith("IDX dataset") and expected in msg and "\n" not in msg


def test_idx_needs_a_folder_and_two_datasets_never_share_a_cache_entry(tmp_path, private_cache):
    with pytest.raises(DataError, match="--data-dir"):
        load_uint8(None, dataset="idx")
    folder = write_idx(tmp_path / "toy", size=(28, 28), classes=10, n_train=200, n_test=50)
    known = set(private_cache.glob("*.pt"))
    load_uint8(folder, dataset="idx")
    assert [p.name[:4] for p in set(private_cache.glob("*.pt")) - known] == ["idx-"]
    before = set(private_cache.glob("*.pt"))
    with pytest.raises(DataError, match="^MNIST: .*expected \\(60000, 28, 28\\)"):  # the same files are no MNIST
        load_uint8(folder, download=False, dataset="mnist")
    assert set(private_cache.glob("*.pt")) == before  # and the idx entry did not answer for it


def test_a_cifar10_folder_loads_as_3x32x32_and_a_bad_one_fails_in_one_line(tmp_path):
    folder = write_cifar(tmp_path / "c" / "cifar-10-batches-py")
    s = load_splits(tmp_path / "c", val_size=20, dataset="cifar10")  # the folder above it works too
    assert s.train_x.shape == (180, 3, 32, 32) and s.test_x.shape == (40, 3, 32, 32)
    assert s.input.classes == 10 and len(s.input.mean) == 3
    batch = pickle.loads((folder / "data_batch_3").read_bytes())
    batch["labels"][7] = 12
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError) as err:
        load_uint8(folder, download=False, dataset="cifar10")
    assert "CIFAR-10" in str(err.value) and "data_batch_3" in str(err.value) and "label 12" in str(err.value)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": os.getcwd}))  # a function: refused, never looked up
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        from nas.data.formats import read_cifar_batch

        read_cifar_batch(folder / "test_batch")


def test_fashion_mnist_is_refused_as_mnist_and_accepted_as_itself(tmp_path, fashion_dir):
    r = nas("train", "exp3", "--epochs", "1", "--data-dir", str(fashion_dir), "--out", str(tmp_path / "no"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "differ from MNIST" in r.stderr
    assert not (tmp_path / "no").exists()
    s = load_splits(fashion_dir, val_size=5000, dataset="fashion-mnist")
    assert s.input.classes == 10 and s.input.mean == (0.286,) and s.input.std == (0.353,)
    assert torch.bincount(s.test_y).tolist() == [1000] * 10
    assert load_splits(None, dataset="fashion-mnist").input == s.input  # found where Debian puts it


@pytest.mark.slow
def test_cifar10_trains_with_nas_train(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    r = nas("train", "exp3", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1",
            "--set", "val_size=20", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["input"]["channels"] == 3 and config["train"]["dataset"] == "cifar10"
    state = torch.load(tmp_path / "run" / "seed0" / "model.pt", weights_only=True)
    assert state["0.0.weight"].shape[1] == 3  # the first conv takes three channels
