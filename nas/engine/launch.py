"""Run a search: launch, resume or view an NNI experiment, print a line per finished trial, and
export the best architecture at the end. `nas search`, `nas resume` and `nas view` call these;
so can a Python user (`from nas.engine.launch import search`).
"""
from __future__ import annotations

import dataclasses
import secrets
import string
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nas import nni_boundary
from nas.budget import Budget
from nas.config import (SearchConfig, TrainConfig, default_threads, fit_val_size, format_rungs, parse_rungs,
                        resolve_fix)
from nas.data.datasets import data_files, describe, load_uint8, resolve_data_dir
from nas.deploy.export import auto_export_allowed, export
from nas.engine import machines, tunnels
from nas.engine.controls import resolve_controls
from nas.engine.experiment import (Built, budget_share, build, check_new_id, check_port_free, dashboard_url, new_record,
                                   population_for, rebuild, register, warm_start_names)
from nas.engine.recovery import prepare
from nas.engine.weights import collect as collect_weights
from nas.errors import ConfigError, ExperimentError
from nas.facts import COST_WORDS, FULL_IMAGES, RESULTS_ROOT
from nas.results.store import Layout, load_record, read_trials, recorded_input, save_record
from nas.schedule.ledger import outcome
from nas.schedule.rungs import fit_rungs
from nas.studies.proxy import rungs_setting
from nas.training.loop import check_schedule
from nas.training.workers import print_flush
from search_spaces import get_space
from search_spaces.blocks import build_network


@dataclass
class SearchResult:
    id: str
    dashboard: str
    accepted: int = 0              # candidates the budget gate let through
    rejected: int = 0              # ... and rejected before training
    rejected_by: dict = field(default_factory=dict)  # ... by the figure whose bound they broke (Gate.rejected_by)
    replayed: int = 0              # proposals answered from an earlier session's trials
    repeats: int = 0               # proposals of a network this session had trained already
    exported: list = field(default_factory=list)  # nas.deploy.export.export's entries, best first
    export_dir: Path | None = None
    kept_export: bool = False      # the export folder held a user's `nas export`, left alone
    interrupted: bool = False      # stopped by Ctrl-C or SIGTERM
    stopped: str = ""              # why the search stopped on its own before its end (no machine left)
    outcome: dict | None = None    # a multi-fidelity search's race: nas.schedule.ledger.outcome (pick, gaps, controls)
    spent_cpu_hours: float | None = None
    dataset: str = "mnist"         # what the search trained on, and the folder it read (for the next commands)
    data_dir: str | None = None


def did_not_learn(val_acc: float, classes: int, constant_acc: float | None = None) -> bool:
    """A trial whose validation accuracy sits near chance (within 2 points of 100/classes, or of
    `constant_acc`, what always answering the commonest class scores): it learnt nothing, whatever
    its network could do with a longer training."""
    return val_acc <= max(100 / classes, constant_acc or 0) + 2


def figures_text(final: dict) -> str:
    """A trial line's device figures: MACs, int8 model bytes and peak RAM; fvcore's FLOPs for a
    trial recorded before it reported them."""
    if "macs" not in final:
        return f"FLOPs {final.get('flops', 0):>11,}"
    return f"MACs {final['macs']:>11,}  int8 {final['flash']:>7,} B  RAM {final['ram']:>7,} B"


