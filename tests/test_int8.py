"""The int8 model beside a trained model.onnx (nas.deploy.int8): its constant bytes counted on a file
built by hand; a tiny trained net quantized, run by onnxruntime and `nas predict`, close to its fp32
accuracy, its metadata kept; a confirmation's int8 scores of every seed, and later scorings counted as
looks at the test set."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

# Tolerance of int8 against fp32 accuracy, in points, for a net trained one epoch on 2,000 images.
# Such a net has small logit margins, so int8 rounding flips more of its images than it does for a
# trained finalist: measured here, the net below lost 0.1 points on its 1,000 validation images
# (1.4 through onnxruntime's saturating AVX2 int8 kernels, not asserted), where the 8k finalist's
# seeds lose at most 0.04 on the 10,000 test images. A broken quantization (a wrong range, a
# mis-scaled layer) lands near chance, far outside it.
TOLERANCE_POINTS = 2.0
# ... and the share of images both files classify alike: flips go both ways, so more images change
# class than the accuracies differ by (measured here: 99.2% alike on 500 test images).
AGREEMENT = 0.95


def _hand_built(path):
    """A QDQ graph whose constants are counted by hand: quantized input -> Conv (int8 weights, two
    output channels, per-channel scales) -> BatchNormalization (int8 scale, float32 bias, mean,
    variance) -> Reshape (an int64 shape from a Constant node)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def init(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    inits = [init("w_q", np.ones((2, 1, 3, 3), np.int8)),           # 18 B int8: the conv's weights
             init("w_scale", np.full(2, 0.1, np.float32)),          # 8 B float32: per-channel scales
             init("w_zp", np.zeros(2, np.int8)),                    # 2 B int8: per-channel zero points
             init("x_scale", np.float32(0.02)),                     # 4 B float32: the input's scale
             init("x_zp", np.int8(0)),                              # 1 B int8: its zero point
             init("g_q", np.array([3, 4], np.int8)),                # 2 B int8: BatchNorm scale
             init("g_scale", np.float32(0.5)),                      # 4 B float32
             init("g_zp", np.int8(0)),                              # 1 B int8
             init("beta", np.zeros(2, np.float32)),                 # 8 B float32: BatchNorm bias
             init("mean", np.zeros(2, np.float32)),                 # 8 B float32
             init("var", np.ones(2, np.float32))]                   # 8 B float32
    shape = helper.make_node("Constant", [], ["shape"],             # 16 B int64: a shape
                             value=numpy_helper.from_array(np.array([1, -1], np.int64)))
    nodes = [shape,
             helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], axis=0),
             helper.make_node("Conv", ["xd", "w"], ["c"]),
             helper.make_node("DequantizeLinear", ["g_q", "g_scale", "g_zp"], ["g"]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["b"]),
             helper.make_node("Reshape", ["b", "shape"], ["y"])]
    graph = helper.make_graph(nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_constant_bytes_counts_a_hand_built_file(tmp_path):
    import onnxruntime as ort

    from nas.deploy.int8 import constant_bytes

    _hand_built(tmp_path / "hand.onnx")
    got = constant_bytes(tmp_path / "hand.onnx")
    assert got["by_dtype"] == {"float32": 8 + 4 + 4 + 8 + 8 + 8, "int64": 16, "int8": 18 + 2 + 1 + 2 + 1}
    assert got["total"] == 40 + 16 + 24
    assert got["int8_weights"] == got["int8_conv_weights"] == 18
    assert got["int8_weight_values"] == 18 + 2  # and the BatchNorm's int8 scale
    assert got["by_role"] == {"weights": 18, "weight scales": 8 + 2, "batchnorm": 2 + 4 + 1 + 8 + 8 + 8,
                              "activation scales": 4 + 1, "other": 16}
    # the file is a real model: onnxruntime runs it
    session = ort.InferenceSession(str(tmp_path / "hand.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.ones((1, 1, 4, 4), np.float32)})[0].shape == (1, 8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_dir):
    """exp3 trained one epoch on 2,000 images, with a validation split (a run that chooses: its int8
    file is scored on validation)."""
    from nas.config import TrainConfig
    from nas.training.runs import run
    from search_spaces.baselines import EXP3
    from search_spaces.choices import canonical

    out = tmp_path_factory.mktemp("int8") / "exp3"
    cfg = TrainConfig(epochs=1, train_subset=2000, val_size=1000, batch_size=32, augment=False, optimizer="adamw",
                      lr=0.01, eval_batch=5000)
    lines = []
    summary = run(canonical(EXP3), cfg, [0], out, str(data_dir), log=lines.append, evaluate_test=False)
    return out, summary, lines


@pytest.mark.slow  # a short training
def test_a_trained_run_writes_a_checked_int8_file_close_to_fp32(tiny, data_dir):
    import torch

    from nas.deploy.int8 import CALIBRATION_IMAGES, INT8_FILE, constant_bytes
    from nas.deploy.onnx import metadata
    from nas.deploy.predict import load_model, predict

    out, summary, lines = tiny
    rec = json.loads((out / "int8.json").read_text())
    assert rec == summary["int8"] and rec["file"] == f"seed0/{INT8_FILE}"
    assert rec["split"] == "validation" and rec["images"] == 1000 and list(rec["seeds"]) == ["0"]
    acc = rec["accuracy"]
    assert acc["fp32"] >= 70, acc  # the net learned: closeness to an untrained net would say nothing
    assert abs(acc["int8"] - acc["fp32"]) <= TOLERANCE_POINTS, acc
    assert rec["looks"] == 0 and rec["scored"] == "by the run itself"
    assert any(line.startswith(f"wrote {out / 'seed0' / INT8_FILE}: validation accuracy int8") for line in lines)

    int8, fp32 = out / "seed0" / INT8_FILE, out / "seed0" / "model.onnx"
    # metadata kept: the input it takes, and what its weights are, quantization said
    meta, was = metadata(int8), metadata(fp32)
    assert meta["nas.input"] == was["nas.input"]
    assert meta["nas.weights"].startswith(was["nas.weights"] + "; onnxruntime post-training static quantization")
    assert f"{CALIBRATION_IMAGES} training images" in meta["nas.weights"]
    # int8 in the file: every conv weight is one int8 byte, counted from the file
    state = torch.load(out / "seed0" / "model.pt", weights_only=True)
    conv = sum(v.numel() for v in state.values() if v.dim() == 4)
    counted = constant_bytes(int8)
    assert counted == rec["constant_bytes"] and counted["int8_conv_weights"] == conv
    assert counted["total"] == sum(counted["by_role"].values()) == sum(counted["by_dtype"].values())
    assert rec["bytes"] == {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size}
    lat = rec["latency_ms"]
    assert lat["fp32"] > 0 and lat["int8"] > 0 and lat["threads"] == 1 and lat["batch"] == 1 and lat["cpu"]["model"]
    # `nas predict` takes it (as a device computes it), and it classifies almost every image as the fp32 file does
    from nas.data.datasets import load_splits

    x = load_splits(data_dir, val_size=0).test_x[:500]
    assert load_model(int8).kind == "onnx-int8"
    a, b = load_model(int8).logits(x).argmax(1), load_model(fp32).logits(x).argmax(1)
    assert (a == b).mean() >= AGREEMENT
    r = predict(int8, [data_dir / "t10k-images-idx3-ubyte.gz"])
    assert len(r.predictions) == 10000 and not r.errors


FINALIST = Path(__file__).resolve().parents[1] / "results" / "confirm" / "s8k-phtQI"  # 15 epochs, all 60,000 images
# int8 against fp32 for a trained finalist, in points on 1,000 test images (one image is 0.1): its
# five seeds lose at most 0.04 on all 10,000 (results/README.md)
FINALIST_POINTS = 0.3


def test_a_confirmations_int8_scores_every_seed_and_later_scorings_are_counted_looks(data_dir, tmp_path):
    """A confirmation (no validation split) scores every seed's int8 file on the test set; scored
    after the run, each scoring is a look at the test set, counted in int8.json and by the report.
    From the committed 8k finalist's weights of seeds 0 and 3 (seed 3's first conv saturates
    onnxruntime's int8 kernels on a CPU without VNNI: both readings are recorded)."""
    import shutil

    from nas.data.datasets import load_splits
    from nas.reporting.looks import int8_looks, int8_table
    from nas.results.store import Run
    from nas.training.runs import write_run_int8

    out = tmp_path / "confirm" / "s8k-phtQI"
    for name in ("config.json", "seed0/model.onnx", "seed0/model.pt", "seed0/history.json", "seed3/model.pt",
                 "seed3/history.json"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FINALIST / name, out / name)
    data = load_splits(data_dir, val_size=0)
    data = replace(data, test_x=data.test_x[:1000], test_y=data.test_y[:1000])  # its splits, the test set shorter
    first = write_run_int8(out, data, 0, later=True)
    assert first["split"] == "test" and first["images"] == 1000 and list(first["seeds"]) == ["0", "3"]
    assert first["looks"] == 1 and first["scored"] == "after the run (`nas onnx`)"
    for seed, acc in first["seeds"].items():
        assert abs(acc["int8"] - acc["fp32"]) <= FINALIST_POINTS, (seed, acc)
        assert 0 <= acc["int8_host_kernels"] <= 100
    assert first["seeds"]["0"] != first["seeds"]["3"]  # each seed's own weights were quantized
    again = write_run_int8(out, data, 0, later=True)
    assert again["looks"] == 2 and again["seeds"] == first["seeds"]  # the same file gives the same scores
    run = Run.load(out)
    assert int8_looks([("s8k-phtQI", run)]) == 2
    table = int8_table([("s8k-phtQI", run)], out.parent)
    assert len(table) == 5 and table[2].startswith("| `s8k-phtQI` | 5,964 | 0,3 |")


def test_untrained_weights_get_no_int8_file(tmp_path):
    import torch

    from nas.deploy.int8 import quantize
    from nas.deploy.onnx import write_onnx
    from nas.errors import ExportError
    from search_spaces.baselines import EXP3
    from search_spaces.blocks import build_network
    from search_spaces.choices import canonical

    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    write_onnx(build_network(canonical(EXP3)), tmp_path / "model.onnx", x, "random images",
               weights="untrained: initial weights")
    with pytest.raises(ExportError, match="untrained"):
        quantize(tmp_path / "model.onnx", tmp_path / "model.int8.onnx", x.numpy())
    assert not (tmp_path / "model.int8.onnx").exists()


def test_an_exports_printed_lines_say_what_its_int8_file_holds_or_why_there_is_none(capsys, tmp_path):
    from nas.cli.commands import _print_exported

    e = {"rank": 1, "trial": "abc", "metrics": {"default": 98.0}, "params": 5000, "flops": 10, "arch": {},
         "path": str(tmp_path), "onnx": {"weights": "trained: x"}}
    int8 = {"file": "model.int8.onnx", "bytes": {"fp32": 60000, "int8": 40000},
            "constant_bytes": {"total": 7000, "int8_conv_weights": 5000},
            "accuracy": {"split": "validation", "images": 500, "fp32": 98.0, "int8": 97.8},
            "latency_ms": {"fp32": 0.05, "int8": 0.1, "runs": 200, "warmup": 20,
                           "cpu": {"model": "CPU", "avx512": False, "avx2": True, "bf16": False}}}
    _print_exported([{**e, "int8": int8}, {**e, "rank": 2, "int8_none": "untrained weights"}])
    out = capsys.readouterr().out
    assert "model.onnx, model.int8.onnx, table.txt" in out
    assert "  int8: model.int8.onnx, 40,000 B file (fp32 60,000 B); constants 7,000 B (int8 conv weights 5,000 B)" in out
    assert "  int8: validation accuracy on 500 images: int8 97.80%, fp32 98.00% (onnxruntime)" in out
    assert "  int8: latency 0.100 ms int8, 0.050 ms fp32 (onnxruntime, batch 1, 1 thread" in out and "CPU (avx2)" in out
    assert "  int8: no model.int8.onnx (untrained weights)" in out
