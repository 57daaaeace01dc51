# Exported architecture: needs torch only, not NNI. Use it with
#     from model import build_model; net = build_model()
# Its input: images of INPUT_SHAPE (channels, height, width), pixels scaled to [0, 1], then
# (x - MEAN) / STD per channel; its output: one logit per class.
# ---- search_spaces/blocks.py, copied verbatim ----
"""Building blocks of the MNIST search space, in plain PyTorch (no NNI import).

An architecture is a flat dict of choices (the labels of `search_spaces.mnist.MnistSpace`);
`build_network(arch, shape, classes)` turns it into an `nn.Module` for images of `shape` (channels,
height, width; MNIST's 1x28x28 by default) and `classes` outputs. Because this file depends on torch alone,
`nas export` copies it verbatim into every exported model file: the exported model is rebuilt by
the very code that was searched, without NNI.

Shape of every network (3x3 convs have no bias; BatchNorm, when on, follows every 3x3 conv):

    stem      (stem != none) conv_s2: a strided 3x3 conv to stem_width channels; pool: max-pool 2x2
    stage 1   depth1 x [conv3x3 -> ReLU -> (BN) -> (dropout)]   at the stem's size, padding pad1
    trans 1   kind tkind1 (see below), to trans1 channels
    stage 2   depth2 x [conv3x3 ...]                            padding pad2
    trans 2   (only when depth3 > 0) kind tkind2, to trans2 channels
    stage 3   depth3 x [conv3x3 ...]                            padding 1
    head      gap_1x1:  global average pool -> conv1x1 to the classes
              1x1_gap:  conv1x1 to the classes -> global average pool
              conv_full: conv with a kernel as large as the last feature map, to the classes
              expand:   conv1x1 to head_width -> ReLU -> (BN) -> global average pool -> conv1x1 to the classes

Transitions (tkind1 / tkind2): mp_1x1, max-pool 2x2 then a plain conv1x1 (the seed's); mp, max-pool
alone (the channels stay; trans1/trans2 unused); conv_s2, a strided 3x3 conv (padding 1) to the
width with ReLU, BN and dropout like a block.

Squeeze (sq1 / sq2 / sq3, 0: none): a conv1x1 to that width, with ReLU, BN and dropout like a block,
after the stage's 3x3 number sqpos1 / sqpos2 / sqpos3 (1-based, a position past the stage's depth
means after its last one). This is how public sub-8k designs shrink channels inside a stage.

The stem halves the input before stage 1, so that larger images (CIFAR-10's 3x32x32) and small
memory budgets have networks that fit: conv_s2 (a strided 3x3 conv, padding 1, to stem_width
channels, with ReLU, BN and dropout like a block) or pool (max-pool 2x2, no weights); none, the
first choice, is the network of every architecture without the label.

sep1 / sep2 / sep3 make a stage's 3x3 convs depthwise-separable: a depthwise 3x3 conv (one filter
per input channel) and a pointwise 1x1 conv to the stage's width, 9*c_in + c_in*c_out weights
instead of 9*c_in*c_out, then ReLU, BN and dropout as before. sep1 spares the network's first conv
(on a one-channel input there is nothing to separate; sparing it on any input keeps `sep1` a label
of stage 1's later convs alone, as choices.used_labels counts it); after a conv_s2 stem it is not the
first. False everywhere is the network of the labels without them.

Each label added after the first searches has a first choice (sep off, mp_1x1, squeeze 0, the old
heads, stem none) that builds exactly the network an architecture without it had, with the same state_dict keys.
"""
from __future__ import annotations

import torch
from torch import nn

HEADS = ("gap_1x1", "1x1_gap", "conv_full", "expand")
TRANSITIONS = ("mp_1x1", "mp", "conv_s2")
STEMS = ("none", "conv_s2", "pool")
MAX_DEPTH = {1: 3, 2: 4, 3: 2}  # most 3x3 conv blocks per stage


def _relu_bn_dropout(c_out: int, bn: bool, dropout: float) -> list[nn.Module]:
    """What follows a block's convs: ReLU, then optional BatchNorm and dropout."""
    return [nn.ReLU()] + ([nn.BatchNorm2d(c_out)] if bn else []) + ([nn.Dropout(dropout)] if dropout > 0 else [])


class ConvBlock(nn.Sequential):
    """conv3x3 (no bias) -> ReLU -> optional BatchNorm -> optional dropout."""

    def __init__(self, c_in: int, c_out: int, padding: int, bn: bool, dropout: float):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=padding, bias=False), *_relu_bn_dropout(c_out, bn, dropout))


class SepConvBlock(nn.Sequential):
    """depthwise conv3x3 -> pointwise conv1x1 (both no bias) -> ReLU -> optional BN -> optional dropout."""

    def __init__(self, c_in: int, c_out: int, padding: int, bn: bool, dropout: float):
        super().__init__(nn.Conv2d(c_in, c_in, 3, padding=padding, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False), *_relu_bn_dropout(c_out, bn, dropout))


