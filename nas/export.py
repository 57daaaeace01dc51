"""Read an experiment's trials from NNI's database and export the top-k architectures.

For each exported architecture, a folder with:
  arch.json   the choices that matter (canonical form), the trial's metrics, params and FLOPs
  model.py    a self-contained PyTorch file (torch only, no NNI): `build_model()` rebuilds it
  table.txt   fvcore's per-layer parameter / FLOP table
and, beside them, `summary.json` and `trials.csv` with every trial of the experiment.

Trials are ranked by their final validation accuracy (the search's metric; never the test
accuracy), ties going to the smaller model. NNI's SQLite database is read directly, so export works
whether or not the experiment's manager is running.
"""
from __future__ import annotations

import csv
import io
import json
import os
import pprint
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fvcore.nn import flop_count_table
import torch

from nas.budget import count, flop_analysis


class ExportError(RuntimeError):
    """Export cannot proceed (unknown experiment, target exists...); one line."""


@dataclass
class Trial:
    id: str
    status: str
    sample: dict
    final: dict = field(default_factory=dict)          # the final result reported by the trial
    intermediates: list = field(default_factory=list)  # one dict per epoch
    message: str = ""
    log_dir: str = ""
    sample_from: str = "nni"  # nni (NNI's record) | trial (the trial's own sample.json) | repaired | unknown

    @property
    def val_acc(self) -> float | None:
        return self.final.get("default")

    @property
    def reason(self) -> str:
        """Why a trial failed: NNI's message, else the exception line at the end of its stderr."""
        if self.message:
            return self.message
        if not self.log_dir:  # no log recorded: Path("") would read trial.stderr from the cwd
            return ""
        try:
            lines = (Path(self.log_dir) / "trial.stderr").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        exception_lines = [l for l in lines if l.strip() and not l.startswith((" ", "Traceback"))]
        return exception_lines[-1][:300] if exception_lines else ""


def _metric(raw: str) -> dict:
    value = json.loads(raw)
    value = json.loads(value) if isinstance(value, str) else value  # NNI stores it JSON-in-JSON
    return value if isinstance(value, dict) else {"default": value}


