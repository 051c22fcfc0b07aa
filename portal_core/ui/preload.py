"""Fetching, while the login form waits for a password, the browser code the Dashboard draws
with.

Streamlit's page loads the code of each kind of element (a metric, a Plotly chart…) from
its own file the first time one is drawn. After a login that is the Dashboard's first run,
and the server that sends those files is busy running it: on a new device the Balance
waited a third of a second for its file. The login form has the browser import them (with
the files they import) beforehand, from the addresses Streamlit imports them from, so the
Dashboard draws with code already there. The files are named by Streamlit's build
(``Metric.<hash>.js``), found in its static folder by their element's name; a file not found
is not asked for, and costs only that wait.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import streamlit as st

from portal_core.ui import scripts

# The elements the Dashboard draws that the login page does not: the cards, the shortcuts'
# and checklist's HTML, the allowance bar and the charts.
DASHBOARD_ELEMENTS = ("Metric", "Html", "Progress", "PlotlyChart")

_SCRIPT = """
(() => {
  const main = document.querySelector('script[type="module"][src*="/static/js/index."]');
  if (!main) return;
  const folder = main.src.slice(0, main.src.lastIndexOf("/") + 1);
  // The same addresses Streamlit imports them from: the browser keeps one copy of each.
  for (const file of %(files)s) import(folder + file).catch(() => {});
})();
"""


@cache
def element_files(names: tuple[str, ...] = DASHBOARD_ELEMENTS) -> tuple[str, ...]:
    """The file of each element's code in this Streamlit build (those found)."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    return tuple(sorted(path.name for name in names for path in folder.glob(f"{name}.*.js")))


def dashboard_code() -> None:
    """Ask the browser to fetch the Dashboard's element code now (drawn with the login form)."""
    files = element_files()
    if files:
        scripts.run(_SCRIPT % {"files": json.dumps(files)})
