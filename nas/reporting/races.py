"""The multi-fidelity steps of the report: the proxy study that chose the rungs, each search's race
and its pick against the controls, the confirmations beside it, and the seed-noise study."""
from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from pathlib import Path

from nas.errors import ConfigError
from nas.facts import COST_WORDS, LATE_MEAN_GOALS, MARGIN, PROTOCOL_SEEDS, RACE_MIN, TRAIN_IMAGES
from nas.reporting import figures
from nas.reporting.decision import control_words, decision_lines, entrants, fresh_words, reanalysis
from nas.reporting.inputs import Inputs
from nas.reporting.tables import seed_range
from nas.results import decide
from nas.results.store import Run, Search, load_rungs
from nas.schedule.race import interval_label
from nas.studies.proxy import schedule_from_study
from nas.training.runs import load_arch
from search_spaces.choices import network_key


def _full_cost_words(st: dict) -> str:
    """What a full training costs on the CPU in the proxy study, and how that was found."""
    words = ""
    if st.get("full_seconds_median"):
        how = ("median, 1 thread" if st.get("full_seconds_from", "measured") == "measured"
               else "1 thread, estimated at the pace of the 55,000-image proxies")
        words = f"; a full training takes {st['full_seconds_median'] / 60:.1f} min ({how})"
    if st.get("not_on_cpu"):
        words += f"; {st['not_on_cpu']} trainings ran on a GPU (their scores count, their seconds do not)"
    return words


def proxy_step(inp: Inputs) -> list[str]:
    """The proxy study: each rung-0 proxy's rank correlation with the full schedule, and its cost."""
    st = inp.proxy
    if st is None:
        return []

    L = ["## Step 9: which short training ranks like the full one (the proxy study)", "", "### Target",
         "Choose the multi-fidelity search's rung-0 proxy from evidence (nas/studies/proxy.py states the rules, fixed "
         "before the study ran): architectures drawn at random from the space (BatchNorm on, "
         f"{st['rules']['min_params']:,}-{st['rules']['max_params']:,} parameters), each trained with the full "
         f"schedule (seeds {', '.join(map(str, st['rules']['seeds']))}) and with every candidate proxy.", "",
         "### Results", "",
         f"`nas proxy-study` ({st['cpu']}): {st['complete']} of {st['archs']} architectures have both full runs"
         + _full_cost_words(st) + ".", ""]
    if st["complete"] < 3:
        return L + ["Too few finished architectures for a correlation yet.", ""]
    ceiling = st["ceiling_seed0_vs_seed1"]
    L += [f"Ceiling: the full schedule's own seed 0 and seed 1 agree with Spearman rho {ceiling:+.2f}; no proxy can "
          "be expected to rank better than a second full run.", "",
          "| proxy | cost (share of a full training) | Spearman, all | Spearman, better half | top-5 kept in top third |",
          "| --- | --- | --- | --- | --- |"]
    fmt = lambda v, f="{:+.2f}": "-" if v is None else f.format(v)  # noqa: E731
    for r in st["rows"]:
        cost = "free" if r["cost"] in (None, 0.0) else f"{r['cost']:.3f}"
        L.append(f"| {r['proxy']} | {cost} | {fmt(r['spearman'])} | {fmt(r['spearman_top_half'])} | "
                 f"{fmt(r['top5_recall'], '{:.0%}')} |")
    rungs = schedule_from_study(st)
    L += ["", "![Spearman against cost per proxy](proxy/proxy.png)" if (inp.layout.proxy / "proxy.png").exists() else "",
          "", "### Analysis"]
    if rungs:
        L.append("- By the rule fixed in advance, the rungs before the full schedule are: " + "; ".join(
            f"{r['epochs']} epochs on {r['images']:,} images read as {r['reading']} (rho {r['spearman']:+.2f}, "
            f"cost {r['cost']:.3f})" for r in rungs) + ".")
    if st["complete"] < st["archs"]:
        L.append(f"- Partial: {st['archs'] - st['complete']} architectures still lack a full run; "
                 "`nas proxy-study` continues the study.")
    return L + [""]


