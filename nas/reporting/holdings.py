"""The report of a results root without a study's narrative (a user's own): what the root holds and
nothing else. Per search its command, its rungs and race with the controls, its pick and its export;
the runs that trained on a validation split; the confirmations, each a look at the test set, counted
per network; and the pictures that the files allow. Nothing in it names this project's MNIST study."""
from __future__ import annotations

import json
import statistics

from nas.budget import BOUNDS
from nas.config import SearchConfig, TrainConfig, asdict, flat_recipe, make, resolve_fix
from nas.errors import NasError
from nas.reporting import figures
from nas.reporting.inputs import Inputs
from nas.reporting.looks import int8_looks, int8_table
from nas.reporting.races import race_block, race_picture
from nas.reporting.tables import mean_std, results_table, search_table, shown
from nas.results import decide
from nas.results.store import Run, Search, load_rungs, rank
from search_spaces.choices import network_key

RUN_FOLDERS = ("runs/*", "confirm/*", "baselines*/*")  # where `nas train` and `nas baselines` write


# record keys that say where and how fast a search ran, not what it searched
NOT_FLAGS = {"workdir", "port", "host", "concurrency", "space"}
RECIPE_FLAGS = {"dataset", "epochs", "train_subset"}  # a recipe key with its own flag, not --set
NOT_RECIPE = {"threads", "seed", "device", "val_size"}  # where it ran, or fitted to the data at launch


def search_command(rec: dict, exp_id: str) -> str:
    """The `nas search` line a search's record stands for: every setting that differs from what no
    flag gives (the recipe's as --set), so that it runs the same search again."""
    s, t = {"fix": "", **rec["search"]}, rec["train"]  # a record without "fix" pinned nothing
    default = asdict(SearchConfig())
    schedule = s.get("schedule", "flat")
    flags = [f"--id {exp_id}", f"--schedule {schedule}"]
    for key, value in s.items():
        if key in NOT_FLAGS or key not in default or key in ("schedule", "max_flops"):
            continue  # max_flops: no flag sets it now (search_section says it)
        if schedule == "asha" and key in ("epochs", "train_subset", "trials") and (key != "trials" or s.get("cpu_hours")):
            continue  # a multi-fidelity search trains by its rungs, and a CPU budget sizes its candidates
        if key == "fix":  # the record keeps it resolved ("" pinned nothing)
            if value == resolve_fix("auto", schedule):
                continue
            value = value or "none"
        if value == default[key] and key not in ("strategy", "max_params"):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags += [flag] if value else []
        else:
            flags.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    base = asdict(make(TrainConfig, flat_recipe(schedule, bool(s.get("search_recipe")))))
    sets = [f"--set {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in t.items()
            if k in base and k not in RECIPE_FLAGS | NOT_RECIPE and v != base[k]]
    dataset = t.get("dataset", "mnist")
    flags += [f"--dataset {dataset}"] if dataset != "mnist" else []
    flags += [f"--data-dir {rec['data_dir']}"] if rec.get("data_dir") and dataset != "mnist" else []
    return "nas search " + " ".join(flags + sets)


