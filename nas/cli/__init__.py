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
  onnx       write a trained run folder's model.onnx and model.int8.onnx from its weights, without training
  finalist   print the exported arch.json of the finalist at a parameter budget

Every command reads and writes below one results root, `--results` (default: $NAS_RESULTS, else
./nas-results; this project's own study is results/, its commands pass --results results).
"""
from __future__ import annotations

import logging
import signal
import sys

from nas.cli.commands import CHECKS, COMMANDS
from nas.cli.parser import build_parser
from nas.data.download import DownloadInterrupted
from nas.errors import NasError

NEEDS_NNI = ("search", "resume", "view")  # the commands that start an NNI experiment


INTERRUPTED = {"signal": signal.SIGINT}  # the last signal that stopped a command: its exit code is 128 + it


def _interrupt(signum, frame):
    INTERRUPTED["signal"] = signum
    raise KeyboardInterrupt


def interrupted_code() -> int:
    """The exit code of a command stopped by a signal, as a shell reports one: 130 Ctrl-C, 143 SIGTERM."""
    return 128 + int(INTERRUPTED["signal"])


def main(argv: list[str] | None = None) -> int:
    from nas.process import prepare_process

    args = build_parser().parse_args(argv)
    try:
        CHECKS.get(args.command, lambda a: None)(args)  # a bad value on the line is refused before anything loads
    except NasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Ctrl-C, and `kill` (SIGTERM), stop a search cleanly so that `nas resume` can continue it; a
    # shell that starts `nas` in the background sets SIGINT to "ignore", so set both explicitly
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(format="%(message)s")
    logging.getLogger().handlers[0].setLevel(logging.INFO if args.verbose else logging.WARNING)
    if getattr(args, "machines", ""):  # a mistyped machines file is said before the heavy imports
        from nas.engine.machines import load

        try:
            load(args.machines)
        except NasError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        prepare_process(quiet=not args.verbose)
        if args.command in NEEDS_NNI:
            from nas import nni_boundary

            nni_boundary.require_nni(args.command)
    except ImportError as e:  # NNI missing where a command needs it, or of another version
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        code = COMMANDS[args.command](args)
    except NasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 130 if isinstance(e, DownloadInterrupted) else 2  # an interrupted download trained nothing
    except KeyboardInterrupt:  # search and resume handle it themselves once their experiment runs
        if args.command in NEEDS_NNI:
            print("interrupted before the experiment started", file=sys.stderr)
            return interrupted_code()
        again = "the same command" if args.command in ("rerank", "recipe") else "the same command with --resume"
        print(f"interrupted; every finished epoch is checkpointed: run {again} to continue", file=sys.stderr)
        return interrupted_code()
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
