"""What a person does in the portal, as Playwright steps the journeys share.

Three facts of the portal shape these steps:

- A page is settled when Streamlit's run of it has finished (the app root's
  ``data-test-script-state`` is "notRunning"); ``goto`` and ``settled`` wait for that.
- Logging in and out writes the login cookie with a script in the page that reports nothing
  (``portal_core.ui.auth.LoginCookie``): each is one run of the page, which the steps wait for
  (``settles``: a run started after the click, and finished).
- The theme is applied by a script (``portal_core.ui.theme``) that stores the user's choice in
  the browser and reloads the page once when the page shows another theme: each flip of
  "Dark mode" reloads once, and so does the first signed-in page of a browser whose
  preference is not the user's theme (the journeys' browsers prefer light, like their users);
  the step that causes it waits for that reload (``theme_reload``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, Locator, Page, expect

from portal_core.mail import outbox_messages

WRONG_CREDENTIALS = "That e-mail and password do not match an account."

# Counts the tab's script runs and documents (a reload is one more) in its sessionStorage,
# which outlives a reload: ``e2e.runs`` and ``e2e.documents``; added to every browser context
# by the fixtures. A run is the app's script state changing to "running": each mutation record
# holds the value before it, so two changes in one batch are both seen.
WATCH_RUNS = """
(() => {
  if (window.top !== window) return;
  const store = window.sessionStorage;
  const bump = (key) => store.setItem(key, String(Number(store.getItem(key) || 0) + 1));
  bump("e2e.documents");
  const STATE = "data-test-script-state";
  new MutationObserver((records) => {
    const changes = records.filter((record) => record.attributeName === STATE);
    changes.forEach((record, index) => {
      const after = index + 1 < changes.length
        ? changes[index + 1].oldValue
        : record.target.getAttribute(STATE);
      if (after === "running" && record.oldValue !== "running") bump("e2e.runs");
    });
  }).observe(document, {
    subtree: true, attributes: true, attributeFilter: [STATE], attributeOldValue: true,
  });
})();
"""
RELOAD_TIMEOUT_MS = 30_000
COOKIE_TIMEOUT_S = 30.0


def settled(page: Page) -> None:
    """Wait until Streamlit has finished running the page."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


@contextmanager
def settles(page: Page) -> Iterator[None]:
    """The block makes the page run (a click): wait until a run has started and finished."""
    count_from_here(page)
    yield
    page.wait_for_function("() => Number(sessionStorage.getItem('e2e.runs')) > 0")
    settled(page)


def runs(page: Page) -> int:
    """The tab's script runs since ``settles`` or ``count_from_here``, across reloads."""
    return int(page.evaluate("() => Number(sessionStorage.getItem('e2e.runs'))"))


def documents(page: Page) -> int:
    """The documents this tab has loaded: one more after each reload."""
    return int(page.evaluate("() => Number(sessionStorage.getItem('e2e.documents'))"))


def count_from_here(page: Page) -> None:
    page.evaluate("() => sessionStorage.setItem('e2e.runs', '0')")


def goto(page: Page, path: str) -> None:
    page.goto(path)
    settled(page)


def login_form(page: Page) -> Locator:
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in"))


def fill_login(page: Page, email: str, password: str) -> None:
    form = login_form(page)
    expect(form).to_be_visible()
    form.get_by_label("E-mail", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Log in").click()


@contextmanager
def theme_reload(page: Page, *, documents_before: int = 0) -> Iterator[None]:
    """Wait, after the block, for the theme script's one reload of the page.

    ``documents_before`` counts the documents the block itself opens (1 for a ``goto``),
    which are not the reload. Documents are counted by DOMContentLoaded, which each one
    reaches before the app's first run: the reload can cut short the first document's
    "load", never that.
    """
    documents = 0

    def is_reload(_page: Page) -> bool:
        nonlocal documents
        documents += 1
        return documents > documents_before

    with page.expect_event("domcontentloaded", predicate=is_reload, timeout=RELOAD_TIMEOUT_MS):
        yield
    settled(page)


def log_in(page: Page, email: str, password: str) -> None:
    """Log in on the form the current page shows (one run of the page)."""
    with settles(page):
        fill_login(page, email, password)
    expect(login_form(page)).to_have_count(0)


def login_cookie(context: BrowserContext, name: str) -> dict[str, object] | None:
    for cookie in context.cookies():
        if cookie.get("name") == name:
            return dict(cookie)
    return None


def wait_for_login_cookie(context: BrowserContext, name: str, *, stored: bool = True) -> None:
    """Wait until the browser holds (or, with ``stored=False``, no longer holds) the cookie."""
    deadline = time.monotonic() + COOKIE_TIMEOUT_S
    while (login_cookie(context, name) is not None) is not stored:
        if time.monotonic() > deadline:
            state = "stored" if stored else "deleted"
            raise AssertionError(f"the login cookie {name!r} was not {state} in time")
        time.sleep(0.1)


def log_out(page: Page, user_name: str) -> None:
    with settles(page):
        open_profile_menu(page, user_name).get_by_role("button", name="Log out").click()
    expect(login_form(page)).to_be_visible()


def open_profile_menu(page: Page, user_name: str) -> Locator:
    """Open the popover in the top bar that carries the user's name; return its body."""
    page.get_by_role("button", name=user_name).click()
    menu = page.get_by_test_id("stPopoverBody")
    expect(menu).to_be_visible()
    return menu


def shown(page: Page) -> Locator:
    """What the page's latest run drew: during a rerun Streamlit keeps the previous run's
    elements on screen, marked stale, until the run replaces or removes them."""
    return page.locator('[data-testid="stElementContainer"][data-stale="false"]')


def dashboard(page: Page, user_name: str) -> Locator:
    return shown(page).get_by_role("heading", name=f"Welcome, {user_name}")


def background_luminance(page: Page) -> float:
    """Relative luminance (0 black … 1 white, WCAG's formula) of the app's background."""
    color = page.get_by_test_id("stApp").evaluate(
        "element => getComputedStyle(element).backgroundColor"
    )
    channels = [int(part) / 255 for part in re.findall(r"\d+", str(color))[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def verification_link(outbox: Path, email: str, public_url: str) -> str:
    """The verification link in the newest e-mail sent to ``email``."""
    return link_in_mail(outbox, email, public_url, r"/verify_email\?token=[A-Za-z0-9_\-.~%]+")


def link_in_mail(outbox: Path, email: str, public_url: str, path_pattern: str) -> str:
    """The first link to ``public_url`` + ``path_pattern`` (a regular expression) in the
    newest e-mail to ``email`` that has one."""
    pattern = re.compile(re.escape(public_url) + path_pattern)
    for message in reversed(outbox_messages(outbox)):
        if email not in str(message["To"]):
            continue
        body = message.get_body(preferencelist=("plain",))
        found = pattern.search(body.get_content() if body is not None else "")
        if found:
            return found.group(0)
    raise AssertionError(f"no link matching {path_pattern!r} to {email} in {outbox}")


def snapshot(page: Page, name: str) -> None:
    """Save a screenshot to $E2E_SCREENSHOTS/e2e-<name>.png when that folder is set."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        expect(page.get_by_test_id("stApp")).to_have_attribute(
            "data-test-script-state", "notRunning"
        )
        page.screenshot(path=str(Path(folder) / f"e2e-{name}.png"), full_page=True)
