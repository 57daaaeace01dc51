"""The multi-fidelity search's pieces around NNI, without an experiment: the rung syntax, the rungs a
proxy study chooses, the controls, the budget tracker, rebuilding the ledger on resume, and the
export's ranking of a multi-fidelity search."""
from __future__ import annotations

import json

import pytest

from nas.engine.controls import resolve_controls
from nas.engine.tracker import OVERHEAD_S, Tracker, restore
from nas.config import PROVISIONAL_RUNGS, SearchConfig, parse_rungs
from nas.errors import ConfigError
from nas.nni_boundary import Trial
from nas.schedule.ledger import Ledger
from nas.schedule.rungs import Job, Rung
from search_spaces.baselines import BASELINES
from search_spaces.choices import complete, network_key


@pytest.mark.parametrize("text, message", [
    ("15x55000", "at least two rungs"),
    ("2x20000,abc", "must read EPOCHSxIMAGES"),
    ("2x90000,15x55000", "images 1..55000"),
    ("2x20000/val_acc_worst,15x55000", "reading must be one of"),
    ("2x20000,2x55000", "at least 3 epochs"),
])
def test_bad_rungs_are_one_clear_error(text, message):
    with pytest.raises(ConfigError, match=message):
        SearchConfig(rungs=text)


def test_rungs_parse_with_seeds_and_readings():
    r = parse_rungs("1x20000/val_loss_best, 4x55000 ,15x55000:3")
    assert r == [Rung(1, 20000, (0,), "val_loss best"), Rung(4, 55000, (0,), "val_acc last"),
                 Rung(15, 55000, (0, 1, 2), "late")]


def test_auto_rungs_come_from_a_finished_study_only(tmp_path):
    from nas.studies.proxy import rungs_setting

    assert rungs_setting(tmp_path)[0] == PROVISIONAL_RUNGS
    rows = [{"kind": "proxy", "epochs": 2, "images": 55000, "reading": "val_loss best", "spearman": 0.8, "cost": 0.14}]
    (tmp_path / "study.json").write_text(json.dumps({"archs": 30, "complete": 29, "rows": rows}))
    assert rungs_setting(tmp_path)[0] == PROVISIONAL_RUNGS     # unfinished: provisional
    (tmp_path / "study.json").write_text(json.dumps({"archs": 30, "complete": 30, "rows": rows}))
    text, why = rungs_setting(tmp_path)
    assert text == "2x55000/val_loss_best,15x55000:2" and "proxy study" in why
    assert parse_rungs(text)[0] == Rung(2, 55000, (0,), "val_loss best")


def test_controls_by_budget_and_bad_ones_refused(tmp_path):
    assert set(resolve_controls("auto", 8000, {})) == {"exp3", "exp4"}
    assert set(resolve_controls("auto", 4000, {})) == {"lqznt4k"}
    assert resolve_controls("none", 8000, {}) == {}
    assert resolve_controls("exp3", 8000, {})["exp3"] == complete(BASELINES["exp3"]["arch"])
    with pytest.raises(ConfigError, match="neither a baseline"):
        resolve_controls("exp9", 8000, {})
    with pytest.raises(ConfigError, match="outside the search's fixed labels"):
        resolve_controls("exp1", 20000, {"bn": True})        # exp1 has no BatchNorm
    # a pinned recipe label (--search-recipe --fix lr_x=2) is the search's recipe: controls train with it
    assert resolve_controls("exp3", 8000, {"lr_x": 2.0}, search_recipe=True)["exp3"] == \
        complete({**BASELINES["exp3"]["arch"], "lr_x": 2.0})
    # an export with recipe labels cannot race in a space without them: it would lose its recipe
    tuned = tmp_path / "arch.json"
    tuned.write_text(json.dumps({"arch": {**BASELINES["exp3"]["arch"], "lr_x": 2.0}}))
    with pytest.raises(ConfigError, match="recipe labels"):
        resolve_controls(str(tuned), 8000, {})
    assert [c["lr_x"] for c in resolve_controls(str(tuned), 8000, {}, search_recipe=True).values()] == [2.0]


