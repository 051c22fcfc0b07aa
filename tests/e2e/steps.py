"""What a person does in the portal, as Playwright steps the journeys share.

Three facts of the portal shape these steps:

- A page is settled when Streamlit's run of it has finished (the app root's
  ``data-test-script-state`` is "notRunning"); ``goto`` and ``settled`` wait for that.
- Logging in and out writes the login cookie with a script in the page that reports nothing
  (``portal_core.ui.auth.LoginCookie``): each is one run of the page, after which the steps
  see the page they expect. ``Runs`` counts the runs the server finished for a page, from its
  websocket, for the tests that count them.
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

from google.protobuf.message import DecodeError
from playwright.sync_api import BrowserContext, Locator, Page, WebSocket, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from portal_core.mail import outbox_messages

WRONG_CREDENTIALS = "That e-mail and password do not match an account."

# Counts the tab's documents in its sessionStorage, which outlives a reload: a reload is one
# more ``e2e.documents``; added to every browser context by the fixtures.
WATCH_DOCUMENTS = """
(() => {
  if (window.top !== window) return;
  const store = window.sessionStorage;
  store.setItem("e2e.documents", String(Number(store.getItem("e2e.documents") || 0) + 1));
})();
"""
RELOAD_TIMEOUT_MS = 30_000
COOKIE_TIMEOUT_S = 30.0
CHOOSE_ATTEMPTS = 3
OPTION_TIMEOUT_MS = 5_000


def settled(page: Page) -> None:
    """Wait until Streamlit has finished running the page."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


class Runs:
    """The script runs the server finished for ``page`` (every document of it), read from its
    websocket: each run ends with Streamlit's ``script_finished`` message. Start it before the
    page opens its websocket (before ``goto``)."""

    def __init__(self, page: Page) -> None:
        self.finished = 0
        page.on("websocket", self._socket)

    def _socket(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        if not isinstance(payload, bytes):
            return
        message = ForwardMsg()
        try:
            message.ParseFromString(payload)
        except DecodeError:
            return
        if message.WhichOneof("type") == "script_finished":
            self.finished += 1


def documents(page: Page) -> int:
    """The documents this tab has loaded: one more after each reload."""
    return int(page.evaluate("() => Number(sessionStorage.getItem('e2e.documents'))"))


def choose(page: Page, box: Locator, option: str) -> None:
    """Choose ``option`` of a select box, typed to find it among many. The open list closes
    itself when the page beneath it moves (a table finishing its drawing, a rerun): a click
    can then find the option replaced or gone, and the list is opened again."""
    for _ in range(CHOOSE_ATTEMPTS):
        box.click()
        box.fill(option)
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=OPTION_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            continue
        expect(box).to_have_value(option)
        return
    raise AssertionError(f"the option {option!r} could not be chosen in {CHOOSE_ATTEMPTS} tries")


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
    fill_login(page, email, password)
    expect(login_form(page)).to_have_count(0)
    settled(page)


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
    open_profile_menu(page, user_name).get_by_role("button", name="Log out").click()
    expect(login_form(page)).to_be_visible()
    settled(page)


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