def export_lines(inp: Inputs, s: Search) -> list[str]:
    """A search's exported architectures: rank, trial, size, validation, what weights it holds."""
    folder = inp.layout.exports / s.id
    ranks = sorted(folder.glob("rank*_*/arch.json"), key=lambda p: int(p.parent.name[4:].split("_")[0]))
    if not ranks:
        return [f"Not exported (`nas export {s.id} --results {inp.layout.root}`)."]
    L = [f"Export `{shown(folder, inp.layout.root)}`:", "",
         "| rank | trial | params | MACs | int8 model | peak RAM (with input) | validation | weights "
         "| int8: validation (fp32), constants | files |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in ranks:
        a = json.loads(p.read_text())
        val = a.get("metrics", {}).get("default")
        files = ", ".join(sorted(f.name for f in p.parent.iterdir() if f.is_file()))
        fp = a.get("footprint")  # an export written before the device figures has none
        device = (f"{fp['macs']:,} | {fp['flash']:,} B | {fp['ram']:,} B ({fp['ram_with_input']:,} B)" if fp
                  else "- | - | -")
        int8 = a.get("int8") or {}
        acc = int8.get("accuracy")
        L.append(f"| {a.get('rank', '?')} | `{a.get('trial', '?')}` | {a.get('params', 0):,} | {device} | "
                 + (f"{val:.2f}%" if isinstance(val, (int, float)) else "-")
                 + f" | {a.get('onnx', {}).get('weights') or a.get('weights') or '-'} | "
                 + (f"{acc['int8']:.2f}% ({acc['fp32']:.2f}%), " if acc else "")
                 + (f"{int8['constant_bytes']['total']:,} B" if int8 else a.get("int8_none") or "-")
                 + f" | {files} |")
    return L


def multi_table(searches: list[Search]) -> list[str]:
    """One line per multi-fidelity search: its rungs, what it trained, its race's pick."""
    L = ["| experiment | strategy | budget | rungs | trainings (ok / failed) | pick | late-validation mean | "
         "trial CPU-hours |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in searches:
        rec, doc = s.record["search"], load_rungs(s.folder, s.id)
        o = (doc or {}).get("outcome")
        failed = sum(t.status == "FAILED" for t in s.trials)
        pick = "race not finished"
        if o:
            # the pick's last-rung training of seed 0: the trial its export holds (not its rung-0 one)
            last = len(doc["rungs"]) - 1 if doc.get("rungs") else None
            mine = [t for t in s.succeeded if t.final.get("key") == o["pick"]]
            trial = next((t.id for t in mine if t.final.get("rung") == last and t.final.get("seed") == 0),
                         mine[0].id if mine else "?")
            pick = f"`{trial}` | {o['mean']:.2f}% over {len(o['seeds'])} seed(s)"
        bounds = "".join(f"; <= {rec[field]:,}{unit} {name}" for field, _, name, unit in BOUNDS[1:] if rec.get(field))
        L.append(f"| `{s.id}` | {rec['strategy']} | {s.budget:,}{bounds} | {rec.get('rungs', '?')} | {len(s.succeeded)} / "
                 f"{failed} | {pick if o else pick + ' | -'} | {s.cpu_hours:.2f} |")
    return L


def searches_section(inp: Inputs, pictures: bool = True) -> list[str]:
    flat, multi = inp.searches, inp.multi
    broken = [f"- `{exp_id}`: {why}." for exp_id, why in sorted(inp.unreadable.items())]
    if not flat and not multi:
        return ["## Searches", "", "No search recorded yet." if not broken else "No search with trials to read:",
                *([""] + broken if broken else []), ""]
    L = ["## Searches", ""] + (["Searches whose trials cannot be read:", ""] + broken + [""] if broken else [])
    if flat:
        L += search_table(flat) + [""]
    if multi:
        L += multi_table(multi) + [""]
    for s in sorted(flat + multi, key=lambda s: s.id):
        rec = s.record
        legacy = rec["search"].get("max_flops")  # the old --max-flops: fvcore's total, no flag now
        L += [f"### Search `{s.id}`", "", f"`{search_command(rec, s.id)}`"
              + (f" (its gate also bounded fvcore's total FLOPs at {legacy:,}, which no flag sets now; "
                 "`nas resume` keeps that bound)" if legacy else ""), ""]
        data = rec.get("input") or {}
        failed = sum(t.status == "FAILED" for t in s.trials)
        L += [f"Data: {rec['train'].get('dataset', 'mnist')}"
              + (f", {data['channels']}x{data['height']}x{data['width']} images, {data['classes']} classes"
                 if data.get("classes") else "")
              + f"; {len(s.trials)} trials, {len(s.succeeded)} succeeded" + (f", {failed} failed" if failed else "")
              + f"; {s.cpu_hours:.2f} CPU-hours of trial training.", ""]
        doc = load_rungs(s.folder, s.id)
        if doc is not None:
            L += race_block(s)[2:]  # its first line is the command, given above
            L += race_picture(inp, s, pictures)
        else:
            best = next(iter(rank(s.trials)), None)
            L += [f"Pick: trial `{best.id}`, validation {best.val_acc:.2f}% at {best.final['params']:,} parameters "
                  f"(its proxy training: {rec['train']['epochs']} epoch(s)).", ""] if best else ["No trial finished.", ""]
        L += export_lines(inp, s) + [""]
    return L


def run_folders(inp: Inputs) -> list[Run]:
    root = inp.layout.root
    return [r for pattern in RUN_FOLDERS for p in sorted(root.glob(pattern)) if (r := Run.load(p)) and r.histories]


def reads_test(run: Run) -> bool:
    """A confirmation: a run that read the test set (runs from before `evaluate_test` was recorded
    read it when they had no validation split)."""
    return run.config.get("evaluate_test", run.config["train"].get("val_size") == 0)


def runs_section(inp: Inputs, runs: list[Run]) -> list[str]:
    """Runs on a validation split: they choose, and read no test image."""
    chose = [r for r in runs if not reads_test(r)]
    if not chose:
        return []
    L = ["## Runs", "", "Trained with a validation split (no test image read).", "",
         "| run | params | epochs | training images | seeds | late validation mean (std) | final validation mean |",
         "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in chose:
        m, sd = mean_std(r.late("val_acc"))
        t = r.config["train"]
        images = f"first {t['train_subset']:,}" if t.get("train_subset") else "all"
        L.append(f"| `{shown(r.path, inp.layout.root)}` | {r.params:,} | {r.epochs} | {images} (validation {t.get('val_size', 0):,}) | "
                 f"{','.join(map(str, sorted(r.histories)))} | {m:.2f} ({sd:.2f}) | "
                 f"{statistics.fmean(r.finals('val_acc')):.2f} |")
    return L + [""]


def images_read(train: dict) -> str:
    """Which training images a run trained on, in words."""
    val = train.get("val_size", 0)
    held = f", {val:,} held out for validation" if val else ""
    if train.get("train_subset"):
        return f"the first {train['train_subset']:,} training images outside validation (train_subset){held}"
    return f"every training image{held}" if val else "every training image (no validation split)"


def confirmations_section(inp: Inputs, runs: list[Run]) -> list[str]:
    """Runs that read the test set, and how often each network's test accuracy has been looked at."""
    looked = [r for r in runs if reads_test(r)]
    if not looked:
        return []
    L = ["## Confirmations", "", "Read on the test set: each run is a look at the test set, so a network "
         "confirmed twice has been looked at twice.", ""]
    for r in looked:
        L += [f"`{shown(r.path, inp.layout.root)}` trained on {images_read(r.config['train'])}.", ""]
        L += results_table(r, inp.layout.root, verdict=False) + [""]
    per: dict[str, list[Run]] = {}
    for r in looked:
        per.setdefault(network_key(r.config["arch"]), []).append(r)
    int8 = int8_table([(shown(r.path, inp.layout.root), r) for r in looked], inp.layout.root)
    L += ["### int8 models", "", "Each run's final weights quantized to int8 (its `int8.json`); scored after the "
          "run, a confirmation's int8 accuracy is a look of its own, counted below.", "", *int8, ""] if int8 else []
    L += ["### Looks at the test set", "", "| network | parameters | looks | runs |", "| --- | --- | --- | --- |"]
    for key, rs in per.items():
        src = rs[0].config.get("source")
        name = shown(decide.source_path(inp.layout, src), inp.layout.root) if src else rs[0].config.get("name") or "-"
        L.append(f"| `{name}` | {rs[0].params:,} | {len(rs) + int8_looks([('', r) for r in rs])} | "
                 + ", ".join(f"`{shown(r.path, inp.layout.root)}`" for r in rs) + " |")
    return L + [""]


def pictures_section(inp: Inputs, runs: list[Run], data_dir: str | None) -> list[str]:
    """The pictures the files allow: the confirmations' test accuracy per epoch, and the test images
    the best confirmation gets wrong where its data is at hand. What is missing is left out."""
    looked = {shown(r.path, inp.layout.root): r for r in runs if reads_test(r) and r.complete}
    if not looked:
        return []
    fig = inp.layout.figures
    fig.mkdir(exist_ok=True)
    figures.curves_png(looked, fig / "curves.png", goal=None)
    L = ["## Pictures", "", "![Per-epoch test accuracy of the confirmations](figures/curves.png)", ""]
    name, best = max(looked.items(), key=lambda nr: statistics.fmean(nr[1].finals()))
    weights = best.path / f"seed{min(best.histories)}" / "model.pt"
    try:
        if not weights.exists():
            raise FileNotFoundError(weights)
        n = figures.misclassified_png(best, fig / "misclassified.png", data_dir or best.config.get("data_dir"))
    except (NasError, OSError) as e:
        return L + [f"No grid of misclassified test images: {e}.", ""]
    return L + [f"The best confirmation, `{name}` ({best.params:,} parameters), seed {min(best.histories)}: "
                f"{n:,} misclassified test images.", "", "![Misclassified test images](figures/misclassified.png)", ""]


def holdings_report(inp: Inputs, data_dir: str | None, pictures: bool) -> list[str]:
    runs = run_folders(inp)
    return (searches_section(inp, pictures) + runs_section(inp, runs) + confirmations_section(inp, runs)
            + (pictures_section(inp, runs, data_dir) if pictures else []))
