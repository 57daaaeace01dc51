"""The race's statistics: a one-sided paired t-test between two entrants over their shared seeds,
the non-inferiority test of a candidate against the leader within a margin, the interval of a mean,
and the pick's gap to another entrant. Plain Python, no scipy.

Every interval here is the two-sided 1 - 2*alpha t interval (80% at the race's alpha 0.1): its
bounds are the one-sided tests' at alpha, so a gap's interval excludes 0 exactly when the race
separates the pair, and its lower bound clears -margin exactly when the candidate is non-inferior.
`coverage` says which, and every printed interval is labelled with it."""
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


def coverage(alpha: float = ALPHA) -> float:
    """The two-sided coverage of `interval` at `alpha`."""
    return 1 - 2 * alpha


def interval_label(alpha: float = ALPHA) -> str:
    """How an interval at `alpha` is named wherever it is printed: "80% interval" at alpha 0.1."""
    return f"{round(100 * coverage(alpha))}% interval"


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
    verdict = ({1: "pick better", -1: "pick worse", 0: "tie"}[separated(mine, theirs, alpha)] if len(d) >= 2
               else "not tested (under 2 shared seeds)")
    return {"seeds": seeds, "gap": mean, "gap_half_width": half, "verdict": verdict}


def non_inferior(cand: dict[int, float], lead: dict[int, float], margin: float, alpha: float) -> dict:
    """Is `cand` at most `margin` points below `lead`? A one-sided paired t-test over their shared
    seeds, H0: lead - cand >= margin, at `alpha`; the verdict "non-inferior" when it is rejected,
    "inferior" when the mirror test shows lead - cand > margin, else "undecided" (and with under 2
    shared seeds). `gap` is cand - lead, `low` its one-sided lower 1 - alpha bound."""
    seeds, d = paired(cand, lead)
    out = {"seeds": seeds, "gap": statistics.fmean(d) if d else float("nan"), "low": float("nan"),
           "margin": margin, "verdict": "undecided"}
    if len(d) < 2:
        return out
    half = t_quantile(alpha, len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))
    low, high = out["gap"] - half, out["gap"] + half
    out["low"] = low
    out["verdict"] = "non-inferior" if low > -margin else "inferior" if high < -margin else "undecided"
    return out
