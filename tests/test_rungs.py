"""The multi-fidelity schedule on recorded scores: promotions, the race and its statistics, the budget."""
from __future__ import annotations

import pytest

from nas.schedule.ledger import Ledger, outcome
from nas.schedule.plan import candidates_for, planned_image_epochs
from nas.schedule.race import separated
from nas.schedule.rungs import Job, Rung, read

RUNGS = [Rung(1, 20000), Rung(4, 20000), Rung(15, 55000, (0, 1))]


def ledger(**kw) -> Ledger:
    return Ledger(list(RUNGS), eta=3, controls=kw.pop("controls", ()), candidates=kw.pop("candidates", 9), **kw)


def test_asha_promotes_the_top_third_as_results_arrive_highest_rung_first():
    led = ledger()
    for i, score in enumerate([90.0, 95.0, 92.0]):
        led.record(Job(f"c{i}", 0, 0), score)
    assert led.promotions() == [Job("c1", 1, 0)]          # 3 finished: the best 1
    led.submit(Job("c1", 1, 0))
    assert led.promotions() == []
    for i, score in enumerate([91.0, 96.0, 89.0], start=3):
        led.record(Job(f"c{i}", 0, 0), score)
    assert led.promotions() == [Job("c4", 1, 0)]          # 6 finished: the best 2 (c4, c1)
    for key, score in (("c1", 97.0), ("c4", 98.0)):
        led.record(Job(key, 1, 0), score)
    led.submit(Job("c4", 1, 0))
    # 2 finished at rung 1: floor(2/3) = 0 promoted to the last rung yet
    assert [j for j in led.promotions() if j.rung == 2] == []
    led.record(Job("c5", 1, 0), 96.5)
    # 3 finished at rung 1: the best (c4) goes to the last rung with both of its seeds, before rung-1 work
    assert led.promotions()[:2] == [Job("c4", 2, 0), Job("c4", 2, 1)]


def test_a_failed_candidate_is_never_promoted():
    led = ledger()
    led.record(Job("bad", 0, 0), None)
    for i, score in enumerate([90.0, 91.0, 92.0]):
        led.record(Job(f"c{i}", 0, 0), score)
    assert led.promotions() == [Job("c2", 1, 0)] and led.dead("bad")


def test_paired_test_on_known_numbers():
    a = {0: 99.50, 1: 99.60, 2: 99.55}
    b = {s: v - d for (s, v), d in zip(a.items(), (0.10, 0.12, 0.08))}  # mean 0.10, sd 0.02: t = 8.7 > 1.886
    assert separated(a, b, 0.1) == 1 and separated(b, a, 0.1) == -1
    c = {0: 99.40, 1: 99.65}                                           # d = 0.10, -0.05: t = 0.33
    assert separated(a, c, 0.1) == 0
    assert separated(a, {0: 99.0}, 0.1) == 0                           # one shared seed decides nothing
    # two seeds, d = 0.10, 0.11: t = 0.105 / (0.00707 / 1.414) = 21 > 3.078
    assert separated({0: 1.10, 1: 1.11}, {0: 1.0, 1: 1.0}, 0.1) == 1


def _at_last(led, key, scores):
    for seed, s in scores.items():
        led.record(Job(key, led.last, seed), s)


def _close_lower_rungs(led):
    for i in range(9):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    for key in ("c8", "c7", "c6"):
        led.record(Job(key, 1, 0), {"c8": 97.0, "c7": 96.0, "c6": 95.0}[key])


def test_the_race_pairs_seeds_keeps_controls_in_and_stops_at_separation_or_the_cap():
    led = ledger(controls=("exp3",))
    _close_lower_rungs(led)
    assert led.promotions() == [Job("c8", 2, 0), Job("c8", 2, 1)]
    _at_last(led, "c8", {0: 99.50, 1: 99.52})
    assert led.control_jobs() == [Job("control:exp3", 2, 0), Job("control:exp3", 2, 1)]
    assert led.race_jobs() == []                       # the control lacks its base seeds
    _at_last(led, "control:exp3", {0: 99.45, 1: 99.40})
    assert led.closed() and led.leader() == "c8"
    # only 2 seeds: below race_min (3) leader and control go on with seed 2, the same for both
    assert led.race_jobs() == [Job("c8", 2, 2), Job("control:exp3", 2, 2)]
    _at_last(led, "c8", {2: 99.49})
    _at_last(led, "control:exp3", {2: 99.52})          # d = .05, .12, -.03: t = 1.08, not separated
    assert led.racing() == ["control:exp3"]
    assert led.race_jobs() == [Job("c8", 2, 3), Job("control:exp3", 2, 3)]
    _at_last(led, "c8", {3: 99.55, 4: 99.50})
    _at_last(led, "control:exp3", {3: 99.50, 4: 99.49})
    assert led.race_jobs() == [] and led.done()        # the cap (5 seeds)
    o = outcome(led)
    assert o["pick"] == "c8" and o["seeds"] == [0, 1, 2, 3, 4]
    assert o["mean"] == pytest.approx((99.50 + 99.52 + 99.49 + 99.55 + 99.50) / 5)
    exp3 = o["controls"]["exp3"]
    assert exp3["seeds"] == [0, 1, 2, 3, 4] and exp3["gap"] == pytest.approx(0.04)
    assert exp3["verdict"] == "pick better"            # d = .05 .12 -.03 .05 .01: t = 1.65 > 1.533


