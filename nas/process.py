"""Set up a process that runs this tool: the command line, a trial, a test session. `import nas`
itself changes nothing; the entry points call `prepare_process` first."""
from __future__ import annotations

from nas import nni_boundary
from nas.nni_boundary import legacy_paths
from nas.nni_boundary.patches import quiet_known_warnings


def prepare_process(quiet: bool = True) -> None:
    """NNI's lighter import (before NNI is imported), the module paths of earlier searches' records
    answered, the known warnings filtered, and NNI's banner and log lines off stdout unless `quiet`
    is False. Safe to call again (the Python API calls it on every function)."""
    nni_boundary.lighten_nni_import()
    legacy_paths.install()
    import torch  # noqa: F401  (first: importing torch resets warning filters set before it)

    quiet_known_warnings()
    nni_boundary.silence_banner(quiet)
