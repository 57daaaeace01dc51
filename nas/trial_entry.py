"""The process NNI starts for every trial: NNI's own trial entry, minus two imports no trial uses.

NNI runs each trial as `python -m nni.nas.execution.training_service trial`. `nas search` makes that
`python -m nas.trial_entry -m nni.nas.execution.training_service trial` (the `python` part of NNI's
trial command, `nas.experiment.build`), so this module runs first and then NNI's entry, unchanged.

Why: on import, NNI's `nni.mutable` pulls in scipy.stats (for continuous distributions; this tool's
space is categorical) and its serializer's json_tricks pulls in pandas (for DataFrames). Together
they were about 1 s of every trial's start on 2 cores, more than everything else but torch
(`bench/trial_overhead.py`). While NNI imports, pandas looks absent (json_tricks has a no-pandas
path) and the four scipy.stats names `nni.mutable` binds are stand-ins that import scipy.stats on
first use, so a continuous distribution still works, just later. After that both import normally
for whoever asks. Nothing else changes: the same module runs with the same arguments.

    python -m nas.trial_entry -m MODULE [ARGS...]      # what NNI's trial command becomes
"""
from __future__ import annotations

import os
import runpy
import sys
import time
import types

IMPORTED_AT = "NAS_TRIAL_IMPORTED_AT"
STATS_NAMES = ("norm", "lognorm", "uniform", "loguniform")  # what nni.mutable.mutable imports


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
    """Import NNI with pandas hidden and scipy.stats stood in for; afterwards both import for real
    if anything asks (sys.modules holds neither)."""
    if "nni" in sys.modules:
        return
    stub = types.ModuleType("scipy.stats")
    for name in STATS_NAMES:
        setattr(stub, name, _LazyStat(name))
    # None in sys.modules: `import pandas` raises ImportError, as if it were not installed;
    # a module some earlier import already loaded is left as it is
    hidden = {name: module for name, module in (("pandas", None), ("scipy.stats", stub)) if name not in sys.modules}
    sys.modules.update(hidden)
    try:
        import nni.nas.execution  # noqa: F401  (what NNI's trial entry module imports)
    finally:
        for name, module in hidden.items():
            if name in sys.modules and sys.modules[name] is module:
                del sys.modules[name]


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "-m":
        sys.exit("usage: python -m nas.trial_entry -m MODULE [ARGS...]")
    import_nni_lightly()
    # when the imports were done, for the trial-overhead marks the evaluator reports (nas/evaluate.py)
    os.environ[IMPORTED_AT] = repr(time.time())
    sys.argv = [argv[1], *argv[2:]]  # run_module sets sys.argv[0] to the module's file
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
