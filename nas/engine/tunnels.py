"""The SSH links of a remote search: one OpenSSH client per machine, held open for the whole search.

For a machine whose loopback is not this one's, the link is a reverse tunnel (`ssh -N -R
127.0.0.1:PORT:127.0.0.1:PORT`, the machine's own key): NNI's worker and trials on that machine dial
their own 127.0.0.1:PORT and arrive, encrypted, at the manager, which listens on this machine's
loopback only. NNI tells workers the manager's own port, so the forwarded port equals it; before
anything starts, `probe` asks each machine what answers on its 127.0.0.1:PORT while this process
holds that port with a token: the token back means the machine shares this loopback (it is this
machine: no tunnel needed), a refusal means the port is free there, anything else means another
program (another search there) holds it, said in one line.

Every link also watches its machine: SSH's keep-alive (ServerAliveInterval x ServerAliveCountMax,
`liveness_s` in all) ends the client when the machine stops answering, whether it hung, lost its
network or died. `Links.lost()` names the machines whose link has ended; nas.engine.launch drops them.
"""
from __future__ import annotations

import secrets
import shlex
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from nas.engine.machines import LIVENESS_S, Machine, ssh_args, ssh_command
from nas.errors import ExperimentError

ALIVE_CHECKS = 4       # keep-alive probes in that time; the link ends after this many go unanswered

PROBE = """
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
except OSError:
    print("free")
else:
    s.settimeout(5)
    try:
        print("token:" + s.recv(64).decode(errors="replace").strip())
    except OSError:
        print("token:")
"""


class PortTaken(ExperimentError):
    """Another program holds the manager's port on a machine's loopback."""

    def __init__(self, message: str, machine: str):
        super().__init__(message)
        self.machine = machine


def probe(machines: list[Machine], port: int) -> dict[Machine, str]:
    """{machine: "same" | "free"} for 127.0.0.1:`port` on each machine (see the module docstring),
    while this process holds that port on its loopback; ExperimentError when another program holds
    it on a machine. `port` must be free here (the search checked it)."""
    token = secrets.token_hex(8)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    stop = threading.Event()

    def answer():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:  # the client closes first, so no TIME_WAIT is left on the manager's port
                conn.settimeout(5)
                try:
                    conn.sendall(token.encode() + b"\n")
                    conn.recv(1)
                except OSError:
                    pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    found = {}
    try:
        for m in machines:
            r = ssh_command(m, f"{shlex.quote(m.python)} -c {shlex.quote(PROBE)} {port}")
            said = (r.stdout.strip().splitlines() or ["?"])[-1]
            if said == f"token:{token}":
                found[m] = "same"
            elif said == "free":
                found[m] = "free"
            else:
                raise PortTaken(f"machine {m.name}: port {port} on its loopback is taken by another program "
                                "(another search there?), and the manager's port must be free on every "
                                "machine; pick another --port", m.name)
    finally:
        stop.set()
        thread.join()
        server.close()
    return found


@dataclass
class Link:
    """One machine's SSH client: a reverse tunnel (`tunnel`) or a plain keep-alive session."""
    machine: Machine
    tunnel: bool
    proc: subprocess.Popen
    said: deque = field(default_factory=lambda: deque(maxlen=20))  # its last lines of stderr
    started: float = field(default_factory=time.monotonic)
    reported: bool = False

    def ended(self) -> bool:
        return self.proc.poll() is not None


class Links:
    """The links of one search (`open_links`); `close` ends them all."""

    def __init__(self, links: list[Link], liveness_s: float):
        self.links, self.liveness_s = links, liveness_s

    def lost(self) -> list[Link]:
        """Links that ended since the last call (each returned once)."""
        out = [l for l in self.links if l.ended() and not l.reported]
        for l in out:
            l.reported = True
        return out

    def alive(self) -> list[Machine]:
        return [l.machine for l in self.links if not l.ended()]

    def close(self) -> None:
        for l in self.links:
            if l.proc.poll() is None:
                l.proc.terminate()
        for l in self.links:
            try:
                l.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                l.proc.kill()
                l.proc.wait()


def _die_with_parent() -> None:
    """In the ssh child before exec: a Ctrl-C is the search's to handle (its own session), and a
    search killed outright takes its links with it (Linux's parent-death signal), so no tunnel
    outlives it to answer for a later search on the same port."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _reader(link: Link, ready: threading.Event) -> None:
    for line in link.proc.stderr:
        line = line.rstrip()
        link.said.append(line)
        # -v: a granted forward, or (plain session) the authenticated connection, is the link up
        if "forwarding_success: all expected" in line or (not link.tunnel and "Authenticated to" in line):
            ready.set()
    ready.set()


def open_links(machines: list[Machine], port: int, direct: bool = False, timeout: float = 30.0,
               where: dict[Machine, str] | None = None) -> Links:
    """A link to every machine, up before NNI starts (module docstring): a tunnel where the machine's
    loopback is not this one's, unless `direct` (the machines file names a `manager_ip` the workers
    dial instead: keep-alive links only). A link that cannot be made is one ExperimentError naming
    its machine."""
    if where is None:  # `where`: a probe of `port` already made (nas.engine.launch.choose_port)
        where = {m: "same" for m in machines} if direct else probe(machines, port)
    liveness_s = min(m.liveness_s for m in machines)
    interval = max(1, round(liveness_s / ALIVE_CHECKS))
    links = []
    try:
        for m in machines:
            tunnel = where[m] == "free"
            forward = ["-R", f"127.0.0.1:{port}:127.0.0.1:{port}"] if tunnel else []
            cmd = (["ssh", "-v", "-N", "-o", "ExitOnForwardFailure=yes", "-o", f"ServerAliveInterval={interval}",
                    "-o", f"ServerAliveCountMax={ALIVE_CHECKS}"] + forward + ssh_args(m))
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True, preexec_fn=_die_with_parent)
            link = Link(m, tunnel, proc)
            links.append(link)
            ready = threading.Event()
            threading.Thread(target=_reader, args=(link, ready), daemon=True).start()
            ready.wait(timeout)
            if link.ended() or not ready.is_set():
                said = [l for l in link.said if not l.startswith("debug")]
                why = (said or list(link.said) or ["no answer"])[-1]
                if any("remote port forwarding failed" in l for l in link.said):
                    why = (f"its SSH server refused to forward port {port} (AllowTcpForwarding must allow remote "
                           "forwarding, or the port is taken there)")
                raise ExperimentError(f"machine {m.name}: cannot open the SSH link to it: {why}")
    except BaseException:
        Links(links, liveness_s).close()
        raise
    return Links(links, liveness_s)
