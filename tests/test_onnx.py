"""ONNX files (nas.deploy.onnx): written with a batch size that varies, checked by onnxruntime against
PyTorch, and refused (with any older file kept) when the two disagree."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nas.errors import ExportError
from nas.deploy.onnx import TOLERANCE, run_onnx, write_onnx
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network


@pytest.mark.parametrize("name, shape, classes", [("exp3", (1, 28, 28), 10), ("era7918", (1, 28, 28), 10),
                                                  ("lqznt4k", (3, 32, 32), 7)])
def test_a_network_exports_and_onnxruntime_agrees_at_any_batch_size(tmp_path, name, shape, classes):
    torch.manual_seed(0)
    net = build_network(BASELINES[name]["arch"], shape, classes).eval()
    images = torch.randn(64, *shape)
    check = write_onnx(net, tmp_path / "model.onnx", images, "random images")
    assert check["max_abs_diff"] <= TOLERANCE and check["same_classes"] and check["opset"] == 18
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # one self-contained file, no leftovers
    for n in (1, 5, 300):
        x = torch.randn(n, *shape)
        with torch.no_grad():
            want = net(x).numpy()
        assert np.abs(run_onnx(tmp_path / "model.onnx", x.numpy()) - want).max() <= TOLERANCE


class Noisy(nn.Module):
    """Adds fresh noise in eval mode too: its ONNX graph cannot reproduce PyTorch's numbers."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 28)

    def forward(self, x):
        y = self.conv(x).flatten(1)
        return y + torch.rand_like(y)


def test_a_disagreement_is_an_error_and_keeps_the_older_file(tmp_path):
    old = tmp_path / "model.onnx"
    old.write_bytes(b"an older export")
    with pytest.raises(ExportError, match="onnxruntime disagrees with PyTorch") as err:
        write_onnx(Noisy(), old, torch.randn(32, 1, 28, 28), "random images")
    assert "\n" not in str(err.value)
    assert old.read_bytes() == b"an older export" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
