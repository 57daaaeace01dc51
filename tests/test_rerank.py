"""The second stage of a search (`nas rerank`): which trials it retrains, that its ranking is the
late-epoch validation accuracy of real training runs, that it resumes instead of retraining, and
that `nas finalist` follows its winner (and refuses a re-rank older than the search's best trial)."""
from __future__ import annotations

import json
import statistics
from types import SimpleNamespace

import pytest

from nas.config import ConfigError, TrainConfig
from nas.errors import ExportError
from nas.studies.rerank import candidates, rerank
from nas.results.decide import choose_finalist
from nas.results.store import Layout
from search_spaces.baselines import EXP2, EXP3
from test_report import write_search


def test_candidates_are_the_trials_near_the_best_proxy_score():
    ranked = [SimpleNamespace(id=i, val_acc=v) for i, v in [("a", 98.8), ("b", 98.7), ("c", 98.6), ("d", 98.3)]]
    assert [t.id for t in candidates(ranked, within=0.2, top=4)] == ["a", "b", "c"]
    assert [t.id for t in candidates(ranked, within=0.2, top=2)] == ["a", "b"]
    assert [t.id for t in candidates(ranked, within=0.0, top=4)] == ["a"]
    assert candidates([], 0.2, 4) == []


@pytest.mark.slow  # eight trainings, four in nested worker processes
def test_rerank_trains_the_candidates_and_ranks_them_on_late_validation(tmp_path, data_dir, capsys):
    res = tmp_path / "results"
    # B (no BatchNorm) and A are within 0.2 points; C is not. A's export exists, B's does not yet.
    write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 9000), "B": (97.9, 9000), "C": (97.0, 9000)},
                 archs={"B": EXP2})
    cfg = TrainConfig(epochs=3, train_subset=600, val_size=1000, threads=1)
    out = res / "rerank" / "s"
    r = rerank(str(res / "searches"), "s", res / "exports", out, cfg, within=0.2, top=4, data_dir=str(data_dir))
    assert sorted(c["trial"] for c in r["candidates"]) == ["A", "B"]
    for c in r["candidates"]:  # the score is the mean of the last 3 validation accuracies the run wrote
        hist = json.loads((out / c["trial"] / "seed0" / "history.json").read_text())
        assert len(hist) == 3 and c["late_val_acc"] == [h["val_acc"] for h in hist]
        assert all(h["test_acc"] is None and h["test_loss"] is None for h in hist)  # no test image evaluated
        summary = json.loads((out / c["trial"] / "summary.json").read_text())
        assert not any("test" in k for s in summary["seeds"].values() for k in s)
        assert summary["onnx"]["checked_on"].endswith("validation images")
        assert c["score"] == pytest.approx(statistics.fmean(c["late_val_acc"]))
        assert json.loads((out / c["trial"] / "config.json").read_text())["train"]["val_size"] == 1000
    scores = {c["trial"]: c["score"] for c in r["candidates"]}
    assert scores["A"] != scores["B"] and r["pick"] == max(scores, key=scores.get)
    assert json.loads((out / "rerank.json").read_text()) == r
    # the candidates were exported for confirmation, and the finalist is the re-rank's winner
    pick = next(c for c in r["candidates"] if c["trial"] == r["pick"])
    arch = json.loads((res / "exports" / "s" / pick["export"] / "arch.json").read_text())
    assert arch["trial"] == r["pick"] and arch["arch"] == (EXP2 if r["pick"] == "B" else EXP3)
    assert choose_finalist(Layout.at(res), 8000).arch == \
        res / "exports" / "s" / pick["export"] / "arch.json"
    # run again: nothing retrains, same answer
    before = {c: (out / c / "seed0" / "model.pt").stat().st_mtime_ns for c in scores}
    capsys.readouterr()
    assert rerank(str(res / "searches"), "s", res / "exports", out, cfg, within=0.2, top=4,
                  data_dir=str(data_dir)) == r
    assert "2 already done" in capsys.readouterr().out
    assert before == {c: (out / c / "seed0" / "model.pt").stat().st_mtime_ns for c in scores}
    # a second seed: seed 0's runs are kept, seed 1 trains, and the score averages the two seeds
    # (jobs=4: both candidates at once, each with its two seeds at once, in nested worker processes)
    seed0 = {c: (out / c / "seed0" / "history.json").read_text() for c in scores}
    capsys.readouterr()
    r2 = rerank(str(res / "searches"), "s", res / "exports", out, cfg, within=0.2, top=4, seeds=[0, 1], jobs=4,
                data_dir=str(data_dir))
    assert "4 trainings at once" in capsys.readouterr().out
    assert r2["seeds"] == [0, 1] and "averaged over seeds 0, 1" in r2["rule"]
    for c in r2["candidates"]:
        assert (out / c["trial"] / "seed0" / "history.json").read_text() == seed0[c["trial"]]
        hist1 = json.loads((out / c["trial"] / "seed1" / "history.json").read_text())
        assert c["late_val_acc"][3:] == [h["val_acc"] for h in hist1]
        assert c["seed_scores"][0] == pytest.approx(scores[c["trial"]])
        assert c["score"] == pytest.approx(statistics.fmean(c["seed_scores"]))
    assert r2["pick"] == max(r2["candidates"], key=lambda c: c["score"])["trial"]


