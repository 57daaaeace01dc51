"""End to end, all real. One shared search (fixture `soak`: 8 trials on loopback, kept open)
answers several tests: every trial runs to the end two at a time, the dashboard's REST API lists
them with their parameter counts, nothing listens beyond 127.0.0.1, the best architecture is
exported and rebuilt, `export` refuses to overwrite, unknown ids are one line, `view` re-opens the
stopped experiment, and everything stops cleanly. Other tests: refusals before anything starts,
kills and resumes of searches and trainings, diverging trials under a slow NNI manager, a search
of training recipes."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import psutil
import pytest

pytestmark = pytest.mark.slow
SOAK_TRIALS = 8  # four rounds of two: NNI 3.0 stalled within the first few at concurrency 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nas(*args, **kw):
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, **kw)


def rest(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nni/{path}", timeout=10) as r:
        return json.loads(r.read())


def listeners(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port}


def wait_for_line(proc, text: str, timeout: float) -> list[str]:
    lines, end = [], time.time() + timeout
    while time.time() < end:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        if text in line:
            return lines
    proc.kill()
    raise AssertionError(f"never saw {text!r}; output:\n" + "\n".join(lines) + proc.stderr.read())


@pytest.fixture(scope="module")
def soak(tmp_path_factory, data_dir):
    """One real search answers several tests: 8 trials, two at a time, with --early-stop, kept open
    after it ends so the dashboard can be asked, then stopped with Ctrl-C. It yields what was seen
    while it ran (its lines, the dashboard's answers, who listened) and where it wrote."""
    tmp = tmp_path_factory.mktemp("shared-search")  # a name without the id: the id checks below stay honest
    port, res = free_port(), tmp / "res"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nas", "search", "--schedule", "flat", "--id", "soak", "--trials", str(SOAK_TRIALS),
         "--concurrency", "2", "--epochs", "2", "--early-stop", "--train-subset", "768", "--max-params", "8000",
         "--port", str(port), "--results", str(res), "--export-dir", str(tmp / "exports"), "--data-dir", str(data_dir),
         "--keep-open", "--set", "val_size=500", "--set", "eval_batch=5000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = SimpleNamespace(tmp=tmp, port=port, res=res, work=res / "searches", exports=tmp / "exports", exp_id="soak",
                           env=env)
    try:
        seen.lines = wait_for_line(proc, "search done", timeout=1500)
        seen.trial_jobs = rest(port, "trial-jobs")
        seen.status = rest(port, "check-status")["status"]
        seen.listening = listeners(port)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    seen.returncode, seen.listening_after = proc.returncode, listeners(port)
    return seen


def test_every_trial_at_concurrency_two_runs_to_the_end(soak):
    """NNI's tracker has searches that stall after a few trials at concurrency > 1: this one must
    run all its trials, two at a time, and report every one. With --early-stop on, trials below the
    finished trials' median after epoch 1 stop there and still report a result."""
    from nas.results.store import read_trials

    trials = read_trials(soak.work, "soak")
    assert len(trials) == SOAK_TRIALS and all(t.status == "SUCCEEDED" for t in trials), [t.status for t in trials]
    assert len([l for l in soak.lines if l.startswith("trial ")]) == SOAK_TRIALS
    # every trial recorded the sample it really trained, and that sample has the params it reported
    from nas.nni_boundary import _param_count
    assert all(t.sample_from == "trial" and _param_count(t.sample, t.final) == t.final["params"] for t in trials)
    # two at a time, really: some trial started before the previous one ended
    spans = sorted((t.final["first_step_at"], t.final["last_step_at"]) for t in trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))
    stopped = [t for t in trials if t.final.get("early_stopped")]
    assert stopped and len(stopped) < SOAK_TRIALS - 1  # some stop, and not before the median exists
    assert all(t.final["early_stopped"] == 1 == len(t.intermediates) for t in stopped)
    assert all(len(t.intermediates) == 2 for t in trials if t not in stopped)


