"""Timing helpers: medians of repeated runs, a table of results, and a page run the way a
signed-in browser runs it (AppTest, through the shell).

Figures are wall-clock medians on whatever machine runs them; compare ratios measured in the
same run rather than absolute numbers across machines.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

RESULTS = Path(__file__).parent / "results"


class _NoBareModeWarning(logging.Filter):
    """Streamlit warns of a "missing ScriptRunContext" each time AppTest's state is set
    outside a run, which is how every page benchmark starts: dozens of lines through the
    table. A filter, not a level: Streamlit resets its loggers' levels when it reads its
    configuration."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "missing ScriptRunContext" not in record.getMessage()


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
    _NoBareModeWarning()
)
# Streamlit's registry of installed components. A new AppTest scans the installed packages
# for them on its first run (about 60–100 ms); a served portal scans once at start-up, so
# every page benchmark reuses the one scan instead of timing it with each render.
_components: Any = None


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


def open_page(
    handle: str, script: str = "Home.py", state: dict[str, object] | None = None
) -> AppTest:
    """Run ``script`` once for the session ``handle`` with ``state`` in session state (a table
    widget's filter, sort and page, say); raises what the page raised."""
    from streamlit.testing.v1 import AppTest

    from portal_core.settings import ROOT

    global _components
    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60)
    if not hasattr(app, "_bidi_component_manager"):
        raise RuntimeError("AppTest no longer keeps its component registry: update the harness")
    app._bidi_component_manager = _components  # None the first time: AppTest scans once
    app.session_state["portal.session_handle"] = handle
    for key, value in (state or {}).items():
        app.session_state[key] = value
    if script != "Home.py":
        app.switch_page(script)
    app.run()
    _components = app._bidi_component_manager
    if app.exception:
        raise RuntimeError(app.exception[0].message)
    return app


def report(results: list[Result], *, title: str) -> None:
    width = max(len(result.name) for result in results)
    print(f"\n{title}")
    print(f"{'benchmark':<{width}}  {'median':>10}  runs (ms)")
    for result in results:
        runs = " ".join(f"{run * 1000:.1f}" for run in result.runs_s)
        print(f"{result.name:<{width}}  {result.median_s * 1000:>8.1f}ms  [{runs}] {result.note}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
