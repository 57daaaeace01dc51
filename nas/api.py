"""The tool as Python functions: what the `nas` commands do, with the same options as keyword
arguments, returning plain result objects instead of printing tables. The command line
(nas/cli/) parses its arguments, calls these, and prints what they return.

    from nas.api import search, train, predict      # or: from nas import ...
    found = search(dataset="fashion-mnist", max_params=20000, cpu_hours=1.0, results="my-results")
    run = train(found.exported[0]["path"] + "/arch.json", seeds=[0, 1], results="my-results")
    print(run.mean_test_acc, predict(run.onnx, ["shoe.png"]).predictions[0].name)

Options: a search takes `SearchConfig`'s keys (nas/config.py: max_params, max_macs, max_flash and
max_ram, the last two in bytes or as sizes such as "4.5KB", strategy, schedule, cpu_hours, trials,
epochs, ...), a training `TrainConfig`'s through `recipe` (the CLI's --set), and both take
`dataset` and `data_dir`. An unknown option is a ConfigError naming every valid one.
Progress lines go to `log` (print by default; `log=lambda line: None` for silence); NNI's own log
lines stay off the caller's output unless `verbose=True`, as on the command line (`nas -v`).
The results root is `results`, else $NAS_RESULTS, else ./nas-results (nas/facts.py).

Importing this module loads neither torch nor NNI: each function first prepares the process as
the command line does (nas/process.py: known warnings filtered, NNI quiet), then imports its work.
"""
from __future__ import annotations

import functools
import inspect
import json
import statistics
from dataclasses import dataclass, field, fields
from pathlib import Path

from nas.config import SearchConfig, TrainConfig, flat_recipe, make
from nas.errors import ConfigError
from nas.facts import results_root

__all__ = ["search", "resume", "export", "train", "baselines", "report", "predict", "SearchResult", "TrainResult",
           "PredictResult"]

print_flush = functools.partial(print, flush=True)


def __getattr__(name: str):
    # the result types live beside the work that makes them: imported with it, on first use
    if name == "SearchResult":
        from nas.engine.launch import SearchResult
        return SearchResult
    if name == "PredictResult":
        from nas.deploy.predict import PredictResult
        return PredictResult
    raise AttributeError(f"module 'nas.api' has no attribute {name!r}")


def _prepare(verbose: bool = False) -> None:
    from nas.process import prepare_process

    prepare_process(quiet=not verbose)


def _root(results: str | Path | None) -> str | Path:
    return results_root() if results is None else results


@dataclass
class TrainResult:
    """One architecture trained with one or more seeds (`train`)."""
    name: str
    out: Path                      # the run folder (config.json, seed<S>/...)
    params: int
    flops: int
    seeds: dict = field(default_factory=dict)  # seed -> final / last-3 / best test and final validation accuracy
    onnx: Path | None = None       # the first seed's model.onnx, checked against PyTorch
    weights: Path | None = None    # the first seed's model.pt (state_dict)

    @property
    def mean_test_acc(self) -> float:
        """Mean final test accuracy over the seeds (a look at the test set: choose on validation)."""
        return statistics.fmean(s["final_test_acc"] for s in self.seeds.values())


def _as_dict(recipe: TrainConfig | dict | None) -> dict:
    return dict(vars(recipe)) if isinstance(recipe, TrainConfig) else dict(recipe or {})


def search(*, results: str | Path | None = None, id: str | None = None, dataset: str | None = None,
           data_dir: str | None = None, export_dir: str | Path | None = None, recipe: TrainConfig | dict | None = None,
           keep_open: bool = False, log=print_flush, verbose: bool = False, **options):
    """Launch a search (an NNI experiment, dashboard included) into `<results>/searches/<id>` and
    export its best into `<results>/exports/<id>`; a nas.engine.launch.SearchResult. `options`:
    SearchConfig keys; `recipe`: how candidates train (TrainConfig keys; a flat search starts from
    nas.config.FLAT_RECIPE, BatchNorm pinned by fix="auto")."""
    own = [n for n, p in inspect.signature(search).parameters.items() if p.kind is p.KEYWORD_ONLY]
    known = {f.name for f in fields(SearchConfig)} - {"workdir"}  # the results root sets the workdir
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown search option {unknown[0]!r}; valid: {', '.join(sorted(known | set(own)))}")
    cfg = make(SearchConfig, **options)
    # a flat search's trials: the short proxy's recipe changes (FLAT_RECIPE) under `recipe`'s keys
    base = {**flat_recipe(cfg.schedule, cfg.search_recipe), **_as_dict(recipe)}
    train_cfg = make(TrainConfig, base, dataset=dataset, epochs=options.get("epochs"))
    _prepare(verbose)
    from nas.engine.launch import search as run_search

    return run_search(cfg, train_cfg, _root(results), id, data_dir, export_dir, keep_open, log=log)


