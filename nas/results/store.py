"""The results model: one results root, and what its run folders and searches hold, read back.

    <root>/searches/<id>/   an NNI experiment (nas.json: how it was launched; NNI's own files)
    <root>/exports/<id>/    its exported architectures (arch.json, model.py, table.txt)
    <root>/rerank/<id>/     its second stage: a run folder per candidate and rerank.json
    <root>/recipe/<name>/   a recipe study: a run folder per variant, study.json and pick.json
    <root>/runs/<name>/     `nas train`; baselines*/ and confirm/ hold more run folders (each with
                            int8.json where its int8 models were scored)
    <root>/proxy/           the proxy study (nas.studies.proxy): which short training ranks like the full one

Every rule about these files lives here once: the late-epoch window, what "finished" means, a
run's recipe (its differences from the defaults), how a search's trials rank.
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from nas import nni_boundary
from nas.atomic import write_text
from nas.config import TrainConfig, asdict
from nas.errors import ExperimentError, ExportError
from nas.facts import LATE_EPOCHS, epoch_images

RECORD = "nas.json"
# a run folder's int8 models (nas.deploy.int8): each scored seed's int8 accuracy beside its fp32
# one, and how many looks at the test set scoring them took beyond the confirmation's own
INT8_RECORD = "int8.json"
# how and on what a run trained, not its recipe
RUN_KEYS = ("threads", "seed", "eval_batch", "val_size", "split_seed", "train_subset", "device")


@dataclass(frozen=True)
class Layout:
    """The folders under one results root; every command reads and writes below it."""
    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike) -> "Layout":
        return cls(Path(root))

    searches = property(lambda self: self.root / "searches")
    exports = property(lambda self: self.root / "exports")
    rerank = property(lambda self: self.root / "rerank")
    recipe = property(lambda self: self.root / "recipe")
    runs = property(lambda self: self.root / "runs")
    baselines = property(lambda self: self.root / "baselines")
    confirm = property(lambda self: self.root / "confirm")
    figures = property(lambda self: self.root / "figures")
    proxy = property(lambda self: self.root / "proxy")


def recipe_of(train: dict) -> dict:
    """A recipe as the TrainConfig keys that differ from the defaults (a key added to TrainConfig
    after a run was made counts as its default, which is what the run used)."""
    defaults = asdict(TrainConfig())
    return {k: v for k, v in train.items() if k in defaults and k not in RUN_KEYS and v != defaults[k]}


def late(history: list[dict], key: str = "val_acc") -> list[float]:
    return [r[key] for r in history[-LATE_EPOCHS:]]


def score(history: list[dict]) -> float:
    """A seed's score: its mean validation accuracy over the late window."""
    return statistics.fmean(late(history))


@dataclass
class Run:
    """One run folder of `nas train` (and baselines, re-rank candidates, recipe variants)."""
    path: Path
    config: dict
    histories: dict[int, list[dict]] = field(default_factory=dict)  # seed -> per-epoch records

    @classmethod
    def load(cls, path: Path) -> "Run | None":
        cfg = Path(path) / "config.json"
        if not cfg.exists():
            return None
        run = cls(Path(path), json.loads(cfg.read_text()))
        for seed in run.config["seeds"]:
            hist = run.path / f"seed{seed}" / "history.json"
            if hist.exists():  # written once, when the seed has trained every epoch
                run.histories[seed] = json.loads(hist.read_text())
        return run

    @property
    def epochs(self) -> int:
        return self.config["train"]["epochs"]

    @property
    def params(self) -> int:
        return self.config["params"]

    @property
    def recipe(self) -> dict:
        return recipe_of(self.config["train"])

    def finished(self, seeds: list[int]) -> bool:
        """Has every one of `seeds` trained to the end (a study or re-rank skips the run then)?"""
        return all(s in self.histories for s in seeds)

    @property
    def complete(self) -> bool:
        return (set(self.histories) == set(self.config["seeds"])
                and all(len(h) == self.epochs for h in self.histories.values()))

    def late(self, key: str = "test_acc") -> list[float]:
        """The late window of every seed, one flat list."""
        return [a for h in self.histories.values() for a in late(h, key)]

    def late_by_seed(self, seeds: list[int], key: str = "val_acc") -> list[list[float]]:
        return [late(self.histories[s], key) for s in seeds]

    def seed_scores(self, seeds: list[int]) -> list[float]:
        return [score(self.histories[s]) for s in seeds]

    def finals(self, key: str = "test_acc") -> list[float]:
        return [h[-1][key] for h in self.histories.values()]

    @property
    def train_seconds(self) -> float:
        return sum(r["seconds"] for h in self.histories.values() for r in h)

    @property
    def on_gpu(self) -> bool:
        return self.config["train"].get("device", "cpu") == "cuda"

    @property
    def int8(self) -> dict | None:
        """The run's int8.json (nas.training.runs.write_run_int8), or None where it has none."""
        path = self.path / INT8_RECORD
        return json.loads(path.read_text()) if path.exists() else None