def test_a_separated_candidate_stops_and_a_tie_is_a_tie():
    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], eta=3, race_min=2, race_cap=4, candidates=6)
    for i in range(6):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    assert {j.key for j in led.promotions()} == {"c5", "c4"}
    _at_last(led, "c5", {0: 99.50, 1: 99.40})
    _at_last(led, "c4", {0: 99.45, 1: 99.50})
    # means 99.45 vs 99.475: c4 leads; d = +0.05, -0.10: not separated -> both train seed 2
    assert led.leader() == "c4" and led.race_jobs() == [Job("c4", 1, 2), Job("c5", 1, 2)]
    _at_last(led, "c4", {2: 99.60, 3: 99.55})
    _at_last(led, "c5", {2: 99.55, 3: 99.52})
    # 4 seeds (the cap): d = -.05, .10, .05, .03: mean .0325, t = 1.03 < 1.638 -> a tie
    assert led.race_jobs() == [] and led.done()
    o = outcome(led)
    assert o["pick"] == "c4" and o["runner_up"]["key"] == "c5" and o["runner_up"]["verdict"] == "tie"


def test_a_candidate_the_race_separated_gets_no_more_seeds():
    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], eta=3, race_min=3, candidates=6)
    for i in range(6):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    _at_last(led, "c5", {0: 99.50, 1: 99.52})
    _at_last(led, "c4", {0: 99.20, 1: 99.21})          # d = .30, .31: t = 61 -> separated
    assert led.racing() == [] and led.race_jobs() == [Job("c5", 1, 2)]  # the leader alone, to race_min
    _at_last(led, "c5", {2: 99.10})                    # the leader stumbles below c4's mean ...
    assert led.leader() == "c5" and led.race_jobs() == []  # ... but c4 is out: it has fewer seeds


def test_readings_and_the_budget():
    h = [dict(val_acc=98.0, val_loss=0.07), dict(val_acc=99.1, val_loss=0.03), dict(val_acc=99.0, val_loss=0.04),
         dict(val_acc=99.2, val_loss=0.05)]
    assert read(h, "val_acc last") == 99.2 and read(h, "val_acc best") == 99.2
    assert read(h, "val_loss last") == -0.05 and read(h, "val_loss best") == -0.03
    assert read(h, "late") == pytest.approx((99.1 + 99.0 + 99.2) / 3)
    rungs = [Rung(2, 20000), Rung(15, 55000, (0, 1))]
    # 9 candidates: 9 x 40k + 3 x 1.65M; 2 controls x 2 seeds x 825k; the race's first round: all
    # 3 candidates and 2 controls, then (leader + rival + 2 controls) x 2 more seeds, x 825k
    assert planned_image_epochs(rungs, 9, 3, 5, 2) == 9 * 40000 + 3 * 1_650_000 + 4 * 825_000 + (5 + 8) * 825_000
    # a measured promotion share of a half: 4 of 9 reach the last rung, and all 4 race the first round
    assert planned_image_epochs(rungs, 9, 3, 5, 2, [0.5]) == 9 * 40000 + 4 * 1_650_000 + 4 * 825_000 + (6 + 8) * 825_000
    assert planned_image_epochs(rungs, 9, 3, 2, 2) == 9 * 40000 + 3 * 1_650_000 + 4 * 825_000  # no race seeds
    per = 1e-3
    budget = planned_image_epochs(rungs, 14, 3, 5, 2) * per
    assert candidates_for(budget, per, rungs, 3, 5, 2) == 14
    assert planned_image_epochs(rungs, 15, 3, 5, 2) * per > budget  # 15 promotes a fifth candidate
    assert candidates_for(budget, per, rungs, 3, 5, 2, [0.5]) < 14  # more promoted: fewer fit
    assert candidates_for(0, per, rungs, 3, 5, 2) == 6   # never fewer than 2 reaching the last rung


def test_a_round_submitted_one_job_at_a_time_still_gives_every_member_its_seed():
    """The search submits one job per free worker and asks again: the round must not shrink."""
    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], eta=3, race_min=3, controls=("exp3",), candidates=6)
    for i in range(6):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    for job in led.next_jobs():
        led.submit(job)
    _at_last(led, "c5", {0: 99.50, 1: 99.40})
    _at_last(led, "c4", {0: 99.45, 1: 99.50})
    _at_last(led, "control:exp3", {0: 99.40, 1: 99.45})
    first, *rest = led.race_jobs()
    led.submit(first)
    assert led.race_jobs() == rest and {j.key for j in [first, *rest]} == {"c4", "c5", "control:exp3"}
    for job in rest:
        led.submit(job)
    assert led.race_jobs() == []               # the round is training
    led.record(first, 99.5)
    assert led.race_jobs() == []               # ... until all of it has ended