def resume(id: str, *, results: str | Path | None = None, trials: int | None = None, port: int | None = None,
           host: str | None = None, keep_open: bool = False, log=print_flush, verbose: bool = False):
    """Continue a stopped or killed search (to a new total of `trials` if given)."""
    _prepare(verbose)
    from nas.engine.launch import resume as run_resume

    return run_resume(id, _root(results), trials, port, host, keep_open, log=log)


def export(id: str, *, results: str | Path | None = None, top_k: int = 3, out: str | Path | None = None,
           force: bool = False) -> list[dict]:
    """Write the top-k architectures of a search (arch.json, model.py, model.pt, model.onnx, table.txt) into
    `out` (default `<results>/exports/<id>`); their entries, best first, each with its `path`."""
    _prepare()
    from nas.deploy.export import export as run_export
    from nas.results.store import Layout, load_record

    layout = Layout.at(_root(results))
    load_record(layout.searches, id)  # a clear error for an unknown id
    return run_export(str(layout.searches.resolve()), id, Path(out or layout.exports / id), top_k, force)


def _export_data_dir(arch: str, dataset: str | None) -> str | None:
    """The data folder an exported arch.json's search read, for a dataset other than MNIST (whose
    folder is looked up the usual way), if it is still there."""
    path = Path(arch)
    if path.suffix != ".json" or not path.is_file() or dataset in (None, "mnist"):
        return None
    recorded = json.loads(path.read_text()).get("data_dir")
    return recorded if recorded and Path(recorded).is_dir() else None


def train(arch: str, *, seeds: list[int] = (0,), epochs: int | None = None, dataset: str | None = None,
          data_dir: str | None = None, out: str | Path | None = None, results: str | Path | None = None,
          recipe: TrainConfig | dict | None = None, arch_recipe: bool = True, jobs: int = 1, force: bool = False,
          resume: bool = False, evaluate_test: bool = True, log=print) -> TrainResult:
    """Train `arch` (a baseline name or an exported arch.json) once per seed into a run folder
    (default `<results>/runs/<name>`). `recipe`: TrainConfig keys, over (`arch_recipe`) a baseline's
    own recipe from the seed write-up, or an export's dataset. `evaluate_test` False reads no test
    image (a selection's run, a teacher)."""
    _prepare()
    from nas.results.store import Layout
    from nas.training.runs import load_arch, run

    name, parsed, known = load_arch(arch)
    data_dir = data_dir or _export_data_dir(arch, dataset or known.get("dataset"))
    cfg = make(TrainConfig, {**(known if arch_recipe else {}), **_as_dict(recipe)}, epochs=epochs, dataset=dataset)
    folder = Path(out or Layout.at(_root(results)).runs / name)
    summary = run(parsed, cfg, list(seeds), folder, data_dir, force=force, resume=resume, name=name, log=log,
                  jobs=jobs, source=arch, evaluate_test=evaluate_test)
    first = folder / f"seed{list(seeds)[0]}"
    return TrainResult(name, folder, summary["params"], summary["flops"], summary["seeds"], first / "model.onnx",
                       first / "model.pt")


def baselines(names: list[str] = ("exp1", "exp2", "exp3", "exp4"), *, own_recipe: bool = False,
              out: str | Path | None = None, results: str | Path | None = None, **kw) -> list[TrainResult]:
    """Train the hand-made models (search_spaces/baselines.py), each into `<out>/<name>`; `kw` as for
    `train`. `own_recipe`: each with its recipe from the seed write-up instead of `recipe`."""
    _prepare()
    from nas.results.store import Layout
    from search_spaces.baselines import BASELINES

    for n in names:  # every name checked before any training
        if n not in BASELINES:
            raise ConfigError(f"unknown baseline {n!r}; choose from {', '.join(BASELINES)}")
    parent = Path(out or Layout.at(_root(results)).baselines)
    return [train(n, out=parent / n, results=results, arch_recipe=own_recipe, **kw) for n in names]


def report(*, results: str | Path | None = None, data_dir: str | None = None, pictures: bool = True) -> Path:
    """Regenerate `<results>/README.md` (and its pictures) from the run files; its path."""
    _prepare()
    from nas.reporting.report import write_report

    return write_report(_root(results), data_dir, pictures=pictures)


def predict(model, images: list, *, weights=None, invert: bool | None = None, allow_untrained: bool = False):
    """Classify PNG/JPEG files or IDX image files with a model.onnx, a run folder, or an exported
    model.py with `weights`; a nas.deploy.predict.PredictResult: `.predictions` (class, name,
    probability, inverted per image) and `.errors`. `invert` None: an image whose background is
    unlike the training data's is inverted; an untrained model is refused unless `allow_untrained`."""
    _prepare()
    from nas.deploy.predict import predict as run_predict

    return run_predict(model, images, weights, invert, allow_untrained=allow_untrained)
