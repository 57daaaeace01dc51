"""NAS for compact CNNs: NNI search under an fvcore budget (see README.md).

The package's rooms, each a sub-package or module with one job; a room imports only rooms above it
in this list (tests/test_package.py checks it):

    facts.py       every fact stated once: protocol, late window, budgets, race, controls, results root
    errors.py, atomic.py   one-line errors; atomic writes
    schedule/      rungs, promotions, the race and its statistics, the budget plan (no NNI)
    config.py      TrainConfig and SearchConfig, the two recipes with units
    data/          inputs: datasets found, verified, decoded, cached, split; batch augmentation
    nni_boundary/  every NNI internal this tool touches: patches, manager, trial side, database
    process.py     what every entry point does first
    results/       the results root read back, and every rule that decides (decide.py)
    budget.py      fvcore's counts and the budget gate
    deploy/        exports, ONNX files, predicting with a trained network
    training/      the training loop, EMA, dropout masks, run folders, worker processes (no NNI)
    studies/       proxy, recipe, re-rank and seed-noise studies
    reporting/     the results report and its figures
    engine/        a search: launch, the NNI experiment, middlewares, one trial, machines, recovery
    api.py, cli/   the Python functions and the command line over all of it

`from nas import search, train, predict, ...` gives the functions of `nas.api` (imported on first
use). Importing the package changes nothing in the process; entry points call
`nas.process.prepare_process`.
"""

_API = ("search", "resume", "export", "train", "baselines", "report", "predict")


def __getattr__(name: str):
    # no sub-package is named like an API function, so these names are never rebound by an import
    if name in _API:
        from nas import api

        return getattr(api, name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
