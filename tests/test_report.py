"""The report (`nas report`): its verdicts follow the protocol to the letter, its numbers come from the
run files, and its pictures are written. Run folders are written here with known accuracies, in the
exact format `nas train` writes, so each verdict can be checked by hand."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nas.config import TrainConfig, asdict
from nas.results.decide import choose_finalist, consistent, verdict
from nas.reporting.figures import misclassified_png
from nas.reporting.report import write_report
from nas.results.store import Layout, Run
from search_spaces.baselines import EXP3


def write_run(folder, accs: dict[int, list[float]], val_size=0, params=8880, name="x"):
    """A run folder whose seed S has test accuracies accs[S] per epoch."""
    epochs = len(next(iter(accs.values())))
    cfg = asdict(TrainConfig(epochs=epochs, val_size=val_size, threads=1))
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"name": name, "source": "", "arch": EXP3, "train": cfg, "seeds": sorted(accs), "params": params,
         "flops": 1000}))
    for seed, series in accs.items():
        (folder / f"seed{seed}").mkdir()
        hist = [dict(epoch=i + 1, lr=0.01, train_loss=0.1, train_acc=a - 0.2, val_loss=float("nan"),
                     val_acc=float("nan"), test_loss=0.02, test_acc=a, seconds=10.0) for i, a in enumerate(series)]
        (folder / f"seed{seed}" / "history.json").write_text(json.dumps(hist))
    return Run.load(folder)


GOOD = [98.0] * 12 + [99.41, 99.45, 99.43]
NARRATIVE = Path(__file__).resolve().parents[1] / "results" / "NARRATIVE.md"


def study_report(root, **kw):
    """The report of `root` as this project's study: its narrative copied in (the budgets' steps,
    the hand-made models' steps), then `nas report`."""
    shutil.copy(NARRATIVE, Path(root) / NARRATIVE.name)
    return write_report(root, **kw)


def test_consistent_only_when_all_15_late_numbers_clear_the_line(tmp_path):
    good = write_run(tmp_path / "good", {s: GOOD for s in range(5)})
    assert consistent(good) and verdict(good).startswith("**consistent**")
    dip = {s: GOOD for s in range(5)}
    dip[3] = GOOD[:13] + [99.39, 99.50]  # one number of fifteen
    bad = write_run(tmp_path / "dip", dip)
    assert not consistent(bad) and "1 of 15" in verdict(bad) and "99.39" in verdict(bad)
    early_dip = {s: [99.0] + GOOD[1:] for s in range(5)}  # before the last 3 epochs: allowed
    assert consistent(write_run(tmp_path / "early", early_dip))


@pytest.mark.parametrize("why, kwargs, seeds, length", [
    ("validation split held out", {"val_size": 5000}, range(5), 15),
    ("only 4 seeds", {}, range(4), 15),
    ("more than 15 epochs", {}, range(5), 16),
])
def test_off_protocol_runs_are_never_called_consistent(tmp_path, why, kwargs, seeds, length):
    run = write_run(tmp_path / "r", {s: [99.9] * length for s in seeds}, **kwargs)
    assert not consistent(run), why
    assert "not under the protocol" in verdict(run)


def test_a_miss_decides_the_verdict_before_the_run_is_complete(tmp_path):
    accs = {s: GOOD for s in range(5)}
    accs[0] = GOOD[:14] + [99.39]
    run = write_run(tmp_path / "r", accs)
    for s in (3, 4):  # seeds 3 and 4 not trained yet
        (tmp_path / "r" / f"seed{s}" / "history.json").unlink()
    run = Run.load(tmp_path / "r")
    assert not run.complete and verdict(run).startswith("**not consistent** (decided before")


def test_incomplete_run_is_reported_as_such(tmp_path):
    run = write_run(tmp_path / "r", {s: GOOD for s in range(5)})
    (tmp_path / "r" / "seed4" / "history.json").write_text(json.dumps(json.loads(
        (tmp_path / "r" / "seed4" / "history.json").read_text())[:10]))
    run = Run.load(tmp_path / "r")
    assert not consistent(run) and verdict(run).startswith("incomplete (70 of 75")


