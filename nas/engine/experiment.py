"""Build the NNI experiment of a search, and rebuild a recorded one (`view`, `resume`).

The strategy is NNI's, wrapped in NNI's `Filter` middleware with `nas.budget.Gate` (a candidate
over budget is marked invalid before it is submitted, so it never becomes a trial) and in
`nas.engine.replay.Replay`. What is needed to rebuild the experiment (the search and training configs,
the data folder, where its export goes, the space's choices) is recorded beside NNI's own files in
`<workdir>/<id>/nas.json` (nas.results.store.load_record).
"""
from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from nas import nni_boundary
from nas.budget import BOUNDS, Budget, Gate, count, one_thread
from nas.config import SearchConfig, TrainConfig, asdict, make
from nas.data.datasets import Input, MNIST_INPUT
from nas.engine import machines
from nas.engine.controls import resolve_controls
from nas.errors import ConfigError, ExperimentError
from nas.facts import results_flag
from nas.footprint import footprint
from nas.results.store import load_record, record_path, recorded_choices, recorded_input, save_record
from nas.training.runs import load_arch
from search_spaces import get_space
from search_spaces.baselines import BASELINES
from search_spaces.blocks import build_network
from search_spaces.choices import RECIPE_CHOICES, complete, recipe_labels, search_choices

# NNI, and the modules of this package that import it (multifidelity, replay, retry, trial), are
# imported inside the functions: `nas export` and `nas report` import this module without NNI

TRIAL_ENTRY_ENV = "NAS_TRIAL_ENTRY"  # light (nas.nni_boundary.trial_entry, the default) | nni (NNI's own)


@dataclass
class Built:
    """An NNI experiment and the two middlewares whose counts a search reports."""
    exp: object
    gate: Gate
    replay: object
    search: SearchConfig
    rungs: object = None     # nas.engine.multifidelity.Rungs of a multi-fidelity search
    tracker: object = None   # ... and its nas.engine.tracker.Tracker
    code: Path | None = None  # remote searches: the staged code NNI uploads (the driver runs in it)
    retry: object = None      # nas.engine.retry.RetryOnce (told when the search stops)


