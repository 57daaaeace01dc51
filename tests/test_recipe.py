"""The recipe study (`nas recipe`): variants are checked TrainConfig overrides, each trains for real
into its own run folder, the score is the late-epoch validation accuracy of those runs, the pick's
overrides are what `nas train --config` reads, and a second call resumes instead of retraining."""
from __future__ import annotations

import json
import statistics

import pytest

from nas.cli import main
from nas.config import ConfigError, TrainConfig, make
from nas.recipe import parse_variant, study


def test_a_variant_is_the_overrides_that_differ_from_the_defaults():
    assert parse_variant("aug-light:max_degrees=5,max_shift=1") == ("aug-light", {"max_degrees": 5.0, "max_shift": 1.0})
    assert parse_variant("default:") == ("default", {})
    assert parse_variant("same:lr=0.05") == ("same", {})  # the default value is no change
    with pytest.raises(ConfigError, match="unknown TrainConfig key 'lrr'"):
        parse_variant("x:lrr=0.1")
    with pytest.raises(ConfigError, match="label_smoothing"):
        parse_variant("x:label_smoothing=1.5")
    for bad in ("no-colon", "two words:lr=0.1", ":lr=0.1"):
        with pytest.raises(ConfigError, match="NAME:key=value"):
            parse_variant(bad)


def test_study_trains_each_variant_and_picks_on_late_validation(tmp_path, data_dir, capsys):
    out = tmp_path / "study"
    small = {"train_subset": 600, "val_size": 1000, "threads": 1}
    variants = [("smooth", {**small, "label_smoothing": 0.1}), ("plain", {**small, "augment": False})]
    r = study("exp2", variants, [0], out, epochs=3, data_dir=str(data_dir))
    for v in r["variants"]:  # the score is the mean of the last 3 validation accuracies the run wrote
        hist = json.loads((out / v["variant"] / "seed0" / "history.json").read_text())
        assert len(hist) == 3 and v["late_val_acc"] == [[h["val_acc"] for h in hist]]
        assert v["score"] == pytest.approx(statistics.fmean(v["late_val_acc"][0]))
        train = json.loads((out / v["variant"] / "config.json").read_text())["train"]
        assert all(train[k] == x for k, x in v["overrides"].items())  # the run used the variant's recipe
    scores = {v["variant"]: v["score"] for v in r["variants"]}
    assert scores["smooth"] != scores["plain"] and r["pick"] == max(scores, key=scores.get)
    assert json.loads((out / "study.json").read_text()) == r
    # pick.json holds the pick's overrides, and a confirmation reads it as a --config file
    pick = json.loads((out / "pick.json").read_text())
    assert pick == dict(variants)[r["pick"]]
    assert make(TrainConfig, file=str(out / "pick.json"), overrides=["val_size=0"]).train_subset == 600
    # again, with one more variant: the two done are kept, only the new one trains
    before = {n: (out / n / "seed0" / "model.pt").stat().st_mtime_ns for n in scores}
    r2 = study("exp2", variants + [("lr", {**small, "lr": 0.1})], [0], out, epochs=3, data_dir=str(data_dir))
    assert before == {n: (out / n / "seed0" / "model.pt").stat().st_mtime_ns for n in scores}
    assert [v["variant"] for v in r2["variants"]] == ["smooth", "plain", "lr"]
    assert r2["variants"][:2] == r["variants"]


def test_bad_variants_are_refused_before_anything_trains(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["recipe", "exp3", "--out", str(out), "--variant", "a:lr=0.1", "--variant", "b:lrr=1"]) == 2
    assert "unknown TrainConfig key 'lrr'" in capsys.readouterr().err
    assert main(["recipe", "exp3", "--out", str(out), "--variant", "a:lr=0.1", "--variant", "a:"]) == 2
    assert "distinct names" in capsys.readouterr().err
    assert main(["recipe", "exp3", "--out", str(out), "--variant", "a:val_size=0"]) == 2
    assert "scores on the validation split" in capsys.readouterr().err
    assert not out.exists()