def write_search(res, exp_id, epochs, subset, trials: dict[str, tuple[float, int]], budget=8000, archs=None):
    """A search as the report reads it: our record, NNI's two SQLite tables (the columns NNI 3.0
    writes) and the export of its best trial. trials: id -> (validation accuracy, params);
    archs: id -> architecture (default EXP3 for every trial)."""
    import sqlite3

    folder = res / "searches" / exp_id
    (folder / "db").mkdir(parents=True)
    train = asdict(TrainConfig(epochs=epochs, train_subset=subset, threads=1))
    (folder / "nas.json").write_text(json.dumps({"id": exp_id, "train": train, "search": {
        "max_params": budget, "strategy": "random", "workdir": str(res / "searches")}}))
    con = sqlite3.connect(folder / "db" / "nni.sqlite")
    con.execute("CREATE TABLE TrialJobEvent (timestamp integer, trialJobId text, event text, data text, "
                "logPath text, sequenceId integer, message text)")
    con.execute("CREATE TABLE MetricData (timestamp integer, trialJobId text, parameterId text, type text, "
                "sequence integer, data text)")
    for i, (tid, (val, params)) in enumerate(trials.items()):
        sample = (archs or {}).get(tid, EXP3)
        # each trial's own record of what it trained (as nas/engine/trial.py writes it): the reported
        # params here are made up, and without it check_samples would (rightly) distrust them
        log_dir = folder / "trials" / tid
        log_dir.mkdir(parents=True)
        (log_dir / "sample.json").write_text(json.dumps(sample))
        con.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'SUCCEEDED', ?, ?, 0, '')",
                    (1000 * i, tid, json.dumps({"parameters": {"sample": sample}}), str(log_dir)))
        final = json.dumps(json.dumps({"default": val, "params": params, "test_acc": 98.0}))
        con.execute("INSERT INTO MetricData VALUES (?, ?, '0', 'FINAL', 0, ?)", (1000 * i + 1, tid, final))
    con.commit()
    con.close()
    best = max(trials, key=lambda t: trials[t][0])
    arch = res / "exports" / exp_id / f"rank1_{best}" / "arch.json"
    arch.parent.mkdir(parents=True)
    arch.write_text(json.dumps({"trial": best, "arch": EXP3, "metrics": {"default": trials[best][0]}}))
    return arch


def test_finalist_comes_from_the_longest_proxy_then_validation(tmp_path):
    res = tmp_path / "results"
    write_search(res, "short", epochs=3, subset=20000, trials={"A": (97.9, 6000), "B": (97.0, 5000)})
    long = write_search(res, "long", epochs=2, subset=0, trials={"C": (97.5, 7000), "D": (97.6, 7900)})
    write_search(res, "other-budget", epochs=9, subset=0, trials={"E": (99.0, 3000)}, budget=4000)
    # 2 x 55,000 images beat 3 x 20,000 whatever their scores; within it, the best validation wins
    assert choose_finalist(Layout.at(res), 8000).arch == long
    assert choose_finalist(Layout.at(res), 4000).arch.parent.name == "rank1_E"