def test_dashboard_lists_every_trial_on_loopback_only_and_stops_with_the_search(soak):
    """`nas search` says where its dashboard is; the dashboard's REST API lists every trial with its
    parameter count, nothing listens beyond 127.0.0.1, and Ctrl-C stops it all cleanly."""
    assert f"dashboard at http://127.0.0.1:{soak.port}" in "\n".join(soak.lines)
    assert len(soak.trial_jobs) == SOAK_TRIALS and {t["status"] for t in soak.trial_jobs} == {"SUCCEEDED"}
    finals = [json.loads(json.loads(t["finalMetricData"][0]["data"])) for t in soak.trial_jobs]
    assert all(0 < f["params"] <= 8000 and f["flops"] > 0 and 0 <= f["default"] <= 100 for f in finals)
    assert all("test_acc" not in f for f in finals)  # a trial selects: it evaluates no test image
    # the trials started through nas.nni_boundary.trial_entry (its mark), and in this order
    assert all(0 < f["imports_s"] <= f["evaluator_in_s"] <= f["startup_s"] for f in finals)
    assert soak.status in ("DONE", "RUNNING", "NO_MORE_TRIAL")
    assert soak.listening == {"127.0.0.1"}  # nothing but loopback listens on the dashboard port
    assert soak.returncode == 0
    assert not soak.listening_after, "the dashboard outlived the search"


def test_search_exports_its_best_and_export_never_overwrites_silently(soak):
    """The search exported its best trial (by validation, then fewer parameters), whose model.py
    rebuilds it with the recorded count; `nas export` again is refused without --force (one line,
    exit 2) and writes the top 2 with it."""
    finals = [json.loads(json.loads(t["finalMetricData"][0]["data"])) for t in soak.trial_jobs]
    out = soak.exports / "soak"
    arch_files = list(out.glob("rank1_*/arch.json"))
    assert len(arch_files) == 1
    entry = json.loads(arch_files[0].read_text())
    best = max(finals, key=lambda f: (f["default"], -f["params"]))
    assert entry["params"] == best["params"] and entry["metrics"]["default"] == best["default"]
    check = subprocess.run([sys.executable, str(arch_files[0].parent / "model.py")],
                           capture_output=True, text=True, check=True)
    assert f"{entry['params']} parameters" in check.stdout
    # a flat search's pick is trained (proxy-trained): its int8 file is written and recorded beside model.onnx
    int8 = entry["int8"]
    assert (arch_files[0].parent / "model.int8.onnx").stat().st_size == int8["bytes"]["int8"]
    assert int8["accuracy"]["images"] == 500 and int8["accuracy"]["fp32"] == entry["onnx"]["val_acc"]["onnxruntime"]
    assert int8["latency_ms"]["int8"] > 0 and int8["constant_bytes"]["int8_conv_weights"] > 0
    assert "int8: model.int8.onnx" in (arch_files[0].parent / "table.txt").read_text()

    again = nas("export", "soak", "--results", str(soak.res), "--out", str(out))
    assert again.returncode == 2 and again.stderr.strip().count("\n") == 0 and "--force" in again.stderr
    forced = nas("export", "soak", "--results", str(soak.res), "--out", str(out), "--top-k", "2", "--force")
    assert forced.returncode == 0, forced.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"] == SOAK_TRIALS and len(summary["ranking"]) == SOAK_TRIALS
    assert len(list(out.glob("rank*_*/model.py"))) == 2


def test_an_unknown_id_is_one_clear_line(soak):
    """view, resume and export of an id the results root lacks: one line naming the ids it has."""
    for cmd in ("view", "resume", "export"):
        bad = nas(cmd, "nosuchid", "--results", str(soak.res))
        assert bad.returncode == 2 and "no experiment 'nosuchid'" in bad.stderr and "known: soak" in bad.stderr


