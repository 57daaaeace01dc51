"""The SSH links of a remote search (nas.engine.tunnels), against real OpenSSH servers: one on this
machine's loopback, one in a network namespace the test makes (a second host whose loopback is its
own, reached over a veth pair). No search runs here: a small server stands for NNI's manager.

- the direct path (a worker dialling the manager's address) fails from the second host, the tunnel
  passes: the worker dials its own 127.0.0.1 and reaches the manager's loopback;
- a machine that shares this loopback gets no tunnel, and a port another program holds on a worker
  moves the search to the next free pair, in one line;
(A frozen machine's link ending within its liveness time is measured by test_remote.py's search.)"""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ns_listeners

pytestmark = pytest.mark.slow


def _machine(host, port, key, known, tmp_path, name, liveness_s=4.0):
    from nas.engine.machines import Machine

    return Machine(host, "root", str(key), sys.executable, str(tmp_path / name), port, known_hosts=str(known),
                   liveness_s=liveness_s)


def _manager(port: int) -> socket.socket:
    """A server on this machine's 127.0.0.1:port that answers every connection with a greeting."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"manager here\n")

    threading.Thread(target=serve, daemon=True).start()
    return server


def _dial_from(ns: str, host: str, port: int) -> str:
    """What a program inside the namespace reads from host:port, or the error it gets."""
    code = (f"import socket\ntry:\n    print(socket.create_connection(({host!r}, {port}), 3).recv(64).decode().strip())\n"
            "except OSError as e:\n    print(type(e).__name__)")
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_tunnel_reaches_the_managers_loopback_where_the_direct_path_fails(tmp_path, sshd, worker_ns):
    from nas.engine import tunnels

    ns, there, ssh_port, here = worker_ns.ns, worker_ns.host, worker_ns.port, worker_ns.here
    lo_port, key, known = sshd
    local = _machine("127.0.0.1", lo_port, key, known, tmp_path, "w1")
    remote = _machine(there, ssh_port, key, known, tmp_path, "w2")
    port = _free_port()
    # probed while nothing holds the port: the loopback machine answers with this process's token
    assert tunnels.probe([local, remote], port) == {local: "same", remote: "free"}
    links = tunnels.open_links([local, remote], port)
    server = _manager(port)
    try:
        assert [l.tunnel for l in links.links] == [False, True]
        # today's path: the manager listens on loopback only, so the second host cannot dial it
        assert _dial_from(ns, here, port) == "ConnectionRefusedError"
        # the tunnel: the second host dials its own loopback and reaches this one's
        assert _dial_from(ns, "127.0.0.1", port) == "manager here"
        # in the namespace only loopback holds the forwarded port; nothing listens on its address but sshd
        assert {a for a in ns_listeners(ns) if not a.startswith("127.0.0.1:")} == {f"{there}:{ssh_port}"}
    finally:
        links.close()
        server.close()
    assert not links.alive() and _dial_from(ns, "127.0.0.1", port) == "ConnectionRefusedError"


def test_a_port_another_program_holds_on_a_worker_moves_the_search_to_the_next_free_pair(tmp_path, sshd, worker_ns):
    """Two searches from different machines sharing a worker: the second finds the first's forwarded
    port taken on the worker's loopback, says so in one line and takes the next pair; the probe alone
    names the machine in one line."""
    from nas.engine import tunnels
    from nas.engine.launch import choose_port

    ns, there, ssh_port = worker_ns.ns, worker_ns.host, worker_ns.port
    port = _free_port()
    holder = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c",
                               f"import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen()\n"
                               "print('up', flush=True)\nwhile True:\n    c, _ = s.accept(); c.sendall(b'other\\n'); c.close()"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "up"
        worker = _machine(there, ssh_port, sshd[1], sshd[2], tmp_path, "w2")
        with pytest.raises(tunnels.PortTaken, match=rf"root@{there}:22 .*port {port} on its loopback is taken by "
                                                    r"another program"):
            tunnels.probe([worker], port)
        lines: list[str] = []
        chosen, where = choose_port([worker], port, "127.0.0.1", None, lines.append)
        assert chosen > port and (chosen - port) % 2 == 0 and where == {worker: "free"}
        assert len(lines) == 1 and f"port {port} is taken on root@{there}:22" in lines[0] and str(chosen) in lines[0]
    finally:
        holder.kill()
        holder.wait()


def test_with_no_machine_left_the_search_stops_in_one_line_and_exits_3(tmp_path, capsys):
    """MachineWatch over two links that end one after the other (stand-ins for the SSH clients):
    each machine is dropped in one line naming user@host:port and listed for NNI's manager
    (workers.js reads the file); once none is left the search is stopped, and the command line says
    so in one line with the resume command and exit code 3."""
    from types import SimpleNamespace

    from nas.cli.commands import _print_search
    from nas.engine.launch import MachineWatch, SearchResult
    from nas.engine.machines import Machine
    from nas.engine.tunnels import Link, Links

    def link(host):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        return Link(Machine(host, "me", "k", "p", "/w", 2200, liveness_s=4), True, proc)

    links = Links([link("10.0.0.5"), link("10.0.0.6")], 4)
    said = []
    watch = MachineWatch(links, tmp_path / "dropped", said.append)
    watch.drop_file.write_text("")
    watch.start()
    try:
        links.links[0].proc.kill()
        deadline = time.monotonic() + 10
        while len(said) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert watch.is_alive() and not watch.stopped
        links.links[1].proc.kill()
        with pytest.raises(KeyboardInterrupt):  # the main thread is interrupted, as a Ctrl-C would
            while True:
                time.sleep(0.1)
                assert time.monotonic() < deadline + 10
    finally:
        watch.stop_event.set()
        links.close()
    assert [line.split(" answered")[0] for line in said] == ["machine me@10.0.0.5:2200", "machine me@10.0.0.6:2200"]
    assert all("answered no SSH keep-alive for 4 s" in line and "dropped" in line for line in said)
    assert (tmp_path / "dropped").read_text() == "10.0.0.5:2200\n10.0.0.6:2200\n"
    assert _print_search(SearchResult("x2", "", stopped=watch.stopped), str(tmp_path)) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no machine is left to train on" in err and "nas resume x2" in err


def test_a_killed_machines_link_ends_at_once_not_after_its_liveness_time(tmp_path, sshd, worker_ns):
    """A machine that dies outright (its SSH server and sessions killed, as a host powered off with
    its TCP connections reset): its link ends within seconds, far inside `liveness_s` (60 s here), and
    `Links.lost` names it once; the search then drops it as it drops a frozen one (test_remote.py's
    search measures that path end to end)."""
    import shutil

    import psutil

    from conftest import _start_sshd
    from nas.engine import tunnels

    d = tmp_path / "second-sshd"  # a second server in the namespace, so the module's one lives on
    d.mkdir()
    for name in ("key", "key.pub", "hostkey", "hostkey.pub"):
        shutil.copy(sshd[1].parent / name, d / name)
    server = _start_sshd(d, worker_ns.host, 2222, netns=worker_ns.ns)
    machine = _machine(worker_ns.host, 2222, d / "key", sshd[2], tmp_path, "w3", liveness_s=60.0)
    links = tunnels.open_links([machine], _free_port())
    try:
        assert links.alive() == [machine] and links.lost() == []
        killed = time.monotonic()
        tree = psutil.Process(server.pid).children(recursive=True) + [psutil.Process(server.pid)]
        for p in tree:
            p.kill()
        while links.alive() and time.monotonic() - killed < 30:
            time.sleep(0.1)
        took = time.monotonic() - killed
        assert not links.alive() and took < 10, took
        print(f"link ended {took:.2f} s after the kill")
        assert [l.machine for l in links.lost()] == [machine] and links.lost() == []
    finally:
        links.close()
        server.kill()
        server.wait(timeout=10)
