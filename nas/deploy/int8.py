"""The int8 model beside a trained model.onnx: onnxruntime's post-training static quantization, the
bytes of its constants, and its latency on this machine's CPU.

The file, `model.int8.onnx`, is written from a checked fp32 model.onnx (nas.deploy.onnx) by
`quant_pre_process` (shape inference and onnxruntime's basic graph optimisation), then
`quantize_static` in QDQ format: int8 weights with one scale per output channel, int8 activations
with one scale per tensor, calibrated by min/max on CALIBRATION_IMAGES training images drawn with
CALIBRATION_SEED (never validation or test images). A conv -> ReLU fuses when it runs; the
BatchNorm after the ReLU (the space's blocks) cannot fold into the conv before it and stays a
BatchNormalization with an int8 scale and an int32 bias, each with one scale for the tensor (the
quantizer's channel axis for it, 1, does not exist on a rank-1 scale; a scale per channel would cost
13 bytes a channel, a fifth more constants on the 4k finalists, for at most 0.1 point of accuracy
there), and float32 mean and variance. nas/footprint.py predicts these bytes. The file keeps
the fp32 file's metadata (nas.input), and its nas.weights says what the fp32 weights were and how
they were quantized, so `nas predict` takes it like any model.onnx (and answers as a device would:
`run_int8`).

Its accuracy is read two ways. "int8": onnxruntime with its QDQ fusion off, so each op computes in
float on the dequantized int8 values, as a device accumulating in int32 computes them (to float
rounding): the figure of the file. "int8_host_kernels": onnxruntime as it runs by default, the QDQ
pairs fused into its int8 kernels; on an x86 CPU without VNNI (AVX2 only) these multiply u8 x s8
pairs into int16 sums that saturate, and a network whose first conv meets bright pixels with large
weights can lose many points there (the committed 8k finalist's seed 3: 99.36% against 85.22% on
the 10,000 test images, results/confirm/s8k-phtQI/int8.json). Latency is timed through the host kernels: that is what runs fast here.

Untrained weights get no int8 file: calibrating them would measure nothing.

    entry = write_int8("seed0/model.onnx", data.train_x, data.val_x, data.val_y, "validation")
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from nas.deploy.onnx import WEIGHTS_KEY, accuracy, metadata, read_weights
from nas.errors import ExportError

INT8_FILE = "model.int8.onnx"
CALIBRATION_IMAGES = 512   # training images the activation ranges are calibrated on
CALIBRATION_SEED = 0       # ... drawn by this seed, so the same weights give the same file
CALIBRATION_BATCH = 64
LATENCY_WARMUP = 20        # runs discarded before timing (first-run allocations, caches)
LATENCY_RUNS = 200         # timed runs; the median is the figure
QUANTIZED = "onnxruntime post-training static quantization"  # in an int8 file's nas.weights
QUANTIZATION = (QUANTIZED + ": QDQ, per-channel int8 weights, int8 activations, calibrated (min/max) on {n} "
                "training images drawn with seed {seed}")


def calibration_images(train_x, n: int = CALIBRATION_IMAGES, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """`n` normalised training images (N, C, H, W float32), drawn without replacement by `seed`
    (all of them where there are fewer)."""
    x = train_x.detach().cpu().numpy() if hasattr(train_x, "detach") else np.asarray(train_x)
    pick = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return x[pick].astype(np.float32)


def quantize(fp32: str | os.PathLike, out: str | os.PathLike, calibration: np.ndarray) -> str:
    """Write the int8 model of the fp32 file `fp32` to `out` (in place in one rename; a failure
    leaves nothing there); returns its nas.weights line."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    import onnx

    fp32, out = Path(fp32), Path(out)
    said = read_weights(fp32) or "trained"
    if said.startswith("untrained"):
        raise ExportError(f"{fp32}: its weights are untrained; an int8 file of them would mean nothing")
    batches = [calibration[i:i + CALIBRATION_BATCH] for i in range(0, len(calibration), CALIBRATION_BATCH)]
    name = _input_name(fp32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {name: batch}

    weights = f"{said}; {QUANTIZATION.format(n=len(calibration), seed=CALIBRATION_SEED)}"
    root = logging.getLogger()
    level = root.level
    with tempfile.TemporaryDirectory() as tmp:
        pre, quantized = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        try:
            root.setLevel(logging.ERROR)  # the quantizer's notes (the BatchNorm axis above) go to the root logger
            with contextlib.redirect_stdout(io.StringIO()):
                quant_pre_process(str(fp32), str(pre))
                quantize_static(str(pre), str(quantized), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        except Exception as e:  # the quantizer's errors come in many types; the user needs one line
            raise ExportError(f"{fp32}: int8 quantization failed ({type(e).__name__}: "
                              f"{(str(e).splitlines() or [''])[0][:200]})") from None
        finally:
            root.setLevel(level)
        model = onnx.load(str(quantized))
        props = {**{p.key: p.value for p in model.metadata_props}, **metadata(fp32), WEIGHTS_KEY: weights}
        del model.metadata_props[:]
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(quantized))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_name(f".{out.name}.tmp")
        try:
            tmp_out.write_bytes(quantized.read_bytes())
            os.replace(tmp_out, out)
        finally:
            tmp_out.unlink(missing_ok=True)
    return weights


def _input_name(path: Path) -> str:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    return next(i.name for i in graph.input if i.name not in inits)


def constant_bytes(path: str | os.PathLike) -> dict:
    """The bytes of every constant tensor stored in an ONNX file, counted from the file itself: each
    initializer (of the graph and of any subgraph) and each Constant node's value, at its element
    count times its element size (int8 1, int32 and float32 4, int64 8 bytes; the protobuf framing
    and the tensors' names are not counted). Returns
      by_dtype           {dtype: bytes}, e.g. {"float32": 452, "int32": 108, "int64": 16, "int8": 6176}
      total              their sum: the int8 model size as μNAS counts it (every constant byte)
      int8_weights       the int8 weight tensors of the convs and matrix products (a weight reaching a
                         Conv's, Gemm's or MatMul's second input through a DequantizeLinear)
      int8_conv_weights  ... of the Conv nodes alone (this space has no Gemm or MatMul)
      int8_weight_values int8_weights and the int8 scales of the BatchNormalizations (their
                         second input through a DequantizeLinear): nas/footprint.py's weight_bytes
      by_role            total split by what each tensor is for: "weights" (int8_weights),
                         "weight scales" (their per-channel scales and zero points), "batchnorm"
                         (a BatchNormalization's scale, bias, mean and variance, their scales and
                         zero points), "activation scales" (the scales and zero points that quantize
                         activations) and "other" (shapes, axes)
    A tensor is counted once, under the role of its first consumer in that order."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    tensors: dict[str, np.ndarray] = {}

    def collect(graph) -> None:
        for init in graph.initializer:
            tensors[init.name] = numpy_helper.to_array(init)
        for node in graph.node:
            if node.op_type == "Constant":
                tensors[node.output[0]] = _constant_value(node.attribute[0])
            for a in node.attribute:
                for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    collect(sub)

    collect(model.graph)
    nodes = list(model.graph.node)
    consumers: dict[str, list[tuple[object, int]]] = {}
    for node in nodes:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))

    def feeds(name: str) -> list[tuple[str, int, int | None]]:
        """(op, input index, index into the DequantizeLinear it went through or None) of what
        `name` reaches, looking through one DequantizeLinear."""
        out = []
        for node, i in consumers.get(name, []):
            if node.op_type == "DequantizeLinear":
                out += [(n.op_type, j, i) for n, j in consumers.get(node.output[0], [])]
            else:
                out.append((node.op_type, i, None))
        return out

    by_dtype: dict[str, int] = {}
    by_role = {"weights": 0, "weight scales": 0, "batchnorm": 0, "activation scales": 0, "other": 0}
    int8_conv = int8_bn = 0
    for name, array in tensors.items():
        size = int(array.size * array.dtype.itemsize)
        by_dtype[str(array.dtype)] = by_dtype.get(str(array.dtype), 0) + size
        reached = feeds(name)
        weight = [(op, dq) for op, j, dq in reached if op in ("Conv", "Gemm", "MatMul") and j == 1]
        if array.dtype == np.int8 and any(dq == 0 for _, dq in weight):
            role = "weights"
            int8_conv += size if ("Conv", 0) in weight else 0
        elif any(dq in (1, 2) for _, dq in weight):
            role = "weight scales"
        elif any(op == "BatchNormalization" and j >= 1 for op, j, _ in reached):
            role = "batchnorm"
            int8_bn += size if array.dtype == np.int8 and ("BatchNormalization", 1, 0) in reached else 0
        elif any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node, _ in consumers.get(name, [])):
            role = "activation scales"
        else:
            role = "other"
        by_role[role] += size
    return {"by_dtype": dict(sorted(by_dtype.items())), "total": sum(by_dtype.values()),
            "int8_weights": by_role["weights"], "int8_conv_weights": int8_conv,
            "int8_weight_values": by_role["weights"] + int8_bn, "by_role": by_role}


def _constant_value(a) -> np.ndarray:
    """A Constant node's value (its one attribute) as an array: a tensor, or a scalar or list of
    floats (float32) or ints (int64); a sparse tensor as its stored values and indices."""
    import onnx
    from onnx import numpy_helper

    if a.name == "value":
        return numpy_helper.to_array(a.t)
    if a.name == "sparse_value":
        return np.concatenate([numpy_helper.to_array(a.sparse_tensor.values).view(np.uint8).ravel(),
                               numpy_helper.to_array(a.sparse_tensor.indices).view(np.uint8).ravel()])
    value = onnx.helper.get_attribute_value(a)
    if a.name.startswith("value_string"):
        return np.frombuffer(b"".join(value if isinstance(value, list) else [value]), dtype=np.uint8)
    return np.asarray(value, dtype=np.int64 if a.name.startswith("value_int") else np.float32)


def cpu() -> dict:
    """The CPU this machine runs on: its model name and which of avx512f / avx2 / bf16 its flags list."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []))
    return {"model": name or platform.processor() or platform.machine(), "avx512": "avx512f" in flags,
            "avx2": "avx2" in flags, "bf16": any("bf16" in f for f in flags)}


def cpu_words(c: dict) -> str:
    """A cpu() record in words: "AMD EPYC (avx2)"."""
    isa = ", ".join(k for k in ("avx512", "avx2", "bf16") if c.get(k)) or "no avx2/avx512"
    return f"{c['model']} ({isa})"


def latency_ms(path: str | os.PathLike, shape: tuple[int, ...], runs: int = LATENCY_RUNS,
               warmup: int = LATENCY_WARMUP) -> dict:
    """onnxruntime's time for one image of `shape` (C, H, W) through the file, on one thread (intra-
    and inter-op), after `warmup` discarded runs: the median of `runs` timed runs, in milliseconds,
    with the CPU it ran on. A host figure, reported and never a gate: other load moves it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    timed = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {timed.get_inputs()[0].name: np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)}
    for _ in range(warmup):
        timed.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        timed.run(None, feed)  # run() returns once the outputs are computed: no device to wait for
        times.append(time.perf_counter() - start)
    return {"ms": round(statistics.median(times) * 1000, 4), "runs": runs, "warmup": warmup, "batch": 1,
            "threads": 1, "cpu": cpu()}


def session(path: str | os.PathLike, host_kernels: bool = True):
    """An onnxruntime session of an ONNX file. `host_kernels` False: an int8 file's QDQ pairs are not
    fused into onnxruntime's int8 kernels, so each op computes on the dequantized int8 values: the
    arithmetic of a device that accumulates in int32, to float rounding (see the module docstring)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not host_kernels:  # the basic level folds constants but leaves QDQ pairs unfused
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_int8(path: str | os.PathLike, images: np.ndarray) -> np.ndarray:
    """The logits of an int8 file for `images` (N, C, H, W float32) as a device computes them (what
    `nas predict` answers with)."""
    s = session(path, host_kernels=False)
    return s.run(None, {s.get_inputs()[0].name: images.astype(np.float32)})[0]


def score(path: str | os.PathLike, x, y, batch: int = 1000, host_kernels: bool = True) -> float:
    """Accuracy (%) of an ONNX file on normalised images `x` (N, C, H, W) with labels `y`, by
    onnxruntime (`host_kernels`: see `session`)."""
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    session_ = session(path, host_kernels)  # one session: building one costs more than a batch
    name = session_.get_inputs()[0].name
    logits = np.concatenate([session_.run(None, {name: x[i:i + batch].astype(np.float32)})[0]
                             for i in range(0, len(x), batch)])
    return round(accuracy(logits, y.cpu() if hasattr(y, "cpu") else y), 4)


def write_int8(fp32: str | os.PathLike, train_x, x=None, y=None, split: str = "validation",
               shape: tuple[int, ...] | None = None, host_kernels: bool = True) -> dict:
    """Quantize the trained fp32 file `fp32` into INT8_FILE beside it, calibrated on `train_x`, and
    check it with onnxruntime: both files classify `x` / `y` (the `split` the caller may read; None:
    not scored), and both are timed on one image of `shape` (C, H, W). Returns what arch.json,
    int8.json and table.txt record:
      file, weights (its nas.weights), bytes {fp32, int8} (file sizes), constant_bytes (constant_bytes()),
      accuracy {split, images, fp32, int8, int8_host_kernels} (onnxruntime, %: int8 as a device
      computes it; int8_host_kernels through this CPU's fused int8 kernels, where `host_kernels`),
      latency_ms {fp32, int8, runs, warmup, batch, threads, cpu}."""
    fp32 = Path(fp32)
    out = fp32.with_name(INT8_FILE)
    weights = quantize(fp32, out, calibration_images(train_x))
    entry = {"file": out.name, "weights": weights, "bytes": {"fp32": fp32.stat().st_size, "int8": out.stat().st_size},
             "constant_bytes": constant_bytes(out)}
    if x is not None and len(x):
        entry["accuracy"] = {"split": split, "images": len(x), "fp32": score(fp32, x, y),
                             "int8": score(out, x, y, host_kernels=False)}
        if host_kernels:
            entry["accuracy"]["int8_host_kernels"] = score(out, x, y)
    if shape is not None:
        slow, fast = latency_ms(fp32, shape), latency_ms(out, shape)
        entry["latency_ms"] = {"fp32": slow["ms"], "int8": fast["ms"],
                               **{k: v for k, v in fast.items() if k != "ms"}}
    return entry


def int8_lines(entry: dict | None, why_none: str = "") -> str:
    """What an export's table.txt and printed lines say of its int8 file: accuracy beside fp32's,
    sizes, constant bytes and latency; or, with no file, why not (one line)."""
    if not entry:
        return f"int8: no {INT8_FILE} ({why_none})\n" if why_none else ""
    b, c = entry["bytes"], entry["constant_bytes"]
    lines = (f"int8: {entry['file']}, {b['int8']:,} B file (fp32 {b['fp32']:,} B); constants {c['total']:,} B "
             f"(int8 conv weights {c['int8_conv_weights']:,} B)\n")
    acc = entry.get("accuracy")
    if acc:
        host = acc.get("int8_host_kernels")
        lines += (f"int8: {acc['split']} accuracy on {acc['images']:,} images: int8 {acc['int8']:.2f}%, "
                  f"fp32 {acc['fp32']:.2f}% (onnxruntime)"
                  + (f"; {host:.2f}% through this CPU's int8 kernels" if host is not None else "") + "\n")
    lat = entry.get("latency_ms")
    if lat:
        lines += (f"int8: latency {lat['int8']:.3f} ms int8, {lat['fp32']:.3f} ms fp32 (onnxruntime, batch 1, "
                  f"1 thread, median of {lat['runs']} after {lat['warmup']} warm-up runs, {cpu_words(lat['cpu'])}; "
                  "this host's figure, not a device's)\n")
    return lines
