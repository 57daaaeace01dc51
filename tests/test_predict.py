"""nas predict: a trained run's model.onnx, its run folder and its exported model.py classify PNG
files and IDX files exactly as the network classifies the test tensors it was measured on; bad
images get one line each."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision.io as tio

from nas.data.datasets import load_splits, load_uint8
from nas.deploy.export import model_source
from nas.deploy.predict import ModelError, load_model, predict
from nas.training.runs import run
from nas.config import TrainConfig
from search_spaces.baselines import EXP3
from search_spaces.choices import canonical


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("run") / "exp3"
    run(canonical(EXP3), TrainConfig(epochs=1, train_subset=1000, val_size=500), [0], out, str(data_dir),
        log=lambda *a: None)
    return out


def _reference(out, data_dir, n):
    """What the trained network says about the first n test images, from the tensors training used."""
    from search_spaces.blocks import build_network

    net = build_network(canonical(EXP3))
    net.load_state_dict(torch.load(out / "seed0" / "model.pt", weights_only=True))
    with torch.no_grad():
        return torch.softmax(net.eval()(load_splits(data_dir, val_size=0).test_x[:n]).double(), 1)


def test_a_png_is_read_as_the_training_data_and_every_model_form_agrees(trained, data_dir, tmp_path):
    raw = load_uint8(data_dir)
    pngs = []
    for i in range(4):
        tio.write_png(raw["test_x"][i][None], str(tmp_path / f"{i}.png"))
        pngs.append(str(tmp_path / f"{i}.png"))
    ref = _reference(trained, data_dir, 4)
    (tmp_path / "model.py").write_text(model_source(canonical(EXP3)))
    forms = [(trained / "seed0" / "model.onnx", None), (trained, None), (tmp_path / "model.py", trained / "seed0" / "model.pt")]
    for model, weights in forms:
        r = predict(model, pngs, weights)
        assert not r.errors and [p.label for p in r.predictions] == ref.argmax(1).tolist()
        assert max(abs(p.probability - float(ref[i].max())) for i, p in enumerate(r.predictions)) < 1e-4


def test_an_idx_file_classifies_every_image(trained, data_dir):
    r = predict(trained / "seed0" / "model.onnx", [data_dir / "t10k-images-idx3-ubyte.gz"])
    assert len(r.predictions) == 10000 and r.predictions[3].source.endswith("[3]")
    ref = _reference(trained, data_dir, 10000).argmax(1).tolist()
    assert [p.label for p in r.predictions] == ref


def test_colour_and_size_are_converted_to_what_the_model_takes(trained, data_dir, tmp_path):
    digit = load_uint8(data_dir)["test_x"][0]
    big = torch.nn.functional.interpolate(digit[None, None].float(), scale_factor=2, mode="nearest")[0]
    tio.write_png(big.to(torch.uint8).expand(3, -1, -1).contiguous(), str(tmp_path / "rgb56.png"))
    tio.write_png((255 - digit)[None], str(tmp_path / "inverted.png"))
    r = predict(trained, [tmp_path / "rgb56.png"])
    assert len(r.predictions) == 1 and not r.errors  # 3x56x56 read as 1x28x28
    plain = predict(trained, [str(tmp_path / "inverted.png")], invert=True).predictions[0]
    assert plain.label == int(_reference(trained, data_dir, 1).argmax())  # inverted back, it is the digit


def test_bad_images_get_one_line_each_and_the_rest_are_still_classified(trained, data_dir, tmp_path):
    raw = load_uint8(data_dir)
    tio.write_png(raw["test_x"][0][None], str(tmp_path / "ok.png"))
    (tmp_path / "notes.png").write_text("not an image")
    out = subprocess.run([sys.executable, "-m", "nas", "predict", str(trained / "seed0" / "model.onnx"),
                          str(tmp_path / "ok.png"), str(tmp_path / "notes.png"), str(tmp_path / "missing.jpg")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stdout.count("\n") == 1 and "ok.png" in out.stdout and "p=" in out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2 and "notes.png" in lines[0] and "missing.jpg" in lines[1]


def test_a_model_that_cannot_be_loaded_is_one_clear_error(trained, tmp_path):
    with pytest.raises(ModelError, match="needs its trained weights"):
        load_model(tmp_path / "model.py" if (tmp_path / "model.py").exists() else _write(tmp_path))
    with pytest.raises(ModelError, match="no such model"):
        load_model(tmp_path / "none.onnx")
    with pytest.raises(ModelError, match="not weights of this network"):
        from search_spaces.baselines import ERA7918

        (tmp_path / "era.py").write_text(model_source(canonical(ERA7918)))
        load_model(tmp_path / "era.py", trained / "seed0" / "model.pt")


def _write(tmp_path):
    (tmp_path / "model.py").write_text(model_source(canonical(EXP3)))
    return tmp_path / "model.py"