def test_view_reopens_a_stopped_experiment_under_a_home_that_never_saw_it(soak):
    """`nas view` re-opens the stopped experiment's dashboard on loopback, also under a home whose
    NNI manifest has never heard of it (a cloned results folder, another machine)."""
    fresh = dict(soak.env, HOME=str(soak.tmp / "fresh-home"))
    port = free_port()
    view = subprocess.Popen([sys.executable, "-m", "nas", "view", "soak", "--results", str(soak.res), "--port", str(port),
                             "--seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=fresh)
    try:
        wait_for_line(view, "dashboard at", timeout=120)
        deadline = time.time() + 60
        while True:
            try:
                assert len(rest(port, "trial-jobs")) == SOAK_TRIALS
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(1)
        assert listeners(port) == {"127.0.0.1"}
    finally:
        view.send_signal(signal.SIGINT)
        view.wait(timeout=60)
    assert view.returncode == 0
    manifest = json.loads((soak.tmp / "fresh-home" / "nni-experiments" / ".experiment").read_text())
    assert manifest["soak"]["logDir"] == str(soak.work.resolve())


def test_port_in_use_is_refused(tmp_path, data_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = nas("search", "--trials", "1", "--port", str(port), "--results", str(tmp_path / "res"),
                "--data-dir", str(data_dir), timeout=120)
    assert r.returncode == 2 and f"port {port}" in r.stderr and r.stderr.strip().count("\n") == 0


def test_impossible_budget_is_refused(tmp_path, data_dir):
    r = nas("search", "--max-params", "50", "--results", str(tmp_path / "res"), "--data-dir", str(data_dir),
            timeout=120)
    assert r.returncode == 2 and "no architecture of the space fits the budget" in r.stderr
    assert not (tmp_path / "res" / "searches").exists()


def test_bad_fixed_label_is_refused_before_anything_is_written(tmp_path, data_dir):
    r = nas("search", "--fix", "bn=yes", "--results", str(tmp_path / "res"), "--data-dir", str(data_dir),
            timeout=120)
    assert r.returncode == 2 and "bn=yes is not in the space; choices: True, False" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and not (tmp_path / "res" / "searches").exists()


def _search_with_node_preload(tmp_path, data_dir, js: str):
    """A one-trial search whose NNI manager (a node process) first runs `js` (NODE_OPTIONS)."""
    preload = tmp_path / "preload.js"
    preload.write_text(js)
    env = dict(os.environ, NODE_OPTIONS=f"--require {preload}")
    return nas("search", "--schedule", "flat", "--trials", "1", "--epochs", "1", "--train-subset", "500",
               "--max-params", "8000", "--port", str(free_port()), "--data-dir", str(data_dir),
               "--set", "val_size=500", "--results", str(tmp_path / "res"), timeout=400, env=env)


def test_dead_manager_is_one_line_error(tmp_path, data_dir):
    r = _search_with_node_preload(tmp_path, data_dir, "process.exit(1);\n")
    assert r.returncode == 2 and "did not answer" in r.stderr and "exited before it answered" in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0, r.stderr


def _samples(trials) -> list[str]:
    """The networks the succeeded trials trained (labels a network ignores dropped)."""
    from search_spaces.mnist import canonical

    return [json.dumps(canonical(t.sample), sort_keys=True) for t in trials if t.status == "SUCCEEDED"]


def test_search_killed_at_random_moments_resumes_to_its_trial_count(tmp_path, data_dir):
    """SIGKILL `nas search` (its NNI manager and a trial live on, holding the port), resume, SIGKILL
    the resumed search at a random moment, resume again: in the end exactly --trials trials finished,
    none lost or trained twice, nothing of the experiment is left running, and export sees them all.
    Then `resume --trials` below the count is refused, and above it the search goes on to the new
    count (NNI 3.0 alone hangs on a resume; see nni_boundary.skip_hpo_commands_on_resume).
    (What the removed test_stopped_search_resumes_to_new_trials asked is answered here and elsewhere:
    a clean Ctrl-C stop is the end of the shared `soak` search, and the resume of a search stopped
    cleanly mid-run is test_asha's SIGTERM.)"""
    import random

    from nas.results.store import read_trials

    # seeded, so a failure replays: NAS_TEST_SEED=<n> picks another moment, NAS_TEST_SEED=random a fresh one
    seed = os.environ.get("NAS_TEST_SEED", "1")
    seed = random.randrange(1, 2**31) if seed == "random" else int(seed)
    print(f"NAS_TEST_SEED={seed}")  # shown with a failure's captured output
    rng = random.Random(seed)
    work, port = tmp_path / "res" / "searches", free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    common = ["--results", str(work.parent), "--port", str(port)]  # resume exports where the launch said
    proc = subprocess.Popen(
        [sys.executable, "-m", "nas", "search", "--schedule", "flat", "--id", "k9", "--trials", "5", "--concurrency", "2", "--epochs", "1",
         "--train-subset", "768", "--max-params", "8000", "--data-dir", str(data_dir), "--set", "val_size=500",
         "--set", "eval_batch=5000", *common, "--export-dir", str(tmp_path / "exports")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_line(proc, "trial   1/5", timeout=300)
    proc.kill()
    proc.wait(timeout=30)
    kept = {t.id: t.final for t in read_trials(work, "k9") if t.status == "SUCCEEDED"}
    assert 1 <= len(kept) < 5

    proc = subprocess.Popen([sys.executable, "-m", "nas", "resume", "k9", *common], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    out = wait_for_line(proc, "more to run", timeout=120)
    assert any("stopped NNI manager" in l for l in out)  # the orphan of the first kill
    time.sleep(rng.uniform(5, 25))
    proc.kill()
    proc.wait(timeout=30)

    final = nas("resume", "k9", *common, timeout=600, env=env)
    assert final.returncode == 0, final.stderr
    trials = read_trials(work, "k9")
    done = {t.id: t.final for t in trials if t.status == "SUCCEEDED"}
    assert len(done) == 5, [(t.id, t.status) for t in trials]
    assert all(done[k] == v for k, v in kept.items())          # nothing finished was lost or changed
    assert len(set(_samples(trials))) == 5                      # ...or trained twice
    assert all(t.status in ("SUCCEEDED", "USER_CANCELED") for t in trials)
    assert all("interrupted" in t.reason for t in trials if t.status == "USER_CANCELED")
    assert "rank 1:" in final.stdout
    summary = json.loads((tmp_path / "exports" / "k9" / "summary.json").read_text())
    assert summary["trials"] == len(trials) and summary["succeeded"] == 5
    from nas.nni_boundary import managers as _managers

    assert not _managers("k9") and not listeners(port)

    # a new trial count: below the finished ones is refused, above them the search goes on
    short = nas("resume", "k9", "--trials", "4", *common, timeout=120, env=env)
    assert short.returncode == 2 and "below the 5 trials" in short.stderr
    longer = nas("resume", "k9", "--trials", "6", *common, timeout=400, env=env)
    assert longer.returncode == 0, longer.stderr
    more = {t.id: t.final for t in read_trials(work, "k9") if t.status == "SUCCEEDED"}
    assert len(more) == 6 and all(more[k] == v for k, v in done.items())
    record = json.loads((work / "k9" / "nas.json").read_text())
    assert record["search"]["trials"] == 6
    from search_spaces.choices import CHOICES

    assert record["choices"] == json.loads(json.dumps(CHOICES))  # the space a later resume rebuilds


def test_diverging_trials_fail_with_their_reason_under_a_slow_manager(tmp_path, data_dir):
    """A trial whose loss turns NaN is marked FAILED with the reason; the search still runs every trial.
    The same search's NNI manager takes 8 s to answer (a cold disk on a machine just started): the
    search still runs, where NNI 3.0 alone gives up after 3 s with a traceback (nni_boundary.start)."""
    preload = tmp_path / "preload.js"
    preload.write_text("const t = Date.now() + 8000; while (Date.now() < t) {}\n")
    r = nas("search", "--schedule", "flat", "--trials", "2", "--epochs", "1", "--train-subset", "300", "--port", str(free_port()),
            "--results", str(tmp_path / "res"), "--export-dir", str(tmp_path / "exports"), "--data-dir", str(data_dir),
            "--set", "val_size=300", "--set", "lr=1e6", "--set", "schedule=constant", "--set", "augment=false",
            "--fix", "bn=false",  # BatchNorm can keep even this LR finite for one epoch
            timeout=400, env=dict(os.environ, NODE_OPTIONS=f"--require {preload}"))
    assert "did not answer" not in r.stderr, r.stderr  # the slow manager was waited for
    lines = [l for l in r.stdout.splitlines() if l.startswith("trial ")]
    failed = [l for l in lines if "FAILED" in l]
    assert len(lines) == 2 and failed  # both trials ran; at least one diverged
    assert all("training diverged: loss is nan" in l for l in failed)
    if len(failed) == len(lines):  # nothing to export: one line that says why
        assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "training diverged" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
        assert "rank 1:" in r.stdout
        summary = json.loads(next((tmp_path / "exports").glob("*/summary.json")).read_text())
        assert len(summary["failed"]) == len(failed)
        assert all("training diverged" in f["reason"] for f in summary["failed"])


def test_killed_training_resumes_to_identical_weights(tmp_path, data_dir):
    """SIGKILL `nas train` after its second epoch, `--resume` it: the final weights are bitwise those
    of an uninterrupted run (3 epochs: one left to resume is enough)."""
    import torch

    args = ["train", "exp4", "--epochs", "3", "--data-dir", str(data_dir), "--set", "train_subset=1000",
            "--set", "val_size=500", "--set", "threads=1", "--no-test"]  # the test set would be most of the time
    whole = nas(*args, "--out", str(tmp_path / "whole"), timeout=600)
    assert whole.returncode == 0, whole.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "nas", *args, "--out", str(run)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = []
    while True:  # the epoch-2 line is printed after the epoch-2 checkpoint is written
        line = proc.stdout.readline()
        assert line, "training ended before epoch 2"
        lines.append(line)
        if line.split() and line.split()[0] == "2":
            break
    proc.kill()
    proc.wait(timeout=30)
    assert not (run / "seed0" / "model.pt").exists()  # it really died mid-run
    again = nas(*args, "--out", str(run), timeout=600)
    assert again.returncode == 2 and "--resume" in again.stderr  # no silent overwrite
    resumed = nas(*args, "--out", str(run), "--resume", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a = torch.load(tmp_path / "whole" / "seed0" / "model.pt")
    b = torch.load(run / "seed0" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    h = json.loads((run / "seed0" / "history.json").read_text())
    assert [r["epoch"] for r in h] == [1, 2, 3]


def test_killed_parallel_training_leaves_no_worker_behind(tmp_path, data_dir):
    """SIGKILL `nas train --jobs 2`, then SIGTERM its `--resume`: each time its two seed workers die
    with it (they would otherwise train on and write into the run folder); SIGTERM is a clean stop that
    says how to continue, and a last `--resume` finishes the run."""
    args = ["train", "exp3", "--epochs", "2", "--seeds", "0,1", "--jobs", "2", "--data-dir", str(data_dir),
            "--set", "train_subset=2560", "--set", "val_size=500", "--no-test", "--out", str(tmp_path / "run")]

    def stop_while_training(sig, *extra) -> tuple[int, str]:
        proc = subprocess.Popen([sys.executable, "-m", "nas", *args, *extra], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wait_for_line(proc, "[seed 1]", timeout=300)  # both workers are up and training
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len([w for w in workers if "spawn_main" in " ".join(w.cmdline())]) == 2
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"{sig!r} left workers behind"
        return code, proc.stderr.read()

    stop_while_training(signal.SIGKILL)
    code, err = stop_while_training(signal.SIGTERM, "--resume")
    assert code == 143 and "--resume" in err  # a clean stop that says how to continue
    resumed = nas(*args, "--resume", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(json.loads((tmp_path / "run" / "summary.json").read_text())["seeds"]) == ["0", "1"]


def test_recipe_search_trains_each_candidate_with_its_recipe_and_exports_it(tmp_path, data_dir):
    """--search-recipe: the recipe labels are NNI choices, each trial trains with its own (said in its
    final result), and the export carries them; pinning one without the flag is refused first."""
    common = ["--results", str(tmp_path / "res"), "--data-dir", str(data_dir)]
    r = nas("search", "--fix", "lr_x=2", *common, timeout=120)
    assert r.returncode == 2 and "--search-recipe" in r.stderr and not (tmp_path / "res" / "searches").exists()
    r = nas("search", "--schedule", "flat", "--search-recipe", "--fix", "lr_x=2,aug_x=0", "--trials", "2",
            "--epochs", "1", "--train-subset", "768", "--max-params", "8000", "--port", str(free_port()),
            "--id", "rec", *common, "--set", "val_size=500", "--set", "eval_batch=5000", timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    from nas.results.store import load_record, read_trials
    from search_spaces.choices import RECIPE_CHOICES, recipe_overrides

    workdir = tmp_path / "res" / "searches"
    record = load_record(workdir, "rec")
    assert set(RECIPE_CHOICES) <= set(record["choices"])  # a resume rebuilds this space
    trials = [t for t in read_trials(workdir, "rec") if t.status == "SUCCEEDED"]
    assert len(trials) == 2
    for t in trials:  # the pinned labels, and whatever batch_x / smooth NNI sampled, each as its sample says
        assert t.final["recipe"] == recipe_overrides(t.sample, record["train"])
        assert {"lr": 0.1, "augment": False}.items() <= t.final["recipe"].items()
    exported = json.loads(next((tmp_path / "res" / "exports" / "rec").glob("rank1_*/arch.json")).read_text())
    assert exported["arch"]["lr_x"] == 2.0 and exported["recipe"] == recipe_overrides(exported["arch"], record["train"])
