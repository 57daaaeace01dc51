"""The process NNI starts for every trial: NNI's own trial entry, minus two imports no trial uses.

NNI runs each trial as `python -m nni.nas.execution.training_service trial`. `nas search` makes that
`python -m nas.nni_boundary.trial_entry -m nni.nas.execution.training_service trial` (nni_boundary.use_trial_entry),
so this module runs first and then NNI's entry, unchanged. With `--manager URL` (what `nas search`
passes) the trial trains the parameters NNI recorded for it (nni_boundary.take_own_parameters).

Why: on import, NNI's `nni.mutable` pulls in scipy.stats (for continuous distributions; this tool's
space is categorical) and its serializer's json_tricks pulls in pandas (for DataFrames). Together
they were about 1 s of every trial's start on 2 cores, more than everything else but torch
(`bench/trial_overhead.py`). While NNI imports, pandas looks absent (json_tricks has a no-pandas
path) and the four scipy.stats names `nni.mutable` binds are stand-ins that import scipy.stats on
first use, so a continuous distribution still works, just later. After that both import normally
for whoever asks. Nothing else changes: the same module runs with the same arguments.

    python -m nas.nni_boundary.trial_entry [--manager URL] -m MODULE [ARGS...]   # what NNI's trial command becomes
"""
from __future__ import annotations

import os
import runpy
import sys
import time

from nas import nni_boundary
from nas.nni_boundary.patches import quiet_known_warnings

IMPORTED_AT = "NAS_TRIAL_IMPORTED_AT"


def main(argv: list[str]) -> None:
    manager = None
    if argv[:1] == ["--manager"] and len(argv) > 1:
        manager, argv = argv[1], argv[2:]
    if len(argv) < 2 or argv[0] != "-m":
        sys.exit("usage: python -m nas.nni_boundary.trial_entry [--manager URL] -m MODULE [ARGS...]")
    nni_boundary.lighten_nni_import()
    nni_boundary.import_nni_lightly()
    quiet_known_warnings()
    if manager:  # train the parameters NNI recorded for this trial, not whichever it handed out first
        nni_boundary.take_own_parameters(manager)
    # when the imports were done, for the trial-overhead marks the evaluator reports (nas/engine/trial.py)
    os.environ[IMPORTED_AT] = repr(time.time())
    sys.argv = [argv[1], *argv[2:]]  # run_module sets sys.argv[0] to the module's file
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
