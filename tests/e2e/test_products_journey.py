"""The products in Chromium, as a partner uses them on the demo: an admin of Demo Telecom
registers a number through Whois Profiles' green + with all three tabs filled in, looks a
caller up as Source/Risk of a call to that number in Smart CNAM and reads why it scores what
it does, looks another number up and reports it as spam, finds both lookups (and the report)
in Logs, and sees them counted in Billing › Overview against the plan's allowance — within
it, a lookup adds nothing to the unbilled usage (it is not a ledger entry: Transactions lists
none), so Overview is where Billing shows it."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.steps import choose, goto, log_in, settled, shown

pytestmark = pytest.mark.e2e

ADMIN_EMAIL = "admin@demo.sipstack.test"
ADMIN_PASSWORD = "Demo-admin-Harbor-2026"

# Numbers nobody registered in the demo (services/seed.py): 555-01xx is fiction's.
REGISTERED = "+1 416 555 0144"
REGISTERED_SHOWN = "+1 416-555-0144"
# Northwind Calling reported this one as spam when the demo was seeded.
CALLER = "+1 416 555 0177"
CALLER_SHOWN = "+1 416-555-0177"
REPORTED = "+1 289 555 0172"
REPORTED_SHOWN = "+1 289-555-0172"

MONTHS_LOOKUPS = re.compile(r"This month: ([\d,]+) of the ([\d,]+) lookups included")


def _lookups_this_month(page: Page) -> int:
    """Billing › Overview's count of this month's lookups against the allowance."""
    goto(page, "/billing_overview")
    counted = shown(page).get_by_text(MONTHS_LOOKUPS)
    expect(counted).to_be_visible()
    found = MONTHS_LOOKUPS.search(counted.inner_text())
    assert found is not None
    return int(found.group(1).replace(",", ""))


def _csv_rows(page: Page) -> list[dict[str, str]]:
    """The rows of the list the page shows, as its CSV export gives them."""
    with page.expect_download() as download:
        shown(page).get_by_role("button", name="CSV").click()
    return list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))


def _transactions(page: Page) -> list[dict[str, str]]:
    goto(page, "/billing_transactions")
    return _csv_rows(page)


def _look_up(page: Page, source: str, destination: str, lookup_type: str) -> Locator:
    """Fill Smart CNAM's form and press Look up; returns what the page drew then."""
    form = shown(page)
    form.get_by_role("textbox", name="Source caller number *", exact=True).fill(source)
    form.get_by_role("textbox", name="Destination callee", exact=True).fill(destination)
    form.get_by_text(f"{lookup_type} —", exact=False).click()
    form.get_by_role("button", name="Look up").click()
    settled(page)
    return shown(page)


