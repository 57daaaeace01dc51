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
import time
from pathlib import Path

import psutil
import pytest

from test_e2e import free_port, listeners, nas, rest, wait_for_line

pytestmark = pytest.mark.slow

TINY = ["--schedule", "flat", "--epochs", "1", "--train-subset", "768", "--max-params", "8000",
        "--set", "val_size=500", "--set", "eval_batch=5000"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, sshd_binary):
    """An OpenSSH server on a free loopback port that accepts one key made here; (port, key, known_hosts)."""
    d = tmp_path_factory.mktemp("sshd")
    for name in ("key", "hostkey"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'hostkey'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'key.pub'}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "UsePAM no\nStrictModes no\nSubsystem sftp /usr/lib/openssh/sftp-server\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation folder
    proc = subprocess.Popen([str(sshd_binary), "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")])
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.time() < deadline and proc.poll() is None, (d / "sshd.log").read_text()
            time.sleep(0.2)
    yield port, d / "key", d / "known_hosts"
    proc.terminate()
    proc.wait(timeout=10)


def machines_file(tmp_path, sshd, data_dir, **over) -> Path:
    """Two machines on loopback: w1 with the data folder given, w2 finding it itself."""
    port, key, known = sshd
    base = {"host": "127.0.0.1", "port": port, "user": "root",
            "key": str(key), "python": sys.executable}
    doc = {"known_hosts": str(known), "machines": [
        {**base, "workdir": str(tmp_path / "w1"), "data_dir": str(data_dir), **over.get("w1", {})},
        {**base, "workdir": str(tmp_path / "w2"), **over.get("w2", {})}]}
    path = tmp_path / "machines.json"
    path.write_text(json.dumps(doc))
    return path


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
            "--results", str(res), "--port", str(free_port()), "--data-dir", str(data_dir), *TINY, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert "w2" in r.stderr and not (res / "searches" / "bad").exists()


def _search(tmp_path, sshd, data_dir, exp_id: str, trials: int, epochs: int, images: int) -> subprocess.Popen:
    """A flat remote search in the background, long enough per trial to be hit mid-training."""
    return subprocess.Popen([sys.executable, "-m", "nas", "search", "--id", exp_id, "--trials", str(trials),
                             "--machines", str(machines_file(tmp_path, sshd, data_dir)), "--results",
                             str(tmp_path / "res"), "--port", str(free_port()), "--data-dir", str(data_dir),
                             *TINY[:-4], "--set", "val_size=500", "--epochs", str(epochs), "--train-subset", str(images)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def _kill_first_trial(under: Path, after: float, timeout: float = 300) -> int:
    """SIGKILL the first trial process running in a folder below `under`, `after` s into its life."""
    end = time.time() + timeout
    while time.time() < end:
        for p in psutil.process_iter(["cmdline", "create_time"]):
            try:
                if "training_service" in " ".join(p.info["cmdline"] or []) and p.cwd().startswith(str(under)) \
                        and time.time() - p.info["create_time"] > after:
                    p.kill()
                    return p.pid
            except (psutil.Error, OSError):
                continue
        time.sleep(0.5)
    raise AssertionError(f"no trial ran below {under}")


def test_a_killed_trial_is_retried_once_and_a_lost_worker_costs_only_its_trials(tmp_path, sshd, data_dir):
    """One search answers both: every process of machine w2 is killed mid-search (its trial keeper and
    trial), then a trial training on w1 is killed. The search ends on w1 at its trial count, and the
    killed w1 trial's network is trained once more."""
    from nas.results.store import read_trials
    from search_spaces.choices import network_key

    res = tmp_path / "res"
    proc = _search(tmp_path, sshd, data_dir, "rk", trials=4, epochs=2, images=2000)
    _kill_first_trial(tmp_path / "w2", after=5)
    for p in psutil.process_iter(["cmdline"]):  # ... and the rest of w2: its trial keeper
        try:
            if str(tmp_path / "w2") in " ".join(p.info["cmdline"] or []):
                p.kill()
        except psutil.Error:
            pass
    # w2 is gone, so every trial from here on trains on w1, where one is killed 5 s into its life
    _kill_first_trial(tmp_path / "w1", after=5)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    assert "training it once more" in out
    trials = read_trials(res / "searches", "rk")
    ok = [t for t in trials if t.status == "SUCCEEDED"]
    killed = [t for t in trials if t.status != "SUCCEEDED"]
    assert len(ok) == 4 and killed
    # every trial trained the parameters NNI recorded for it (NNI hands them out first come, first
    # served; nni_boundary.take_own_parameters), so none needed repair or was left unknown
    assert all(t.sample_from == "nni" for t in trials)
    # each killed trial's network was trained again
    assert {network_key(t.sample) for t in killed} <= {network_key(t.sample) for t in ok}


def test_a_killed_remote_search_resumes_on_both_machines_and_exports_its_best(tmp_path, sshd, data_dir):
    """A search of 4 trials through SSH on two machines, SIGKILLed after its first trial and resumed:
    nothing lost or trained twice, nothing left running; both machines trained, each in its own
    folder, with only the trial's code uploaded; the best is exported, and `nas view` re-opens the
    stopped remote search's dashboard with its trials. (One search answers what two did before: an
    uninterrupted remote search checked the same machines, upload, export and view.)"""
    from nas.nni_boundary import managers
    from nas.results.store import read_trials
    from search_spaces.choices import network_key

    res, port = tmp_path / "res", free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "nas", "search", "--id", "rr", "--trials", "4", "--machines",
                             str(machines_file(tmp_path, sshd, data_dir)), "--results", str(res), "--port", str(port),
                             "--data-dir", str(data_dir), *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    wait_for_line(proc, "trial   1/4", timeout=600)
    proc.kill()
    proc.wait(timeout=30)
    kept = {t.id: t.final for t in read_trials(res / "searches", "rr") if t.status == "SUCCEEDED"}
    r = nas("resume", "rr", "--results", str(res), "--port", str(port), timeout=900, env=env)
    assert r.returncode == 0, r.stderr
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
