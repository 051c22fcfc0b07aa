"""Signing in, as the browser sees it: one run of the page, no component's frame, no reload
unless the browser shows another theme than the user's.

A login used to be three runs and a reload: the cookie component's two frames each posted a
value (each post reruns the page), and the theme script reloaded the first signed-in page of
every fresh browser. How long it takes is measured by ``make bench`` (``bench/signin.py``),
never here.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import (
    Runs,
    background_luminance,
    dashboard,
    documents,
    fill_login,
    goto,
    login_cookie,
    settled,
    shown,
    theme_reload,
    wait_for_login_cookie,
)

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "owner@demo.sipstack.test"
OWNER_PASSWORD = "Demo-owner-Harbor-2026"
OWNER_NAME = "Demo Owner"
LIGHT_ABOVE = 0.8
# Long enough for what the old login did after its run: the component's posts (and their
# runs) and the theme's reload came within a second of the cookie. Not a measure of speed:
# the window in which a wrong run or reload would show.
AFTERMATH_S = 2.0


def _quiet_for(page: Page, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
    settled(page)


def test_a_login_is_one_run_of_the_page_with_no_frame_and_no_reload(
    page: Page, context: BrowserContext, served_portal: ServedPortal
) -> None:
    runs = Runs(page)
    goto(page, "/")
    before = documents(page)
    runs_before = runs.finished

    fill_login(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(shown(page).get_by_test_id("stMetric").filter(has_text="Balance")).to_be_visible()
    wait_for_login_cookie(context, served_portal.cookie_name)
    _quiet_for(page, AFTERMATH_S)

    expect(dashboard(page, OWNER_NAME)).to_be_visible()
    assert runs.finished - runs_before == 1
    assert documents(page) == before
    expect(page.locator("iframe")).to_have_count(0)
    assert background_luminance(page) > LIGHT_ABOVE
    # The cookie's script takes no room: the Dashboard stands where a reload draws it.
    scripts = page.locator('[data-testid="stElementContainer"]:has(.portal-script)')
    expect(scripts.first).to_be_attached()
    for index in range(scripts.count()):
        expect(scripts.nth(index)).to_be_hidden()
    welcome_top = shown(page).get_by_role("heading", name=f"Welcome, {OWNER_NAME}").bounding_box()
    page.reload()
    settled(page)
    reloaded = shown(page).get_by_role("heading", name=f"Welcome, {OWNER_NAME}")
    expect(reloaded).to_be_visible()
    assert welcome_top is not None and reloaded.bounding_box() is not None
    assert welcome_top["y"] == reloaded.bounding_box()["y"]  # type: ignore[index]


def test_the_login_cookie_is_the_whole_sites_and_lasts_the_configured_days(
    page: Page, context: BrowserContext, served_portal: ServedPortal
) -> None:
    goto(page, "/")
    fill_login(page, OWNER_EMAIL, OWNER_PASSWORD)
    wait_for_login_cookie(context, served_portal.cookie_name)
    cookie = login_cookie(context, served_portal.cookie_name)
    assert cookie is not None
    assert cookie["path"] == "/"
    assert cookie["sameSite"] == "Strict"
    days = (float(str(cookie["expires"])) - time.time()) / 86_400
    assert 13.9 < days <= 14.0  # COOKIE_EXPIRY_DAYS' default

    # The cookie is what a new tab signs in with.
    other = context.new_page()
    goto(other, "/billing_transactions")
    expect(shown(other).get_by_role("heading", name="Transactions")).to_be_visible()


def test_a_browser_that_prefers_dark_reloads_once_into_a_light_users_theme(
    context: BrowserContext, served_portal: ServedPortal
) -> None:
    page = context.new_page()
    page.emulate_media(color_scheme="dark")
    goto(page, "/")
    before = documents(page)

    with theme_reload(page):
        fill_login(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(dashboard(page, OWNER_NAME)).to_be_visible()
    _quiet_for(page, AFTERMATH_S)

    assert documents(page) == before + 1
    assert background_luminance(page) > LIGHT_ABOVE
