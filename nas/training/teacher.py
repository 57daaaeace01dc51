"""A teacher for knowledge distillation (`TrainConfig.teacher`): what it is, what it was trained on,
and the loss that learns from it.

A teacher is named by a path:
  RUN             a run folder of `nas train` or `nas recipe` (config.json + seed<S>/model.pt): its first seed
  RUN/seed<S>     that seed of it
  FILE            a TorchScript module (torch.jit.save) that takes the dataset's normalised images and
                  returns logits: a teacher trained elsewhere. Its training images are unknown, so it
                  is refused wherever a validation split is read.

A teacher that scores anything on validation must never have trained on those images: a run whose
validation split (val_size, split_seed) contains the student's (nas.data.datasets draws the split as
the first val_size images of one seeded permutation, so the same seed and a split at least as large
contain it). A teacher of a confirmation (val_size=0) may have trained on every training image.

The loss (Hinton, Vinyals & Dean 2015): (1 - w) * cross-entropy(student, labels) + w * T^2 *
KL(softmax(teacher / T) || softmax(student / T)); T^2 keeps the soft gradients' scale as T changes.
The teacher sees the same augmented batch as the student, in eval mode and without gradients.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import ConfigError
from nas.facts import LATE_EPOCHS, TRAIN_IMAGES


@dataclass(frozen=True)
class TeacherInfo:
    """Who the teacher is (the file's SHA-256) and what it was trained on; recorded in every run's config."""
    spec: str            # the path as given
    weights: str         # the file the weights come from, absolute
    sha256: str          # of that file: the teacher's identity
    kind: str            # run | torchscript
    params: int
    dataset: str | None  # None: unknown (a TorchScript file)
    val_size: int | None     # validation images the teacher held out (None: unknown)
    split_seed: int | None
    train_images: int | None
    epochs: int | None
    accuracy: dict       # {"val_acc": late mean} for a teacher with a validation split, else {"train_acc": last epoch's}
    data_dir: str | None = None  # the folder it trained from, where its run recorded one (an IDX folder, ...)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        words = {"val_acc": "late validation accuracy", "train_acc": "last epoch's training accuracy"}
        acc = ", ".join(f"{words[k]} {v:.2f}%" for k, v in self.accuracy.items())
        trained = (f"{self.train_images:,} images, {self.epochs} epochs" if self.train_images else "training data unknown")
        return f"teacher {self.spec}: {self.params:,} parameters, {trained}{', ' + acc if acc else ''}, sha256 {self.sha256[:12]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _locate(spec: str) -> tuple[Path, dict | None, int | None]:
    """(weights file, the run's config.json or None, seed) for a teacher spec; a ConfigError naming
    what is missing."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"teacher {spec!r} does not exist (a run folder, RUN/seed<S>, or a TorchScript file)")
    if path.is_file():
        return path.resolve(), None, None
    run, seed = path, None
    if path.name.startswith("seed") and path.name[4:].isdigit() and (path.parent / "config.json").exists():
        run, seed = path.parent, int(path.name[4:])
    cfg_file = run / "config.json"
    if not cfg_file.exists():
        raise ConfigError(f"teacher {spec!r}: no config.json there; name a run folder of `nas train`/`nas recipe` "
                          "or its seed<S> folder")
    config = json.loads(cfg_file.read_text())
    if seed is None:
        seed = config["seeds"][0]
    weights = run / f"seed{seed}" / "model.pt"
    if not weights.exists():
        raise ConfigError(f"teacher {spec!r}: seed {seed} has no trained weights ({weights}); is the run finished?")
    return weights.resolve(), config, seed


def describe(spec: str) -> TeacherInfo:
    """The teacher's identity and training record, without building it."""
    weights, config, seed = _locate(spec)
    if config is None:
        module = _torchscript(weights, spec)
        return TeacherInfo(spec, str(weights), _sha256(weights), "torchscript",
                           sum(p.numel() for p in module.parameters()), None, None, None, None, None, {})
    train = config["train"]
    history = json.loads((weights.parent / "history.json").read_text()) if (weights.parent / "history.json").exists() else []
    if train.get("val_size", 0) > 0 and history:
        accuracy = {"val_acc": round(sum(r["val_acc"] for r in history[-LATE_EPOCHS:]) / len(history[-LATE_EPOCHS:]), 4)}
    else:  # trained on every training image: what it reached on them (augmented batches, as recorded)
        accuracy = {"train_acc": round(history[-1]["train_acc"], 4)} if history else {}
    images = config.get("train_images")
    if images is None and train.get("dataset", "mnist") in TRAIN_IMAGES:  # runs written before it was recorded
        images = TRAIN_IMAGES[train.get("dataset", "mnist")] - train.get("val_size", 0)
        images = min(images, train.get("train_subset") or images)
    return TeacherInfo(spec, str(weights), _sha256(weights), "run", config["params"], train.get("dataset", "mnist"),
                       train.get("val_size", 0), train.get("split_seed", 0), images, train.get("epochs"), accuracy,
                       config.get("data_dir"))


def _torchscript(path: Path, spec: str) -> torch.jit.ScriptModule:
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:  # torch raises several kinds for a file that is not TorchScript
        raise ConfigError(f"teacher {spec!r}: not a TorchScript file ({str(e).splitlines()[0][:120]}); "
                          "name a run folder or save the model with torch.jit.save") from None


def check_split(info: TeacherInfo, dataset: str, val_size: int, split_seed: int, data_dir: str | None = None) -> None:
    """A ConfigError unless the teacher never trained on the student's validation images (where
    `val_size` > 0 they are read) and learnt the student's dataset (for a dataset of the user's own
    files, the same folder: `data_dir`, where both are known)."""
    if info.dataset is not None and info.dataset != dataset:
        raise ConfigError(f"teacher {info.spec!r} was trained on {info.dataset}, the student trains on {dataset}")
    if dataset == "idx" and data_dir and info.data_dir and Path(info.data_dir).resolve() != Path(data_dir).resolve():
        raise ConfigError(f"teacher {info.spec!r} was trained on the files in {info.data_dir}, the student "
                          f"trains on those in {data_dir}")
    if val_size == 0:
        return  # a confirmation: no validation image is read, so any training image may have taught it
    if info.kind != "run":
        raise ConfigError(f"teacher {info.spec!r} is a TorchScript file whose training images are unknown; "
                          f"this run reads {val_size:,} validation images, so it needs a run folder trained "
                          f"without them (val_size >= {val_size}, split_seed {split_seed})")
    if not info.val_size or info.split_seed != split_seed or info.val_size < val_size:
        raise ConfigError(f"teacher {info.spec!r} trained on this run's validation images (it held out "
                          f"{info.val_size or 0:,} with split_seed {info.split_seed}; this run reads {val_size:,} "
                          f"with split_seed {split_seed}); train the teacher with val_size >= {val_size} and "
                          f"split_seed {split_seed}")


def vetted(cfg, data_dir: str | None = None) -> TeacherInfo | None:
    """The teacher of a run or search with TrainConfig `cfg` (None without one), described and
    checked against the images it reads (`check_split`): a ConfigError where it may not teach it."""
    if not cfg.teacher:
        return None
    info = describe(cfg.teacher)
    check_split(info, cfg.dataset, cfg.val_size, cfg.split_seed, data_dir)
    return info


def announce(info: TeacherInfo, cfg) -> str:
    """The line a run or search prints of its teacher and the distillation settings."""
    return f"{info.describe()}; temperature {cfg.kd_temperature:g}, soft-loss weight {cfg.kd_weight:g}"


def load(spec: str, shape: tuple[int, int, int], classes: int, device: str = "cpu") -> nn.Module:
    """The teacher as a module in eval mode on `device`, checked to map images of `shape` to `classes` logits."""
    weights, config, _ = _locate(spec)
    if config is None:
        model = _torchscript(weights, spec)
    else:
        from search_spaces.blocks import build_network  # the space imports torch's nn only

        inp = config.get("input") or {}
        trained = (inp.get("channels"), inp.get("height"), inp.get("width"))
        if None not in trained and tuple(trained) != tuple(shape):
            raise ConfigError(f"teacher {spec!r} takes {'x'.join(map(str, trained))} images, the student "
                              f"{'x'.join(map(str, shape))}")
        model = build_network(config["arch"], tuple(shape), inp.get("classes", classes))
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    with torch.no_grad():
        try:
            out = model(torch.zeros(2, *shape))
        except Exception as e:
            raise ConfigError(f"teacher {spec!r} cannot take {'x'.join(map(str, shape))} images: "
                              f"{str(e).splitlines()[0][:160]}") from None
    if out.shape != (2, classes):
        raise ConfigError(f"teacher {spec!r} returns {tuple(out.shape[1:])} outputs per image, the student {classes} classes")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device)


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float,
                 weight: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """(1 - weight) * hard cross-entropy + weight * T^2 * KL(teacher_T || student_T), mean over the batch."""
    hard = F.cross_entropy(student, labels, label_smoothing=label_smoothing)
    if weight == 0:
        return hard
    soft = F.kl_div(F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
                    reduction="batchmean", log_target=True) * temperature ** 2
    return (1 - weight) * hard + weight * soft


STAGED = "teacher"  # the folder beside nas/ in a remote search's staged code that holds its teacher


def stage(spec: str, code: Path) -> None:
    """Copy the teacher's files into a remote search's staged code (`code/teacher`), which NNI uploads
    to every worker with the code: a run's config.json and the seed's weights and history, or the
    TorchScript file. `origin.json` names the spec the trials were given and its path inside."""
    weights, config, seed = _locate(spec)
    dest = Path(code) / STAGED
    dest.mkdir(parents=True, exist_ok=True)
    if config is None:
        shutil.copy2(weights, dest / weights.name)
        inside = weights.name
    else:
        (dest / "config.json").write_text(json.dumps(config))
        (dest / f"seed{seed}").mkdir(exist_ok=True)
        for name in ("model.pt", "history.json"):
            if (weights.parent / name).exists():
                shutil.copy2(weights.parent / name, dest / f"seed{seed}" / name)
        inside = f"seed{seed}"
    (dest / "origin.json").write_text(json.dumps({"spec": spec, "path": inside, "sha256": _sha256(weights)}))


def on_this_machine(spec: str) -> str:
    """The teacher's path where this process runs: `spec` itself where it exists, else the copy a
    remote search staged beside this code (checked by its SHA-256); a ConfigError if neither."""
    if Path(spec).exists():
        return spec
    staged = Path(__file__).resolve().parents[2] / STAGED
    origin = json.loads((staged / "origin.json").read_text()) if (staged / "origin.json").exists() else {}
    if origin.get("spec") == spec:
        path = staged / origin["path"]
        weights, _, _ = _locate(str(path))
        if _sha256(weights) != origin["sha256"]:
            raise ConfigError(f"the staged copy of teacher {spec!r} does not match its file (sha256)")
        return str(path)
    raise ConfigError(f"teacher {spec!r} does not exist on this machine, and no staged copy of it was uploaded")
