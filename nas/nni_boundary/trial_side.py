"""A trial's side of NNI: the command NNI starts it with, the parameters it trains, the folder the
experiment runs from, and the trial's own folder.

- `use_trial_entry`, `use_remote_trial_entry`: NNI 3.0 has no public option for the trial command,
  so trials start through nas.nni_boundary.trial_entry (NNI's private `_trial_command_params`).
- `take_own_parameters`: NNI hands a trial whichever parameters were queued first, not its own.
- `uploading`: NNI refuses a NAS `trial_code_directory` other than the current folder.
- `trial_output_dir`: the running trial's own folder (NNI_OUTPUT_DIR), where a trial that keeps its
  weights writes them (`TRIAL_WEIGHTS`); NNI brings back only a remote trial's logs, so the driver
  fetches them (nas.engine.weights).

NNI is imported inside the functions: the boundary is imported on the command line's light path.
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from pathlib import Path


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
    import urllib.request  # here: a trial alone needs it, and the command line must start fast

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


TRIAL_WEIGHTS = "model.pt"  # a trial's kept weights in its own folder: the state_dict of build_network(arch)


def trial_output_dir() -> Path | None:
    """The running trial's own folder (NNI sets NNI_OUTPUT_DIR), or None outside a trial."""
    folder = os.environ.get("NNI_OUTPUT_DIR")
    return Path(folder) if folder else None
