"""The two recipes of the tool, each in one frozen dataclass with units: how a candidate is trained
(`TrainConfig`) and how a search runs (`SearchConfig`).

Values come from defaults < a JSON file (`--config`) < `--set key=value` on the command line; the
environment variable NAS_DEVICE (cpu | cuda) sets `TrainConfig.device` below the file.
An unknown key or a value of the wrong type or range is a `ConfigError` naming the valid choices;
a typo never becomes a silent default.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from nas.errors import ConfigError
from nas.facts import (ALPHA, ETA, FRESH_SEEDS, FULL_IMAGES, FULL_RUNG, LATE_EPOCHS, MARGIN, PREFER, RACE_CAP, RACE_MIN,
                       TRAIN_IMAGES, VAL_IMAGES, val_images)
from nas.schedule.rungs import Rung

DATASETS = ("mnist", "fashion-mnist", "kmnist", "idx", "cifar10")  # what nas.data.datasets reads


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 15                  # passes over the training split
    batch_size: int = 128             # images per optimiser step
    optimizer: str = "sgd"            # sgd (momentum + nesterov) | adamw
    lr: float = 0.05                  # peak LR (onecycle) or starting LR (step, constant), per step
    momentum: float = 0.9             # SGD momentum (AdamW beta1)
    weight_decay: float = 1e-4        # L2 coefficient, applied by the optimiser each step
    schedule: str = "onecycle"        # onecycle | step | constant
    pct_start: float = 0.2            # onecycle: fraction of all steps spent warming up to `lr`
    step_epochs: int = 3              # step: epochs between LR drops
    gamma: float = 0.75               # step: LR multiplier at each drop
    label_smoothing: float = 0.0      # cross-entropy label smoothing, 0..1
    augment: bool = True              # random rotation + translation of every training batch
    max_degrees: float = 7.0          # augment: rotation range, +- degrees
    max_shift: float = 2.0            # augment: translation range, +- pixels
    val_size: int = VAL_IMAGES        # images of the training set held out for validation (0: none); this
                                      # default is fitted to a smaller dataset (fit_val_size)
    split_seed: int = 0               # which images form the validation split
    train_subset: int = 0             # train on the first N training images only (0: all); proxy trials
    seed: int = 0                     # weights, batch order, augmentation
    threads: int = 0                  # torch CPU threads (0: the cores / trial concurrency)
    eval_batch: int = 2000            # images per forward pass in evaluation
    dropout_masks: str = "torch"      # torch (nn.Dropout's own) | pcg64 (cheaper on CPU: nas/training/dropmask.py)
    ema: float = 0.0                  # decay per optimiser step of a moving average of the weights and BN
                                      # statistics, which is what gets evaluated and kept (0: off; 0.998:
                                      # about one epoch of 469 steps)
    device: str = "cpu"               # cpu | cuda (the data then lives on the GPU too; runs are not
                                      # bitwise reproducible there: cuDNN picks its own kernels)
    dataset: str = "mnist"            # mnist | fashion-mnist | kmnist | idx (any four IDX files) | cifar10
    teacher: str = ""                 # knowledge distillation: a trained run folder, RUN/seed<S> or a TorchScript
                                      # file whose logits the student also learns from ("": none;
                                      # nas/training/teacher.py says which teachers a run may use)
    kd_temperature: float = 4.0       # teacher: softmax temperature of the soft targets (T)
    kd_weight: float = 0.5            # teacher: weight of the soft-target loss, 0..1 (the labels' loss gets 1 - it)

    def __post_init__(self):
        _check_choice("dataset", self.dataset, DATASETS)
        if not self.kd_temperature > 0 or not 0 <= self.kd_weight <= 1:
            raise ConfigError(f"kd_temperature must be positive and kd_weight in [0, 1], got "
                              f"{self.kd_temperature} and {self.kd_weight}")
        _check_choice("optimizer", self.optimizer, ("sgd", "adamw"))
        _check_choice("schedule", self.schedule, ("onecycle", "step", "constant"))
        _check_choice("dropout_masks", self.dropout_masks, ("torch", "pcg64"))
        _check_choice("device", self.device, ("cpu", "cuda"))
        if self.device == "cuda":
            import torch  # only here: the config itself has no torch dependency

            if not torch.cuda.is_available():
                raise ConfigError("device=cuda, but torch sees no CUDA GPU on this machine; use device=cpu")
        for name in ("epochs", "batch_size", "step_epochs", "eval_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("val_size", "train_subset", "threads", "seed", "split_seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        images = TRAIN_IMAGES.get(self.dataset)
        if images and self.val_size >= images:
            raise ConfigError(f"val_size must be below {images} ({self.dataset}'s training images), got {self.val_size}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema must be in [0, 1) (0: off), got {self.ema}")
        if not 0 < self.pct_start < 1 or not 0 <= self.label_smoothing < 1:
            raise ConfigError("pct_start must be in (0, 1) and label_smoothing in [0, 1)")


@dataclass(frozen=True)
class SearchConfig:
    space: str = "mnist"              # a name from search_spaces.SPACES
    strategy: str = "random"          # random | evolution | tpe
    max_params: int = 20000           # budget: parameters, as fvcore counts them
    max_macs: int = 0                 # budget: multiply-accumulates of the convs for one image (0: no limit)
    max_flash: int = 0                # budget: bytes of the int8 model's constant tensors (0: no limit)
    max_ram: int = 0                  # budget: bytes of peak int8 activation RAM, the input left out (0: no limit)
                                      # (the figures and their conventions: nas/footprint.py)
    min_params: int = 0               # floor: smaller candidates are rejected like over-budget ones (0: none)
    max_flops: int = 0                # fvcore's total FLOPs (two per BatchNorm element besides the MACs): read
                                      # only from searches recorded with the old --max-flops, so they resume
                                      # with the gate they ran with; a new search bounds max_macs (0: none)
    fix: str = "auto"                 # labels pinned to one value, "label=value,..." (e.g. "bn=true"); auto:
                                      # FLAT_FIX on a flat schedule, nothing on asha; none: nothing
    trials: int = 6                   # trials to run (candidates over budget never become trials)
    epochs: int = 1                   # training epochs per trial (a short proxy of the full recipe)
    train_subset: int = 0             # training images per trial (0: all outside validation)
    concurrency: int = 0              # trials running at once (0: one per CPU core)
    port: int = 8080                  # dashboard / NNI manager port
    host: str = "127.0.0.1"           # address the dashboard listens on
    workdir: str = "nni-experiments"  # where NNI keeps experiments (relative to the current folder)
    seed: int = 0                     # strategy sampling
    population: int = 0               # evolution: population size (0: a third of the trials, 4 to 20)
    early_stop: bool = False          # stop a trial below the finished trials' median at an epoch
    schedule: str = "asha"            # asha (rungs of rising fidelity, a race at the last) | flat (one proxy per trial)
    rungs: str = "auto"               # asha: EPOCHSxIMAGES[:SEEDS][/READING] per rung, cheapest first, the last the
                                      # full schedule; auto: from the finished proxy study (nas.studies.proxy), else
                                      # PROVISIONAL_RUNGS
    eta: int = ETA                    # asha: the best 1/eta of a rung go on to the next
    cpu_hours: float = 0.0            # asha: size the number of rung-0 candidates to this budget (0: --trials)
    controls: str = "auto"            # asha: hand-made models raced at the last rung (auto: nas.facts.CONTROL_RULE;
                                      # "none")
    race_cap: int = RACE_CAP          # asha: most seeds any entrant trains at the last rung
    race_min: int = RACE_MIN          # asha: seeds the leader and the controls train at least
    alpha: float = ALPHA              # asha: level of the race's one-sided paired t-test (0.1 or 0.05)
    fresh_seeds: int = FRESH_SEEDS    # asha: seeds after the race, new to every entrant, that the pick and the
                                      # controls train: the gap there is free of the race's selection (0: none)
    prefer: str = "accuracy"          # asha: what the race picks: accuracy (the best late-validation mean) or the
                                      # cheapest in params | flash | ram | macs of the candidates non-inferior to it
    margin: float = MARGIN            # asha: points of late validation a cost-preferring pick may be below the best
    machines: str = ""                # a --machines file: trials run on those machines over SSH (nas.engine.machines)
    warm_start: str = "auto"          # evolution: reference models that open the population (baseline names or
                                      # arch.json paths; auto: the baselines within budget that are not controls;
                                      # none)
    search_recipe: bool = False       # a candidate is an architecture and its recipe: peak LR, batch size,
                                      # augmentation and label smoothing become labels (choices.RECIPE_CHOICES)

    def __post_init__(self):
        _check_choice("strategy", self.strategy, STRATEGIES)
        if self.population < 0 or self.population == 1:
            raise ConfigError(f"population must be 0 (automatic) or at least 2, got {self.population}")
        if self.max_params < 1:
            raise ConfigError(f"max_params must be at least 1, got {self.max_params}")
        if not 0 <= self.min_params <= self.max_params:
            raise ConfigError(f"min_params must be in 0..max_params ({self.max_params}), got {self.min_params}")
        for name in ("max_macs", "max_flash", "max_ram", "max_flops"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (no limit) or more, got {getattr(self, name)}")
        if self.trials < 1 or self.concurrency < 0 or self.epochs < 1:
            raise ConfigError("trials and epochs must be at least 1, concurrency 0 (one per core) or more")
        if self.train_subset < 0:
            raise ConfigError(f"train_subset must be 0 (all) or more, got {self.train_subset}")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port must be in 1..65535, got {self.port}")
        _check_choice("schedule", self.schedule, ("asha", "flat"))
        if self.eta < 2 or self.cpu_hours < 0 or not 1 <= self.race_min <= self.race_cap or self.fresh_seeds < 0:
            raise ConfigError("eta must be at least 2, cpu_hours and fresh_seeds 0 or more, and "
                              "1 <= race_min <= race_cap")
        _check_choice("alpha", self.alpha, (0.1, 0.05))
        _check_choice("prefer", self.prefer, PREFER)
        if self.prefer != "accuracy" and self.schedule != "asha":
            raise ConfigError(f"--prefer {self.prefer} decides a race: it needs --schedule asha")
        if not 0 <= self.margin < 100:
            raise ConfigError(f"margin must be in 0..100 points, got {self.margin}")
        if self.rungs != "auto":
            parse_rungs(self.rungs)  # a malformed schedule fails here, naming the rung


STRATEGIES = ("random", "evolution", "tpe")
# A flat search scores each candidate on one short proxy (by default 1 epoch on all 55,000 images
# outside validation, the README's first command): in so few steps a network without BatchNorm often
# learns nothing and scores at chance, which ranks nothing. So `--fix auto` pins BatchNorm on there;
# the rungs of asha train long enough to let the search decide.
FLAT_FIX = "bn=true"
# ... and its trials train with these changes of the recipe (under --config and --set): more, smaller
# steps and no augmentation, which pays off over 15 epochs, not over 1 or 2. exp3 validated after 2
# epochs on 10,000 images: 96.92% as TrainConfig has it, 97.74% at batch 32, 98.04% at batch 32
# without augmentation (one seed each). The demo's six networks (seed 0, 20,000 parameters) after 1
# epoch on 55,000 images at batch 64: 91.3-98.2%, the best 98.22% in each of two runs; after 2 epochs
# on 10,000 at batch 32 they reached 97.14% at best.
FLAT_RECIPE = {"batch_size": 64, "augment": False}


def flat_recipe(schedule: str, search_recipe: bool) -> dict:
    """The recipe changes a search's trials start from: FLAT_RECIPE on a flat schedule, unless the
    recipe is searched too (its labels scale the batch and the augmentation themselves)."""
    return dict(FLAT_RECIPE) if schedule == "flat" and not search_recipe else {}


def resolve_fix(fix: str, schedule: str) -> str:
    """A search's --fix as its record keeps it: auto resolved for the schedule, none as no pins."""
    text = fix.strip()
    if text == "auto":
        return FLAT_FIX if schedule == "flat" else ""
    return "" if text == "none" else text
