"""The --machines file: JSON and TOML read the same, and every mistake is one clear error."""
from __future__ import annotations

import json

import pytest

from nas.errors import ConfigError
from nas.engine.machines import Machine, load


@pytest.fixture()
def key(tmp_path):
    k = tmp_path / "id_test"
    k.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key; load() checks only the file\n")
    k.chmod(0o600)  # as ssh requires of a private key
    return k


def test_json_and_toml_give_the_same_machines(tmp_path, key):
    entry = {"host": "10.0.0.5", "user": "me", "key": str(key), "python": "/opt/venv/bin/python",
             "workdir": "/scratch/nas", "trials": 2, "data_dir": "/data/mnist"}
    (tmp_path / "m.json").write_text(json.dumps({"machines": [entry], "manager_ip": "10.0.0.1"}))
    (tmp_path / "m.toml").write_text('manager_ip = "10.0.0.1"\n[[machines]]\n' + "".join(
        f'{k} = {json.dumps(v)}\n' for k, v in entry.items()))
    a, b = load(tmp_path / "m.json"), load(tmp_path / "m.toml")
    assert a == b == ([Machine("10.0.0.5", "me", str(key), "/opt/venv/bin/python", "/scratch/nas", 22, 2,
                               "/data/mnist")], "10.0.0.1")
    assert a[0][0].wrapper == "/scratch/nas/bin/python"


@pytest.mark.parametrize("doc, message", [
    ("{", "not valid JSON"),
    ({"machines": []}, "non-empty list"),
    ({"machines": [{"host": "h", "user": "u", "key": "KEY", "python": "p"}]}, "lacks ['workdir']"),
    ({"machines": [{"host": "h", "user": "u", "key": "KEY", "python": "p", "workdir": "w", "cpus": 2}]},
     "unknown keys ['cpus']"),
    ({"machines": [{"host": "h", "user": "u", "key": "KEY", "python": "p", "workdir": "w", "trials": 0}]},
     "trials must be at least 1"),
    ({"machines": [{"host": "h", "user": "u", "key": "/no/such/key", "python": "p", "workdir": "w"}]},
     "no SSH key file"),
    ({"machines": [{"host": "127.0.0.1", "user": "u", "key": "KEY", "python": "p", "workdir": "w"}] * 2},
     "share host, port and workdir"),
])
def test_a_bad_machines_file_is_one_clear_error(tmp_path, key, doc, message):
    path = tmp_path / "m.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc).replace("KEY", str(key)))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(path)
    with pytest.raises(ConfigError, match="cannot read machines file"):
        load(tmp_path / "absent.json")