def test_tracker_sizes_candidates_to_the_budget_and_writes_the_ledger(tmp_path):
    rungs = [Rung(2, 20000), Rung(15, 55000, (0, 1))]
    led = Ledger(rungs, controls=("exp3",), candidates=6)
    t = Tracker(tmp_path, led, threads=1, cpu_hours=10, workers=2)
    t.resize()                                   # the prior cost: 1/1500 s per image-epoch
    prior = led.candidates
    assert prior > 6
    for i in range(3):                           # trainings measured at twice the prior's cost
        job = Job(f"c{i}", 0, 0)
        led.record(job, 90.0)
        t.add(job, {"seconds": 2 * 40000 / 1500 - 7})
    t.resize()
    assert len(led.started) <= led.candidates < prior
    assert t.planned_s() <= 10 * 3600 * 1.05
    t.save()
    doc = json.loads((tmp_path / "rungs.json").read_text())
    assert doc["candidates"] == led.candidates and len(doc["jobs"]) == 3 and doc["outcome"] is None
    assert "rung 0: 3/3" in t.progress() and "CPU-h spent of 10" in t.progress()


def test_tracker_counts_a_trials_cpu_time_not_its_wall_time(tmp_path):
    led = Ledger([Rung(2, 20000), Rung(15, 55000, (0, 1))], candidates=6)
    t = Tracker(tmp_path, led, threads=2, cpu_hours=10)
    t.add(Job("c0", 0, 0), {"seconds": 100.0, "cpu_seconds": 120.0})  # slowed by other load: 2 threads, 60 s each
    assert t.spent_s == pytest.approx(120.0 + 2 * OVERHEAD_S)
    t.add(Job("c1", 0, 0), {"seconds": 100.0})                         # a trial that reports no CPU time
    assert t.spent_s == pytest.approx(120.0 + 200.0 + 4 * OVERHEAD_S)


def test_tracker_starts_no_candidate_past_the_budget_and_counts_the_race_in_the_time_left(tmp_path):
    rungs = [Rung(1, 1000), Rung(15, 55000, (0, 1))]
    led = Ledger(rungs, controls=("exp3",), candidates=3)
    t = Tracker(tmp_path, led, threads=1, cpu_hours=1, workers=2)
    for i in range(3):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    t.spent_s = 3600.0                           # the budget is spent: no new rung-0 candidate
    t.resize()
    assert led.candidates == 3
    for _ in range(2):                           # c2 promoted, then the control, at seeds 0 and 1
        for job in led.next_jobs():
            led.record(job, 99.0 if job.control else 99.2)
    assert led.race_round() == (2, ["c2", "control:exp3"])  # the leader and the control, seed 2
    line = t.progress()
    assert "race: seed 2, 2 entrants" in line
    # 2 trainings in this round and at most 2 in each of seeds 3 and 4, at the full rung's cost
    assert t.left_s() == pytest.approx(6 * 15 * 55000 * t.rate())
    led.record(Job("c2", 1, 2), 99.3)
    assert t.left_s() == pytest.approx(5 * 15 * 55000 * t.rate())
    assert led.race_jobs() == [Job("control:exp3", 1, 2)]  # the round waits for the control


def test_tracker_counts_the_fresh_seeds_after_the_race(tmp_path):
    rungs = [Rung(1, 1000), Rung(15, 55000, (0, 1))]
    led = Ledger(rungs, controls=("exp3",), candidates=3, race_min=2, race_cap=2, fresh=2)
    t = Tracker(tmp_path, led, threads=1, cpu_hours=1, workers=2)
    for i in range(3):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    for _ in range(2):
        for job in led.next_jobs():
            led.record(job, 99.0 if job.control else 99.2)
    # no race seeds (the cap is the base seeds): the pick and the control train seeds 2 and 3
    assert led.race_over() and led.next_jobs() == [Job("c2", 1, 2), Job("control:exp3", 1, 2),
                                                   Job("c2", 1, 3), Job("control:exp3", 1, 3)]
    assert "fresh seeds: 0/4 trained" in t.progress() and t.left_s() == pytest.approx(4 * 15 * 55000 * t.rate())
    led.record(Job("c2", 1, 2), 99.1)
    assert "fresh seeds: 1/4 trained" in t.progress() and t.left_s() == pytest.approx(3 * 15 * 55000 * t.rate())
    # the plan counts them from the start: 2 seeds x (the pick + 1 control) more full trainings
    assert t.planned_s() == pytest.approx(Tracker(tmp_path, Ledger(rungs, controls=("exp3",), candidates=3, race_min=2,
                                                                   race_cap=2), 1, 1).planned_s()
                                          + 4 * 15 * 55000 * t.rate())