class Transition(nn.Sequential):
    """max-pool 2x2 halves the resolution; a 1x1 conv (no bias) mixes channels down to c_out."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.MaxPool2d(2), nn.Conv2d(c_in, c_out, 1, bias=False))


class StridedConv(nn.Sequential):
    """conv3x3 with stride 2 and padding 1 (no bias) -> ReLU -> optional BN -> optional dropout."""

    def __init__(self, c_in: int, c_out: int, bn: bool, dropout: float):
        super().__init__(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                         *_relu_bn_dropout(c_out, bn, dropout))


class Squeeze(nn.Sequential):
    """conv1x1 (no bias) -> ReLU -> optional BN -> optional dropout."""

    def __init__(self, c_in: int, c_out: int, bn: bool, dropout: float):
        super().__init__(nn.Conv2d(c_in, c_out, 1, bias=False), *_relu_bn_dropout(c_out, bn, dropout))


class Head(nn.Module):
    """Maps the last feature map (N, C, H, W) to `classes` logits."""

    def __init__(self, kind: str, c_in: int, size: tuple[int, int], width: int = 0, bn: bool = False,
                 classes: int = 10):
        super().__init__()
        if kind not in HEADS:
            raise ValueError(f"unknown head {kind!r}; choose one of {', '.join(HEADS)}")
        self.kind = kind
        if kind == "expand":  # only this head has the module: the other heads keep their old keys
            self.expand = Squeeze(c_in, width, bn, 0.0)
            c_in = width
        k = size if kind == "conv_full" else 1
        self.conv = nn.Conv2d(c_in, classes, k, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "expand":
            x = self.expand(x)
        if self.kind in ("gap_1x1", "expand"):
            x = x.mean((2, 3), keepdim=True)
        x = self.conv(x)
        return x.mean((2, 3))  # conv_full already ends at 1x1; 1x1_gap pools here


def stage_widths(arch: dict, stage: int) -> list[int]:
    """The output channels of each 3x3 conv of one stage, as the arch dict chooses them."""
    return [arch[f"c{stage}_{i}"] for i in range(arch[f"depth{stage}"])]


def build_network(arch: dict, shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10) -> nn.Sequential:
    """Build the network an architecture dict describes, for images of `shape` (C, H, W) and
    `classes` outputs. Raises ValueError on an impossible one."""
    layers: list[nn.Module] = []
    c, h, w = shape
    bn, p = bool(arch["bn"]), float(arch["dropout"])

    def stage(index: int, padding: int) -> None:
        nonlocal c, h, w
        separable = bool(arch.get(f"sep{index}", False))  # absent: an architecture from before the sep labels
        widths = stage_widths(arch, index)
        squeeze = arch.get(f"sq{index}", 0)
        at = min(arch.get(f"sqpos{index}", 1), len(widths))
        for i, width in enumerate(widths, 1):
            first = index == 1 and i == 1 and stem != "conv_s2"  # the network's first conv
            block = SepConvBlock if separable and c > 1 and not first else ConvBlock
            layers.append(block(c, width, padding, bn, p))
            c, h, w = width, h + 2 * padding - 2, w + 2 * padding - 2
            if min(h, w) < 1:
                raise ValueError(f"stage {index} shrinks the feature map below 1x1")
            if squeeze and i == at:
                layers.append(Squeeze(c, squeeze, bn, p))
                c = squeeze

    def transition(index: int) -> None:
        nonlocal c, h, w
        kind = arch.get(f"tkind{index}", "mp_1x1")
        width = arch[f"trans{index}"] if kind != "mp" else c  # max-pool alone keeps the channels
        if kind not in TRANSITIONS:
            raise ValueError(f"unknown transition {kind!r}; choose one of {', '.join(TRANSITIONS)}")
        if kind == "conv_s2":
            layers.append(StridedConv(c, width, bn, p))
            c, h, w = width, (h + 1) // 2, (w + 1) // 2
        else:
            layers.append(Transition(c, width) if kind == "mp_1x1" else nn.MaxPool2d(2))
            c, h, w = width, h // 2, w // 2
        if min(h, w) < 1:
            raise ValueError("a transition shrinks the feature map below 1x1")

    stem = arch.get("stem", "none")  # absent: an architecture from before the stem label
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; choose one of {', '.join(STEMS)}")
    if stem == "conv_s2":
        layers.append(StridedConv(c, arch["stem_width"], bn, p))
        c, h, w = arch["stem_width"], (h + 1) // 2, (w + 1) // 2
    elif stem == "pool":
        layers.append(nn.MaxPool2d(2))
        h, w = h // 2, w // 2
    if min(h, w) < 1:
        raise ValueError("the stem shrinks the feature map below 1x1")
    stage(1, arch["pad1"])
    transition(1)
    stage(2, arch["pad2"])
    if arch["depth3"] > 0:
        transition(2)
        stage(3, 1)
    layers.append(Head(arch["head"], c, (h, w), arch.get("head_width", 0), bn, classes))
    return nn.Sequential(*layers)


# ---- the exported choice ----
ARCH = {'depth1': 1,
 'pad1': 0,
 'c1_0': 12,
 'depth2': 2,
 'pad2': 1,
 'c2_0': 32,
 'c2_1': 12,
 'depth3': 0,
 'bn': True,
 'dropout': 0.05,
 'head': 'conv_full',
 'sep1': True,
 'sep2': True,
 'tkind1': 'mp',
 'sq1': 16,
 'sq2': 8,
 'sqpos1': 1,
 'sqpos2': 2,
 'stem': 'conv_s2',
 'stem_width': 16}
DATASET = 'mnist'
INPUT_SHAPE = (1, 28, 28)
CLASSES = 10
MEAN = (0.1307,)
STD = (0.3081,)


def build_model() -> nn.Sequential:
    return build_network(ARCH, INPUT_SHAPE, CLASSES)


if __name__ == "__main__":
    net = build_model()
    print(net)
    print(sum(p.numel() for p in net.parameters()), "parameters")