def finished(run_dir: Path, seeds: list[int]) -> bool:
    run = Run.load(run_dir)
    return run is not None and run.finished(seeds)


def record_path(workdir: str | os.PathLike, exp_id: str) -> Path:
    return Path(workdir).resolve() / exp_id / RECORD


def records(workdir: str | os.PathLike) -> dict[str, dict]:
    """{id: nas.json} of every search recorded in `workdir`, by id."""
    folder = Path(workdir).resolve()
    paths = sorted(folder.glob(f"*/{RECORD}")) if folder.exists() else []
    return {p.parent.name: json.loads(p.read_text()) for p in paths
            if not p.parent.is_symlink()}  # not NNI's `_latest` link


def load_record(workdir: str | os.PathLike, exp_id: str) -> dict:
    """A search's nas.json; an unknown id is an error listing the known ones."""
    path = record_path(workdir, exp_id)
    if not path.exists():
        known = sorted(records(workdir))
        raise ExperimentError(f"no experiment {exp_id!r} in {Path(workdir).resolve()}"
                              + (f"; known: {', '.join(known)}" if known else ""))
    return json.loads(path.read_text())


def save_record(workdir: str | os.PathLike, exp_id: str, record: dict) -> Path:
    path = record_path(workdir, exp_id)
    write_text(path, json.dumps(record, indent=2))
    return path


def recorded_input(rec: dict):
    """The nas.data.datasets.Input of a recorded search (MNIST's for a record from before datasets)."""
    from nas.data.datasets import Input  # torch: the command line imports this module before parsing

    return Input.from_dict(rec.get("input"))


def recorded_choices(rec: dict) -> dict[str, list]:
    """The space of a recorded search: its record's choices, or, for a record from before they were
    kept, the space all such searches explored."""
    from search_spaces.choices import LEGACY_CHOICES  # torch, as above

    return rec.get("choices") or LEGACY_CHOICES


def read_trials(workdir: str | os.PathLike, exp_id: str) -> list:
    """The search's trials (nni_boundary.Trial), a missing database as an ExportError."""
    try:
        return nni_boundary.read_trials(workdir, exp_id)
    except nni_boundary.NoDatabase as e:
        raise ExportError(str(e)) from None


RUNGS_FILE = "rungs.json"  # a multi-fidelity search's schedule, scores and race (nas.engine.tracker.Tracker)


def load_rungs(workdir: str | os.PathLike, exp_id: str) -> dict | None:
    path = Path(workdir) / exp_id / RUNGS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def rank(trials: list, rungs: dict | None = None) -> list:
    """Trials with a final validation accuracy, best first; fewer parameters break ties. With a
    multi-fidelity search's `rungs` (load_rungs): its candidates (controls left out), the race's pick
    first, then by the highest rung reached and the mean score there; one trial each, its lowest seed
    at that rung."""
    done = [t for t in trials if t.status == "SUCCEEDED" and t.val_acc is not None and t.sample_from != "unknown"]
    if rungs is None:
        return sorted(done, key=lambda t: (-t.val_acc, t.final.get("params", 0)))
    pick = (rungs.get("outcome") or {}).get("pick")
    level: dict[str, tuple] = {}
    for j in rungs["jobs"]:
        if j["score"] is None or j["key"].startswith("control:"):
            continue
        scores = [x["score"] for x in rungs["jobs"] if x["key"] == j["key"] and x["rung"] == j["rung"]
                  and x["score"] is not None]
        level[j["key"]] = max(level.get(j["key"], (-1, 0.0)), (j["rung"], statistics.fmean(scores)))
    best: dict[str, object] = {}
    for t in done:
        key, rung = t.final.get("key"), t.final.get("rung")
        if key in level and rung == level[key][0] and (key not in best or t.final["seed"] < best[key].final["seed"]):
            best[key] = t
    return sorted(best.values(), key=lambda t: (t.final["key"] != pick, -level[t.final["key"]][0],
                                                -level[t.final["key"]][1], t.final.get("params", 0)))