def test_report_numbers_come_from_the_run_files(tmp_path):
    res = tmp_path / "results"
    write_run(res / "baselines" / "exp3", {s: [99.0] * 12 + [99.30, 99.20 + s / 100, 99.25] for s in range(5)})
    arch = write_search(res, "s", epochs=2, subset=0, trials={"T": (98.0, 7500)})
    write_run(res / "confirm" / "s8k-T", {s: GOOD for s in range(5)}, params=7500)
    cfg = json.loads((res / "confirm" / "s8k-T" / "config.json").read_text())
    (res / "confirm" / "s8k-T" / "config.json").write_text(json.dumps({**cfg, "source": str(arch)}))
    write_run(res / "confirm" / "s8k-older", {s: [99.0] * 15 for s in range(2)}, params=5000)
    text = study_report(res, pictures=True).read_text()
    assert "| 3 | exp3 | 8,880 | 1,000 | 99.20 |" in text
    assert "| 7 | s8k finalist (`s8k-T`) | 7,500 | 1,000 | 99.41 | 99.43 (0.02) | 99.43 | **consistent** |" in text
    assert "| 7 | s8k earlier finalist (`s8k-older`) | 5,000 |" in text
    assert text.index("### Earlier finalist `s8k-older`") > text.index("## Step 7")
    assert "Target met: yes" in text and "not run yet" in text  # exp1, exp2, exp4 have no runs
    assert "| 6 | s20k finalist (no pick yet: see its step) | | |" in text  # a budget without a search
    assert "`nas finalist --max-params 20000` has no pick at present: no finished search with a budget" in text
    assert (res / "figures" / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "model.pt is missing" in text
    assert (res / "figures" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # trains a real model
def test_misclassified_grid_counts_the_real_models_errors(tmp_path, data_dir, no_export_files):
    from nas.training.runs import run as train_run

    cfg = TrainConfig(epochs=2, train_subset=1280, val_size=0, threads=2)
    summary = train_run(EXP3, cfg, [0], tmp_path / "r", str(data_dir), log=lambda *_: None)
    n = misclassified_png(Run.load(tmp_path / "r"), tmp_path / "grid.png", str(data_dir))
    assert n == round(10000 - 100 * summary["seeds"]["0"]["final_test_acc"])
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    # without a validation split its accuracy is missing: null in strict JSON, not Python's NaN
    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert strict((tmp_path / "r" / "seed0" / "history.json").read_text())[-1]["val_acc"] is None
    assert strict((tmp_path / "r" / "summary.json").read_text())["seeds"]["0"]["final_val_acc"] is None


def test_search_hours_count_only_while_a_trial_runs():
    from nas.results.store import busy_hours

    h = 3_600_000  # ms
    events = [("a", "RUNNING", 0), ("b", "RUNNING", h // 2), ("a", "SUCCEEDED", h),  # overlap: 1.5 h
              ("b", "FAILED", 3 * h // 2), ("c", "RUNNING", 3 * h // 2),            # c: interrupted by a stop
              ("c", "USER_CANCELED", 100 * h),                                       # ...marked at resume, days on
              ("d", "RUNNING", 100 * h), ("d", "SUCCEEDED", 101 * h)]                # after the resume: 1 h
    assert busy_hours(events) == 2.5
    assert busy_hours([]) == 0.0


def test_a_gpu_run_is_the_same_recipe_and_says_where_it_ran(tmp_path):
    from nas.reporting.tables import results_table, training_cost
    from nas.results.store import recipe_of

    cpu = write_run(tmp_path / "cpu", {s: GOOD for s in range(5)})
    gpu = write_run(tmp_path / "gpu", {s: GOOD for s in range(5)})
    cfg = json.loads((tmp_path / "gpu" / "config.json").read_text())
    cfg["train"]["device"], cfg["device_name"] = "cuda", "NVIDIA H200"
    (tmp_path / "gpu" / "config.json").write_text(json.dumps(cfg))
    gpu = Run.load(tmp_path / "gpu")
    assert recipe_of(gpu.config["train"]) == recipe_of(cpu.config["train"]) == {}  # the defaults, both
    assert consistent(gpu)
    assert "(on NVIDIA H200, several seeds at once)" in results_table(gpu, tmp_path)[0]
    assert "(1 CPU thread(s) each)" in results_table(cpu, tmp_path)[0]
    assert results_table(cpu, tmp_path)[0].startswith(f"`{tmp_path.name}/cpu`: ")  # from the root's name, wherever run
    # 5 seeds x 15 epochs x 10 s each
    assert training_cost([gpu]) == "0.21 hours of training on NVIDIA H200, several at once"
    assert training_cost([cpu, gpu]) == ("0.21 CPU-hours of training, seconds x threads; "
                                         "0.21 hours of training on NVIDIA H200, several at once")


def test_report_says_why_there_is_no_finalist_yet(tmp_path):
    """A search that joins the longest-proxy group without a re-rank leaves `nas finalist` without a
    pick until it has one; the report says so and why, and keeps the earlier finalist's run."""
    res = tmp_path / "results"
    write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 7000)})
    write_search(res, "t", epochs=2, subset=0, trials={"B": (97.0, 7000)})
    (res / "rerank" / "s").mkdir(parents=True)
    (res / "rerank" / "s" / "rerank.json").write_text(json.dumps({"experiment": "s", "candidates": []}))
    write_run(res / "confirm" / "s8k-A", {s: GOOD for s in range(5)}, params=7000)
    text = study_report(res, pictures=False).read_text()
    assert "| 7 | s8k finalist (no pick yet: see its step) |" in text
    assert ("`nas finalist --max-params 8000` has no pick at present: t trained as long a proxy as s but has "
            "no re-rank: run `nas rerank` on it with the same seeds. The runs below are the earlier finalists'.") in text
    assert "| 7 | s8k earlier finalist (`s8k-A`) | 7,000 |" in text


def test_a_missed_target_says_its_best_result_and_what_was_tried(tmp_path):
    """The issue: a target not reached is reported with the best result and what was tried. The best
    is the run closest to consistent (highest lowest late number), not the highest mean; a run stopped
    once a seed had missed counts as tried. A met target gets no such section."""
    res = tmp_path / "results"
    arch = write_search(res, "s", epochs=2, subset=0, trials={"A": (98.0, 7000)})
    write_search(res, "t", epochs=1, subset=0, trials={"B": (97.0, 7000), "C": (96.0, 7100)})
    low_dip = {s: [99.0] * 12 + [99.50, 99.55, 99.60] for s in range(5)}
    low_dip[2] = [99.0] * 12 + [99.30, 99.55, 99.60]  # mean 99.54, lowest 99.30
    write_run(res / "confirm" / "s8k-A", low_dip, params=7000)
    cfg = json.loads((res / "confirm" / "s8k-A" / "config.json").read_text())
    (res / "confirm" / "s8k-A" / "config.json").write_text(json.dumps({**cfg, "source": str(arch)}))
    near = {s: [99.0] * 12 + [99.38, 99.42, 99.41] for s in range(5)}  # mean 99.40, lowest 99.38
    write_run(res / "confirm" / "s8k-near", near, params=6000)
    stopped = {s: [99.0] * 15 for s in range(5)}
    write_run(res / "confirm" / "s8k-stopped", stopped, params=5000)
    for s in (3, 4):
        (res / "confirm" / "s8k-stopped" / f"seed{s}" / "history.json").unlink()
    text = study_report(res, pictures=False).read_text()
    step7 = text[text.index("## Step 7"):text.index("## Step 8")]
    assert ("The target is not met at this budget. The best result is `s8k-near` (6,000 parameters): "
            "late mean 99.40%, lowest 99.38%, final mean 99.41%.") in step7
    assert "- Searches: 2 at this budget (random 2), 3 trained trials," in step7
    assert ("- Confirmations under the protocol: 3, none meeting the target: `s8k-A` late mean 99.54%, lowest "
            "99.30%; `s8k-near` late mean 99.40%, lowest 99.38%; stopped once a seed had missed: `s8k-stopped`.") in step7
    # made consistent, the budget's target is met: no section
    (res / "confirm" / "s8k-near").rename(tmp_path / "aside")
    write_run(res / "confirm" / "s8k-near", {s: GOOD for s in range(5)}, params=6000)
    step7 = study_report(res, pictures=False).read_text().split("## Step 7")[1].split("## Step 8")[0]
    assert "### What was tried" not in step7


@pytest.mark.slow  # the whole committed report, its figures' data from MNIST
def test_report_regenerates_the_committed_one_byte_for_byte(tmp_path, data_dir, monkeypatch):
    """The golden file: the committed results/README.md is what `nas report` writes from the
    committed run files (here from a copy, so nothing of the repository is touched)."""
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    shutil.copytree(repo / "results", tmp_path / "results", ignore=shutil.ignore_patterns("_latest"))
    # from another folder: the run configs name their sources relative to the project (`results/exports/...`),
    # found below the results root given, not the working folder
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    write_report(tmp_path / "results", str(data_dir))
    assert (tmp_path / "results" / "README.md").read_text() == (repo / "results" / "README.md").read_text()


def test_another_datasets_folder_gets_its_own_section_with_its_numbers(tmp_path):
    root = tmp_path / "results"
    fm = Layout.at(root / "fashion-mnist")
    write_run(fm.runs / "pick-AbCdE", {0: [88.0, 90.5], 1: [88.1, 90.1]}, params=15000)
    write_run(fm.baselines / "exp3", {0: [87.0, 89.25], 1: [87.0, 89.75]})
    text = study_report(root, pictures=False).read_text()
    section = text[text.index("## Fashion-MNIST"):]
    section = section[:section.index("\n## ")]
    assert "| pick `AbCdE` | 15,000 | 90.50 | 90.10 | 90.30 |" in section
    assert "| `exp3` | 8,880 | 89.25 | 89.75 | 89.50 |" in section
    assert "for a choice: 1" in section  # the pick's run is the one look at its test set
    assert "`exp3` (8,880 parameters) +0.80 points" in section  # 90.30 - 89.50, once every run has finished
    assert "`AbCdE` 0.40, `exp3` 0.50 points" in section  # the spread between seeds
    assert "## KMNIST" not in text  # no folder, no section
    write_run(fm.baselines / "exp4", {0: [87.0, 89.0], 1: [87.0]})  # a baseline still training: no verdict yet
    text = study_report(root, pictures=False).read_text()
    assert "### Analysis" not in text[text.index("## Fashion-MNIST"):]


def test_the_proxy_study_says_how_a_full_trainings_cpu_cost_was_found(tmp_path):
    root = tmp_path / "results"
    (root / "proxy").mkdir(parents=True)
    study = {"archs": 30, "complete": 0, "full_seconds_median": 600.0, "full_seconds_from": "measured",
             "not_on_cpu": 0, "cpu": "a CPU", "ceiling_seed0_vs_seed1": None, "full_scores": {}, "rows": [],
             "rules": {"min_params": 4000, "max_params": 8000, "seeds": [0, 1]}}
    (root / "proxy" / "study.json").write_text(json.dumps(study))
    text = study_report(root, pictures=False).read_text()
    assert "a full training takes 10.0 min (median, 1 thread)" in text and "ran on a GPU" not in text
    study.update(full_seconds_from="estimated", not_on_cpu=3)  # some full trainings ran on a GPU
    (root / "proxy" / "study.json").write_text(json.dumps(study))
    text = study_report(root, pictures=False).read_text()
    assert "10.0 min (1 thread, estimated at the pace of the 55,000-image proxies)" in text
    assert "3 trainings ran on a GPU" in text


def test_a_pick_that_is_a_warm_start_seed_is_named_as_such(tmp_path):
    """A search that ends picking a reference it started from must say so, not pass it off as found."""
    from nas.reporting.races import race_block
    from nas.results.store import Search
    from search_spaces.baselines import BASELINES
    from search_spaces.choices import network_key

    era, other = network_key(BASELINES["era7918"]["arch"]), network_key(BASELINES["r3cpl8k"]["arch"])
    rival = dict(seeds=[0, 1, 2], gap=-0.05, gap_half_width=0.04, verdict="pick better")
    doc = dict(rungs=[dict(epochs=4, images=20000, seeds=[0], reading="val_acc best"),
                      dict(epochs=15, images=55000, seeds=[0, 1], reading="late")],
               jobs=[], started=3, candidates=3, spent_cpu_hours=1.0, alpha=0.1,
               outcome=dict(pick=era, seeds=[0, 1, 2], mean=99.40, half_width=0.03,
                            runner_up={**rival, "key": other}, controls={"exp3": rival}))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "rungs.json").write_text(json.dumps(doc))
    cfg = dict(max_params=8000, strategy="evolution", cpu_hours=1, rungs="4x20000,15x55000:2",
               warm_start="era7918,lqznt4k,r3cpl8k")
    text = "\n".join(race_block(Search("w", {"search": cfg}, [], tmp_path)))
    assert "--warm-start era7918,lqznt4k,r3cpl8k" in text
    assert "(warm start `era7918`)" in text and "(warm start `r3cpl8k`)" in text
    assert "The pick is `era7918`" in text
    cfg["warm_start"] = "none"  # a cold search: nothing is named
    assert "warm start" not in "\n".join(race_block(Search("w", {"search": cfg}, [], tmp_path)))


