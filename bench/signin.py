"""Signing in through a real browser: from the click on Log in until the Dashboard's balance is
visible, in Debian's Chromium driven by Playwright, median of 5 after a warm-up.

The portal is served the way ``make run`` serves it (uvicorn, one ASGI app) on a free loopback
port, over a temporary SQLite database migrated and seeded with the demo by its own command
line, with the production bcrypt cost (``BCRYPT_ROUNDS`` unset: 12). Each sign-in opens a fresh
browser context (a new device: no cookie, no stored theme, nothing cached), opens "/", waits
until the login page has fetched and compiled what it fetches (a person takes that long to
type), types the demo owner's e-mail and password and clicks Log in. A second figure does the
same in one context that signed in before, signed out by clearing its cookies.

The time ends when the Dashboard's Balance card was last drawn by a finished run, once the
page has been quiet (no run, no reload) for ``QUIET_S``: a Balance drawn, then greyed by a
rerun or wiped by a reload, is not yet the end. A script in every document of the context
records, in the tab's ``sessionStorage``, when the card appeared, how many script runs and
documents there were, and how many values components posted back (each one a rerun); those
counts are in the result's note, so that a regression says where it comes from.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Result
from tests.support.served import CHROMIUM, CHROMIUM_ARGS, serve_portal

EMAIL, PASSWORD = "owner@demo.sipstack.test", "Demo-owner-Harbor-2026"
REPEAT = 5
TARGET_S = 1.0
QUIET_S = 2.0
TIMEOUT_S = 60.0
COOKIE_NAME = "sipstack_portal"

# Runs in every document of the context before the page's own scripts. The tab's
# sessionStorage outlives a reload, so the counts cover every document after the click.
INSTRUMENT = """
(() => {
  if (window.top !== window) return;  // components' frames: not the page
  const store = window.sessionStorage;
  const bump = (key) => store.setItem(key, String(Number(store.getItem(key) || 0) + 1));
  const log = (what) => store.setItem(
    "bench.log", (store.getItem("bench.log") || "") + Date.now() + " " + what + "\\n"
  );
  bump("bench.documents");
  log("document");
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (data && data.isStreamlitMessage && data.type === "streamlit:setComponentValue") {
      bump("bench.componentValues");
      log("component value");
    }
  });
  let running = false;
  let shown = false;
  const balanceShown = () => {
    for (const label of document.querySelectorAll(
      '[data-testid="stElementContainer"][data-stale="false"] [data-testid="stMetricLabel"]'
    )) {
      if (label.textContent.trim() === "Balance") return true;
    }
    return false;
  };
  const look = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const nowRunning = !!app && app.getAttribute("data-test-script-state") === "running";
    if (nowRunning && !running) { bump("bench.runs"); log("run starts"); }
    if (!nowRunning && running) log("run ends");
    running = nowRunning;
    const nowShown = balanceShown();
    if (nowShown && !shown) {
      const at = String(Date.now());
      store.setItem("bench.balanceAt", at);
      log("balance shown");
      if (!store.getItem("bench.balanceFirstAt")) store.setItem("bench.balanceFirstAt", at);
    }
    if (!nowShown && shown) log("balance gone");
    shown = nowShown;
  };
  new MutationObserver(look).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
})();
"""

# Resolves once the page's main thread has had nothing to do (compiling code included).
IDLE = "() => new Promise(done => requestIdleCallback(() => done(), {timeout: 10000}))"

_COUNTERS = (
    "bench.documents",
    "bench.runs",
    "bench.componentValues",
    "bench.balanceAt",
    "bench.balanceFirstAt",
)


@dataclass(frozen=True)
class SignIn:
    """One sign-in: seconds to the last Balance drawn and to the first, and what happened
    after the click."""

    seconds: float
    first_seconds: float
    runs: int
    reloads: int
    component_values: int


@contextmanager
def served_portal() -> Iterator[str]:
    """The demo portal served by uvicorn on a free loopback port, with the production bcrypt
    cost and the scheduler on, as ``make run`` serves it; yields its address."""
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-signin-"))
    settings = {
        "COOKIE_NAME": COOKIE_NAME,
        "COOKIE_KEY": "benchmark-only-cookie-key-0123456789abcdef",
    }
    try:
        with serve_portal(folder, settings, unset=("BCRYPT_ROUNDS",)) as served:
            yield served.url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sign_in_once(browser: object, url: str, *, returning: object | None = None) -> SignIn:
    """One sign-in in a fresh context (see the module docstring), or in ``returning``, a
    context that has signed in before (its cookie cleared first: signed out)."""
    from playwright.sync_api import Browser, BrowserContext, expect

    assert isinstance(browser, Browser)
    if returning is None:
        context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
        context.add_init_script(INSTRUMENT)
    else:
        assert isinstance(returning, BrowserContext)
        context = returning
        context.clear_cookies()
    page = context.new_page()
    try:
        page.goto("/")
        form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in"))
        expect(form).to_be_visible(timeout=TIMEOUT_S * 1000)
        expect(page.get_by_test_id("stApp")).to_have_attribute(
            "data-test-script-state", "notRunning", timeout=TIMEOUT_S * 1000
        )
        # A person takes seconds to type an e-mail and a password: whatever the login page
        # fetches and compiles meanwhile is done before the click.
        page.wait_for_load_state("networkidle", timeout=TIMEOUT_S * 1000)
        page.evaluate(IDLE)
        form.get_by_label("E-mail", exact=True).fill(EMAIL)
        form.get_by_label("Password", exact=True).fill(PASSWORD)
        button = form.get_by_role("button", name="Log in")
        page.evaluate(
            "keys => keys.forEach(key => sessionStorage.removeItem(key))",
            [*_COUNTERS, "bench.log"],
        )
        clicked_ms = time.time() * 1000
        button.click()
        counts = _quiet(page, context)
        balance_at = counts["bench.balanceAt"]
        if os.environ.get("BENCH_TRACE"):
            _trace(page.evaluate("() => sessionStorage.getItem('bench.log') || ''"), clicked_ms)
        if not balance_at:
            raise RuntimeError("the Dashboard's Balance was never shown after Log in")
        return SignIn(
            seconds=(balance_at - clicked_ms) / 1000,
            first_seconds=(counts["bench.balanceFirstAt"] - clicked_ms) / 1000,
            runs=counts["bench.runs"],
            # Counted from the click: the document it was made in is not among them.
            reloads=counts["bench.documents"],
            component_values=counts["bench.componentValues"],
        )
    finally:
        if returning is None:
            context.close()
        else:
            page.close()


def _trace(log: str, clicked_ms: float) -> None:
    """Print what happened after the click, in ms from it (``BENCH_TRACE=1``)."""
    print("sign-in trace (ms after the click):")
    for line in log.splitlines():
        at, what = line.split(" ", 1)
        print(f"  {float(at) - clicked_ms:7.0f}  {what}")


def _read(page: object) -> dict[str, int]:
    from playwright.sync_api import Error, Page

    assert isinstance(page, Page)
    try:
        values = page.evaluate(
            "keys => keys.map(key => Number(sessionStorage.getItem(key) || 0))", _COUNTERS
        )
        state = page.get_by_test_id("stApp").get_attribute("data-test-script-state", timeout=1000)
    except Error:  # a reload between the two: read again
        return {}
    counts = dict(zip(_COUNTERS, (int(value) for value in values), strict=True))
    counts["notRunning"] = int(state == "notRunning")
    return counts


def _quiet(page: object, context: object) -> dict[str, int]:
    """Wait until the Balance is drawn, the run finished, the cookie stored and nothing has
    changed for ``QUIET_S``; return the counters."""
    from playwright.sync_api import BrowserContext

    assert isinstance(context, BrowserContext)
    deadline = time.monotonic() + TIMEOUT_S
    last: dict[str, int] = {}
    since = time.monotonic()
    while time.monotonic() < deadline:
        counts = _read(page)
        cookie = any(cookie.get("name") == COOKIE_NAME for cookie in context.cookies())
        if counts != last:
            last, since = counts, time.monotonic()
        elif (
            counts
            and counts["bench.balanceAt"]
            and counts["notRunning"]
            and cookie
            and time.monotonic() - since >= QUIET_S
        ):
            return counts
        time.sleep(0.05)
    raise RuntimeError(f"the Dashboard did not settle after Log in: {last}")


def _result(name: str, sign_ins: list[SignIn]) -> Result:
    median = statistics.median(one.seconds for one in sign_ins)
    verdict = "meets" if median <= TARGET_S else "misses"
    first = statistics.median(one.first_seconds for one in sign_ins)
    runs = statistics.median(one.runs for one in sign_ins)
    reloads = statistics.median(one.reloads for one in sign_ins)
    values = statistics.median(one.component_values for one in sign_ins)
    return Result(
        name=name,
        median_s=median,
        runs_s=[one.seconds for one in sign_ins],
        note=(
            f"{verdict} the {TARGET_S:.0f} s target; first drawn at {first:.2f} s; per "
            f"sign-in (medians): {runs:.0f} script runs, {reloads:.0f} reloads, {values:.0f} "
            "component reports; bcrypt cost 12"
        ),
    )


def run() -> list[Result]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise RuntimeError(f"the sign-in benchmark needs {CHROMIUM} (apt-get install chromium)")
    with served_portal() as url, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            sign_in_once(browser, url)  # warm-up: the server's first imports and page runs
            fresh = [sign_in_once(browser, url) for _ in range(REPEAT)]
            # A browser that has signed in before: its cache holds the portal's code.
            returning = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
            returning.add_init_script(INSTRUMENT)
            sign_in_once(browser, url, returning=returning)
            again = [sign_in_once(browser, url, returning=returning) for _ in range(REPEAT)]
        finally:
            browser.close()
    return [
        _result("sign-in (Chromium), new browser: click on Log in → Dashboard's Balance", fresh),
        _result("sign-in (Chromium), the browser signed in before", again),
    ]
