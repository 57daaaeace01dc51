"""The recipe study (`nas recipe`): variants are checked TrainConfig overrides, each trains for real
into its own run folder, the score is the late-epoch validation accuracy of those runs, the pick's
overrides are what `nas train --config` reads, and a second call resumes instead of retraining."""
from __future__ import annotations

import json
import statistics

import pytest

from nas.cli import main
from nas.config import ConfigError, TrainConfig, asdict, make
from nas.errors import ExportError
from nas.studies.recipe import parse_variant, study


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


@pytest.mark.slow  # three trainings of three epochs
def test_study_trains_each_variant_and_picks_on_late_validation(tmp_path, data_dir, capsys):
    out = tmp_path / "study"
    small = {"train_subset": 600, "val_size": 1000, "threads": 1}
    variants = [("smooth", {**small, "label_smoothing": 0.1}), ("plain", {**small, "augment": False})]
    r = study("exp2", variants, [0], out, epochs=3, data_dir=str(data_dir))
    for v in r["variants"]:  # the score is the mean of the last 3 validation accuracies the run wrote
        hist = json.loads((out / v["variant"] / "seed0" / "history.json").read_text())
        assert len(hist) == 3 and v["late_val_acc"] == [[h["val_acc"] for h in hist]]
        assert all(h["test_acc"] is None and h["test_loss"] is None for h in hist)  # no test image evaluated
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


def _reranked_search(res):
    """Search `s` (8k) re-ranked under the defaults with seeds 0, 1: B 99.20 beats A 99.10."""
    from search_spaces.baselines import EXP3
    from test_report import write_search

    write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 7000), "B": (97.9, 7000)})
    arch = res / "exports" / "s" / "rank2_B" / "arch.json"
    arch.parent.mkdir(parents=True)
    arch.write_text(json.dumps({"trial": "B", "experiment": "s", "arch": EXP3, "metrics": {"default": 97.9}}))
    row = dict(params=7000, flops=1000, late_val_acc=[99.1, 99.2, 99.3, 99.1, 99.2, 99.3])
    train = asdict(TrainConfig())
    rr = {"experiment": "s", "pick": "B", "within": 0.2, "seeds": [0, 1], "seed": 0, "train": train, "rule": "R",
          "candidates": [{**row, "trial": "B", "export": "rank2_B", "proxy_val_acc": 97.9, "score": 99.2},
                         {**row, "trial": "A", "export": "rank1_A", "proxy_val_acc": 98.0, "score": 99.1}]}
    (res / "rerank" / "s").mkdir(parents=True)
    (res / "rerank" / "s" / "rerank.json").write_text(json.dumps(rr))
    return res / "exports" / "s" / "rank1_A" / "arch.json", arch


def _study(res, name, source, scores: dict[str, float], seeds=(0, 1), params=7000):
    """A finished study.json of `source` with these variant scores (its pick: the best)."""
    variants = [{"variant": v, "overrides": {"label_smoothing": 0.1} if v != "default" else {},
                 "seed_scores": [sc] * len(seeds), "late_val_acc": [[sc] * 3 for _ in seeds], "score": sc}
                for v, sc in scores.items()]
    st = {"source": str(source), "params": params, "seeds": list(seeds), "epochs": 15,
          "split": {"val_size": 5000, "split_seed": 0, "train_subset": 0}, "variants": variants,
          "pick": max(scores, key=scores.get), "rule": "R"}
    (res / "recipe" / name).mkdir(parents=True)
    (res / "recipe" / name / "study.json").write_text(json.dumps(st))
    (res / "recipe" / name / "pick.json").write_text(json.dumps(variants[[v["variant"] for v in variants].index(st["pick"])]["overrides"]))


def test_finalist_is_the_best_pair_of_the_rerank_and_the_recipe_studies(tmp_path, capsys):
    from nas.results.decide import choose_finalist
    from nas.results.store import Layout

    res = tmp_path / "results"
    a, b = _reranked_search(res)
    pick = lambda: choose_finalist(Layout.at(res), 8000)
    assert pick().arch == b and pick().recipe == {}  # no study: the re-rank's winner, the defaults
    _study(res, "A-low", a, {"smooth": 99.15, "default": 99.1})  # beats A's default, not B
    _study(res, "A-seeds", a, {"smooth": 99.9, "default": 99.1}, seeds=(0,))  # other seeds: not comparable
    assert pick().arch == b and pick().study is None
    _study(res, "A-high", a, {"smooth": 99.25, "default": 99.1})  # above B: candidate A with that recipe
    f = pick()
    assert (f.arch, f.recipe, f.variant, f.study, f.score) == (a, {"label_smoothing": 0.1}, "smooth",
                                                               res / "recipe" / "A-high", 99.25)
    args = ["finalist", "--max-params", "8000", "--results", str(res)]
    assert main(args) == 0 and capsys.readouterr().out.strip() == str(a)
    assert main(args + ["--recipe"]) == 0
    assert capsys.readouterr().out.split() == ["smooth", str(res / "recipe" / "A-high" / "pick.json")]
    # a study of a model the re-rank did not train (another search's) never competes
    other = res / "exports" / "t" / "rank1_Z" / "arch.json"
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"trial": "Z", "arch": {}}))
    _study(res, "Z", other, {"smooth": 99.99})
    assert pick().study == res / "recipe" / "A-high"