PROVISIONAL_RUNGS = "2x20000," + FULL_RUNG   # until a finished proxy study chooses the first rungs
READINGS = {"val_acc_last": "val_acc last", "val_acc_best": "val_acc best", "val_loss_last": "val_loss last",
            "val_loss_best": "val_loss best", "late": "late"}


def parse_rungs(text: str) -> list:
    """'2x20000,15x55000:2' -> [Rung(2, 20000, (0,)), Rung(15, 55000, (0, 1), "late")]: epochs x
    training images, then optionally ':' and the number of seeds and '/' and how a rung is read
    (val_acc_last, the default below the last rung; val_acc_best, val_loss_last, val_loss_best; the
    last rung always reads "late", the mean validation accuracy of its last 3 epochs)."""
    rungs = []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) < 2:
        raise ConfigError(f"rungs needs at least two rungs (a proxy and the full schedule), got {text!r}")
    for i, part in enumerate(parts):
        spec, _, reading = part.partition("/")
        size, _, seeds = spec.partition(":")
        try:
            epochs, images = (int(v) for v in size.lower().split("x"))
            n_seeds = int(seeds) if seeds else 1
        except ValueError:
            raise ConfigError(f"rung {part!r} must read EPOCHSxIMAGES[:SEEDS][/READING], e.g. 2x20000 or 15x55000:2") from None
        if epochs < 1 or not 1 <= images <= FULL_IMAGES or n_seeds < 1:
            raise ConfigError(f"rung {part!r}: epochs and seeds must be at least 1, images 1..{FULL_IMAGES}")
        last = i == len(parts) - 1
        if reading and (reading not in READINGS or (last and reading != "late")):
            raise ConfigError(f"rung {part!r}: reading must be one of {', '.join(k for k in READINGS if k != 'late')}"
                              " (the last rung reads late)")
        rungs.append(Rung(epochs, images, tuple(range(n_seeds)),
                          "late" if last else READINGS[reading or "val_acc_last"]))
    if rungs[-1].epochs < LATE_EPOCHS:
        raise ConfigError(f"--rungs {text}: the last rung needs at least {LATE_EPOCHS} epochs (its score is the "
                          f"mean of the last {LATE_EPOCHS})")
    return rungs


