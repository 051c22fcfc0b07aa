"""What a person does in the portal, as Playwright steps the journeys share.

Two facts of the portal shape these steps. The login cookie is written by
streamlit-authenticator's cookie component (JavaScript, after the run that logged in), so a
journey waits for it before it leaves the page. And the theme is applied by a script
(``portal_core.ui.theme``) that stores the user's choice in the browser and reloads the page
once when the stored choice was different: the first signed-in page of a fresh browser, and a
flip of "Dark mode", each reload once, and a step that causes it waits for that reload.
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
RELOAD_TIMEOUT_MS = 30_000
COOKIE_TIMEOUT_S = 30.0


def login_form(page: Page) -> Locator:
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in"))


def fill_login(page: Page, email: str, password: str) -> None:
    form = login_form(page)
    expect(form).to_be_visible()
    form.get_by_label("E-mail", exact=True).fill(email)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Log in").click()


@contextmanager
def theme_reload(page: Page, *, loads_before: int = 0) -> Iterator[None]:
    """Wait, after the block, for the theme script's one reload of the page.

    ``loads_before`` counts the page loads the block itself makes (1 for a ``goto``), which
    are not the reload.
    """
    loads = 0

    def is_reload(_page: Page) -> bool:
        nonlocal loads
        loads += 1
        return loads > loads_before

    with page.expect_event("load", predicate=is_reload, timeout=RELOAD_TIMEOUT_MS):
        yield


def log_in(page: Page, email: str, password: str, *, first_in_browser: bool) -> None:
    """Log in on the form the current page shows.

    ``first_in_browser``: no signed-in page was opened in this browser context before, so the
    theme script stores the theme and reloads the page once.
    """
    if first_in_browser:
        with theme_reload(page):
            fill_login(page, email, password)
    else:
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


def open_profile_menu(page: Page, user_name: str) -> Locator:
    """Open the popover in the top bar that carries the user's name; return its body."""
    page.get_by_role("button", name=user_name).click()
    menu = page.get_by_test_id("stPopoverBody")
    expect(menu).to_be_visible()
    return menu


def dashboard(page: Page, user_name: str) -> Locator:
    return page.get_by_role("heading", name=f"Welcome, {user_name}")


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
    pattern = re.compile(re.escape(public_url) + r"/verify_email\?token=[A-Za-z0-9_\-.~%]+")
    for message in reversed(outbox_messages(outbox)):
        if email not in str(message["To"]):
            continue
        body = message.get_body(preferencelist=("plain",))
        found = pattern.search(body.get_content() if body is not None else "")
        if found:
            return found.group(0)
    raise AssertionError(f"no verification link to {email} in {outbox}")


def snapshot(page: Page, name: str) -> None:
    """Save a screenshot to $E2E_SCREENSHOTS/e2e-<name>.png when that folder is set."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        expect(page.get_by_test_id("stApp")).to_have_attribute(
            "data-test-script-state", "notRunning"
        )
        page.screenshot(path=str(Path(folder) / f"e2e-{name}.png"), full_page=True)
