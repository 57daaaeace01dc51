"""The schedule's state and its verdict: the `Ledger` holds every score by job, each network's
costs, what has been submitted and the controls, and decides what trains next (promotions, the
race's rounds, the fresh seeds); `outcome` reads the race's result off it. The rules are those of
nas/schedule/rungs.py.

What the race picks (`prefer`): "accuracy", its leader (the best late-validation mean); or a cost
(params, flash, ram, macs), the cheapest candidate non-inferior to the leader within `margin`
points (race.non_inferior over their shared seeds), ties to the higher mean. Such a race gives the
next seed also to every candidate cheaper than the current pick whose non-inferiority is still
undecided, within the same cap: a cheaper network is not left out for want of seeds while the race
can still afford them. The fresh seeds go to the pick, the leader (the test is repeated there) and
the controls."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from nas.facts import ALPHA, COST_KEYS, ETA, MARGIN, PREFER, RACE_CAP, RACE_MIN
from nas.schedule.race import interval, non_inferior, separated, versus
from nas.schedule.rungs import Job, Rung


@dataclass
class Ledger:
    """Scores by job, what has been submitted, and the controls; all the state a search keeps.
    Rebuilt on resume from the trials' final results (each carries key, rung and seed)."""
    rungs: list[Rung]
    eta: int = ETA
    race_cap: int = RACE_CAP            # most seeds any entrant trains at the last rung
    race_min: int = RACE_MIN            # the leader and the controls train at least this many
    fresh: int = 0                 # after the race, the pick and the controls train this many seeds
                                   # no entrant has trained: gaps there are free of the race's selection
    alpha: float = ALPHA           # the paired test's level
    controls: tuple[str, ...] = ()
    prefer: str = "accuracy"       # what the race picks (nas.facts.PREFER)
    margin: float = MARGIN         # points below the leader a cost-preferring pick may be
    candidates: int = 0            # rung-0 candidates planned (the budget may lower it as it learns)
    scores: dict[Job, float] = field(default_factory=dict)
    failed: set = field(default_factory=set)       # jobs that ended without a score
    submitted: set = field(default_factory=set)    # jobs sent to training (running or done)
    started: list = field(default_factory=list)    # rung-0 candidates, in order
    samples: dict = field(default_factory=dict)    # candidate key -> its full sample (for promotions)
    costs: dict = field(default_factory=dict)      # network key -> {cost: value}, as its trials reported them
    proposing: bool = True         # the strategy may still start candidates (False once it has stopped)

    @property
    def last(self) -> int:
        return len(self.rungs) - 1

    def submit(self, job: Job) -> None:
        self.submitted.add(job)
        if job.rung == 0 and not job.control and job.key not in self.started:
            self.started.append(job.key)

    def __post_init__(self):
        if self.prefer not in PREFER:
            raise ValueError(f"prefer must be one of {', '.join(PREFER)}, got {self.prefer!r}")

    def record(self, job: Job, score: float | None, final: dict | None = None) -> None:
        """A job's end: its score, or None when it failed; `final`, its trial's final result, gives
        the network's costs (a resumed search reads them from the same records)."""
        self.submit(job)
        if got := costs_of(final):
            self.costs.setdefault(job.key, {}).update(got)
        if score is None:
            self.failed.add(job)
        else:
            self.scores[job] = score

    def ended(self, job: Job) -> bool:
        """The job has a score or has failed."""
        return job in self.scores or job in self.failed

    def seed_scores(self, key: str, rung: int) -> dict[int, float]:
        return {j.seed: s for j, s in self.scores.items() if j.key == key and j.rung == rung}

    def seeds_of(self, rung: int) -> tuple[int, ...]:
        return self.rungs[rung].seeds

    def finished(self, rung: int) -> dict[str, float]:
        """{key: rung score} of the candidates with every seed of the rung scored (controls excluded)."""
        keys = {j.key for j in self.scores if j.rung == rung and not j.control}
        out = {}
        for k in keys:
            got = self.seed_scores(k, rung)
            if all(s in got for s in self.seeds_of(rung)):
                out[k] = statistics.fmean(got[s] for s in self.seeds_of(rung))
        return out

    def dead(self, key: str) -> bool:
        """A candidate with a failed job is out of the schedule (it cannot be scored). A failed fresh
        seed is not such a job: the race has chosen by then, and the pick stands."""
        fresh = set(self.fresh_seeds())
        return any(j.key == key and not (j.rung == self.last and j.seed in fresh) for j in self.failed)

    def promotions(self) -> list[Job]:
        """The jobs of every promotion due now, highest rung first (ASHA's rule)."""
        jobs: list[Job] = []
        for k in range(self.last - 1, -1, -1):
            done = self.finished(k)
            best = sorted(done, key=lambda key: -done[key])[:len(done) // self.eta]
            # a candidate once promoted stays promoted, even if later results push it out of the
            # top: its remaining seeds at the next rung are still due
            best += sorted({j.key for j in self.submitted if j.rung == k + 1 and not j.control} - set(best))
            for key in best:
                if self.dead(key):
                    continue
                for seed in self.seeds_of(k + 1):
                    job = Job(key, k + 1, seed)
                    if job not in self.submitted:
                        jobs.append(job)
        return jobs


    def entrants(self) -> list[str]:
        """Candidates at the last rung and the controls (once any candidate is there)."""
        cands = sorted({j.key for j in self.submitted if j.rung == self.last and not j.control})
        return cands + ([f"control:{c}" for c in self.controls] if cands else [])

    def last_scores(self, key: str, upto: int | None = None) -> dict[int, float]:
        """Seed -> score at the last rung (only seeds below `upto`, if given)."""
        return {k: v for k, v in self.seed_scores(key, self.last).items() if upto is None or k < upto}

    def closed(self) -> bool:
        """No candidate can reach the last rung any more: every rung-0 candidate has started, and
        every job below the last rung has ended with no promotion due. The race waits for this, so
        that every candidate enters it with the same seeds."""
        below = [j for j in self.submitted if j.rung < self.last]
        return (len(self.started) >= self.candidates and all(self.ended(j) for j in below)
                and not self.promotions())

    def leader(self, upto: int | None = None) -> str | None:
        """The best mean at the last rung among the candidates still in the race: those with every
        seed (below `upto`); a candidate the race separated stops getting seeds."""
        done = {k: self.last_scores(k, upto) for k in self.entrants() if not k.startswith("control:") and not self.dead(k)}
        done = {k: v for k, v in done.items() if v}
        if not done:
            return None
        most = max(len(v) for v in done.values())
        return max((k for k, v in done.items() if len(v) == most), key=lambda k: (statistics.fmean(done[k].values()), k))

    def racing(self, upto: int | None = None) -> list[str]:
        """Entrants still racing the leader (on the seeds below `upto`): candidates with all of its
        seeds and every control, not separated from it by the paired test."""
        lead = self.leader(upto)
        if lead is None:
            return []
        mine = self.last_scores(lead, upto)
        return [k for k in self.entrants() if k != lead and not self.dead(k)
                and (k.startswith("control:") or len(self.last_scores(k, upto)) == len(mine))
                and separated(mine, self.last_scores(k, upto), self.alpha) == 0]

    def round_members(self, seed: int) -> list[str]:
        """Who trains race seed `seed`, decided on the scores of the seeds below it alone (so a resumed
        search decides the same): the leader, every candidate not separated from it and every
        control; nobody once all are separated (and the leader has `race_min` seeds) or at the cap."""
        if seed >= self.race_cap:
            return []
        lead, rivals = self.leader(seed), self.racing(seed)
        cheaper = self.cheaper_undecided(seed)
        if lead is None or (not rivals and not cheaper and seed >= self.race_min):
            return []
        return [lead] + [k for k in self.entrants() if not self.dead(k)
                         and (k in rivals or k in cheaper or k.startswith("control:"))]

    def cost(self, key: str) -> float | None:
        """The network's cost that the race prefers low (None: accuracy, or not reported)."""
        return None if self.prefer == "accuracy" else (self.costs.get(key) or {}).get(self.prefer)

    def tests(self, upto: int | None = None) -> dict[str, dict]:
        """key -> the non-inferiority test against the leader (on the seeds below `upto`) of every live
        candidate at the last rung but the leader."""
        lead = self.leader(upto)
        if lead is None:
            return {}
        mine = self.last_scores(lead, upto)
        return {k: non_inferior(self.last_scores(k, upto), mine, self.margin, self.alpha) for k in self.entrants()
                if k != lead and not k.startswith("control:") and not self.dead(k) and self.last_scores(k, upto)}

    def pick(self, upto: int | None = None) -> str | None:
        """The race's choice on the seeds below `upto`: the leader, or with a cost preferred, the
        cheapest of the leader and the candidates shown non-inferior to it, ties to the higher mean;
        the leader where its cost is not reported (nothing can be shown cheaper than it)."""
        lead = self.leader(upto)
        if lead is None or self.prefer == "accuracy" or self.cost(lead) is None:
            return lead
        fit = [lead] + [k for k, v in self.tests(upto).items() if v["verdict"] == "non-inferior"
                        and self.cost(k) is not None]
        return min(fit, key=lambda k: (self.cost(k), -statistics.fmean(self.last_scores(k, upto).values()), k))

    def cheaper_undecided(self, upto: int | None = None) -> list[str]:
        """With a cost preferred: candidates with every seed of the leader (below `upto`), cheaper than
        the current pick, whose non-inferiority is undecided; they race on."""
        pick = self.pick(upto)
        if self.prefer == "accuracy" or pick is None or self.cost(pick) is None:
            return []
        most = len(self.last_scores(self.leader(upto), upto))
        return [k for k, v in self.tests(upto).items() if v["verdict"] == "undecided"
                and self.cost(k) is not None and self.cost(k) < self.cost(pick) and len(v["seeds"]) == most]

    def race_round(self) -> tuple[int, list[str]] | None:
        """(seed, members) of the race's round in progress, or next to start; None before the race
        (lower rungs not closed, base seeds still training) and once it is over."""
        if not self.closed() or not self.base_ended():
            return None  # base seeds first (promotions and controls)
        seed = len(self.seeds_of(self.last))
        while True:
            members = self.round_members(seed)
            if not members:
                return None  # the race is over
            if not all(self.ended(Job(k, self.last, seed)) for k in members):
                return seed, members
            seed += 1

    def base_ended(self) -> bool:
        """Every live entrant has ended the last rung's base seeds."""
        ents = [k for k in self.entrants() if not self.dead(k)]
        return bool(ents) and all(self.ended(Job(k, self.last, s)) for k in ents for s in self.seeds_of(self.last))

    def race_over(self) -> bool:
        """The race has ended: the lower rungs are closed, the base seeds have ended and no round is
        due (its leader is the pick)."""
        return self.closed() and self.base_ended() and self.race_round() is None

    def race_begun(self) -> bool:
        """A seed past the last rung's own has gone to training: the race (or its fresh seeds) has
        begun. Seen in the trials themselves, so a resumed search knows it too."""
        base = set(self.seeds_of(self.last))
        return any(j.rung == self.last and j.seed not in base for j in self.submitted)

    def plan_final(self) -> bool:
        """No rung-0 candidate may start any more: the strategy has stopped, or the race has begun
        (a candidate starting then would enter the race without the seeds its rivals trained)."""
        return not self.proposing or self.race_begun()

    def fresh_seeds(self) -> tuple[int, ...]:
        """Seeds above the race's cap: no entrant trained them while the race chose."""
        return tuple(range(self.race_cap, self.race_cap + self.fresh))

    def fresh_members(self) -> list[str]:
        """Who trains the fresh seeds: the race's pick, the leader where it is another network (the
        non-inferiority test is repeated there) and every control."""
        pick, lead = self.pick(self.race_cap), self.leader(self.race_cap)
        return [pick] + ([lead] if lead != pick else []) + [f"control:{c}" for c in self.controls]

    def fresh_jobs(self) -> list[Job]:
        """Once the race is over: the pick's and every control's fresh seeds not yet submitted."""
        if not self.fresh or not self.race_over():
            return []
        return [Job(k, self.last, s) for s in self.fresh_seeds() for k in self.fresh_members()
                if Job(k, self.last, s) not in self.submitted]

    def race_jobs(self) -> list[Job]:
        """The jobs of the race's current round not yet submitted."""
        current = self.race_round()
        if current is None:
            return []
        seed, members = current
        return [Job(k, self.last, seed) for k in members if Job(k, self.last, seed) not in self.submitted]

    def promoted_share(self, rung: int) -> float | None:
        """The share of rung `rung`'s finished candidates promoted so far (None under 3 * eta finished).
        Asynchronous promotion takes more than 1/eta: early on, the best third of a few."""
        done = len(self.finished(rung))
        if done < 3 * self.eta:
            return None
        return len({j.key for j in self.submitted if j.rung == rung + 1 and not j.control}) / done

    def control_jobs(self) -> list[Job]:
        """The controls' base seeds at the last rung, once a candidate has reached it."""
        if not any(j.rung == self.last and not j.control for j in self.submitted):
            return []
        return [Job(f"control:{c}", self.last, s) for c in self.controls for s in self.seeds_of(self.last)
                if Job(f"control:{c}", self.last, s) not in self.submitted]

    def next_jobs(self) -> list[Job]:
        """What to train next, most urgent first: promotions, controls, race seeds, fresh seeds."""
        return self.promotions() + self.control_jobs() + self.race_jobs() + self.fresh_jobs()

    def done(self) -> bool:
        """All `candidates` rung-0 candidates started and nothing more is due or running."""
        running = [j for j in self.submitted if not self.ended(j)]
        return len(self.started) >= self.candidates and not running and not self.next_jobs()


def costs_of(final: dict | None) -> dict[str, float]:
    """The costs a trial's final result reports ({} for none): each of nas.facts.COST_KEYS, read from
    the first of its keys the result holds."""
    final = final or {}
    out = {}
    for cost, keys in COST_KEYS.items():
        value = next((final[k] for k in keys if final.get(k) is not None), None)
        if value is not None:
            out[cost] = value
    return out


def outcome(ledger: Ledger) -> dict | None:
    """The pick at the last rung, its late-validation mean with its interval (race.interval_label),
    and its paired gap to the runner-up (the leader, when a cost preferred another pick) and to each
    control (a tie when the race could not separate them), all on the race's seeds; with a cost
    preferred, its non-inferiority test against the leader, every candidate's test and the costs;
    then, once trained, the pick against each control (and the leader) on the fresh seeds alone."""
    cap, alpha = ledger.race_cap, ledger.alpha
    lead, pick = ledger.leader(cap), ledger.pick(cap)
    if lead is None:
        return None
    mine = ledger.last_scores(pick, cap)
    others = [k for k in ledger.entrants() if k != pick and not k.startswith("control:") and ledger.last_scores(k, cap)]
    runner = lead if lead != pick else \
        max(others, key=lambda k: statistics.fmean(ledger.last_scores(k, cap).values())) if others else None
    controls = [k for k in ledger.entrants() if k.startswith("control:") and ledger.last_scores(k, cap)]
    mean, half = interval(list(mine.values()), alpha)
    out = {"pick": pick, "seeds": sorted(mine), "mean": mean, "half_width": half, "alpha": alpha,
           "prefer": ledger.prefer,
           "runner_up": ({"key": runner, **versus(mine, ledger.last_scores(runner, cap), alpha)} if runner else None),
           "controls": {k.removeprefix("control:"): versus(mine, ledger.last_scores(k, cap), alpha) for k in controls}}
    if ledger.prefer != "accuracy":
        tests = ledger.tests(cap)
        out.update(margin=ledger.margin, leader=lead, equivalent=tests.get(pick),
                   costs={k: ledger.cost(k) for k in [pick, lead, *controls]},
                   tests={k: {"cost": ledger.cost(k), "mean": statistics.fmean(ledger.last_scores(k, cap).values()),
                              **v} for k, v in tests.items()})
        for k in controls:  # "as good as exp3, and smaller": the same test, the control as the reference
            out["controls"][k.removeprefix("control:")]["equivalent"] = non_inferior(
                mine, ledger.last_scores(k, cap), ledger.margin, alpha)
    fresh = set(ledger.fresh_seeds())

    def fresh_of(key: str) -> dict[int, float]:
        return {s: v for s, v in ledger.last_scores(key).items() if s in fresh}

    new = fresh_of(pick)
    if new:
        mean, half = interval(list(new.values()), alpha)
        out["fresh"] = {"seeds": sorted(new), "mean": mean, "half_width": half,
                        "controls": {k.removeprefix("control:"): versus(new, fresh_of(k), alpha) for k in controls}}
        if ledger.prefer != "accuracy":
            for k in controls:
                out["fresh"]["controls"][k.removeprefix("control:")]["equivalent"] = non_inferior(
                    new, fresh_of(k), ledger.margin, alpha)
        if lead != pick:
            out["fresh"]["equivalent"] = non_inferior(new, fresh_of(lead), ledger.margin, alpha)
    return out
