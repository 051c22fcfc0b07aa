"""An owner invites a member; the invitee follows the link from the outbox, chooses a password,
logs in and finds the pages of the role they were invited with (docs/product.md, Pages › Users).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import (
    choose,
    dashboard,
    goto,
    link_in_mail,
    log_in,
    settled,
    shown,
    snapshot,
)

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "owner@demo.sipstack.test"
OWNER_PASSWORD = "Demo-owner-Harbor-2026"


def test_an_invited_developer_joins_and_sees_the_pages_of_the_role(
    page: Page, new_context: Callable[[], BrowserContext], served_portal: ServedPortal
) -> None:
    suffix = secrets.token_hex(4)
    email = f"dev.{suffix}@demo.sipstack.test"
    name = f"Dana Developer {suffix}"
    password = f"Copper-kettle-{suffix}-Morning-Tide"

    goto(page, "/access_users")
    log_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(shown(page).get_by_role("heading", name="Users", exact=True)).to_be_visible()
    page.get_by_text("Invite a member").click()
    form = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Send invitation")
    )
    form.get_by_label("E-mail").fill(email)
    # CSS, not roles: while the list is open, what lies outside it is hidden from roles.
    role = page.locator('[data-testid="stForm"] input[role="combobox"][aria-label="Role"]')
    choose(page, role, "Developer")
    snapshot(page, "users-invite")
    form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {email} as Developer.")).to_be_visible()
    # Named twice: in the message, and in the pending invitations' list.
    expect(shown(page).get_by_text(email, exact=True)).to_have_count(2)

    invitee = new_context().new_page()
    goto(invitee, link_in_mail(served_portal.outbox, email, served_portal.url, _JOIN))
    expect(invitee.get_by_text("Demo Telecom invites")).to_be_visible()
    join = invitee.get_by_test_id("stForm")
    join.get_by_label("Your name").fill(name)
    join.get_by_label("Password", exact=True).fill(password)
    join.get_by_label("Repeat it").fill(password)
    join.get_by_text("I agree to the Terms of Service").click()
    snapshot(invitee, "join")
    join.get_by_role("button", name="Join").click()
    expect(invitee.get_by_text("Welcome to Demo Telecom.")).to_be_visible()

    invitee.get_by_role("link", name="Log in").click()
    settled(invitee)
    log_in(invitee, email, password)
    expect(dashboard(invitee, name)).to_be_visible()
    pane = invitee.get_by_test_id("stSidebar")
    expect(pane.get_by_role("link", name="Smart CNAM")).to_be_visible()
    expect(pane.get_by_role("link", name="Whois Profiles")).to_be_visible()
    expect(pane.get_by_role("link", name="Users")).to_have_count(0)
    expect(pane.get_by_role("link", name="Overview")).to_have_count(0)

    goto(invitee, "/access_users")
    expect(invitee.get_by_text("Your role does not give you access to this page.")).to_be_visible()


_JOIN = r"/join\?token=[A-Za-z0-9_\-.~%]+"
