"""Billing › Invoices (AppTest): who may open it, the list and its empty state, the detail
opened from ``?invoice=<id>`` (lines, taxes, total, status, seller and buyer), its PDF download,
the way back, and "not found" for a bad or another organization's invoice id.

Invoices are issued by ``run_invoices`` over usage recorded as the meter records it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import (
    SINCE_ALWAYS,
    CreditNote,
    Invoice,
)
from portal_core.queries.invoices import EMPTY_MESSAGE
from portal_core.services import credit_notes, in_force, invoices
from tests.factories import (
    change_subscription,
    make_staff,
    make_starter_organization,
    make_user,
    record_usage,
)
from tests.pages.conftest import (
    BILLING_ROLES,
    OTHER_ROLES,
    Downloads,
    Portal,
    plain,
    refused,
    texts,
)
from tests.unit.test_invoice_pdf import pdf_runs

PAGE = "pages/billing_invoices.py"
TORONTO = ZoneInfo("America/Toronto")
NOT_FOUND = "That invoice was not found."


# --- Helpers ---------------------------------------------------------------------------------


def starter_member(
    portal: Portal,
    role: Role = Role.OWNER,
    *,
    legal_name: str = "Northwind Telecom Inc.",
    top_up_cents: int = 0,
) -> User:
    """A user of a new Ontario organization on the Starter plan since January."""
    with db.write_session(portal.engine) as session:
        organization = make_starter_organization(session, top_up_cents=top_up_cents)
        organization.legal_name = legal_name
        session.add(organization)
        # Its invoices print the details it had since always.
        in_force.record_billing_details(session, organization, at=SINCE_ALWAYS)
        return make_user(session, organization=organization, role=role)


def colleague(portal: Portal, user: User, role: Role) -> User:
    with db.write_session(portal.engine) as session:
        organization = session.get(Organization, user.organization_id)
        return make_user(session, organization=organization, role=role)


def use(portal: Portal, user: User, period: str, requests: int) -> None:
    """``requests`` Caller ID lookups beyond the allowance ($0.0030 each) in ``period``."""
    assert user.organization_id is not None
    with db.write_session(portal.engine) as session:
        record_usage(session, user.organization_id, period, requests)


def run(portal: Portal, period: str) -> None:
    """The scheduler's run on the 1st after ``period``."""
    year, month = (int(part) for part in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    invoices.run_invoices(
        portal.engine, period=period, now=datetime(year, month, 1, 6, tzinfo=TORONTO)
    )


def invoice_of(portal: Portal, user: User, period: str = "2026-10") -> Invoice:
    with db.read_session(portal.engine) as session:
        return session.exec(
            select(Invoice).where(
                Invoice.organization_id == user.organization_id, Invoice.period == period
            )
        ).one()


def open_invoice(portal: Portal, user: User, invoice_id: object) -> AppTest:
    """The page opened from a link naming the invoice (?invoice=…)."""
    return portal.open(PAGE, as_user=user, query_params={"invoice": invoice_id})


# --- The list --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_their_invoices_with_status_and_amounts(
    portal: Portal, role: Role
) -> None:
    owner = starter_member(portal, top_up_cents=5_000)
    use(portal, owner, "2026-10", 1_000)
    run(portal, "2026-09")  # $33.90, paid from the $50 top-up
    run(portal, "2026-10")  # $37.29, due
    member = owner if role is Role.OWNER else colleague(portal, owner, role)

    app = portal.open(PAGE, as_user=member)

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Invoices"]
    assert any("Issued on the 1st of each month" in str(c.value) for c in app.caption)
    [frame] = app.dataframe
    rows = frame.value[["period", "status", "subtotal_cents", "tax_cents", "total_cents"]]
    assert rows.values.tolist() == [
        ["2026-10", "Due", "$33.00", "$4.29", "$37.29"],
        ["2026-09", "Paid", "$30.00", "$3.90", "$33.90"],
    ]
    assert frame.proto.selection_mode  # a row can be selected to open it


def test_a_new_organization_is_told_when_invoices_come(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=starter_member(portal))

    assert not app.exception, app.exception
    assert not app.dataframe
    assert EMPTY_MESSAGE in [str(info.value) for info in app.info]