def format_rungs(rungs: list) -> str:
    """The --rungs text of `rungs` (what parse_rungs reads back to the same rungs)."""
    named = {v: k for k, v in READINGS.items()}
    return ",".join(f"{r.epochs}x{r.images}" + (f":{len(r.seeds)}" if len(r.seeds) > 1 else "")
                    + (f"/{named[r.reading]}" if r.reading not in ("val_acc last", "late") else "")
                    for r in rungs)


def _check_choice(name: str, value: Any, valid: tuple) -> None:
    if value not in valid:
        raise ConfigError(f"{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB)?\s*", re.I)
_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000 ** 2, "mib": 1024 ** 2}
SIZE_KEYS = ("max_flash", "max_ram")  # SearchConfig's budgets in bytes: they also take sizes such as "4.5KB"


def parse_bytes(text: str | int) -> int:
    """Bytes from '4500', '4500B', '4.5 KB' (1,000 B) or '4 KiB' (1,024 B). ValueError otherwise."""
    if isinstance(text, int):
        return text
    m = _SIZE.fullmatch(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size: write bytes as 4500, 4500B, 4.5KB (1,000 B) or 4KiB (1,024 B)")
    value = float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()]
    if value != int(value):
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


def _coerce(cls, key: str, value: Any) -> Any:
    """Turn a JSON or command-line value into the field's type, or fail naming the key."""
    names = {f.name: f for f in fields(cls)}
    if key not in names:
        raise ConfigError(f"unknown {cls.__name__} key {key!r}; valid keys: {', '.join(names)}")
    if cls is SearchConfig and key in SIZE_KEYS and isinstance(value, str):
        try:
            return parse_bytes(value)
        except ValueError as e:
            raise ConfigError(f"{key}: {e}") from None
    kind = type(names[key].default)
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        if kind is bool:
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"{key} must be true or false, got {value!r}")
            return text in ("true", "1", "yes")
        try:
            return kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
        except ValueError:
            raise ConfigError(f"{key} must be a {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be a {kind.__name__}, got {value!r}")
    return value


