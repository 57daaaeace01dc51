"""Every place this tool reaches past NNI 3.0's public API: patches, private attributes, its
database, its logs, its per-user manifest and its node process. No other module touches them, so an
NNI upgrade or audit reads this file alone.

Each entry names the NNI behaviour it works around and the test that proves it. What needs NNI
imports it inside the function: reading a search's database or logs (report, export, re-rank) works
on a machine without NNI. An installed NNI of another version stops the import with one line.
"""
from __future__ import annotations

import contextlib

import importlib.metadata
import json
import os
import re
import shlex
import sqlite3
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from nas.errors import ExperimentError

NNI_VERSION = "3.0"
LOOPBACK_JS = Path(__file__).with_name("loopback.js")
SAMPLE_FILE = "sample.json"    # a trial's own record of the sample it trained (see `check_samples`)
COMPACT_FILE = "trials.json"   # a finished search's trial samples and reasons, so its trial folders can go
FINISHED = ("SUCCEEDED", "FAILED")
ENDED = FINISHED + ("USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED")
INTERRUPTED_MESSAGE = "interrupted: the search stopped while this trial ran; a new trial replaces it"


class NNIVersionError(ImportError):
    """NNI is installed, but not the version this module was written for; one line."""


def _check_version() -> None:
    try:
        found = importlib.metadata.version("nni")
    except importlib.metadata.PackageNotFoundError:
        return  # no NNI: the database readers still work; `require_nni` says what is missing
    if found != NNI_VERSION:
        raise NNIVersionError(f"this tool is written for NNI {NNI_VERSION}, found {found}; "
                              f"install it with pip install nni=={NNI_VERSION}")


_check_version()


def require_nni(command: str) -> None:
    """A one-line ImportError for commands that start NNI on a machine without it."""
    try:
        import nni  # noqa: F401
    except ImportError as e:
        raise ImportError(f"nas {command} needs NNI, which does not import here ({e}); "
                          f"install the project with pip install -e . (NNI {NNI_VERSION})") from None


# ---------------------------------------------------------------- start-up and logging


def lighten_nni_import() -> None:
    """NNI imports pytorch_lightning on every `import nni.nas...` unless its framework is "none"
    (about 6 s of CPU per trial). Set before NNI is imported; its manager and trials inherit it.
    Proved by test_e2e.py::test_search_dashboard_export_view (the trials' `imports_s`)."""
    os.environ.setdefault("NNI_FRAMEWORK", "none")


def silence_banner() -> None:
    """NNI prints a banner listing every address of the machine, not just the one the dashboard
    binds; its log file keeps it. A no-op without NNI."""
    try:
        import nni.runtime.log
    except ImportError:
        return
    nni.runtime.log.silence_stdout()


def _not_a_gate_rejection(record) -> bool:
    return not (isinstance(record.msg, str) and record.msg.endswith("has no metric. Skip."))


def quiet_gate_rejections() -> None:
    """Evolution warns "... has no metric. Skip." for every candidate the budget gate rejects (they
    get no metric on purpose): hundreds of lines on a narrow budget. Idempotent (one filter object)."""
    import logging

    logging.getLogger("nni.nas.strategy.evolution").addFilter(_not_a_gate_rejection)


class _LazyStat:
    """Stands for one scipy.stats distribution; imports the real one on first use."""

    def __init__(self, name: str):
        self._name = name

    def _real(self):
        import scipy.stats
        return getattr(scipy.stats, self._name)

    def __call__(self, *args, **kwargs):
        return self._real()(*args, **kwargs)

    def __getattr__(self, attr):
        return getattr(self._real(), attr)


def import_nni_lightly() -> None:
    """`nni.mutable` imports scipy.stats and json_tricks imports pandas, about 1 s of every trial's
    start, for features this tool never uses: import NNI with pandas hidden and scipy.stats stood in
    for; afterwards both import for real if anything asks. Proved by test_trial_entry.py."""
    if "nni" in sys.modules:
        return
    stub = types.ModuleType("scipy.stats")
    for name in ("norm", "lognorm", "uniform", "loguniform"):  # what nni.mutable.mutable imports
        setattr(stub, name, _LazyStat(name))
    hidden = {name: module for name, module in (("pandas", None), ("scipy.stats", stub)) if name not in sys.modules}
    sys.modules.update(hidden)
    try:
        import nni.nas.execution  # noqa: F401  (what NNI's trial entry module imports)
    finally:
        for name, module in hidden.items():
            if name in sys.modules and sys.modules[name] is module:
                del sys.modules[name]


