"""Seconds to write a model.onnx with torch's two ONNX exporters, and whether they write the same model.

    python bench/export.py      # appends a table to bench/RESULTS.md

Each exporter runs in a fresh process (its imports and first-call setup are part of what a `nas train`
pays once), on the committed finalists' networks one after another, one thread: the first export's
seconds, and the median of the later ones. Both files are then checked against each other: the
largest logit difference over 256 random images, and the constant bytes of their int8 models
(nas/deploy/int8.py), which nas/footprint.py predicts.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.record import publish  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARCHS = sorted(ROOT.glob("results/confirm/*/config.json"))

CHILD = r"""
import json, sys, time, warnings
import torch
warnings.simplefilter("ignore")
from search_spaces.blocks import build_network
torch.set_num_threads(1)
dynamo, out = sys.argv[1] == "dynamo", sys.argv[2]
seconds = []
for i, path in enumerate(sys.argv[3:]):
    net = build_network(json.load(open(path))["arch"]).eval()
    x = torch.randn(2, 1, 28, 28)
    t = time.perf_counter()
    kw = (dict(dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False) if dynamo
          else dict(dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}))
    torch.onnx.export(net, (x,), f"{out}/{i}.onnx", dynamo=dynamo, opset_version=18, input_names=["images"],
                      output_names=["logits"], **kw)
    seconds.append(time.perf_counter() - t)
    torch.save(net.state_dict(), f"{out}/{i}.pt")  # the same weights for the other exporter
print(json.dumps(seconds))
"""


def main() -> None:
    import importlib.util

    if importlib.util.find_spec("onnxscript") is None:
        sys.exit("bench/export.py: the dynamo exporter it compares with needs onnxscript, which the tool no longer "
                 "installs: pip install 'onnxscript>=0.7,<0.8'")
    import numpy as np
    import onnxruntime as ort

    from nas.deploy.int8 import constant_bytes, cpu, cpu_words, quantize

    load = os.getloadavg()[0]
    archs = [str(p) for p in ARCHS]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {name: Path(tmp, name) for name in ("torchscript", "dynamo")}
        secs = {}
        for name, d in dirs.items():
            d.mkdir()
            r = subprocess.run([sys.executable, "-c", CHILD, name, str(d), *archs], capture_output=True, text=True,
                               cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
            secs[name] = json.loads(r.stdout.strip().splitlines()[-1])
        # the dynamo process drew its own weights: load the TorchScript process's into its networks and
        # compare outputs of the two files on the same weights, then their int8 constants
        import torch

        from search_spaces.blocks import build_network
        rng = np.random.default_rng(0)
        x = rng.standard_normal((256, 1, 28, 28)).astype(np.float32)
        diff, same_bytes = 0.0, 0
        for i, path in enumerate(archs):
            net = build_network(json.load(open(path))["arch"]).eval()
            net.load_state_dict(torch.load(dirs["torchscript"] / f"{i}.pt"))
            again = Path(tmp, f"dyn{i}.onnx")
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # its progress notes
                torch.onnx.export(net, (torch.from_numpy(x[:2]),), str(again), dynamo=True, opset_version=18,
                                  input_names=["images"], output_names=["logits"],
                                  dynamic_shapes=({0: torch.export.Dim("batch")},), external_data=False)
            a = ort.InferenceSession(str(dirs["torchscript"] / f"{i}.onnx")).run(None, {"images": x})[0]
            b = ort.InferenceSession(str(again)).run(None, {"images": x})[0]
            diff = max(diff, float(np.abs(a - b).max()))
            bytes_ = []
            for f in (dirs["torchscript"] / f"{i}.onnx", again):
                quantize(f, f.with_suffix(".int8.onnx"), x[:64])
                bytes_.append(constant_bytes(f.with_suffix(".int8.onnx"))["total"])
            same_bytes += bytes_[0] == bytes_[1]
    c = cpu()
    lines = [f"## {datetime.date.today()} — ONNX export, {platform.machine()} ({cpu_words(c)}), 1 thread, "
             f"torch {torch.__version__}, load average before: {load:.1f}", "",
             f"`python bench/export.py`: the {len(archs)} committed finalists' networks (results/confirm/*), "
             "one after another in a fresh process per exporter.", "",
             "| exporter | first export in a process | later exports, median |", "| --- | --- | --- |"]
    for name, s in secs.items():
        lines.append(f"| {name} | {s[0]:.2f} s | {statistics.median(s[1:]):.3f} s |")
    lines += ["", f"Same weights through both: largest logit difference {diff:.1e} on 256 random images; "
              f"int8 constant bytes equal for {same_bytes} of {len(archs)} networks."]
    publish(lines)


if __name__ == "__main__":
    main()
