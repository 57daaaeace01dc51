"""What each command does once parsed: call the library (nas.api and the studies) and print what it
returns. The heavy imports happen here, inside each command, after the parser has accepted the line."""
from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

from nas.config import TrainConfig, flat_recipe, make, parse_bytes
from nas.errors import ConfigError, DataError
from nas.facts import ALPHA, results_flag
from nas.results.store import Layout, load_record


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


def _val_line(acc: dict | None) -> str:
    """A trained export's validation accuracy, by PyTorch and by onnxruntime."""
    return (f"\n  validation {acc['pytorch']:.2f}% (PyTorch), {acc['onnxruntime']:.2f}% (onnxruntime) on "
            f"{acc['images']:,} images" if acc else "")


def _next_flags(results, dataset: str | None = None, data_dir: str | None = None) -> str:
    """The flags a command printed for the user to run next needs to find what this one used: the
    dataset and its folder, and the results root, each only where it is not the default."""
    from nas.data.datasets import resolve_data_dir

    flags = ""
    if dataset and dataset != "mnist":
        flags += f" --dataset {dataset}"
    if data_dir:
        try:  # the folder the command would find by itself needs no flag
            default = resolve_data_dir(None, download=False, dataset=dataset or "mnist").resolve()
        except DataError:
            default = None
        if Path(data_dir).resolve() != default:
            flags += f" --data-dir {shlex.quote(str(Path(data_dir).resolve()))}"
    return flags + results_flag(results)


def _teacher_flags(train: dict) -> str:
    """`--set` flags that carry a search's teacher into the training it prints (its trials and
    controls learnt from it; `nas train` checks it again for the run's own validation split)."""
    if not train.get("teacher"):
        return ""
    defaults = TrainConfig()
    return "".join(f" --set {k}={shlex.quote(str(train[k]))}" for k in ("teacher", "kd_temperature", "kd_weight")
                   if k in train and train[k] != getattr(defaults, k))


def _print_exported(exported: list, raced: bool = False, flags: str = "") -> None:
    from nas.deploy.int8 import INT8_FILE, int8_lines

    for e in exported:
        m = e["metrics"]
        fp = e.get("footprint")
        size = (f"{fp['macs']:,} MACs  int8 model {fp['flash']:,} B  peak RAM {fp['ram']:,} B" if fp
                else f"{e['flops']:,} FLOPs")
        print(f"rank {e['rank']}: trial {e['trial']}  val {m.get('default', 0):.2f}%  {e['params']:,} params  "
              f"{size}\n  arch {e['arch']}\n  -> {e['path']}/arch.json, model.py, "
              + ("model.pt, " if (Path(e["path"]) / "model.pt").exists() else "") + "model.onnx, "
              + (f"{INT8_FILE}, " if e.get("int8") else "") + "table.txt"
              + f"\n  weights {e['onnx']['weights']}" + _val_line(e["onnx"].get("val_acc")))
        print("".join(f"  {line}\n" for line in int8_lines(e.get("int8"), e.get("int8_none", "")).splitlines()),
              end="")
    if not exported:
        return
    arch = shlex.quote(f"{exported[0]['path']}/arch.json")
    if raced:  # the race already compared it on validation: what is left is the one look at the test set
        print(f"confirm it once under the protocol: nas train {arch} --epochs 15 --seeds 0,1,2,3,4 "
              f"--set val_size=0 --jobs 2{flags}")
    else:
        print(f"train it: nas train {arch} --epochs 15 --seeds 0,1,2{flags}")


# what a rejection broke (nas.budget.Gate.rejected_by), in the gate's summary line
GATE_WORDS = {"params": "over the parameter bound", "macs": "over the MAC bound", "flash": "over the int8 model bound",
              "ram": "over the peak RAM bound", "min_params": "under the parameter floor", "flops": "over the FLOP bound",
              "input": "unable to take the images"}


def _print_search(r, results: str) -> int:
    """What a search or resume says at its end; its exit code (a stopped search's is not 0)."""
    again = results_flag(results)
    if r.stopped:  # no machine left to train on: nothing was interrupted by the user
        print(f"error: {r.stopped}; continue it with `nas resume {r.id}{again}`", file=sys.stderr)
        return 3
    if r.interrupted:
        from nas.cli import interrupted_code

        print(f"interrupted; stopping the experiment (continue it with `nas resume {r.id}{again}`)",
              file=sys.stderr)
        return interrupted_code()
    by = ", ".join(f"{n} {GATE_WORDS.get(k, k)}" for k, n in sorted(r.rejected_by.items(), key=lambda kv: -kv[1]))
    several = "; a candidate may break several" if sum(r.rejected_by.values()) > r.rejected else ""
    print(f"budget gate: {r.accepted} candidates accepted, {r.rejected} rejected before training"
          + (f" ({by}{several})" if by and r.rejected else ""))
    if r.replayed:
        print(f"{r.replayed} candidates proposed again were answered from their finished trials, not re-trained")
    if r.repeats:
        print(f"{r.repeats} candidates were networks already trained in this search (they differed in labels "
              "the network ignores); answered from those trials, not re-trained")
    if r.outcome is not None:
        print(_race_lines(r.outcome, r.spent_cpu_hours))
    if r.kept_export:
        print(f"kept {r.export_dir} (written by `nas export`); refresh it with "
              f"`nas export {r.id}{again} --force`")
    elif r.exported:
        train = load_record(Layout.at(results).searches, r.id)["train"]
        _print_exported(r.exported, raced=r.outcome is not None,
                        flags=_next_flags(results, r.dataset, r.data_dir) + _teacher_flags(train))
    print(f"its dashboard again: nas view {r.id}{again}")
    return 0


