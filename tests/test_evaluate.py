"""The evaluator's early-stopping rule (the median rule NNI's MedianStop would apply, run in the trial)."""
from __future__ import annotations

from nas.engine.trial import MEDIAN_MIN_TRIALS, median_rule

CURVES = [[90.0, 95.0, 96.0], [92.0, 96.0, 97.0], [80.0, 90.0, 93.0], [94.0, 97.0, 98.0], [91.0, 94.0, 95.0]]


def test_stops_below_the_median_of_finished_trials_at_that_epoch():
    assert median_rule(CURVES, 1, 89.0) == 91.0   # median of 90, 92, 80, 94, 91
    assert median_rule(CURVES, 1, 91.0) is None   # at the median: goes on
    assert median_rule(CURVES, 2, 94.9) == 95.0
    assert median_rule(CURVES, 2, 99.0) is None


def test_needs_enough_finished_trials_at_that_epoch():
    assert len(CURVES) == MEDIAN_MIN_TRIALS
    assert median_rule(CURVES[:-1], 1, 10.0) is None          # too few finished trials: never stops
    short = CURVES[:-1] + [[91.0]]                             # one finished trial stopped after epoch 1
    assert median_rule(short, 1, 10.0) is not None and median_rule(short, 2, 10.0) is None