def _trial(tid, key_arch, rung, seed, score, status="SUCCEEDED", control=None):
    key = f"control:{control}" if control else network_key(key_arch)
    final = {"default": 0.0 if score is None else score, "key": key, "rung": rung, "seed": seed,
             "score": score, "control": control, "params": 1000}
    return Trial(tid, status, complete(key_arch), final)


def test_resume_rebuilds_the_ledger_and_answers_the_strategy_with_rung_scores():
    a, b, c = (dict(BASELINES["exp2"]["arch"], c1_0=w) for w in (8, 10, 12))
    trials = [_trial("t1", a, 0, 0, 97.0), _trial("t2", b, 0, 0, 98.0), _trial("t3", c, 0, 0, None, "FAILED"),
              _trial("t4", b, 1, 0, 99.1), _trial("t5", BASELINES["exp3"]["arch"], 1, 0, 99.0, control="exp3")]
    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], controls=("exp3",), candidates=3)
    answered = restore(led, trials)
    assert led.started == [network_key(a), network_key(b), network_key(c)] and led.dead(network_key(c))
    assert led.scores[Job(network_key(b), 1, 0)] == 99.1 and led.scores[Job("control:exp3", 1, 0)] == 99.0
    by_key = {network_key(t.sample): t for t in answered}
    assert by_key[network_key(b)].final == {"default": 98.0} and by_key[network_key(c)].status == "FAILED"
    # what is due now: b's second seed at the last rung, and exp3's; nothing trained again
    assert set(led.next_jobs()) == {Job(network_key(b), 1, 1), Job("control:exp3", 1, 1)}


def test_export_ranks_a_multi_fidelity_search_by_its_race():
    from nas.results.store import rank

    a, b = (dict(BASELINES["exp2"]["arch"], c1_0=w) for w in (8, 10))
    trials = [_trial("t1", a, 0, 0, 99.5), _trial("t2", b, 0, 0, 97.0), _trial("t3", b, 1, 1, 99.2),
              _trial("t4", b, 1, 0, 99.3), _trial("t5", BASELINES["exp3"]["arch"], 1, 0, 99.9, control="exp3")]
    doc = {"jobs": [dict(key=t.final["key"], rung=t.final["rung"], seed=t.final["seed"], score=t.final["score"])
                    for t in trials], "outcome": {"pick": network_key(b)}}
    ranked = rank(trials, doc)
    # b reached the last rung (and is the pick): first, by its lowest seed there; a next; no control
    assert [t.id for t in ranked] == ["t4", "t1"]


def test_a_finished_multi_fidelity_search_supplies_the_finalist(tmp_path):
    from nas.results.decide import choose_finalist, raced_pick
    from nas.errors import ExportError
    from nas.results.store import Layout

    layout = Layout.at(tmp_path)
    assert raced_pick(layout, 8000) is None
    for exp_id, mean in (("m8k", 99.31), ("m8k2", 99.28)):
        folder = layout.searches / exp_id
        folder.mkdir(parents=True)
        (folder / "nas.json").write_text(json.dumps({"id": exp_id, "search": {"schedule": "asha", "max_params": 8000}}))
        (folder / "rungs.json").write_text(json.dumps({"jobs": [], "outcome": {"pick": "k", "mean": mean}}))
        arch = layout.exports / exp_id / "rank1_abc" / "arch.json"
        arch.parent.mkdir(parents=True)
        arch.write_text("{}")
    pick = choose_finalist(layout, 8000)
    assert pick.experiment == "m8k" and pick.arch == layout.exports / "m8k" / "rank1_abc" / "arch.json"
    assert raced_pick(layout, 4000) is None
    (layout.exports / "m8k" / "rank1_abc" / "arch.json").unlink()
    with pytest.raises(ExportError, match="nas export m8k"):
        choose_finalist(layout, 8000)


