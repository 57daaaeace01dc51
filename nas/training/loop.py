"""The training loop every candidate, baseline and finalist goes through (one recipe: `TrainConfig`).

Data stays in memory; each epoch draws one permutation and slices it into batches; augmentation
runs on the whole batch. `device=cuda` moves the model and all the data to the GPU. Given a seed,
a run on one CPU type is deterministic (another CPU's oneDNN kernels differ in the last bits, which
grow over epochs; a GPU's cuDNN kernels are not deterministic at all): weights are re-initialised
from the seed here, and every random draw (batch order, augmentation, dropout) comes from seeded state.

With `checkpoint` set, the full state (weights, optimiser, schedule, RNGs, history) is written
atomically after every epoch, and a later call with the same path continues from it: the result
is bitwise the same as an uninterrupted run on the CPU.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nas.atomic import save_torch
from nas.data.augment import random_affine
from nas.config import ConfigError, TrainConfig
from nas.training.dropmask import MaskSource, attach
from nas.training.ema import WeightAverage
from nas.training.teacher import distill_loss, load as load_teacher
from nas.data.datasets import Splits


class Diverged(RuntimeError):
    """Training produced a non-finite loss; the trial is marked failed with this message."""


def init_weights(model: nn.Module, seed: int) -> None:
    """Re-draw every layer's parameters from `seed`, so the start point depends on the seed alone."""
    torch.manual_seed(seed)
    for m in model.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def _undecorated(fn):
    # every wrapper torch put around it (functools.wraps chains them through __wrapped__); a step
    # already wrapped by profile_hook_step (once any SGD exists) unwraps to the same function
    return inspect.unwrap(fn)


class EagerSGD(torch.optim.SGD):
    """torch's SGD, bit for bit, without its torch.compile hooks.

    torch wraps `SGD.step` and four `Optimizer` methods so that torch.compile can graph-break
    around them; the wrappers import torch._dynamo on first use, about 1.3 s of every process that
    trains (a third of a search trial's start, bench/trial_overhead.py). Nothing here is compiled,
    so this class calls the wrapped functions directly, `step` under no_grad as torch's wrapper
    does. Same updates, same state_dict: tests/test_train.py checks both against torch.optim.SGD."""

    add_param_group = _undecorated(torch.optim.Optimizer.add_param_group)
    zero_grad = _undecorated(torch.optim.Optimizer.zero_grad)
    state_dict = _undecorated(torch.optim.Optimizer.state_dict)
    load_state_dict = _undecorated(torch.optim.Optimizer.load_state_dict)
    _sgd_step = _undecorated(torch.optim.SGD.step)  # unwrapped once here, not at every step

    @torch.no_grad()
    def step(self, closure=None):
        return EagerSGD._sgd_step(self, closure)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return EagerSGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                        weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.momentum, 0.999),
                             weight_decay=cfg.weight_decay)


def check_schedule(cfg: TrainConfig, images: int) -> None:
    """A ConfigError if the LR schedule cannot run `cfg.epochs` epochs of `images` training images
    (checked before a run writes anything)."""
    total = cfg.epochs * math.ceil(images / cfg.batch_size)
    if cfg.schedule == "onecycle" and float(cfg.pct_start * total) - 1 == 0:  # torch's warm-up would end at step 0: 0/0
        raise ConfigError(f"the onecycle schedule cannot run {total} steps with pct_start={cfg.pct_start} "
                          "(the warm-up would be exactly one step); change pct_start, epochs or images")