def test_a_partner_registers_a_number_looks_callers_up_reports_one_and_finds_it_all(
    page: Page,
) -> None:
    goto(page, "/billing_overview")
    log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    counted_before = _lookups_this_month(page)
    ledger_before = _transactions(page)

    # Whois Profiles' green +: the form in three tabs, every field filled in.
    goto(page, "/whois_profiles")
    shown(page).get_by_role("button", name="Register a number").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Register a number")).to_be_visible()
    dialog.get_by_role("textbox", name="Phone number *", exact=True).fill(REGISTERED)
    dialog.get_by_role("textbox", name="Caller name *", exact=True).fill("Demo Billing")
    dialog.get_by_role("textbox", name="Business name", exact=True).fill("Demo Telecom Inc.")
    choose(page, dialog.get_by_role("combobox", name="Line type *"), "Mobile")
    choose(page, dialog.get_by_role("combobox", name="Call purpose"), "Customer service")
    dialog.get_by_role("tab", name="Location").click()
    dialog.get_by_role("textbox", name="Address", exact=True).fill("100 King Street West")
    dialog.get_by_role("textbox", name="City", exact=True).fill("Toronto")
    dialog.get_by_role("textbox", name="Province / state", exact=True).fill("ON")
    dialog.get_by_role("textbox", name="Postal code", exact=True).fill("M5X 1A9")
    choose(page, dialog.get_by_role("combobox", name="Country"), "Canada")
    dialog.get_by_role("tab", name="Additional").click()
    dialog.get_by_role("textbox", name="Website", exact=True).fill(
        "https://demo.sipstack.test/billing"
    )
    dialog.get_by_role("textbox", name="E-mail", exact=True).fill("billing-line@demo.sipstack.test")
    dialog.get_by_role("textbox", name="Description", exact=True).fill("Questions about invoices.")
    dialog.get_by_role("textbox", name="Social links", exact=True).fill("https://x.com/demotelecom")
    dialog.get_by_role("textbox", name="Monthly call volume", exact=True).fill("1,500")
    dialog.get_by_role("button", name="Register", exact=True).click()
    settled(page)
    expect(page.get_by_role("dialog")).to_have_count(0)
    profile = shown(page)
    expect(profile.get_by_text(f"{REGISTERED_SHOWN} is registered.")).to_be_visible()
    expect(
        profile.get_by_role("heading", name=f"{REGISTERED_SHOWN} · Demo Billing")
    ).to_be_visible()
    complete = profile.get_by_test_id("stMetric").filter(has_text="Complete")
    expect(complete).to_contain_text("100%")

    # Source/Risk of a call from another number to the one just registered.
    goto(page, "/smart_cnam")
    result = _look_up(page, CALLER, REGISTERED, "Source/Risk")
    expect(result.get_by_role("heading", name=f"Source/Risk · {CALLER_SHOWN}")).to_be_visible()
    expect(result.get_by_text("Included in your plan")).to_be_visible()
    expect(result.get_by_text(f"Called number: {REGISTERED_SHOWN}")).to_be_visible()
    expect(result.get_by_text("Registration: Not registered with SIPSTACK")).to_be_visible()
    # Why: the factors drawn, the community's spam report among them, adding up to the score.
    score = result.get_by_test_id("stMetric").filter(has_text="Score")
    figure = score.get_by_test_id("stMetricValue").inner_text().strip()
    assert re.fullmatch(r"\d\.\d{3}", figure), figure
    expect(result.get_by_text(f"Why {figure}? Each factor's effect, added up:")).to_be_visible()
    factors = result.get_by_test_id("stDataFrame")
    for factor in ("Valid number", "Not registered", "1 net spam report", "No owner"):
        expect(factors).to_contain_text(factor)
    expect(result.get_by_test_id("stPlotlyChart")).to_have_count(1)

    # Another number, by Caller ID, reported as spam from its result.
    result = _look_up(page, REPORTED, "", "Caller ID")
    expect(result.get_by_role("heading", name=f"Caller ID · {REPORTED_SHOWN}")).to_be_visible()
    expect(result.get_by_text("Registration: Not registered with SIPSTACK")).to_be_visible()
    result.get_by_role("button", name="Report as spam").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=f"Report {REPORTED_SHOWN} as spam")).to_be_visible()
    dialog.get_by_label("Comment (optional)").fill("Silent calls, then a hang-up")
    dialog.get_by_role("button", name="Send report").click()
    settled(page)
    expect(page.get_by_text(f"Thank you: {REPORTED_SHOWN} is reported as spam.")).to_be_visible()

    # Logs: the report, then both lookups, newest first, each within the allowance.
    goto(page, "/logs")
    expect(shown(page).get_by_test_id("stDataFrame")).to_contain_text("Reported as spam")
    rows = _csv_rows(page)
    # The export keeps a spreadsheet from reading "+1…" as a formula: a quote leads.
    newest = [
        (row["Action"], row["Lookup type"], row["Numbers"].removeprefix("'"), row["Status"])
        for row in rows[:4]
    ]
    assert newest == [
        ("Report", "", REPORTED_SHOWN, "OK"),
        ("Lookup", "Caller ID", REPORTED_SHOWN, "OK"),
        ("Lookup", "Source/Risk", f"{CALLER_SHOWN} → {REGISTERED_SHOWN}", "OK"),
        ("Registration", "", REGISTERED_SHOWN, "OK"),
    ]
    assert rows[0]["Result"] == "Reported as spam"
    assert [rows[1]["Cost"], rows[2]["Cost"]] == ["$0.0000", "$0.0000"]
    assert rows[2]["Score"] == figure

    # Billing: both lookups counted this month, within the allowance, so nothing unbilled.
    assert _lookups_this_month(page) == counted_before + 2
    unbilled = shown(page).get_by_test_id("stMetric").filter(has_text="Unbilled usage")
    expect(unbilled).to_contain_text("$0.00")
    assert _transactions(page) == ledger_before  # usage is invoiced, never a ledger entry itself