def _short(key: str, trials: list, seeds: dict | None = None) -> str:
    """A candidate by the trial its export is named after (its highest rung, lowest seed there:
    nas.results.store.rank), and by its name if it is a warm-start seed (`seeds`: key -> name); a control
    by its name."""
    if key.startswith("control:"):
        return f"control `{key.removeprefix('control:')}`"
    mine = [t for t in trials if t.final.get("key") == key and t.final.get("rung") is not None]
    name = f" (warm start `{seeds[key]}`)" if seeds and key in seeds else ""
    return (f"`{min(mine, key=lambda t: (-t.final['rung'], t.final['seed'])).id}`" if mine else "?") + name


def warm_seeds(search: dict) -> dict[str, str]:
    """network key -> name of each reference model a search's evolution started from (`--warm-start`;
    an arch.json path that is not on this machine is left out)."""
    out = {}
    for spec in (search.get("warm_start") or "none").split(","):
        try:
            name, arch, _ = load_arch(spec)
        except ConfigError:  # "none", or a path elsewhere
            continue
        out[network_key(arch)] = name
    return out


def multi_step(inp: Inputs, pictures: bool = True) -> list[str]:
    """Each multi-fidelity search: its rungs, the race at the last one with its controls, its pick,
    its entrants' accuracy against their cost, and a race decided by accuracy re-analysed under
    `--prefer params`."""
    if not inp.multi:
        return []
    L = ["## Step 10: multi-fidelity searches", "", "### Target", *inp.narrative.lines("multi-fidelity"), "",
         "### Results", ""]
    for s in inp.multi:
        L += race_block(s) + reanalysis_block(s) + race_picture(inp, s, pictures) + race_on_test(inp, s)
    return L + seed_noise(inp.layout.root / "seeds" / "study.json") + multi_analysis(inp)


REANALYSIS = "params"  # the cost a race decided by accuracy is re-analysed for, at the default margin


def reanalysis_block(s: Search) -> list[str]:
    """A finished race decided by accuracy, decided again on its recorded scores as `--prefer params
    --margin MARGIN` decides (decision.reanalysis): a re-analysis of existing runs, nothing trained."""
    doc = load_rungs(s.folder, s.id)
    o = (doc or {}).get("outcome")
    if not o or o.get("prefer", "accuracy") != "accuracy":
        return []
    r = reanalysis(doc, s.trials, REANALYSIS, MARGIN)
    seeds = warm_seeds(s.record["search"])
    verdicts = Counter(v["verdict"] for v in r["tests"].values())
    same = "the race's own pick" if r["pick"] == o["pick"] else "not the race's pick"
    return [f"**Re-analysis of existing runs** (`--prefer {REANALYSIS} --margin {MARGIN:g}` applied to the scores "
            f"this race recorded; nothing trained again, so each candidate keeps the seeds the race gave it, where a "
            f"race run with `--prefer {REANALYSIS}` would have given cheaper undecided ones more, to its cap of "
            f"{doc['race_cap']}). Of the other {len(r['tests'])} candidates at the full rung, tested against the best "
            f"({_short(r['leader'], s.trials, seeds)}): " + ", ".join(
                f"{verdicts[v]} {w}" for v, w in (("non-inferior", "non-inferior within the margin"),
                                                  ("undecided", "undecided"), ("inferior", "shown more than the margin below")))
            + f". The pick: {_short(r['pick'], s.trials, seeds)}, {same}: " + "; ".join(decision_lines(r)) + ".", ""]


