"""The tool as Python functions: what the `nas` commands do, with the same options as keyword
arguments, returning plain result objects instead of printing tables. The command line
(nas/cli/) parses its arguments, calls these, and prints what they return.

    from nas.api import search, train, predict
    found = search(dataset="fashion-mnist", max_params=20000, cpu_hours=1.0, results="my-results")
    run = train(found.exported[0]["path"] + "/arch.json", seeds=[0, 1], results="my-results")
    print(run.mean_test_acc, predict(run.onnx, ["shoe.png"]).predictions[0].name)

Options: a search takes `SearchConfig`'s keys (nas/config.py: max_params, strategy, schedule,
cpu_hours, trials, epochs, ...), a training `TrainConfig`'s through `recipe` (the CLI's --set),
and both take `dataset` and `data_dir`. An unknown option is a ConfigError naming the valid ones.
Progress lines go to `log` (print by default; `log=lambda line: None` for silence).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, fields
from pathlib import Path

from nas.config import SearchConfig, TrainConfig, make
from nas.deploy.export import export as run_export
from nas.deploy.predict import PredictResult, predict as run_predict
from nas.engine.launch import SearchResult, resume as run_resume, search as run_search
from nas.errors import ConfigError
from nas.facts import RESULTS_ROOT
from nas.reporting.report import write_report
from nas.results.store import Layout, load_record
from nas.training.runs import load_arch, run
from nas.training.workers import print_flush
from search_spaces.baselines import BASELINES

__all__ = ["search", "resume", "export", "train", "baselines", "report", "predict", "SearchResult", "TrainResult",
           "PredictResult"]


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


def search(*, results: str | Path = RESULTS_ROOT, id: str | None = None, dataset: str | None = None,
           data_dir: str | None = None, export_dir: str | Path | None = None, recipe: TrainConfig | dict | None = None,
           keep_open: bool = False, log=print_flush, **options) -> SearchResult:
    """Launch a search (an NNI experiment, dashboard included) into `<results>/searches/<id>` and
    export its best into `<results>/exports/<id>`. `options`: SearchConfig keys; `recipe`: how
    candidates train (TrainConfig keys)."""
    known = {f.name for f in fields(SearchConfig)} - {"workdir"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"unknown search option {unknown[0]!r}; valid: {', '.join(sorted(known))}")
    cfg = make(SearchConfig, **options)
    train_cfg = make(TrainConfig, _as_dict(recipe), dataset=dataset, epochs=options.get("epochs"))
    return run_search(cfg, train_cfg, results, id, data_dir, export_dir, keep_open, log=log)


def resume(id: str, *, results: str | Path = RESULTS_ROOT, trials: int | None = None, port: int | None = None,
           host: str | None = None, keep_open: bool = False, log=print_flush) -> SearchResult:
    """Continue a stopped or killed search (to a new total of `trials` if given)."""
    return run_resume(id, results, trials, port, host, keep_open, log=log)


def export(id: str, *, results: str | Path = RESULTS_ROOT, top_k: int = 3, out: str | Path | None = None,
           force: bool = False) -> list[dict]:
    """Write the top-k architectures of a search (arch.json, model.py, model.pt, model.onnx, table.txt) into
    `out` (default `<results>/exports/<id>`); their entries, best first, each with its `path`."""
    layout = Layout.at(results)
    load_record(layout.searches, id)  # a clear error for an unknown id
    return run_export(str(layout.searches.resolve()), id, Path(out or layout.exports / id), top_k, force)


def train(arch: str, *, seeds: list[int] = (0,), epochs: int | None = None, dataset: str | None = None,
          data_dir: str | None = None, out: str | Path | None = None, results: str | Path = RESULTS_ROOT,
          recipe: TrainConfig | dict | None = None, arch_recipe: bool = True, jobs: int = 1, force: bool = False,
          resume: bool = False, log=print) -> TrainResult:
    """Train `arch` (a baseline name or an exported arch.json) once per seed into a run folder
    (default `<results>/runs/<name>`). `recipe`: TrainConfig keys, over (`arch_recipe`) a baseline's
    own recipe from the seed write-up, or an export's dataset."""
    name, parsed, known = load_arch(arch)
    cfg = make(TrainConfig, {**(known if arch_recipe else {}), **_as_dict(recipe)}, epochs=epochs, dataset=dataset)
    folder = Path(out or Layout.at(results).runs / name)
    summary = run(parsed, cfg, list(seeds), folder, data_dir, force=force, resume=resume, name=name, log=log,
                  jobs=jobs, source=arch)
    first = folder / f"seed{list(seeds)[0]}"
    return TrainResult(name, folder, summary["params"], summary["flops"], summary["seeds"], first / "model.onnx",
                       first / "model.pt")


def baselines(names: list[str] = ("exp1", "exp2", "exp3", "exp4"), *, own_recipe: bool = False,
              out: str | Path | None = None, results: str | Path = RESULTS_ROOT, **kw) -> list[TrainResult]:
    """Train the hand-made models (search_spaces/baselines.py), each into `<out>/<name>`; `kw` as for
    `train`. `own_recipe`: each with its recipe from the seed write-up instead of `recipe`."""
    for n in names:  # every name checked before any training
        if n not in BASELINES:
            raise ConfigError(f"unknown baseline {n!r}; choose from {', '.join(BASELINES)}")
    parent = Path(out or Layout.at(results).baselines)
    return [train(n, out=parent / n, results=results, arch_recipe=own_recipe, **kw) for n in names]


def report(*, results: str | Path = RESULTS_ROOT, data_dir: str | None = None, pictures: bool = True) -> Path:
    """Regenerate `<results>/README.md` (and its pictures) from the run files; its path."""
    return write_report(results, data_dir, pictures=pictures)


def predict(model, images: list, *, weights=None, invert: bool | None = None,
            allow_untrained: bool = False) -> PredictResult:
    """Classify PNG/JPEG files or IDX image files with a model.onnx, a run folder, or an exported
    model.py with `weights`; `.predictions` (class, name, probability, inverted per image) and
    `.errors`. `invert` None: an image with a background unlike the training data's is inverted."""
    return run_predict(model, images, weights, invert, allow_untrained=allow_untrained)
