"""The device figures (nas/footprint.py) on networks counted by hand, layer by layer, in the comments."""
import pytest

from nas.footprint import footprint, parse_bytes
from search_spaces.blocks import build_network

BASE = dict(depth3=0, dropout=0.0)


def test_plain_conv_stack():
    # conv 1->4 at 10x10 -> 8x8 (36 w, out 256) | max-pool (out 64) | 1x1 4->4 (16 w, out 64)
    # | conv 4->8 at 4x4 -> 2x2 (288 w, out 32) | mean (8) | 1x1 8->3 (24 w, out 3) | mean (3)
    arch = dict(BASE, depth1=1, pad1=0, c1_0=4, trans1=4, depth2=1, pad2=0, c2_0=8, bn=False, head="gap_1x1")
    f = footprint(build_network(arch, (1, 10, 10), 3), (1, 10, 10))
    assert f.params == 36 + 16 + 288 + 24
    assert f.macs == 64 * 4 * 9 + 16 * 4 * 4 + 4 * 8 * 9 * 4 + 3 * 8
    # weights 364 + 19 output channels x (scale 4 + zero point 1) + 6 quantized tensors x 5
    # (input, four conv outputs, the mean feeding the head's conv) + the means' int64 axes 16
    assert f.flash == 364 + 19 * 5 + 6 * 5 + 16 and f.weight_bytes == 364
    assert f.ram == 256 + 64          # the max-pool reads the first conv's output and writes its own
    assert f.ram_with_input == 100 + 256  # the first conv with the input counted


def test_separable_convs_and_batchnorm():
    # conv 2->4 (72 w, out 256) BN | dw 4 (36 w, out 256) pw 4->6 (24 w, out 384) BN | max-pool (96)
    # | dw 6 (54 w, out 96) pw 6->4 (24 w, out 64) BN | 1x1 4->2 (8 w, out 32) | mean (2)
    arch = dict(BASE, depth1=2, pad1=1, c1_0=4, c1_1=6, sep1=True, tkind1="mp", trans1=4, depth2=1, pad2=1,
                c2_0=4, sep2=True, bn=True, dropout=0.05, head="1x1_gap")
    f = footprint(build_network(arch, (2, 8, 8), 2), (2, 8, 8))
    convs = 72 + 36 + 24 + 54 + 24 + 8
    assert f.params == convs + 2 * (4 + 6 + 4)
    assert f.macs == 64 * 4 * 9 * 2 + 64 * 4 * 9 + 64 * 6 * 4 + 16 * 6 * 9 + 16 * 4 * 6 + 16 * 2 * 4
    # BatchNorm over c channels: int8 scale c + 5, int32 bias 4c + 8, float32 mean and variance 8c
    bns = sum(13 * c + 13 for c in (4, 6, 4))
    # quantized tensors: input, six conv outputs, three BatchNorm outputs (the mean feeds no conv)
    assert f.flash == convs + (4 + 4 + 6 + 6 + 4 + 2) * 5 + bns + 10 * 5 + 16
    assert f.weight_bytes == convs + 14
    assert f.ram == f.ram_with_input == 384 + 384  # the second BatchNorm: its input and its own output


def test_pool_stem_and_expand_head():
    # pool 12x12 -> 6x6 (36) | conv 1->4 pad 1 (36 w, 144) | max-pool (36) | 1x1 4->4 (16 w, 36)
    # | conv 4->6 at 3x3 -> 1x1 (216 w, 6) | expand 1x1 6->8 (48 w, 8) | mean (8) | 1x1 8->10 (80 w) | mean
    arch = dict(BASE, stem="pool", depth1=1, pad1=1, c1_0=4, trans1=4, depth2=1, pad2=0, c2_0=6, bn=False,
                head="expand", head_width=8)
    f = footprint(build_network(arch, (1, 12, 12), 10), (1, 12, 12))
    assert f.params == 36 + 16 + 216 + 48 + 80
    assert f.macs == 36 * 4 * 9 + 9 * 4 * 4 + 6 * 36 + 8 * 6 + 10 * 8
    assert f.flash == 396 + (4 + 4 + 6 + 8 + 10) * 5 + 7 * 5 + 16
    assert f.ram == 36 + 144             # the first conv reads the pooled image (the input is not counted
    assert f.ram_with_input == 144 + 36  # ... but the stem's max-pool read it)


