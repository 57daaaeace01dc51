"""What a network costs on a device, counted before it trains: parameters, MACs, the bytes of its int8
model file and the peak RAM its activations need. Every convention is stated here and only here.

The figures describe the int8 model the tool writes (nas/deploy/int8.py: onnxruntime's post-training
static quantization, QDQ format, per-channel int8 weights, int8 activations), run one operator at a
time in full, as μNAS assumes for TensorFlow Lite Micro (Liberis et al., EuroMLSys 2021;
eliberis/uNAS `resource_models/models.py`).

- params: fvcore's parameter count (weights, biases, BatchNorm affine).
- macs: the multiply-accumulates of the convolutions for one image (fvcore's conv count; μNAS's
  formula: out_h x out_w x out_c x k_h x k_w x in_c / groups). BatchNorm, pooling and the means are
  not multiply-accumulates and are left out; fvcore's total FLOPs add two per BatchNorm element.
- flash: the bytes of every constant tensor of the int8 file, at their stored types, as μNAS sums
  "all constant tensors" (its count is one byte a value; ours is the file's own):
    conv             int8 weights + per output channel a float32 scale and an int8 zero point
    BatchNorm        it follows a ReLU in this space, so it cannot fold into its conv and is stored:
                     int8 scale (one float32 scale and int8 zero point for the tensor), int32 bias
                     (a float32 scale and an int32 zero point), float32 mean and variance
    activations      a float32 scale and an int8 zero point for each quantized tensor: the input,
                     every conv's and BatchNorm's output, a mean that feeds a conv (a max-pool's
                     output shares its input's)
    the means' axes  one int64 pair, shared by every mean over (H, W)
  weight_bytes names the int8 weight values apart (conv weights and BatchNorm scales).
- ram: the least peak, over the orders the operators can run in, of the bytes of the activation
  tensors alive at once, one byte a value. This space's networks are chains, so the least peak is the
  largest input + output of any operator. A conv and the ReLU after it are one operator (the int8
  runtime fuses them); a BatchNorm is its own operator with its own output buffer (not in place, as
  in TensorFlow Lite Micro's planner); dropout does not run. `ram` leaves the network's input out,
  as μNAS does by default (the input sits in the sensor's buffer); `ram_with_input` counts it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from fvcore.nn import FlopCountAnalysis, parameter_count

from nas.config import parse_bytes  # noqa: F401 (the size grammar lives with the config that reads sizes)

INT8, INT32, FLOAT32, INT64 = 1, 4, 4, 8   # bytes of one stored value
QPARAMS = FLOAT32 + INT8                    # a quantized tensor's scale and zero point
MEAN_AXES = 2 * INT64                       # ReduceMean's axes (2, 3), one constant for every mean


@dataclass(frozen=True)
class Footprint:
    params: int          # parameters
    macs: int            # multiply-accumulates of the convs, one image
    flash: int           # bytes of the int8 model's constant tensors
    weight_bytes: int    # ... of which int8 weight values
    ram: int             # peak bytes of live int8 activations, the input left out
    ram_with_input: int  # ... with the input counted

    def as_dict(self) -> dict:
        return asdict(self)


# The figures a budget can bound, each with its unit; the keys are Footprint's fields and
# `nas search`'s --max-<key> options.
BOUNDS = {"params": "parameters", "macs": "MACs", "flash": "B", "ram": "B"}


def macs(model: nn.Module, shape: tuple[int, int, int]) -> int:
    """fvcore's count of the convs' multiply-accumulates for one image of `shape` (C, H, W)."""
    flops = FlopCountAnalysis(model, torch.zeros(1, *shape))
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    by_op = flops.by_operator()
    return int(sum(v for k, v in by_op.items() if k in ("conv", "linear", "addmm", "matmul")))


@dataclass
class _Op:
    kind: str      # conv | bn | pool | mean
    inputs: int    # values read (the network's input among them when `first`)
    output: int    # values written
    first: bool    # reads the network's input


def _ops(model: nn.Module, shape: tuple[int, int, int]) -> tuple[list[_Op], list[tuple[str, nn.Module, fx.Node]]]:
    """The int8 model's operators in the order they run (conv+ReLU fused, dropout gone), and the
    traced graph's module nodes (name, module, node) for counting their constants."""
    gm = fx.symbolic_trace(model)
    ShapeProp(gm).propagate(torch.zeros(1, *shape))
    modules = dict(gm.named_modules())
    size = {}      # node -> values of the tensor it stands for, after aliases (ReLU, dropout) resolve
    alias = {}     # node -> the node whose tensor it is
    ops: list[_Op] = []
    nodes = []
    placeholder = None

    def source(n: fx.Node) -> fx.Node:
        while n in alias:
            n = alias[n]
        return n

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            placeholder = node
            size[node] = node.meta["tensor_meta"].shape.numel()
            continue
        if node.op == "output":
            continue
        out = node.meta["tensor_meta"].shape.numel()
        arg = source(node.args[0])
        mod = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(mod, (nn.ReLU, nn.Dropout, nn.Identity)):
            alias[node] = arg   # a ReLU runs inside the conv before it; dropout does not run
            continue
        if isinstance(mod, nn.Conv2d):
            kind = "conv"
        elif isinstance(mod, nn.BatchNorm2d):
            kind = "bn"
        elif isinstance(mod, nn.MaxPool2d):
            kind = "pool"
        elif node.op == "call_method" and node.target == "mean":
            kind = "mean"
        else:
            raise ValueError(f"footprint: no convention for {node.op} {node.target} (a new block type?)")
        ops.append(_Op(kind, size[arg], out, arg is placeholder))
        size[node] = out
        if mod is not None:
            nodes.append((node.target, mod, node))
    return ops, nodes


def footprint(model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> Footprint:
    """The device figures of `model` (one of this space's networks) for images of `shape` (C, H, W)."""
    was_training = model.training
    model.eval()
    try:
        ops, nodes = _ops(model, shape)
        mac = macs(model, shape)
    finally:
        model.train(was_training)
    flash = weights = 0
    for _, mod, _ in nodes:
        if isinstance(mod, nn.Conv2d):
            n = mod.weight.numel()
            weights += n
            flash += n * INT8 + mod.out_channels * QPARAMS
            if mod.bias is not None:  # int32, with a float32 scale and an int32 zero point
                flash += mod.out_channels * INT32 + FLOAT32 + INT32
        elif isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            weights += c
            flash += c * INT8 + QPARAMS + c * INT32 + FLOAT32 + INT32 + 2 * c * FLOAT32
    # quantized activations: the input, every conv's and BatchNorm's output, a mean feeding a conv
    quantized = 1 + sum(op.kind in ("conv", "bn") for op in ops)
    quantized += sum(a.kind == "mean" and b.kind == "conv" for a, b in zip(ops, ops[1:]))
    flash += quantized * QPARAMS
    if any(op.kind == "mean" for op in ops):
        flash += MEAN_AXES
    ram = max((op.output + (0 if op.first else op.inputs)) * INT8 for op in ops)
    ram_in = max((op.output + op.inputs) * INT8 for op in ops)
    return Footprint(int(parameter_count(model)[""]), mac, flash, weights * INT8, ram, ram_in)
