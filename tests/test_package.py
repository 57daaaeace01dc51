"""The package's shape: the API's names are functions, the command line stays light, each fact has one
home, and NNI's records of earlier searches still find their code."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import nas


def test_api_names_are_the_functions_not_modules():
    from nas import api, predict, report, search, train

    assert search is api.search and train is api.train and predict is api.predict and report is api.report
    subpackages = {m.name for m in pkgutil.iter_modules(nas.__path__)}
    assert not subpackages & {"search", "train", "export", "predict", "report", "resume", "baselines"}


def test_the_command_line_parses_without_torch_or_nni():
    # a bad argument must be refused fast: neither torch nor NNI may load before argparse has run
    code = ("import sys, nas.cli\n"
            "heavy = [m for m in ('torch', 'nni') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_earlier_searches_module_paths_resolve(tmp_path):
    # NNI's databases of committed searches name `path:nas.evaluate.evaluate_model`
    code = ("from nas.process import prepare_process; prepare_process()\n"
            "from nni.common.serializer import load\n"
            "from nas.engine.trial import evaluate_model\n"
            "assert load('{\"__nni_type__\": \"path:nas.evaluate.evaluate_model\"}') is evaluate_model\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_late_window_and_threshold_have_one_home():
    import re
    from pathlib import Path

    root = Path(nas.__file__).parent
    for path in root.rglob("*.py"):
        if path.name == "facts.py":
            continue
        text = path.read_text()
        assert not re.search(r"^\s*(LATE_EPOCHS|THRESHOLD|FULL_IMAGES|PROTOCOL_SEEDS|RACE_CAP)\s*=", text, re.M), path
        assert "[-3:]" not in text and "99.40" not in text.replace("99.40%", ""), path


# nas/'s rooms, each importing only rooms above it (README's Layout lists them in this order)
ROOMS = ("facts", "errors", "atomic", "schedule", "config", "data", "nni_boundary", "process", "results", "footprint", "budget",
         "deploy", "training", "studies", "reporting", "engine", "api", "cli", "__init__", "__main__")


def test_each_room_imports_only_rooms_above_it():
    import re
    from pathlib import Path

    root = Path(nas.__file__).parent
    found = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).parts
        room = rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")
        found.add(room)
        for m in re.finditer(r"^\s*(?:from nas\.(\w+)[\w.]* import|import nas\.(\w+)|from nas import ([\w, ]+))",
                             path.read_text(), re.M):
            targets = [m.group(1) or m.group(2)] if not m.group(3) else [n.strip() for n in m.group(3).split(",")]
            for other in targets:
                if other != room:
                    assert ROOMS.index(other) < ROOMS.index(room), f"{path.relative_to(root)} imports nas.{other}"
    assert found <= set(ROOMS), found - set(ROOMS)