class TrialWatcher(threading.Thread):
    """Prints one aligned line per finished trial while NNI runs the search."""

    def __init__(self, workdir: str, exp_id: str, total: int, log=print_flush, extra=lambda: 0, classes: int = 10):
        super().__init__(daemon=True)
        self.workdir, self.exp_id, self.total, self.log = workdir, exp_id, total, log
        self.classes = classes  # the dataset's: what chance is
        self.extra = extra  # trials added on the way (retries of killed ones)
        self.seen: set[str] = set()
        self.interrupted = 0  # trials of earlier sessions a resume marked interrupted
        self.stop_event = threading.Event()

    def poll(self) -> None:
        try:
            trials = read_trials(self.workdir, self.exp_id)
        except Exception:  # the database may not exist yet or be mid-write: try again at the next poll
            return
        for t in trials:
            if t.id in self.seen or t.status in ("WAITING", "RUNNING"):
                continue
            self.seen.add(t.id)
            f = t.final
            where = ""
            if f and "rung" in f:  # a multi-fidelity search: which training of which candidate
                where = f"  rung {f['rung']} seed {f['seed']}" + (f" control {f['control']}" if f.get("control") else "")
            if t.message == nni_boundary.INTERRUPTED_MESSAGE:  # resume raised NNI's trial limit by each of these
                self.interrupted += 1
            # the denominator is every trial NNI will run: the count, the retries, the interrupted ones
            # (a failure unforeseen in it must still never show a count above it)
            planned = max(self.total + self.extra() + self.interrupted, len(self.seen))
            count = f"{len(self.seen):>3}/{planned}" if self.total else f"{len(self.seen):>3}"
            if t.status == "SUCCEEDED" and f:
                chance = "  did not learn (chance level)" if did_not_learn(f.get("default", 0), self.classes, f.get("constant_acc")) else ""
                self.log(f"trial {count}  {t.id}  val {f.get('default', 0):6.2f}%  "
                         f"params {f.get('params', 0):>7,}  {figures_text(f)}  "
                         f"{f.get('seconds', 0):6.1f}s{where}{chance}")
            else:
                reason = f"  {t.reason}" if t.status == "FAILED" and t.reason else ""
                if t.status in ("FAILED", "USER_CANCELED") and not t.reason and not t.final:
                    reason = "  (ended without a result: its process was killed or its worker lost)"
                self.log(f"trial {count}  {t.id}  {t.status}{reason}{where}")

    def run(self) -> None:
        while not self.stop_event.wait(3):
            self.poll()


DROP_FILE = "dropped-machines"  # in the search's folder: the machines this session dropped (workers.js reads it)


class MachineWatch(threading.Thread):
    """Drops a machine whose SSH link ended (it answered no keep-alive for its liveness time, or its
    SSH server went away): one line naming it, and its NNI workers stopped (nni_boundary.watch_workers),
    so its running trials end and are retried on the others. With no machine left the search stops:
    `stopped` says why, and the main thread is interrupted to stop the experiment."""

    def __init__(self, links, drop_file: Path, log):
        super().__init__(daemon=True)
        self.links, self.drop_file, self.log = links, drop_file, log
        self.stopped = ""
        self.stop_event = threading.Event()

    def run(self) -> None:
        import _thread

        while not self.stop_event.wait(1):
            lost = self.links.lost()
            for link in lost:
                m = link.machine
                self.log(f"machine {m.user}@{m.host}:{m.port} answered no SSH keep-alive for {m.liveness_s:g} s "
                         f"(hung, unreachable or gone): dropped; its running trials are retried on the other machines")
                with self.drop_file.open("a") as f:
                    f.write(f"{m.host}:{m.port}\n")
            if lost and not self.links.alive():
                self.stopped = ("no machine is left to train on: every machine was dropped; the search stopped "
                                "with its finished trials kept")
                _thread.interrupt_main()
                return


def _warn_exposed(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"WARNING: the dashboard has no authentication and listens on {host}: anyone who can reach "
              f"this machine can see and stop the experiment. Use --host 127.0.0.1 to keep it private.",
              file=sys.stderr)


def _open_dashboard(search: SearchConfig, view: bool = False) -> str:
    check_port_free(search.host, search.port, remote=bool(search.machines) and not view)
    _warn_exposed(search.host)
    nni_boundary.bind_dashboard(search.host)
    return dashboard_url(search.host, search.port)


def _run(built: Built, resume: bool, keep_open: bool, export_dir: Path | None, log, inp, data_dir: str,
         links=None) -> SearchResult:
    """Run the experiment to its trial count, then export its best (unless a user export is there).
    `inp`: the dataset's nas.data.datasets.Input, read from `data_dir`; `links`: a remote search's
    SSH links (nas.engine.tunnels), open for the whole run."""
    exp, search = built.exp, built.search
    result = SearchResult(exp.id, _open_dashboard(search), dataset=inp.dataset, data_dir=data_dir)
    with nni_boundary.uploading(built.code):
        return _run_in(built, result, resume, keep_open, export_dir, log, inp.classes, links)