def test_report_names_a_pick_not_confirmed_yet(tmp_path):
    from test_report import GOOD, study_report, write_run

    res = tmp_path / "results"
    a, b = _reranked_search(res)
    _study(res, "A", a, {"smooth": 99.25, "default": 99.1})
    a.write_text(json.dumps({**json.loads(a.read_text()), "params": 7000, "flops": 1000}))
    run = res / "confirm" / "s8k-A"  # the pick's network, but under the defaults: not the pick
    write_run(run, {s: GOOD for s in range(5)}, params=7000)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "source": str(a)}))
    text = study_report(res, pictures=False).read_text()
    pick = "(`A` of `s`, recipe: the defaults with label_smoothing=0.1)"
    assert f"| 7 | s8k finalist {pick} | 7,000 | 1,000 | | | | not run yet |" in text
    assert f"The current pick of `nas finalist --max-params 8000` {pick} is not confirmed yet" in text
    assert "| 7 | s8k earlier finalist (`s8k-A`) |" in text


def test_report_confirms_the_finalist_with_its_recipe(tmp_path):
    from test_report import GOOD, study_report, write_run

    res = tmp_path / "results"
    a, b = _reranked_search(res)
    _study(res, "A", a, {"smooth": 99.25, "default": 99.1})
    for name, recipe in (("s8k-A", {}), ("s8k-A-smooth", {"label_smoothing": 0.1})):
        run = res / "confirm" / name
        write_run(run, {s: GOOD for s in range(5)}, params=7000)
        cfg = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**cfg, "source": str(a), "train": {**cfg["train"], **recipe}}))
    text = study_report(res, pictures=False).read_text()
    # the run with the study's recipe is the finalist; the same network under the defaults is not
    assert "| 7 | s8k finalist (`s8k-A-smooth`) |" in text and "| 7 | s8k earlier finalist (`s8k-A`) |" in text
    assert "The best (architecture, recipe) pair on the validation split" in text
    assert "| `B` (re-rank's pick) |" in text and "| `smooth` (pick) |" in text
    assert "its pick `smooth` (the defaults with label_smoothing=0.1) scored 99.250, above the re-rank's best" in text
    assert "| `smooth` (pick) | the defaults with label_smoothing=0.1 | 99.25 / 99.25 / 99.25; 99.25 / 99.25 / 99.25 | 99.250 |" in text
    assert "recipe: the defaults with label_smoothing=0.1;" in text
    assert "0.00 CPU-hours of training, seconds x threads" in text  # the fixture study has no run folders


def test_report_shows_a_baseline_under_another_recipe_beside_its_default_run(tmp_path):
    from test_report import GOOD, study_report, write_run

    res = tmp_path / "results"
    write_run(res / "baselines" / "exp3", {s: GOOD for s in range(5)})
    run = res / "baselines-smooth" / "exp3"
    write_run(run, {s: GOOD[:-1] + [99.38] for s in range(5)})
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "train": {**cfg["train"], "label_smoothing": 0.1}}))
    text = study_report(res, pictures=False).read_text()
    assert "| 3 | exp3 | 8,880 | 1,000 | 99.41 |" in text and "| 3 | exp3 (recipe `smooth`) | 8,880 | 1,000 | 99.38 |" in text
    assert "--set val_size=0 --set label_smoothing=0.1 --jobs 2 --out results/baselines-smooth" in text
    assert ("- With recipe `smooth` (the defaults with label_smoothing=0.1): consistently >= 99.40%: no "
            "(lowest late test accuracy 99.38%") in text


@pytest.mark.slow  # two trainings through the study
def test_a_tie_goes_to_the_smaller_change_of_the_defaults(tmp_path, data_dir):
    # the same recipe twice, once spelt as a change (lr=0.05 is the default, so no change) and once
    # as a real change listed first that trains identically: equal scores, and the defaults win
    small = [f"{k}={v}" for k, v in {"train_subset": 600, "val_size": 1000, "threads": 1}.items()]
    a = parse_variant("first:" + ",".join(small + ["dropout_masks=torch", "eval_batch=500"]))
    b = parse_variant("plain:" + ",".join(small))
    r = study("exp2", [a, b], [0], tmp_path / "s", epochs=2, data_dir=str(data_dir))
    assert r["variants"][0]["score"] == r["variants"][1]["score"]  # eval_batch does not change a number
    assert r["pick"] == "plain" and "fewest changes" in r["rule"]