def test_exp3_first_conv_alone_breaks_the_unas_bound():
    # the issue's count: exp3's first conv writes 8 x 26 x 26 = 5,408 int8 values, and its
    # BatchNorm writes as many again
    from search_spaces.baselines import EXP3
    f = footprint(build_network(EXP3))
    assert f.ram >= 2 * 5408 > 2500


@pytest.mark.parametrize("text, value", [("4500", 4500), ("4500B", 4500), ("4.5KB", 4500), ("4 KiB", 4096),
                                         ("1MiB", 1048576), (2500, 2500)])
def test_sizes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["4.5", "big", "-3", "4 GB", "1.0001KB"])
def test_sizes_refused(text):
    with pytest.raises(ValueError):
        parse_bytes(text)


def test_macs_are_fvcores_conv_count_on_the_reference_designs():
    from fvcore.nn import FlopCountAnalysis
    import torch
    from search_spaces.baselines import BASELINES

    for name, b in BASELINES.items():
        net = build_network(b["arch"]).eval()
        flops = FlopCountAnalysis(net, torch.zeros(1, 1, 28, 28))
        flops.unsupported_ops_warnings(False)
        assert footprint(net).macs == flops.by_operator()["conv"], name


def test_the_int8_model_size_is_the_int8_files_own_bytes():
    """The predicted figure against the committed finalists' int8 files (onnxruntime's quantizer wrote
    them from trained weights): every constant byte, and the int8 weight values apart."""
    import json
    from pathlib import Path

    from nas.deploy.int8 import constant_bytes

    files = sorted(Path(__file__).resolve().parents[1].glob("results/confirm/*/seed0/model.int8.onnx"))
    assert len(files) >= 5
    for f in files:
        cfg = json.loads((f.parents[1] / "config.json").read_text())
        fp = footprint(build_network(cfg["arch"]))
        got = constant_bytes(f)
        assert (fp.flash, fp.weight_bytes) == (got["total"], got["int8_weight_values"]), f


def test_the_int8_model_size_holds_for_networks_across_the_space(tmp_path):
    """The prediction against files written now by the tool's own exporter and quantizer, for networks
    drawn from the whole space (stems, separable convs, squeezes, pools, heads; 1x28x28 and 3x20x20
    inputs, 10 and 5 classes). BatchNorm's affine parameters and statistics are drawn too: as
    initialised (every scale 1), two same-width BatchNorms hold identical constants, which the
    quantizer stores once, and no trained network has that."""
    import random

    import torch

    from nas.deploy.int8 import constant_bytes, quantize
    from nas.deploy.onnx import write_onnx
    from search_spaces.choices import sample_arch

    rng, checked = random.Random(7), 0
    torch.manual_seed(0)
    for i in range(16):
        arch = sample_arch(rng)
        shape, classes = ((1, 28, 28), 10) if i % 3 else ((3, 20, 20), 5)
        try:
            net = build_network(arch, shape, classes).eval()
        except ValueError:  # a draw the input cannot take (the search's gate refuses it the same way)
            continue
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.weight.data, 0.5, 1.5), (m.bias.data, -0.5, 0.5),
                                  (m.running_mean, -1, 1), (m.running_var, 0.5, 2)):
                    t.uniform_(lo, hi)
        x = torch.randn(64, *shape)
        write_onnx(net, tmp_path / f"{i}.onnx", x, "random images")
        quantize(tmp_path / f"{i}.onnx", tmp_path / f"{i}.int8.onnx", x[:32].numpy())
        fp, got = footprint(net, shape), constant_bytes(tmp_path / f"{i}.int8.onnx")
        assert (fp.flash, fp.weight_bytes) == (got["total"], got["int8_weight_values"]), (i, arch)
        checked += 1
    assert checked >= 8
