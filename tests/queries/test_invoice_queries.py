"""Billing › Invoices' reads: the organization's list (filtered, sorted and paged in SQL, with
its CSV), one invoice with its lines and taxes, and never another organization's.

The invoices are made the way production makes them: usage records as the meter leaves them,
then ``run_invoices`` on the 1st of each following month.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied
from portal_core.models.accounts import Organization, Role
from portal_core.models.billing import (
    Invoice,
)
from portal_core.permissions import Actor
from portal_core.queries import invoices
from portal_core.queries.listing import DateRange, ListQuery, Page, export_csv, fetch_page
from portal_core.services import invoices as invoice_service
from tests.factories import (
    actor_of,
    make_staff,
    make_starter_organization,
    make_user,
    record_usage,
)

TORONTO = ZoneInfo("America/Toronto")
STARTER_UNIT = 3_000  # micro-dollars per request beyond the allowance ($0.0030)
# Requests beyond the allowance each month (Starter in Ontario: $30 + usage, HST 13 %).
# August: $30.00 + $3.90 = $33.90, paid from a $50 top-up; September: $33.00 + $4.29 = $37.29
# and October: $30.60 + $3.98 = $34.58 are due (the balance is below zero).
OVERAGE = {"2026-08": 0, "2026-09": 1_000, "2026-10": 200}
TOTALS = {"2026-08": 3_390, "2026-09": 3_729, "2026-10": 3_458}


@dataclass(frozen=True)
class History:
    owner: Actor
    other_owner: Actor
    numbers: dict[str, int]  # period → the owner's invoice number


def starter_organization(engine: Engine, *, top_up_cents: int = 0) -> Organization:
    with db.write_session(engine) as session:
        return make_starter_organization(session, top_up_cents=top_up_cents)


def use(engine: Engine, organization: Organization, period: str, requests: int) -> None:
    """``requests`` lookups beyond the allowance, as the meter records them."""
    if not requests:
        return
    with db.write_session(engine) as session:
        record_usage(session, organization.id, period, requests, unit_micros=STARTER_UNIT)


def first_of_next_month(period: str) -> datetime:
    """The scheduler's run: 06:00 on the 1st after ``period``, in the billing time zone."""
    year, month = (int(part) for part in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, 6, 0, tzinfo=TORONTO)


@pytest.fixture
def history(engine: Engine) -> History:
    """Three months of invoices for one organization, and one each for another."""
    mine = starter_organization(engine, top_up_cents=5_000)
    theirs = starter_organization(engine, top_up_cents=100_000)
    with db.write_session(engine) as session:
        owner = actor_of(make_user(session, organization=session.get(Organization, mine.id)))
        other_owner = actor_of(
            make_user(session, organization=session.get(Organization, theirs.id))
        )
    for period, requests in OVERAGE.items():
        use(engine, mine, period, requests)
        use(engine, theirs, period, 10)
        invoice_service.run_invoices(engine, period=period, now=first_of_next_month(period))
    with db.read_session(engine) as session:
        numbers = dict(
            session.exec(
                select(Invoice.period, Invoice.number).where(Invoice.organization_id == mine.id)
            ).all()
        )
    return History(owner=owner, other_owner=other_owner, numbers=numbers)


def page_of(engine: Engine, actor: Actor, **query: object) -> Page:
    with db.read_session(engine) as session:
        return fetch_page(session, invoices.invoices(actor), ListQuery(**query))  # type: ignore[arg-type]


def periods(page: Page) -> list[str]:
    return [row["period"] for row in page.rows]


# --- The list -------------------------------------------------------------------------------


def test_lists_the_organizations_invoices_newest_first_with_their_figures(
    engine: Engine, history: History
) -> None:
    page = page_of(engine, history.owner)

    assert page.total == 3
    assert [
        (
            row["number"],
            row["period"],
            row["status"],
            row["subtotal_cents"],
            row["tax_cents"],
            row["total_cents"],
        )
        for row in page.rows
    ] == [
        (history.numbers["2026-10"], "2026-10", "due", 3_060, 398, 3_458),
        (history.numbers["2026-09"], "2026-09", "due", 3_300, 429, 3_729),
        (history.numbers["2026-08"], "2026-08", "paid", 3_000, 390, 3_390),
    ]
    assert [row["issued_at"].astimezone(TORONTO).date() for row in page.rows] == [
        date(2026, 11, 1),
        date(2026, 10, 1),
        date(2026, 9, 1),
    ]