def _race_lines(o: dict, spent: float | None) -> str:
    """The search's verdict: the pick with its interval, what a cost preference decided, the gap to the
    runner-up (the best, when the pick is another) and to each control."""
    from nas.reporting.decision import control_words, decision_lines, fresh_words, pm as interval_of

    alpha = o.get("alpha", ALPHA)  # searches from before the outcome recorded it ran at the default

    def pm(half: float) -> str:
        return interval_of(half, alpha)

    def gap(v: dict) -> str:
        return (f"{v['gap']:+.3f} points ({pm(v['gap_half_width'])}) over seeds "
                f"{','.join(map(str, v['seeds']))}: {v['verdict']}")

    lines = [f"pick: late-validation mean {o['mean']:.3f}% ({pm(o['half_width'])}) over seeds "
             f"{','.join(map(str, o['seeds']))}" + (f"; {spent:.2f} CPU-hours spent" if spent is not None else "")]
    lines += [f"  {line}" for line in decision_lines(o)]
    if o["runner_up"]:
        who = "the best" if o.get("leader") not in (None, o["pick"]) else "runner-up"
        lines.append(f"  vs {who}: {gap(o['runner_up'])}")
    for name, v in o["controls"].items():
        lines.append(f"  vs control {name}: {gap(v)}")
    if fresh := o.get("fresh"):  # seeds the race never saw: its choice does not flatter the pick there
        lines.append(f"on fresh seeds: late-validation mean {fresh['mean']:.3f}% ({pm(fresh['half_width'])})")
        if again := fresh_words(o):
            lines.append(f"  vs the best: {again}")
        for name, v in fresh["controls"].items():
            lines.append(f"  vs control {name}: {gap(v)}"
                         + (f"; {control_words(v['equivalent'], name, alpha)}" if "equivalent" in v else ""))
    beaten = [name for name, v in [*o["controls"].items(), *(fresh or {}).get("controls", {}).items()]
              if v["verdict"] == "pick worse"]
    if beaten:  # the export is still the search's pick: say plainly that a hand-made model did better
        lines.append(f"warning: the pick did worse than control {', '.join(dict.fromkeys(beaten))}; the export "
                     "below is the search's best, not better than that control")
    return "\n".join(lines)


def _size(flag: str, text) -> int:
    """A --max-flash / --max-ram size in bytes, or a one-line ConfigError naming the flag."""
    try:
        return parse_bytes(text)
    except ValueError as e:
        raise ConfigError(f"{flag}: {e}") from None


def check_search(args) -> None:
    """What `nas search` can refuse from its line alone, before torch or NNI load: the sizes (turned
    into bytes in `args`) and the old --max-flops."""
    if args.max_flops is not None:
        raise ConfigError("--max-flops is gone: it bounded fvcore's total FLOPs (two per BatchNorm value besides the "
                          "multiply-accumulates); bound the convs' multiply-accumulates with --max-macs")
    args.max_flash, args.max_ram = _size("--max-flash", args.max_flash), _size("--max-ram", args.max_ram)


def cmd_search(args) -> int:
    from nas import api

    options = dict(space=args.space, strategy=args.strategy, max_params=args.max_params, max_macs=args.max_macs,
                   max_flash=args.max_flash, max_ram=args.max_ram, min_params=args.min_params, fix=args.fix,
                   trials=args.trials,
                   concurrency=args.concurrency, port=args.port, host=args.host, seed=args.seed, epochs=args.epochs,
                   train_subset=args.train_subset, early_stop=args.early_stop, schedule=args.schedule,
                   cpu_hours=args.cpu_hours, rungs=args.rungs, eta=args.eta, controls=args.controls,
                   race_cap=args.race_cap, race_min=args.race_min, alpha=args.alpha, fresh_seeds=args.fresh_seeds,
                   prefer=args.prefer, margin=args.margin,
                   machines=args.machines,
                   search_recipe=args.search_recipe, warm_start=args.warm_start)
    # a flat search's proxy recipe < --config < --set
    recipe = _train_config(args, flat_recipe(args.schedule, args.search_recipe))
    return _print_search(api.search(results=args.results, id=args.id, data_dir=args.data_dir, export_dir=args.export_dir,
                             recipe=recipe, keep_open=args.keep_open, verbose=args.verbose,
                             **{k: v for k, v in options.items() if v is not None}), args.results)


