"""Build, launch, re-open and resume NNI experiments for a search space under a parameter budget.

The strategy is NNI's, wrapped in NNI's `Filter` middleware with `nas.budget.Gate`: a candidate over
budget is marked invalid before it is submitted, so it never becomes a trial. Everything needed to
rebuild the experiment object (search and training config, data folder) is kept beside NNI's own
files in `<workdir>/<id>/nas.json`, which is what `view`, `resume` and `export` read.

The dashboard listens on `SearchConfig.host` (127.0.0.1 by default): NNI 3.0 has no option for
this, so nas/loopback.js is preloaded into NNI's node process to pass the host to its listen().
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import socket
import sys
from pathlib import Path

from nas.atomic import write_text
from nas.budget import Budget, Gate, count
from nas.config import ConfigError, SearchConfig, TrainConfig, asdict, make

_log = logging.getLogger("nas.experiment")
LOOPBACK_JS = Path(__file__).with_name("loopback.js")
RECORD = "nas.json"
TRIAL_ENTRY_ENV = "NAS_TRIAL_ENTRY"  # light (nas.trial_entry, the default) | nni (NNI's own)


class ExperimentError(RuntimeError):
    """A problem with an experiment the user named (unknown id, busy port...); one line."""


def patch_resume_channel() -> None:
    """On resume, NNI 3.0's manager first sends the finished trials (ImportData, and
    AddCustomizedTrialJob for interrupted ones) to the Python side, whose NAS command channel knows
    neither: its listener thread dies and the resumed search never gets a trial slot (it hangs).
    The NAS engine has no use for either command, so skip them (idempotent)."""
    from nni.runtime.tuner_command_channel import channel
    from nni.runtime.tuner_command_channel.command_type import CommandType

    cls = channel.TunerCommandChannel
    if getattr(cls, "_nas_skips_hpo_commands", False):
        return
    receive = cls._receive

    def _receive(self):
        while True:
            command_type, data = receive(self)
            if command_type not in (CommandType.ImportData, CommandType.AddCustomizedTrialJob):
                return command_type, data
            _log.info("skipping %s from the NNI manager (unused by NAS)", command_type)

    cls._receive = _receive
    cls._nas_skips_hpo_commands = True


def population_for(trials: int) -> int:
    """Evolution's population when none is given: a third of the trials seed it (4 to 20)."""
    return max(4, min(20, trials // 3))


def make_strategy(name: str, trials: int, seed: int, population: int = 0):
    from nni.nas import strategy

    if name == "random":
        return strategy.Random(dedup=True, seed=seed)
    if name == "evolution":
        population = population or population_for(trials)
        return strategy.RegularizedEvolution(population_size=population, sample_size=max(2, population // 4),
                                             mutation_prob=0.2, dedup=True, seed=seed)
    if name == "tpe":
        return strategy.TPE(seed=seed)
    raise ConfigError(f"unknown strategy {name!r}; choose one of: random, evolution, tpe")


def _quiet_gate_rejections(record: logging.LogRecord) -> bool:
    """Evolution warns "... has no metric. Skip." for every candidate the budget gate rejected (they
    get no metric on purpose, see `build`): expected, and hundreds of lines on a narrow budget."""
    return not (isinstance(record.msg, str) and record.msg.endswith("has no metric. Skip."))


def check_budget_reachable(space_module, budget: Budget, fixed: dict | None = None) -> None:
    """Refuse a budget that no candidate of the space can meet, instead of searching forever."""
    from search_spaces.blocks import build_network

    params, flops = count(build_network(space_module.smallest_arch(fixed)))
    if params > budget.max_params or (budget.max_flops and flops > budget.max_flops):
        raise ConfigError(f"no architecture of the space fits the budget: the smallest has {params:,} "
                          f"parameters and {flops:,} FLOPs" + (f" with {fixed}" if fixed else ""))


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        # as node does: connections of a previous run still in TIME_WAIT must not count as "in use"
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise ExperimentError(f"port {port} on {host} is not available ({e.strerror}); "
                                  "pick another with --port") from None


def build(search: SearchConfig, train: TrainConfig, data_dir: str, exp_id: str | None = None, replay=None,
          choices: dict[str, list] | None = None):
    """The `NasExperiment` object for these configs (a new experiment, or an existing id). `replay`:
    trials finished in earlier sessions, answered from their records if proposed again (resume).
    `choices`: label -> values the search explores (default: the space's; a resumed search: its own)."""
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.experiment import NasExperiment
    from nni.nas.strategy.middleware import Filter

    from nas.recovery import Replay, TolerantChain

    from nas.evaluate import evaluate_model
    from search_spaces import get_space

    try:
        space_module = get_space(search.space)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    try:
        fixed = space_module.parse_fixed(search.fix)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    budget = Budget(search.max_params, search.max_flops, search.min_params)
    check_budget_reachable(space_module, budget, fixed)
    if search.early_stop and exp_id is None:
        raise ConfigError("early stopping needs the experiment id up front")
    evaluator = FunctionalEvaluator(evaluate_model, config=asdict(train), data_dir=data_dir,
                                    early_stop={"workdir": str(Path(search.workdir).resolve()), "id": exp_id}
                                    if search.early_stop else None)
    # metric 0 for a rejected candidate teaches TPE to leave that region. Evolution gets no metric
    # for it: a scored reject would join its population and push the oldest trained individual out,
    # so with a narrow budget window the population would soon hold rejects alone. patience bounds
    # how long a strategy may keep proposing only over-budget models.
    # Replay (last) answers a candidate whose network already has a result (a trial of an earlier
    # session, or of this one: samples that differ only in labels the network ignores are one network)
    invalid = None if search.strategy == "evolution" else 0.0
    logging.getLogger("nni.nas.strategy.evolution").addFilter(_quiet_gate_rejections)
    gated = TolerantChain(make_strategy(search.strategy, search.trials, search.seed, search.population),
                          Filter(Gate(budget), metric_for_invalid=invalid, patience=2000),
                          Replay(replay or [], key=space_module.network_key))
    exp = NasExperiment(space_module.MnistSpace(fixed, choices), evaluator, gated, id=exp_id)
    exp.config.max_trial_number = search.trials
    exp.config.trial_concurrency = search.concurrency
    exp.config.experiment_working_directory = str(Path(search.workdir).resolve())
    exp.config.experiment_name = f"{search.space}-{search.strategy}-{search.max_params}p"
    # every trial starts through nas.trial_entry, which skips two imports no trial uses (about 1 s
    # of each trial's start); NNI appends its own `-m nni.nas.execution.training_service trial`.
    # NAS_TRIAL_ENTRY=nni keeps NNI's plain entry (bench/trial_overhead.py compares the two).
    entry = os.environ.get(TRIAL_ENTRY_ENV, "light")
    if entry not in ("light", "nni"):
        raise ConfigError(f"{TRIAL_ENTRY_ENV}={entry!r} is not valid; choose one of: light, nni")
    if entry == "light":
        exp.config._trial_command_params = {"python": f"{shlex.quote(sys.executable)} -m nas.trial_entry"}
    return exp


def check_new_id(workdir: str | os.PathLike, exp_id: str) -> None:
    """A user-chosen id must be a plain folder name and must not name an existing experiment."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", exp_id):
        raise ConfigError(f"experiment id {exp_id!r} must be 1-64 letters, digits, '-' or '_' "
                          "(starting with a letter or digit)")
    if (Path(workdir).resolve() / exp_id).exists():
        raise ExperimentError(f"experiment {exp_id!r} already exists in {Path(workdir).resolve()}; "
                              f"continue it with `nas resume {exp_id}` or pick another --id")


def record_path(workdir: str | os.PathLike, exp_id: str) -> Path:
    return Path(workdir).resolve() / exp_id / RECORD


def save_record(exp, search: SearchConfig, train: TrainConfig, data_dir: str) -> Path:
    from search_spaces.choices import CHOICES

    path = record_path(search.workdir, exp.id)
    # strategy_hears_metrics: written since Replay forwards NNI's model events (the report tells
    # searches whose strategy learnt from trial scores from those run blind before the fix);
    # choices: the space when the search began, so that a resume explores that space
    write_text(path, json.dumps({"id": exp.id, "search": asdict(search), "train": asdict(train),
                                 "data_dir": data_dir, "strategy_hears_metrics": True,
                                 "choices": CHOICES}, indent=2))
    return path


def save_record_dict(workdir: str | os.PathLike, exp_id: str, record: dict) -> None:
    write_text(record_path(workdir, exp_id), json.dumps(record, indent=2))


def load_record(workdir: str | os.PathLike, exp_id: str) -> dict:
    path = record_path(workdir, exp_id)
    if not path.exists():
        known = sorted(p.parent.name for p in Path(workdir).resolve().glob(f"*/{RECORD}")
                       if not p.parent.is_symlink())  # not NNI's `_latest` link
        raise ExperimentError(f"no experiment {exp_id!r} in {Path(workdir).resolve()}"
                              + (f"; known: {', '.join(known)}" if known else ""))
    return json.loads(path.read_text())


def register_stopped(workdir: str, exp_id: str) -> bool:
    """Make NNI's per-user manifest (~/nni-experiments/.experiment) list a recorded experiment as
    stopped, if it does not list it yet; True if it was added.

    Why: NNI's `resume` and `view` look the id up in that manifest before they read the experiment's
    own folder, so an experiment made on another machine or under another home (a cloned results
    folder, a fresh CI runner) fails with "does not exist thus cannot be resumed". Its folder in
    `workdir` holds everything NNI needs; the manifest only has to point at it."""
    from nni.tools.nnictl.config_utils import Experiments

    manifest = Experiments()
    if exp_id in manifest.get_all_experiments():
        return False
    folder = Path(workdir).resolve() / exp_id
    if not (folder / "checkpoint" / "config.json").exists():
        raise ExperimentError(f"{folder} has no NNI checkpoint (checkpoint/config.json): it cannot be resumed or viewed")
    started = int((folder / RECORD).stat().st_mtime * 1000)
    manifest.add_experiment(exp_id, 0, started, "local", exp_id, endTime=started, status="STOPPED",
                            logDir=str(folder.parent))
    return True


def rebuild(workdir: str, exp_id: str, port: int | None = None, host: str | None = None, replay=None,
            trials: int | None = None):
    """(NasExperiment, SearchConfig) of a recorded experiment, with a new port/host if given, listed
    in NNI's manifest (`register_stopped`). `trials`: a new total trial count (a longer search); the
    record is updated to it."""
    rec = load_record(workdir, exp_id)
    register_stopped(workdir, exp_id)
    # the strategy must be rebuilt as it was launched, whatever the trial count is now
    rec["search"].setdefault("population", 0)
    if rec["search"]["strategy"] == "evolution" and not rec["search"]["population"]:
        rec["search"]["population"] = population_for(rec["search"]["trials"])
    # NNI 3.0 reloads its strategy/engine state with a bare torch.load(), which torch >= 2.6 refuses
    # (weights_only). The file is this experiment's own checkpoint, so allow full loading for calls
    # that do not choose (ours always pass weights_only explicitly).
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    patch_resume_channel()
    search = make(SearchConfig, rec["search"], workdir=str(Path(workdir).resolve()), port=port, host=host,
                  trials=trials)
    train = make(TrainConfig, rec["train"])
    if trials is not None:
        save_record_dict(workdir, exp_id, {**rec, "search": {**rec["search"], "trials": trials}})
    return build(search, train, rec["data_dir"], exp_id=exp_id, replay=replay, choices=recorded_choices(rec)), search


def recorded_choices(rec: dict) -> dict[str, list]:
    """The space of a recorded search: the choices its record holds, or for a record from before
    they were kept, the space all such searches explored (choices.LEGACY_CHOICES)."""
    from search_spaces.choices import LEGACY_CHOICES

    return rec.get("choices") or LEGACY_CHOICES


def dashboard_url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def bind_dashboard(host: str) -> None:
    """Make the NNI manager process (started later by NNI, inheriting this environment) listen on `host`."""
    os.environ["NAS_BIND_HOST"] = host
    opts = os.environ.get("NODE_OPTIONS", "")
    if str(LOOPBACK_JS) not in opts:
        os.environ["NODE_OPTIONS"] = f"{opts} --require {LOOPBACK_JS}".strip()
