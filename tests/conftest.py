"""Shared fixtures: the real MNIST files (../shared/data/mnist, or $NAS_MNIST_DIR) and a private
decode cache per test session, so tests never touch ~/.cache.

What the suite needs from the system (README, "Tests"): MNIST, OpenSSH's server (/usr/sbin/sshd,
tests/test_remote.py; its network namespaces need root and iproute2's `ip`) and Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). A test
whose part is missing is skipped with one line saying why, except under CI (the environment variable
CI set, as `.ci/run` runs): there a missing part fails, so CI can never pass by skipping."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from nas.data.datasets import DEBIAN_FASHION, ENV_CACHE, ENV_DIR, FILES, TEAM_COPY
from nas.process import prepare_process

prepare_process()  # what the command line does first: NNI's lighter import, known warnings filtered

SSHD = Path("/usr/sbin/sshd")


def require(present: bool, why: str) -> None:
    """Skip the test with `why` when a system part is missing; under CI, fail instead."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI is set: a missing system part fails instead of skipping)", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = Path(os.environ.get(ENV_DIR) or TEAM_COPY)
    require(all((folder / f).exists() for f in FILES), f"MNIST not found in {folder}: set {ENV_DIR}")
    return folder


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """Debian's Fashion-MNIST (package dataset-fashion-mnist)."""
    require((DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists(),
            f"Fashion-MNIST not in {DEBIAN_FASHION}: apt-get install dataset-fashion-mnist")
    return DEBIAN_FASHION


@pytest.fixture(scope="session")
def sshd_binary() -> Path:
    """OpenSSH's server (package openssh-server), started on loopback by tests/test_remote.py."""
    require(SSHD.exists(), f"OpenSSH server not installed ({SSHD}): apt-get install openssh-server")
    return SSHD


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("nas-cache")
    old = os.environ.get(ENV_CACHE)
    os.environ[ENV_CACHE] = str(cache)
    yield cache
    if old is None:
        os.environ.pop(ENV_CACHE, None)
    else:
        os.environ[ENV_CACHE] = old


@contextlib.contextmanager
def export_files_skipped():
    """In-process runs (nas.training.runs.run) skip their ONNX and int8 files: about 5 s a run, most
    of a tiny run's time, for tests of something else (test_onnx.py, test_int8.py and the
    command-line runs check those files)."""
    import nas.training.runs as runs

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "_write_onnx", lambda *a, **k: {"checked_on": "-", "max_abs_diff": 0.0})
        mp.setattr(runs, "write_run_int8", lambda *a, **k: {"seeds": {}, "file": "-", "split": "-"})
        yield


@pytest.fixture
def no_export_files():
    with export_files_skipped():
        yield


@pytest.fixture(scope="session")
def small_splits(data_dir):
    """2,000 real training images, 1,000 validation, the first 2,000 test images (the test set is
    evaluated after every epoch: all 10,000 would cost more than the training itself)."""
    from dataclasses import replace

    from nas.data.datasets import load_splits

    s = load_splits(data_dir, val_size=1000, train_subset=2000)
    return replace(s, test_x=s.test_x[:2000], test_y=s.test_y[:2000])