def test_finalist_refuses_a_rerank_older_than_the_best_trial(tmp_path):
    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 7000), "B": (97.9, 7000)})
    (res / "rerank" / "s").mkdir(parents=True)
    stale = {"experiment": "s", "pick": "X", "candidates": [{"trial": "X", "export": "rank1_X"}]}
    (res / "rerank" / "s" / "rerank.json").write_text(json.dumps(stale))
    with pytest.raises(ExportError, match="predates its best trial A"):
        choose_finalist(Layout.at(res), 8000)
    # without re-ranks, the search's best trial
    (res / "rerank" / "s" / "rerank.json").unlink()
    assert choose_finalist(Layout.at(res), 8000).arch.parent.name == "rank1_A"


def test_rerank_needs_a_validation_split(tmp_path):
    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 7000)})
    with pytest.raises(ConfigError, match="val_size must be above 0"):
        rerank(str(res / "searches"), "s", res / "exports", res / "rerank" / "s", TrainConfig(val_size=0))
    assert not (res / "rerank").exists()


def test_report_says_how_the_reranked_finalist_was_picked(tmp_path):
    from test_report import GOOD, study_report, write_run

    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 7000), "B": (97.9, 7000)})
    arch = res / "exports" / "s" / "rank2_B" / "arch.json"
    arch.parent.mkdir(parents=True)
    arch.write_text(json.dumps({"trial": "B", "experiment": "s", "arch": EXP3, "metrics": {"default": 97.9}}))
    row = dict(params=7000, flops=1000, late_val_acc=[99.1, 99.2, 99.3])
    rr = {"experiment": "s", "pick": "B", "within": 0.2, "seed": 0, "train": {"epochs": 15}, "rule": "R",
          "candidates": [{**row, "trial": "B", "export": "rank2_B", "proxy_val_acc": 97.9, "score": 99.2},
                         {**row, "trial": "A", "export": "rank1_A", "proxy_val_acc": 98.0, "score": 99.1}]}
    (res / "rerank" / "s").mkdir(parents=True)
    (res / "rerank" / "s" / "rerank.json").write_text(json.dumps(rr))
    run = res / "confirm" / "s8k-B"
    write_run(run, {s: GOOD for s in range(5)}, params=7000)
    (run / "config.json").write_text(json.dumps({**json.loads((run / "config.json").read_text()), "source": str(arch)}))
    text = study_report(res, pictures=False).read_text()
    assert "| 7 | s8k finalist (`s8k-B`) |" in text and "The winner of the re-rank of `s`" in text
    assert "| `B` (pick) | 7,000 | 1,000 | 97.90 | 99.10 / 99.20 / 99.30 | 99.200 |" in text