def test_warm_start_resolves_to_the_references_within_budget():
    from nas.engine.experiment import warm_start_names

    evo = dict(strategy="evolution")
    # at 8k: the references under 8,000 parameters; exp3 and exp4 are over it (and controls)
    assert warm_start_names(SearchConfig(max_params=8000, **evo), {}) == "era7918,lqznt4k,r3cpl8k"
    # at 4k the one reference under budget is the control: it is raced, not seeded
    assert warm_start_names(SearchConfig(max_params=4000, **evo), {}) == "none"
    assert warm_start_names(SearchConfig(max_params=8000, min_params=5000, **evo), {}) == "era7918,r3cpl8k"
    assert warm_start_names(SearchConfig(max_params=8000, strategy="random"), {}) == "none"
    assert warm_start_names(SearchConfig(max_params=8000, warm_start="none", **evo), {}) == "none"
    for options, message in [(dict(warm_start="exp3", **evo), "8,880 parameters > budget"),
                             (dict(warm_start="era7918", strategy="tpe"), "seeds evolution's population"),
                             (dict(warm_start="exp9", **evo), "neither a baseline")]:
        with pytest.raises(ConfigError, match=message):
            warm_start_names(SearchConfig(max_params=8000, **options), {})


def test_the_race_runs_once_the_strategy_stops_even_if_the_plan_grew(tmp_path):
    """w8k hung: its plan grew from 86 to 89 candidates after evolution had stopped proposing, and the
    race waited for candidates that could not come. `finish` caps the plan at what started."""
    from nas.engine.multifidelity import Rungs

    class Engine:  # a stand-in for NNI's engine: workers always busy; its budget ends after 50 polls
        polls = 0

        def register_model_event_callback(self, *a):
            pass

        def budget_available(self):
            self.polls += 1
            return self.polls <= 50

        def idle_worker_available(self):
            return False

    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], controls=(), candidates=3)
    for i in range(3):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    led.record(Job("c2", 1, 0), 99.0)
    led.record(Job("c2", 1, 1), 99.1)
    led.record(Job("c2", 1, 2), 99.0)   # the leader alone has its race_min seeds: the race is over
    led.candidates = 5                   # the plan grew after the strategy had stopped
    mw = Rungs(led, evaluator_for=None, key=None, controls={})
    mw.set_engine(Engine())
    mw.finish(poll=0)
    assert led.candidates == 3 and led.done() and mw.engine.polls < 50


def test_no_candidate_starts_once_the_strategy_stopped_or_the_race_began(tmp_path):
    """m4k: its plan dipped to the candidates started, evolution stopped, the race began, then the
    plan grew again. The progress line and rungs.json must not promise candidates that cannot come,
    nor may a resumed search start new ones into a race that has begun (they would lack its seeds)."""
    rungs = [Rung(1, 1000), Rung(15, 55000, (0, 1))]
    led = Ledger(rungs, controls=("exp3",), candidates=3)
    t = Tracker(tmp_path, led, threads=1, cpu_hours=100, workers=2)
    for i in range(3):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    t.resize()
    assert led.candidates > 3                    # a big budget plans more while the strategy proposes
    led.proposing = False                        # the strategy has stopped (Rungs.finish)
    t.resize()
    assert led.candidates == 3
    # a resume: a new ledger from the trials, in which the race has trained seed 2
    trials = [_trial(f"t{i}", dict(BASELINES["exp2"]["arch"], c1_0=w), 0, 0, 90.0 + i) for i, w in enumerate((8, 10, 12))]
    best = dict(BASELINES["exp2"]["arch"], c1_0=12)
    trials += [_trial(f"r{s}", best, 1, s, 99.0) for s in (0, 1)]
    again = Ledger(rungs, controls=(), candidates=3)
    restore(again, trials)
    t2 = Tracker(tmp_path, again, threads=1, cpu_hours=100, workers=2)
    t2.resize()
    assert again.candidates > 3 and not again.race_begun()   # base seeds only: the plan may still grow
    again = Ledger(rungs, controls=(), candidates=3)
    restore(again, trials + [_trial("r2", best, 1, 2, 99.1)])
    Tracker(tmp_path, again, threads=1, cpu_hours=100, workers=2).resize()
    assert again.race_begun() and again.candidates == 3