def use_trial_entry(exp, module: str, manager_url: str) -> None:
    """Start every trial as `python -m <module> --manager URL` (NNI then appends its own `-m ...
    trial`). NNI 3.0 has no public option for the trial command. `manager_url`: where the trial asks
    for its own parameters (take_own_parameters). Proved by test_e2e.py::test_search_dashboard_export_view
    (`imports_s`)."""
    exp.config._trial_command_params = {
        "python": f"{shlex.quote(sys.executable)} -m {module} --manager {shlex.quote(manager_url)}"}


def use_remote_trial_entry(exp, module: str, manager_url: str) -> None:
    """On NNI's remote service a trial starts as `python -m <module>`, `python` being what the
    worker's PATH finds first: NNI puts the machine's python_path folder (nas.engine.machines' wrapper)
    there, while the driver's own interpreter path (NNI's default) need not exist on a worker.
    Proved by test_remote.py."""
    exp.config._trial_command_params = {"python": f"python -m {module} --manager {shlex.quote(manager_url)}"}


def take_own_parameters(manager_url: str, wait_s: float = 60.0) -> None:
    """Make this trial train the parameters NNI recorded for it. NNI 3.0's training services queue
    parameters as trials are created and hand them to whichever trial asks first
    (nni_node/training_service/v3/compat.js), so a trial slower to start than the one created after
    it trains the other's model while the manager maps its end to its own: a killed trial then
    fails the wrong model, and the model it really trained is never heard of again. After NNI hands
    this trial a parameter, the trial reads its own from the manager's REST API
    (`/trial-jobs/<id>`) and trains that, reporting under its id. The partner does the same, so a
    swap is undone on both sides. Unreachable manager: NNI's hand-out stands, with a warning.
    Proved by test_remote.py::test_a_killed_trial_is_retried_once_and_the_search_ends_at_its_count."""
    import urllib.request

    import nni
    from nni.runtime.env_vars import trial_env_vars
    from nni.runtime.trial_command_channel import get_default_trial_command_channel

    trial_id = trial_env_vars.NNI_TRIAL_JOB_ID
    channel = get_default_trial_command_channel()
    handed = channel.receive_parameter
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the manager is reached directly

    def recorded():
        end = time.time() + wait_s
        while True:  # the manager records a trial's parameters just after it creates the trial
            try:
                with opener.open(f"{manager_url}/api/v1/nni/trial-jobs/{trial_id}", timeout=10) as r:
                    job = json.loads(r.read() or b"null")
                if job and job.get("hyperParameters"):
                    return nni.load(job["hyperParameters"][0])
            except (OSError, ValueError) as e:
                err = e
            else:
                err = "no parameters recorded yet"
            if time.time() > end:
                print(f"[nas] cannot read trial {trial_id}'s own parameters from {manager_url} ({err}); "
                      "training the ones NNI handed it", file=sys.stderr, flush=True)
                return None
            time.sleep(0.5)

    def receive_own():
        got = handed()
        if got is None or trial_id in (None, "", "STANDALONE"):
            return got
        own = recorded()
        if own is None or own.get("parameter_id") == got.get("parameter_id"):
            return got
        print(f"[nas] NNI handed trial {trial_id} parameter {got.get('parameter_id')}; training its own, "
              f"{own.get('parameter_id')}", file=sys.stderr, flush=True)
        return own

    channel.receive_parameter = receive_own


@contextlib.contextmanager
def uploading(code: Path | None):
    """Run the experiment from `code` (None: stay): NNI 3.0 refuses a NAS `trial_code_directory` other
    than the current folder and uploads all of it to remote workers, so a remote search runs from a
    folder that holds only the trial's code (nas.engine.machines.stage_code). Proved by test_remote.py."""
    if code is None:
        yield
        return
    here = os.getcwd()
    os.chdir(code)
    try:
        yield
    finally:
        os.chdir(here)


def trial_output_dir() -> Path | None:
    """The running trial's own folder (NNI sets NNI_OUTPUT_DIR), or None outside a trial."""
    folder = os.environ.get("NNI_OUTPUT_DIR")
    return Path(folder) if folder else None


