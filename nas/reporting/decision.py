"""The race's decision in words, for the command line and the report alike: the interval's label,
a cost-preferring pick against the best and the controls ("equivalent to the best within 0.1
points ..., 33% fewer parameters than exp3"), and the re-analysis of a recorded race under another
preference (the same ledger and rule, on the scores its rungs.json holds; nothing trains)."""
from __future__ import annotations

import math
import statistics

from nas.facts import ALPHA, COST_WORDS
from nas.schedule.ledger import Ledger, costs_of, outcome
from nas.schedule.race import interval_label
from nas.schedule.rungs import Job, Rung


def pm(half: float, alpha: float) -> str:
    """An interval's half-width with its true coverage; one seed has none (race.interval: nan)."""
    return "one seed: no interval" if math.isnan(half) else f"{interval_label(alpha)} +-{half:.3f}"


def seeds_text(seeds: list[int]) -> str:
    """0,1,2,3,4 -> "0-4"; anything not a run of seeds, comma-separated."""
    s = sorted(seeds)
    return f"{s[0]}-{s[-1]}" if len(s) > 2 and s == list(range(s[0], s[-1] + 1)) else ",".join(map(str, s))


def fewer(mine: float | None, theirs: float | None, cost: str, than: str) -> str:
    """"33% fewer parameters than exp3" ("" where either cost is unknown)."""
    if mine is None or not theirs:
        return ""
    share = 1 - mine / theirs
    how = "fewer" if share > 0 else "more"
    return (f"as many {COST_WORDS[cost]} as {than}" if round(100 * share) == 0
            else f"{abs(share):.0%} {how} {COST_WORDS[cost]} than {than}")


def ni_words(test: dict | None, alpha: float) -> str:
    """A non-inferiority test against the best, in words."""
    if test is None:
        return ""
    m = test["margin"]
    where = f"(one-sided paired t-test, alpha {alpha:g}, seeds {seeds_text(test['seeds'])}"
    if math.isnan(test["low"]):
        return f"not tested against the best: under 2 shared seeds {where})"
    bound = f"; minus the best {test['gap']:+.3f}, lower {1 - alpha:.0%} bound {test['low']:+.3f})"
    return {"non-inferior": f"equivalent to the best within {m:g} points {where}{bound}",
            "inferior": f"more than {m:g} points below the best {where}{bound}",
            "undecided": f"not shown within {m:g} points of the best {where}{bound}"}[test["verdict"]]


def control_words(test: dict | None, name: str, alpha: float) -> str:
    """The pick's non-inferiority test against a control, in words ("as good as exp3 within 0.1 points")."""
    return ni_words(test, alpha).replace("the best", name) if test else "not tested"


def decision_lines(o: dict) -> list[str]:
    """What a cost-preferring race decided on the race's seeds, in plain lines (none for an accuracy
    race): the pick against the best, its cost against the controls', the cheaper ones undecided."""
    prefer = o.get("prefer", "accuracy")
    if prefer == "accuracy":
        return []
    alpha, costs, words = o.get("alpha", ALPHA), o["costs"], COST_WORDS[prefer]
    mine = costs.get(o["pick"])
    count = f"{mine:,.0f} {words}" if mine is not None else f"{words} not reported"
    if o["pick"] == o["leader"]:
        line = (f"the best itself ({count}): no candidate with fewer {words} was shown within {o['margin']:g} "
                f"points of it (one-sided paired t-test, alpha {alpha:g})")
    else:
        line = f"{ni_words(o['equivalent'], alpha)}; {count}, " + fewer(mine, costs.get(o["leader"]), prefer, "the best")
    lines = [line]
    for name, v in o.get("controls", {}).items():
        less = fewer(mine, costs.get(f"control:{name}"), prefer, name)
        lines.append(f"against control {name}: " + control_words(v.get("equivalent"), name, alpha)
                     + (f"; {less}" if less else ""))
    cheaper = [v for v in o.get("tests", {}).values() if v["verdict"] == "undecided" and v["cost"] is not None
               and mine is not None and v["cost"] < mine]
    if cheaper:
        n = sorted(len(v["seeds"]) for v in cheaper)
        lines.append(f"{len(cheaper)} candidate(s) with fewer {words} still undecided after the seeds they trained "
                     f"({n[0]}" + (f" to {n[-1]}" if n[-1] != n[0] else "") + ")")
    return lines


def fresh_words(o: dict) -> str:
    """The non-inferiority test repeated on the fresh seeds ("" where the pick is the best itself)."""
    test = (o.get("fresh") or {}).get("equivalent")
    return ni_words(test, o.get("alpha", ALPHA)) if test else ""


def reanalysis(doc: dict, trials: list, prefer: str, margin: float) -> dict | None:
    """The outcome a recorded race's scores (`doc`: its rungs.json) give under `prefer` and `margin`,
    each network's costs from its trials' final results. Nothing trains: a cheaper candidate the
    race dropped has only the seeds it trained, which a race run with `prefer` would have extended."""
    rungs = [Rung(r["epochs"], r["images"], tuple(r["seeds"]), r["reading"]) for r in doc["rungs"]]
    led = Ledger(rungs, eta=doc["eta"], race_cap=doc["race_cap"], race_min=doc["race_min"], alpha=doc["alpha"],
                 fresh=doc.get("fresh", 0), controls=tuple(doc["controls"]), prefer=prefer, margin=margin,
                 candidates=doc["started"])
    finals = {}
    for t in trials:
        if t.final.get("key") is not None:
            finals.setdefault(t.final["key"], t.final)
    for j in doc["jobs"]:
        led.record(Job(j["key"], j["rung"], j["seed"]), j["score"], finals.get(j["key"]))
    return outcome(led)


def entrants(doc: dict, trials: list, cost: str) -> dict[str, dict]:
    """key -> {cost, acc, seeds} of every entrant of a recorded race at the full rung: `cost` from its
    trials' final results, acc its late-validation mean over the race's seeds (below the cap)."""
    last, cap = len(doc["rungs"]) - 1, doc.get("race_cap", float("inf"))
    scores: dict[str, list] = {}
    for j in doc["jobs"]:
        if j["rung"] == last and j["seed"] < cap and j["score"] is not None:
            scores.setdefault(j["key"], []).append(j["score"])
    finals = {}
    for t in trials:
        if t.final.get("key") is not None:
            finals.setdefault(t.final["key"], t.final)
    return {k: {"cost": costs_of(finals.get(k)).get(cost), "acc": statistics.fmean(v), "seeds": len(v)}
            for k, v in scores.items()}
