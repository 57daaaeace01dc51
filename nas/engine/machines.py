"""Searches past one machine: the `--machines` file, a check of every machine before anything starts,
and what each worker needs to run trials through NNI's remote (SSH) training service.

    {"machines": [
       {"host": "10.0.0.5", "user": "me", "key": "~/.ssh/id_ed25519", "python": "/opt/venv/bin/python",
        "workdir": "/scratch/nas", "trials": 2, "data_dir": "/data/mnist"},
       ...],
     "liveness_s": 60}

(or the same keys in TOML, `[[machines]]` tables; optional `known_hosts`, the file SSH checks the
hosts' keys against, default the user's own). Per machine: `host`, `port` (22), `user`, `key`
(an SSH private key file on this machine), `python` (the interpreter of an environment with torch,
fvcore and NNI 3.0; the tool's own code is uploaded with every search), `workdir` (everything NNI
and the trials write there goes below it), `trials` (the most it runs at once: NNI gets it as that
many workers, each given a trial only when idle), `data_dir` (optional: a folder with the four MNIST
files; without it the usual lookup on the worker, else a download). `liveness_s`: a machine that
answers no SSH keep-alive this long is dropped (nas.engine.tunnels). `manager_ip` (optional, not
advised): the address the workers dial NNI's manager at directly, instead of through SSH tunnels;
the manager then has to listen there (`--host`), unauthenticated and unencrypted.

The file is read and type-checked first, before torch or NNI is imported (`load`). Every machine is
then checked over SSH (`check`): reachable, the key accepted, the Python there with the
dependencies and NNI 3.0, the data folder complete; a failure is one line naming the machine. Then
`prepare` writes `<workdir>/bin/python` on each, the interpreter NNI is given: it sets HOME to the
workdir (NNI 3.0 keeps a worker's files under ~/nni-experiments, with no option to move them), the
data and cache folders, makes NNI's trial keeper listen on loopback (loopback.js, written beside
it), and answers NNI's own `pip install nni --upgrade` (run at every worker start, a FIXME in NNI's
source, which needs a package index) without touching the environment, since the check has already
found NNI 3.0 there.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nas import nni_boundary
from nas.errors import ConfigError, ExperimentError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
LIVENESS_S = 60.0   # default of the machines file's `liveness_s` (nas.engine.tunnels)
NEEDS = ("torch", "fvcore", "nni", "numpy", "psutil")   # what a trial imports on the worker
CODE = ("nas", "search_spaces")                        # all of the project a trial needs


@dataclass(frozen=True)
class Machine:
    host: str
    user: str
    key: str
    python: str
    workdir: str
    port: int = 22
    trials: int = 1
    data_dir: str | None = None
    known_hosts: str | None = None   # the file SSH checks host keys against (None: the user's own)
    liveness_s: float = LIVENESS_S   # a machine that answers no SSH keep-alive this long is dropped

    @property
    def name(self) -> str:
        return f"{self.user}@{self.host}:{self.port} ({self.workdir})"

    @property
    def wrapper(self) -> str:
        return f"{self.workdir.rstrip('/')}/bin/python"


KEYS = {"host": str, "user": str, "key": str, "python": str, "workdir": str, "port": int, "trials": int,
        "data_dir": str}
REQUIRED = ("host", "user", "key", "python", "workdir")
TOP_KEYS = ("machines", "known_hosts", "manager_ip", "liveness_s")


def _typed(path: Path, i: int, m: dict) -> dict:
    """Machine `i`'s entries, each of its type (a bool is no integer, 2223.7 no port); ConfigError."""
    for k, v in m.items():
        want = KEYS[k]
        if want is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise ConfigError(f"machines file {path}: machine {i}: {k} must be an integer, not {json.dumps(v)}")
        if want is str and (not isinstance(v, str) or not v.strip()):
            raise ConfigError(f"machines file {path}: machine {i}: {k} must be a non-empty string, not {json.dumps(v)}")
    if not 1 <= m.get("port", 22) <= 65535:
        raise ConfigError(f"machines file {path}: machine {i}: port {m['port']} is not in 1..65535")
    if m.get("trials", 1) < 1:
        raise ConfigError(f"machines file {path}: machine {i}: trials must be at least 1, not {m['trials']}")
    return m