def test_a_rerank_from_before_seeds_compares_on_its_one_seed(tmp_path):
    from nas.results.decide import choose_finalist
    from nas.results.store import Layout

    res = tmp_path / "results"
    a, b = _reranked_search(res)
    rr_path = res / "rerank" / "s" / "rerank.json"
    rr = json.loads(rr_path.read_text())
    del rr["seeds"]  # re-ranks written before --seeds hold "seed" alone
    rr_path.write_text(json.dumps(rr))
    _study(res, "A2", a, {"smooth": 99.9, "default": 99.1}, seeds=(0, 1))  # two seeds: not comparable
    _study(res, "A1", a, {"smooth": 99.25, "default": 99.1}, seeds=(0,))   # seed 0, as the re-rank
    f = choose_finalist(Layout.at(res), 8000)
    assert (f.arch, f.study) == (a, res / "recipe" / "A1")


def test_finalist_pools_the_reranks_of_searches_with_as_long_a_proxy(tmp_path):
    """Two searches with the same proxy: the best second-stage score over both wins, not the search
    with the better proxy; one without a re-rank, or re-ranks on other seeds, stop the choice."""
    from nas.results.decide import choose_finalist
    from nas.results.store import Layout
    from test_report import GOOD, study_report, write_run, write_search

    res = tmp_path / "results"
    a, b = _reranked_search(res)  # search s: proxy best A 98.0, re-rank winner B 99.20
    write_search(res, "t", epochs=2, subset=0, trials={"C": (97.5, 7500)})  # worse proxy than s
    pick = lambda: choose_finalist(Layout.at(res), 8000)
    with pytest.raises(ExportError, match="t trained as long a proxy as s but has no re-rank"):
        pick()
    c = res / "exports" / "t" / "rank1_C" / "arch.json"
    rr = json.loads((res / "rerank" / "s" / "rerank.json").read_text())
    row = {**rr["candidates"][0], "trial": "C", "export": "rank1_C", "params": 7500, "proxy_val_acc": 97.5}
    (res / "rerank" / "t").mkdir(parents=True)
    for score, seeds, want in ((99.1, [0, 1], b), (99.3, [0, 1], c)):
        (res / "rerank" / "t" / "rerank.json").write_text(json.dumps(
            {**rr, "experiment": "t", "pick": "C", "seeds": seeds, "candidates": [{**row, "score": score}]}))
        f = pick()
        assert f.arch == want
    assert (f.experiment, f.score, f.rivals) == ("t", 99.3, (("s", "B", "", 99.2),))
    # a recipe study of s's candidate above C's score takes the place: pooled over both searches
    _study(res, "A-high", a, {"smooth": 99.35, "default": 99.1})
    assert (pick().arch, pick().variant, pick().rivals) == (a, "smooth", (("t", "C", "", 99.3),))
    assert pick().study == res / "recipe" / "A-high"
    (res / "rerank" / "t" / "rerank.json").write_text(json.dumps(  # C above s's best pair, a study's
        {**rr, "experiment": "t", "pick": "C", "candidates": [{**row, "score": 99.4}]}))
    assert (pick().arch, pick().rivals) == (c, (("s", "A", "smooth", 99.35),))
    (res / "rerank" / "t" / "rerank.json").write_text(json.dumps(
        {**rr, "experiment": "t", "pick": "C", "seeds": [0], "candidates": [{**row, "score": 99.9}]}))
    with pytest.raises(ExportError, match="differ in seeds, epochs, recipe or split"):
        pick()
    # the report names the rival it beat
    (res / "rerank" / "t" / "rerank.json").write_text(json.dumps(
        {**rr, "experiment": "t", "pick": "C", "candidates": [{**row, "score": 99.3}]}))
    (res / "recipe" / "A-high").rename(tmp_path / "study-aside")
    run = res / "confirm" / "s8k-C"
    write_run(run, {s: GOOD for s in range(5)}, params=7500)
    c.write_text(json.dumps({**json.loads(c.read_text()), "experiment": "t"}))
    (run / "config.json").write_text(json.dumps({**json.loads((run / "config.json").read_text()), "source": str(c)}))
    text = study_report(res, pictures=False).read_text()
    assert "| 7 | s8k finalist (`s8k-C`) |" in text and "The winner of the re-rank of `t`" in text
    assert ("The other searches at this budget with as long a proxy, re-ranked the same way, scored lower on "
            "validation (`B` of `s`: 99.200)") in text
    assert "Re-rank of `s`:" in text and "| `B` (pick) | 7,000 | 1,000 | 97.90 |" in text
