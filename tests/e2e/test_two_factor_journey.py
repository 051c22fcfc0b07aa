"""Two-factor sign-in, as a member goes through it in the browser (docs/product.md, My Profile):
turn it on in My Profile › Advanced with the key the page shows, log out, log in with the
password and then a code, and turn it off again with a recovery code.

The journey uses the demo's developer, and leaves the served portal as it found it for the
journeys after it: it turns two-factor sign-in off at its end, through the page, and should it
fail before then, ``developer_left_as_found`` turns it off in the database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import text

from portal_core import db
from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import (
    dashboard,
    fill_login,
    goto,
    log_in,
    log_out,
    login_form,
    settled,
    shown,
    snapshot,
    wait_for_login_cookie,
)

pytestmark = pytest.mark.e2e

EMAIL = "developer@demo.sipstack.test"
PASSWORD = "Demo-developer-Harbor-2026"
NAME = "Demo Developer"
STEP_SECONDS = 30


def next_code(secret: str) -> str:
    """The app's code of the next 30-second step: accepted (one step of drift allowed), and
    never the step of a code already used."""
    return pyotp.TOTP(secret).at(time.time() + STEP_SECONDS)


def two_factor_on(served_portal: ServedPortal) -> bool:
    engine = db.create_engine(served_portal.database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT two_factor_enabled_at IS NOT NULL FROM users WHERE email = :email"),
                {"email": EMAIL},
            ).scalar_one() in (1, True)
    finally:
        engine.dispose()


@pytest.fixture
def developer_left_as_found(served_portal: ServedPortal) -> Iterator[None]:
    """The demo developer without two-factor sign-in, before the journey and after it."""
    assert not two_factor_on(served_portal)
    yield
    if not two_factor_on(served_portal):
        return
    engine = db.create_engine(served_portal.database_url)
    try:
        with engine.begin() as connection:
            user = {"email": EMAIL}
            connection.execute(
                text(
                    "DELETE FROM recovery_codes WHERE user_id = "
                    "(SELECT id FROM users WHERE email = :email)"
                ),
                user,
            )
            connection.execute(
                text(
                    "UPDATE users SET two_factor_enabled_at = NULL, two_factor_secret = NULL, "
                    "two_factor_last_step = NULL WHERE email = :email"
                ),
                user,
            )
    finally:
        engine.dispose()


def test_a_member_turns_on_two_factor_sign_in_and_logs_in_with_a_code(
    page: Page,
    context: BrowserContext,
    served_portal: ServedPortal,
    developer_left_as_found: None,
) -> None:
    goto(page, "/my_profile")
    log_in(page, EMAIL, PASSWORD)
    expect(shown(page).get_by_role("heading", name="My Profile")).to_be_visible()

    page.get_by_role("tab", name="Advanced").click()
    begin = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Set up two-factor sign-in")
    )
    begin.get_by_label("Current password", exact=True).fill(PASSWORD)
    begin.get_by_role("button", name="Set up two-factor sign-in").click()

    key = shown(page).get_by_test_id("stCode")
    expect(key).to_have_count(1)
    expect(shown(page).get_by_role("img")).to_have_count(1)  # the QR code
    secret = re.sub(r"\s", "", key.inner_text())
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    snapshot(page, "two-factor-setup")

    confirm = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Turn on two-factor sign-in")
    )
    confirm.get_by_label("Code from the app", exact=True).fill(pyotp.TOTP(secret).now())
    confirm.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(shown(page).get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = shown(page).get_by_test_id("stCode").inner_text().split()
    assert len(codes) == 10
    settled(page)

    log_out(page, NAME)
    wait_for_login_cookie(context, served_portal.cookie_name, stored=False)

    goto(page, "/")
    fill_login(page, EMAIL, PASSWORD)
    code_form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Verify"))
    expect(code_form).to_be_visible()
    expect(login_form(page)).to_have_count(0)
    expect(page.get_by_text(f"Welcome, {NAME}")).to_have_count(0)
    snapshot(page, "two-factor-login")

    code_form.get_by_label("Code", exact=True).fill(next_code(secret))
    code_form.get_by_role("button", name="Verify").click()

    expect(dashboard(page, NAME)).to_be_visible()
    wait_for_login_cookie(context, served_portal.cookie_name)

    # Off again, as the journeys after this one expect the demo's developer.
    goto(page, "/my_profile")
    page.get_by_role("tab", name="Advanced").click()
    turn_off = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Turn off two-factor sign-in")
    )
    turn_off.get_by_label("Current password", exact=True).fill(PASSWORD)
    turn_off.get_by_label("Code", exact=True).fill(codes[0])
    turn_off.get_by_role("button", name="Turn off two-factor sign-in").click()

    expect(page.get_by_text("Two-factor sign-in is off.")).to_be_visible()
    expect(
        page.get_by_test_id("stForm").filter(
            has=page.get_by_role("button", name="Set up two-factor sign-in")
        )
    ).to_be_visible()
    assert not two_factor_on(served_portal)
