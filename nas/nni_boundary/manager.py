"""NNI's manager, the node process that runs an experiment: how this tool starts, resumes, finds
and waits for it, and how `resume` and `view` find a search made elsewhere.

- `bind_dashboard`: NNI 3.0's REST server listens on every interface (loopback.js passes our host).
- `watch_workers`: NNI 3.0's remote scheduler ignores load and waits for ever on a hung machine (workers.js).
- `start`: NNI gives a new manager 3 s to answer, and its own resume swallows a Ctrl-C.
- `skip_hpo_commands_on_resume`: on resume the manager sends commands the NAS channel does not know.
- `register_stopped`: `resume` and `view` look an id up in NNI's per-user manifest.
- `managers`: the manager processes of an experiment.
- `wait_completion`: NNI's `start` returns before the last trials end.

NNI (and requests, psutil) are imported inside the functions: the boundary is imported on the
command line's light path.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from nas.errors import ExperimentError

LOOPBACK_JS = Path(__file__).with_name("loopback.js")
WORKERS_JS = Path(__file__).with_name("workers.js")


def _preload(script: Path) -> None:
    opts = os.environ.get("NODE_OPTIONS", "")
    if str(script) not in opts:
        os.environ["NODE_OPTIONS"] = f"{opts} --require {script}".strip()


def watch_workers(drop_file: Path) -> None:
    """NNI 3.0's remote service hands trials to workers in turn, busy or not, and waits for ever on a
    machine that hangs: preload workers.js into its node process, which gives a worker a trial only
    when it runs none and stops the workers of every machine listed in `drop_file` ("host:port" a
    line; emptied here). Proved by test_remote.py (concurrency per machine, a frozen machine)."""
    drop_file.parent.mkdir(parents=True, exist_ok=True)
    drop_file.write_text("")
    os.environ["NAS_DROP_FILE"] = str(drop_file)
    _preload(WORKERS_JS)


def bind_dashboard(host: str) -> None:
    """NNI 3.0's REST server listens on every interface and has no option for a host: preload
    loopback.js into its node process (NODE_OPTIONS, inherited) to pass `host` to listen().
    Proved by test_e2e.py::test_search_dashboard_export_view (what listens)."""
    os.environ["NAS_BIND_HOST"] = host
    _preload(LOOPBACK_JS)


MANAGER_WAIT_S = 30  # NNI 3.0 gives its node process 3 s to answer, too few for a cold disk


def start(exp, port: int, resume: bool, seconds: int = MANAGER_WAIT_S) -> None:
    """Start (or resume) `exp`'s NNI manager on `port` without waiting for its trials. NNI 3.0 asks
    a new manager's REST server three times, a second apart, then gives up: on a machine just
    started, node loading its modules from a cold disk missed that and `nas resume` died with a
    traceback. Ask for up to `seconds` instead; a manager that never answers is a one-line
    ExperimentError. Proved by test_e2e.py::test_slow_manager_start."""
    import requests
    from nni.experiment import launcher

    check = launcher._check_rest_server
    _starting["id"] = exp.id
    if not getattr(check, "_nas_waits", False):
        def _check(port: int, retry: int = 3, url_prefix: str | None = None) -> None:
            for _ in range(max(retry, seconds) - 1):  # quietly: NNI logs a warning per retry
                with contextlib.suppress(requests.exceptions.RequestException):
                    return check(port, retry=1, url_prefix=url_prefix)
                if not managers(_starting["id"]):  # its node process has exited: it will never answer
                    _starting["exited"] = True
                    break
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
        how = "exited before it answered" if _starting.pop("exited", False) else f"within {seconds} s"
        raise ExperimentError(f"NNI's manager for {exp.id} did not answer on port {port}: {how}; its log: {log}") from None
    finally:
        logging.getLogger("nni.experiment").removeFilter(quiet)


_starting: dict = {}  # the experiment whose manager start() waits for (NNI's check knows only the port)


def skip_hpo_commands_on_resume() -> None:
    """On resume NNI 3.0's manager first sends the finished trials (ImportData,
    AddCustomizedTrialJob) to the Python side, whose NAS command channel knows neither: its listener
    thread dies and the search hangs. The NAS engine needs neither, so skip them (idempotent).
    Proved by test_e2e.py::test_stopped_search_resumes_to_new_trials."""
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


def wait_completion(exp, outstanding=None, idle_s: float = 10.0) -> None:
    """Block until the experiment's last trial ends: NNI 3.0's `start` returns once the strategy has
    submitted its last trial, and only the private `_wait_completion` waits for the rest.

    NNI's wait ends only after 7 s without a running trial (a new submission can take 5 s to show in
    its statistics). Given `outstanding` (a callable: how many submitted models have not ended, counted
    on the exact instances submitted; nas.engine.retry.RetryOnce), wait on that instead, polling every
    0.2 s; as a guard against a lost event, also stop once NNI's statistics have shown no running
    trial for `idle_s`, or NNI calls the experiment over. Reads the engine's private `nodejs_binding`.
    Proved by test_e2e.py (every trial reported, resumes) and test_remote.py (retries)."""
    import time

    from nni.nas.space import ModelStatus

    engine = exp._engine
    if outstanding is None or engine is None:
        exp._wait_completion()
        return
    idle_since = None
    while outstanding():
        binding = engine.nodejs_binding
        if binding.get_status() in ("DONE", "STOPPED", "ERROR"):
            return
        running = any(engine._interpret_trial_job_status(s["trialJobStatus"]) == ModelStatus.Training
                      for s in binding.get_job_statistics())
        now = time.monotonic()
        idle_since = None if running else (idle_since or now)
        if idle_since is not None and now - idle_since > idle_s:
            logging.getLogger("nas").warning("%d submitted trials never reported an end; NNI runs none", outstanding())
            return
        time.sleep(0.2)