def test_a_promoted_candidate_keeps_its_promotion_when_later_results_outrank_it():
    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], eta=3, candidates=9)
    for i, score in enumerate([90.0, 91.0, 92.0]):
        led.record(Job(f"c{i}", 0, 0), score)
    assert led.promotions() == [Job("c2", 1, 0), Job("c2", 1, 1)]
    led.submit(Job("c2", 1, 0))                  # one worker was free: seed 1 waits
    for i, score in enumerate([95.0, 96.0, 97.0], start=3):
        led.record(Job(f"c{i}", 0, 0), score)    # now c5 and c4 are the best third, not c2
    assert Job("c2", 1, 1) in led.promotions()   # c2's second seed is still due


def _two_at_the_last_rung():
    """Race cap 3, 2 fresh seeds, control exp3: c5 leads c4, separated on the base seeds."""
    led = Ledger([Rung(1, 1000), Rung(15, 55000, (0, 1))], eta=3, race_min=2, race_cap=3, fresh=2,
                 controls=("exp3",), candidates=6)
    for i in range(6):
        led.record(Job(f"c{i}", 0, 0), 90.0 + i)
    _at_last(led, "c5", {0: 99.50, 1: 99.52})
    _at_last(led, "c4", {0: 99.20, 1: 99.21})          # d = .30, .31: separated
    return led


def test_fresh_seeds_follow_the_race_for_the_pick_and_the_controls_and_are_judged_alone():
    led = _two_at_the_last_rung()
    assert led.fresh_jobs() == []                       # the control's base seeds are not in: no verdict yet
    _at_last(led, "control:exp3", {0: 99.40, 1: 99.45})  # d = .10, .07: t = 5.7 > 3.078, separated
    assert led.race_jobs() == [] and led.race_over()
    # seeds 3 and 4 (above the cap of 3), for the pick and the control alone, not the separated c4
    assert led.next_jobs() == [Job("c5", 1, 3), Job("control:exp3", 1, 3), Job("c5", 1, 4), Job("control:exp3", 1, 4)]
    assert not led.done()
    _at_last(led, "c5", {3: 99.30, 4: 99.32})           # the pick falls back on seeds the race never saw
    _at_last(led, "control:exp3", {3: 99.40, 4: 99.45})
    assert led.done() and led.leader(led.race_cap) == "c5"
    o = outcome(led)
    assert o["pick"] == "c5" and o["seeds"] == [0, 1] and o["mean"] == pytest.approx(99.51)  # the race's seeds
    assert o["controls"]["exp3"]["verdict"] == "pick better"
    fresh = o["fresh"]
    assert fresh["seeds"] == [3, 4] and fresh["mean"] == pytest.approx(99.31)
    exp3 = fresh["controls"]["exp3"]                    # d = -.10, -.13: t = -7.7
    assert exp3["seeds"] == [3, 4] and exp3["gap"] == pytest.approx(-0.115) and exp3["verdict"] == "pick worse"


def test_a_failed_fresh_seed_leaves_the_pick_as_the_race_chose_it():
    led = _two_at_the_last_rung()
    _at_last(led, "control:exp3", {0: 99.40, 1: 99.45})
    assert led.race_over() and led.leader(led.race_cap) == "c5"
    led.submit(Job("c5", 1, 3))
    led.record(Job("c5", 1, 3), None)                   # the pick's first fresh seed fails
    assert not led.dead("c5") and led.leader(led.race_cap) == "c5" and led.race_over()
    assert Job("c4", 1, 3) not in led.next_jobs()       # the runner-up does not take its place
    _at_last(led, "c5", {4: 99.33})
    _at_last(led, "control:exp3", {3: 99.40, 4: 99.45})
    assert led.done()
    o = outcome(led)
    assert o["pick"] == "c5" and o["fresh"]["seeds"] == [4]   # judged on the fresh seed it has
    led.record(Job("c4", 1, 2), None)                   # a race seed's failure still counts
    assert led.dead("c4")


def test_the_budget_plans_the_fresh_seeds():
    rungs = [Rung(2, 20000), Rung(15, 55000, (0, 1))]
    base = planned_image_epochs(rungs, 9, 3, 5, 2)
    assert planned_image_epochs(rungs, 9, 3, 5, 2, fresh=3) == base + 3 * (1 + 2) * 825_000
    assert candidates_for(base * 1e-3, 1e-3, rungs, 3, 5, 2, fresh=3) < 9