def cmd_resume(args) -> int:
    from nas import api

    return _print_search(api.resume(args.id, results=args.results, trials=args.trials, port=args.port, host=args.host,
                             keep_open=args.keep_open, verbose=args.verbose), args.results)


def cmd_view(args) -> None:
    from nas.engine.launch import view

    view(args.id, args.results, args.port, args.host, args.seconds)


def cmd_export(args) -> None:
    from nas import api

    out = Path(args.out or Layout.at(args.results).exports / args.id)
    exported = api.export(args.id, results=args.results, top_k=args.top_k, out=out, force=args.force)
    rec = load_record(Layout.at(args.results).searches, args.id)
    _print_exported(exported, flags=_next_flags(args.results, rec["train"].get("dataset"), rec.get("data_dir"))
                     + _teacher_flags(rec["train"]))


def cmd_train(args) -> None:
    from nas import api
    from nas.training.runs import load_arch

    # the command line's recipe: the arch's own (a baseline's, an export's dataset) < --config < --set
    api.train(args.arch, seeds=_seeds(args.seeds), data_dir=args.data_dir, out=args.out, results=args.results,
              recipe=_train_config(args, load_arch(args.arch)[2]), arch_recipe=False, jobs=args.jobs,
              force=args.force, resume=args.resume, evaluate_test=not args.no_test)


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

    r = api.predict(args.model, args.images, weights=args.weights, invert=args.invert,
                    allow_untrained=args.allow_untrained)
    for p in r.predictions:
        print(f"{p.source}: {p.label}" + (f" {p.name}" if p.name != str(p.label) else "") + f"  p={p.probability:.3f}"
              + ("  (inverted: its background is unlike the training data's)" if p.inverted and args.invert is None
                 else ""))
    for line in r.errors:
        print(f"error: {line}", file=sys.stderr)
    if r.errors:
        raise SystemExit(2)


def cmd_onnx(args) -> None:
    from nas.training.runs import int8_summary, write_run_onnx

    r = write_run_onnx(args.run_dir, args.seed, args.data_dir)
    acc = r.get("accuracy")
    print(f"wrote {r['path']} ({r['weights']}; onnxruntime matches PyTorch on {r['checked_on']}: largest logit "
          f"difference {r['max_abs_diff']:.1e})"
          + (f"\n{acc['split']} accuracy on {acc['images']:,} images: PyTorch {acc['pytorch']:.2f}%, "
             f"onnxruntime {acc['onnxruntime']:.2f}%" if acc else ""))
    print(int8_summary(r["int8"], args.run_dir) if r.get("int8") else f"no int8 file: {r['int8_none']}")


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
    from nas.facts import ALPHA
    from nas.schedule.race import interval_label
    from nas.studies.recipe import parse_variant, study
    from nas.training.runs import load_arch

    variants = [parse_variant(v) for v in args.variant]  # all checked before any training
    out = Path(args.out or Layout.at(args.results).recipe / load_arch(args.arch)[0])
    r = study(args.arch, variants, _seeds(args.seeds), out, args.jobs, args.epochs, args.data_dir, args.dataset)
    for v in r["variants"]:
        late = "; ".join(" / ".join(f"{a:.2f}" for a in seed) for seed in v["late_val_acc"])
        vs = v.get("versus_default")
        gap = (f"  vs default {vs['gap']:+.3f} ({interval_label(ALPHA)} +-{vs['gap_half_width']:.3f}; one-sided paired "
               f"t-test at {ALPHA}: {vs['verdict']})" if vs else "")
        cost = v.get("teacher_cost")
        print(f"{v['variant']:<12} last-3 val {late}  score {v['score']:.3f}{gap}"
              + (f"  teacher adds {cost['adds_pct']:.0f}%" if cost else ""))
    print(f"pick: {r['pick']} (written to {out / 'pick.json'})")


def cmd_proxy_study(args) -> None:
    from nas.studies import proxy

    root = Layout.at(args.results).proxy
    if args.analyse and not (root / "archs.json").exists():
        raise ConfigError(f"no proxy study in {root}: run `nas proxy-study{results_flag(args.results)}` first")
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


CHECKS = {"search": check_search}  # each command's checks of its line alone, run before anything loads
COMMANDS = {"search": cmd_search, "proxy-study": cmd_proxy_study, "view": cmd_view, "resume": cmd_resume, "export": cmd_export,
            "train": cmd_train, "baselines": cmd_baselines, "rerank": cmd_rerank, "recipe": cmd_recipe,
            "report": cmd_report, "finalist": cmd_finalist, "predict": cmd_predict, "onnx": cmd_onnx}
