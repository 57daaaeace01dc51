"""Module paths that NNI's records of earlier searches name, mapped to where the code lives now.

NNI stores a trial's evaluator by module path (`path:nas.evaluate.evaluate_model` in every trial's
parameters in `db/nni.sqlite`) and a search's trial command (`python -m nas.trial_entry ...` in
`checkpoint/config.json`). Searches recorded before the package had sub-packages name the old flat
modules; `install()` lets an import of an old name return the module that holds the code now, so
those searches still resume, view and export. New records name the new paths.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

OLD_TO_NEW = {
    "nas.evaluate": "nas.engine.trial",
    "nas.trial_entry": "nas.nni_boundary.trial_entry",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in OLD_TO_NEW:
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        return importlib.import_module(OLD_TO_NEW[spec.name])

    def exec_module(self, module):
        pass  # the module was executed under its new name


def install() -> None:
    """Answer imports of the old module names (idempotent)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
