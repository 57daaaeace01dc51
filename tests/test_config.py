"""Config loading: defaults < file < --set; typos and bad values fail loudly."""
from __future__ import annotations

import json

import pytest

from nas.config import ConfigError, SearchConfig, TrainConfig, make


def test_layers_of_overrides(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"lr": 0.2, "epochs": 3}))
    cfg = make(TrainConfig, {"lr": 0.1, "augment": False}, ["epochs=4", "augment=true"], str(f))
    assert (cfg.lr, cfg.epochs, cfg.augment) == (0.2, 4, True)


@pytest.mark.parametrize("cls, kw, message", [
    (TrainConfig, {"set": ["lrr=0.1"]}, "unknown TrainConfig key 'lrr'; valid keys: epochs, batch_size"),
    (TrainConfig, {"set": ["epochs=ten"]}, "epochs must be a int"),
    (TrainConfig, {"set": ["augment=maybe"]}, "augment must be true or false"),
    (TrainConfig, {"set": ["schedule=cosine"]}, "schedule='cosine' is not valid; choose one of: onecycle, step"),
    (TrainConfig, {"set": ["lr"]}, "--set expects key=value"),
    (TrainConfig, {"set": ["device=gpu"]}, "device='gpu' is not valid; choose one of: cpu, cuda"),
    (SearchConfig, {"strategy": "evolutoin"}, "strategy='evolutoin' is not valid; choose one of: random, evolution, tpe"),
    (SearchConfig, {"max_params": 0}, "max_params must be at least 1"),
    (SearchConfig, {"max_params": -5}, "max_params must be at least 1"),
    (SearchConfig, {"max_params": 8000, "min_params": 9000}, "min_params must be in 0..max_params"),
])
def test_bad_values_name_the_problem(cls, kw, message):
    overrides = kw.pop("set", None)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        make(cls, None, overrides, **kw)


def test_config_file_with_unknown_key(tmp_path):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ConfigError, match="unknown TrainConfig key 'epoch'"):
        make(TrainConfig, file=str(f))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error():
    with pytest.raises(ConfigError, match="device=cuda, but torch sees no CUDA GPU on this machine; use device=cpu"):
        make(TrainConfig, None, ["device=cuda"])


def test_nas_device_sets_the_device_below_the_command_line(monkeypatch):
    from nas.studies.recipe import parse_variant

    monkeypatch.setattr("torch.cuda.is_available", lambda: True)  # no GPU here: the check alone is faked
    monkeypatch.setenv("NAS_DEVICE", "cuda")
    assert make(TrainConfig).device == "cuda"
    assert make(TrainConfig, None, ["device=cpu"]).device == "cpu"
    # a recipe variant is a change of the recipe, not of the machine it runs on
    assert parse_variant("aug-light:max_degrees=5") == ("aug-light", {"max_degrees": 5.0})
    monkeypatch.setenv("NAS_DEVICE", "gpu0")
    with pytest.raises(ConfigError, match="device='gpu0' is not valid; choose one of: cpu, cuda"):
        make(TrainConfig)