def race_picture(inp: Inputs, s: Search, pictures: bool) -> list[str]:
    """A finished race's entrants at the full rung: late-validation accuracy against the cost the race
    preferred (parameters for a race decided by accuracy), controls and reference designs marked."""
    doc = load_rungs(s.folder, s.id)
    o = (doc or {}).get("outcome")
    if not pictures or not o:
        return []
    prefer = o.get("prefer", "accuracy")
    cost = REANALYSIS if prefer == "accuracy" else prefer
    ents, seeds = entrants(doc, s.trials, cost), warm_seeds(s.record["search"])
    points = []
    for k, e in ents.items():
        kind = "control" if k.startswith("control:") else "reference" if k in seeds else "candidate"
        points.append({**e, "kind": kind, "label": k.removeprefix("control:") if kind == "control" else seeds.get(k)})
    best = o.get("leader", o["pick"])
    points += [{**ents[best], "kind": "best"}, {**ents[o["pick"]], "kind": "pick"}]
    inp.layout.figures.mkdir(exist_ok=True)
    name = f"race_{s.id}.png"
    if not figures.race_png(points, COST_WORDS[cost], inp.layout.figures / name,
                            f"{s.id}: the full rung's entrants", o.get("margin", MARGIN)):
        return []
    counts = sorted(e["seeds"] for e in ents.values())
    return [f"![{s.id}: late-validation accuracy against {COST_WORDS[cost]}](figures/{name})", "",
            f"Every entrant of `{s.id}`'s full rung ({len(ents)}): its late-validation mean over the race's seeds "
            f"({counts[0]}" + (f" to {counts[-1]}" if counts[-1] != counts[0] else "")
            + " each: the race gives more only to those it cannot yet separate) against "
            f"its {COST_WORDS[cost]}; the dashed line is {o.get('margin', MARGIN):g} points below the best.", ""]


def _confirmation(inp: Inputs, key: str) -> tuple[str, Run] | None:
    """(name, run) of a complete run under the default recipe that trained the network `key`: a
    hand-made baseline or a budget's finalist."""
    runs = [(n, r) for n, r in list(inp.base.items()) + list(inp.finalists.items())
            if r is not None and r.complete and not r.recipe]
    return next(((n, r) for n, r in runs if network_key(r.config["arch"]) == key), None)


def _device_confirmation(inp: Inputs, s: Search, key: str) -> str:
    """A device-bound search's confirmation (confirm/<search>-<trial>, experiments/unas.sh): its
    int8 and fp32 test means over the seeds, read once, in the same look."""
    for path in sorted(inp.layout.confirm.glob(f"{s.id}-*")):
        run = Run.load(path)
        if run is None or not run.complete or network_key(run.config["arch"]) != key:
            continue
        rec = run.int8 or {}
        seeds = rec.get("seeds") or {}
        if rec.get("split") != "test" or not seeds:
            return f" Its confirmation `{path.name}`: no int8 test scoring recorded."
        int8 = statistics.fmean(v["int8"] for v in seeds.values())
        fp32 = statistics.fmean(v["fp32"] for v in seeds.values())
        return (f" Its confirmation `{path.name}` (one look, seeds {','.join(seeds)}): int8 test mean {int8:.2f}% "
                f"(fp32 {fp32:.2f}%, late fp32 test mean {statistics.fmean(run.late()):.2f}%), lowest int8 "
                f"{min(v['int8'] for v in seeds.values()):.2f}%.")
    return " Not confirmed under the protocol yet."


def _unfinished_confirmed(inp: Inputs, s: Search) -> list[str]:
    """The line of a device-bound search whose race has no outcome but whose export was confirmed
    (its export is the last rung's best on validation): said as such, with the confirmation."""
    if decide.parameter_budget(s.record["search"], s.budget):
        return []
    for path in sorted(inp.layout.confirm.glob(f"{s.id}-*")):
        run = Run.load(path)
        if run is not None and run.complete:
            key = network_key(run.config["arch"])
            return [f"- `{s.id}`: its race has no outcome (`nas resume {s.id}` finishes it); its export, the "
                    f"best of the last rung on validation ({_count(run.params)} parameters), was confirmed."
                    + _device_confirmation(inp, s, key)]
    return []


