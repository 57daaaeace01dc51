"""The command line's parser: every command, its options and their help. Light on purpose: it
imports no torch and no NNI, so a bad argument is refused at once."""
from __future__ import annotations

import argparse

from nas.config import DATASETS, FLAT_FIX, SearchConfig
from nas.facts import CONTROL_RULE, PREFER, RESULTS_ENV, RESULTS_ROOT, results_root


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
                   help="override one TrainConfig key, e.g. --set lr=0.1, or --set teacher=RUN_DIR to learn "
                        "from a trained network too (distillation; README, 'A teacher') (repeatable)")
    p.add_argument("--dataset", default=None, choices=DATASETS,
                   help="what to train on (default mnist): fashion-mnist, kmnist, idx (any folder of the four "
                        "IDX files, given with --data-dir) or cifar10")
    p.add_argument("--data-dir", help="the dataset's folder (MNIST default: $NAS_MNIST_DIR, else "
                                      "../shared/data/mnist; else ~/.cache/nas/DATASET, downloaded when absent)")


def _experiment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=None, help="dashboard port (default: the experiment's)")
    p.add_argument("--host", default=None, help="dashboard address (default 127.0.0.1; see --help of search)")


BUDGET_HELP = """\
budgets (nas/footprint.py states each convention; nas/budget.py applies them):
  The figures describe the int8 model a search's export writes, run one operator at a time, as
  the microcontroller NAS uNAS counts them (its public MNIST bound: peak RAM <= 2,500 B, int8
  model <= 4,500 B, MACs <= 30 M):
    nas search --max-ram 2500 --max-flash 4.5KB --max-macs 30000000
  --max-params  parameters, as fvcore counts them
  --max-macs    multiply-accumulates of the convs for one image (BatchNorm, pooling and the means
                are none; fvcore's total FLOPs, the old --max-flops, added two per BatchNorm value)
  --max-flash   bytes of every constant of the int8 model file: int8 weights, int32 biases,
                float32 scales and zero points, and each BatchNorm (after a ReLU, it cannot fold
                into its conv)
  --max-ram     the least peak, over the orders the operators can run in, of the int8 activation
                bytes alive at once, one byte a value; the network's input is left out (it sits in
                the sensor's buffer, as uNAS counts by default); `ram_with_input` in every trial's
                metrics and every export counts it too
  SIZE: bytes as 4500, 4500B, 4.5KB (1,000 B) or 4KiB (1,024 B). 0: no bound. A budget that no
  network of the space can meet is refused at once, naming the smallest figure the space reaches.
"""


