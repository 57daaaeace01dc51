"""The budget gate on the device figures: a candidate over any bound (parameters, MACs, int8 model
bytes, peak RAM) is rejected by NNI's Filter before it becomes a trial, its line naming the bound; a
budget the space cannot meet is refused naming the smallest figures; sizes parse, bad ones fail in
one line before torch or NNI load; a search recorded with the old FLOP bound still loads with it;
and a trial reports the figures as metrics beside its validation accuracy."""
from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys

import pytest

from nas.budget import Budget, Gate
from nas.config import SearchConfig, TrainConfig, asdict, make, parse_bytes
from nas.errors import ConfigError
from nas.footprint import footprint
from search_spaces import mnist
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network
from search_spaces.choices import complete

EXP3 = BASELINES["exp3"]["arch"]


class Engine:
    """Stands in for NNI's execution engine below the Filter: it records what would become a trial."""

    def __init__(self):
        self.submitted = []

    def submit_models(self, *models):
        self.submitted += models

    def register_model_event_callback(self, *args):
        pass

    def unregister_model_event_callback(self, *args):
        pass


@functools.cache
def space():
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.space import SimplifiedModelSpace

    return SimplifiedModelSpace.from_model(mnist.MnistSpace(), FunctionalEvaluator(lambda model: None))


def filtered(budget: Budget, arch: dict):
    """(the gate, the engine) after NNI's Filter middleware, the search's chain link, saw `arch`
    frozen from the space as a strategy proposes it."""
    from nni.nas.strategy.middleware import Filter

    gate, engine = Gate(budget), Engine()
    chain_link = Filter(gate, metric_for_invalid=None)
    chain_link.set_engine(engine)
    chain_link.submit_models(space().freeze(complete(arch)))
    return gate, engine


def test_a_candidate_over_each_bound_is_rejected_naming_it_and_never_submitted(caplog):
    fp = footprint(build_network(EXP3))
    assert (fp.params, fp.macs, fp.ram) == (8880, 1047616, 18432)  # exp3's (tests/test_footprint.py counts by hand)
    lines = {"params": f"{fp.params:,} parameters > budget {fp.params - 1:,}",
             "macs": f"{fp.macs:,} MACs > budget {fp.macs - 1:,}",
             "flash": f"{fp.flash:,} B int8 model > budget {fp.flash - 1:,} B",
             "ram": f"{fp.ram:,} B peak RAM > budget {fp.ram - 1:,} B"}
    caplog.set_level(logging.INFO, logger="nas.budget")
    for figure, line in lines.items():
        over = Budget(**{"max_params": 20000, f"max_{figure}": getattr(fp, figure) - 1})
        gate, engine = filtered(over, EXP3)
        assert engine.submitted == [] and (gate.accepted, gate.rejected) == (0, 1), figure
        assert gate.rejected_by == {figure: 1}
        assert caplog.records[-1].getMessage().endswith(f"({line})"), caplog.records[-1].getMessage()
    gate, engine = filtered(Budget(fp.params, fp.macs, fp.flash, fp.ram), EXP3)  # each bound is inclusive
    assert len(engine.submitted) == 1 and gate.accepted == 1 and gate.rejected_by == {}
    # two bounds broken: both named, in one line
    gate, engine = filtered(Budget(8000, max_ram=2500), EXP3)
    assert engine.submitted == [] and gate.rejected_by == {"params": 1, "ram": 1}
    assert caplog.records[-1].getMessage().endswith("(8,880 parameters > budget 8,000; 18,432 B peak RAM > budget 2,500 B)")


def test_a_budget_the_space_cannot_meet_is_refused_naming_the_smallest_figures():
    from nas.engine.experiment import check_budget_reachable

    # the smallest networks: 128 parameters; with a pooling stem and unpadded convs 6,056 MACs and 772 B of RAM
    fits = dict(max_params=2000, max_macs=6056, max_flash=284, max_ram=772)
    check_budget_reachable(mnist, Budget(**fits))
    for bound, name in (("max_ram", "peak RAM"), ("max_flash", "int8 model"), ("max_macs", "MACs")):
        with pytest.raises(ConfigError) as e:
            check_budget_reachable(mnist, Budget(**{**fits, bound: fits[bound] - 1}))
        assert "its smallest networks reach 128 parameters, 6,056 MACs, 284 B int8 model, 772 B peak RAM" in str(e.value)
        assert str(e.value).endswith(f"the {name} bound is out of reach") and "\n" not in str(e.value)