def multi_analysis(inp: Inputs) -> list[str]:
    """Per finished multi-fidelity search: does its pick beat each control in the race
    (decide.beats_control), what the fresh seeds say, and whether its one confirmation meets the
    search's test goal (decide.search_goal)."""
    L = []
    for s in inp.multi:
        doc = load_rungs(s.folder, s.id)
        o = (doc or {}).get("outcome")
        if not o:
            L += _unfinished_confirmed(inp, s)
            continue
        mine = _params(s.trials, o["pick"])
        parts = []
        for c, v in o["controls"].items():
            theirs = _params(s.trials, f"control:{c}")
            won = decide.beats_control(v["gap"], len(v["seeds"]), mine, theirs)
            parts.append(f"`{c}` ({_count(theirs)} parameters): {v['gap']:+.3f} over {len(v['seeds'])} paired seeds, "
                         f"{v['verdict']}; " + ("beats it" if won else "does not beat it"))
        line = (f"- `{s.id}`: its pick ({_count(mine)} parameters) against " + "; against ".join(parts) + "." if parts
                else f"- `{s.id}`: its pick ({_count(mine)} parameters) raced no control.")
        if (fresh := o.get("fresh")) and fresh["controls"]:
            line += (" On the fresh seeds: " + "; ".join(f"`{c}` {v['gap']:+.3f}, {v['verdict']}"
                                                          for c, v in fresh["controls"].items()) + ".")
        if not decide.parameter_budget(s.record["search"], s.budget):
            line += _device_confirmation(inp, s, o["pick"])
        else:
            found = _confirmation(inp, o["pick"])
            line += (f" Its confirmation `{found[0]}`: " + decide.search_goal(s.record["search"]["max_params"], found[1])[1]
                     + "." if found else " Not confirmed under the protocol yet.")
        L.append(line)
    if not L:
        return []
    return ["### Analysis", "",
            f"A pick beats a control when its paired late-validation mean over at least {RACE_MIN} "
            "seeds is higher and it has fewer parameters; the race's verdict says whether the gap is beyond "
            "seed noise. The test goal of a confirmed pick: "
            + ", ".join(f"a late test mean >= {g:.2f}% at {b:,} parameters" for b, g in LATE_MEAN_GOALS.items())
            + ", consistency at the other budgets.", ""] + L + [""]


def race_on_test(inp: Inputs, s: Search) -> list[str]:
    """The race's pick and its controls side by side under the protocol, once the pick is confirmed:
    what the race said on validation against what the test set says (each confirmation one look)."""
    o = (load_rungs(s.folder, s.id) or {}).get("outcome")
    if not o:
        return []
    pick = _confirmation(inp, o["pick"])
    if pick is None:
        return []

    def words(name: str, run: Run) -> str:
        return (f"`{name}` late test mean {statistics.fmean(run.late()):.2f}% (lowest {min(run.late()):.2f}%, "
                + ("consistent" if decide.consistent(run) else "not consistent") + ")")

    L = [words(*pick)]
    gaps = []
    for c, v in o["controls"].items():
        if (found := _confirmation(inp, network_key(load_arch(c)[1]))) is not None:
            L.append(words(*found))
            gaps.append(f"`{c}` {statistics.fmean(pick[1].late()) - statistics.fmean(found[1].late()):+.2f} "
                        f"(on validation {v['gap']:+.3f})")
    return [f"Under the protocol (all {TRAIN_IMAGES['mnist']:,} training images, {seed_range(PROTOCOL_SEEDS)}, "
            "one look at the test set each): "
            + "; ".join(L) + "." + (" Pick minus control, late test mean: " + ", ".join(gaps) + "." if gaps else ""), ""]


def seed_noise(path: Path) -> list[str]:
    """The seed-noise study of the 8k search's full rung (nas/studies/seed_noise.py), if it ran."""
    if not path.exists():
        return []
    st = json.loads(path.read_text())
    m = st["models"]
    long = {n: v for n, v in m.items() if v["seeds"] >= 5}
    sds = [v["sd"] for v in long.values()]
    two = f"seeds {st['seeds'][0]}-{st['seeds'][1]}" if len(st.get("seeds", [])) > 1 else "seeds"
    if "change_top4_all_seeds" in st:
        warm = st.get("top4_warm_start") or []
        fall = ("the 4 it ranked best (controls aside: " + ", ".join(f"`{n}`" for n in st["top4"])
                + ("; " + " and ".join(f"`{n}`" for n in warm)
                   + (" are reference designs" if len(warm) > 1 else " is a reference design")
                   + " the warm start began from, not searched networks" if warm else "")
                + f") moved {st['change_top4_searched']:+.3f} points on fresh {two} and "
                f"{st['change_top4_all_seeds']:+.3f} over all their fresh seeds, the controls "
                f"{st['change_controls']:+.3f} and {st['change_controls_all_seeds']:+.3f}: the 4 fell "
                f"{st['change_controls'] - st['change_top4_searched']:.3f} points further than the controls on two "
                f"seeds, {st['change_controls_all_seeds'] - st['change_top4_all_seeds']:.3f} over all.")
    else:
        fall = (f"the 4 it ranked best (controls aside) moved {st['change_top4_searched']:+.3f} points on fresh "
                f"{two}, the controls {st['change_controls']:+.3f}.")
    return ["Seed noise at the full rung (`results/seeds/table.md`, from `python -m nas.studies.seed_noise table`; "
            "validation only, it decides nothing): over 8 fresh seeds the late validation of "
            + ", ".join(f"`{n}` is {v['mean']:.3f} (SD {v['sd']:.3f})" for n, v in long.items())
            + f" (SDs {min(sds):.2f}-{max(sds):.2f}). On {st['models_compared']} networks the full rung's two seeds "
            f"rank like two fresh ones with Spearman {st['spearman_rung_vs_fresh']:.2f}; " + fall, ""]


