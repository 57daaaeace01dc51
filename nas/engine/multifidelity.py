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

A candidate's last-rung training of seed 0 (`KEPT_SEED`) keeps its weights in its trial folder:
the export hands them over (nas.deploy.export).

On resume the ledger is rebuilt from the finished trials' final results, so no training is lost
and none repeated: NNI's `Replay` above answers the strategy's re-proposals, and promotions whose
trials finished are not submitted again.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.execution.event import ModelEventType
from nni.nas.space import ModelStatus

from nas.config import asdict, parse_rungs
from nas.engine.controls import resolve_controls
from nas.engine.tracker import Tracker, restore
from nas.engine.trial import evaluate_model
from nas.facts import FULL_IMAGES
from nas.nni_boundary.middleware import ChainMiddleware
from nas.schedule.ledger import Ledger
from nas.schedule.rungs import Job
from search_spaces.choices import network_key

_log = logging.getLogger("nas.engine.multifidelity")
ENDED = (ModelStatus.Trained, ModelStatus.Failed, ModelStatus.Interrupted, ModelStatus.Invalid)
# the seed whose last-rung weights a candidate keeps, for the export: fixed before the race, so the
# handed-over network is not the luckiest of its seeds
KEPT_SEED = 0


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
            self.ledger.record(job, final["score"] if ok else None, final)
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


def build_rungs(search, train, data_dir: str, workdir, exp_id: str, fixed: dict, finished: list, log=None):
    """(the Rungs middleware, Replay's records, the tracker) of a multi-fidelity search; `finished`:
    the ended trials of earlier sessions (a resume)."""
    rungs = parse_rungs(search.rungs)
    controls = resolve_controls(search.controls, search.max_params, fixed, search.search_recipe)
    ledger = Ledger(rungs, eta=search.eta, race_cap=search.race_cap, race_min=search.race_min,
                    alpha=search.alpha, fresh=search.fresh_seeds, controls=tuple(controls), candidates=search.trials,
                    prefer=search.prefer, margin=search.margin)
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
        keep = job.rung == len(rungs) - 1 and job.seed == KEPT_SEED and not job.control
        return FunctionalEvaluator(evaluate_model, config=asdict(cfg), data_dir=data_dir, early_stop=None, job=info,
                                   keep_weights=keep)

    middleware = Rungs(ledger, evaluator_for, network_key, controls, on_change=tracker)
    return middleware, replay, tracker
