"""The Billing journeys in Chromium: a billing user saves a card, adds funds (the fee and the
total shown before paying), finds the payment and the transaction, upgrades from Starter to
Competitor in Pricing, and, after the monthly invoice run, opens last month's invoice from its
e-mail and downloads its PDF. And what goes wrong: a bad amount offers no Pay now, and a
declined card says why and leaves the funds as they were."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import goto, link_in_mail, log_in, settled, shown

pytestmark = pytest.mark.e2e

BILLING_EMAIL = "billing@demo.sipstack.test"
BILLING_PASSWORD = "Demo-billing-Harbor-2026"
ADMIN_EMAIL = "admin@demo.sipstack.test"
ADMIN_PASSWORD = "Demo-admin-Harbor-2026"


def _dollars(shown: str) -> Decimal:
    """An amount as the portal prints it ("$1,234.56"), to compute with."""
    return Decimal(shown.strip().replace("$", "").replace(",", ""))


def _printed(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def test_billing_user_adds_a_card_and_funds_then_downloads_the_invoice_pdf(
    page: Page, served_portal: ServedPortal
) -> None:
    goto(page, "/billing_payment_methods")
    log_in(page, BILLING_EMAIL, BILLING_PASSWORD)
    # The top bar's figure: drawn before the page's own (Overview has one too).
    funds = shown(page).get_by_test_id("stMetric").filter(has_text="Available funds").first
    figure = funds.get_by_test_id("stMetricValue")
    # The demo's first payment less the invoices it paid since (services/seed.py).
    expect(figure).to_contain_text("$")
    before = _dollars(figure.inner_text())
    after = _printed(before + 100)

    # The green + opens the sandbox's test cards, by name: no card number is typed.
    shown(page).get_by_role("button", name="Add card").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Mastercard", exact=False).first.click()
    dialog.get_by_role("button", name="Save card").click()
    settled(page)
    expect(page.get_by_text("Mastercard •••• 4444 is saved.")).to_be_visible()
    expect(shown(page).get_by_test_id("stDataFrame")).to_contain_text("Mastercard •••• 4444")

    # Add funds: the fee and the total are on screen before Pay now.
    goto(page, "/billing_overview")
    shown(page).get_by_label("Card").click()
    page.get_by_role("option", name="Mastercard •••• 4444", exact=False).click()
    amount = shown(page).get_by_role("textbox", name="Amount (USD)", exact=True)
    amount.fill("100")
    amount.press("Enter")
    pay = shown(page).get_by_role("button", name="Pay now $102.95")
    expect(pay).to_be_visible()
    quote = shown(page).get_by_role("table").filter(has_text="Total charged to your card")
    expect(quote).to_contain_text("$100.00")
    expect(quote).to_contain_text("2.95")  # the fee's rate
    expect(quote).to_contain_text("$2.95")
    expect(quote).to_contain_text("$102.95")
    pay.click()
    settled(page)
    expect(funds).to_contain_text(after)

    # The payment, from Overview's last payment.
    shown(page).get_by_role("link", name="Open in Payments").first.click()
    settled(page)
    payment = shown(page)
    expect(payment.get_by_text("Mastercard •••• 4444").first).to_be_visible()
    expect(payment.get_by_text("$102.95").first).to_be_visible()
    expect(payment.get_by_text("Succeeded").first).to_be_visible()

    # The transaction, as the CSV a partner files it from.
    goto(page, "/billing_transactions")
    with page.expect_download() as download:
        shown(page).get_by_role("button", name="CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    newest = rows[0]
    assert (newest["Type"], newest["Amount"], newest["New balance"]) == (
        "Payment",
        "$100.00",
        after,
    )

    # Upgrade from the demo's Starter to Competitor in Pricing: the dialog says what happens
    # before anything does.
    goto(page, "/billing_pricing")
    expect(
        shown(page).get_by_role("heading", name="Your plan: Starter, billed monthly")
    ).to_be_visible()
    page.locator(".st-key-pricing-choose-competitor-monthly").get_by_role("button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Competitor")
    dialog.get_by_role("button", name="Upgrade now").click()
    settled(page)
    expect(
        shown(page).get_by_role("heading", name="Your plan: Competitor, billed monthly")
    ).to_be_visible()

    # The 1st of the month: the scheduler's invoice run invoiced last month when the demo was
    # seeded, and its e-mail links to that invoice; running it again makes nothing twice.
    served_portal.command("invoices", "run")
    link = link_in_mail(
        served_portal.outbox,
        BILLING_EMAIL,
        served_portal.url,
        r"/billing_invoices\?invoice=[0-9a-f-]+",
    )
    page.goto(link)
    settled(page)
    invoice = shown(page)
    expect(invoice.get_by_text("Starter plan", exact=False).first).to_be_visible()
    expect(invoice.get_by_text("HST", exact=False).first).to_be_visible()
    expect(invoice.get_by_text("$33.90").first).to_be_visible()
    with page.expect_download() as download:
        invoice.get_by_role("button", name="Download PDF").click()
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert download.value.suggested_filename.startswith("SIPSTACK-invoice-")
    expect(funds).to_contain_text(after)  # paid when it was issued, and not charged again


def test_a_bad_amount_and_a_declined_card_charge_nothing(
    page: Page, served_portal: ServedPortal
) -> None:
    goto(page, "/billing_payment_methods")
    log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    funds = (
        shown(page)
        .get_by_test_id("stMetric")
        .filter(has_text="Available funds")
        .first.get_by_test_id("stMetricValue")
    )
    expect(funds).to_contain_text("$")
    before = funds.inner_text().strip()

    shown(page).get_by_role("button", name="Add card").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Declined", exact=False).first.click()
    dialog.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("Visa •••• 0002 is saved.")).to_be_visible()

    goto(page, "/billing_overview")
    amount = shown(page).get_by_role("textbox", name="Amount (USD)", exact=True)
    amount.fill("12.345")
    amount.press("Enter")
    expect(shown(page).get_by_text("Add between $10.00 and $10,000.00").first).to_be_visible()
    expect(shown(page).get_by_role("button", name="Pay now", exact=False)).to_have_count(0)

    shown(page).get_by_label("Card").click()
    page.get_by_role("option", name="Visa •••• 0002", exact=False).click()
    amount.fill("50")
    amount.press("Enter")
    shown(page).get_by_role("button", name="Pay now $51.48").click()
    settled(page)
    expect(shown(page).get_by_text("Your card was declined.").first).to_be_visible()
    expect(funds).to_have_text(before)  # nothing credited, nothing charged
