"""Bring a finished search's kept trial weights home: into `<searches>/<id>/weights/<trial>/model.pt`,
where the export finds them (nas.deploy.export.trial_weights) after the trial folders are gone.

A trial that keeps its weights writes them into its own folder (nas.engine.trial). On this machine
that folder is local and they are copied. On a remote worker (`--machines`) it lies below the
machine's workdir (`host:~/nni-experiments/<id>/environments/<worker>/trials/<trial>`, `~` being
the workdir NNI's worker runs with), and NNI's remote service brings back only a trial's logs: each
machine's weights come over SSH in one tar stream.
"""
from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

from nas.deploy.export import KEPT_WEIGHTS
from nas.engine import machines
from nas.nni_boundary.trial_side import TRIAL_WEIGHTS
from nas.results.store import read_trials

FETCH_TIMEOUT_S = 300


def collect(workdir: str | Path, exp_id: str, machines_file: str | None = None) -> list[str]:
    """Keep the weights of the search's succeeded trials that wrote any; returns the warnings (a
    machine that could not be reached), one line each."""
    home = Path(workdir) / exp_id / KEPT_WEIGHTS
    wanted = {t.id: t for t in read_trials(workdir, exp_id)
              if t.status == "SUCCEEDED" and not (home / t.id / TRIAL_WEIGHTS).exists()}
    for t in list(wanted.values()):
        if t.log_dir and Path(t.log_dir).is_absolute():
            src = Path(t.log_dir) / TRIAL_WEIGHTS
            if src.exists():
                (home / t.id).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, home / t.id / TRIAL_WEIGHTS)
            del wanted[t.id]
    if not wanted or not machines_file:
        return []
    warnings = []
    for m in machines.load(machines_file)[0]:
        try:
            for trial, data in fetch(m, exp_id).items():
                if trial in wanted:
                    (home / trial).mkdir(parents=True, exist_ok=True)
                    (home / trial / TRIAL_WEIGHTS).write_bytes(data)
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as e:
            warnings.append(f"machine {m.name}: its trials' weights did not come back ({e})")
    return warnings


def fetch(m: machines.Machine, exp_id: str) -> dict[str, bytes]:
    """trial id -> the weights its trials kept on machine `m`, in one SSH call."""
    root = f"nni-experiments/{exp_id}/environments"
    command = (f"cd {shlex.quote(m.workdir)} && [ -d {shlex.quote(root)} ] && "
               f"find {shlex.quote(root)} -path '*/trials/*/{TRIAL_WEIGHTS}' -print0 | tar cf - --null -T - "
               f"|| true")
    r = subprocess.run(machines._ssh(m) + [command], capture_output=True, timeout=FETCH_TIMEOUT_S)
    if r.returncode == 255:
        raise OSError((r.stderr.decode(errors="replace").strip().splitlines() or ["ssh failed"])[-1])
    if not r.stdout:
        return {}
    out = {}
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts  # .../trials/<trial>/model.pt
            if member.isfile() and len(parts) >= 3 and parts[-3] == "trials":
                out[parts[-2]] = tar.extractfile(member).read()
    return out
