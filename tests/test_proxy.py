"""The proxy study: its statistics on known numbers, the rung rule on a made-up table, and a real
study at tiny sizes (trained, resumed, analysed)."""
from __future__ import annotations

import json
import statistics

import pytest

from nas.studies import proxy


def test_ranks_share_ties_and_spearman_matches_known_values():
    assert proxy.ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]
    assert proxy.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert proxy.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    # d = (0, 1, -1, 0, 0): rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert proxy.spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5]) == pytest.approx(0.9)
    assert proxy.spearman([1, 2], [1, 2]) is None and proxy.spearman([1, 1, 1], [1, 2, 3]) is None


def test_top_recall_counts_the_full_best_kept_by_the_proxy():
    full = list(range(30))                       # architecture i scores i: the top 5 are 25..29
    assert proxy.top_recall(full, full) == 1.0
    assert proxy.top_recall([-x for x in full], full) == 0.0
    shuffled = full[:]
    shuffled[29], shuffled[0] = shuffled[0], shuffled[29]  # the proxy ranks the best last
    assert proxy.top_recall(shuffled, full) == 0.8
    assert proxy.top_recall(full[:6], full[:6]) is None  # too few to have a top 5 and a third


def _row(e, n, rho, cost, reading="val_acc last"):
    return {"kind": "proxy", "epochs": e, "images": n, "reading": reading, "spearman": rho, "cost": cost}


def test_schedule_takes_the_cheapest_near_best_rung0_and_a_middle_rung_only_if_it_ranks_clearly_better():
    rows = [_row(1, 20000, 0.50, 0.03), _row(2, 20000, 0.62, 0.05), _row(4, 20000, 0.65, 0.10),
            _row(1, 55000, 0.40, 0.07), _row(4, 55000, 0.80, 0.27), _row(2, 55000, 0.85, 0.14, "val_loss best")]
    rungs = proxy.schedule_from_study({"rows": rows})
    # rung 0 among cost <= 0.2: best 0.85 (2x55k loss); nothing else within 0.05 -> it; no middle rung
    # beats it by 0.1
    assert [(r["epochs"], r["images"], r["reading"]) for r in rungs] == [(2, 55000, "val_loss best")]
    rows[-1]["spearman"] = 0.63  # now 2x20k (0.62, 0.05) is within 0.05 of the best (4x20k 0.65) and cheaper
    rungs = proxy.schedule_from_study({"rows": rows})
    assert [(r["epochs"], r["images"]) for r in rungs] == [(2, 20000), (4, 55000)]  # 0.80 >= 0.62 + 0.1
    assert proxy.schedule_from_study({"rows": [_row(4, 55000, 0.9, 0.27)]}) == []


@pytest.mark.slow  # trains a study in worker processes, twice
def test_a_tiny_study_trains_resumes_and_analyses(tmp_path, data_dir, monkeypatch):
    """Real trainings at tiny sizes: 4 architectures of 1k-3k parameters, proxies of 1 epoch on 256 and on 512 images,
    "full" runs of 2 epochs on 512 images, seeds 0 and 1."""
    monkeypatch.setattr(proxy, "ARCHS", 4)
    monkeypatch.setattr(proxy, "PROXIES", [(1, 256), (1, 512)])
    monkeypatch.setattr(proxy, "FULL_EPOCHS", 2)
    monkeypatch.setattr(proxy, "FULL_IMAGES", 512)
    monkeypatch.setattr(proxy, "EARLY_EPOCHS", (1,))
    monkeypatch.setattr(proxy, "MIN_PARAMS", 1000)  # small networks train fast
    monkeypatch.setattr(proxy, "MAX_PARAMS", 3000)
    root = tmp_path / "proxy"
    lines: list[str] = []
    study = proxy.run(root, jobs=2, data_dir=str(data_dir), log=lines.append)
    archs = json.loads((root / "archs.json").read_text())["archs"]
    assert len(archs) == 4 and all(a["bn"] is True for a in archs.values())
    assert study["complete"] == 4 and len(study["full_scores"]) == 4
    histories = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*/history.json"))
    assert len(histories) == 4 * 4 and not list(root.glob("*/*/checkpoint.pt"))
    assert all(r["test_acc"] is None for h in histories for r in json.loads((root / h).read_text()))
    # ... the test split is never evaluated
    names = {r["proxy"] for r in study["rows"]}
    assert {"1 ep x 256 img, val_acc last", "1 ep x 256 img, val_loss best", "full run, epoch 1",
            "parameters", "FLOPs"} <= names
    assert all(r["n"] == 4 for r in study["rows"])
    assert (root / "proxy.png").stat().st_size > 10000
    assert study["full_seconds_from"] == "measured" and study["not_on_cpu"] == 0
    # a full training that ran on a GPU: its score counts, its seconds do not, and a full training's CPU
    # cost is then estimated at the CPU pace of the proxies on as many images as the full runs
    (root / "a00/e2-n512-s1/device.json").write_text('{"device": "cuda", "name": "a GPU"}')
    on_gpu = proxy.analyse(root)
    assert on_gpu["complete"] == 4 and on_gpu["not_on_cpu"] == 1 and on_gpu["full_seconds_from"] == "estimated"
    paces = [sum(r["seconds"] for r in json.loads(p.read_text())) / 512 for p in root.glob("*/e1-n512-s0/history.json")]
    assert on_gpu["full_seconds_median"] == pytest.approx(statistics.median(paces) * 2 * 512)
    assert all(r["cost"] is not None for r in on_gpu["rows"] if r["kind"] == "proxy")
    full = proxy.Job("a00", 2, 512, 1)  # the time left on a GPU comes from the GPU's trainings alone
    gpu_seconds = sum(r["seconds"] for r in json.loads((root / "a00/e2-n512-s1/history.json").read_text()))
    assert proxy.hours_left(root, archs, [full], 1, "cuda") * 3600 == pytest.approx(gpu_seconds)
    (root / "a00/e2-n512-s1/device.json").unlink()
    # resume: a lost training is trained again, the others are kept as they are
    kept = (root / "a01/e2-n512-s1/history.json").read_text()
    (root / "a00/e1-n256-s0/history.json").unlink()
    lines.clear()
    proxy.run(root, jobs=1, data_dir=str(data_dir), log=lines.append)
    assert "15 trainings done, 1 to run" in lines[0] and "h at the pace so far" in lines[0]
    assert (root / "a00/e1-n256-s0/history.json").exists()
    assert (root / "a01/e2-n512-s1/history.json").read_text() == kept
