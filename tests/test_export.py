"""Export -> rebuild without NNI -> identical outputs and parameter counts; no silent overwrite."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from nas.errors import ExportError
from nas.deploy.export import layer_table, model_source, write_dir_atomically
from nas.nni_boundary import Trial, check_samples
from nas.results.store import distinct, rank
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network

REBUILD = """
import sys, torch
sys.modules['nni'] = None          # importing NNI would now fail: the file must not need it
sys.path.insert(0, sys.argv[1])
from model import build_model
net = build_model().eval()
net.load_state_dict(torch.load(sys.argv[2]))
torch.save((net(torch.load(sys.argv[3])), sum(p.numel() for p in net.parameters())), sys.argv[4])
"""


@pytest.mark.parametrize("name", ["exp1", "exp4"])
def test_exported_file_rebuilds_the_same_network_without_nni(tmp_path, name):
    arch = BASELINES[name]["arch"]
    (tmp_path / "model.py").write_text(model_source(arch))
    net = build_network(arch).eval()
    torch.manual_seed(0)
    for p in net.parameters():
        p.data.normal_()  # weights unlike any fresh init, so a mismatch would show
    x = torch.randn(4, 1, 28, 28)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    torch.save(x, tmp_path / "x.pt")
    subprocess.run([sys.executable, "-c", REBUILD, str(tmp_path), str(tmp_path / "w.pt"), str(tmp_path / "x.pt"),
                    str(tmp_path / "out.pt")], check=True, timeout=120)
    out, n = torch.load(tmp_path / "out.pt")
    assert torch.equal(out, net(x))
    assert n == sum(p.numel() for p in net.parameters())


def test_layer_table_lists_the_total():
    table = layer_table(build_network(BASELINES["exp2"]["arch"]))
    assert "8.712K" in table and "#parameters or shape" in table


def test_export_target_is_never_overwritten_without_force(tmp_path):
    target = tmp_path / "exp"
    write_dir_atomically(target, {"a.txt": "first"}, force=False)
    with pytest.raises(ExportError, match="exists; pass --force"):
        write_dir_atomically(target, {"a.txt": "second"}, force=False)
    assert (target / "a.txt").read_text() == "first"
    write_dir_atomically(target, {"b.txt": "third"}, force=True)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]  # no temporary folders left behind


def test_failure_reason_comes_from_the_trials_own_log(tmp_path, monkeypatch):
    from nas.nni_boundary import Trial

    (tmp_path / "trial.stderr").write_text("Traceback (most recent call last):\n  File x\nValueError: boom\n")
    assert Trial("a", "FAILED", {}, log_dir=str(tmp_path)).reason == "ValueError: boom"
    monkeypatch.chdir(tmp_path)  # a trial without a log must not pick up a stray file in the cwd
    assert Trial("b", "FAILED", {}).reason == ""
    assert Trial("c", "FAILED", {}, message="killed").reason == "killed"


def test_search_refreshes_only_its_own_export(tmp_path):
    """`nas search`/`resume` rewrite results/exports/ID after each run, but never an export the user
    made with `nas export` (that one needs `nas export --force`)."""
    import json

    from nas.deploy.export import auto_export_allowed

    target = tmp_path / "exp"
    assert auto_export_allowed(target)  # nothing there yet
    for by, allowed in (("search", True), ("export", False)):
        write_dir_atomically(target, {"summary.json": json.dumps({"written_by": by})}, force=True)
        assert auto_export_allowed(target) is allowed
    write_dir_atomically(target, {"notes.txt": "mine"}, force=True)  # not an export at all
    assert not auto_export_allowed(target)


def test_check_samples_undoes_nnis_swap_of_two_trials_samples():
    """NNI 3.0 can give two trials started together each other's sample while recording the other:
    the reported parameter counts give the swap away, and it is undone; a mismatch with no unique
    partner leaves the architecture unknown and out of the ranking."""
    a, b, c = (dict(BASELINES[n]["arch"]) for n in ("exp1", "exp2", "exp3"))
    n = {k: sum(p.numel() for p in build_network(v).parameters()) for k, v in (("a", a), ("b", b), ("c", c))}
    x = Trial("x", "SUCCEEDED", dict(a), {"default": 99.0, "params": n["b"]})  # trained b, recorded a
    y = Trial("y", "SUCCEEDED", dict(b), {"default": 98.0, "params": n["a"]})  # trained a, recorded b
    z = Trial("z", "SUCCEEDED", dict(c), {"default": 97.0, "params": n["c"]})  # as recorded
    w = Trial("w", "SUCCEEDED", dict(c), {"default": 99.5, "params": n["c"] + 1})  # no partner
    check_samples([x, y, z, w])
    assert (x.sample, x.sample_from) == (b, "repaired") and (y.sample, y.sample_from) == (a, "repaired")
    assert (z.sample, z.sample_from) == (c, "nni")
    assert w.sample_from == "unknown" and [t.id for t in rank([x, y, z, w])] == ["x", "y", "z"]


def test_distinct_keeps_the_best_trial_of_each_network():
    """Samples that differ only in labels the network ignores are one network: export's top-k and
    the re-rank's candidates must not list it twice."""
    from search_spaces.mnist import complete

    exp3 = complete(BASELINES["exp3"]["arch"])
    trials = [Trial("a", "SUCCEEDED", exp3, final={"default": 99.0, "params": 8880}),
              Trial("b", "SUCCEEDED", {**exp3, "c1_2": 32}, final={"default": 99.0, "params": 8880}),
              Trial("c", "SUCCEEDED", {**exp3, "c1_1": 14}, final={"default": 98.9, "params": 8500}),
              Trial("d", "SUCCEEDED", {**exp3, "dropout": 0.1}, final={"default": 99.1, "params": 8880})]
    assert [t.id for t in distinct(rank(trials))] == ["d", "a", "c"]


@pytest.mark.slow
def test_a_committed_search_exports_as_it_did_when_it_was_recorded(tmp_path):
    """NNI's records of the committed searches name the module paths of the day they ran (before the
    package had sub-packages); exporting one again from a copy gives the architectures it gave then."""
    import json
    import shutil
    from pathlib import Path

    from nas.api import export

    committed = Path(__file__).resolve().parents[1] / "results"
    shutil.copytree(committed / "searches" / "s8k-evolution-sep", tmp_path / "searches" / "s8k-evolution-sep")
    found = export("s8k-evolution-sep", results=tmp_path, top_k=2, out=tmp_path / "out")
    assert [e["trial"] for e in found] == ["TfDX7", "jrJf4"]
    for e in found:
        then = json.loads(next((committed / "exports" / "s8k-evolution-sep").glob(f"rank*_{e['trial']}/arch.json"))
                          .read_text())
        now = json.loads((Path(e["path"]) / "arch.json").read_text())
        assert now["arch"] == then["arch"] and now["params"] == then["params"]
