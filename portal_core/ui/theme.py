"""Dark mode, remembered per user in the database and applied on every page.

Streamlit 1.67 cannot set the theme from Python, and CSS cannot restyle its data grids or
Plotly charts; ``.streamlit/config.toml`` defines ``[theme.light]`` and ``[theme.dark]``, and
the browser picks the active one from ``localStorage["stActiveTheme-<path>-v2"]`` (one key per
URL path; the value is the JSON string "Light", "Dark" or "System"; none stored is "System",
the browser's preference). So each run, a small script writes the user's choice under the key
of every page of the portal, and reloads once if the current page shows another theme than
the user's: a first sign-in on a new device whose preference matches the user's choice (light
for most) costs no reload. A new device or a cleared browser gets the same
choice on its first page. The key's format belongs to Streamlit: the browser journey test
``test_dark_mode_survives_reload`` fails if an upgrade changes it.
"""

from __future__ import annotations

import json

import streamlit as st

from portal_core.settings import get_settings
from portal_core.ui.registry import PAGES, PageSpec

THEME_KEY_FORMAT = "stActiveTheme-{path}-v2"

_SCRIPT = """
<script>
(() => {
  const want = JSON.stringify(%(theme)s);
  const here = %(here)s;
  const path = window.location.pathname;
  const base = here && path.endsWith("/" + here)
    ? path.slice(0, -here.length - 1)
    : path.replace(/\\/$/, "");
  // What this page shows now: its stored choice, else (none stored, or "System") the
  // browser's preference, which Streamlit follows when both themes are configured.
  const shows = (stored) => {
    let choice = "System";
    try { if (stored !== null) choice = JSON.parse(stored); } catch (_) { /* not Streamlit's */ }
    if (choice === "Light" || choice === "Dark") return choice;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "Dark" : "Light";
  };
  let reload = false;
  for (const page of %(pages)s) {
    const key = "stActiveTheme-" + base + "/" + page + "-v2";
    const stored = window.localStorage.getItem(key);
    if (stored !== want) {
      window.localStorage.setItem(key, want);
      if (page === here && shows(stored) !== JSON.parse(want)) reload = true;
    }
  }
  if (!reload) return;
  // Reload only once the login cookie is stored: a reload without it would lose a first
  // login. If it never comes, keep the page as it is; the next page tries again.
  const cookie = %(cookie)s;
  let tries = 0;
  const go = () => {
    if (document.cookie.split("; ").some(c => c.startsWith(cookie + "="))) {
      window.location.reload();
    } else if (tries++ < 60) {
      setTimeout(go, 150);
    }
  };
  go();
})();
</script>
"""


def apply(dark: bool, current: PageSpec) -> None:
    """Make the browser show the user's theme on every page of the portal."""
    script = _SCRIPT % {
        "theme": json.dumps("Dark" if dark else "Light"),
        "here": json.dumps(current.url_path),
        "pages": json.dumps(sorted({page.url_path for page in PAGES})),
        "cookie": json.dumps(get_settings().cookie_name),
    }
    st.html(script, unsafe_allow_javascript=True)