def population_for(trials: int) -> int:
    """Evolution's population when none is given: a third of the trials seed it (4 to 20)."""
    return max(4, min(20, trials // 3))


def make_strategy(name: str, trials: int, seed: int, population: int = 0, seeds: list[dict] | None = None):
    """NNI's strategy `name`; `seeds` (evolution only): full samples that open its population."""
    with nni_boundary.without_lightning():
        from nni.nas import strategy  # here: NNI (see the imports)

    if name == "random":
        return strategy.Random(dedup=True, seed=seed)
    if name == "evolution":
        population = population or population_for(trials)
        options = dict(population_size=population, sample_size=max(2, population // 4), mutation_prob=0.2,
                       dedup=True, seed=seed)
        return nni_boundary.warm_evolution(seeds, **options) if seeds else strategy.RegularizedEvolution(**options)
    if name == "tpe":
        return strategy.TPE(seed=seed)
    raise ConfigError(f"unknown strategy {name!r}; choose one of: random, evolution, tpe")


def warm_start_names(search: SearchConfig, fixed: dict, inp=None, skipped: list | None = None) -> str:
    """What `--warm-start` names, resolved for the record: "auto" becomes the reference models
    (search_spaces.baselines) that pass the search's budget gate, agree with its fixed labels, can
    take the dataset's images `inp` and are not its controls, comma-separated ("none" if there are
    none, or for a strategy other than evolution); those left out because they cannot take the
    images are appended to `skipped` as (name, why). A named reference that does not fit is refused
    with one line."""
    inp = inp or MNIST_INPUT
    text = search.warm_start.strip()
    if text in ("none", ""):
        return "none"
    if search.strategy != "evolution":
        if text == "auto":
            return "none"
        raise ConfigError(f"--warm-start seeds evolution's population; --strategy {search.strategy} has none")
    budget = Budget.of(search)
    if text == "auto":
        # the rule's controls, whether or not they can take the images (a control left out says so itself)
        controls = set(resolve_controls(search.controls, search.max_params, fixed, search.search_recipe)) \
            if search.schedule == "asha" else set()
        names = [n for n in BASELINES if n not in controls]
    else:
        names = [n.strip() for n in text.split(",") if n.strip()]
    kept = []
    for spec in names:
        name, arch, _ = load_arch(spec)
        why, unfit = "", False
        if recipe_labels(arch) and not search.search_recipe:
            why = f"has recipe labels {recipe_labels(arch)}"
        elif any(complete(arch).get(k) != v for k, v in fixed.items()):
            why = f"is outside the fixed labels {search.fix}"
        else:
            try:
                net = build_network(arch, inp.shape, inp.classes)
            except ValueError as e:
                why, unfit = f"cannot take {inp.dataset}'s {'x'.join(map(str, inp.shape))} images ({e})", True
            else:
                why = "; ".join(line for _, line in budget.check(net, inp.shape))
        if not why:  # a path is kept absolute: the record must rebuild the same seeds from anywhere
            kept.append(spec if spec in BASELINES else str(Path(spec).resolve()))
        elif text != "auto":
            raise ConfigError(f"--warm-start {name}: {why}")
        elif unfit and skipped is not None:
            skipped.append((name, why))
    return ",".join(kept) or "none"


def warm_start_samples(text: str) -> list[dict]:
    """The full samples of a resolved warm start (`warm_start_names`), in its order."""
    return [] if text in ("none", "") else [complete(load_arch(spec)[1]) for spec in text.split(",")]


# the stems and paddings the smallest networks are tried with: padding adds no weight (on tiny images
# only padded convs fit); a pooling or strided stem shrinks every activation after it
SMALLEST_STEMS = (("none", 0), ("pool", 0), ("conv_s2", 0), ("none", 1), ("pool", 1), ("conv_s2", 1))


def _smallest(space_module, fixed: dict | None, inp, budget: Budget) -> dict[str, int]:
    """The smallest figure the space's smallest networks that can take `inp`'s images reach, for
    each figure `budget` bounds (parameters always; MACs, int8 model bytes, peak RAM and fvcore's
    FLOPs where bounded), each the least over the stems and paddings that build. ConfigError when
    none can take them."""
    found: dict[str, int] = {}
    why = ""
    for stem, pad in SMALLEST_STEMS:
        try:
            arch = {**space_module.smallest_arch(None, stem), "pad1": pad, "pad2": pad, **(fixed or {})}
            net = build_network(arch, inp.shape, inp.classes)
        except ValueError as e:
            why = why or str(e)
            continue
        with one_thread():
            figures = footprint(net, inp.shape).as_dict() if budget.device_bounds else \
                {"params": sum(p.numel() for p in net.parameters())}
            if budget.max_flops:
                figures["flops"] = count(net, inp.shape)[1]
        for k, v in figures.items():
            found[k] = min(found.get(k, v), v)
    if not found:
        raise ConfigError(f"the space's smallest network cannot take {inp.dataset}'s "
                          f"{'x'.join(map(str, inp.shape))} images: {why}")
    return found


def _reach(budget: Budget, smallest: dict[str, int]) -> str:
    """The smallest figure the space reaches for each bound of `budget`, in words."""
    parts = [f"{smallest[figure]:,}{unit} {name}" for field, figure, name, unit in BOUNDS
             if figure == "params" or getattr(budget, field)]
    return ", ".join(parts + ([f"{smallest['flops']:,} FLOPs"] if budget.max_flops else []))


def check_budget_reachable(space_module, budget: Budget, fixed: dict | None = None, inp=None) -> None:
    """Refuse a budget that no candidate of the space can meet, instead of searching forever: a
    bound below the smallest figure the space reaches. `inp`: the dataset's nas.data.datasets.Input
    (default MNIST's)."""
    inp = inp or MNIST_INPUT
    smallest = _smallest(space_module, fixed, inp, budget)
    over = [name for field, figure, name, _ in BOUNDS if getattr(budget, field) and smallest[figure] > getattr(budget, field)]
    over += ["FLOPs"] if budget.max_flops and smallest["flops"] > budget.max_flops else []
    if over:
        raise ConfigError(f"no architecture of the space fits the budget ({budget.describe()}): its smallest "
                          f"networks reach {_reach(budget, smallest)}" + (f" with {fixed}" if fixed else "")
                          + f"; the {', '.join(over)} bound{'s are' if len(over) > 1 else ' is'} out of reach")


SHARE_SAMPLES = 500     # random candidates drawn to see how much of the space a budget leaves
SHARE_SCARCE = 0.01     # under this share fitting, the search is told it will start slowly
SHARE_MEASURED = 100    # ... of which at most this many within the parameter bound are measured in full


def budget_share(space_module, budget: Budget, fixed: dict | None = None, inp=None, samples: int = SHARE_SAMPLES,
                 seed: int = 0) -> str:
    """How much of the space a budget leaves, measured on `samples` random candidates (as a
    strategy's first proposals draw them) before anything starts: a ConfigError naming the smallest
    figures the space reaches when none fits (the strategy would propose forever, every proposal
    rejected), a line to print when few do, else "". Parameters are counted on every sample; the
    other figures, where bounded, on at most SHARE_MEASURED samples within the parameter bound (a
    figure takes a trace of the network), the share then read over the samples drawn so far."""
    import random

    inp = inp or MNIST_INPUT
    check_budget_reachable(space_module, budget, fixed, inp)  # below the smallest network: said so exactly
    full = budget.device_bounds or budget.max_flops
    rng, fits, buildable, drawn, measured = random.Random(seed), 0, 0, 0, 0
    for _ in range(samples):
        if fits >= SHARE_SCARCE * samples:  # enough fit already: the rest cannot make the budget scarce
            return ""
        if measured >= SHARE_MEASURED:
            break
        drawn += 1
        try:
            net = build_network(space_module.sample_arch(rng, fixed), inp.shape, inp.classes)
        except ValueError:  # the gate rejects it too: its network cannot take the images
            continue
        buildable += 1
        params = sum(p.numel() for p in net.parameters())
        if not budget.min_params <= params <= budget.max_params:
            continue
        if full:
            measured += 1
            if budget.check(net, inp.shape):
                continue
        fits += 1
    if fits / drawn >= SHARE_SCARCE:
        return ""
    reach = _reach(budget, _smallest(space_module, fixed, inp, budget))
    smallest = f"the smallest networks reach {reach}" if full else f"the smallest network has {reach}"
    what = budget.describe()
    if not fits:
        measured_words = f", {measured} of them measured in full" if full else ""
        raise ConfigError(f"budget {what}: none of {drawn} random candidates fits ({buildable} of them take "
                          f"{inp.dataset}'s {'x'.join(map(str, inp.shape))} images{measured_words}; {smallest}); "
                          f"raise the budget or pin small choices with --fix")
    return (f"budget {what}: only {fits} of {drawn} random candidates fit ({smallest}); most proposals "
            f"will be rejected before training, so trials start slowly")


def check_port_free(host: str, port: int, remote: bool = False) -> None:
    """The manager's port is free on `host`; `remote`: so is the next one, which NNI 3.0's launcher
    requires of a remote search (it raises a traceback after the dashboard URL otherwise)."""
    for p, why in [(port, "")] + ([(port + 1, ", which NNI needs besides --port for remote machines")] if remote else []):
        if p > 65535:
            raise ExperimentError(f"port {p}{why} does not exist; pick a lower --port")
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            # as node does: connections of a previous run still in TIME_WAIT must not count as "in use"
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, p))
            except OSError as e:
                raise ExperimentError(f"port {p} on {host}{why} is not available ({e.strerror}); "
                                      "pick another with --port") from None


def check_new_id(workdir: str | os.PathLike, exp_id: str) -> None:
    """A user-chosen id must be a plain folder name and must not name an existing experiment."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", exp_id):
        raise ConfigError(f"experiment id {exp_id!r} must be 1-64 letters, digits, '-' or '_' "
                          "(starting with a letter or digit)")
    if (Path(workdir).resolve() / exp_id).exists():
        raise ExperimentError(f"experiment {exp_id!r} already exists in {Path(workdir).resolve()}; "
                              f"continue it with `nas resume {exp_id}{results_flag(Path(workdir).resolve().parent)}` "
                              "or pick another --id")


def build(search: SearchConfig, train: TrainConfig, data_dir: str, inp: Input, exp_id: str, replay=None,
          choices: dict[str, list] | None = None, log=None) -> Built:
    """The experiment for these configs, its networks built for `inp` (the input of the verified data
    in `data_dir`). `replay`: trials finished in earlier sessions, answered
    from their records if proposed again; `choices`: the labels' values (a resumed search: its own);
    `log`: where a multi-fidelity search prints its progress lines."""
    # here: NNI, and the modules that import it (see the imports)
    from nni.nas.evaluator import FunctionalEvaluator
    with nni_boundary.without_lightning():
        from nni.nas.experiment import NasExperiment
        from nni.nas.strategy.middleware import Filter

    from nas.engine.replay import Replay
    from nas.engine.retry import RetryOnce
    from nas.engine.trial import evaluate_model

    try:
        space_module = get_space(search.space)
        fixed = space_module.parse_fixed(search.fix)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    choices = search_choices(search.search_recipe) if choices is None else choices
    pinned = sorted(set(fixed) & set(RECIPE_CHOICES) - set(choices))
    if pinned:  # a label outside the searched space would not reach NNI's sample, nor the export
        raise ConfigError(f"--fix {', '.join(pinned)}: recipe labels are part of a candidate only with --search-recipe")
    budget = Budget.of(search)
    check_budget_reachable(space_module, budget, fixed, inp)
    # a flat search's trials keep their (proxy-trained) weights: its export hands the best one's over
    evaluator = FunctionalEvaluator(evaluate_model, config=asdict(train), data_dir=data_dir,
                                    early_stop={"workdir": str(Path(search.workdir).resolve()), "id": exp_id}
                                    if search.early_stop else None, keep_weights=search.schedule == "flat")
    # metric 0 for a rejected candidate teaches TPE to leave that region; evolution gets none, or
    # scored rejects would push the trained individuals out of its population. patience bounds how
    # long a strategy may propose only over-budget models.
    gate = Gate(budget, inp.shape)
    nni_boundary.quiet_gate_rejections()
    strategy = make_strategy(search.strategy, search.trials, search.seed, search.population,
                             warm_start_samples(search.warm_start))
    gate_filter = Filter(gate, metric_for_invalid=None if search.strategy == "evolution" else 0.0, patience=2000)
    rungs = tracker = None
    if search.schedule == "asha":
        from nas.engine.multifidelity import build_rungs  # here: it imports NNI (see the imports)

        rungs, answered, tracker = build_rungs(search, train, data_dir, search.workdir, exp_id, fixed, replay or [], log)
        repeat = Replay(answered, key=space_module.network_key)
        retry = RetryOnce(log)
        chain = nni_boundary.tolerant_chain(strategy, gate_filter, repeat, rungs, retry, then=rungs.finish,
                                            after=rungs.detach)
    else:
        repeat = Replay(replay or [], key=space_module.network_key)
        retry = RetryOnce(log)
        chain = nni_boundary.tolerant_chain(strategy, gate_filter, repeat, retry)
    with nni_boundary.without_lightning():  # NNI asks whether the strategy is one-shot
        exp = NasExperiment(space_module.MnistSpace(fixed, choices, inp.shape, inp.classes), evaluator, chain, id=exp_id)
    # a multi-fidelity search ends when its schedule does (nas.engine.multifidelity), not at a trial count
    exp.config.max_trial_number = search.trials if rungs is None else None
    if rungs is None:  # a retried trial is one more NNI trial: raise the limit so the search still ends at its count
        retry.on_retry = lambda n: exp.update_max_trial_number(exp.config.max_trial_number + n)
    exp.config.trial_concurrency = search.concurrency
    exp.config.experiment_working_directory = str(Path(search.workdir).resolve())
    exp.config.experiment_name = f"{search.space}-{search.strategy}-{search.max_params}p"
    entry = os.environ.get(TRIAL_ENTRY_ENV, "light")  # bench/trial_overhead.py compares the two
    if entry not in ("light", "nni"):
        raise ConfigError(f"{TRIAL_ENTRY_ENV}={entry!r} is not valid; choose one of: light, nni")
    if entry == "light":
        nni_boundary.use_trial_entry(exp, "nas.nni_boundary.trial_entry", f"http://127.0.0.1:{search.port}")  # NNI listens on all addresses
    code = None
    if search.machines:
        listed, manager_ip = machines.load(search.machines)
        code = machines.stage_code(Path(search.workdir) / exp_id)
        if train.teacher:  # uploaded with the code: the workers have no path to this machine's files
            from nas.training.teacher import stage

            stage(train.teacher, code)
        machines.configure(exp, listed, manager_ip, code, search.port)
    return Built(exp, gate, repeat, search, rungs, tracker, code, retry)


def new_record(exp_id: str, search: SearchConfig, train: TrainConfig, data_dir: str, inp: Input, export_dir: str) -> dict:
    """What `resume` and `view` rebuild the search from: everything its launch was given, and the
    dataset's input `inp` (what an export's model takes)."""
    return {"id": exp_id, "search": asdict(search), "train": asdict(train), "data_dir": data_dir,
            "input": asdict(inp), "export_dir": export_dir, "strategy_hears_metrics": True,
            "choices": search_choices(search.search_recipe)}


def register(workdir: str | os.PathLike, exp_id: str) -> bool:
    """List a recorded search in NNI's per-user manifest (nni_boundary.register_stopped)."""
    started = int(record_path(workdir, exp_id).stat().st_mtime * 1000)
    try:
        return nni_boundary.register_stopped(Path(workdir).resolve(), exp_id, started)
    except FileNotFoundError as e:
        raise ExperimentError(str(e)) from None