def build_parser() -> argparse.ArgumentParser:
    d = SearchConfig()
    parser = argparse.ArgumentParser(prog="nas", description="Neural architecture search for compact CNNs on "
                                                                         "MNIST and other small-image datasets.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show NNI's own log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser = _with_results(sub.add_parser)

    s = sub.add_parser("search", help="launch an NNI experiment and export its best architecture",
                       description="Launch a search. Candidates over the budget are rejected before training.",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=BUDGET_HELP)
    s.add_argument("--space", default=d.space, help="search space (default %(default)s)")
    s.add_argument("--strategy", default=d.strategy, help="random | evolution | tpe (default %(default)s)")
    b = s.add_argument_group("budgets", "bounds every candidate must meet, any combination; one over any bound "
                                        "is rejected before it trains (see the end of this help)")
    b.add_argument("--max-params", type=int, default=d.max_params,
                   help="parameters: weights, biases and BatchNorm's affine (default %(default)s)")
    b.add_argument("--max-macs", type=int, default=d.max_macs,
                   help="multiply-accumulates of the convs for one image (default: none)")
    b.add_argument("--max-flash", default=d.max_flash, metavar="SIZE",
                   help="bytes of the int8 model's constants: weights, biases, scales, zero points "
                        "(default: none)")
    b.add_argument("--max-ram", default=d.max_ram, metavar="SIZE",
                   help="peak bytes of the int8 activations alive at once, the input left out (default: none)")
    b.add_argument("--min-params", type=int, default=d.min_params,
                   help="reject candidates smaller than this too, to search near the budget (default: none)")
    # the old fvcore FLOP bound: refused with a line naming --max-macs (nas.cli.commands.check_search)
    b.add_argument("--max-flops", default=None, help=argparse.SUPPRESS)
    s.add_argument("--fix", default=d.fix, metavar="LABEL=VALUE,...",
                   help="pin labels of the space to one value, e.g. bn=true,head=1x1_gap (see search_spaces/choices.py); "
                        f"auto: {FLAT_FIX} on a flat schedule, nothing on asha; none: nothing (default %(default)s)")
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
    s.add_argument("--prefer", default=d.prefer, choices=PREFER,
                   help="asha: what the race picks: accuracy, the best late-validation mean; or a cost (params, "
                        "flash: int8 model bytes, ram: peak activation bytes, macs), the cheapest candidate "
                        "non-inferior to the best within --margin points (one-sided paired t-test at --alpha over "
                        "the shared seeds); cheaper candidates not yet decided race on to --race-cap "
                        "(default %(default)s)")
    s.add_argument("--margin", type=float, default=d.margin,
                   help="asha: with --prefer a cost, the points of late-validation accuracy the pick may be below "
                        "the best (default %(default)s)")
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
    t.add_argument("--no-test", action="store_true",
                   help="read no test image (every run of a selection, or a teacher for distillation "
                        "whose test accuracy is not to be looked at); default: the test set every epoch")
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

    ox = sub.add_parser("onnx", help="write a trained run folder's model.onnx and model.int8.onnx from its weights "
                                     "(no training)",
                        description="Write RUN_DIR/seed<S>/model.onnx from seed S's model.pt, checked by onnxruntime "
                                    "against PyTorch; where the data is here, both classify the split the run read "
                                    "and their accuracies are printed. Beside it, model.int8.onnx: onnxruntime's "
                                    "post-training static quantization calibrated on the run's training images, "
                                    "scored beside fp32 (for a confirmation every seed with weights, on the test set: "
                                    "a look of its own, counted in RUN_DIR/int8.json) and timed.")
    ox.add_argument("run_dir", help="a run folder of `nas train` (config.json, seed<S>/model.pt)")
    ox.add_argument("--seed", type=int, default=None, help="whose weights (default: the run's first seed)")
    ox.add_argument("--data-dir", help="the dataset's folder, as for `nas train`")

    pr = sub.add_parser("predict", help="classify PNG/JPEG images or an IDX image file with a trained model",
                        description="Print the class and its probability for each image. MODEL: a model.onnx "
                                    "(`nas train` writes one per run) or its model.int8.onnx, a run folder, or an "
                                    "exported model.py "
                                    "with --weights. Images are converted as the training data was (channels, "
                                    "size, normalisation).")
    pr.add_argument("model", help="model.onnx or model.int8.onnx, a run folder, or an exported model.py "
                                  "(with --weights)")
    pr.add_argument("images", nargs="+", help="PNG or JPEG files, or IDX image files (every image in them)")
    pr.add_argument("--weights", default=None, help="a state_dict file (a run's seed0/model.pt) for a model.py")
    pr.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                    help="invert every image (--invert) or none (--no-invert); default: an image whose background "
                         "is unlike the training data's (a dark digit on white, for MNIST) is inverted, and "
                         "its line says so")
    pr.add_argument("--allow-untrained", action="store_true", help="classify with a model.onnx whose weights "
                                                                   "are untrained (refused otherwise)")

    f = sub.add_parser("finalist", help="print the arch.json of the best trial (by validation) at a budget")
    f.add_argument("--max-params", type=int, required=True, help="the searches' parameter budget")
    f.add_argument("--recipe", action="store_true", help="print the finalist's recipe instead: '<variant> <pick.json>' "
                                                         "for `nas train --config`, or nothing for the defaults")
    return parser