def test_seed_noise_study_is_reported_with_its_numbers(tmp_path):
    from nas.reporting.races import seed_noise

    path = tmp_path / "seeds" / "study.json"
    assert seed_noise(path) == []  # no study, no lines
    path.parent.mkdir()
    m = {"exp3": {"seeds": 8, "mean": 99.268, "sd": 0.083}, "a": {"seeds": 8, "mean": 99.1, "sd": 0.14},
         "b": {"seeds": 2, "mean": 98.5, "sd": 0.3}}
    path.write_text(json.dumps({"models": m, "models_compared": 3, "spearman_rung_vs_fresh": 0.78,
                                "change_top4_searched": -0.071, "change_controls": -0.033}))
    text = "\n".join(seed_noise(path))
    assert "`exp3` is 99.268 (SD 0.083)" in text and "`a` is 99.100 (SD 0.140)" in text
    assert "`b`" not in text  # two seeds give no usable spread
    assert "SDs 0.08-0.14" in text and "Spearman 0.78" in text and "-0.071" in text
    # the study says both falls, on the first two fresh seeds and on all, and names the warm-start designs
    path.write_text(json.dumps({"models": m, "models_compared": 3, "spearman_rung_vs_fresh": 0.78, "seeds": [100, 101, 102],
                                "top4": ["a", "b"], "top4_warm_start": ["a"], "change_top4_searched": -0.071,
                                "change_controls": -0.033, "change_top4_all_seeds": -0.044,
                                "change_controls_all_seeds": -0.039}))
    text = "\n".join(seed_noise(path))
    assert "moved -0.071 points on fresh seeds 100-101 and -0.044 over all their fresh seeds" in text
    assert "the controls -0.033 and -0.039" in text and "`a` are reference designs" not in text
    assert "`a` is a reference design the warm start began from" in text