@pytest.fixture(scope="session")
def user_search(tmp_path_factory, fashion_dir):
    """One tiny flat search on a user's own data, shared by the tests of what a user sees
    (test_userdata, test_next_steps, test_user_report): an IDX folder of 5 classes of 20x20 images,
    evolution with its default warm start, 3 trials of 1 epoch on 800 images, into a results root
    that is not the default, from a folder that is neither the repository nor that root. Tests that
    write into the root work on a copy of it (test_next_steps, which resumes it, on the root itself)."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from test_e2e import free_port
    from test_userdata import write_fashion5

    tmp = tmp_path_factory.mktemp("user")
    data, res, work = write_fashion5(tmp / "fashion5", fashion_dir), tmp / "my-results", tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NAS_RESULTS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    r = subprocess.run([sys.executable, "-m", "nas", "search", "--id", "mine", "--dataset", "idx", "--data-dir", str(data),
                        "--results", str(res), "--strategy", "evolution", "--schedule", "flat", "--trials", "3",
                        "--epochs", "1", "--train-subset", "800", "--max-params", "8000", "--set", "eval_batch=5000",
                        "--port", str(free_port())], capture_output=True, text=True, cwd=work, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    pristine = tmp / "pristine" / res.name  # the root as the search left it, before any test writes into it
    shutil.copytree(res, pristine)
    return SimpleNamespace(out=r.stdout, err=r.stderr, data=data, res=res, pristine=pristine, work=work, tmp=tmp)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_sshd(d: Path, address: str, port: int, netns: str | None = None) -> subprocess.Popen:
    """Debian's OpenSSH server on address:port (inside `netns` if given), accepting d/key only."""
    name = f"sshd-{netns or 'lo'}"
    (d / f"{name}_config").write_text(
        f"Port {port}\nListenAddress {address}\nHostKey {d / 'hostkey'}\nPidFile {d / (name + '.pid')}\n"
        f"AuthorizedKeysFile {d / 'key.pub'}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "UsePAM no\nStrictModes no\nSubsystem sftp /usr/lib/openssh/sftp-server\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation folder
    cmd = [str(SSHD), "-D", "-f", str(d / f"{name}_config"), "-E", str(d / f"{name}.log")]
    proc = subprocess.Popen((["ip", "netns", "exec", netns] if netns else []) + cmd)
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            return proc
        except OSError:
            assert time.time() < deadline and proc.poll() is None, (d / f"{name}.log").read_text()
            time.sleep(0.2)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory, sshd_binary):
    """An OpenSSH server on a free loopback port that accepts one key made here; (port, key, known_hosts)."""
    d = tmp_path_factory.mktemp("sshd")
    for name in ("key", "hostkey"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    port = _free_port()
    proc = _start_sshd(d, "127.0.0.1", port)
    yield port, d / "key", d / "known_hosts"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def worker_ns(sshd):
    """A second host: a network namespace made here, with its own loopback, reached from this one
    over a veth pair (link-local addresses, so no traffic leaves the machine), and an OpenSSH server
    inside accepting `sshd`'s key. Yields (namespace, its address, the SSH port). Everything it made
    (the server and every process left in the namespace, the veth pair, the namespace) is removed
    afterwards, whatever the test did. Yields its name `ns`, its address `host`, this side's `here`,
    the SSH `port` and the server's `sshd_pid`."""
    require(os.geteuid() == 0 and shutil.which("ip") is not None, "network namespaces need root and iproute2's ip")
    tag = os.getpid() % 100000
    ns, here_if, there_if = f"nas-w{tag}", f"nasw{tag}a", f"nasw{tag}b"
    net = f"169.254.{tag % 250 + 1}"   # a /30 of its own: two test sessions at once do not collide
    here, there = f"{net}.1", f"{net}.2"
    d = Path(sshd[1]).parent
    made = []
    try:
        for cmd in (["ip", "netns", "add", ns], ["ip", "link", "add", here_if, "type", "veth", "peer", "name", there_if],
                    ["ip", "link", "set", there_if, "netns", ns], ["ip", "addr", "add", f"{here}/30", "dev", here_if],
                    ["ip", "link", "set", here_if, "up"],
                    ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{there}/30", "dev", there_if],
                    ["ip", "netns", "exec", ns, "ip", "link", "set", there_if, "up"],
                    ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True, capture_output=True)
            made.append(cmd)
        proc = _start_sshd(d, there, 22, netns=ns)
        yield SimpleNamespace(ns=ns, host=there, here=here, port=22, sshd_pid=proc.pid)
        proc.terminate()
        proc.wait(timeout=10)
    finally:
        # every process still in the namespace (a test's frozen ones included) goes with it
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            for sig in ("-CONT", "-KILL"):
                subprocess.run(["kill", sig, pid], capture_output=True)
        subprocess.run(["ip", "link", "del", here_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def ns_listeners(ns: str) -> set[str]:
    """addr:port of every TCP socket listening inside the namespace."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def ns_release(w) -> None:
    """Thaw the namespace's processes and end all but its SSH server (what a frozen machine left)."""
    for pid in subprocess.run(["ip", "netns", "pids", w.ns], capture_output=True, text=True).stdout.split():
        subprocess.run(["kill", "-CONT", pid], capture_output=True)
        if int(pid) != w.sshd_pid:
            subprocess.run(["kill", "-KILL", pid], capture_output=True)
