"""The device figures of the hand-made models and every confirmed run in one table: what each costs
on a microcontroller (nas/footprint.py's conventions) beside its fp32 and int8 test accuracy, and
whether it fits μNAS's public MNIST bound."""
from __future__ import annotations

import statistics

from nas.footprint import footprint
from nas.reporting.inputs import Inputs
from nas.reporting.looks import device_bound
from nas.results.store import Run
from search_spaces.blocks import build_network

# μNAS's MNIST bound (eliberis/uNAS configs/cnn_mnist_aging.py), as this tool counts each figure
UNAS_BOUND = {"ram": 2500, "flash": 4500, "macs": 30_000_000}


def fits_unas(fp) -> bool:
    return all(getattr(fp, k) <= v for k, v in UNAS_BOUND.items())


HANDMADE_INT8 = "int8-handmade"  # exp1-exp4 trained once more for their weights (experiments/handmade_int8.sh)


def _row(name: str, run, arch: dict, shape: tuple[int, int, int], classes: int, note: str, scored=None) -> str:
    """`scored`: the run whose int8 record the row shows, where `run` kept no weights."""
    fp = footprint(build_network(arch, shape, classes), shape)
    fp32 = int8 = "-"
    if run is not None and run.histories:
        fp32 = f"{statistics.fmean(run.late()):.2f}%"
    scored = scored or run
    rec = scored.int8 if scored is not None else None
    if rec and rec.get("seeds") and rec.get("split") == "test":
        values = [v["int8"] for v in rec["seeds"].values() if "int8" in v]
        finals = [v["fp32"] for v in rec["seeds"].values() if "fp32" in v]
        if values and len(values) == len(finals):
            int8 = f"{statistics.fmean(values):.2f}% (fp32 {statistics.fmean(finals):.2f}%, {'seeds' if len(rec['seeds']) > 1 else 'seed'} {','.join(rec['seeds'])})"
    elif not note:
        note = "no weights committed: int8 not scored"
    return (f"| {name} | {fp.params:,} | {fp.macs:,} | {fp.flash:,} B ({fp.weight_bytes:,} B) | {fp.ram:,} B "
            f"({fp.ram_with_input:,} B) | {'yes' if fits_unas(fp) else 'no'} | {fp32} | {int8} | {note} |")


def device_section(inp: Inputs) -> list[str]:
    """The table; [] for a root with neither hand-made models nor confirmed runs."""
    from search_spaces.baselines import BASELINES

    rows = []
    for name in ("exp1", "exp2", "exp3", "exp4"):
        run = inp.base.get(name)
        if run is not None:
            again = Run.load(inp.layout.root / HANDMADE_INT8 / name)
            again = again if again is not None and again.int8 else None
            rows.append(_row(f"`{name}` (hand-made)", run, BASELINES[name]["arch"], (1, 28, 28), 10,
                             f"int8: one seed trained again for its weights (`{HANDMADE_INT8}/{name}`)" if again else "",
                             again))
    # confirmations of device-bound searches (experiments/unas.sh, mcu8k.sh): no parameter budget's finalists
    extra = {name: run for runs in device_bound(inp).values() for name, run in runs if run.complete}
    for name, run in {**inp.finalists, **extra}.items():
        i = run.config.get("input") or {}
        shape = (i.get("channels", 1), i.get("height", 28), i.get("width", 28))
        rows.append(_row(f"`{name}`", run, run.config["arch"], shape, i.get("classes", 10), ""))
    if not rows:
        return []
    bound = ", ".join(f"{k} <= {v:,}" for k, v in UNAS_BOUND.items())
    return ["## Device figures", "",
            "What each network costs on a device that runs its int8 model one operator at a time "
            "(nas/footprint.py states every convention), beside its accuracy. int8 model: every constant "
            "byte of the int8 file (its int8 weight values in brackets); peak RAM: the int8 activations "
            "alive at once, the input left out (with it in brackets); fits μNAS: within μNAS's public MNIST "
            f"bound ({bound}, bytes and MACs). fp32: the late test mean under the protocol (all its seeds' "
            "last 3 epochs, as recorded); int8: the test accuracy of the final weights quantized "
            "(nas/deploy/int8.py), mean over the seeds scored, with the same weights' fp32 accuracy.", "",
            "| network | params | MACs | int8 model (weights) | peak RAM (with input) | fits μNAS | fp32 | int8 | note |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |", *rows, ""]
