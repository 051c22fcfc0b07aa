"""A refund in Chromium, from both sides: staff refund part of a card payment of the demo
organization from Staff › Billing accounts (a bad amount first, said under its field; then the
amount, reviewed, confirmed with a reason), and the organization's billing user finds the
payment partially refunded and the refund's share taken from the balance in Transactions."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import text

from portal_core import db
from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import goto, log_in, settled, shown

pytestmark = pytest.mark.e2e

STAFF_EMAIL = "staff@demo.sipstack.test"
STAFF_PASSWORD = "Demo-staff-Harbor-2026"
BILLING_EMAIL = "billing@demo.sipstack.test"
BILLING_PASSWORD = "Demo-billing-Harbor-2026"


def _demo_organization_id(served_portal: ServedPortal) -> str:
    engine = db.create_engine(served_portal.database_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT organization_id FROM users WHERE email = :email"),
                {"email": BILLING_EMAIL},
            ).scalar_one()
    finally:
        engine.dispose()
    return str(uuid.UUID(str(found)))  # SQLite keeps it as 32 hex digits


def test_staff_refund_part_of_a_payment_and_the_partner_sees_it(
    page: Page, new_context: Callable[[], BrowserContext], served_portal: ServedPortal
) -> None:
    organization_id = _demo_organization_id(served_portal)
    goto(page, f"/staff_billing_accounts?organization={organization_id}")
    log_in(page, STAFF_EMAIL, STAFF_PASSWORD)
    expect(shown(page).get_by_role("heading", name="Demo Telecom")).to_be_visible()

    page.get_by_role("tab", name="Refund").click()
    amount = shown(page).get_by_role("textbox", name="Amount to refund (USD)")
    # More than any payment of the demo: said under the field, and nothing is asked.
    amount.fill("100000")
    shown(page).get_by_role("button", name="Review").filter(visible=True).click()
    settled(page)
    # The first run after the login drew the page too: the tab chosen stays chosen.
    expect(page.get_by_role("tab", name="Refund")).to_have_attribute("aria-selected", "true")
    expect(shown(page).get_by_text("Refund from $0.01 up to", exact=False)).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # $25.74 of what the card was charged: its $25.00 share leaves the balance (the fee,
    # 2.95%, never reached it), whichever of the demo's payments is chosen.
    amount.fill("25.74")
    shown(page).get_by_role("button", name="Review").filter(visible=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Refund $25.74 of")
    expect(dialog).to_contain_text("$25.00 leaves Demo Telecom's balance")
    dialog.get_by_role("textbox", name="Reason").fill("Charged twice by mistake")
    dialog.get_by_role("button", name="Refund", exact=True).click()
    settled(page)
    expect(
        page.get_by_text("Refunded $25.74 to the card; $25.00 left Demo Telecom's balance.")
    ).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # The partner's side, in a browser of its own.
    partner = new_context().new_page()
    goto(partner, "/billing_payments")
    log_in(partner, BILLING_EMAIL, BILLING_PASSWORD)
    expect(shown(partner).get_by_test_id("stDataFrame")).to_contain_text("Partially refunded")
    goto(partner, "/billing_transactions")
    with partner.expect_download() as download:
        shown(partner).get_by_role("button", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert (rows[0]["Type"], rows[0]["Amount"]) == (
        "Refund",
        "−$25.00",
    )  # the minus sign the portal prints