def test_an_unfinished_race_and_a_spent_budget_are_reported(tmp_path):
    from nas.reporting.races import race_block
    from nas.results.store import Search

    job = lambda key, rung, seed: dict(key=key, rung=rung, seed=seed, score=99.0)  # noqa: E731
    jobs = [job("a", 0, 0), job("b", 0, 0)] + [job(k, 1, sd) for k in ("a", "control:exp3") for sd in (0, 1, 2)] \
        + [job("control:exp3", 1, 3)]
    doc = dict(rungs=[dict(epochs=4, images=20000, seeds=[0], reading="val_acc best"),
                      dict(epochs=15, images=55000, seeds=[0, 1], reading="late")],
               jobs=jobs, started=2, candidates=2, spent_cpu_hours=10.5, budget_cpu_hours=10, alpha=0.1, outcome=None)
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "rungs.json").write_text(json.dumps(doc))
    cfg = dict(max_params=8000, strategy="evolution", cpu_hours=10, rungs="4x20000,15x55000:2")
    text = "\n".join(race_block(Search("w", {"search": cfg}, [], tmp_path)))
    assert "10.50 CPU-hours, 0.50 past its 10-hour budget" in text
    assert "seed 2 for 2 entrants, seed 3 for 1 entrants" in text and "nas resume w" in text
    doc.update(spent_cpu_hours=9.0, jobs=[j for j in jobs if j["seed"] < 2])  # neither is said
    (tmp_path / "w" / "rungs.json").write_text(json.dumps(doc))
    text = "\n".join(race_block(Search("w", {"search": cfg}, [], tmp_path)))
    assert "past its" not in text and "The race has trained" not in text


