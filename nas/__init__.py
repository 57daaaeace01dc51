"""NAS for compact CNNs: NNI search under an fvcore budget (see README.md).

The package's rooms, each a sub-package with one job (data flows down this list, never up):

    facts.py       every fact stated once: protocol, late window, budgets, race, controls, results root
    config.py      TrainConfig and SearchConfig, the two recipes with units
    data/          inputs: datasets found, verified, decoded, cached, split; batch augmentation
    training/      the training loop, EMA, dropout masks, run folders, worker processes (no NNI)
    schedule/      rungs, promotions, the race and its statistics, the budget plan (no NNI)
    nni_boundary/  every NNI internal this tool touches: patches, manager, trial side, database
    engine/        a search: launch, the NNI experiment, middlewares, one trial, machines, recovery
    results/       the results root read back, and every rule that decides (decide.py)
    deploy/        exports, ONNX files, predicting with a trained network
    reporting/     the results report and its figures
    studies/       proxy, recipe, re-rank and seed-noise studies
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