def test_each_row_is_keyed_by_its_invoice_for_opening_the_detail(
    engine: Engine, history: History
) -> None:
    page = page_of(engine, history.owner)

    with db.read_session(engine) as session:
        opened = [invoices.invoice(session, history.owner, key).invoice.period for key in page.keys]
    assert opened == ["2026-10", "2026-09", "2026-08"]


def test_never_lists_another_organizations_invoices(engine: Engine, history: History) -> None:
    mine = page_of(engine, history.owner)
    theirs = page_of(engine, history.other_owner)

    assert theirs.total == 3
    assert not set(mine.keys) & set(theirs.keys)
    assert sorted(row["number"] for row in mine.rows) == sorted(history.numbers.values())


def test_a_new_organization_has_no_invoices_and_is_told_when_they_come(engine: Engine) -> None:
    with db.write_session(engine) as session:
        owner = actor_of(make_user(session))

    assert page_of(engine, owner).total == 0
    assert invoices.invoices(owner).empty_message == (
        "No invoices yet. Invoices are issued on the 1st of each month for the month before: "
        "the plan's fee, usage beyond its allowance and taxes, paid from your prepaid balance."
    )


# --- Filters ---------------------------------------------------------------------------------


def test_the_text_filter_finds_an_invoice_by_its_period(engine: Engine, history: History) -> None:
    assert periods(page_of(engine, history.owner, filters={"search": "2026-09"})) == ["2026-09"]
    assert periods(page_of(engine, history.owner, filters={"search": "2026-1"})) == ["2026-10"]


def test_the_text_filter_finds_an_invoice_by_its_number(engine: Engine, history: History) -> None:
    number = history.numbers["2026-09"]

    found = page_of(engine, history.owner, filters={"search": f" {number} "})

    assert [row["number"] for row in found.rows] == [number]


def test_the_text_filter_never_finds_another_organizations_invoice(
    engine: Engine, history: History
) -> None:
    theirs = page_of(engine, history.other_owner, filters={"search": "2026-09"})
    their_number, their_key = theirs.rows[0]["number"], theirs.keys[0]
    mine = page_of(engine, history.owner).keys

    found = page_of(engine, history.owner, filters={"search": str(their_number)})

    assert their_key not in found.keys
    assert set(found.keys) <= set(mine)


@pytest.mark.parametrize(
    ("status", "expected"), [("due", ["2026-10", "2026-09"]), ("paid", ["2026-08"])]
)
def test_the_status_filter(
    engine: Engine, history: History, status: str, expected: list[str]
) -> None:
    assert periods(page_of(engine, history.owner, filters={"status": status})) == expected


def test_the_issue_date_filter_counts_days_in_the_billing_time_zone(
    engine: Engine, history: History
) -> None:
    # The September invoice was issued at 06:00 on October 1st in Toronto (10:00 UTC).
    october_1st = DateRange(start=date(2026, 10, 1), end=date(2026, 10, 1))

    in_toronto = page_of(engine, history.owner, filters={"issued": october_1st}, time_zone=TORONTO)
    from_october = page_of(
        engine,
        history.owner,
        filters={"issued": DateRange(start=date(2026, 10, 1))},
        time_zone=TORONTO,
    )

    assert periods(in_toronto) == ["2026-09"]
    assert periods(from_october) == ["2026-10", "2026-09"]


# --- Sorts -----------------------------------------------------------------------------------


def test_sorts_by_total(engine: Engine, history: History) -> None:
    page = page_of(engine, history.owner, sort="total", descending=False)

    assert [row["total_cents"] for row in page.rows] == sorted(TOTALS.values())


def test_sorts_by_number(engine: Engine, history: History) -> None:
    page = page_of(engine, history.owner, sort="number", descending=False)

    assert periods(page) == ["2026-08", "2026-09", "2026-10"]


