"""Set up a process that runs this tool: the command line, a trial, a test session. `import nas`
itself changes nothing; the entry points call `prepare_process` first."""
from __future__ import annotations

import warnings

# Known-harmless noise on torch 2.14: NNI 3.0 warns about every torch class it does not know
# (torch.nn.Buffer...), and fvcore's import calls the deprecated torch.jit.script.
KNOWN_WARNINGS = (
    (".*is found to be not a nn.Module.*", RuntimeWarning),
    (".*torch.jit.script.*is deprecated.*", FutureWarning),
)


def quiet_known_warnings() -> None:
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def prepare_process(quiet: bool = True) -> None:
    """NNI's lighter import (before NNI is imported), the module paths of earlier searches' records
    answered, the known warnings filtered, and unless `quiet` is False NNI's banner silenced."""
    from nas import nni_boundary
    from nas.nni_boundary import legacy_paths

    nni_boundary.lighten_nni_import()
    legacy_paths.install()
    import torch  # noqa: F401  (first: importing torch resets warning filters set before it)

    quiet_known_warnings()
    if quiet:
        nni_boundary.silence_banner()