def bind_dashboard(host: str) -> None:
    """NNI 3.0's REST server listens on every interface and has no option for a host: preload
    loopback.js into its node process (NODE_OPTIONS, inherited) to pass `host` to listen().
    Proved by test_e2e.py::test_search_dashboard_export_view (what listens)."""
    os.environ["NAS_BIND_HOST"] = host
    opts = os.environ.get("NODE_OPTIONS", "")
    if str(LOOPBACK_JS) not in opts:
        os.environ["NODE_OPTIONS"] = f"{opts} --require {LOOPBACK_JS}".strip()


MANAGER_WAIT_S = 30  # NNI 3.0 gives its node process 3 s to answer, too few for a cold disk


def start(exp, port: int, resume: bool, seconds: int = MANAGER_WAIT_S) -> None:
    """Start (or resume) `exp`'s NNI manager on `port` without waiting for its trials. NNI 3.0 asks
    a new manager's REST server three times, a second apart, then gives up: on a machine just
    started, node loading its modules from a cold disk missed that and `nas resume` died with a
    traceback. Ask for up to `seconds` instead; a manager that never answers is a one-line
    ExperimentError. Proved by test_e2e.py::test_slow_manager_start."""
    import logging

    import requests
    from nni.experiment import launcher

    check = launcher._check_rest_server
    if not getattr(check, "_nas_waits", False):
        def _check(port: int, retry: int = 3, url_prefix: str | None = None) -> None:
            for _ in range(max(retry, seconds) - 1):  # quietly: NNI logs a warning per retry
                with contextlib.suppress(requests.exceptions.RequestException):
                    return check(port, retry=1, url_prefix=url_prefix)
            check(port, retry=1, url_prefix=url_prefix)

        _check._nas_waits = True
        launcher._check_rest_server = _check
    # the failure becomes our one line below, not NNI's error log line before it
    quiet = lambda record: not str(record.msg).startswith("Create experiment failed")
    logging.getLogger("nni.experiment").addFilter(quiet)
    try:
        if resume:
            # what Experiment.resume does, less its _run_impl: that one catches a Ctrl-C or SIGTERM
            # while the strategy runs, stops the engine and returns as if all were well, and the
            # caller's wait then died on the stopped engine with a traceback
            exp.load_checkpoint()
            exp._action = "resume"
        exp.start(port=port)
    except requests.exceptions.RequestException:
        log = Path(exp.config.experiment_working_directory) / exp.id / "log" / "nnimanager.log"
        raise ExperimentError(f"NNI's manager for {exp.id} did not answer on port {port} within "
                              f"{seconds} s; its log: {log}") from None
    finally:
        logging.getLogger("nni.experiment").removeFilter(quiet)


# ---------------------------------------------------------------- resume


def skip_hpo_commands_on_resume() -> None:
    """On resume NNI 3.0's manager first sends the finished trials (ImportData,
    AddCustomizedTrialJob) to the Python side, whose NAS command channel knows neither: its listener
    thread dies and the search hangs. The NAS engine needs neither, so skip them (idempotent).
    Proved by test_e2e.py::test_stopped_search_resumes_to_new_trials."""
    import logging

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
            logging.getLogger("nas").info("skipping %s from the NNI manager (unused by NAS)", command_type)

    cls._receive = _receive
    cls._nas_skips_hpo_commands = True


def allow_full_torch_load() -> None:
    """NNI 3.0 reloads its strategy checkpoint with a bare torch.load(), which torch >= 2.6 refuses
    (weights_only). The file is the experiment's own; our own loads always pass weights_only.
    Proved by test_e2e.py::test_stopped_search_resumes_to_new_trials."""
    import warnings

    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                            category=UserWarning)


def register_stopped(folder: Path, exp_id: str, started_ms: int) -> bool:
    """NNI's `resume` and `view` look an id up in the per-user manifest (~/nni-experiments/.experiment)
    before reading its folder, so a search made elsewhere (a cloned results folder) "does not exist".
    List it as stopped, pointing at its folder; True if it was added.
    Proved by test_e2e.py::test_search_dashboard_export_view (a fresh HOME)."""
    from nni.tools.nnictl.config_utils import Experiments

    manifest = Experiments()
    if exp_id in manifest.get_all_experiments():
        return False
    if not (folder / exp_id / "checkpoint" / "config.json").exists():
        raise FileNotFoundError(f"{folder / exp_id} has no NNI checkpoint (checkpoint/config.json): "
                                "it cannot be resumed or viewed")
    manifest.add_experiment(exp_id, 0, started_ms, "local", exp_id, endTime=started_ms, status="STOPPED",
                            logDir=str(folder))
    return True


