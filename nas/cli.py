"""Command line: `nas <command> --help` (or `python -m nas ...`). It parses, calls the library
function that does the work, and prints what that returns.

  search     launch an NNI experiment; prints the dashboard URL, exports the best architecture
  view       re-open the dashboard of a stopped experiment
  resume     continue a stopped experiment to its trial count
  export     write the top-k architectures of an experiment (JSON + PyTorch file + ONNX + table)
  baselines  train the four hand-made models with the same recipe, as baseline points
  train      train an exported or baseline architecture for N epochs x M seeds
  rerank     retrain a search's best trials with the full schedule, ranked on validation
  recipe     train one architecture under several recipe variants, ranked on validation
  report     regenerate RESULTS/README.md and its pictures from the run files
  predict    classify PNG/JPEG images or an IDX file with a trained model (model.onnx or a run folder)
  finalist   print the exported arch.json of the finalist at a parameter budget

Every command reads and writes below one results root, `--results` (default: $NAS_RESULTS, else
./results).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from nas.config import DATASETS, SearchConfig, TrainConfig, make
from nas.errors import ConfigError, NasError
from nas.facts import CONTROL_RULE, RESULTS_ENV, RESULTS_ROOT, results_root
from nas.results.store import Layout

NEEDS_NNI = ("search", "resume", "view")  # the commands that start an NNI experiment


def _with_results(add_parser):
    """Every command takes --results (after the command's name, like its other options)."""
    def add(*args, **kwargs):
        p = add_parser(*args, **kwargs)
        p.add_argument("--results", default=results_root(),
                       help=f"results root: searches/, exports/, rerank/, recipe/, runs/ ... "
                            f"(default: ${RESULTS_ENV}, else {RESULTS_ROOT})")
        return p
    return add


def _train_options(p: argparse.ArgumentParser, epochs_default: int | None) -> None:
    p.add_argument("--epochs", type=int, default=epochs_default, help="training epochs")
    p.add_argument("--config", metavar="FILE", help="JSON file of TrainConfig keys (see nas/config.py)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one TrainConfig key, e.g. --set lr=0.1 (repeatable)")
    p.add_argument("--dataset", default=None, choices=DATASETS,
                   help="what to train on (default mnist): fashion-mnist, kmnist, idx (any folder of the four "
                        "IDX files, given with --data-dir) or cifar10")
    p.add_argument("--data-dir", help="the dataset's folder (MNIST default: $NAS_MNIST_DIR, else "
                                      "../shared/data/mnist; else ~/.cache/nas/DATASET, downloaded when absent)")


def _experiment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None, help="dashboard port (default: the experiment's)")
    p.add_argument("--host", default=None, help="dashboard address (default 127.0.0.1; see --help of search)")