def read_trials(workdir: str | os.PathLike, exp_id: str) -> list[Trial]:
    """Every trial NNI recorded for the experiment, in submission order."""
    db = Path(workdir).resolve() / exp_id / "db" / "nni.sqlite"
    if not db.exists():
        raise ExportError(f"no NNI database for experiment {exp_id!r} at {db}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        trials: dict[str, Trial] = {}
        for tid, event, data, message, log_dir in con.execute(
                "SELECT trialJobId, event, data, message, logPath FROM TrialJobEvent ORDER BY timestamp"):
            t = trials.setdefault(tid, Trial(tid, event, {}))
            t.status = event
            if message:
                t.message = message
            if log_dir:
                t.log_dir = log_dir
            if data and not t.sample:
                try:
                    params = json.loads(data)["parameters"]
                    t.sample = params.get("sample", {})
                except (ValueError, KeyError, TypeError):
                    pass
        for tid, kind, data in con.execute(
                "SELECT trialJobId, type, data FROM MetricData ORDER BY timestamp"):
            if tid in trials:
                if kind == "FINAL":
                    trials[tid].final = _metric(data)
                else:
                    trials[tid].intermediates.append(_metric(data))
    finally:
        con.close()
    out = list(trials.values())
    for t in out:  # what the trial says it trained beats NNI's record (see `check_samples`)
        own = Path(t.log_dir) / SAMPLE_FILE if t.log_dir else None
        if own is not None and own.exists():
            try:
                t.sample, t.sample_from = json.loads(own.read_text()), "trial"
            except (OSError, ValueError):
                pass
    check_samples(out)
    return out


# Written by every trial into its own folder (nas/evaluate.py): the sample it really trained.
SAMPLE_FILE = "sample.json"


def _param_count(sample: dict) -> int | None:
    from search_spaces import choices  # the labels alone: no NNI import
    from search_spaces.blocks import build_network

    try:
        return sum(p.numel() for p in build_network(choices.canonical(sample)).parameters())
    except (KeyError, ValueError):
        return None


def check_samples(trials: list[Trial]) -> None:
    """Catch NNI handing two trials each other's architecture.

    NNI 3.0's local training service caches a trial's parameters when it creates the trial and
    gives them to whichever trial asks first; two trials created in the same millisecond (at
    concurrency > 1) can train each other's sample while NNI's database records the other one. A
    trial run since this check existed writes the sample it trained (`SAMPLE_FILE`), which read_trials
    prefers. For an older trial the parameter count it reported is compared with its recorded
    sample's: a mismatch is repaired when exactly one other mismatched trial's recorded sample has
    the reported count (the swap partner), else the sample is marked unknown and `rank` skips it."""
    suspects = [t for t in trials if t.sample_from == "nni" and t.sample and "params" in t.final]
    counts = {t.id: _param_count(t.sample) for t in suspects}
    wrong = [t for t in suspects if counts[t.id] != t.final["params"]]
    recorded = {t.id: dict(t.sample) for t in wrong}
    for t in wrong:
        partners = [o for o in wrong if o is not t and counts[o.id] == t.final["params"]]
        if len(partners) == 1:
            t.sample, t.sample_from = recorded[partners[0].id], "repaired"
        else:
            t.sample, t.sample_from = {}, "unknown"


def rank(trials: list[Trial]) -> list[Trial]:
    """Trials with a final validation accuracy, best first; fewer parameters break ties."""
    done = [t for t in trials if t.val_acc is not None and t.sample_from != "unknown"]
    return sorted(done, key=lambda t: (-t.val_acc, t.final.get("params", 0)))


def distinct(ranked: list[Trial]) -> list[Trial]:
    """The first (best) trial of each network: trials whose samples differ only in labels the
    network ignores trained the same network (a search repeats them less since Replay answers
    repeats, but older searches hold such trials)."""
    from search_spaces import choices  # the labels alone: no NNI import

    seen, out = set(), []
    for t in ranked:
        key = choices.network_key(t.sample)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def model_source(arch: dict) -> str:
    """A self-contained PyTorch file that rebuilds `arch` (the searched blocks, copied verbatim)."""
    import search_spaces.blocks as blocks

    code = Path(blocks.__file__).read_text()
    return ("# Exported architecture: needs torch only, not NNI. Use it with\n"
            "#     from model import build_model; net = build_model()\n"
            f"# ---- search_spaces/blocks.py, copied verbatim ----\n{code}\n\n"
            f"# ---- the exported choice ----\nARCH = {pprint.pformat(arch, sort_dicts=False)}\n\n\n"
            f"def build_model() -> nn.Sequential:\n    return build_network(ARCH)\n\n\n"
            f'if __name__ == "__main__":\n    net = build_model()\n'
            f'    print(net)\n    print(sum(p.numel() for p in net.parameters()), "parameters")\n')


def layer_table(model: torch.nn.Module) -> str:
    return flop_count_table(flop_analysis(model.eval()), max_depth=3) + "\n(FLOPs: fvcore multiply-adds for one 1x28x28 image)\n"


def write_dir_atomically(target: Path, files: dict[str, str], force: bool) -> None:
    """Write `files` into a fresh folder that replaces `target` in one rename (refused if it exists)."""
    if target.exists() and not force:
        raise ExportError(f"{target} exists; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def auto_export_allowed(out: str | os.PathLike) -> bool:
    """A search or resume may (re)write `out` unless it holds an export the user made with
    `nas export`: that one is never replaced without `nas export --force`."""
    summary = Path(out) / "summary.json"
    if not Path(out).exists():
        return True
    try:
        return json.loads(summary.read_text()).get("written_by") == "search"
    except (OSError, ValueError):
        return False


def trials_csv(trials: list[Trial]) -> str:
    cols = ["trial", "status", "val_acc", "best_val_acc", "params", "flops", "train_acc", "test_acc", "seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(cols + ["arch"])
    for t in trials:
        f = t.final
        w.writerow([t.id, t.status] + [f.get(c, "") for c in cols[2:]] + [json.dumps(t.sample, sort_keys=True)])
    return buf.getvalue()


def export(workdir: str, exp_id: str, out: str | os.PathLike, top_k: int = 1, force: bool = False,
           written_by: str = "export") -> list[dict]:
    """Export the top-k trials of an experiment into `out` (one folder, written atomically).
    `written_by` ("export" or "search") is recorded in summary.json: a search or resume refreshes
    only the exports it wrote itself (see `auto_export_allowed`)."""
    from search_spaces import choices  # the labels alone: no NNI import
    from search_spaces.blocks import build_network

    if top_k < 1:
        raise ExportError(f"top-k must be at least 1, got {top_k}")
    trials = read_trials(workdir, exp_id)
    ranked = rank(trials)
    if not ranked:
        failed = [t for t in trials if t.status == "FAILED"]
        why = f"; {len(failed)} failed, e.g. {failed[0].id}: {failed[0].reason}" if failed else ""
        raise ExportError(f"experiment {exp_id} has no trial with a final result yet "
                          f"({len(trials)} trials recorded{why})")
    files: dict[str, str] = {}
    exported = []
    for i, t in enumerate(distinct(ranked)[:top_k], 1):
        arch = choices.canonical(t.sample)
        net = build_network(arch)
        params, flops = count(net)
        entry = {"rank": i, "trial": t.id, "arch": arch, "params": params, "flops": flops,
                 "metrics": t.final, "experiment": exp_id}
        folder = f"rank{i}_{t.id}"
        files[f"{folder}/arch.json"] = json.dumps(entry, indent=2) + "\n"
        files[f"{folder}/model.py"] = model_source(arch)
        files[f"{folder}/table.txt"] = layer_table(net)
        exported.append({**entry, "path": str(Path(out) / folder)})
    summary = {"experiment": exp_id, "written_by": written_by, "trials": len(trials),
               "succeeded": sum(t.status == "SUCCEEDED" for t in trials),
               "failed": [{"trial": t.id, "status": t.status, "reason": t.reason}
                          for t in trials if t.status not in ("SUCCEEDED", "RUNNING", "WAITING")],
               "ranking": [{"trial": t.id, "val_acc": t.val_acc, "params": t.final.get("params"),
                            "flops": t.final.get("flops")} for t in ranked]}
    files["summary.json"] = json.dumps(summary, indent=2) + "\n"
    files["trials.csv"] = trials_csv(trials)
    write_dir_atomically(Path(out), files, force)
    return exported