def test_the_race_table_keeps_the_fresh_seeds_apart(tmp_path):
    """Each entrant's own mean is over the race's seeds; the fresh seeds after it get their own line."""
    from nas.reporting.races import race_block
    from nas.results.store import Search

    job = lambda key, seed, score: dict(key=key, rung=1, seed=seed, score=score)  # noqa: E731
    jobs = [job("p", sd, 99.5) for sd in (0, 1, 2)] + [job("control:exp3", sd, 99.3) for sd in (0, 1, 2)] \
        + [job("p", 3, 99.0), job("control:exp3", 3, 99.4)]                      # seed 3: fresh
    fresh = dict(seeds=[3], mean=99.0, half_width=float("nan"),
                 controls={"exp3": dict(seeds=[3], gap=-0.4, gap_half_width=float("nan"), verdict="tie")})
    doc = dict(rungs=[dict(epochs=4, images=20000, seeds=[0], reading="val_acc best"),
                      dict(epochs=15, images=55000, seeds=[0, 1], reading="late")],
               jobs=jobs, started=3, candidates=3, spent_cpu_hours=1.0, alpha=0.1, race_cap=3, fresh=1,
               outcome=dict(pick="p", seeds=[0, 1, 2], mean=99.5, half_width=0.0, runner_up=None, fresh=fresh,
                            controls={"exp3": dict(seeds=[0, 1, 2], gap=0.2, gap_half_width=0.0,
                                                   verdict="pick better")}))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "rungs.json").write_text(json.dumps(doc))
    cfg = dict(max_params=8000, strategy="evolution", cpu_hours=1, rungs="4x20000,15x55000:2", fresh_seeds=1)
    text = "\n".join(race_block(Search("w", {"search": cfg}, [], tmp_path)))
    assert "--fresh-seeds 1" in text
    assert "| control `exp3` | - | 3 | 99.300 | +0.200 +- 0.000 | pick better |" in text  # seed 3 left out
    assert "On 1 fresh seed (3)" in text and "`exp3` -0.400" in text


