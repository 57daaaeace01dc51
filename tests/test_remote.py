"""Searches on NNI's remote (SSH) training service, all real, on loopback only: the test starts
Debian's OpenSSH server on a free 127.0.0.1 port with a key made for it, and declares two
"machines" there with different working folders. A search of 4 trials runs through SSH on both,
is killed and resumed, and exports its best; each machine is checked first (unreachable, refused key, Python without the
dependencies, another NNI, missing data: one line, nothing written); in one search, a worker that
disappears costs only its own trials and a killed trial is retried once; a killed driver resumes
without loss or repeat.
(`.ci/run` installs openssh-server; CI runs as root, as sshd needs.)"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import ns_listeners, ns_release
from test_e2e import free_port, listeners, nas, rest, wait_for_line

pytestmark = pytest.mark.slow

TINY = ["--schedule", "flat", "--epochs", "1", "--train-subset", "768", "--max-params", "8000",
        "--set", "val_size=500", "--set", "eval_batch=5000"]


def machines_file(tmp_path, sshd, data_dir, ns=None, **over) -> Path:
    """Two machines: w1 on loopback with the data folder given, w2 finding it itself, on loopback too
    or, given `ns` (conftest's worker_ns), on the second host that namespace is, reached through an
    SSH tunnel; a machine silent for LIVENESS_S is dropped."""
    port, key, known = sshd
    base = {"host": "127.0.0.1", "port": port, "user": "root",
            "key": str(key), "python": sys.executable}
    there = {"host": ns.host, "port": ns.port} if ns is not None else {}
    doc = {"known_hosts": str(known), "liveness_s": LIVENESS_S, "machines": [
        {**base, "workdir": str(tmp_path / "w1"), "data_dir": str(data_dir), **over.get("w1", {})},
        {**base, **there, "workdir": str(tmp_path / "w2"), **over.get("w2", {})}]}
    path = tmp_path / "machines.json"
    path.write_text(json.dumps(doc))
    return path


LIVENESS_S = 4


def free_port_pair() -> int:
    """A free port whose next one is free too: NNI's remote mode needs both."""
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def _busy_per_machine(res: Path, exp_id: str) -> dict[str, int]:
    """The most trials each NNI worker (one trial slot of a machine: remote-worker1 is w1's,
    remote-worker2 w2's) ran at once, from NNI's records: the start and end events of every trial,
    less those a resume marked interrupted (their end is written at the resume)."""
    import sqlite3

    from nas.nni_boundary import INTERRUPTED_MESSAGE

    con = sqlite3.connect(res / "searches" / exp_id / "db" / "nni.sqlite")
    rows = con.execute("SELECT trialJobId, event, timestamp, environmentId, message FROM TrialJobEvent").fetchall()
    con.close()
    skip = {t for t, _, _, _, m in rows if m == INTERRUPTED_MESSAGE}
    marks = sorted((ts, 1 if ev == "RUNNING" else -1, env) for t, ev, ts, env, _ in rows
                   if t not in skip and ev in ("RUNNING", "SUCCEEDED", "FAILED", "USER_CANCELED", "EARLY_STOPPED"))
    now, peak = {}, {}
    for _, step, env in marks:
        now[env] = now.get(env, 0) + step
        peak[env] = max(peak.get(env, 0), now[env])
    return peak


def _listening(tmp_path, exp_id: str) -> set[str]:
    """ip:port of every TCP socket this search's processes listen on here: the driver, NNI's manager,
    the trial keepers and trials of w1 (everything naming the test's folder or the experiment)."""
    found = set()
    for c in psutil.net_connections("tcp"):
        if c.status != "LISTEN" or not c.pid:
            continue
        try:
            p = psutil.Process(c.pid)
            mine = str(tmp_path) in " ".join(p.cmdline()) + p.cwd() or exp_id in p.cmdline()
        except (psutil.Error, OSError):
            continue
        if mine:
            found.add(f"{c.laddr.ip}:{c.laddr.port}")
    return found


class Lines(threading.Thread):
    """A process's stdout, read as it comes: each line with the time it arrived."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.lines = proc, []
        self.start()

    def run(self):
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def _trial_dirs(tmp_path, worker: str, exp_id: str) -> list[Path]:
    return list((tmp_path / worker / "nni-experiments" / exp_id / "environments").glob("*/trials/*"))


@pytest.mark.parametrize("case, message", [
    ("unreachable", "cannot reach it over SSH"),
    ("refused key", "refused key"),
    ("no dependencies", "lacks"),
    ("other NNI", "this tool needs NNI 3.0"),
    ("no data", "lacks train-images-idx3-ubyte.gz"),
])
def test_a_machine_that_cannot_run_trials_is_refused_in_one_line(tmp_path, sshd, data_dir, case, message):
    over = {}
    if case == "unreachable":
        over = {"w2": {"port": free_port()}}
    elif case == "refused key":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
        over = {"w2": {"key": str(tmp_path / "other")}}
    elif case == "no dependencies":
        venv = tmp_path / "bare"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        over = {"w2": {"python": str(venv / "bin" / "python")}}
    elif case == "other NNI":
        fake = tmp_path / "fake-python"
        fake.write_text('#!/bin/sh\necho \'{"torch": "2.14.1", "fvcore": "0.1.5", "nni": "3.1", "numpy": "2", '
                        '"psutil": "7"}\'\n')
        fake.chmod(0o755)
        over = {"w2": {"python": str(fake)}}
    elif case == "no data":
        over = {"w2": {"data_dir": str(tmp_path / "empty")}}
    res = tmp_path / "res"
    r = nas("search", "--id", "bad", "--machines", str(machines_file(tmp_path, sshd, data_dir, **over)),
            "--results", str(res), "--port", str(free_port_pair()), "--data-dir", str(data_dir), *TINY, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert "w2" in r.stderr and not (res / "searches" / "bad").exists()


def _search(tmp_path, sshd, data_dir, exp_id: str, trials: int, epochs: int, images: int, ns=None) -> subprocess.Popen:
    """A flat remote search in the background, long enough per trial to be hit mid-training."""
    return subprocess.Popen([sys.executable, "-m", "nas", "search", "--id", exp_id, "--trials", str(trials),
                             "--machines", str(machines_file(tmp_path, sshd, data_dir, ns)), "--results",
                             str(tmp_path / "res"), "--port", str(free_port_pair()), "--data-dir", str(data_dir),
                             *TINY[:-4], "--set", "val_size=500", "--epochs", str(epochs), "--train-subset", str(images)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _first_trial(under: Path, after: float, timeout: float = 300):
    """The first trial process running in a folder below `under`, once it is `after` s old."""
    end = time.time() + timeout
    while time.time() < end:
        for p in psutil.process_iter(["cmdline", "create_time"]):
            try:
                if "training_service" in " ".join(p.info["cmdline"] or []) and p.cwd().startswith(str(under)) \
                        and time.time() - p.info["create_time"] > after:
                    return p
            except (psutil.Error, OSError):
                continue
        time.sleep(0.5)
    raise AssertionError(f"no trial ran below {under}")


def test_a_frozen_machine_costs_one_trial_and_a_killed_trial_is_retried_once(tmp_path, sshd, worker_ns, data_dir):
    """One search answers both, w2 on the second host (a namespace, through a tunnel): once a trial
    trains there, everything on w2 is frozen (SIGSTOP: its SSH server, sessions, trial keeper and
    trial, as a host that hangs); then a trial training on w1 is killed. w2 is dropped in one line
    within its liveness time, its trial is retried on w1, the killed one too, and the search ends at
    its trial count with every network accounted for, none trained more than twice, and w1 never
    running more than its one trial at once (NNI's records)."""
    from nas.results.store import read_trials
    from search_spaces.choices import network_key

    res = tmp_path / "res"
    proc = _search(tmp_path, sshd, data_dir, "rk", trials=4, epochs=1, images=1000, ns=worker_ns)
    out = Lines(proc)
    try:
        _first_trial(tmp_path / "w2", after=5)
        frozen = time.monotonic()
        for pid in subprocess.run(["ip", "netns", "pids", worker_ns.ns], capture_output=True, text=True).stdout.split():
            os.kill(int(pid), signal.SIGSTOP)
        # w2 is gone, so every trial from here on trains on w1, where one is killed 5 s into its life
        _first_trial(tmp_path / "w1", after=5).kill()
        err = proc.stderr.read()
        proc.wait(timeout=900)
    finally:
        proc.kill()
        ns_release(worker_ns)
    out.join(timeout=10)
    assert proc.returncode == 0, err
    dropped = [(t, line) for t, line in out.lines if line.startswith("machine ")]
    assert len(dropped) == 1 and f"root@{worker_ns.host}:{worker_ns.port} answered no SSH keep-alive for 4 s" \
        in dropped[0][1] and "dropped" in dropped[0][1], out.text()
    # bounded: the keep-alive's 4 s, plus a second of the watch's poll and the load of the machine
    assert dropped[0][0] - frozen < LIVENESS_S + 6, dropped[0][0] - frozen
    assert out.text().count("training it once more") == 2, out.text()
    trials = read_trials(res / "searches", "rk")
    ok = [t for t in trials if t.status == "SUCCEEDED"]
    lost = [t for t in trials if t.status != "SUCCEEDED"]
    assert len(ok) == 4 and len(lost) == 2, [(t.id, t.status) for t in trials]
    # every trial trained the parameters NNI recorded for it (NNI hands them out first come, first
    # served; nni_boundary.take_own_parameters), so none needed repair or was left unknown
    assert all(t.sample_from == "nni" for t in trials)
    # each lost trial's network was trained again, once: no candidate lost, none trained a third time
    keys = [network_key(t.sample) for t in trials]
    assert {network_key(t.sample) for t in lost} <= {network_key(t.sample) for t in ok}
    assert max(keys.count(k) for k in keys) <= 2
    assert _busy_per_machine(res, "rk")["remote-worker1"] == 1


def test_a_killed_remote_search_resumes_on_both_machines_and_exports_its_best(tmp_path, sshd, worker_ns, data_dir):
    """A search of 4 trials through SSH on two machines, w2 the second host (a namespace, through a
    tunnel), SIGKILLed after its first trial and resumed: nothing lost or trained twice, nothing left
    running (its SSH links die with it); both machines trained, each in its own folder, with only the
    trial's code uploaded, each never more than one trial at once (NNI's records); nothing of the
    search listened beyond loopback, here or on w2; the best is exported, and `nas view` re-opens
    the stopped remote search's dashboard with its trials. (One search answers what two did before: an
    uninterrupted remote search checked the same machines, upload, export and view.)"""
    from nas.nni_boundary import managers
    from nas.results.store import read_trials
    from search_spaces.choices import network_key

    res, port = tmp_path / "res", free_port_pair()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "nas", "search", "--id", "rr", "--trials", "4", "--machines",
                             str(machines_file(tmp_path, sshd, data_dir, worker_ns)), "--results", str(res), "--port", str(port),
                             "--data-dir", str(data_dir), *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    wait_for_line(proc, "trial   1/4", timeout=600)
    proc.kill()
    proc.wait(timeout=30)
    time.sleep(1)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(sshd[1]) in " ".join(p.info["cmdline"] or [])]
    kept = {t.id: t.final for t in read_trials(res / "searches", "rr") if t.status == "SUCCEEDED"}
    resumed = subprocess.Popen([sys.executable, "-m", "nas", "resume", "rr", "--results", str(res), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    here, there = set(), set()
    while resumed.poll() is None:  # who listens, while the resumed search runs
        here |= _listening(tmp_path, "rr")
        there |= ns_listeners(worker_ns.ns)
        time.sleep(0.5)
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    # the manager and w1's trial keepers here, the tunnel's end and w2's trial keepers there: loopback only
    assert f"127.0.0.1:{port}" in here and f"127.0.0.1:{port}" in there and len(there) >= 3, (here, there)
    assert all(a.startswith("127.0.0.1:") for a in here), here
    assert there - {f"{worker_ns.host}:{worker_ns.port}"} == {a for a in there if a.startswith("127.0.0.1:")}, there
    assert set(_busy_per_machine(res, "rr").values()) == {1}
    # the counter counts the trial the kill interrupted: never a count above its total (7/6)
    counts = [tuple(map(int, line.split()[1].split("/"))) for line in out.splitlines() if line.startswith("trial ")]
    assert counts and all(k <= n for k, n in counts), out
    trials = read_trials(res / "searches", "rr")
    done = {t.id: t.final for t in trials if t.status == "SUCCEEDED"}
    assert len(done) == 4 and all(done[k] == v for k, v in kept.items())
    assert len({network_key(t.sample) for t in trials if t.status == "SUCCEEDED"}) == 4
    assert not managers("rr") and not listeners(port)
    leftover = [p for p in psutil.process_iter(["cmdline"])
                if "nni-experiments/rr/" in " ".join(p.info["cmdline"] or [])]
    assert not leftover
    # both machines trained, each in its own folder
    assert _trial_dirs(tmp_path, "w1", "rr") and _trial_dirs(tmp_path, "w2", "rr")
    # only the trial's code went up: the project's two packages, no results, no environment, no data
    uploaded = {p.name for p in (tmp_path / "w1" / "nni-experiments" / "rr" / "environments").glob("*/upload/*/*")}
    assert {"nas", "search_spaces"} <= uploaded and not uploaded & {"results", ".venv", "tests", ".git"}
    [best] = (res / "exports" / "rr").glob("rank1_*/arch.json")
    # its weights came home from the worker that trained them (NNI brings back only a trial's logs)
    assert (best.parent / "model.pt").exists() and json.loads(best.read_text())["onnx"]["weights"].startswith(
        "trained: proxy-trained, 1 epoch x 768 images")
    # view re-opens the stopped remote search's dashboard, which lists its trials
    view = subprocess.Popen([sys.executable, "-m", "nas", "view", "rr", "--results", str(res), "--port", str(port),
                             "--seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(view, "dashboard at", timeout=120)
        deadline = time.time() + 60
        while True:
            try:
                assert len(rest(port, "trial-jobs")) == len(trials)
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(1)
    finally:
        view.send_signal(signal.SIGINT)
        view.wait(timeout=60)
    assert view.returncode == 0


def test_another_dataset_must_be_at_the_drivers_paths_on_every_machine(tmp_path, sshd, data_dir):
    from nas.engine import machines
    from nas.errors import ExperimentError

    listed = machines.load(machines_file(tmp_path, sshd, data_dir))[0]
    here = [str(data_dir / f) for f in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    machines.check(listed[0], here)  # present on the machine (loopback: the same disk)
    with pytest.raises(ExperimentError, match=r"w1\): lacks /nonexistent/t10k-images"):
        machines.check(listed[0], here + ["/nonexistent/t10k-images-idx3-ubyte"])
