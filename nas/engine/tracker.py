"""The CPU-hour tracker of a multi-fidelity search: after every recorded training it counts the CPU
time spent, sizes the rung-0 candidates to the budget at the measured cost, prints the progress
line and writes `rungs.json` (the ledger, for the report and for resume); and the restore of a
resumed search's ledger from its trials' final results."""
from __future__ import annotations

import json
import time

from nas.atomic import write_text
from nas.nni_boundary import Trial
from nas.results.store import RUNGS_FILE  # the report reads it too
from nas.schedule.ledger import Ledger, outcome
from nas.schedule.plan import candidates_for, planned_image_epochs
from nas.schedule.rungs import Job


OVERHEAD_S = 7.0          # a trial's start and hand-over, per trial (bench/RESULTS.md: trial overhead)
PRIOR_S_PER_IMAGE_EPOCH = 1 / 1500  # one thread, before the search has measured its own (bench: ~8k models)


class Tracker:
    """After every recorded training: spent CPU time, the rung-0 candidates the budget allows at the
    measured cost, a progress line, and `rungs.json` (the ledger, for the report and for resume)."""

    def __init__(self, folder, ledger: Ledger, threads: int, cpu_hours: float, log=None, workers: int = 1):
        self.folder, self.ledger, self.threads, self.cpu_hours, self.log = folder, ledger, threads, cpu_hours, log
        self.workers = workers  # trials at once: CPU time left / workers is the wall time left
        self.spent_s = 0.0
        self.image_epochs = 0.0
        self.jobs = 0
        self.started_at = time.time()
        self.spent_before = 0.0

    def add(self, job: Job, final: dict | None) -> None:
        rung = self.ledger.rungs[job.rung]
        final = final or {}
        # the trial's CPU time where it reports one: its wall time x threads counts a concurrent load too
        cpu = final.get("cpu_seconds")
        self.spent_s += (cpu if cpu is not None else (final.get("seconds") or 0.0) * self.threads) \
            + OVERHEAD_S * self.threads
        self.image_epochs += rung.epochs * rung.images
        self.jobs += 1

    def rate(self) -> float:
        return self.spent_s / self.image_epochs if self.jobs >= 3 and self.image_epochs else PRIOR_S_PER_IMAGE_EPOCH

    def shares(self) -> list[float | None]:
        return [self.ledger.promoted_share(k) for k in range(len(self.ledger.rungs) - 1)]

    def resize(self) -> None:
        """Plan as many rung-0 candidates as the budget allows at the measured cost and promotion
        shares; once the budget is spent, the strategy has stopped or the race has begun, start no
        more (what has started finishes its schedule)."""
        if not self.cpu_hours:
            return
        led = self.ledger
        if self.spent_s >= self.cpu_hours * 3600 or led.plan_final():
            led.candidates = len(led.started)
            return
        n = candidates_for(self.cpu_hours * 3600, self.rate(), led.rungs, led.eta, led.race_cap,
                           len(led.controls), self.shares(), led.fresh)
        led.candidates = max(len(led.started), n)

    def save(self) -> None:
        led = self.ledger
        doc = {"rungs": [dict(epochs=r.epochs, images=r.images, seeds=list(r.seeds), reading=r.reading)
                         for r in led.rungs],
               "eta": led.eta, "race_cap": led.race_cap, "race_min": led.race_min, "alpha": led.alpha,
               "fresh": led.fresh, "prefer": led.prefer, "margin": led.margin, "costs": led.costs,
               "controls": list(led.controls), "candidates": led.candidates, "started": len(led.started),
               "spent_cpu_hours": round(self.spent_s / 3600, 3), "budget_cpu_hours": self.cpu_hours,
               "jobs": [dict(key=j.key, rung=j.rung, seed=j.seed, score=led.scores.get(j))
                        for j in sorted(led.submitted, key=lambda j: (j.rung, j.key, j.seed))
                        if j in led.scores or j in led.failed],
               "samples": led.samples, "outcome": outcome(led) if led.done() else None}
        write_text(self.folder / RUNGS_FILE, json.dumps(doc, indent=1, default=str) + "\n")

    def planned_s(self) -> float:
        """CPU-seconds the whole schedule takes at the measured cost and promotion shares."""
        led = self.ledger
        return planned_image_epochs(led.rungs, led.candidates, led.eta, led.race_cap, len(led.controls),
                                    self.shares(), led.fresh) * self.rate()

    def left_s(self) -> float:
        """CPU-seconds left: the plan less what is spent; in the race, its round's trainings not yet
        ended and, at most, as many in each round to the cap, then the fresh seeds; after the race,
        the fresh seeds not yet ended."""
        led = self.ledger
        full = led.rungs[-1].epochs * led.rungs[-1].images * self.rate()
        fresh = led.fresh * (1 + len(led.controls))
        if led.race_over():
            return sum(not led.ended(Job(k, led.last, s)) for k in led.fresh_members() for s in led.fresh_seeds()) * full
        current = led.race_round()
        if current is None:
            return max(0.0, self.planned_s() - self.spent_s)
        seed, members = current
        unended = [k for k in members if not led.ended(Job(k, led.last, seed))]
        return (len(unended) + max(0, led.race_cap - seed - 1) * len(members) + fresh) * full

    def progress(self) -> str:
        """One line: each rung's finished / started candidates, the race's round, CPU time spent, and
        a guess of the time left (CPU time left over the trials running at once)."""
        led = self.ledger
        parts = []
        for k in range(len(led.rungs)):
            done = len(led.finished(k))
            going = len({j.key for j in led.submitted if j.rung == k and not j.control})
            parts.append(f"rung {k}: {done}/{going}")
        current = led.race_round()
        if current is not None:
            parts.append(f"race: seed {current[0]}, {len(current[1])} entrants")
        elif led.fresh and led.race_over():
            ended = sum(1 for j in led.scores.keys() | led.failed if j.rung == led.last and j.seed in led.fresh_seeds())
            parts.append(f"fresh seeds: {ended}/{led.fresh * len(led.fresh_members())} trained")
        spent = self.spent_s / 3600
        left = self.left_s() / 3600 / max(1, self.workers * self.threads)
        return (f"[rungs] {'  '.join(parts)}  (of {led.candidates} candidates); {spent:.2f} CPU-h spent"
                + (f" of {self.cpu_hours:g}" if self.cpu_hours else "") + f"; about {left:.1f} h left")

    def __call__(self, ledger: Ledger, job: Job, final: dict | None) -> None:
        self.add(job, final)
        self.resize()
        self.save()
        if self.log is not None:
            self.log(self.progress())


def job_of(final: dict) -> Job | None:
    """The job a trial trained, from its final result (None for a trial of a flat search)."""
    if not final or "rung" not in final or "key" not in final:
        return None
    return Job(final["key"], int(final["rung"]), int(final["seed"]))


def restore(ledger: Ledger, trials: list, tracker: Tracker | None = None) -> list:
    """Put the ended trials of earlier sessions into the ledger (their scores and the networks' costs,
    and the tracker's CPU costs); return what `Replay` answers the strategy's re-proposals with: one
    record per rung-0 candidate, scored with its rung score, or failed."""
    for t in trials:
        job = job_of(t.final)
        if job is None:
            continue
        ok = t.status == "SUCCEEDED" and t.final.get("score") is not None
        ledger.record(job, t.final["score"] if ok else None, t.final)
        if not job.control and t.sample:
            ledger.samples.setdefault(job.key, dict(t.sample))
        if tracker is not None:
            tracker.add(job, t.final)
    done0 = ledger.finished(0)
    return [Trial(f"rung0:{key}", "SUCCEEDED" if key in done0 else "FAILED", sample,
                  {"default": done0[key]} if key in done0 else {}, [])
            for key, sample in ledger.samples.items() if key in done0 or ledger.dead(key)]
