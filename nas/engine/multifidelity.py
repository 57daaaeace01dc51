"""The multi-fidelity schedule (`nas.schedule.rungs`) inside one NNI experiment: a strategy middleware and a
chain that runs it to the end.

`Rungs` is the chain's last middleware. The strategy above it (random, evolution, TPE) proposes
rung-0 candidates; `Rungs` gives each the evaluator of its rung and submits it, and submits every
later training itself: promotions, the hand-made controls and the race's seeds, each as its own NNI
trial (the dashboard lists them all; their final results carry key, rung, epochs, images, seed).
The strategy hears only its own candidates' rung-0 scores (the rung's reading, averaged over the
rung's seeds) and sees only its own models: promoted trials are this middleware's. A free worker
goes to due promotions first, then to a new candidate. The strategy stops once the planned number
of candidates has started; the chain (`nni_boundary.tolerant_chain(..., then=rungs.finish)`) then
keeps the schedule going until it is done.

On resume the ledger is rebuilt from the finished trials' final results, so no training is lost
and none repeated: NNI's `Replay` above answers the strategy's re-proposals, and promotions whose
trials finished are not submitted again.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution.event import ModelEventType
from nni.nas.space import ModelStatus

from nas import facts
from nas.atomic import write_text
from nas.config import asdict, parse_rungs
from nas.engine.trial import evaluate_model
from nas.errors import ConfigError
from nas.facts import FULL_IMAGES
from nas.nni_boundary import Trial
from nas.nni_boundary.middleware import ChainMiddleware
from nas.results.store import RUNGS_FILE  # the report reads it too
from nas.schedule.ledger import Ledger, outcome
from nas.schedule.plan import candidates_for, planned_image_epochs
from nas.schedule.rungs import Job
from nas.training.runs import load_arch
from search_spaces.choices import RECIPE_CHOICES, complete, network_key, recipe_labels

_log = logging.getLogger("nas.engine.multifidelity")
ENDED = (ModelStatus.Trained, ModelStatus.Failed, ModelStatus.Interrupted, ModelStatus.Invalid)


class Rungs(ChainMiddleware):
    """ASHA, controls and the race over NNI's engine (see the module docstring).

    `evaluator_for(job, sample)`: the evaluator a job trains with; `key`: a sample's network key;
    `controls`: control name -> its full sample; `on_change(ledger, job, final)`: called after every
    recorded result (final: the trial's final result, None if it had none)."""

    def __init__(self, ledger: Ledger, evaluator_for: Callable, key: Callable, controls: dict[str, dict],
                 on_change: Callable | None = None):
        super().__init__()
        self.ledger, self.evaluator_for, self.key, self.controls = ledger, evaluator_for, key, controls
        self.on_change = on_change
        self.lock = threading.RLock()
        self._upper: dict[int, object] = {}   # id -> a model the strategy submitted (rung 0)
        self._jobs: dict[int, Job] = {}        # id -> the job of every model submitted to the engine
        self._models: list = []                # strong references: the engine keeps weak ones
        self._finals: dict[int, dict] = {}     # id -> its final result, until its training ends
        self._ended: dict[int, object] = {}    # id -> end status of a training whose final result is late
        self._waiting: dict[str, list] = {}    # candidate key -> rung-0 models awaiting more seeds

    # wiring: our callbacks on the engine below (NNI's hooks: nas.nni_boundary.middleware)
    def on_engine(self, engine) -> None:
        engine.register_model_event_callback(ModelEventType.FinalMetric, self._on_final)
        engine.register_model_event_callback(ModelEventType.IntermediateMetric, self._on_intermediate)
        engine.register_model_event_callback(ModelEventType.TrainingEnd, self._on_end)

    def on_cleanup(self) -> None:
        pass  # the chain's `after` detaches it once the schedule is done (`detach`)

    def detach(self) -> None:
        self.engine.unregister_model_event_callback(ModelEventType.FinalMetric, self._on_final)
        self.engine.unregister_model_event_callback(ModelEventType.IntermediateMetric, self._on_intermediate)
        self.engine.unregister_model_event_callback(ModelEventType.TrainingEnd, self._on_end)

    def load_state_dict(self, state_dict: dict) -> None:
        pass  # the ledger comes from NNI's database at every resume

    def state_dict(self) -> dict:
        return {}

    # what the strategy above sees
    def list_models(self, status=None):
        for model in list(self._upper.values()):
            if status is None or model.status == status:
                yield model

    def budget_available(self) -> bool:
        with self.lock:
            more = len(self.ledger.started) < self.ledger.candidates
        return more and self.engine.budget_available()

    def idle_worker_available(self) -> bool:
        """A free worker goes to due work first; the strategy gets one only when nothing is due."""
        due = self.pump()
        return not due and self.engine.idle_worker_available()

    def wait_models(self, *models) -> None:
        """Evolution waits for its last individuals here: keep the schedule moving meanwhile."""
        targets = models or tuple(self._upper.values())
        while any(m.status not in ENDED for m in targets) and self.engine.budget_available():
            self.pump()
            time.sleep(1.0)

    def submit_models(self, *models) -> None:
        for model in models:
            key = self.key(model.sample)
            with self.lock:
                self._upper[id(model)] = model
                self.ledger.samples[key] = dict(model.sample)
                seeds = self.ledger.seeds_of(0)
                self._waiting[key] = [model]
                jobs = [Job(key, 0, s) for s in seeds]
                self._submit(jobs[0], model)
                for job in jobs[1:]:  # further rung-0 seeds train copies of the strategy's model
                    self._submit(job, self.model_space.freeze(model.sample))

    # scheduling
    def _submit(self, job: Job, model) -> None:
        model.evaluator = self.evaluator_for(job, model.sample)
        self.ledger.submit(job)
        self._jobs[id(model)] = job
        self._models.append(model)
        self.engine.submit_models(model)

    def _model_for(self, job: Job):
        if job.control:
            return self.model_space.freeze(self.controls[job.key.removeprefix("control:")])
        return self.model_space.freeze(self.ledger.samples[job.key])

    def pump(self) -> bool:
        """Submit due jobs while workers are free; True if due jobs remain waiting for a worker."""
        with self.lock:
            while True:
                due = self.ledger.next_jobs()
                if not due:
                    return False
                if not self.engine.idle_worker_available():
                    return True
                self._submit(due[0], self._model_for(due[0]))

    def finish(self, poll: float = 1.0) -> None:
        """After the strategy has stopped: run promotions, controls and the race to the end."""
        with self.lock:
            self.ledger.proposing = False  # the tracker plans no more candidates either
        while self.engine.budget_available():
            with self.lock:
                # no candidate comes any more: a plan the budget raised since must not hold the race
                self.ledger.candidates = min(self.ledger.candidates, len(self.ledger.started))
            self.pump()
            with self.lock:
                if self.ledger.done():
                    return
            time.sleep(poll)

    # events from the engine (NNI's listener thread)
    def _on_intermediate(self, event) -> None:
        if id(event.model) in self._upper:
            event.prevent_default()
            self.dispatch_model_event(ModelEventType.IntermediateMetric, model=event.model, metric=event.metric)

    def _on_final(self, event) -> None:
        model = event.model
        self._finals[id(model)] = event.metric if isinstance(event.metric, dict) else {"default": event.metric}
        if id(model) in self._upper:
            event.prevent_default()  # the strategy hears the rung score, once the candidate's rung is done
        if id(model) in self._ended:  # NNI can announce a trial's end before its final result
            self._conclude(model, self._ended.pop(id(model)))

    def _on_end(self, event) -> None:
        model = event.model
        if id(model) not in self._jobs:
            return
        if id(model) in self._upper:
            event.prevent_default()
        if event.status == ModelStatus.Trained and id(model) not in self._finals:
            self._ended[id(model)] = event.status  # its final result is on the way: conclude then
            return
        self._conclude(model, event.status)

    def _conclude(self, model, status) -> None:
        """Record a training's end in the ledger; tell the strategy if a candidate's rung 0 is done."""
        job = self._jobs[id(model)]
        final = self._finals.pop(id(model), None)
        ok = status == ModelStatus.Trained and final is not None and final.get("score") is not None
        answer = None
        with self.lock:
            self.ledger.record(job, final["score"] if ok else None)
            if job.rung == 0 and not job.control:
                answer = self._answer(job.key)
            if self.on_change is not None:
                try:
                    self.on_change(self.ledger, job, final)
                except Exception:  # a progress line or a file must not stop the schedule
                    _log.exception("recording the schedule's progress")
        if answer is not None:  # outside the lock: the strategy's callbacks take locks of their own
            self._tell_strategy(*answer)

    def _answer(self, key: str):
        """(model, status, score) once a candidate's rung-0 seeds have all ended, else None."""
        waiting = self._waiting.get(key)
        if not waiting:
            return None
        got = self.ledger.seed_scores(key, 0)
        if self.ledger.dead(key):
            status, score = ModelStatus.Failed, None
        elif all(s in got for s in self.ledger.seeds_of(0)):
            status, score = ModelStatus.Trained, self.ledger.finished(0)[key]
        else:
            return None
        del self._waiting[key]
        return waiting[0], status, score

    def _tell_strategy(self, model, status, score) -> None:
        if score is not None:
            self.dispatch_model_event(ModelEventType.FinalMetric, model=model, metric={"default": score})
        self.dispatch_model_event(ModelEventType.TrainingEnd, model=model, status=status)


# building it for a search

OVERHEAD_S = 7.0          # a trial's start and hand-over, per trial (bench/RESULTS.md: trial overhead)
PRIOR_S_PER_IMAGE_EPOCH = 1 / 1500  # one thread, before the search has measured its own (bench: ~8k models)


def resolve_controls(text: str, max_params: int, fixed: dict, search_recipe: bool = False) -> dict[str, dict]:
    """name -> full sample of each control ("auto", "none", or comma-separated baseline names or
    arch.json paths). A control outside the search's fixed labels cannot be frozen by the space, nor
    one with recipe labels by a space without them (`search_recipe`: the search has them)."""
    names = facts.default_controls(max_params) if text == "auto" else [] if text in ("none", "") else \
        [n.strip() for n in text.split(",") if n.strip()]
    # pinned recipe labels (--search-recipe --fix lr_x=2) are the search's recipe: the controls train with it too
    pinned = {k: v for k, v in fixed.items() if k in RECIPE_CHOICES}
    out = {}
    for spec in names:
        name, arch, _ = load_arch(spec)
        if not search_recipe and (own := recipe_labels(arch)):
            raise ConfigError(f"control {name} has recipe labels {own}; race it in a search with --search-recipe")
        sample = complete({**arch, **pinned})
        clash = {k: v for k, v in fixed.items() if sample.get(k) != v}
        if clash:
            raise ConfigError(f"control {name} has {clash} outside the search's fixed labels; "
                              f"pass --controls none or other controls")
        out[name] = sample
    return out


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
               "fresh": led.fresh,
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
            parts.append(f"fresh seeds: {ended}/{led.fresh * (1 + len(led.controls))} trained")
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
    """Put the ended trials of earlier sessions into the ledger (and the tracker's costs); return what
    `Replay` answers the strategy's re-proposals with: one record per rung-0 candidate, scored with
    its rung score, or failed."""
    for t in trials:
        job = job_of(t.final)
        if job is None:
            continue
        ok = t.status == "SUCCEEDED" and t.final.get("score") is not None
        ledger.record(job, t.final["score"] if ok else None)
        if not job.control and t.sample:
            ledger.samples.setdefault(job.key, dict(t.sample))
        if tracker is not None:
            tracker.add(job, t.final)
    done0 = ledger.finished(0)
    return [Trial(f"rung0:{key}", "SUCCEEDED" if key in done0 else "FAILED", sample,
                  {"default": done0[key]} if key in done0 else {}, [])
            for key, sample in ledger.samples.items() if key in done0 or ledger.dead(key)]


def build_rungs(search, train, data_dir: str, workdir, exp_id: str, fixed: dict, finished: list, log=None):
    """(the Rungs middleware, Replay's records, the tracker) of a multi-fidelity search; `finished`:
    the ended trials of earlier sessions (a resume)."""
    rungs = parse_rungs(search.rungs)
    controls = resolve_controls(search.controls, search.max_params, fixed, search.search_recipe)
    ledger = Ledger(rungs, eta=search.eta, race_cap=search.race_cap, race_min=search.race_min,
                    alpha=search.alpha, fresh=search.fresh_seeds, controls=tuple(controls), candidates=search.trials)
    folder = Path(workdir) / exp_id
    tracker = Tracker(folder, ledger, train.threads or 1, search.cpu_hours, log, search.concurrency)
    replay = restore(ledger, finished, tracker)
    tracker.resize()  # from the costs measured so far (a resume restored them), if there is a budget

    def evaluator_for(job: Job, sample: dict):
        rung = rungs[job.rung]
        cfg = dataclasses.replace(train, epochs=rung.epochs, seed=job.seed,
                                  train_subset=0 if rung.images >= FULL_IMAGES else rung.images)
        info = {"key": job.key, "rung": job.rung, "seed": job.seed, "epochs": rung.epochs, "images": rung.images,
                "reading": rung.reading, "control": job.key.removeprefix("control:") if job.control else None}
        return FunctionalEvaluator(evaluate_model, config=asdict(cfg), data_dir=data_dir, early_stop=None, job=info)

    middleware = Rungs(ledger, evaluator_for, network_key, controls, on_change=tracker)
    return middleware, replay, tracker