def test_sizes_parse_into_the_config_and_the_record():
    assert [parse_bytes(t) for t in ("2500", "2500B", "4.5KB", "4 KiB", " 1MiB ", 300)] == [2500, 2500, 4500, 4096,
                                                                                          1048576, 300]
    cfg = make(SearchConfig, max_flash="4.5KB", max_ram="2KiB", max_macs="3e7")
    assert (cfg.max_flash, cfg.max_ram, cfg.max_macs) == (4500, 2048, 30000000)
    assert Budget.of(cfg).describe() == "20,000 parameters / 30,000,000 MACs / 4,500 B int8 model / 2,048 B peak RAM"
    assert {k: asdict(cfg)[k] for k in ("max_macs", "max_flash", "max_ram")} == {
        "max_macs": 30000000, "max_flash": 4500, "max_ram": 2048}  # what nas.json records
    for bad in ("4.5XB", "-3", "1.5", "KB"):
        with pytest.raises(ConfigError, match="max_ram: "):
            make(SearchConfig, max_ram=bad)


def nas_line(*argv: str) -> subprocess.CompletedProcess:
    """`nas ARGV` in a fresh process that then says whether torch or NNI were loaded."""
    code = ("import sys, nas.cli\nrc = nas.cli.main(sys.argv[1:])\n"
            "print('loaded', [m for m in ('torch', 'nni') if m in sys.modules])\nsys.exit(rc)\n")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)


def test_bad_sizes_and_the_old_flop_flag_fail_in_one_line_before_anything_loads(tmp_path):
    for argv, message in ((["--max-flash", "4.5XB"], "error: --max-flash: '4.5XB' is not a size"),
                          (["--max-ram", "2.5KB", "--max-flash", "1.5"], "error: --max-flash: '1.5' is not a whole"),
                          (["--max-flops", "1500000"], "error: --max-flops is gone")):
        r = nas_line("search", *argv, "--results", str(tmp_path))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith(message), r.stderr
        assert "loaded []" in r.stdout
    assert "--max-macs" in r.stderr and not any(tmp_path.iterdir())
    help_text = nas_line("search", "--help").stdout
    for words in ("--max-ram 2500 --max-flash 4.5KB --max-macs 30000000", "the network's input is left out",
                  "multiply-accumulates of the convs"):
        assert words in " ".join(help_text.split()), words


def test_a_search_recorded_with_the_old_flop_bound_loads_with_it(tmp_path):
    from nas.engine.launch import search
    from nas.reporting.holdings import search_command
    from nas.results.store import load_record

    folder = tmp_path / "searches" / "old"
    folder.mkdir(parents=True)
    # the committed search results/searches/s8k-evolution-sep (its record, as written then)
    rec = {"id": "old", "search": {"space": "mnist", "strategy": "evolution", "max_params": 8000,
                                   "max_flops": 1500000, "min_params": 6500, "fix": "bn=true", "trials": 20,
                                   "epochs": 6, "train_subset": 0, "concurrency": 2, "port": 8080,
                                   "host": "127.0.0.1", "workdir": str(tmp_path / "searches"), "seed": 0,
                                   "population": 6, "early_stop": False},
           "train": asdict(TrainConfig()), "data_dir": None, "strategy_hears_metrics": True}
    (folder / "nas.json").write_text(json.dumps(rec))
    cfg = make(SearchConfig, load_record(tmp_path / "searches", "old")["search"])  # as `nas resume` rebuilds it
    budget = Budget.of(cfg)
    assert (budget.max_flops, budget.max_macs, budget.max_ram) == (1500000, 0, 0)
    assert budget.verdict(footprint(build_network(BASELINES["exp1"]["arch"])), 3410736) == (
        "18,752 parameters > budget 8,000; 3,410,736 FLOPs (fvcore's total) > budget 1,500,000")
    # era7918: 7,918 parameters fit; its 2,021,056 MACs put fvcore's total over the recorded bound
    gate, engine = filtered(budget, BASELINES["era7918"]["arch"])
    assert engine.submitted == [] and gate.rejected_by == {"flops": 1}
    command = search_command(rec, "old")  # the report's command: no flag sets the old bound now
    assert "--max-flops" not in command and "--max-params 8000" in command and "--min-params 6500" in command
    with pytest.raises(ConfigError, match="--max-macs"):  # a new search cannot set it
        search(make(SearchConfig, max_flops=1500000), TrainConfig(), results=tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_a_trial_reports_the_figures_beside_its_validation_accuracy(data_dir):
    from nas.engine.launch import figures_text
    from nas.engine.trial import evaluate_model

    net = build_network(EXP3)
    final = evaluate_model(net, asdict(TrainConfig(epochs=1, train_subset=256, val_size=100, threads=1, augment=False)),
                           str(data_dir))
    assert final["default"] == final["val_acc"]  # NNI's default metric, the one its dashboard plots, unchanged
    assert {k: final[k] for k in ("params", "macs", "flash", "weight_bytes", "ram", "ram_with_input")} == {
        k: v for k, v in footprint(net).as_dict().items()}
    assert final["flops"] == 1082976  # fvcore's total still, for the tables that list it
    assert figures_text(final) == "MACs   1,047,616  int8  10,488 B  RAM  18,432 B"
    assert figures_text({"params": 7, "flops": 9}) == "FLOPs           9"  # a trial recorded before the figures
