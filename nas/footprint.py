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
import torch.nn.functional as F
from fvcore.nn import parameter_count
from torch import nn
from torch.overrides import TorchFunctionMode

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


@dataclass
class _Op:
    kind: str      # conv | bn | pool | mean
    inputs: int    # values read
    output: int    # values written
    first: bool    # reads the network's input
    weight: torch.Size | None = None   # a conv's weight shape, a BatchNorm's channels as (c,)
    bias: bool = False                 # a conv with a bias


class _Record(TorchFunctionMode):
    """Records the operators of one forward pass in the order they run: one image through the
    network costs milliseconds, where tracing it (torch.fx, fvcore's jit trace) costs a second."""

    KINDS = {F.conv2d: "conv", F.batch_norm: "bn", F.max_pool2d: "pool", torch._C._nn.max_pool2d_with_indices: "pool",
             F.max_pool2d_with_indices: "pool", torch.Tensor.mean: "mean", torch.mean: "mean"}
    ALIASES = {F.relu, torch.relu, torch.Tensor.relu, F.dropout, torch.dropout}  # fused into the conv / not run

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.ops: list[_Op] = []
        self.source = {id(image)}  # tensors that are the network's input

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        x = args[0] if args else None
        if func in self.ALIASES:
            if id(x) in self.source:
                self.source.add(id(out))
            return out
        kind = self.KINDS.get(func)
        if kind is None:  # shapes, properties: no operator of the int8 model (the leaf modules are checked)
            return out
        result = out[0] if isinstance(out, tuple) else out
        weight = None
        if kind == "conv":
            weight = args[1].shape
        elif kind == "bn":
            weight = torch.Size([x.shape[1]])
        bias = kind == "conv" and (args[2] if len(args) > 2 else kwargs.get("bias")) is not None
        self.ops.append(_Op(kind, x.numel(), result.numel(), id(x) in self.source, weight, bias))
        return out


_LEAVES = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.ReLU, nn.Dropout, nn.Identity)


def _ops(model: nn.Module, shape: tuple[int, int, int]) -> list[_Op]:
    """The int8 model's operators in the order they run (conv+ReLU fused, dropout gone)."""
    unknown = {type(m).__name__ for m in model.modules() if not list(m.children()) and not isinstance(m, _LEAVES)}
    if unknown:
        raise ValueError(f"footprint: no convention for {', '.join(sorted(unknown))} (a new block type?)")
    image = torch.zeros(1, *shape)
    with torch.no_grad(), _Record(image) as rec:
        model(image)
    return rec.ops


def footprint(model: nn.Module, shape: tuple[int, int, int] = (1, 28, 28)) -> Footprint:
    """The device figures of `model` (one of this space's networks) for images of `shape` (C, H, W)."""
    was_training = model.training
    model.eval()
    try:
        ops = _ops(model, shape)
    finally:
        model.train(was_training)
    flash = weights = 0
    for op in ops:
        if op.kind == "conv":
            n, c_out = op.weight.numel(), op.weight[0]
            weights += n
            flash += n * INT8 + c_out * QPARAMS
            if op.bias:  # int32, with a float32 scale and an int32 zero point
                flash += c_out * INT32 + FLOAT32 + INT32
        elif op.kind == "bn":
            c = op.weight[0]
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
    # out_h x out_w x out_c x k_h x k_w x in_c / groups per conv: fvcore's conv count (tests/test_footprint.py)
    mac = sum(op.output * op.weight[1:].numel() for op in ops if op.kind == "conv")
    return Footprint(int(parameter_count(model)[""]), mac, flash, weights * INT8, ram, ram_in)