def test_sorts_by_last_updated(engine: Engine, history: History) -> None:
    with db.write_session(engine) as session:
        august = session.exec(
            select(Invoice).where(Invoice.number == history.numbers["2026-08"])
        ).one()
        august.updated_at = datetime(2026, 11, 20, tzinfo=UTC)  # e.g. its status changed
        session.add(august)

    page = page_of(engine, history.owner, sort="updated", descending=True)

    assert periods(page)[0] == "2026-08"


def test_pages_are_the_page_size_long(engine: Engine, history: History) -> None:
    first = page_of(engine, history.owner, page_size=10)

    assert first.page_count == 1 and len(first.rows) == 3


# --- CSV -------------------------------------------------------------------------------------


def test_the_export_writes_every_filtered_invoice_with_words_and_dollars(
    engine: Engine, history: History
) -> None:
    with db.read_session(engine) as session:
        exported = export_csv(
            session,
            invoices.invoices(history.owner),
            ListQuery(filters={"status": "due"}, time_zone=TORONTO),
        )

    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    assert rows[0] == ["Number", "Period", "Issued", "Status", "Subtotal", "Tax", "Total"]
    assert [row[1:] for row in rows[1:]] == [
        ["2026-10", "2026-11-01 06:00:00-05:00", "Due", "$30.60", "$3.98", "$34.58"],
        ["2026-09", "2026-10-01 06:00:00-04:00", "Due", "$33.00", "$4.29", "$37.29"],
    ]


# --- Who may read them -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING], ids=str)
def test_billing_roles_read_the_list(engine: Engine, history: History, role: Role) -> None:
    with db.write_session(engine) as session:
        organization = session.get(Organization, history.owner.organization_id)
        member = actor_of(make_user(session, organization=organization, role=role))

    assert page_of(engine, member).total == 3


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER], ids=str)
def test_roles_without_billing_are_refused_the_list_and_the_detail(
    engine: Engine, history: History, role: Role
) -> None:
    with db.write_session(engine) as session:
        organization = session.get(Organization, history.owner.organization_id)
        member = actor_of(make_user(session, organization=organization, role=role))
    invoice_id = page_of(engine, history.owner).keys[0]

    with pytest.raises(PermissionDenied):
        invoices.invoices(member)
    with db.read_session(engine) as session, pytest.raises(PermissionDenied):
        invoices.invoice(session, member, invoice_id)


def test_staff_are_refused_the_partner_list(engine: Engine) -> None:
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))

    with pytest.raises(PermissionDenied):
        invoices.invoices(staff)


# --- One invoice -----------------------------------------------------------------------------


def test_the_detail_has_the_lines_in_order_and_each_tax(engine: Engine, history: History) -> None:
    invoice_id = page_of(engine, history.owner, filters={"search": "2026-09"}).keys[0]

    with db.read_session(engine) as session:
        detail = invoices.invoice(session, history.owner, invoice_id)

    assert detail.invoice.total_cents == TOTALS["2026-09"]
    assert [
        (line.description, line.quantity, line.unit_micros, line.amount_cents)
        for line in detail.lines
    ] == [
        ("Starter plan, September 2026", 1, 30_000_000, 3_000),
        ("Caller ID lookups beyond the allowance", 1_000, STARTER_UNIT, 300),
    ]
    assert [(tax.tax, tax.rate_millipercent, tax.amount_cents) for tax in detail.taxes] == [
        ("HST", 13_000, 429)
    ]
    assert detail.invoice.buyer_details.splitlines()[0].endswith("Inc.")
    assert detail.invoice.seller_details.splitlines()[0] == "SIPSTACK Inc."


def test_another_organizations_invoice_is_not_found(engine: Engine, history: History) -> None:
    theirs = page_of(engine, history.other_owner).keys[0]

    with db.read_session(engine) as session, pytest.raises(NotFound, match="not found"):
        invoices.invoice(session, history.owner, theirs)


def test_an_unknown_invoice_is_not_found(engine: Engine, history: History) -> None:
    with db.read_session(engine) as session, pytest.raises(NotFound):
        invoices.invoice(session, history.owner, uuid.uuid4())


def test_a_period_reads_as_its_month() -> None:
    assert invoices.period_label("2026-10") == "October 2026"
    assert invoices.period_label("2027-01") == "January 2027"
