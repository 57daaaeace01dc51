"""A bad --machines file, through the command line: each mistake of issue 40's list is one line on
stderr and exit code 2, said before the heavy imports (torch, NNI, the data check) in under 2 s.
A good file with a host name that does not resolve is named as such by the check over SSH."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

GOOD = {"host": "127.0.0.1", "user": "u", "python": "/usr/bin/python3", "workdir": "/tmp/w"}


@pytest.fixture()
def key(tmp_path):
    k = tmp_path / "id_test"
    k.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----\n")
    k.chmod(0o600)
    return k


def _run(*args) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=60)
    return r, time.monotonic() - start


@pytest.mark.parametrize("over, message", [
    ({"port": "abc"}, 'port must be an integer, not "abc"'),
    ({"port": None}, "port must be an integer, not null"),
    ({"port": 2223.7}, "port must be an integer, not 2223.7"),
    ({"port": True}, "port must be an integer, not true"),
    ({"port": 0}, "port 0 is not in 1..65535"),
    ({"port": 70000}, "port 70000 is not in 1..65535"),
    ({"trials": "2"}, 'trials must be an integer, not "2"'),
    ({"trials": 0}, "trials must be at least 1"),
    ({"host": ""}, "host must be a non-empty string"),
    ({"user": 7}, "user must be a non-empty string, not 7"),
    ({"key": "PUB"}, "is a public key; give the private key"),
    ({"key": "OPEN"}, "has mode 0644 and ssh refuses a private key others can read; run chmod 600"),
    ({"key": "/no/such/key"}, "no SSH key file /no/such/key on this machine"),
], ids=lambda v: json.dumps(v) if isinstance(v, dict) else "")
def test_each_bad_machines_file_is_one_line_in_under_two_seconds(tmp_path, key, over, message):
    pub = tmp_path / "id_test.pub"
    pub.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@here\n")
    open_key = tmp_path / "id_open"
    open_key.write_text(key.read_text())
    open_key.chmod(0o644)
    entry = {**GOOD, "key": str(key), **over}
    entry["key"] = {"PUB": str(pub), "OPEN": str(open_key)}.get(entry["key"], entry["key"])
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"machines": [entry]}))
    # the results root and data folder do not exist: the file is refused before either is looked at
    r, seconds = _run("search", "--machines", str(path), "--results", str(tmp_path / "res"), "--data-dir",
                      str(tmp_path / "nodata"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert "machine 1" in r.stderr and seconds < 2, seconds
    assert not (tmp_path / "res").exists()


def test_a_file_that_is_not_json_or_has_an_unknown_top_key_is_one_line(tmp_path, key):
    bad = tmp_path / "m.json"
    for text, message in (("{machines: [", "is not valid JSON"),
                          (json.dumps({"machines": [{**GOOD, "key": str(key)}], "manager": "x"}),
                           "unknown keys ['manager']")):
        bad.write_text(text)
        r, seconds = _run("search", "--machines", str(bad))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr and seconds < 2, r.stderr
    toml = tmp_path / "m.toml"
    toml.write_text(f'[[machines]]\nhost = "h"\nuser = "u"\nkey = "{key}"\npython = "p"\nworkdir = "w"\nport = "22"\n')
    r, _ = _run("search", "--machines", str(toml))
    assert r.returncode == 2 and 'port must be an integer, not "22"' in r.stderr, r.stderr


def test_a_host_name_that_does_not_resolve_is_named(tmp_path, key):
    from nas.engine.machines import Machine, check
    from nas.errors import ExperimentError

    m = Machine("no-such-host.invalid", "u", str(key), "/usr/bin/python3", "/tmp/w")
    with pytest.raises(ExperimentError, match=r"host name 'no-such-host.invalid' does not resolve"):
        check(m)


def test_the_managers_second_port_is_checked_before_anything_is_written(tmp_path, key, data_dir):
    """NNI's remote mode needs --port and the next one: the next one taken is one line, before the
    dashboard URL, with no search folder left behind."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1] - 1
        path = tmp_path / "m.json"
        path.write_text(json.dumps({"machines": [{**GOOD, "key": str(key)}]}))
        r, _ = _run("search", "--machines", str(path), "--port", str(port), "--results", str(tmp_path / "res"),
                    "--data-dir", str(data_dir), "--id", "p1")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"port {port + 1} on 127.0.0.1, which NNI needs besides --port for remote machines" in r.stderr
    assert "dashboard" not in r.stdout and not (tmp_path / "res" / "searches" / "p1").exists()


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stopped_search_exits_with_the_signals_code_and_says_how_to_resume(tmp_path, key, monkeypatch, capsys,
                                                                          sig, code):
    """The command line's handling, in this process: the signal arrives while the search runs (its
    library function catches it and returns an interrupted result), or before its experiment started."""
    import os
    import signal

    from nas import api, cli
    from nas.engine.launch import SearchResult

    path = tmp_path / "m.json"
    path.write_text(json.dumps({"machines": [{**GOOD, "key": str(key)}]}))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def running(**kw):  # what nas.engine.launch does with the signal: stop, and say it was interrupted
        try:
            os.kill(os.getpid(), getattr(signal, sig))
            time.sleep(5)
        except KeyboardInterrupt:
            return SearchResult("x1", "", interrupted=True)

    def starting(**kw):
        os.kill(os.getpid(), getattr(signal, sig))
        time.sleep(5)

    try:
        for fake, said in ((running, "interrupted; stopping the experiment (continue it with `nas resume x1"),
                           (starting, "interrupted before the experiment started")):
            monkeypatch.setattr(api, "search", fake)
            assert cli.main(["search", "--machines", str(path), "--results", str(tmp_path / "res")]) == code
            assert said in capsys.readouterr().err
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
