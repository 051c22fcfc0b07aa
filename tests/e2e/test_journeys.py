"""Journeys through the served portal in Chromium, the way a partner walks them.

Each test opens its own browser context on the one portal the fixtures serve (migrated and
seeded with the demo organization), so cookies and the stored theme start empty every time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import (
    WRONG_CREDENTIALS,
    background_luminance,
    dashboard,
    fill_login,
    goto,
    log_in,
    log_out,
    login_cookie,
    login_form,
    open_profile_menu,
    settled,
    shown,
    snapshot,
    theme_reload,
    verification_link,
    wait_for_login_cookie,
)

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "owner@demo.sipstack.test"
OWNER_PASSWORD = "Demo-owner-Harbor-2026"
OWNER_NAME = "Demo Owner"
DARK_BELOW = 0.2  # the dark theme's background is near black; the light one is white
LIGHT_ABOVE = 0.8


def test_new_partner_signs_up_verifies_activates_and_keeps_dark_mode(
    page: Page, context: BrowserContext, served_portal: ServedPortal
) -> None:
    suffix = secrets.token_hex(4)
    name = f"Robin Tester {suffix}"
    email = f"robin.{suffix}@acme-{suffix}.example.com"
    password = f"Lantern-orbit-{suffix}-quietly-Marsh"

    goto(page, "/get_started")
    form = page.get_by_test_id("stForm")
    form.get_by_label("Your name").fill(name)
    form.get_by_label("Work e-mail").fill(email)
    form.get_by_label("Company").fill(f"Acme Voice {suffix}")
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_text("I agree to the Terms of Service").click()
    snapshot(page, "get-started")
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Check your e-mail: we sent a link to {email}")).to_be_visible()

    goto(page, verification_link(served_portal.outbox, email, served_portal.url))
    expect(page.get_by_text("Your e-mail is verified.")).to_be_visible()
    page.get_by_role("link", name="Continue to activation").click()

    log_in(page, email, password)
    wait_for_login_cookie(context, served_portal.cookie_name)
    expect(shown(page).get_by_role("heading", name="Your company")).to_be_visible()
    # The wizard's steps draw their forms where the previous step's stood, and both steps
    # have a "Save and continue": act only on what the latest run drew.
    wizard = shown(page)
    expect(wizard.get_by_role("combobox", name="Country")).to_have_value("Canada")
    snapshot(page, "wizard")
    wizard.get_by_role("combobox", name="Province or state").click()
    page.get_by_role("option", name="Ontario").click()
    wizard.get_by_label("Street address").fill("111 Wellington Street")
    wizard.get_by_label("City").fill("Ottawa")
    wizard.get_by_label("Postal code").fill("K1A 0B1")
    wizard.get_by_role("button", name="Save and continue").click()

    expect(wizard.get_by_role("heading", name="Your brand")).to_be_visible()
    wizard.get_by_label("Domain").fill(f"acme-{suffix}.example.com")
    wizard.get_by_role("button", name="Save and continue").click()

    expect(wizard.get_by_role("heading", name="Your plan")).to_be_visible()
    wizard.get_by_role("button", name="Save and continue").click()  # Free, preselected

    expect(wizard.get_by_role("heading", name="Payment method")).to_be_visible()
    wizard.get_by_role("button", name="Skip for now").click()  # Free needs no card

    expect(wizard.get_by_role("heading", name="All set")).to_be_visible()
    wizard.get_by_role("button", name="Activate my account").click()

    expect(dashboard(page, name)).to_be_visible()
    balance = shown(page).get_by_test_id("stMetric").filter(has_text="Balance")
    expect(balance).to_contain_text("$0.00")
    assert background_luminance(page) > LIGHT_ABOVE
    snapshot(page, "dashboard-light")

    menu = open_profile_menu(page, name)
    with theme_reload(page):
        menu.get_by_text("Dark mode").click()
    expect(dashboard(page, name)).to_be_visible()
    assert background_luminance(page) < DARK_BELOW
    snapshot(page, "dashboard-dark")

    page.reload()
    settled(page)
    expect(dashboard(page, name)).to_be_visible()
    assert background_luminance(page) < DARK_BELOW

    goto(page, "/my_profile")
    expect(shown(page).get_by_role("heading", name="My Profile")).to_be_visible()
    assert background_luminance(page) < DARK_BELOW
    snapshot(page, "my-profile-dark")

    page.get_by_test_id("stLogoLink").click()  # the SIPSTACK logo leads to the Dashboard
    expect(dashboard(page, name)).to_be_visible()
    settled(page)

    log_out(page, name)
    wait_for_login_cookie(context, served_portal.cookie_name, stored=False)

    goto(page, "/")
    log_in(page, email, password)
    expect(dashboard(page, name)).to_be_visible()
    assert background_luminance(page) < DARK_BELOW


def test_wrong_password_is_refused_with_a_clear_message(
    page: Page, context: BrowserContext, served_portal: ServedPortal
) -> None:
    goto(page, "/")
    fill_login(page, OWNER_EMAIL, "Not-the-owner-password-2026")

    expect(page.get_by_text(WRONG_CREDENTIALS)).to_be_visible()
    expect(login_form(page)).to_be_visible()
    expect(page.get_by_text(f"Welcome, {OWNER_NAME}")).to_have_count(0)
    assert login_cookie(context, served_portal.cookie_name) is None
    snapshot(page, "login-refused")


def test_login_cookie_copied_before_logout_is_refused_after_it(
    page: Page,
    context: BrowserContext,
    new_context: Callable[[], BrowserContext],
    served_portal: ServedPortal,
) -> None:
    goto(page, "/")
    log_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(dashboard(page, OWNER_NAME)).to_be_visible()
    wait_for_login_cookie(context, served_portal.cookie_name)
    copied = context.cookies()

    # While the session lives, the copied cookie restores it in another browser: so the
    # refusal below is the server's doing, not a cookie that never worked.
    before = new_context()
    before.add_cookies(copied)  # type: ignore[arg-type]
    restored = before.new_page()
    goto(restored, "/")
    expect(dashboard(restored, OWNER_NAME)).to_be_visible()

    log_out(page, OWNER_NAME)
    wait_for_login_cookie(context, served_portal.cookie_name, stored=False)

    after = new_context()
    after.add_cookies(copied)  # type: ignore[arg-type]
    replayed = after.new_page()
    goto(replayed, "/")
    expect(login_form(replayed)).to_be_visible()
    expect(replayed.get_by_text(f"Welcome, {OWNER_NAME}")).to_have_count(0)
    wait_for_login_cookie(after, served_portal.cookie_name, stored=False)


@pytest.mark.parametrize(
    ("path", "hidden"),
    [
        ("/my_profile", ["My Profile", "Change password", "Log out other sessions"]),
        ("/staff_organizations", ["Organizations", "Demo Telecom"]),
    ],
)
def test_deep_link_while_logged_out_shows_only_the_login_form(
    page: Page, path: str, hidden: list[str]
) -> None:
    goto(page, path)
    expect(login_form(page)).to_be_visible()
    snapshot(page, f"deep-link-{path.strip('/')}")
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    for text in hidden:
        expect(page.get_by_text(text, exact=True)).to_have_count(0)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)