def test_another_organizations_invoices_are_not_listed(portal: Portal) -> None:
    mine = starter_member(portal)
    theirs = starter_member(portal, legal_name="Elsewhere Ltd.")
    use(portal, theirs, "2026-10", 100)
    with db.write_session(portal.engine) as session:
        organization = session.get(Organization, mine.organization_id)
        assert organization is not None
        change_subscription(session, organization, plan_code="free")  # nothing to invoice
    run(portal, "2026-10")

    app = portal.open(PAGE, as_user=mine)

    assert not app.dataframe
    assert EMPTY_MESSAGE in [str(info.value) for info in app.info]


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused_even_with_a_link(portal: Portal, role: Role) -> None:
    owner = starter_member(portal)
    run(portal, "2026-10")
    member = colleague(portal, owner, role)

    for app in (
        portal.open(PAGE, as_user=member),
        open_invoice(portal, member, invoice_of(portal, owner).id),
    ):
        assert refused(app)
        assert not app.dataframe
        assert "Northwind" not in texts(app)


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = portal.open(PAGE, as_user=staff)

    assert refused(app)
    assert not app.dataframe


# --- One invoice -----------------------------------------------------------------------------


def test_a_link_opens_the_invoice_with_its_lines_taxes_total_and_parties(portal: Portal) -> None:
    owner = starter_member(portal, top_up_cents=10_000)
    use(portal, owner, "2026-10", 1_000)
    run(portal, "2026-10")
    invoice = invoice_of(portal, owner)

    app = open_invoice(portal, owner, invoice.id)

    assert not app.exception, app.exception
    assert not app.dataframe  # the detail replaces the list
    assert [str(header.value) for header in app.subheader] == [
        f"Invoice {invoice.number} · October 2026"
    ]
    shown = plain(app)
    assert ":green-badge[:material/check_circle: Paid]" in shown
    assert "Issued 2026-11-01 for October 2026 · Prices in USD" in shown
    assert "| Starter plan, October 2026 | 1 | $30.00 | $30.00 |" in shown
    assert "| Caller ID lookups beyond the allowance | 1,000 | $0.0030 | $3.00 |" in shown
    assert "| | | Subtotal | $33.00 |" in shown
    assert "| | | HST (13%) | $4.29 |" in shown
    assert "| | | **Total** | **$37.29** |" in shown
    assert "SIPSTACK Inc.  \n100 Queen Street West" in shown
    assert "GST/HST registration: 123456789 RT0001" in shown
    assert "Northwind Telecom Inc.  \n1 Main Street  \nToronto, ON  \nCA" in shown
    assert not app.warning


def test_a_due_invoice_says_so_and_how_to_pay_it(portal: Portal) -> None:
    owner = starter_member(portal)  # no funds: the invoice takes the balance below zero
    run(portal, "2026-10")

    app = open_invoice(portal, owner, invoice_of(portal, owner).id)

    assert not app.exception, app.exception
    assert ":orange-badge[:material/schedule: Due]" in plain(app)
    assert [str(warning.value) for warning in app.warning] == [
        "This invoice is due: your prepaid balance did not cover it. Add funds to pay it."
    ]
    [link] = [link for link in app.main.get("page_link") if link.proto.label == "Add funds"]
    assert link.proto.page == "billing_overview"


def test_the_invoice_downloads_as_a_pdf_named_by_its_number(
    portal: Portal, downloads: Downloads
) -> None:
    owner = starter_member(portal)
    run(portal, "2026-10")
    invoice = invoice_of(portal, owner)

    app = open_invoice(portal, owner, invoice.id)

    [button] = app.get("download_button")
    assert button.proto.label == "Download PDF"
    file_name = f"SIPSTACK-invoice-{invoice.number:06d}.pdf"
    assert list(downloads) == [file_name]
    data = downloads[file_name]()
    assert data.startswith(b"%PDF")
    runs = pdf_runs(data)
    assert runs[runs.index("Invoice number") + 1] == str(invoice.number)
    assert "Northwind Telecom Inc." in runs


