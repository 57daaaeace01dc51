"""Shared by the benchmark scripts: print a result section and append it to bench/RESULTS.md."""
from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n\nAppended by the benchmark scripts in this folder; newest last.\n"


def publish(lines: list[str]) -> None:
    text = "\n".join(lines + [""])
    print(text)
    old = RESULTS.read_text() if RESULTS.exists() else HEADER
    RESULTS.write_text(old.rstrip("\n") + "\n\n" + text)
