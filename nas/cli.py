"""Command line: `nas <command> --help` (or `python -m nas ...`). The CLI parses and calls; the
work lives in the other modules.

  search     launch an NNI experiment; prints the dashboard URL, exports the best architecture
  view       re-open the dashboard of a stopped experiment
  resume     continue a stopped experiment to its trial count
  export     write the top-k architectures of an experiment (JSON + PyTorch file + table)
  baselines  train the four hand-made models with the same recipe, as baseline points
  train      train an exported or baseline architecture for N epochs x M seeds
  rerank     retrain a search's best trials with the full schedule, ranked on validation
  recipe     train one architecture under several recipe variants, ranked on validation
  report     regenerate results/README.md and its pictures from the run files
  finalist   print the exported arch.json of the finalist at a parameter budget
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from nas.config import ConfigError, SearchConfig, TrainConfig, default_threads, make


def _train_options(p: argparse.ArgumentParser, epochs_default: int | None) -> None:
    p.add_argument("--epochs", type=int, default=epochs_default, help="training epochs")
    p.add_argument("--config", metavar="FILE", help="JSON file of TrainConfig keys (see nas/config.py)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one TrainConfig key, e.g. --set lr=0.1 (repeatable)")
    p.add_argument("--data-dir", help="folder with the four MNIST .gz files (default: $NAS_MNIST_DIR, else "
                                      "../shared/data/mnist, else ~/.cache/nas/mnist, downloaded when absent)")


def _experiment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default=SearchConfig.workdir, help="NNI experiments folder (default %(default)s)")
    p.add_argument("--port", type=int, default=None, help="dashboard port (default: the experiment's)")
    p.add_argument("--host", default=None, help="dashboard address (default 127.0.0.1; see --help of search)")


def build_parser() -> argparse.ArgumentParser:
    d = SearchConfig()
    parser = argparse.ArgumentParser(prog="nas", description="Neural architecture search for compact MNIST CNNs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show NNI's own log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("search", help="launch an NNI experiment and export its best architecture",
                       description="Launch a search. Candidates over the budget are rejected before training.")
    s.add_argument("--space", default=d.space, help="search space (default %(default)s)")
    s.add_argument("--strategy", default=d.strategy, help="random | evolution | tpe (default %(default)s)")
    s.add_argument("--max-params", type=int, default=d.max_params, help="parameter budget (default %(default)s)")
    s.add_argument("--max-flops", type=int, default=d.max_flops, help="FLOP budget, multiply-adds per image (0: none)")
    s.add_argument("--min-params", type=int, default=d.min_params,
                   help="reject candidates smaller than this too, to search near the budget (default: none)")
    s.add_argument("--fix", default=d.fix, metavar="LABEL=VALUE,...",
                   help="pin labels of the space to one value, e.g. bn=true,head=1x1_gap (see search_spaces/mnist.py)")
    s.add_argument("--trials", type=int, default=d.trials, help="trials to run (default %(default)s)")
    s.add_argument("--concurrency", type=int, default=d.concurrency, help="trials at once (default %(default)s)")
    s.add_argument("--train-subset", type=int, default=d.train_subset,
                   help="training images per trial, 0 for all outside the validation split (default %(default)s)")
    s.add_argument("--seed", type=int, default=d.seed, help="strategy seed (default %(default)s)")
    s.add_argument("--port", type=int, default=d.port, help="dashboard port (default %(default)s)")
    s.add_argument("--host", default=d.host, help="dashboard address (default %(default)s, loopback only); "
                                                 "anything else exposes the unauthenticated dashboard")
    s.add_argument("--workdir", default=d.workdir, help="NNI experiments folder (default %(default)s)")
    s.add_argument("--export-dir", default="results/exports", help="where the best architecture goes")
    s.add_argument("--keep-open", action="store_true", help="keep the dashboard up after the search (Ctrl-C ends)")
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
    r.add_argument("--export-dir", default="results/exports", help="where the best architecture goes")

    e = sub.add_parser("export", help="write the top-k architectures of an experiment")
    e.add_argument("id")
    e.add_argument("--workdir", default=d.workdir, help="NNI experiments folder (default %(default)s)")
    e.add_argument("--top-k", type=int, default=3, help="how many (default %(default)s)")
    e.add_argument("--out", default=None, help="target folder (default results/exports/ID)")
    e.add_argument("--force", action="store_true", help="replace an existing target folder")

    b = sub.add_parser("baselines", help="train the four hand-made models (search_spaces/baselines.py)")
    b.add_argument("--names", default="exp1,exp2,exp3,exp4", help="comma-separated subset")
    b.add_argument("--own-recipe", action="store_true", help="use each baseline's recipe from the seed "
                                                             "instead of the search's")
    b.add_argument("--seeds", default="0", help="comma-separated seeds (default %(default)s)")
    b.add_argument("--out", default="results/baselines", help="parent folder of the run folders")
    b.add_argument("--force", action="store_true", help="replace existing run folders")
    b.add_argument("--resume", action="store_true", help="continue interrupted run folders")
    b.add_argument("--jobs", type=int, default=1, help="seeds trained at once (default %(default)s)")
    _train_options(b, None)

    t = sub.add_parser("train", help="train an architecture for N epochs x M seeds into a run folder")
    t.add_argument("arch", help="a baseline name (exp1..exp4) or an exported arch.json")
    t.add_argument("--seeds", default="0", help="comma-separated seeds (default %(default)s)")
    t.add_argument("--out", default=None, help="run folder (default results/runs/NAME)")
    t.add_argument("--force", action="store_true", help="replace an existing run folder")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run folder")
    t.add_argument("--jobs", type=int, default=1, help="seeds trained at once, in separate processes "
                                                       "(default %(default)s)")
    _train_options(t, None)

    rr = sub.add_parser("rerank", help="retrain a search's best trials with the full schedule, ranked on validation",
                        description="Second stage of a search (see nas/rerank.py): the trials within --within "
                                    "points of the best proxy score (at most --top) train for --epochs on the "
                                    "training split and are ranked by their last-3-epoch validation accuracy. "
                                    "Run it again to resume.")
    rr.add_argument("id")
    rr.add_argument("--workdir", default="results/searches", help="NNI experiments folder (default %(default)s)")
    rr.add_argument("--exports", default="results/exports", help="exports folder (default %(default)s)")
    rr.add_argument("--out", default="results/rerank", help="re-rank folder; runs go to OUT/ID/<trial> "
                                                            "(default %(default)s)")
    rr.add_argument("--top", type=int, default=4, help="at most this many candidates (default %(default)s)")
    rr.add_argument("--within", type=float, default=0.2, help="candidates: proxy validation accuracy within this "
                                                              "many points of the best (default %(default)s)")
    rr.add_argument("--seeds", default="0", help="comma-separated training seeds of every candidate; the score "
                                                 "averages them (default %(default)s)")
    rr.add_argument("--jobs", type=int, default=1, help="trainings at once: candidates with one seed, a "
                                                        "candidate's seeds with several (default %(default)s)")
    _train_options(rr, 15)

    rc = sub.add_parser("recipe", help="train one architecture under several recipe variants, ranked on validation",
                        description="Compare training recipes (see nas/recipe.py): each --variant trains the "
                                    "architecture for the full schedule with each seed, the validation split "
                                    "held out, and is scored by its last-3-epoch validation accuracy. The pick's "
                                    "overrides go to OUT/pick.json (for `nas train --config`). Run it again to resume.")
    rc.add_argument("arch", help="a baseline name (exp1..exp4) or an exported arch.json")
    rc.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE,...",
                    help="a recipe: TrainConfig overrides of the defaults, e.g. lr0.1:lr=0.1; 'default:' is the "
                         "defaults (repeatable, at least one)")
    rc.add_argument("--out", required=True, help="study folder; runs go to OUT/<variant>")
    rc.add_argument("--seeds", default="0,1", help="comma-separated seeds of every variant (default %(default)s)")
    rc.add_argument("--jobs", type=int, default=1, help="a variant's seeds trained at once (default %(default)s)")
    rc.add_argument("--epochs", type=int, default=None, help="training epochs (default: TrainConfig's)")
    rc.add_argument("--data-dir", help="MNIST folder (see --help of train)")

    rp = sub.add_parser("report", help="regenerate results/README.md and its pictures from the run files")
    rp.add_argument("--results", default="results", help="results folder (default %(default)s)")
    rp.add_argument("--no-pictures", action="store_true", help="text only")
    rp.add_argument("--data-dir", help="MNIST folder, for the misclassified-digits grid")

    f = sub.add_parser("finalist", help="print the arch.json of the best trial (by validation) at a budget")
    f.add_argument("--max-params", type=int, required=True, help="the searches' parameter budget")
    f.add_argument("--workdir", default="results/searches", help="NNI experiments folder (default %(default)s)")
    f.add_argument("--exports", default="results/exports", help="exports folder (default %(default)s)")
    f.add_argument("--rerank", default="results/rerank", help="re-ranks folder: a re-ranked search's finalist is "
                                                              "its re-rank's winner (default %(default)s)")
    f.add_argument("--recipes", default="results/recipe", help="recipe studies folder (`nas recipe`): a study of a "
                                                               "re-rank candidate that beats the re-rank's winner on "
                                                               "validation makes that pair the finalist (default %(default)s)")
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
    return make(TrainConfig, base, args.set, args.config, epochs=args.epochs, **forced)


def _warn_exposed(host: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"WARNING: the dashboard has no authentication and listens on {host}: anyone who can reach "
              f"this machine can see and stop the experiment. Use --host 127.0.0.1 to keep it private.",
              file=sys.stderr)


class TrialWatcher(threading.Thread):
    """Prints one aligned line per finished trial while NNI runs the search."""

    def __init__(self, workdir: str, exp_id: str, total: int):
        super().__init__(daemon=True)
        self.workdir, self.exp_id, self.total = workdir, exp_id, total
        self.seen: set[str] = set()
        self.stop_event = threading.Event()

    def poll(self) -> None:
        from nas.export import read_trials

        try:
            trials = read_trials(self.workdir, self.exp_id)
        except Exception:  # the database may not exist yet or be mid-write: try again at the next poll
            return
        for t in trials:
            if t.id in self.seen or t.status in ("WAITING", "RUNNING"):
                continue
            self.seen.add(t.id)
            f = t.final
            if t.status == "SUCCEEDED" and f:
                print(f"trial {len(self.seen):>3}/{self.total}  {t.id}  val {f.get('default', 0):6.2f}%  "
                      f"params {f.get('params', 0):>7,}  FLOPs {f.get('flops', 0):>11,}  {f.get('seconds', 0):6.1f}s",
                      flush=True)
            else:
                reason = f"  {t.reason}" if t.status == "FAILED" and t.reason else ""
                print(f"trial {len(self.seen):>3}/{self.total}  {t.id}  {t.status}{reason}", flush=True)

    def run(self) -> None:
        while not self.stop_event.wait(3):
            self.poll()


def _run_experiment(exp, search: SearchConfig, action: str, keep_open: bool, export_dir: Path | None) -> None:
    from nas.experiment import bind_dashboard, check_port_free, dashboard_url

    check_port_free(search.host, search.port)
    _warn_exposed(search.host)
    bind_dashboard(search.host)
    print(f"experiment {exp.id}: dashboard at {dashboard_url(search.host, search.port)}", flush=True)
    watcher = TrialWatcher(search.workdir, exp.id, search.trials)
    watcher.start()
    try:
        if action == "resume":
            exp.resume(port=search.port, wait_completion=False)
        else:
            exp.start(port=search.port)  # returns when the strategy has submitted its last trial
        exp._wait_completion()
        watcher.poll()
        gate = exp.strategy[1].filter_fn
        print(f"budget gate: {gate.accepted} candidates accepted, {gate.rejected} rejected before training")
        replayed, repeats = getattr(exp.strategy[2], "replayed", 0), getattr(exp.strategy[2], "repeats", 0)
        if replayed:
            print(f"{replayed} candidates proposed again were answered from their finished trials, not re-trained")
        if repeats:
            print(f"{repeats} candidates were networks already trained in this search (they differed in labels "
                  "the network ignores); answered from those trials, not re-trained")
        if export_dir is not None:
            from nas.export import auto_export_allowed

            target = export_dir / exp.id
            if auto_export_allowed(target):  # this search's own export, refreshed
                _export_and_print(search.workdir, exp.id, target, top_k=1, force=True, written_by="search")
            else:
                print(f"kept {target} (written by `nas export`); refresh it with "
                      f"`nas export {exp.id} --workdir {search.workdir} --force`")
        if keep_open:
            print(f"search done; dashboard stays at {dashboard_url(search.host, search.port)} (Ctrl-C to stop)",
                  flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("interrupted; stopping the experiment (continue it with `nas resume "
              f"{exp.id} --workdir {search.workdir}`)", file=sys.stderr)
    finally:
        watcher.stop_event.set()
        try:
            exp.stop()
        except Exception as e:  # stopping an experiment that never started raises inside NNI
            print(f"warning: stopping the experiment: {e}", file=sys.stderr)


def cmd_search(args) -> None:
    from nas.data import load_uint8, resolve_data_dir
    from nas.experiment import build, check_new_id, population_for, save_record

    search = make(SearchConfig, space=args.space, strategy=args.strategy, max_params=args.max_params,
                  max_flops=args.max_flops, min_params=args.min_params, fix=args.fix,
                  trials=args.trials, concurrency=args.concurrency,
                  port=args.port, host=args.host, workdir=str(Path(args.workdir).resolve()), seed=args.seed,
                  epochs=args.epochs, train_subset=args.train_subset, early_stop=args.early_stop)
    if search.strategy == "evolution" and not search.population:
        search = dataclasses.replace(search, population=population_for(search.trials))
    train = _train_config(args, train_subset=search.train_subset,
                          threads=default_threads(search.concurrency))
    exp_id = args.id or _random_id()  # known up front: early stopping reads this experiment's records
    check_new_id(search.workdir, exp_id)
    data_dir = str(resolve_data_dir(args.data_dir).resolve())
    load_uint8(data_dir)  # verify + cache once here, so trials never decode or download
    exp = build(search, train, data_dir, exp_id=exp_id)
    save_record(exp, search, train, data_dir)
    print(f"search: {search.strategy} over '{search.space}', budget {search.max_params:,} parameters"
          + (f" / {search.max_flops:,} FLOPs" if search.max_flops else "")
          + (f", at least {search.min_params:,}" if search.min_params else "")
          + (f", fixed {search.fix}" if search.fix else "")
          + f", {search.trials} trials x {train.epochs} epochs on {train.train_subset or 60000 - train.val_size:,} images")
    _run_experiment(exp, search, "create", args.keep_open, Path(args.export_dir))


def _random_id() -> str:
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def _export_and_print(workdir: str, exp_id: str, out: Path, top_k: int, force: bool,
                      written_by: str = "export") -> None:
    from nas.export import export

    for e in export(workdir, exp_id, out, top_k=top_k, force=force, written_by=written_by):
        m = e["metrics"]
        print(f"rank {e['rank']}: trial {e['trial']}  val {m.get('default', 0):.2f}%  {e['params']:,} params  "
              f"{e['flops']:,} FLOPs\n  arch {e['arch']}\n  -> {e['path']}/arch.json, model.py, table.txt")
    print(f"train it: nas train {out}/rank1_*/arch.json --epochs 15 --seeds 0,1,2")


def cmd_view(args) -> None:
    from nas.experiment import bind_dashboard, check_port_free, dashboard_url, rebuild

    exp, search = rebuild(args.workdir, args.id, args.port, args.host)
    check_port_free(search.host, search.port)
    _warn_exposed(search.host)
    bind_dashboard(search.host)
    exp.view(port=search.port, non_blocking=True)
    print(f"experiment {exp.id}: dashboard at {dashboard_url(search.host, search.port)} "
          + (f"for {args.seconds:g}s" if args.seconds else "(Ctrl-C to stop)"), flush=True)
    try:
        time.sleep(args.seconds) if args.seconds else threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        exp.stop()


def cmd_resume(args) -> None:
    from nas.experiment import load_record, rebuild, register_stopped
    from nas.export import read_trials
    from nas.recovery import prepare

    trials = load_record(args.workdir, args.id)["search"]["trials"]
    register_stopped(args.workdir, args.id)  # before anything is changed: a folder NNI cannot resume fails here
    if args.trials is not None:
        done = sum(t.status in ("SUCCEEDED", "FAILED") for t in read_trials(args.workdir, args.id))
        if args.trials < max(1, done):
            raise ConfigError(f"--trials {args.trials} is below the {done} trials this experiment already ran")
        trials = args.trials
    p = prepare(args.workdir, args.id, trials)
    if p.stopped_manager:
        print(f"stopped NNI manager {p.stopped_manager}, left running by a search that was killed")
    print(f"resume: {len(p.finished)} finished trials kept"
          + (f"; {len(p.interrupted_now)} interrupted ({', '.join(p.interrupted_now)}) marked USER_CANCELED"
             if p.interrupted_now else "")
          + f"; {max(0, trials - len(p.finished))} more to run", flush=True)
    exp, search = rebuild(args.workdir, args.id, args.port, args.host, replay=p.finished, trials=args.trials)
    _run_experiment(exp, search, "resume", args.keep_open, Path(args.export_dir))


def cmd_export(args) -> None:
    from nas.experiment import load_record

    load_record(args.workdir, args.id)  # a clear error for an unknown id
    _export_and_print(str(Path(args.workdir).resolve()), args.id,
                      Path(args.out or f"results/exports/{args.id}"), args.top_k, args.force)


def cmd_train(args) -> None:
    from nas.runs import load_arch, run

    name, arch, recipe = load_arch(args.arch)
    cfg = _train_config(args, recipe)
    run(arch, cfg, _seeds(args.seeds), args.out or f"results/runs/{name}", args.data_dir,
        force=args.force, resume=args.resume, name=name, jobs=args.jobs, source=args.arch)


def cmd_baselines(args) -> None:
    from nas.runs import load_arch, run

    names = [n.strip() for n in args.names.split(",") if n.strip()]
    specs = [load_arch(n) for n in names]  # all names checked before any training
    for name, arch, recipe in specs:
        cfg = _train_config(args, recipe if args.own_recipe else None)
        run(arch, cfg, _seeds(args.seeds), Path(args.out) / name, args.data_dir,
            force=args.force, resume=args.resume, name=name, jobs=args.jobs, source=name)


def cmd_report(args) -> None:
    from nas.report import write_report

    path = write_report(Path(args.results), args.data_dir, pictures=not args.no_pictures)
    print(f"wrote {path}" + ("" if args.no_pictures else f" and {Path(args.results) / 'figures'}/*.png"))


def cmd_finalist(args) -> None:
    from nas.report import choose_finalist

    f = choose_finalist(Path(args.workdir), Path(args.exports), args.max_params, rerank_dir=Path(args.rerank),
                        recipe_dir=Path(args.recipes))
    if not args.recipe:
        print(f.arch)
    elif f.study is not None:
        print(f.variant, f.study / "pick.json")


def cmd_rerank(args) -> None:
    from nas.experiment import load_record
    from nas.rerank import rerank

    searched = load_record(args.workdir, args.id)["train"]  # also: a clear error for an unknown id
    # the confirmation recipe, held out on the validation split the search scored on
    cfg = _train_config(args, {k: searched[k] for k in ("val_size", "split_seed")})
    r = rerank(str(Path(args.workdir).resolve()), args.id, Path(args.exports), Path(args.out) / args.id,
               cfg, args.within, args.top, _seeds(args.seeds), args.jobs, args.data_dir)
    for c in r["candidates"]:
        print(f"{c['trial']}  {c['params']:>6,} params  proxy {c['proxy_val_acc']:.2f}%  last-3 val "
              f"{' / '.join(f'{v:.2f}' for v in c['late_val_acc'])}  score {c['score']:.3f}")
    print(f"pick: {r['pick']} (written to {Path(args.out) / args.id / 'rerank.json'})")


def cmd_recipe(args) -> None:
    from nas.recipe import parse_variant, study

    variants = [parse_variant(v) for v in args.variant]  # all checked before any training
    r = study(args.arch, variants, _seeds(args.seeds), Path(args.out), args.jobs, args.epochs, args.data_dir)
    for v in r["variants"]:
        late = "; ".join(" / ".join(f"{a:.2f}" for a in seed) for seed in v["late_val_acc"])
        print(f"{v['variant']:<12} last-3 val {late}  score {v['score']:.3f}")
    print(f"pick: {r['pick']} (written to {Path(args.out) / 'pick.json'})")


COMMANDS = {"search": cmd_search, "view": cmd_view, "resume": cmd_resume, "export": cmd_export,
            "train": cmd_train, "baselines": cmd_baselines, "rerank": cmd_rerank, "recipe": cmd_recipe, "report": cmd_report,
            "finalist": cmd_finalist}


NEEDS_NNI = ("search", "resume", "view")  # the commands that start an NNI experiment


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Ctrl-C, and `kill` (SIGTERM), stop a search cleanly so that `nas resume` can continue it; a
    # shell that starts `nas` in the background sets SIGINT to "ignore", so set both explicitly
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(format="%(message)s")
    logging.getLogger().handlers[0].setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        import nni.runtime.log
    except ImportError as e:  # a machine without NNI (a GPU machine that trains, re-ranks, confirms)
        if args.command in NEEDS_NNI:  # runs every command but these
            print(f"error: nas {args.command} needs NNI, which does not import here ({e}); "
                  "install the project with pip install -e . (NNI 3.0)", file=sys.stderr)
            return 2
    else:
        if not args.verbose:
            nni.runtime.log.silence_stdout()  # NNI's banner lists addresses we do not bind; its log file stays
    from nas.data import DataError
    from nas.experiment import ExperimentError
    from nas.export import ExportError
    from nas.runs import RunError

    try:
        COMMANDS[args.command](args)
    except (ConfigError, DataError, ExperimentError, ExportError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # search and resume handle it themselves; this is a training command
        again = "the same command" if args.command in ("rerank", "recipe") else "the same command with --resume"
        print(f"interrupted; every finished epoch is checkpointed: run {again} to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
