"""The facts the whole tool reads, each stated once: the confirmation protocol, the budgets and their
targets, the full schedule, the race's defaults and what it prefers, the control rule, the results root and each
dataset's sizes. Every command, rule and report takes them from here; change one here and they all
follow. Nothing here imports torch or NNI.
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path

# The protocol of a confirmation, fixed before any run. "Consistently >= THRESHOLD" means the test
# accuracy of each of the last LATE_EPOCHS epochs of every seed is >= THRESHOLD: LATE_READINGS numbers.
PROTOCOL_SEEDS = (0, 1, 2, 3, 4)
PROTOCOL_EPOCHS = 15         # at most; all of the training images, no validation split
LATE_EPOCHS = 3              # the late window: every score and verdict reads a seed's last 3 epochs
LATE_READINGS = len(PROTOCOL_SEEDS) * LATE_EPOCHS
THRESHOLD = 99.40            # test accuracy, %

# Each dataset's sizes (images). `idx` folders are the user's own: their sizes come from the files.
TRAIN_IMAGES = {"mnist": 60000, "fashion-mnist": 60000, "kmnist": 60000, "cifar10": 50000}
TEST_IMAGES = {"mnist": 10000, "fashion-mnist": 10000, "kmnist": 10000, "cifar10": 10000}
VAL_IMAGES = 5000            # the validation split held out of the training images by default, at most
VAL_SHARE = 6                # ... and a 1/VAL_SHARE share of a smaller dataset's training images
VAL_FLOOR = 100              # ... but at least this many (at most half the training images)


def val_images(train_images: int) -> int:
    """The default validation split of a dataset with `train_images` training images: a sixth of
    them, 100 at least and 5,000 at most (MNIST, Fashion-MNIST, KMNIST and CIFAR-10: 5,000)."""
    return min(VAL_IMAGES, max(min(VAL_FLOOR, train_images // 2), train_images // VAL_SHARE))


def epoch_images(dataset: str, val_size: int, train_subset: int = 0) -> int | None:
    """Training images a run sees per epoch: its subset, else the dataset's training images less the
    validation split; None where the files alone tell (a user's `idx` folder)."""
    if train_subset:
        return train_subset
    return TRAIN_IMAGES[dataset] - val_size if dataset in TRAIN_IMAGES else None


# The full schedule: what a search's last rung, a re-rank and a recipe study train, and what the
# validation-side verdicts compare. FULL_IMAGES is MNIST's training images less the validation split.
FULL_EPOCHS = PROTOCOL_EPOCHS
FULL_IMAGES = TRAIN_IMAGES["mnist"] - VAL_IMAGES
FULL_SEEDS = (0, 1)          # seeds of the last rung before the race adds more (and of the proxy study)
FULL_RUNG = f"{FULL_EPOCHS}x{FULL_IMAGES}:{len(FULL_SEEDS)}"

# The budgets of the challenge (parameters) and the target each finalist is judged by.
BUDGETS = {"s20k": 20000, "s8k": 8000, "s4k": 4000}
MEAN_TARGET_20K = 99.60      # the 20k target is a mean final test accuracy, not a consistency
BUDGET_TARGETS = {
    20000: f"mean final test accuracy >= {MEAN_TARGET_20K:.2f}% over the {len(PROTOCOL_SEEDS)} seeds "
           f"with <= 20,000 parameters",
    8000: f"consistently >= {THRESHOLD:.2f}% with <= 8,000 parameters (required)",
    4000: f"consistently >= {THRESHOLD:.2f}% with <= 4,000 parameters (stretch)",
}
LATE_MEAN_GOALS = {4000: 99.30}  # budgets whose search's pick is judged by a late test mean, not consistency

# The race at the last rung of a multi-fidelity search (SearchConfig's defaults).
ETA = 3                      # the best 1/ETA of a rung go on to the next
RACE_CAP = 5                 # most seeds any entrant trains at the last rung
RACE_MIN = 3                 # seeds the leader and the controls train at least; a pick "beats" a control
                             # only with a higher paired late-validation mean over at least this many
ALPHA = 0.1                  # level of the race's one-sided paired t-test
FRESH_SEEDS = 3              # seeds after the race, new to every entrant

# What a race picks (`--prefer`): "accuracy", the best late-validation mean; or a device cost, the
# cheapest candidate non-inferior to that best within MARGIN points (a one-sided paired t-test at
# ALPHA over the shared seeds). Each cost is read from a trial's final result, from the first of its
# keys that the result holds (fvcore's multiply-adds were reported as "flops" before "macs").
PREFER = ("accuracy", "params", "flash", "ram", "macs")
COST_KEYS = {"params": ("params",), "flash": ("flash",), "ram": ("ram",), "macs": ("macs", "flops")}
COST_WORDS = {"params": "parameters", "flash": "int8 model bytes", "ram": "peak RAM bytes", "macs": "MACs"}
MARGIN = 0.1                 # points of late-validation accuracy a cheaper pick may give up, at most

# The control rule: which hand-made models a search's race includes by default.
CONTROLS_ABOVE = 6000        # parameters; budgets above it race exp3 and exp4
CONTROLS_LARGE = ("exp3", "exp4")
CONTROLS_SMALL = ("lqznt4k",)  # the earlier 4k finalist


def default_controls(max_params: int) -> list[str]:
    """The hand-made models raced by a search under `max_params` (`--controls auto`)."""
    return list(CONTROLS_LARGE if max_params > CONTROLS_ABOVE else CONTROLS_SMALL)


CONTROL_RULE = (f"{','.join(CONTROLS_LARGE)} above {CONTROLS_ABOVE:,} parameters, "
                f"else {','.join(CONTROLS_SMALL)}")

# Where every command reads and writes: one results root. The default is not this repository's
# committed results/, so a user's first searches never mix into the project's study (whose scripts
# and README commands pass `--results results`).
RESULTS_ENV = "NAS_RESULTS"
RESULTS_ROOT = "nas-results"  # relative to the current folder


def results_root() -> str:
    """The results root of a command that was given none: $NAS_RESULTS, else ./nas-results."""
    return os.environ.get(RESULTS_ENV) or RESULTS_ROOT


def results_flag(root: str | os.PathLike) -> str:
    """What a command printed for the user to run next needs to find `root`: " --results ROOT",
    or nothing where `root` is the default one."""
    if Path(root).resolve() == Path(results_root()).resolve():
        return ""
    return f" --results {shlex.quote(str(root))}"