def managers(exp_id: str) -> list:
    """NNI manager processes (node main.js --experiment-id ID) of this experiment."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if any(c.endswith("main.js") for c in cmd) and "--experiment-id" in cmd:
            i = cmd.index("--experiment-id")
            if i + 1 < len(cmd) and cmd[i + 1] == exp_id:
                found.append(p)
    return found


def _db(folder: Path, exp_id: str) -> Path:
    return Path(folder).resolve() / exp_id / "db" / "nni.sqlite"


def mark_interrupted(folder: Path, exp_id: str, trial_ids: list[str], trials: int | None) -> int:
    """NNI 3.0 re-queues a trial that was running at a stop as ADD_RESUMED, a job the NAS engine never
    hears back from. Write USER_CANCELED for each (with the reason) and set the trial limit to
    `trials` plus every trial ever interrupted (None: no limit, a multi-fidelity search ends with
    its schedule), in one transaction; returns that count.
    Proved by test_e2e.py::test_search_killed_at_random_moments_resumes_to_its_trial_count."""
    con = sqlite3.connect(_db(folder, exp_id))
    try:
        with con:
            now = int(time.time() * 1000)
            for tid in trial_ids:
                con.execute("INSERT INTO TrialJobEvent (timestamp, trialJobId, event, data, logPath, sequenceId, "
                            "message, environmentId) SELECT ?, trialJobId, 'USER_CANCELED', NULL, logPath, sequenceId, "
                            "?, environmentId FROM TrialJobEvent WHERE trialJobId = ? ORDER BY timestamp LIMIT 1",
                            (now, INTERRUPTED_MESSAGE, tid))
            interrupted = con.execute("SELECT COUNT(DISTINCT trialJobId) FROM TrialJobEvent WHERE message = ?",
                                      (INTERRUPTED_MESSAGE,)).fetchone()[0]
            row = con.execute("SELECT params, id, execDuration, startTime, endTime, logDir, nextSequenceId, revision "
                              "FROM ExperimentProfile ORDER BY revision DESC LIMIT 1").fetchone()
            params = json.loads(row[0])
            if trials is not None and params.get("maxTrialNumber") != trials + interrupted:
                params["maxTrialNumber"] = trials + interrupted
                con.execute("INSERT INTO ExperimentProfile VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (json.dumps(params), *row[1:7], row[7] + 1))
    finally:
        con.close()
    return interrupted


def tolerant_chain(*middlewares, then=None, after=None):
    """NNI's `Chain`, able to load a checkpoint written with fewer middlewares (searches from before
    Replay joined the chain): the missing ones start fresh. Reads Chain's private `_middlewares`.
    `then`: called once the strategy has stopped (NNI's chain ends its run there; a multi-fidelity
    schedule goes on with promotions and its race, nas.engine.multifidelity); `after`: called however the run ends.
    Proved by test_nni_boundary.py and test_asha.py."""
    from nni.nas.strategy.middleware import Chain

    class TolerantChain(Chain):
        def load_state_dict(self, state_dict: dict) -> None:
            states = list(state_dict["middlewares"])
            states += [{}] * (len(self._middlewares) - len(states))
            super().load_state_dict({**state_dict, "middlewares": states})

        def run(self) -> None:
            try:
                super().run()
                if then is not None:
                    then()
            finally:
                if after is not None:
                    after()

    return TolerantChain(*middlewares)


def warm_evolution(seeds: list[dict], **kwargs):
    """NNI's RegularizedEvolution whose initial population begins with `seeds` (full samples of the
    space), then random ones. Overrides `random` and uses the private `_dedup_helper` and
    `_individual_counter` as NNI's own `random` does. How many seeds were given is part of the
    strategy's state, so a resumed search proposes no seed twice and loses none. Proved by
    test_nni_boundary.py::test_warm_evolution_seeds_first_and_resumes."""
    import logging

    from nni.mutable.exception import SampleValidationError  # DuplicationError is one
    from nni.nas.strategy import RegularizedEvolution

    log = logging.getLogger("nni.nas.strategy.evolution")

    class WarmEvolution(RegularizedEvolution):
        def __init__(self):
            super().__init__(**kwargs)
            self.seeds = [dict(s) for s in seeds]
            self.seeds_given = 0

        @property
        def labels(self) -> set:
            return set(self.model_space.simplify())

        def random(self):
            while self.seeds_given < len(self.seeds):
                # the labels this space samples (not those pinned by --fix, nor recipe labels it lacks)
                sample = {k: v for k, v in self.seeds[self.seeds_given].items() if k in self.labels}
                self.seeds_given += 1
                try:
                    if self._dedup_helper is not None:
                        self._dedup_helper.dedup(sample)
                    model = self.model_space.freeze(sample)
                except SampleValidationError:  # a duplicate, or not a point of this space: the next one
                    continue
                self._individual_counter += 1
                log.info("[Individual %4d] Seed: %s", self._individual_counter, sample)
                return model
            return super().random()

        def state_dict(self) -> dict:
            return {**super().state_dict(), "seeds_given": self.seeds_given}

        def load_state_dict(self, state_dict: dict) -> None:
            super().load_state_dict(state_dict)
            self.seeds_given = state_dict.get("seeds_given", 0)

    return WarmEvolution()


def wait_completion(exp) -> None:
    """Block until the experiment's last trial ends: NNI 3.0's `start` returns once the strategy has
    submitted its last trial, and only the private `_wait_completion` waits for the rest.
    Proved by test_e2e.py::test_search_dashboard_export_view (every trial reported)."""
    exp._wait_completion()


# ---------------------------------------------------------------- the database and logs


@dataclass
class Trial:
    """One trial as NNI recorded it."""
    id: str
    status: str
    sample: dict
    final: dict = field(default_factory=dict)          # the final result reported by the trial
    intermediates: list = field(default_factory=list)  # one dict per epoch
    message: str = ""
    log_dir: str = ""
    sample_from: str = "nni"  # nni (NNI's record) | trial (the trial's own sample.json) | repaired | unknown
    stderr_reason: str = ""   # a compacted search's last exception line

    @property
    def val_acc(self) -> float | None:
        return self.final.get("default")

    @property
    def reason(self) -> str:
        """Why a trial failed: NNI's message, else the exception line at the end of its stderr."""
        if self.message or self.stderr_reason or not self.log_dir:
            return self.message or self.stderr_reason
        try:
            lines = (Path(self.log_dir) / "trial.stderr").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        exception_lines = [l for l in lines if l.strip() and not l.startswith((" ", "Traceback"))]
        return exception_lines[-1][:300] if exception_lines else ""


