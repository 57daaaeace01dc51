"""Second stage of a search: re-rank its best trials by training each with the full schedule.

A search scores every candidate after a short proxy (a few epochs); two models that end 0.05 points
apart after 15 epochs cannot be told apart that way. `nas rerank` takes the trials whose proxy
validation accuracy is within `within` points of the best (at most `top` of them), trains each for
`epochs` (default 15, the confirmation length) with one or more seeds on the training split, the
validation split held out as in the search, and ranks them by the mean validation accuracy of their
last 3 epochs (averaged over the seeds): the late-epoch window the consistency verdict looks at. A
single seed's number moves by about 0.05-0.1 points from seed to seed, as much as the gaps between
the best candidates, so `--seeds 0,1` buys a steadier pick for twice the cost. The trainings
evaluate no test image (`nas.training.runs.run(evaluate_test=False)`). `nas finalist` then picks the re-rank's winner for that search.

    nas rerank s8k-evolution-edge --workdir results/searches --seeds 0,1 --jobs 2
        # -> results/rerank/s8k-evolution-edge/<trial>/   one `nas train` run folder per candidate
        #    results/rerank/s8k-evolution-edge/rerank.json  candidates, scores and the pick

Each candidate trains its seeds at once (at most `jobs` of them), and `jobs // seeds` candidates
train at once: with one seed, `jobs` candidates; with seeds 0,1 and `--jobs 8` (a GPU serves eight
trainings at 4x the images/s of one: bench/RESULTS.md), four candidates of two seeds.

Finished candidates are skipped and interrupted ones continue from their checkpoints, so the same
command resumes a re-rank.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import asdict, replace
from pathlib import Path

from nas.atomic import write_text
from nas.config import TrainConfig, default_threads
from nas.deploy.export import export
from nas.errors import ConfigError
from nas.facts import LATE_EPOCHS
from nas.results.store import Run, Search, finished
from nas.training.runs import run
from nas.training.workers import map_in_workers, print_flush


def candidates(trials: list, within: float, top: int) -> list:
    """The ranked trials (`Search.ranked`: best first, one per network) within `within` points of
    the best, at most `top`."""
    if not trials:
        return []
    best = trials[0].val_acc
    return [t for t in trials if t.val_acc >= best - within][:top]


def _candidate_job(args: tuple) -> None:
    """One candidate's training (in a worker process when several run at once)."""
    arch, cfg, seeds, out, data_dir, resume, name, source, in_worker, seed_jobs = args
    run(arch, cfg, seeds, out, data_dir, resume=resume, name=name, source=source, jobs=seed_jobs,
        evaluate_test=False, log=(lambda line: print_flush(f"[{name}] {line}")) if in_worker else print)


def rerank(workdir: str, exp_id: str, exports: Path, out: Path, cfg: TrainConfig, within: float = 0.2,
           top: int = 4, seeds: list[int] | tuple = (0,), jobs: int = 1, data_dir: str | None = None) -> dict:
    """Train the candidates of `exp_id` into `out/<trial>` and write `out/rerank.json`; return its dict."""
    seeds = list(seeds)
    if cfg.val_size <= 0:
        raise ConfigError("a re-rank scores on the validation split: val_size must be above 0")
    if top < 1 or within < 0 or jobs < 1 or not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"need --top >= 1, --within >= 0, --jobs >= 1 and distinct seeds "
                          f"(got {top}, {within}, {jobs}, {seeds})")
    ranked = Search.load(Path(workdir), exp_id).ranked()  # a network trained twice is one candidate
    chosen = candidates(ranked, within, top)
    if not chosen:
        raise ConfigError(f"experiment {exp_id} has no trial with a result to re-rank")
    folders = [exports / exp_id / f"rank{i}_{t.id}" for i, t in enumerate(chosen, 1)]
    if not all((f / "arch.json").exists() for f in folders):  # export the candidates first
        summary = exports / exp_id / "summary.json"
        by = json.loads(summary.read_text()).get("written_by", "export") if summary.exists() else "export"
        export(workdir, exp_id, exports / exp_id, top_k=len(chosen), force=True, written_by=by)
    # each candidate's seeds in parallel (nas.training.runs.run), and as many candidates at once as `jobs`
    # leaves room for: one seed, `jobs` candidates; two seeds and 8 jobs (a GPU), 4 candidates
    seed_jobs = min(jobs, len(seeds))
    jobs = max(1, min(jobs // seed_jobs, len(chosen)))
    cfg = replace(cfg, threads=cfg.threads or default_threads(jobs * seed_jobs))
    todo = []
    for t, folder in zip(chosen, folders):
        entry = json.loads((folder / "arch.json").read_text())
        run_dir = out / t.id
        if not finished(run_dir, seeds):
            todo.append((entry["arch"], cfg, seeds, run_dir, data_dir, (run_dir / "config.json").exists(),
                         folder.name, str(folder / "arch.json"), jobs > 1, seed_jobs))
    print(f"rerank {exp_id}: {len(chosen)} candidates within {within} points of the best proxy score, "
          f"{cfg.epochs} epochs, seeds {','.join(map(str, seeds))}; {len(chosen) - len(todo)} already done, "
          f"{jobs * seed_jobs} trainings at once", flush=True)
    if jobs == 1:
        for job in todo:
            _candidate_job(job)
    elif todo:
        map_in_workers(_candidate_job, todo, jobs)
    rows = []
    for t, folder in zip(chosen, folders):
        done = Run.load(out / t.id)
        seed_scores = done.seed_scores(seeds)
        rows.append({"trial": t.id, "export": folder.name, "params": done.params,
                     "flops": done.config["flops"], "proxy_val_acc": t.val_acc,
                     "late_val_acc": [a for seed in done.late_by_seed(seeds) for a in seed],
                     "seed_scores": seed_scores, "score": statistics.fmean(seed_scores)})
    rows.sort(key=lambda r: (-r["score"], r["params"]))
    result = {"experiment": exp_id, "within": within, "top": top, "seeds": seeds, "seed": seeds[0],
              "train": asdict(replace(cfg, seed=seeds[0])), "candidates": rows, "pick": rows[0]["trial"],
              "rule": f"mean validation accuracy of the last {LATE_EPOCHS} of {cfg.epochs} epochs"
                      + (f", averaged over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else "")
                      + "; fewer parameters break ties"}
    write_text(out / "rerank.json", json.dumps(result, indent=2) + "\n")
    return result