@pytest.mark.parametrize("gap, seeds, params, theirs, beats", [
    (0.01, 3, 5964, 8880, True),
    (-0.01, 5, 5964, 8880, False),   # lower mean
    (0.01, 2, 5964, 8880, False),    # too few seeds
    (0.01, 3, 8880, 8880, False),    # not fewer parameters
    (0.01, 3, None, 8880, False),    # a count nobody reported proves nothing
])
def test_a_pick_beats_a_control_by_mean_seeds_and_parameters(gap, seeds, params, theirs, beats):
    from nas.results.decide import beats_control

    assert beats_control(gap, seeds, params, theirs) is beats


def test_the_search_goal_is_a_late_mean_at_4k_and_consistency_elsewhere(tmp_path):
    from nas.results.decide import search_goal

    late = lambda a, b, c: [98.0] * 12 + [a, b, c]  # noqa: E731
    mean_ok = write_run(tmp_path / "a", {s: late(99.31, 99.30, 99.32) for s in range(5)}, params=3900)
    assert search_goal(4000, mean_ok)[0] and "99.31%" in search_goal(4000, mean_ok)[1]
    assert not search_goal(8000, mean_ok)[0]  # at 8k the goal is every late number >= 99.40
    low = write_run(tmp_path / "b", {s: late(99.29, 99.30, 99.28) for s in range(5)}, params=3900)
    assert not search_goal(4000, low)[0]
    good = write_run(tmp_path / "c", {s: GOOD for s in range(5)})
    assert search_goal(8000, good)[0] and "0 of 15" in search_goal(8000, good)[1]


