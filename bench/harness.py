"""Timing helpers: medians of repeated runs, and a table of results.

Figures are wall-clock medians on whatever machine runs them; compare ratios measured in the
same run rather than absolute numbers across machines.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass
class Result:
    name: str
    median_s: float
    runs_s: list[float] = field(default_factory=list)
    note: str = ""


def measure(name: str, action: Callable[[], object], *, repeat: int = 5, note: str = "") -> Result:
    """Run ``action`` once to warm up, then ``repeat`` times; keep the median."""
    action()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return Result(name=name, median_s=statistics.median(runs), runs_s=runs, note=note)


def report(results: list[Result], *, title: str) -> None:
    width = max(len(result.name) for result in results)
    print(f"\n{title}")
    print(f"{'benchmark':<{width}}  {'median':>10}  runs")
    for result in results:
        runs = " ".join(f"{run * 1000:.1f}" for run in result.runs_s)
        print(f"{result.name:<{width}}  {result.median_s * 1000:>8.1f}ms  [{runs}] {result.note}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