def check_key(key: str, where: str) -> None:
    """A key SSH's client would refuse, named as a problem of this machine's file, not of the server:
    absent, unreadable, a public key, readable by others (ssh ignores such a private key)."""
    p = Path(key)
    if not p.is_file():
        raise ConfigError(f"{where}: no SSH key file {key} on this machine")
    try:
        head = p.read_bytes()[:64]
    except OSError as e:
        raise ConfigError(f"{where}: cannot read SSH key file {key} on this machine ({e.strerror})") from None
    if key.endswith(".pub") or head.startswith((b"ssh-", b"ecdsa-", b"sk-")):
        raise ConfigError(f"{where}: {key} is a public key; give the private key file (without .pub)")
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{where}: SSH key file {key} on this machine has mode {mode:04o} and ssh refuses a "
                          f"private key others can read; run chmod 600 {key}")


def load(path: str | Path) -> tuple[list[Machine], str | None]:
    """(machines, manager_ip) from a JSON or TOML file, every value type-checked and every key file
    checked on this machine; ConfigError naming what is wrong. manager_ip None: the workers reach
    the manager through SSH tunnels (nas.engine.tunnels). Imports nothing heavy: the command line
    reads the file before torch."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read machines file {path}: {e.strerror}") from None
    kind = "TOML" if path.suffix == ".toml" else "JSON"
    try:
        doc = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except ValueError as e:
        raise ConfigError(f"machines file {path} is not valid {kind}: {str(e).splitlines()[0]}") from None
    entries = doc.get("machines") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"machines file {path} needs a non-empty list `machines`")
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"machines file {path} has unknown keys {unknown}; keys: {', '.join(TOP_KEYS)}")
    for k in ("known_hosts", "manager_ip"):
        if k in doc and (not isinstance(doc[k], str) or not doc[k].strip()):
            raise ConfigError(f"machines file {path}: {k} must be a non-empty string, not {json.dumps(doc[k])}")
    known_hosts = str(Path(doc["known_hosts"]).expanduser()) if doc.get("known_hosts") else None
    liveness = doc.get("liveness_s", LIVENESS_S)
    if isinstance(liveness, bool) or not isinstance(liveness, (int, float)) or not 2 <= liveness <= 3600:
        raise ConfigError(f"machines file {path}: liveness_s must be a number of seconds in 2..3600, "
                          f"not {json.dumps(liveness)}")
    machines = []
    for i, m in enumerate(entries, 1):
        if not isinstance(m, dict):
            raise ConfigError(f"machines file {path}: machine {i} is not an object")
        unknown = sorted(set(m) - set(KEYS))
        missing = sorted(set(REQUIRED) - set(m))
        if unknown or missing:
            raise ConfigError(f"machines file {path}: machine {i} " + (f"has unknown keys {unknown}" if unknown else "")
                              + (" and " if unknown and missing else "") + (f"lacks {missing}" if missing else "")
                              + f"; keys: {', '.join(sorted(KEYS))}")
        m = _typed(path, i, m)
        key = str(Path(m["key"]).expanduser())
        check_key(key, f"machines file {path}: machine {i}")
        machines.append(Machine(m["host"], m["user"], key, m["python"], m["workdir"], m.get("port", 22),
                                m.get("trials", 1), m.get("data_dir"), known_hosts, float(liveness)))
    if len({(m.host, m.port, m.workdir) for m in machines}) < len(machines):
        raise ConfigError(f"machines file {path}: two machines share host, port and workdir")
    return machines, doc.get("manager_ip")


def ssh_args(m: Machine) -> list[str]:
    """ssh's options and destination for the machine; BatchMode: a refused key fails instead of asking
    for a password; a host seen for the first time is added to the known hosts, a changed host key is
    refused; IdentitiesOnly: the machine's key alone, not whatever an agent offers."""
    return (["-i", m.key, "-p", str(m.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
             "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=accept-new"]
            + (["-o", f"UserKnownHostsFile={m.known_hosts}"] if m.known_hosts else []) + [f"{m.user}@{m.host}"])


def _ssh(m: Machine) -> list[str]:
    return ["ssh"] + ssh_args(m)


def ssh_command(m: Machine, command: str, timeout: float = 30.0, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run `command` on the machine."""
    try:
        return subprocess.run(_ssh(m) + [command], input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ExperimentError(f"machine {m.name}: no answer over SSH within {timeout:.0f} s") from None


def _ssh_error(m: Machine, r: subprocess.CompletedProcess) -> str | None:
    """The one-line reason an SSH command failed before it ran, or None if SSH itself worked."""
    if r.returncode != 255:
        return None
    text = r.stderr.strip()
    err = text.splitlines()[-1] if text else "ssh failed"
    if "Could not resolve hostname" in text:
        return f"machine {m.name}: host name {m.host!r} does not resolve on this machine (a typo, or DNS / /etc/hosts)"
    if "UNPROTECTED PRIVATE KEY" in text or "Load key" in text:  # the client refused its own key
        line = next((l for l in text.splitlines() if "Load key" in l), err)
        return f"machine {m.name}: this machine's ssh cannot use key {m.key} ({line.strip()})"
    if "Permission denied" in err:
        return f"machine {m.name}: the SSH server refused key {m.key} for user {m.user}"
    return f"machine {m.name}: cannot reach it over SSH ({err})"


def check(m: Machine, data_files: list[str] | None = None) -> None:
    """Refuse a machine that cannot run trials, in one line: unreachable, key refused, no Python,
    dependencies or NNI's version wrong, data folder incomplete. `data_files`: for a dataset other
    than MNIST, the driver's files, which every machine reads at the same paths."""
    probe = ("import importlib.metadata as m, json\n"
             "out = {}\n"
             f"for p in {list(NEEDS)!r}:\n"
             "    try: out[p] = m.version(p)\n"
             "    except m.PackageNotFoundError: out[p] = None\n"
             "print(json.dumps(out))")
    r = ssh_command(m, f"{shlex.quote(m.python)} -c {shlex.quote(probe)}")
    why = _ssh_error(m, r)
    if why:
        raise ExperimentError(why)
    if r.returncode != 0:
        raise ExperimentError(f"machine {m.name}: cannot run Python at {m.python} ({(r.stderr.strip().splitlines() or ['?'])[-1]})")
    try:
        versions = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ExperimentError(f"machine {m.name}: unexpected answer from {m.python}: {r.stdout.strip()[:200]}") from None
    missing = [p for p, v in versions.items() if v is None]
    if missing:
        raise ExperimentError(f"machine {m.name}: the Python at {m.python} lacks {', '.join(missing)} "
                              f"(install this project's dependencies there: pip install torch fvcore nni==3.0 ...)")
    if not str(versions["nni"]).startswith("3.0"):
        raise ExperimentError(f"machine {m.name}: NNI {versions['nni']} at {m.python}; this tool needs NNI 3.0")
    if m.data_dir:
        from nas.data.formats import FILES  # here: this module imports without torch

        files = " ".join(shlex.quote(f"{m.data_dir.rstrip('/')}/{f}") for f in FILES)
        r = ssh_command(m, f"for f in {files}; do test -s \"$f\" || echo \"$f\"; done")
        absent = r.stdout.split()
        if r.returncode != 0 or absent:
            raise ExperimentError(f"machine {m.name}: data folder {m.data_dir} lacks "
                                  + ", ".join(Path(a).name for a in absent or ["its files"]))
    if data_files:
        r = ssh_command(m, "for f in " + " ".join(map(shlex.quote, data_files)) + "; do test -s \"$f\" || echo \"$f\"; done")
        absent = r.stdout.split()
        if r.returncode != 0 or absent:
            raise ExperimentError(f"machine {m.name}: lacks {(absent or data_files)[0]} (a dataset other than MNIST "
                                  "is read at the driver's paths on every machine: copy its folder there)")


WRAPPER = """#!/bin/sh
# written by nas search --machines: the interpreter NNI runs this worker's trial keeper and trials with
export HOME={workdir}
export NAS_CACHE_DIR={workdir}/cache
# this machine's cores, shared by the trials it runs at once
threads=$(( $(nproc) / {trials} )); [ "$threads" -ge 1 ] || threads=1
export OMP_NUM_THREADS=$threads
# NNI's trial keeper (node) listens on every interface: its servers listen on loopback instead
export NAS_BIND_HOST=127.0.0.1
export NODE_OPTIONS="--require {workdir}/bin/loopback.js"
{data}if [ "$1 $2 $3 $4 $5" = "-m pip install nni --upgrade" ]; then
    echo "nas: NNI 3.0 is installed here (checked before the search); not upgrading"
    exit 0
fi
exec {python} "$@"
"""


def prepare(m: Machine) -> None:
    """Write the worker's interpreter wrapper (see the module docstring) into `<workdir>/bin`."""
    q = shlex.quote
    text = WRAPPER.format(workdir=q(m.workdir), python=q(m.python), trials=m.trials,
                          data=f"export NAS_MNIST_DIR={q(m.data_dir)}\n" if m.data_dir else "")
    r = ssh_command(m, f"mkdir -p {q(m.workdir)}/bin && cat > {q(m.wrapper)} && chmod +x {q(m.wrapper)}", stdin=text)
    if r.returncode != 0:
        raise ExperimentError(f"machine {m.name}: cannot write {m.wrapper}: {r.stderr.strip()[-200:]}")
    js = f"{m.workdir.rstrip('/')}/bin/loopback.js"
    r = ssh_command(m, f"cat > {q(js)}", stdin=nni_boundary.LOOPBACK_JS.read_text())
    if r.returncode != 0:
        raise ExperimentError(f"machine {m.name}: cannot write {js}: {r.stderr.strip()[-200:]}")


def stage_code(folder: Path) -> Path:
    """A folder holding only what a trial imports from this project (nas/, search_spaces/): what NNI
    uploads to every worker (no results, no virtual environment, no data)."""
    root = Path(__file__).resolve().parents[2]  # nas/engine/machines.py -> the project
    code = folder / "code"
    if code.exists():
        shutil.rmtree(code)
    for name in CODE:
        shutil.copytree(root / name, code / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return code


def configure(exp, machines: list[Machine], manager_ip: str | None, code: Path, port: int) -> None:
    """Point the NNI experiment at the machines: one NNI worker per trial slot, trials started by
    the worker's wrapper, the staged code uploaded. manager_ip None: every worker dials its own
    loopback, which the search's SSH link makes the manager's (nas.engine.tunnels)."""
    manager_ip = manager_ip or "127.0.0.1"
    from nni.experiment.config import RemoteConfig, RemoteMachineConfig  # here: this module imports without NNI

    workers = [RemoteMachineConfig(host=m.host, port=m.port, user=m.user, ssh_key_file=m.key,
                                   python_path=str(Path(m.wrapper).parent))
               for m in machines for _ in range(m.trials)]
    exp.config.training_service = RemoteConfig(machine_list=workers, reuse_mode=False)
    exp.config.nni_manager_ip = manager_ip
    exp.config.trial_code_directory = str(code)
    exp.config.trial_concurrency = len(workers)
    host = f"[{manager_ip}]" if ":" in manager_ip else manager_ip
    nni_boundary.use_remote_trial_entry(exp, "nas.nni_boundary.trial_entry", f"http://{host}:{port}")


LEFTOVERS = """
import os, psutil, sys
root = sys.argv[1]
mine = []
for p in psutil.process_iter(["cmdline"]):
    try:
        if root in " ".join(p.info["cmdline"] or []) or p.cwd().startswith(root):
            mine.append(p)
    except (psutil.Error, OSError):
        pass
group = {q.pid: q for p in mine for q in [p] + p.children(recursive=True) if q.pid != os.getpid()}
for q in group.values():
    try:
        q.kill()
    except psutil.Error:
        pass
print(len(group))
"""


def stop_leftovers(m: Machine, exp_id: str) -> int:
    """Kill what an earlier session of the experiment left running on the machine (its trial keepers
    and their trials: a killed driver leaves them behind); how many processes were stopped."""
    root = f"{m.workdir.rstrip('/')}/nni-experiments/{exp_id}/"
    r = ssh_command(m, f"{shlex.quote(m.python)} -c {shlex.quote(LEFTOVERS)} {shlex.quote(root)}")
    try:
        return int(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0
