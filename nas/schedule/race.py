"""The race's statistics: a one-sided paired t-test between two entrants over their shared seeds,
the interval of a mean, and the pick's gap to another entrant. Plain Python, no scipy."""
from __future__ import annotations

import math
import statistics

from nas.facts import ALPHA


# one-sided Student t quantiles at 0.9 and 0.95 for 1..10 degrees of freedom (no scipy needed)
_T = {0.1: [3.078, 1.886, 1.638, 1.533, 1.476, 1.440, 1.415, 1.397, 1.383, 1.372],
      0.05: [6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812]}


def t_quantile(alpha: float, df: int) -> float:
    if alpha not in _T:
        raise ValueError(f"alpha must be one of {sorted(_T)}, got {alpha}")
    return _T[alpha][min(df, 10) - 1]


def paired(a: dict[int, float], b: dict[int, float]) -> tuple[list[int], list[float]]:
    """(shared seeds, a - b on each)."""
    seeds = sorted(set(a) & set(b))
    return seeds, [a[s] - b[s] for s in seeds]


def separated(a: dict[int, float], b: dict[int, float], alpha: float) -> int:
    """+1 if a is better than b by a one-sided paired t-test at `alpha`, -1 if b is, else 0."""
    _, d = paired(a, b)
    if len(d) < 2:
        return 0
    mean, sd = statistics.fmean(d), statistics.stdev(d)
    if sd == 0:
        return (mean > 0) - (mean < 0)
    t = mean / (sd / math.sqrt(len(d)))
    crit = t_quantile(alpha, len(d) - 1)
    return 1 if t > crit else -1 if t < -crit else 0


def interval(values: list[float], alpha: float = ALPHA) -> tuple[float, float]:
    """(mean, half-width of the two-sided 1 - 2*alpha t interval); half-width nan under 2 values."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, t_quantile(alpha, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def versus(mine: dict[int, float], theirs: dict[int, float], alpha: float) -> dict:
    """The pick's paired gap to another entrant over their shared seeds, with its interval and the
    paired test's verdict."""
    seeds, d = paired(mine, theirs)
    mean, half = interval(d, alpha) if d else (float("nan"), float("nan"))
    verdict = {1: "pick better", -1: "pick worse", 0: "tie"}[separated(mine, theirs, alpha)]
    return {"seeds": seeds, "gap": mean, "gap_half_width": half, "verdict": verdict}