def _overrun(doc: dict) -> str:
    """How far a search ran past its CPU budget: what has started when the budget runs out (the race
    included) finishes its schedule."""
    budget, spent = doc.get("budget_cpu_hours"), doc["spent_cpu_hours"]
    if not budget or spent <= budget:
        return ""
    return f", {spent - budget:.2f} past its {budget:g}-hour budget"


def _entrant(doc: dict, trials: list, key: str) -> tuple[str, str]:
    """A race entrant's parameter count and its own late-validation mean over the race's seeds (the
    fresh seeds after it are reported apart), as table cells."""
    last, cap = len(doc["rungs"]) - 1, doc.get("race_cap", float("inf"))
    scores = [j["score"] for j in doc["jobs"]
              if j["key"] == key and j["rung"] == last and j["seed"] < cap and j["score"] is not None]
    return _count(_params(trials, key)), (f"{statistics.fmean(scores):.3f}" if scores else "-")


def _params(trials: list, key: str) -> int | None:
    """A network's parameter count, as its trials reported it (None if none did)."""
    return next((t.final["params"] for t in trials if t.final.get("key") == key and "params" in t.final), None)


def _pm(half: float, label: str = "") -> str:
    """" +- half-width" of an interval, with its `label` if given; one seed has none (race.interval: nan)."""
    return " (one seed: no interval)" if math.isnan(half) else f" +- {half:.3f}" + (f" ({label})" if label else "")


def _count(n: int | None) -> str:
    return f"{n:,}" if n else "-"