def build_parser() -> argparse.ArgumentParser:
    d = SearchConfig()
    parser = argparse.ArgumentParser(prog="nas", description="Neural architecture search for compact CNNs on "
                                                                         "MNIST and other small-image datasets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show NNI's own log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser = _with_results(sub.add_parser)

    s = sub.add_parser("search", help="launch an NNI experiment and export its best architecture",
                       description="Launch a search. Candidates over the budget are rejected before training.")
    s.add_argument("--space", default=d.space, help="search space (default %(default)s)")
    s.add_argument("--strategy", default=d.strategy, help="random | evolution | tpe (default %(default)s)")
    s.add_argument("--max-params", type=int, default=d.max_params, help="parameter budget (default %(default)s)")
    s.add_argument("--max-flops", type=int, default=d.max_flops, help="FLOP budget, multiply-adds per image (0: none)")
    s.add_argument("--min-params", type=int, default=d.min_params,
                   help="reject candidates smaller than this too, to search near the budget (default: none)")
    s.add_argument("--fix", default=d.fix, metavar="LABEL=VALUE,...",
                   help="pin labels of the space to one value, e.g. bn=true,head=1x1_gap (see search_spaces/choices.py)")
    s.add_argument("--search-recipe", action="store_true",
                   help="a candidate is an architecture and its recipe: peak LR, batch size, augmentation strength "
                        "and label smoothing become labels (lr_x, batch_x, aug_x, smooth), scaling --set's recipe")
    s.add_argument("--schedule", default=d.schedule, choices=("asha", "flat"),
                   help="asha: rungs of rising fidelity, the best 1/eta promoted, a race with paired seeds and "
                        "hand-made controls at the full schedule; flat: every trial one short proxy (default %(default)s)")
    s.add_argument("--cpu-hours", type=float, default=d.cpu_hours,
                   help="asha: size the number of rung-0 candidates to this budget (default: --trials of them)")
    s.add_argument("--rungs", default=d.rungs, metavar="ExN[:S][/READING],...",
                   help="asha: epochs x training images [: seeds] [/ reading] per rung, the last the full schedule, "
                        "e.g. 2x20000,15x55000:2; auto: the rungs the finished proxy study chose (default %(default)s)")
    s.add_argument("--eta", type=int, default=d.eta, help="asha: promote the best 1/eta of a rung (default %(default)s)")
    s.add_argument("--controls", default=d.controls,
                   help="asha: hand-made models raced at the last rung: baseline names or arch.json paths, "
                        f"auto ({CONTROL_RULE}) or none (default %(default)s)")
    s.add_argument("--warm-start", default=d.warm_start,
                   help="evolution: reference models that open the population: baseline names or arch.json paths, "
                        "auto (the baselines within budget that are not controls) or none (default %(default)s)")
    s.add_argument("--race-cap", type=int, default=d.race_cap, help="asha: most seeds per entrant (default %(default)s)")
    s.add_argument("--race-min", type=int, default=d.race_min,
                   help="asha: seeds the leader and controls train at least (default %(default)s)")
    s.add_argument("--fresh-seeds", type=int, default=d.fresh_seeds,
                   help="asha: seeds after the race, new to every entrant, that the pick and the controls train: "
                        "their gap there is free of the race's selection; 0: none (default %(default)s)")
    s.add_argument("--alpha", type=float, default=d.alpha,
                   help="asha: level of the race's one-sided paired t-test, 0.1 or 0.05 (default %(default)s)")
    s.add_argument("--trials", type=int, default=d.trials,
                   help="flat: trials to run; asha: rung-0 candidates when --cpu-hours is not given (default %(default)s)")
    s.add_argument("--concurrency", type=int, default=d.concurrency,
                   help="trials at once (default: one per CPU core)")
    s.add_argument("--train-subset", type=int, default=d.train_subset,
                   help="training images per trial, 0 for all outside the validation split (default %(default)s)")
    s.add_argument("--seed", type=int, default=d.seed, help="strategy seed (default %(default)s)")
    s.add_argument("--port", type=int, default=d.port, help="dashboard port (default %(default)s)")
    s.add_argument("--host", default=d.host, help="dashboard address (default %(default)s, loopback only); "
                                                 "anything else exposes the unauthenticated dashboard")
    s.add_argument("--export-dir", default=None, help="where the best architecture goes (default RESULTS/exports; "
                                                       "`nas resume` keeps it)")
    s.add_argument("--keep-open", action="store_true", help="keep the dashboard up after the search (Ctrl-C ends)")
    s.add_argument("--machines", default="", metavar="FILE",
                   help="run the trials on these machines over SSH (NNI's remote training service): a JSON or "
                        "TOML file, see nas/engine/machines.py and README (default: this machine)")
    s.add_argument("--early-stop", action="store_true", help="stop a trial whose validation accuracy is below "
                                                            "the median of finished trials at the same epoch")
    s.add_argument("--id", default=None, help="experiment id, letters, digits, '-' and '_' (default: random); "
                                             "a fixed id lets scripts `nas resume` it later")
    _train_options(s, d.epochs)

    v = sub.add_parser("view", help="re-open the dashboard of a stopped experiment")
    v.add_argument("id")
    _experiment_options(v)
    v.add_argument("--seconds", type=float, default=0, help="close after this long (default: on Ctrl-C)")

    r = sub.add_parser("resume", help="continue a stopped experiment to its trial count")
    r.add_argument("id")
    _experiment_options(r)
    r.add_argument("--keep-open", action="store_true", help="keep the dashboard up afterwards")
    r.add_argument("--trials", type=int, default=None, help="a new total trial count, to search longer "
                                                            "(default: the one it was launched with)")

    e = sub.add_parser("export", help="write the top-k architectures of an experiment")
    e.add_argument("id")
    e.add_argument("--top-k", type=int, default=3, help="how many (default %(default)s)")
    e.add_argument("--out", default=None, help="target folder (default RESULTS/exports/ID)")
    e.add_argument("--force", action="store_true", help="replace an existing target folder")

    b = sub.add_parser("baselines", help="train the four hand-made models (search_spaces/baselines.py)")
    b.add_argument("--names", default="exp1,exp2,exp3,exp4", help="comma-separated subset")
    b.add_argument("--own-recipe", action="store_true", help="use each baseline's recipe from the seed "
                                                             "instead of the search's")
    b.add_argument("--seeds", default="0", help="comma-separated seeds (default %(default)s)")
    b.add_argument("--out", default=None, help="parent folder of the run folders (default RESULTS/baselines)")
    b.add_argument("--force", action="store_true", help="replace existing run folders")
    b.add_argument("--resume", action="store_true", help="continue interrupted run folders")
    b.add_argument("--jobs", type=int, default=1, help="seeds trained at once (default %(default)s)")
    _train_options(b, None)

    t = sub.add_parser("train", help="train an architecture for N epochs x M seeds into a run folder")
    t.add_argument("arch", help="a baseline name (exp1..exp4) or an exported arch.json")
    t.add_argument("--seeds", default="0", help="comma-separated seeds (default %(default)s)")
    t.add_argument("--out", default=None, help="run folder (default RESULTS/runs/NAME)")
    t.add_argument("--force", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run folder")
    t.add_argument("--jobs", type=int, default=1, help="seeds trained at once, in separate processes "
                                                       "(default %(default)s)")
    _train_options(t, None)

    rr = sub.add_parser("rerank", help="retrain a search's best trials with the full schedule, ranked on validation",
                        description="Second stage of a search (see nas/studies/rerank.py): the trials within --within "
                                    "points of the best proxy score (at most --top) train for --epochs on the "
                                    "training split and are ranked by their last-3-epoch validation accuracy. "
                                    "Run it again to resume.")
    rr.add_argument("id")
    rr.add_argument("--top", type=int, default=4, help="at most this many candidates (default %(default)s)")
    rr.add_argument("--within", type=float, default=0.2, help="candidates: proxy validation accuracy within this "
                                                              "many points of the best (default %(default)s)")
    rr.add_argument("--seeds", default="0", help="comma-separated training seeds of every candidate; the score "
                                                 "averages them (default %(default)s)")
    rr.add_argument("--jobs", type=int, default=1, help="trainings at once: candidates with one seed, a "
                                                        "candidate's seeds with several (default %(default)s)")
    _train_options(rr, 15)

    rc = sub.add_parser("recipe", help="train one architecture under several recipe variants, ranked on validation",
                        description="Compare training recipes (see nas/studies/recipe.py): each --variant trains the "
                                    "architecture for the full schedule with each seed, the validation split "
                                    "held out, and is scored by its last-3-epoch validation accuracy. The pick's "
                                    "overrides go to OUT/pick.json (for `nas train --config`). Run it again to resume.")
    rc.add_argument("arch", help="a baseline name (exp1..exp4) or an exported arch.json")
    rc.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE,...",
                    help="a recipe: TrainConfig overrides of the defaults, e.g. lr0.1:lr=0.1; 'default:' is the "
                         "defaults (repeatable, at least one)")
    rc.add_argument("--out", default=None, help="study folder; runs go to OUT/<variant> (default RESULTS/recipe/NAME)")
    rc.add_argument("--seeds", default="0,1", help="comma-separated seeds of every variant (default %(default)s)")
    rc.add_argument("--jobs", type=int, default=1, help="a variant's seeds trained at once (default %(default)s)")
    rc.add_argument("--epochs", type=int, default=None, help="training epochs (default: TrainConfig's)")
    rc.add_argument("--dataset", default=None, choices=DATASETS, help="what to train on (see --help of train)")
    rc.add_argument("--data-dir", help="the dataset's folder (see --help of train)")

    ps = sub.add_parser("proxy-study", help="measure which short training ranks architectures like the full "
                                            "schedule (nas/studies/proxy.py); resumable")
    ps.add_argument("--jobs", type=int, default=2, help="trainings at once (default %(default)s)")
    ps.add_argument("--analyse", action="store_true", help="only write the table from the finished trainings")
    ps.add_argument("--data-dir", help="MNIST folder (see --help of train)")

    rp = sub.add_parser("report", help="regenerate results/README.md and its pictures from the run files")
    rp.add_argument("--no-pictures", action="store_true", help="text only")
    rp.add_argument("--data-dir", help="MNIST folder, for the misclassified-digits grid")

    pr = sub.add_parser("predict", help="classify PNG/JPEG images or an IDX image file with a trained model",
                        description="Print the class and its probability for each image. MODEL: a model.onnx "
                                    "(`nas train` writes one per run), a run folder, or an exported model.py "
                                    "with --weights. Images are converted as the training data was (channels, "
                                    "size, normalisation).")
    pr.add_argument("model", help="model.onnx, a run folder, or an exported model.py (with --weights)")
    pr.add_argument("images", nargs="+", help="PNG or JPEG files, or IDX image files (every image in them)")
    pr.add_argument("--weights", default=None, help="a state_dict file (a run's seed0/model.pt) for a model.py")
    pr.add_argument("--invert", action="store_true", help="dark-on-light pictures: invert before classifying "
                                                          "(MNIST-like data is light on dark)")

    f = sub.add_parser("finalist", help="print the arch.json of the best trial (by validation) at a budget")
    f.add_argument("--max-params", type=int, required=True, help="the searches' parameter budget")
    f.add_argument("--recipe", action="store_true", help="print the finalist's recipe instead: '<variant> <pick.json>' "
                                                         "for `nas train --config`, or nothing for the defaults")
    return parser


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ConfigError(f"--seeds expects non-negative integers, got {text!r}")
    return seeds


def _train_config(args, base: dict | None = None, **forced) -> TrainConfig:
    return make(TrainConfig, base, args.set, args.config, epochs=args.epochs, dataset=args.dataset, **forced)


def _print_exported(exported: list, out: Path, raced: bool = False) -> None:
    for e in exported:
        m = e["metrics"]
        print(f"rank {e['rank']}: trial {e['trial']}  val {m.get('default', 0):.2f}%  {e['params']:,} params  "
              f"{e['flops']:,} FLOPs\n  arch {e['arch']}\n  -> {e['path']}/arch.json, model.py, model.onnx, table.txt")
    if raced:  # the race already compared it on validation: what is left is the one look at the test set
        print(f"confirm it once under the protocol: nas train {out}/rank1_*/arch.json --epochs 15 --seeds 0,1,2,3,4 "
              "--set val_size=0 --jobs 2")
    else:
        print(f"train it: nas train {out}/rank1_*/arch.json --epochs 15 --seeds 0,1,2")


def _print_search(r, results: str) -> None:
    if r.interrupted:
        print(f"interrupted; stopping the experiment (continue it with `nas resume {r.id} --results {results}`)",
              file=sys.stderr)
        return
    print(f"budget gate: {r.accepted} candidates accepted, {r.rejected} rejected before training")
    if r.replayed:
        print(f"{r.replayed} candidates proposed again were answered from their finished trials, not re-trained")
    if r.repeats:
        print(f"{r.repeats} candidates were networks already trained in this search (they differed in labels "
              "the network ignores); answered from those trials, not re-trained")
    if r.outcome is not None:
        print(_race_lines(r.outcome, r.spent_cpu_hours))
    if r.kept_export:
        print(f"kept {r.export_dir} (written by `nas export`); refresh it with "
              f"`nas export {r.id} --results {results} --force`")
    elif r.exported:
        _print_exported(r.exported, r.export_dir, raced=r.outcome is not None)


def _race_lines(o: dict, spent: float | None) -> str:
    """The search's verdict: the pick with its interval, the gap to the runner-up and to each control."""
    def gap(v: dict) -> str:
        return (f"{v['gap']:+.3f} points (90% interval +-{v['gap_half_width']:.3f}) over seeds "
                f"{','.join(map(str, v['seeds']))}: {v['verdict']}")

    lines = [f"pick: late-validation mean {o['mean']:.3f}% (90% interval +-{o['half_width']:.3f}) over seeds "
             f"{','.join(map(str, o['seeds']))}" + (f"; {spent:.2f} CPU-hours spent" if spent is not None else "")]
    if o["runner_up"]:
        lines.append(f"  vs runner-up: {gap(o['runner_up'])}")
    for name, v in o["controls"].items():
        lines.append(f"  vs control {name}: {gap(v)}")
    if fresh := o.get("fresh"):  # seeds the race never saw: its choice does not flatter the pick there
        lines.append(f"on fresh seeds: late-validation mean {fresh['mean']:.3f}% (90% interval "
                     f"+-{fresh['half_width']:.3f})")
        for name, v in fresh["controls"].items():
            lines.append(f"  vs control {name}: {gap(v)}")
    return "\n".join(lines)


def cmd_search(args) -> None:
    from nas import api

    options = dict(space=args.space, strategy=args.strategy, max_params=args.max_params,
                   max_flops=args.max_flops, min_params=args.min_params, fix=args.fix, trials=args.trials,
                   concurrency=args.concurrency, port=args.port, host=args.host, seed=args.seed, epochs=args.epochs,
                   train_subset=args.train_subset, early_stop=args.early_stop, schedule=args.schedule,
                   cpu_hours=args.cpu_hours, rungs=args.rungs, eta=args.eta, controls=args.controls,
                   race_cap=args.race_cap, race_min=args.race_min, alpha=args.alpha, fresh_seeds=args.fresh_seeds,
                   machines=args.machines,
                   search_recipe=args.search_recipe, warm_start=args.warm_start)
    _print_search(api.search(results=args.results, id=args.id, data_dir=args.data_dir, export_dir=args.export_dir,
                             recipe=_train_config(args), keep_open=args.keep_open,
                             **{k: v for k, v in options.items() if v is not None}), args.results)


def cmd_resume(args) -> None:
    from nas import api

    _print_search(api.resume(args.id, results=args.results, trials=args.trials, port=args.port, host=args.host,
                             keep_open=args.keep_open), args.results)


def cmd_view(args) -> None:
    from nas.engine.launch import view

    view(args.id, args.results, args.port, args.host, args.seconds)


def cmd_export(args) -> None:
    from nas import api

    out = Path(args.out or Layout.at(args.results).exports / args.id)
    _print_exported(api.export(args.id, results=args.results, top_k=args.top_k, out=out, force=args.force), out)


def cmd_train(args) -> None:
    from nas import api
    from nas.training.runs import load_arch

    # the command line's recipe: the arch's own (a baseline's, an export's dataset) < --config < --set
    api.train(args.arch, seeds=_seeds(args.seeds), data_dir=args.data_dir, out=args.out, results=args.results,
              recipe=_train_config(args, load_arch(args.arch)[2]), arch_recipe=False, jobs=args.jobs,
              force=args.force, resume=args.resume)


def cmd_baselines(args) -> None:
    from nas import api
    from search_spaces.baselines import BASELINES

    names = [n.strip() for n in args.names.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:  # every name checked before any training
        raise ConfigError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    for n in names:  # each with its own recipe (--own-recipe) under this command's --config / --set
        base = BASELINES[n]["recipe"] if args.own_recipe and n in BASELINES else None
        api.baselines([n], own_recipe=False, seeds=_seeds(args.seeds), data_dir=args.data_dir, out=args.out,
                      results=args.results, recipe=_train_config(args, base), jobs=args.jobs, force=args.force,
                      resume=args.resume)


def cmd_predict(args) -> None:
    from nas import api

    r = api.predict(args.model, args.images, weights=args.weights, invert=args.invert)
    for p in r.predictions:
        print(f"{p.source}: {p.label}" + (f" {p.name}" if p.name != str(p.label) else "") + f"  p={p.probability:.3f}")
    for line in r.errors:
        print(f"error: {line}", file=sys.stderr)
    if r.errors:
        raise SystemExit(2)


def cmd_report(args) -> None:
    from nas import api

    path = api.report(results=args.results, data_dir=args.data_dir, pictures=not args.no_pictures)
    print(f"wrote {path}" + ("" if args.no_pictures else f" and {Path(args.results) / 'figures'}/*.png"))


def cmd_finalist(args) -> None:
    from nas.results.decide import choose_finalist

    f = choose_finalist(Layout.at(args.results), args.max_params)
    if not args.recipe:
        print(f.arch)
    elif f.study is not None:
        print(f.variant, f.study / "pick.json")


def cmd_rerank(args) -> None:
    from nas.studies.rerank import rerank
    from nas.results.store import load_record

    layout = Layout.at(args.results)
    searched = load_record(layout.searches, args.id)["train"]  # also: a clear error for an unknown id
    # the confirmation recipe, held out on the validation split the search scored on
    cfg = _train_config(args, {k: searched[k] for k in ("val_size", "split_seed", "dataset") if k in searched})
    r = rerank(str(layout.searches.resolve()), args.id, layout.exports, layout.rerank / args.id,
               cfg, args.within, args.top, _seeds(args.seeds), args.jobs, args.data_dir)
    for c in r["candidates"]:
        print(f"{c['trial']}  {c['params']:>6,} params  proxy {c['proxy_val_acc']:.2f}%  last-3 val "
              f"{' / '.join(f'{v:.2f}' for v in c['late_val_acc'])}  score {c['score']:.3f}")
    print(f"pick: {r['pick']} (written to {layout.rerank / args.id / 'rerank.json'})")


def cmd_recipe(args) -> None:
    from nas.studies.recipe import parse_variant, study
    from nas.training.runs import load_arch

    variants = [parse_variant(v) for v in args.variant]  # all checked before any training
    out = Path(args.out or Layout.at(args.results).recipe / load_arch(args.arch)[0])
    r = study(args.arch, variants, _seeds(args.seeds), out, args.jobs, args.epochs, args.data_dir, args.dataset)
    for v in r["variants"]:
        late = "; ".join(" / ".join(f"{a:.2f}" for a in seed) for seed in v["late_val_acc"])
        print(f"{v['variant']:<12} last-3 val {late}  score {v['score']:.3f}")
    print(f"pick: {r['pick']} (written to {out / 'pick.json'})")


def cmd_proxy_study(args) -> None:
    from nas.studies import proxy

    root = Layout.at(args.results).proxy
    if args.analyse and not (root / "archs.json").exists():
        raise ConfigError(f"no proxy study in {root}: run `nas proxy-study --results {args.results}` first")
    study = proxy.analyse(root) if args.analyse else proxy.run(root, args.jobs, args.data_dir)
    print(f"{study['complete']} of {study['archs']} architectures have both full runs; ceiling (seed 0 vs 1) "
          f"rho {study['ceiling_seed0_vs_seed1'] if study['ceiling_seed0_vs_seed1'] is None else round(study['ceiling_seed0_vs_seed1'], 2)}")
    for r in study["rows"]:
        if r["spearman"] is not None:
            cost = "free" if r["cost"] is None else f"{r['cost']:.3f}"
            print(f"{r['proxy']:<40} rho {r['spearman']:+.2f}  cost {cost}")
    rungs = proxy.schedule_from_study(study)
    if rungs:
        print("rungs before the full one: " + "; ".join(f"{r['epochs']} ep x {r['images']:,} img ({r['reading']})"
                                                       for r in rungs))
    print(f"wrote {root / 'study.json'}")


COMMANDS = {"search": cmd_search, "proxy-study": cmd_proxy_study, "view": cmd_view, "resume": cmd_resume, "export": cmd_export,
            "train": cmd_train, "baselines": cmd_baselines, "rerank": cmd_rerank, "recipe": cmd_recipe,
            "report": cmd_report, "finalist": cmd_finalist, "predict": cmd_predict}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from nas.process import prepare_process

    args = build_parser().parse_args(argv)
    # Ctrl-C, and `kill` (SIGTERM), stop a search cleanly so that `nas resume` can continue it; a
    # shell that starts `nas` in the background sets SIGINT to "ignore", so set both explicitly
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(format="%(message)s")
    logging.getLogger().handlers[0].setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        prepare_process(quiet=not args.verbose)
        if args.command in NEEDS_NNI:
            from nas import nni_boundary

            nni_boundary.require_nni(args.command)
    except ImportError as e:  # NNI missing where a command needs it, or of another version
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        COMMANDS[args.command](args)
    except NasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # search and resume handle it themselves; this is a training command
        again = "the same command" if args.command in ("rerank", "recipe") else "the same command with --resume"
        print(f"interrupted; every finished epoch is checkpointed: run {again} to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