class NoDatabase(FileNotFoundError):
    """The experiment has no NNI database (yet)."""


def _metric(raw: str) -> dict:
    value = json.loads(raw)
    value = json.loads(value) if isinstance(value, str) else value  # NNI stores it JSON-in-JSON
    return value if isinstance(value, dict) else {"default": value}


def read_trials(folder: str | os.PathLike, exp_id: str) -> list[Trial]:
    """Every trial NNI recorded for the experiment, in submission order, with the sample each trial
    really trained (see `check_samples`)."""
    db = _db(Path(folder), exp_id)
    if not db.exists():
        raise NoDatabase(f"no NNI database for experiment {exp_id!r} at {db}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        trials: dict[str, Trial] = {}
        for tid, event, data, message, log_dir in con.execute(
                "SELECT trialJobId, event, data, message, logPath FROM TrialJobEvent ORDER BY timestamp"):
            t = trials.setdefault(tid, Trial(tid, event, {}))
            t.status = event
            t.message = message or t.message
            t.log_dir = log_dir or t.log_dir
            if data and not t.sample:
                try:
                    t.sample = json.loads(data)["parameters"].get("sample", {})
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass
        for tid, kind, data in con.execute("SELECT trialJobId, type, data FROM MetricData ORDER BY timestamp"):
            if tid in trials:
                if kind == "FINAL":
                    trials[tid].final = _metric(data)
                else:
                    trials[tid].intermediates.append(_metric(data))
    finally:
        con.close()
    compact_path = db.parent.parent / COMPACT_FILE
    compacted = json.loads(compact_path.read_text()) if compact_path.exists() else {}
    out = list(trials.values())
    for t in out:
        own = _own_sample(db.parent.parent, t)
        if own is not None:
            try:
                t.sample, t.sample_from = json.loads(own.read_text()), "trial"
            except (OSError, ValueError):
                pass
        elif t.id in compacted:
            kept = compacted[t.id]
            if kept.get("sample") is not None:
                t.sample, t.sample_from = kept["sample"], "trial"
            t.stderr_reason = kept.get("reason", "")
    check_samples(out)
    return out


def _own_sample(exp_folder: Path, t: Trial) -> Path | None:
    """The trial's sample.json: where NNI logged the trial, else in this experiment's own trial
    folder (a search copied from another machine), else None."""
    for own in ([Path(t.log_dir) / SAMPLE_FILE] if t.log_dir else []) + [
            exp_folder / "environments" / "local-env" / "trials" / t.id / SAMPLE_FILE]:
        if own.exists():
            return own
    return None


def compact(folder: Path, exp_id: str) -> Path:
    """Keep what a finished search's trial folders hold that the database lacks (each trial's own
    sample, a failed trial's exception line) in one file, `<id>/trials.json`, so the trial folders
    (logs, hundreds of files) need not be kept. `read_trials` reads it where the folders are gone."""
    from nas.atomic import write_text

    path = Path(folder).resolve() / exp_id / COMPACT_FILE
    kept = json.loads(path.read_text()) if path.exists() else {}
    for t in read_trials(folder, exp_id):  # a trial's own sample is what read_trials just loaded
        entry = {"sample": t.sample if t.sample_from == "trial" else None,
                 "reason": t.reason if t.status == "FAILED" else ""}
        if entry["sample"] is not None or entry["reason"]:
            kept[t.id] = entry
    write_text(path, json.dumps(kept, indent=1, sort_keys=True) + "\n")
    return path


def _param_count(sample: dict, final: dict) -> int | None:
    """The parameters of the sample's network, built for the input the trial reported (MNIST's when
    it reported none)."""
    from search_spaces import choices
    from search_spaces.blocks import build_network

    try:
        net = build_network(choices.canonical(sample), tuple(final.get("input", (1, 28, 28))), final.get("classes", 10))
        return sum(p.numel() for p in net.parameters())
    except (KeyError, ValueError):
        return None


def check_samples(trials: list[Trial]) -> None:
    """NNI 3.0's local training service caches a trial's parameters when it creates the trial and
    gives them to whichever trial asks first: two trials created in the same millisecond can train
    each other's sample while the database records the other (trials now read their own:
    take_own_parameters; searches from before remain). A trial's own sample.json wins; for
    older trials the reported parameter count is compared with the recorded sample's, a swapped pair
    is undone, and an unexplained mismatch is marked unknown. Proved by test_export.py."""
    suspects = [t for t in trials if t.sample_from == "nni" and t.sample and "params" in t.final]
    counts = {t.id: _param_count(t.sample, t.final) for t in suspects}
    wrong = [t for t in suspects if counts[t.id] != t.final["params"]]
    recorded = {t.id: dict(t.sample) for t in wrong}
    for t in wrong:
        partners = [o for o in wrong if o is not t and counts[o.id] == t.final["params"]]
        if len(partners) == 1:
            t.sample, t.sample_from = recorded[partners[0].id], "repaired"
        else:
            t.sample, t.sample_from = {}, "unknown"


def trial_events(folder: Path, exp_id: str) -> list[tuple[str, str, int]]:
    """(trial id, event, ms timestamp) of every trial event, in time order; [] without a database."""
    db = _db(folder, exp_id)
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT trialJobId, event, timestamp FROM TrialJobEvent ORDER BY timestamp").fetchall()
    finally:
        con.close()


def scores_heard(folder: Path, exp_id: str) -> list[float]:
    """The scores NNI's evolution strategy logged as heard ("[Metric] X Sample" in experiment.log);
    TPE and random log none. Proved by test_e2e.py::test_evolution_search_runs_to_the_end (the log's format)."""
    log = Path(folder) / exp_id / "log" / "experiment.log"
    return [float(m) for m in re.findall(r"\[Metric\] ([0-9.]+) Sample", log.read_text())] if log.exists() else []