def race_block(s: Search) -> list[str]:
    """One multi-fidelity search: its rungs, then the race at the last one with its controls."""
    doc = load_rungs(s.folder, s.id)
    if doc is None:
        return []
    cfg = s.record["search"]
    seeds = warm_seeds(cfg)
    L = [f"`{s.id}` (`nas search --max-params {cfg['max_params']} --strategy {cfg['strategy']}"
         + "".join(f" --max-{k} {cfg[f'max_{k}']}" for k in ("macs", "flash", "ram") if cfg.get(f"max_{k}"))
         + (f" --cpu-hours {cfg['cpu_hours']:g}" if cfg.get("cpu_hours") else f" --trials {cfg['trials']}")
         + (f" --fix {cfg['fix']}" if cfg.get("fix") else "")
         + (" --search-recipe" if cfg.get("search_recipe") else "")
         + (f" --warm-start {cfg['warm_start']}" if cfg.get("warm_start", "none") != "none" else "")
         + (f" --controls {cfg['controls']}" if cfg.get("controls", "auto") != "auto" else "")
         + f" --rungs {cfg['rungs']}" + (f" --fresh-seeds {cfg['fresh_seeds']}" if cfg.get("fresh_seeds") else "")
         + (f" --prefer {cfg['prefer']} --margin {cfg['margin']:g}" if cfg.get("prefer", "accuracy") != "accuracy" else "")
         + f"`): {doc['started']} candidates of {doc['candidates']} planned, "
         f"{len(doc['jobs'])} trainings, {doc['spent_cpu_hours']:.2f} CPU-hours" + _overrun(doc) + ".", "",
         "| rung | epochs x images x seeds | reading | candidates finished | best score |",
         "| --- | --- | --- | --- | --- |"]
    for k, r in enumerate(doc["rungs"]):
        done: dict[str, list] = {}
        for j in doc["jobs"]:
            if j["rung"] == k and j["score"] is not None and not j["key"].startswith("control:"):
                done.setdefault(j["key"], []).append(j["score"])
        full = [statistics.fmean(v) for v in done.values() if len(v) >= len(r["seeds"])]
        L.append(f"| {k} | {r['epochs']} x {r['images']:,} x {len(r['seeds'])} | {r['reading']} | {len(full)} | "
                 + (f"{max(full):.3f}" if full else "-") + " |")
    o = doc.get("outcome")
    if o is None:
        base = len(doc["rungs"][-1]["seeds"])
        last = len(doc["rungs"]) - 1
        raced = Counter(j["seed"] for j in doc["jobs"] if j["rung"] == last and j["seed"] >= base)
        L += ["", "The schedule has not finished: `nas resume " + s.id + "` continues it."
              + (" The race has trained " + ", ".join(f"seed {sd} for {n} entrants" for sd, n in sorted(raced.items()))
                 + "." if raced else ""), ""]
        return L
    label = interval_label(doc["alpha"])
    # a race that preferred a cost other than parameters shows it beside them
    other = o.get("prefer") if o.get("prefer") not in (None, "accuracy", "params") else None
    costs = entrants(doc, s.trials, other) if other else {}

    def cost_cell(key: str) -> str:
        if not other:
            return ""
        return f"{_count(costs.get(key, {}).get('cost'))} | "

    L += ["", "The race at the last rung (late-validation accuracy, mean over the seeds it trained; gaps "
          "paired over the shared seeds, one-sided t-test at alpha " + f"{doc['alpha']:g}; +- is the two-sided "
          f"{label}, whose bounds are those one-sided tests'):", "",
          "| entrant | params | " + (f"{COST_WORDS[other]} | " if other else "")
          + "seeds | late-validation mean | pick minus entrant, paired | verdict |",
          "| --- " * (7 if other else 6) + "|",
          f"| **pick** {_short(o['pick'], s.trials, seeds)} | {_entrant(doc, s.trials, o['pick'])[0]} | "
          + cost_cell(o["pick"]) + f"{len(o['seeds'])} | {o['mean']:.3f}{_pm(o['half_width'])} | - | - |"]
    runner = o["runner_up"]
    who = "the best" if o.get("leader") not in (None, o["pick"]) else "runner-up"
    rivals = ([(f"{who} " + _short(runner["key"], s.trials, seeds), runner["key"], runner)] if runner else []) \
        + [(f"control `{n}`", f"control:{n}", v) for n, v in o["controls"].items()]
    for name, key, v in rivals:
        params, mean = _entrant(doc, s.trials, key)
        L.append(f"| {name} | {params} | {cost_cell(key)}{len(v['seeds'])} | {mean} | {v['gap']:+.3f}{_pm(v['gap_half_width'])} | "
                 f"{v['verdict']} |")
    L.append("")
    if decided := decision_lines(o):
        L += [f"Preferring {COST_WORDS[o['prefer']]} (`--prefer {o['prefer']} --margin {o['margin']:g}`), the pick is "
              + "; ".join(decided) + ".", ""]
    if fresh := o.get("fresh"):
        n = len(fresh["seeds"])
        L += [f"On {n} fresh seed{'s' if n > 1 else ''} ({', '.join(map(str, fresh['seeds']))}), which no entrant trained "
              f"while the race chose, so its choice does not flatter the pick there: the pick's late-validation mean "
              f"{fresh['mean']:.3f}{_pm(fresh['half_width'], label)}"
              + ("; pick minus " + "; ".join(
                  f"`{n}` {v['gap']:+.3f}{_pm(v['gap_half_width'])}, {v['verdict']}"
                  + (f" ({control_words(v['equivalent'], n, o['alpha'])})" if "equivalent" in v else "")
                  for n, v in fresh["controls"].items()) if fresh["controls"] else "") + "."
              + (f" Against the best: {again}." if (again := fresh_words(o)) else ""), ""]
    if any(t.final.get("test_acc") is not None for t in s.trials):
        L += ["Its trials also recorded a last-epoch test accuracy in NNI's database; no rule reads it.", ""]
    if o["pick"] in seeds:
        L += [f"The pick is `{seeds[o['pick']]}`, a reference model the warm start began from, unchanged: the "
              "search found nothing better than it on validation.", ""]
    return L