def distinct(ranked: list) -> list:
    """The first trial of each network (samples that differ only in labels the network ignores
    are one network)."""
    from search_spaces import choices  # torch, as above

    seen, out = set(), []
    for t in ranked:
        key = choices.network_key(t.sample)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def busy_hours(events) -> float:
    """Hours covered by the union of trial spans; `events`: (trial, event, ms timestamp) in time
    order. A span runs from RUNNING to the trial's end; USER_CANCELED is written by `nas resume`
    for a trial a stop interrupted, at resume time, so it ends nothing."""
    start: dict[str, int] = {}
    spans = []
    for trial, event, ts in events:
        if event == "RUNNING":
            start.setdefault(trial, ts)
        elif event in ("SUCCEEDED", "FAILED", "EARLY_STOPPED", "SYS_CANCELED") and trial in start:
            spans.append((start.pop(trial), ts))
    total, reach = 0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total, reach = total + hi - lo, hi
        elif hi > reach:
            total, reach = total + hi - reach, hi
    return total / 3.6e6


@dataclass
class Search:
    """One search folder: its record (how it was launched) and its trials."""
    id: str
    record: dict
    trials: list
    folder: Path

    @classmethod
    def load(cls, folder: Path, exp_id: str) -> "Search":
        return cls(exp_id, load_record(folder, exp_id), read_trials(folder, exp_id), Path(folder))

    @classmethod
    def load_all(cls, folder: Path, schedule: str = "flat") -> list["Search"]:
        """The searches of one schedule (flat: one proxy per trial, what the finalist rule and the
        re-ranks compare; asha: multi-fidelity, judged by their own race)."""
        return [cls(exp_id, rec, read_trials(folder, exp_id), Path(folder))
                for exp_id, rec in records(folder).items() if rec["search"].get("schedule", "flat") == schedule]

    @property
    def budget(self) -> int:
        return self.record["search"]["max_params"]

    @property
    def strategy(self) -> str:
        return self.record["search"]["strategy"]

    @property
    def succeeded(self) -> list:
        return [t for t in self.trials if t.status == "SUCCEEDED" and t.final]

    def best(self):
        return max(self.succeeded, key=lambda t: (t.val_acc, -t.final.get("params", 0)), default=None)

    def ranked(self) -> list:
        """Best first, one trial per network."""
        return distinct(rank(self.trials))

    @property
    def wall_hours(self) -> float:
        """Hours in which a trial ran: a pause between a stop and its resume is not search time."""
        return busy_hours(nni_boundary.trial_events(self.folder, self.id))

    @property
    def heard(self) -> int | None:
        """How many trained trials the strategy heard the score of (None: random does not learn).
        Searches recorded before the `Replay` middleware passed NNI's model events on heard none
        (CHANGELOG.md). Evolution logs what it hears; TPE does not, so it counts as hearing when its
        record says it ran with the fix."""
        ok = len(self.succeeded)
        if self.strategy == "random":
            return None
        if self.strategy == "tpe":
            return ok if self.record.get("strategy_hears_metrics") else 0
        # a score of 0 is a gate rejection; repeats answered by Replay log a score too
        return min(sum(s > 0 for s in nni_boundary.scores_heard(self.folder, self.id)), ok)

    @property
    def repeats(self) -> int:
        """Succeeded trials whose network an earlier trial had trained (before Replay)."""
        trained = [t for t in self.succeeded if t.sample]
        return len(trained) - len(distinct(trained))

    @property
    def blind(self) -> bool:
        """Did the strategy miss scores? The last `concurrency` trials may end after it stopped."""
        return self.heard is not None and self.heard < len(self.succeeded) - self.record["search"].get("concurrency", 1)

    @property
    def epoch_images(self) -> int:
        t = self.record["train"]
        return epoch_images(t.get("dataset", "mnist"), t["val_size"], t["train_subset"]) or 0

    @property
    def proxy_images(self) -> int:
        """Training images one trial sees: the proxy's length."""
        return self.record["train"]["epochs"] * self.epoch_images

    @property
    def cpu_hours(self) -> float:
        """Trial seconds x threads per trial (NNI's start-up is extra)."""
        threads = self.record["train"].get("threads") or 1
        return sum(t.final.get("seconds", 0) for t in self.succeeded) * threads / 3600


def load_rerank(rerank_dir: Path, exp_id: str) -> dict | None:
    """The finished re-rank of `exp_id` (its rerank.json), or None."""
    path = Path(rerank_dir) / exp_id / "rerank.json"
    return json.loads(path.read_text()) if path.exists() else None


def rerank_seeds(rr: dict) -> list[int]:
    return rr.get("seeds", [rr["seed"]])  # re-ranks before --seeds had one seed


def load_studies(recipe_dir: Path) -> list[tuple[Path, dict]]:
    """(study folder, study.json) of every finished recipe study."""
    return [(f.parent, json.loads(f.read_text())) for f in sorted(Path(recipe_dir).glob("*/study.json"))]


def study_trial(st: dict) -> str | None:
    """The search trial a recipe study trained: from its source arch.json (None when that is gone)."""
    src = Path(st["source"])
    return json.loads(src.read_text()).get("trial") if src.exists() else None
