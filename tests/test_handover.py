"""The model a user is handed: a search's export carries its trial's trained weights (model.pt, and
model.onnx whose validation accuracy through onnxruntime is the one PyTorch records); an untrained
ONNX file says so and `nas predict` refuses it; `nas onnx RUN_DIR` writes a run's model.onnx from its
weights; `nas predict` inverts a dark digit on a light background and says so; `nas export` refuses
an existing folder before any work.

No NNI runs here: a search is its record and an NNI database written by hand (as tests/test_report.py
does), its trial folder holding weights trained for real (the committed confirmation of phtQI). The
multi-fidelity search's export of the weights its last rung trained is checked by
tests/test_asha.py's search."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "results" / "confirm" / "s8k-phtQI"   # 15 epochs on all 60,000 images, test 99.50%
VAL = 1000


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def nas(capsys, *args) -> Ran:
    """The command line, in this process (each `python -m nas` would import torch again)."""
    from nas.cli import main

    capsys.readouterr()
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:  # predict exits 2 when an image could not be read
        rc = e.code
    out = capsys.readouterr()
    return Ran(rc, out.out, out.err)


def write_search(res: Path, exp_id: str, data_dir: Path, weights: Path | None) -> Path:
    """A finished flat search of one trial (phtQI's network, 2 epochs on 2,000 images) as NNI and
    nas.json record it; its trial folder holds `weights` (None: none kept). Returns the searches folder."""
    from nas.config import TrainConfig, asdict
    from nas.data.datasets import load_input

    workdir = res / "searches"
    folder = workdir / exp_id
    (folder / "db").mkdir(parents=True)
    arch = json.loads((TRAINED / "config.json").read_text())["arch"]
    train = asdict(TrainConfig(epochs=2, train_subset=2000, val_size=VAL, threads=1))
    (folder / "nas.json").write_text(json.dumps({
        "id": exp_id, "train": train, "data_dir": str(data_dir), "input": asdict(load_input(str(data_dir), "mnist")),
        "search": {"max_params": 8000, "strategy": "random", "schedule": "flat", "workdir": str(workdir)}}))
    trial = folder / "environments" / "local-env" / "trials" / "T0001"
    trial.mkdir(parents=True)
    (trial / "sample.json").write_text(json.dumps(arch))
    if weights is not None:
        (trial / "model.pt").write_bytes(weights.read_bytes())
    con = sqlite3.connect(folder / "db" / "nni.sqlite")
    con.execute("CREATE TABLE TrialJobEvent (timestamp integer, trialJobId text, event text, data text, "
                "logPath text, sequenceId integer, message text)")
    con.execute("CREATE TABLE MetricData (timestamp integer, trialJobId text, parameterId text, type text, "
                "sequence integer, data text)")
    con.execute("INSERT INTO TrialJobEvent VALUES (0, 'T0001', 'SUCCEEDED', ?, ?, 0, '')",
                (json.dumps({"parameters": {"sample": arch}}), str(trial)))
    final = {"default": 97.0, "val_acc": 97.0, "params": 5964, "epochs": 2}
    con.execute("INSERT INTO MetricData VALUES (1, 'T0001', '0', 'FINAL', 0, ?)", (json.dumps(json.dumps(final)),))
    con.commit()
    con.close()
    return workdir


def test_a_flat_search_exports_its_trained_weights_and_onnxruntime_reproduces_their_accuracy(tmp_path, data_dir, capsys):
    from nas.deploy.onnx import WEIGHTS_KEY, metadata

    write_search(tmp_path / "res", "flat", data_dir, TRAINED / "seed0" / "model.pt")
    r = nas(capsys, "export", "flat", "--results", tmp_path / "res", "--top-k", "1")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "res" / "exports" / "flat"
    folder = out / "rank1_T0001"
    acc = json.loads((folder / "arch.json").read_text())["onnx"]["val_acc"]
    # both runtimes classify the 1,000 validation images alike, at a trained network's accuracy
    assert acc["images"] == VAL and acc["onnxruntime"] == acc["pytorch"] and acc["pytorch"] > 98.5
    said = metadata(folder / "model.onnx")[WEIGHTS_KEY]
    assert said.startswith("trained: proxy-trained, 2 epochs x 2,000 images")
    assert f"model.pt, model.onnx, model.int8.onnx, table.txt\n  weights {said}\n  validation {acc['pytorch']:.2f}% " \
           f"(PyTorch), {acc['onnxruntime']:.2f}% (onnxruntime) on 1,000 images" in r.stdout
    # and its int8 file beside it, scored on the same validation images and recorded everywhere
    int8 = json.loads((folder / "arch.json").read_text())["int8"]
    assert {k: int8["accuracy"][k] for k in ("split", "images", "fp32")} == {
        "split": "validation", "images": VAL, "fp32": acc["onnxruntime"]} and int8["accuracy"]["int8"] > 98.0
    assert int8["bytes"]["int8"] == (folder / "model.int8.onnx").stat().st_size
    assert metadata(folder / "model.int8.onnx")[WEIGHTS_KEY].startswith(said + "; onnxruntime post-training")
    assert f"  int8: validation accuracy on 1,000 images: int8 {int8['accuracy']['int8']:.2f}%" in r.stdout
    assert f"int8: model.int8.onnx, {int8['bytes']['int8']:,} B file" in (folder / "table.txt").read_text()
    assert f"onnxruntime {acc['onnxruntime']:.2f}%" in (folder / "table.txt").read_text()
    assert (folder / "model.pt").read_bytes() == (TRAINED / "seed0" / "model.pt").read_bytes()
    # an ordinary folder (mkdtemp's is private), as the user's umask makes it
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask
    r = nas(capsys, "predict", str(folder / "model.onnx"), str(tmp_path / "missing.png"))
    assert "untrained" not in r.stderr and "missing.png" in r.stderr


def test_an_untrained_export_says_so_and_predict_refuses_it_in_one_line(tmp_path, data_dir, capsys):
    from nas.deploy.export import export
    from nas.deploy.onnx import WEIGHTS_KEY, metadata
    from torchvision.io import write_png

    workdir = write_search(tmp_path / "res", "cold", data_dir, None)
    [entry] = export(str(workdir), "cold", tmp_path / "res" / "exports" / "cold")
    onnx_file = Path(entry["path"]) / "model.onnx"
    assert metadata(onnx_file)[WEIGHTS_KEY].startswith("untrained: initial weights")
    assert "val_acc" not in entry["onnx"] and not (Path(entry["path"]) / "model.pt").exists()
    assert not (Path(entry["path"]) / "model.int8.onnx").exists() and "int8" not in entry
    assert "int8: no model.int8.onnx (untrained weights" in (Path(entry["path"]) / "table.txt").read_text()
    digit = tmp_path / "digit.png"
    write_png(torch.zeros(1, 28, 28, dtype=torch.uint8), str(digit))
    r = nas(capsys, "predict", str(onnx_file), str(digit))
    assert r.returncode != 0 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "untrained" in r.stderr and "--allow-untrained" in r.stderr
    r = nas(capsys, "predict", str(onnx_file), str(digit), "--allow-untrained")
    assert r.returncode == 0 and r.stdout.startswith(f"{digit}: "), r.stderr
    # an export written before ONNX files said what their weights are: its arch.json says "initial"
    committed = ROOT / "results" / "exports" / "w8k" / "rank1_phtQI" / "model.onnx"
    r = nas(capsys, "predict", str(committed), str(digit))
    assert r.returncode != 0 and "untrained" in r.stderr


def test_export_refuses_an_existing_folder_before_any_work(tmp_path, data_dir, capsys):
    from nas.deploy.export import export
    from nas.errors import ExportError

    workdir = write_search(tmp_path / "res", "again", data_dir, TRAINED / "seed0" / "model.pt")
    out = tmp_path / "res" / "exports" / "again"
    out.mkdir(parents=True)
    (out / "mine.txt").write_text("the user's")
    start = time.perf_counter()
    with pytest.raises(ExportError, match="exists; pass --force"):
        export(str(workdir), "again", out)
    assert time.perf_counter() - start < 0.5       # an export checks ONNX for seconds; a refusal does nothing
    assert sorted(p.name for p in out.parent.iterdir()) == ["again"]   # no temporary folder left
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    r = nas(capsys, "export", "again", "--results", str(tmp_path / "res"))
    assert r.returncode != 0 and "exists; pass --force" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_nas_onnx_writes_a_run_folders_model_onnx_without_training(tmp_path, data_dir, capsys):
    """From the committed confirmation's weights: the file, its check, and the test accuracy the run
    recorded at its last epoch, reproduced by onnxruntime."""
    import shutil

    from nas.deploy.onnx import WEIGHTS_KEY, metadata

    run = tmp_path / "run"
    (run / "seed0").mkdir(parents=True)
    shutil.copy(TRAINED / "config.json", run)
    for name in ("model.pt", "history.json"):
        shutil.copy(TRAINED / "seed0" / name, run / "seed0")
    r = nas(capsys, "onnx", str(run), "--data-dir", str(data_dir))
    assert r.returncode == 0, r.stderr
    recorded = json.loads((TRAINED / "seed0" / "history.json").read_text())[-1]["test_acc"]
    assert f"test accuracy on 10,000 images: PyTorch {recorded:.2f}%, onnxruntime {recorded:.2f}%" in r.stdout
    assert metadata(run / "seed0" / "model.onnx")[WEIGHTS_KEY] == "trained: `nas train`, 15 epochs x 60,000 images, seed 0"
    # its int8 file too, scored on the test set the confirmation read: after the run, a look of its own
    int8 = json.loads((run / "int8.json").read_text())
    assert (run / "seed0" / "model.int8.onnx").exists() and list(int8["seeds"]) == ["0"] and int8["looks"] == 1
    assert int8["seeds"]["0"]["fp32"] == recorded and int8["seeds"]["0"]["int8"] > 99.0
    assert f"wrote {run / 'seed0' / 'model.int8.onnx'}: test accuracy int8" in r.stdout
    r = nas(capsys, "onnx", str(run), "--seed", "3")
    assert r.returncode != 0 and "seed3" in r.stderr and "seed0" in r.stderr


def test_predict_inverts_a_dark_digit_on_a_light_background_and_says_so(tmp_path, data_dir, capsys):
    from torchvision.io import write_png

    from nas.data.datasets import load_splits, load_uint8
    from nas.deploy.onnx import write_onnx
    from nas.deploy.predict import predict
    from search_spaces.blocks import build_network

    config = json.loads((TRAINED / "config.json").read_text())
    data = load_splits(str(data_dir), val_size=0)
    net = build_network(config["arch"], data.input.shape, data.input.classes)
    net.load_state_dict(torch.load(TRAINED / "seed0" / "model.pt", weights_only=True))
    model = tmp_path / "model.onnx"
    write_onnx(net.eval(), model, data.test_x[:256], "test images", data.input, "trained: test")
    raw = load_uint8(str(data_dir), download=False)
    light, dark = [], []
    for i in range(8):
        img = raw["test_x"][i][None]
        dark.append(tmp_path / f"{i}-light-on-dark.png")
        light.append(tmp_path / f"{i}-dark-on-light.png")
        write_png(img, str(dark[-1]))
        write_png(255 - img, str(light[-1]))
    labels = raw["test_y"][:8].tolist()
    as_drawn = predict(model, dark)
    flipped = predict(model, light)
    assert [p.label for p in as_drawn.predictions] == labels == [p.label for p in flipped.predictions]
    assert not any(p.inverted for p in as_drawn.predictions) and all(p.inverted for p in flipped.predictions)
    # told not to invert, the same pictures read wrong: the detection is what reads them right
    assert [p.label for p in predict(model, light, invert=False).predictions] != labels
    r = nas(capsys, "predict", str(model), str(light[0]), str(dark[0]))
    first, second = r.stdout.splitlines()
    assert r.returncode == 0 and "inverted" in first and "inverted" not in second, r.stdout
