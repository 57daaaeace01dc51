"""A search that knows its input, tried as a new user would: a 5-class dataset of 20x20 images in the
four gzip IDX files the README's custom-data section asks for (Fashion-MNIST's classes 0 2 5 7 9,
centre-cropped), and a 3x32x32 one in CIFAR-10's own format (Fashion-MNIST padded to 32 and copied
to three channels), each searched with `nas search` at tiny sizes; and the rules underneath them:
the stem label, the rungs and the validation split fitted to a dataset's size, the warm starts and
controls that cannot take the images left out and named, and a budget nothing meets refused at once."""
from __future__ import annotations

import glob
import gzip
import importlib.util
import json
import pickle
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.config import SearchConfig, TrainConfig, format_rungs, make, parse_rungs
from nas.data.datasets import Input
from nas.facts import FULL_IMAGES, FULL_RUNG, VAL_IMAGES, val_images
from nas.schedule.rungs import fit_rungs
from search_spaces.baselines import EXP3, LQZNT
from search_spaces.blocks import build_network
from search_spaces.choices import canonical, complete

FASHION_CLASSES = (0, 2, 5, 7, 9)  # T-shirt, pullover, sandal, sneaker, ankle boot


def _fashion(fashion_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    def read(name: str) -> np.ndarray:
        raw = gzip.decompress((fashion_dir / f"{split}-{name}-ubyte.gz").read_bytes())
        magic, n = struct.unpack(">II", raw[:8])
        return np.frombuffer(raw[16:], np.uint8).reshape(n, 28, 28) if magic == 0x803 else np.frombuffer(raw[8:], np.uint8)
    return read("images-idx3"), read("labels-idx1")


def _picked(fashion_dir: Path, split: str, n: int, classes=FASHION_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` images of `classes`, relabelled 0..K-1 in that order."""
    x, y = _fashion(fashion_dir, split)
    keep = np.isin(y, classes).nonzero()[0][:n]
    return x[keep], np.searchsorted(np.array(classes), y[keep]).astype(np.uint8)


def write_fashion5(folder: Path, fashion_dir: Path, n_train: int = 3000, n_test: int = 500) -> Path:
    """Four gzip IDX files: 20x20 centre crops of Fashion-MNIST's classes 0 2 5 7 9, labels 0..4."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        x, y = _picked(fashion_dir, split, n)
        x = np.ascontiguousarray(x[:, 4:24, 4:24])
        for kind, arr, magic in (("images-idx3", x, 0x803), ("labels-idx1", y, 0x801)):
            raw = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
            (folder / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(raw))
    return folder


def write_fashion_rgb(folder: Path, fashion_dir: Path, per_batch: int = 240, n_test: int = 300) -> Path:
    """A cifar-10-batches-py folder of 3x32x32 images: Fashion-MNIST's 10 classes padded to 32x32, in
    three channels of different brightness."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y = _fashion(fashion_dir, "train")
    tx, ty = _fashion(fashion_dir, "t10k")

    def batch(images: np.ndarray, labels: np.ndarray, name: str) -> None:
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
        rgb = np.stack([padded, padded // 2, 255 - padded], axis=1).reshape(len(images), 3072)
        (folder / name).write_bytes(pickle.dumps({"data": np.ascontiguousarray(rgb), "labels": labels.tolist(),
                                                  "batch_label": name}))
    for i in range(5):
        batch(x[i * per_batch:(i + 1) * per_batch], y[i * per_batch:(i + 1) * per_batch], f"data_batch_{i + 1}")
    batch(tx[:n_test], ty[:n_test], "test_batch")
    return folder


def nas(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fashion5(tmp_path_factory, fashion_dir):
    return write_fashion5(tmp_path_factory.mktemp("fashion5"), fashion_dir)


SMALL = Input("idx", 1, 20, 20, 5, (0.3,), (0.3,))
RGB = Input("cifar10", 3, 32, 32, 10, (0.3,) * 3, (0.3,) * 3)


# -- the space: a stem label, and every earlier architecture the same network ------------------------

def test_every_committed_export_is_the_same_network_with_the_same_keys():
    """The network built now from each export's arch.json (a stem key only where it is on) has its recorded parameter
    count; where the export has a model.py (a copy of the blocks.py it was searched with), that
    network's state_dict keys and shapes too."""
    files = sorted(glob.glob(str(Path(__file__).parents[1] / "results" / "exports" / "*" / "*" / "arch.json")))
    assert len(files) > 20
    copies = []
    for path in files:
        doc = json.loads(Path(path).read_text())
        arch = doc.get("arch", doc)
        # exports from before the stem label have none; a later one holds it only when it is on
        assert arch.get("stem") != "none" and canonical(complete(arch)) == canonical(arch)
        net = build_network(complete(arch))  # every committed export is MNIST's
        assert sum(p.numel() for p in net.parameters()) == doc["params"], path
        model_py = Path(path).parent / "model.py"
        if model_py.exists():
            spec = importlib.util.spec_from_file_location(f"export{len(copies)}", model_py)
            old = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(old)
            then = old.build_model().state_dict()
            assert [(k, v.shape) for k, v in net.state_dict().items()] == [(k, v.shape) for k, v in then.items()], path
            copies.append(path)
    assert len(copies) >= 5


def test_a_stem_halves_large_images_and_is_a_label_only_when_on():
    arch = complete(LQZNT)
    plain = build_network(arch, RGB.shape, 10)
    pooled = build_network({**arch, "stem": "pool"}, RGB.shape, 10)
    strided = build_network({**arch, "stem": "conv_s2", "stem_width": 8, "sep1": True}, RGB.shape, 10)
    x = torch.zeros(2, *RGB.shape)
    assert plain(x).shape == pooled(x).shape == strided(x).shape == (2, 10)
    assert isinstance(pooled[0], torch.nn.MaxPool2d) and strided[0][0].stride == (2, 2)
    # a pool stem has no weights: the same parameters as without; exp3 cannot take 20x20 images
    assert sum(p.numel() for p in pooled.parameters()) == sum(p.numel() for p in plain.parameters())
    with pytest.raises(ValueError, match="below 1x1"):
        build_network(complete(EXP3), SMALL.shape, 5)
    # the stem and its width are canonical labels only when they change the network
    assert "stem" not in canonical(arch) and "stem_width" not in canonical({**arch, "stem": "pool"})
    assert canonical({**arch, "stem": "conv_s2", "stem_width": 8})["stem_width"] == 8
    # after a strided stem, stage 1's first conv is separable when sep1 says so (it is not the network's first)
    assert canonical({**arch, "depth1": 1, "stem": "conv_s2", "sep1": True})["sep1"] is True
    assert "sep1" not in canonical({**arch, "depth1": 1, "sep1": True})


# -- the schedule fitted to the dataset's size ---------------------------------------------------------

def test_the_validation_split_and_the_rungs_keep_mnist_and_fit_a_small_dataset():
    assert val_images(60000) == VAL_IMAGES == 5000 and val_images(50000) == 5000  # MNIST-like and CIFAR-10
    assert val_images(3000) == 500 and val_images(300) == 100 and val_images(150) == 75
    mnist = parse_rungs("2x20000," + FULL_RUNG)
    assert fit_rungs(mnist, FULL_IMAGES, FULL_IMAGES, True) == (mnist, False)  # committed searches stay identical
    small, changed = fit_rungs(mnist, 2500, FULL_IMAGES, True)
    assert changed and [r.images for r in small] == [909, 2500] and small[-1].seeds == (0, 1)
    assert parse_rungs(format_rungs(small)) == small
    typed, _ = fit_rungs(parse_rungs("1x400,3x20000"), 2500, FULL_IMAGES, False)  # a user's rungs: capped only
    assert [r.images for r in typed] == [400, 2500]


def test_fit_input_leaves_out_what_cannot_take_the_images_and_names_each_once():
    from nas.engine.launch import fit_input

    asha = make(SearchConfig, strategy="evolution", max_params=20000, rungs="2x20000," + FULL_RUNG)
    search, train, notes = fit_input(asha, make(TrainConfig, dataset="idx"), SMALL, 3000, auto_rungs=True)
    assert train.val_size == 500 and search.rungs == "2x909,15x2500:2"
    assert search.controls == "none" and notes.controls_left
    text = "\n".join(notes)
    for name in ("exp3", "exp4"):  # controls by the rule: named as controls, never again as warm starts
        assert text.count(f"control {name} skipped: cannot take idx's 1x20x20 images") == 1
        assert f"warm start {name} " not in text
    for name in ("exp1", "exp2", "r3cpl8k"):
        assert text.count(f"warm start {name} skipped: cannot take idx's 1x20x20 images") == 1
    assert search.warm_start == "era7918,lqznt4k"
    # named by the user, a control or a warm start that cannot take the images is refused in one line
    from nas.errors import ConfigError
    with pytest.raises(ConfigError, match="control exp3 cannot take idx's 1x20x20 images"):
        fit_input(make(SearchConfig, rungs=asha.rungs, controls="exp3"), make(TrainConfig, dataset="idx"), SMALL,
                  3000, True)
    with pytest.raises(ConfigError, match="--warm-start exp4: cannot take idx's 1x20x20 images"):
        fit_input(make(SearchConfig, strategy="evolution", schedule="flat", warm_start="exp4"),
                  make(TrainConfig, dataset="idx"), SMALL, 3000, False)
    # MNIST: nothing changes, nothing said
    search, train, notes = fit_input(make(SearchConfig, strategy="evolution", max_params=8000,
                                          rungs="2x20000," + FULL_RUNG), make(TrainConfig), Input(), 60000, True)
    assert (list(notes), train.val_size, search.rungs, search.controls) == ([], 5000, "2x20000," + FULL_RUNG, "auto")


def test_a_budget_almost_nothing_meets_is_refused_at_once_naming_the_smallest_network(tmp_path, data_dir):
    r = nas("search", "--max-params", "500", "--data-dir", str(data_dir), "--results", str(tmp_path), timeout=120)
    assert r.returncode != 0 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "budget 500 parameters: none of 500 random candidates fits" in lines[0]
    assert "the smallest network has 128 parameters" in lines[0]


def test_a_budget_few_candidates_meet_is_said_at_once():
    from nas.budget import Budget
    from nas.engine.experiment import budget_share
    from search_spaces import mnist

    line = budget_share(mnist, Budget(1000), None, Input())
    assert re.fullmatch(r"budget 1,000 parameters: only \d of 500 random candidates fit \(the smallest network has "
                        r"128 parameters\); most proposals will be rejected before training, so trials start slowly",
                        line), line
    assert budget_share(mnist, Budget(8000), None, Input()) == ""


def test_nas_train_on_a_small_dataset_holds_out_a_sixth_not_5000(tmp_path, fashion5, no_export_files):
    from nas.training.runs import run

    cfg = make(TrainConfig, dataset="idx", epochs=1, train_subset=300)
    lines: list[str] = []
    run(complete(LQZNT), cfg, [0], tmp_path / "run", str(fashion5), log=lines.append, evaluate_test=False)
    assert "validation split: 500 of the 3,000 training images (a sixth; --set val_size=N to choose)" in lines
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["val_size"] == 500


# -- searches on the user's own data -----------------------------------------------------------------

def _search(tmp_path, *args) -> tuple[subprocess.CompletedProcess, Path]:
    from test_e2e import free_port

    res = tmp_path / "res"
    r = nas("search", "--id", "mine", "--results", str(res), "--port", str(free_port()), *args, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "FAILED" not in r.stdout and "Traceback" not in r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
    assert "+-nan" not in r.stdout
    return r, res


def _exported(res: Path) -> dict:
    """The pick's export: handed over trained, its model.onnx classifying the validation images
    through onnxruntime as PyTorch does, at the trial's recorded accuracy (to one image: the trial
    ran on one thread, the export on several)."""
    path = next((res / "exports" / "mine").glob("rank1_*/arch.json"))
    arch = json.loads(path.read_text())
    assert (path.parent / "model.onnx").stat().st_size > 0 and (path.parent / "model.pt").exists()
    assert arch["onnx"]["weights"].startswith("trained"), arch["onnx"]
    acc = arch["onnx"]["val_acc"]
    assert acc["onnxruntime"] == acc["pytorch"]
    assert abs(acc["pytorch"] - arch["metrics"]["val_acc"]) <= 100 / acc["images"] + 1e-9
    return arch


@pytest.mark.slow
def test_evolution_flat_on_20x20_images_skips_the_warm_starts_that_cannot_take_them(user_search):
    """The README's custom-data example (evolution, default warm start): a traceback before. The
    search is conftest's shared one (3 trials, 1 epoch on 800 images)."""
    out, res = user_search.out, user_search.res
    assert "FAILED" not in out and "Traceback" not in user_search.err and "+-nan" not in out
    # exp1 and exp2 lack BatchNorm, which a flat search pins on: not points of its space, not proposed
    for name in ("exp3", "exp4", "r3cpl8k"):
        assert out.count(f"warm start {name} skipped: cannot take idx's 1x20x20 images") == 1, out
    assert "population opens with era7918, lqznt4k" in out
    assert "validation split: 500 of the 3,000 training images" in out
    assert len(re.findall(r"^trial +\d/3 +\w+ +val ", out, re.M)) == 3, out  # every trial scored
    arch = _exported(res)
    assert arch["input"]["classes"] == 5 and arch["input"]["height"] == 20
    # the exported model.py stands alone and takes the dataset's images
    model_py = next((res / "exports" / "mine").glob("rank1_*/model.py"))
    out = subprocess.run([sys.executable, "-c", "import model, torch; print(tuple(model.build_model()"
                          "(torch.zeros(1, *model.INPUT_SHAPE)).shape))"], cwd=model_py.parent,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "(1, 5)", out.stderr


@pytest.mark.slow
def test_random_asha_on_20x20_images_races_without_the_controls_and_says_so_once(tmp_path, fashion5):
    """The default multi-fidelity search raced exp3 and exp4, whose networks cannot take 20x20 images:
    its last-rung trials failed and the pick read +-nan."""
    r, res = _search(tmp_path, "--dataset", "idx", "--data-dir", str(fashion5), "--strategy", "random",
                     "--trials", "2", "--eta", "2", "--rungs", "1x400,3x20000", "--race-cap", "1", "--race-min", "1",
                     "--fresh-seeds", "0")
    for name in ("exp3", "exp4"):
        assert r.stdout.count(f"control {name} skipped") == 1
    assert r.stdout.count("the race runs without controls") == 1
    assert "rungs fitted to the 2,500 training images outside validation: 1 ep x 400 img -> 3 ep x 2,500 img" in r.stdout
    assert "pick: late-validation mean" in r.stdout and "one seed: no interval" in r.stdout
    assert "vs control" not in r.stdout
    assert _exported(res)["input"]["classes"] == 5


@pytest.mark.slow
def test_tpe_asha_on_3x32x32_images_races_the_control_that_fits(tmp_path, fashion_dir):
    folder = write_fashion_rgb(tmp_path / "cifar-10-batches-py", fashion_dir)
    r, res = _search(tmp_path, "--dataset", "cifar10", "--data-dir", str(folder), "--strategy", "tpe",
                     "--max-params", "6000", "--trials", "2", "--eta", "2", "--rungs", "1x300,3x1000", "--race-cap", "1",
                     "--race-min", "1", "--fresh-seeds", "0")
    assert "controls: lqznt4k" in r.stdout and "skipped" not in r.stdout
    assert "validation split: 200 of the 1,200 training images" in r.stdout
    assert "vs control lqznt4k" in r.stdout
    arch = _exported(res)
    assert arch["input"]["channels"] == 3 and arch["params"] <= 6000