def test_the_analysis_says_per_control_whether_the_pick_beats_it(tmp_path):
    """From the race's outcome and the trials' parameter counts: one control beaten, one not (two
    seeds are too few), the fresh-seed gap, and the confirmation judged by the 4k goal."""
    from types import SimpleNamespace

    from nas.nni_boundary import Trial
    from nas.reporting.races import multi_analysis
    from nas.results.store import Search
    from search_spaces.choices import network_key

    pick = network_key(EXP3)  # the confirmation run below trains EXP3's network
    rival = lambda gap, n: dict(seeds=list(range(n)), gap=gap, gap_half_width=0.05, verdict="tie")  # noqa: E731
    fresh = dict(seeds=[5, 6, 7], mean=99.0, half_width=0.1, controls={"lqznt4k": rival(-0.02, 3)})
    doc = dict(rungs=[dict(epochs=15, images=55000, seeds=[0, 1], reading="late")], jobs=[], alpha=0.1,
               outcome=dict(pick=pick, seeds=[0, 1, 2], mean=99.0, half_width=0.05, runner_up=None, fresh=fresh,
                            controls={"lqznt4k": rival(0.04, 3), "other": rival(0.10, 2)}))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "rungs.json").write_text(json.dumps(doc))
    trials = [Trial("t1", "SUCCEEDED", {}, {"key": pick, "params": 3700}),
              Trial("t2", "SUCCEEDED", {}, {"key": "control:lqznt4k", "params": 3816}),
              Trial("t3", "SUCCEEDED", {}, {"key": "control:other", "params": 3900})]
    search = Search("m", {"search": dict(max_params=4000)}, trials, tmp_path)
    run = write_run(tmp_path / "s4k-x", {s: [98.0] * 12 + [99.2, 99.3, 99.25] for s in range(5)}, params=3700)
    inp = SimpleNamespace(multi=[search], base={}, finalists={"s4k-x": run})
    text = "\n".join(multi_analysis(inp))
    assert "`lqznt4k` (3,816 parameters): +0.040 over 3 paired seeds, tie; beats it" in text
    assert "`other` (3,900 parameters): +0.100 over 2 paired seeds, tie; does not beat it" in text
    assert "On the fresh seeds: `lqznt4k` -0.020" in text
    assert "`s4k-x`: late test mean >= 99.30%: no (99.25%)" in text
    inp.finalists = {}
    assert "Not confirmed under the protocol yet" in "\n".join(multi_analysis(inp))
    doc["outcome"] = None  # an unfinished race: no analysis
    (tmp_path / "m" / "rungs.json").write_text(json.dumps(doc))
    assert multi_analysis(inp) == []


def test_looks_section_counts_the_test_values_old_selection_files_hold(tmp_path):
    root = tmp_path / "results"
    layout = Layout.at(root)
    write_run(layout.rerank / "s" / "A", {0: [98.0, 98.5], 1: [98.1, 98.6]})  # an old re-rank: test every epoch
    new = write_run(layout.rerank / "s" / "B", {0: [98.0, 98.5]})  # a new one: no test image evaluated
    hist = new.path / "seed0" / "history.json"
    hist.write_text(json.dumps([{**r, "test_loss": None, "test_acc": None} for r in json.loads(hist.read_text())]))
    text = study_report(root, pictures=False).read_text()
    looks = text[text.index("## Looks at the test set"):]
    assert "| re-rank trainings (`rerank/*/*/seed*/history.json`) | 2 | 3 | 4 |" in looks
    assert "No rule reads them" in looks and "| recipe-study trainings" not in looks  # no recipe folder, no row


def test_the_pareto_picture_is_left_out_where_nothing_has_a_test_accuracy(tmp_path):
    # searches since trials stopped reading the test set record no test accuracy: no picture, no crash
    from types import SimpleNamespace

    from nas.reporting.figures import pareto_png

    trial = SimpleNamespace(final={"params": 5000, "default": 97.0})
    search = SimpleNamespace(succeeded=[trial])
    assert pareto_png([search], {}, {}, set(), tmp_path / "pareto.png") is False
    assert not (tmp_path / "pareto.png").exists()