def test_all_invoices_goes_back_to_the_list(portal: Portal) -> None:
    owner = starter_member(portal)
    run(portal, "2026-10")

    app = open_invoice(portal, owner, invoice_of(portal, owner).id)
    app.button(key="billing.invoices.back").click().run()

    assert not app.exception, app.exception
    assert "invoice" not in app.query_params
    assert [str(heading.value) for heading in app.subheader] == ["Credit notes"]
    [frame] = app.dataframe
    assert frame.value["period"].tolist() == ["2026-10"]


def test_another_organizations_invoice_by_link_is_not_found(portal: Portal) -> None:
    mine = starter_member(portal)
    theirs = starter_member(portal, legal_name="Elsewhere Ltd.")
    run(portal, "2026-10")

    app = open_invoice(portal, mine, invoice_of(portal, theirs).id)

    assert not app.exception, app.exception
    assert any(NOT_FOUND in str(warning.value) for warning in app.warning)
    assert not app.subheader
    assert not app.get("download_button")
    assert "Elsewhere" not in texts(app)
    assert app.button(key="billing.invoices.back")  # the way back is offered


@pytest.mark.parametrize("raw", ["not-an-id", str(uuid.uuid4())], ids=["malformed", "unknown"])
def test_a_bad_invoice_link_is_not_found(portal: Portal, raw: str) -> None:
    app = open_invoice(portal, starter_member(portal), raw)

    assert not app.exception, app.exception
    assert any(NOT_FOUND in str(warning.value) for warning in app.warning)
    assert not app.get("download_button")


# --- Credit notes ----------------------------------------------------------------------------


def credit(portal: Portal, user: User, cents: int, reason: str = "Outage in October") -> None:
    """A credit note of ``cents`` (before tax) against the October invoice."""
    invoice = invoice_of(portal, user)
    with db.write_session(portal.engine) as session:
        credit_notes.issue_credit_note(
            session,
            invoice,
            [credit_notes.CreditLine(reason, 1, cents * 10_000, cents)],
            reason=reason,
            idempotency_key=uuid.uuid4().hex,
        )


def test_credit_notes_are_listed_under_the_invoices_with_their_taxes(portal: Portal) -> None:
    owner = starter_member(portal)
    run(portal, "2026-10")
    credit(portal, owner, 1_000)

    app = portal.open(PAGE, as_user=owner)

    assert not app.exception, app.exception
    _invoices, notes = app.dataframe
    rows = notes.value[["number", "reason", "subtotal_cents", "tax_cents", "total_cents"]]
    assert rows.values.tolist() == [["CN-1", "Outage in October", "$10.00", "$1.30", "$11.30"]]


def test_a_credit_note_opens_from_its_link_with_its_pdf(
    portal: Portal, downloads: Downloads
) -> None:
    owner = starter_member(portal)
    run(portal, "2026-10")
    credit(portal, owner, 1_000)
    with db.read_session(portal.engine) as session:
        note = session.exec(select(CreditNote)).one()

    app = portal.open(PAGE, as_user=owner, query_params={"credit_note": note.id})

    assert not app.exception, app.exception
    assert "Credit note CN-1" in texts(app)
    assert "Reason: Outage in October" in texts(app)
    assert "HST (13%) | $1.30" in plain(app)
    assert list(downloads) == ["SIPSTACK-credit-note-CN-000001.pdf"]
    runs = pdf_runs(downloads["SIPSTACK-credit-note-CN-000001.pdf"]())
    assert "Total credited (USD)" in runs and "CN-1" in runs


def test_another_organizations_credit_note_by_link_is_not_found(portal: Portal) -> None:
    owner = starter_member(portal)
    stranger = starter_member(portal, legal_name="Elsewhere Ltd.")
    run(portal, "2026-10")
    credit(portal, owner, 500)
    with db.read_session(portal.engine) as session:
        note = session.exec(select(CreditNote)).one()

    app = portal.open(PAGE, as_user=stranger, query_params={"credit_note": note.id})

    assert not app.exception, app.exception
    assert "That credit note was not found." in texts(app)
    assert "CN-1" not in texts(app)