def _run_in(built: Built, result: SearchResult, resume: bool, keep_open: bool, export_dir: Path | None,
            log, classes: int, links=None) -> SearchResult:
    exp, search = built.exp, built.search
    log(f"experiment {exp.id}: dashboard at {result.dashboard}")
    # a multi-fidelity search has no fixed trial count: its lines count up, and the [rungs] lines say how far it is
    watcher = TrialWatcher(search.workdir, exp.id, search.trials if built.rungs is None else 0, log,
                           extra=lambda: built.retry.retries if built.retry is not None else 0, classes=classes)
    watcher.start()
    machine_watch = None
    if links is not None:
        machine_watch = MachineWatch(links, Path(search.workdir) / exp.id / DROP_FILE, log)
        nni_boundary.watch_workers(machine_watch.drop_file)
        machine_watch.start()
    try:
        nni_boundary.start(exp, search.port, resume)
        nni_boundary.wait_completion(exp, built.retry.outstanding if built.retry is not None else None)
        watcher.poll()
        if built.rungs is not None:
            result.outcome = outcome(built.rungs.ledger) if built.rungs.ledger.done() else None
            result.spent_cpu_hours = built.tracker.spent_s / 3600
            built.tracker.save()
        result.accepted, result.rejected = built.gate.accepted, built.gate.rejected
        result.rejected_by = dict(built.gate.rejected_by)
        result.replayed, result.repeats = built.replay.replayed, built.replay.repeats
        nni_boundary.compact(Path(search.workdir), exp.id)
        for line in collect_weights(search.workdir, exp.id, search.machines or None):  # what the export hands over
            log(f"warning: {line}")
        if export_dir is not None:
            result.export_dir = export_dir / exp.id
            if auto_export_allowed(result.export_dir):  # this search's own export, refreshed
                result.exported = export(search.workdir, exp.id, result.export_dir, top_k=1, force=True,
                                         written_by="search")
            else:
                result.kept_export = True
        if keep_open:
            log(f"search done; dashboard stays at {result.dashboard} (Ctrl-C to stop)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:  # the way to close it: the search itself is complete
                pass
    except KeyboardInterrupt:
        if machine_watch is not None and machine_watch.stopped:
            result.stopped = machine_watch.stopped
        else:
            result.interrupted = True
    finally:
        watcher.stop_event.set()
        if machine_watch is not None:
            machine_watch.stop_event.set()
        if built.retry is not None:
            built.retry.stopping = True  # the trials the stop cancels are no failures to retry
        try:
            exp.stop()
        except Exception as e:  # stopping an experiment that never started raises inside NNI
            print(f"warning: stopping the experiment: {e}", file=sys.stderr)
    return result


def _worker_data(data_dir: str, dataset: str) -> list[str] | None:
    """What a remote machine must hold: MNIST its own way (its data_dir or lookup), another dataset
    at the driver's paths."""
    return None if dataset == "mnist" else [str(p) for p in data_files(Path(data_dir), dataset)]


def random_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def search(search: SearchConfig, train: TrainConfig, results: str | Path = RESULTS_ROOT, exp_id: str | None = None,
           data_dir: str | None = None, export_dir: str | Path | None = None, keep_open: bool = False,
           log=print_flush) -> SearchResult:
    """Launch a search into `<results>/searches/<id>` and export its best into `export_dir`
    (default `<results>/exports`). `search.workdir` is set from `results`."""
    if search.max_flops:  # fvcore's total: kept only for the searches recorded with it (nas.config.SearchConfig)
        raise ConfigError(f"max_flops (fvcore's total FLOPs, {search.max_flops:,}) bounds only searches recorded "
                          "before max_macs; bound the convs' multiply-accumulates with --max-macs (max_macs)")
    layout = Layout.at(results)
    search = dataclasses.replace(search, workdir=str(layout.searches.resolve()),
                                 fix=resolve_fix(search.fix, search.schedule),
                                 concurrency=search.concurrency or default_threads(1))  # 0: one trial per core
    rungs_from = ""
    if search.schedule == "asha" and search.rungs == "auto":  # the record keeps the rungs it resolved to
        rungs, rungs_from = rungs_setting(layout.proxy)
        search = dataclasses.replace(search, rungs=rungs)
    if search.strategy == "evolution" and not search.population:
        # a budget in CPU-hours buys many candidates: the largest automatic population
        planned = search.trials if not (search.schedule == "asha" and search.cpu_hours) else 60
        search = dataclasses.replace(search, population=population_for(planned))
    # the cores, shared by the trials (on remote machines each worker's wrapper sets its own share)
    threads = 0 if search.machines else default_threads(search.concurrency)
    if search.schedule == "flat":
        train = dataclasses.replace(train, train_subset=search.train_subset, epochs=search.epochs, threads=threads)
    else:  # each rung sets epochs, images and seed; the rest is the confirmation's recipe
        train = dataclasses.replace(train, threads=threads)
    exp_id = exp_id or random_id()
    check_new_id(search.workdir, exp_id)
    check_port_free(search.host, search.port, remote=bool(search.machines))  # before anything is written
    data_dir = str(resolve_data_dir(data_dir, dataset=train.dataset).resolve())
    raw = load_uint8(data_dir, dataset=train.dataset)  # verify + cache once here, so trials never decode or download
    inp = describe(raw, train.dataset)
    search, train, notes = fit_input(search, train, inp, len(raw["train_y"]), auto_rungs=bool(rungs_from))
    for line in notes:
        log(line)
    if train.teacher:  # every trial and control learns from it: checked before anything is written
        from nas.training.teacher import announce, load as load_teacher, vetted

        teacher = vetted(train, data_dir)  # trials read validation
        load_teacher(train.teacher, inp.shape, inp.classes)
        train = dataclasses.replace(train, teacher=str(Path(train.teacher).resolve()))  # trials run elsewhere
        log(announce(teacher, train))
    links = None
    if search.machines:  # every machine checked before anything is written
        search = dataclasses.replace(search, machines=str(Path(search.machines).resolve()))
        listed, manager_ip = machines.load(search.machines)
        for m in listed:
            machines.check(m, _worker_data(data_dir, train.dataset))
            machines.prepare(m)
        port, where = choose_port(listed, search.port, search.host, manager_ip, log)
        search = dataclasses.replace(search, port=port)
        links = tunnels.open_links(listed, port, direct=manager_ip is not None, where=where)
    try:
        return _launch(search, train, layout, exp_id, data_dir, raw, inp, notes, rungs_from, export_dir,
                       keep_open, log, links)
    finally:
        if links is not None:
            links.close()


def _no_control_fits(inp, max_params: int) -> str:
    """The header's words when none of the rule's controls can take the images: the hand-made and
    reference models that can, within the budget, so the user can name one with --controls."""
    from search_spaces.baselines import BASELINES

    fit = []
    for name, b in BASELINES.items():
        try:
            net = build_network(b["arch"], inp.shape, inp.classes)
        except ValueError:
            continue
        if sum(p.numel() for p in net.parameters()) <= max_params:
            fit.append(name)
    return ("none (the rule's controls cannot take the images; the race runs without controls"
            + (f"; these can take them: --controls {','.join(fit)})" if fit else ")"))


PORT_TRIES = 16  # manager port pairs tried from --port up when a worker's loopback holds it


def choose_port(listed: list, port: int, host: str, manager_ip: str | None, log) -> tuple[int, dict | None]:
    """(the manager's port, each machine's probe of it) for a remote search: `port` when no worker's
    loopback holds it, else the next pair (port + 2, ...) free here and on every worker, said in one
    line. The forwarded port must equal the manager's (NNI tells workers its own), so two searches
    from different machines sharing a worker would otherwise collide there. With `manager_ip` the
    workers dial it directly: nothing is forwarded, nothing to choose."""
    if manager_ip is not None:
        return port, None
    taken = []
    for p in range(port, min(port + 2 * PORT_TRIES, 65535), 2):
        if p != port:
            try:
                check_port_free(host, p, remote=True)
            except ExperimentError:
                continue
        try:
            where = tunnels.probe(listed, p)
        except tunnels.PortTaken as e:
            taken.append(f"port {p} is taken on {e.machine}")
            continue
        if p != port:
            log(f"{'; '.join(taken)} by another program (another search there?); this search's manager "
                f"uses ports {p} and {p + 1} instead")
        return p, where
    raise ExperimentError(f"no free manager port from {port} to {port + 2 * PORT_TRIES - 2} on every machine "
                          f"({', '.join(taken[:3])}, ...); pick another --port")


def _launch(search, train, layout, exp_id, data_dir, raw, inp, notes, rungs_from, export_dir, keep_open, log,
            links) -> SearchResult:
    """`search`'s second half, once its machines are checked and linked: build, record, run."""
    export_dir = Path(export_dir or layout.exports).resolve()
    built = build(search, train, data_dir, inp, exp_id, log=log)
    save_record(search.workdir, exp_id, new_record(exp_id, search, train, data_dir, inp, str(export_dir)))
    shape = "x".join(map(str, inp.shape))
    head = (f"search: {search.strategy} over the space '{search.space}' on {train.dataset} ({shape}, "
            f"{inp.classes} classes), budget {Budget.of(search).describe()}"
            + (f", fixed {search.fix}" if search.fix else ""))
    if built.rungs is None:
        split = len(raw["train_y"]) - train.val_size
        log(head + f", {search.trials} trials x {train.epochs} epochs on {min(train.train_subset or split, split):,} images")
    else:
        led = built.rungs.ledger
        log(head + f"; {led.candidates} rung-0 candidates"
            + (f" (sized to {search.cpu_hours:g} CPU-hours)" if search.cpu_hours else "")
            + ", rungs " + " -> ".join(f"{r.epochs} ep x {r.images:,} img x {len(r.seeds)} seed(s)" for r in led.rungs)
            + f", the best 1/{led.eta} promoted; controls: "
            + (", ".join(led.controls) or (_no_control_fits(inp, search.max_params)
                                           if search.controls == "none" and notes.controls_left else "none"))
            + (f"; the pick: the fewest {COST_WORDS[led.prefer]} within {led.margin:g} points of the best"
               if led.prefer != "accuracy" else "")
            + (f"; then {led.fresh} fresh seed(s) for the pick" + (", the best" if led.prefer != "accuracy" else "")
               + " and the controls" if led.fresh else "")
            + (f"; rungs {rungs_from}" if rungs_from else ""))
    if search.warm_start != "none":
        log(f"warm start: evolution's population opens with {search.warm_start.replace(',', ', ')}")
    return _run(built, False, keep_open, export_dir, log, inp, data_dir, links)


class Notes(list):
    """The lines `fit_input` has to say, and whether it left out every control the rule chose."""
    controls_left: bool = False


def fit_input(search: SearchConfig, train: TrainConfig, inp, train_images: int, auto_rungs: bool):
    """(search, train, notes) fitted to the dataset before anything starts: the default validation
    split sized to its `train_images` (nas.facts.val_images), the rungs to its training split
    (nas.schedule.rungs.fit_rungs; `auto_rungs`: the rungs were chosen for MNIST, not typed), the
    warm start and the controls resolved to those whose networks can take its images `inp`, and
    the budget checked against the space. Each change a line of `notes`; a setting that cannot
    work is a ConfigError."""
    notes = Notes()
    try:
        fixed = get_space(search.space).parse_fixed(resolve_fix(search.fix, search.schedule))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    train, line = fit_val_size(train, train_images)
    notes.extend([line] if line else [])
    if train.val_size >= train_images:
        raise ConfigError(f"val_size {train.val_size:,} leaves no training image: {inp.dataset} has "
                          f"{train_images:,} training images")
    split = train_images - train.val_size
    if search.schedule == "asha":
        fitted, changed = fit_rungs(parse_rungs(search.rungs), split, FULL_IMAGES, auto_rungs)
        if changed:
            search = dataclasses.replace(search, rungs=format_rungs(fitted))
            notes.append(f"rungs fitted to the {split:,} training images outside validation: "
                         + " -> ".join(f"{r.epochs} ep x {r.images:,} img" for r in fitted))
    sizes = ([(train.epochs, min(train.train_subset or split, split))] if search.schedule == "flat"
             else [(r.epochs, r.images) for r in parse_rungs(search.rungs)])
    for epochs, images in sizes:  # what every trial would fail on (nas.training.loop.check_schedule), said once here
        try:
            check_schedule(dataclasses.replace(train, epochs=epochs), images)
        except ConfigError as e:
            raise ConfigError(f"{epochs} epoch(s) of {images:,} images: {e}") from None
    skipped: list = []
    search = dataclasses.replace(search, warm_start=warm_start_names(search, fixed, inp, skipped))
    notes.extend(f"warm start {name} skipped: {why}" for name, why in skipped)
    if search.schedule == "asha":
        skipped = []
        kept = resolve_controls(search.controls, search.max_params, fixed, search.search_recipe, inp, skipped)
        notes.extend(f"control {name} skipped: {why}" for name, why in skipped)
        if skipped:  # the record keeps the controls that race, so a resume races the same
            search = dataclasses.replace(search, controls=",".join(kept) or "none")
            notes.controls_left = not kept
    line = budget_share(get_space(search.space), Budget.of(search), fixed, inp)
    if line:
        notes.append(line)
    return search, train, notes


def resume(exp_id: str, results: str | Path = RESULTS_ROOT, trials: int | None = None, port: int | None = None,
           host: str | None = None, keep_open: bool = False, log=print_flush) -> SearchResult:
    """Continue a stopped or killed search up to its trial count (or a new total, `trials`);
    its export goes where its launch sent it."""
    workdir = str(Layout.at(results).searches.resolve())
    rec = load_record(workdir, exp_id)
    register(workdir, exp_id)  # before anything changes: a folder NNI cannot resume fails here
    load_uint8(rec["data_dir"], download=False, dataset=rec["train"].get("dataset", "mnist"))  # moved data fails here
    total = rec["search"]["trials"]
    if trials is not None:
        done = sum(t.status in nni_boundary.FINISHED for t in read_trials(workdir, exp_id))
        if trials < max(1, done):
            raise ConfigError(f"--trials {trials} is below the {done} trials this experiment already ran")
        total = trials
    flat = rec["search"].get("schedule", "flat") == "flat"
    listed, manager_ip = [], None
    if rec["search"].get("machines"):  # the machines again, before anything changes
        listed, manager_ip = machines.load(rec["search"]["machines"])
        for m in listed:
            machines.check(m, _worker_data(rec["data_dir"], rec["train"].get("dataset", "mnist")))
            machines.prepare(m)
    p = prepare(workdir, exp_id, total if flat else None)
    # once a manager the killed session left is stopped: the port it held is free again
    check_port_free(host or rec["search"].get("host", "127.0.0.1"), port or rec["search"].get("port", 8080),
                    remote=bool(rec["search"].get("machines")))
    for m in listed:  # after the local manager is stopped: nothing can start new trials there now
        stopped = machines.stop_leftovers(m, exp_id)
        if stopped:
            log(f"stopped {stopped} processes an earlier session left on {m.name}")
    if p.stopped_manager:
        log(f"stopped NNI manager {p.stopped_manager}, left running by a search that was killed")
    log(f"resume: {len(p.finished)} finished trials kept"
        + (f"; {len(p.interrupted_now)} interrupted ({', '.join(p.interrupted_now)}) marked USER_CANCELED"
           if p.interrupted_now else "")
        + (f"; {max(0, total - len(p.finished))} more to run" if flat else "; the schedule continues"))
    links = None
    if listed:
        port, where = choose_port(listed, port or rec["search"].get("port", 8080),
                                  host or rec["search"].get("host", "127.0.0.1"), manager_ip, log)
        links = tunnels.open_links(listed, port, direct=manager_ip is not None, where=where)
    try:
        built, rec = rebuild(workdir, exp_id, port, host, replay=p.finished, trials=trials, log=log)
        export_dir = Path(rec.get("export_dir") or Layout.at(results).exports)
        return _run(built, True, keep_open, export_dir, log, recorded_input(rec), rec["data_dir"], links)
    finally:
        if links is not None:
            links.close()


def view(exp_id: str, results: str | Path = RESULTS_ROOT, port: int | None = None, host: str | None = None,
         seconds: float = 0, log=print_flush) -> str:
    """Re-open the dashboard of a stopped search for `seconds` (0: until Ctrl-C); its URL."""
    built, _ = rebuild(str(Layout.at(results).searches.resolve()), exp_id, port, host)
    url = _open_dashboard(built.search, view=True)
    with nni_boundary.uploading(built.code):  # a remote search's config names its staged code folder
        built.exp.view(port=built.search.port, non_blocking=True)
        log(f"experiment {exp_id}: dashboard at {url} " + (f"for {seconds:g}s" if seconds else "(Ctrl-C to stop)"))
        try:
            time.sleep(seconds) if seconds else threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            built.exp.stop()
    return url
