"""NNI 3.0 as every process of this tool imports it: the version this boundary was written for, a
lighter import, a quiet banner and log, and a strategy checkpoint torch >= 2.6 loads.

- `_check_version` (run on import): an installed NNI of another version stops the import with one line.
- `require_nni`: a command that starts NNI says in one line that NNI is missing.
- `lighten_nni_import`: NNI imports pytorch_lightning unless its framework is "none".
- `import_nni_lightly`: NNI imports scipy.stats and pandas for features this tool never uses.
- `without_lightning`: NNI imports pytorch_lightning for its one-shot strategies.
- `silence_banner`: NNI prints a banner listing every address of the machine.
- `quiet_gate_rejections`: evolution warns once per candidate the budget gate rejects.
- `allow_full_torch_load`: NNI reloads its strategy checkpoint with a bare torch.load().
- `quiet_known_warnings`: NNI 3.0 and fvcore warn about torch 2.14 at every import.

None needs NNI to import: what uses NNI imports it inside the function.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import sys
import types
import warnings

NNI_VERSION = "3.0"

# Known-harmless noise on torch 2.14: NNI 3.0 warns about every torch class it does not know
# (torch.nn.Buffer...), and fvcore's import calls the deprecated torch.jit.script.
KNOWN_WARNINGS = (
    (".*is found to be not a nn.Module.*", RuntimeWarning),
    (".*torch.jit.script.*is deprecated.*", FutureWarning),
)


def quiet_known_warnings() -> None:
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


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


def lighten_nni_import() -> None:
    """NNI imports pytorch_lightning on every `import nni.nas...` unless its framework is "none"
    (about 6 s of CPU per trial). Set before NNI is imported; its manager and trials inherit it.
    Proved by test_e2e.py::test_search_dashboard_export_view (the trials' `imports_s`)."""
    os.environ.setdefault("NNI_FRAMEWORK", "none")


def silence_banner(silent: bool = True) -> None:
    """NNI prints a banner listing every address of the machine, not just the one the dashboard
    binds, and its own log lines; its log file keeps them. `silent=False` brings them back to stdout
    (a caller that asked for them after an earlier silent call). A no-op without NNI."""
    try:
        import nni.runtime.log
    except ImportError:
        return
    if silent:
        nni.runtime.log.silence_stdout()
    else:
        nni.runtime.log.start_stdout_logging()


def _not_a_gate_rejection(record) -> bool:
    return not (isinstance(record.msg, str) and record.msg.endswith("has no metric. Skip."))


def quiet_gate_rejections() -> None:
    """Evolution warns "... has no metric. Skip." for every candidate the budget gate rejects (they
    get no metric on purpose): hundreds of lines on a narrow budget. Idempotent (one filter object)."""
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


@contextlib.contextmanager
def without_lightning():
    """pytorch_lightning hidden (an import of it raises ImportError) unless it is already imported.
    NNI imports it for its one-shot strategies, which this tool never uses: in `nni.nas.strategy`,
    again when a NasExperiment infers its config (is the strategy one-shot?), and for the versions
    each trial's parameters carry; all three catch the ImportError. About 2.5 s of every search's start. Needs NNI_FRAMEWORK=none (lighten_nni_import).
    Proved by every search test."""
    if "pytorch_lightning" in sys.modules:
        yield
        return
    sys.modules["pytorch_lightning"] = None
    config_log = logging.getLogger("nni.nas.experiment.config.experiment")  # "Import of one-shot strategy failed"
    level = config_log.level
    config_log.setLevel(logging.ERROR)
    try:
        import nni.common.version  # noqa: F401  (each trial's parameters carry its versions: lightning's None)
        yield
    finally:
        config_log.setLevel(level)
        if "pytorch_lightning" in sys.modules and sys.modules["pytorch_lightning"] is None:
            del sys.modules["pytorch_lightning"]


def allow_full_torch_load() -> None:
    """NNI 3.0 reloads its strategy checkpoint with a bare torch.load(), which torch >= 2.6 refuses
    (weights_only). The file is the experiment's own; our own loads always pass weights_only.
    Proved by test_e2e.py::test_stopped_search_resumes_to_new_trials."""
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                            category=UserWarning)