def rebuild(workdir: str, exp_id: str, port: int | None = None, host: str | None = None, replay=None,
            trials: int | None = None, log=None) -> tuple[Built, dict]:
    """(the experiment, its record) of a recorded search, with a new port/host if given.
    `trials`: a new total trial count (a longer search), saved in the record."""
    rec = load_record(workdir, exp_id)
    register(workdir, exp_id)
    # the strategy must be rebuilt as it was launched, whatever the trial count is now
    rec["search"].setdefault("population", 0)
    rec["search"].setdefault("schedule", "flat")  # searches recorded before the multi-fidelity schedule
    rec["search"].setdefault("warm_start", "none")  # ... and before evolution's warm start
    rec["search"].setdefault("fresh_seeds", 0)  # ... and before the fresh seeds after the race
    if rec["search"]["strategy"] == "evolution" and not rec["search"]["population"]:
        rec["search"]["population"] = population_for(rec["search"]["trials"])
    nni_boundary.allow_full_torch_load()
    nni_boundary.skip_hpo_commands_on_resume()
    search = make(SearchConfig, rec["search"], workdir=str(Path(workdir).resolve()), port=port, host=host,
                  trials=trials)
    if trials is not None:
        save_record(workdir, exp_id, {**rec, "search": {**rec["search"], "trials": trials}})
    built = build(search, make(TrainConfig, rec["train"]), rec["data_dir"], recorded_input(rec), exp_id, replay,
                  recorded_choices(rec), log)
    return built, rec


def dashboard_url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"