def make_schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """A per-step LR schedule (it is stepped after every batch)."""
    if cfg.schedule == "onecycle":
        check_schedule(cfg, steps_per_epoch * cfg.batch_size)
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=cfg.pct_start)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_epochs * steps_per_epoch, gamma=cfg.gamma)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 2000) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in %) over the whole set."""
    if len(x) == 0:
        return float("nan"), float("nan")
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch):
        out = model(x[i:i + batch])
        loss += F.cross_entropy(out, y[i:i + batch], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(x), 100.0 * correct / len(x)


def train(model: nn.Module, data: Splits, cfg: TrainConfig,
          on_epoch: Callable[[dict], None] | None = None,
          checkpoint: str | os.PathLike | None = None, evaluate_test: bool = True,
          clock: dict | None = None) -> list[dict]:
    """Train `model` in place; return one record per epoch (losses, accuracies in %, seconds).
    `evaluate_test`: True evaluates the test set every epoch (a confirmation, a baseline); False
    evaluates no test image (anything that selects: search trials, re-ranks, recipe studies), and
    the records' `test_loss` and `test_acc` are NaN (null in JSON).
    `clock`, if given, receives the wall-clock times (time.time()) of the first and the last
    optimiser step, as `first_step` and `last_step` (the benchmark's trial-overhead marks)."""
    n = len(data.train_x)
    steps = math.ceil(n / cfg.batch_size)
    init_weights(model, cfg.seed)  # on the CPU: a seed starts from the same weights on every device
    device = torch.device(cfg.device)
    model.to(device)
    data = data.to(device)  # on a GPU the whole dataset lives there: no copy per batch
    opt = make_optimizer(model, cfg)
    sched = make_schedule(opt, cfg, steps)
    gen = torch.Generator().manual_seed(cfg.seed)  # batch order and augmentation
    masks = MaskSource(cfg.seed) if cfg.dropout_masks == "pcg64" else None  # else nn.Dropout's own
    ema = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    scored = ema.model if ema is not None else model  # the network every epoch evaluates
    teacher = load_teacher(cfg.teacher, data.input.shape, data.input.classes, cfg.device) if cfg.teacher else None
    history: list[dict] = []
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])  # dropout draws from the global generator
        if state.get("cuda_rng") is not None:  # ... from the GPU's own on a GPU
            torch.cuda.set_rng_state(state["cuda_rng"])
        history = state["history"]
        if masks is not None:
            masks.set_state(state["dropout_masks"])
        if ema is not None:
            ema.load_state_dict(state["ema"])

    with attach(model, masks) if masks is not None else contextlib.nullcontext():
        for epoch in range(len(history) + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)  # drawn on the CPU: the same order everywhere
            loss_sum = torch.zeros((), device=device)
            teacher_s = 0.0  # seconds of the teacher's forward passes: its cost per step is reported
            correct = torch.zeros((), dtype=torch.long, device=device)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i:i + cfg.batch_size]
                x, y = data.train_x[idx], data.train_y[idx]
                if cfg.augment:
                    x = random_affine(x, gen, cfg.max_degrees, cfg.max_shift, data.input.blank())
                out = model(x)
                if teacher is None:
                    loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
                else:
                    t = time.perf_counter()
                    with torch.no_grad():  # the same augmented batch; no_grad, not inference_mode: the
                        soft = teacher(x)  # KL term keeps the logits for its backward pass
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    teacher_s += time.perf_counter() - t
                    loss = distill_loss(out, soft, y, cfg.kd_temperature, cfg.kd_weight, cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if ema is not None:
                    ema.update()
                if clock is not None:
                    clock.setdefault("first_step", time.time())
                    clock["last_step"] = time.time()
                # accumulate as tensors: a .item() per batch would cost a sync for nothing
                loss_sum += loss.detach() * len(idx)
                correct += (out.argmax(1) == y).sum()
            train_loss = loss_sum.item() / n
            if not math.isfinite(train_loss):
                raise Diverged(f"training diverged: loss is {train_loss} in epoch {epoch} (lr {cfg.lr})")
            val_loss, val_acc = evaluate(scored, data.val_x, data.val_y, cfg.eval_batch)
            test_loss, test_acc = (evaluate(scored, data.test_x, data.test_y, cfg.eval_batch)
                                   if evaluate_test else (float("nan"), float("nan")))
            record = dict(epoch=epoch, lr=opt.param_groups[0]["lr"], train_loss=train_loss,
                          train_acc=100.0 * correct.item() / n, val_loss=val_loss, val_acc=val_acc,
                          test_loss=test_loss, test_acc=test_acc, seconds=time.perf_counter() - t0)
            if teacher is not None:
                record["teacher_seconds"] = teacher_s
            history.append(record)
            if ckpt is not None:
                save_torch(dict(model=model.state_dict(), optimizer=opt.state_dict(),
                                  schedule=sched.state_dict(), generator=gen.get_state(),
                                  torch_rng=torch.get_rng_state(), history=history,
                                  cuda_rng=torch.cuda.get_rng_state() if device.type == "cuda" else None,
                                  dropout_masks=masks.state() if masks is not None else None,
                                  ema=ema.state_dict() if ema is not None else None), ckpt)
            if on_epoch is not None:
                on_epoch(record)
    if ema is not None:  # leave the evaluated network in the caller's model (export, confirm)
        model.load_state_dict(ema.model.state_dict())
    model.to("cpu")  # what callers save and export is a CPU model, whatever device trained it
    return history


def format_epoch(r: dict, header: bool = False) -> str:
    """One aligned line per epoch (the header line when `header`)."""
    cols = ["epoch", "lr", "train_loss", "train_acc", "val_acc", "test_acc", "seconds"]
    if header:
        return "  ".join(f"{c:>10}" for c in cols)
    fmt = {"epoch": "{:>10d}", "lr": "{:>10.4f}", "train_loss": "{:>10.4f}"}
    return "  ".join(fmt.get(c, "{:>10.2f}").format(r[c]) for c in cols)