ENV_DEVICE = "NAS_DEVICE"  # the machine's device for every training (cpu | cuda), below a file or --set


def make(cls, base: dict | None = None, overrides: list[str] | None = None, file: str | None = None, **kw):
    """Build `cls` from `base` dict < $NAS_DEVICE (TrainConfig's device) < JSON `file` < `overrides`
    ('key=value') < keyword arguments."""
    values: dict[str, Any] = {}
    sources: list[dict] = [base or {}]
    if cls is TrainConfig and os.environ.get(ENV_DEVICE):
        # where a machine trains is not part of a recipe: an environment setting, so that the same
        # commands (and a recipe study's pick.json) run unchanged on a CPU or a GPU machine
        sources.append({"device": os.environ[ENV_DEVICE]})
    if file:
        try:
            sources.append(json.loads(Path(file).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read config file {file}: {e}") from None
        if not isinstance(sources[-1], dict):
            raise ConfigError(f"config file {file} must hold a JSON object")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        sources.append({k.strip(): v})
    sources.append({k: v for k, v in kw.items() if v is not None})
    for src in sources:
        for k, v in src.items():
            values[k] = _coerce(cls, k, v)
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(str(e)) from None


def asdict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def with_recipe(cfg: TrainConfig, arch: dict) -> tuple[TrainConfig, dict]:
    """(`cfg` changed by a candidate's recipe labels, the fields they set) (search_spaces.choices.
    RECIPE_CHOICES: `nas search --search-recipe`); (`cfg` itself, {}) for an architecture without them."""
    from search_spaces.choices import recipe_overrides  # here: the space imports torch; the command line reads this module

    changes = recipe_overrides(arch, asdict(cfg))
    return (dataclasses.replace(cfg, **changes) if changes else cfg), changes


def fit_val_size(cfg: TrainConfig, train_images: int) -> tuple[TrainConfig, str]:
    """(`cfg` with the default validation split sized to a dataset of `train_images` training images
    (nas.facts.val_images: MNIST-sized and larger datasets keep 5,000), a line saying so or "").
    A split set to anything but the default is the user's and stays."""
    if cfg.val_size != VAL_IMAGES or val_images(train_images) == VAL_IMAGES:
        return cfg, ""
    cfg = dataclasses.replace(cfg, val_size=val_images(train_images))
    return cfg, (f"validation split: {cfg.val_size:,} of the {train_images:,} training images "
                 f"(a sixth; --set val_size=N to choose)")


def default_threads(concurrency: int = 1) -> int:
    """CPU threads a trial may use so that `concurrency` trials share the machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, concurrency))
