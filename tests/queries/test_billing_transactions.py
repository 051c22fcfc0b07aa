"""Billing › Transactions: the organization's ledger with each entry's new balance, sorted,
filtered and paged in SQL, and never another organization's entries."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from portal_core import db
from portal_core.errors import PermissionDenied, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.permissions import Actor
from portal_core.queries import billing
from portal_core.queries.listing import DateRange, ListQuery, Page, fetch_page
from portal_core.services import ledger
from tests.factories import actor_of, make_organization, make_staff, make_user

# (kind, amount in cents, memo) in posting order; the new balances are their running totals.
HISTORY = [
    (EntryKind.PAYMENT, 10_000, "Top-up by Visa ending 4242"),
    (EntryKind.INVOICE, -3_390, "Invoice 2026-10"),
    (EntryKind.CREDIT, 500, "Goodwill credit"),
    (EntryKind.ADJUSTMENT, -200, "Correction of October usage"),
    (EntryKind.REFUND, -1_000, "Refund of top-up"),
]
BALANCES = [10_000, 6_610, 7_110, 6_910, 5_910]


def post(engine: Engine, organization_id: uuid.UUID, kind: EntryKind, cents: int, memo: str):
    with db.write_session(engine) as session:
        return ledger.post_entry(
            session,
            organization_id=organization_id,
            kind=kind,
            amount_cents=cents,
            idempotency_key=f"test-{uuid.uuid4()}",
            memo=memo,
        )


def make_member(engine: Engine, role: Role = Role.OWNER) -> Actor:
    with db.write_session(engine) as session:
        return actor_of(make_user(session, role=role))


@pytest.fixture
def owner(engine: Engine) -> Actor:
    actor = make_member(engine)
    assert actor.organization_id is not None
    for kind, cents, memo in HISTORY:
        post(engine, actor.organization_id, kind, cents, memo)
    return actor


def page(engine: Engine, actor: Actor, query: ListQuery | None = None) -> Page:
    with db.read_session(engine) as session:
        return fetch_page(session, billing.transactions(actor), query or ListQuery())


def column(engine: Engine, actor: Actor, key: str, query: ListQuery | None = None) -> list:
    return [row[key] for row in page(engine, actor, query).rows]


def test_each_transaction_shows_its_type_amount_description_and_new_balance(
    engine: Engine, owner: Actor
) -> None:
    rows = page(engine, owner, ListQuery(sort="balance_after", descending=False)).rows
    by_memo = {row["memo"]: row for row in rows}

    invoice = by_memo["Invoice 2026-10"]
    assert (invoice["kind"], invoice["amount_cents"], invoice["balance_after_cents"]) == (
        "invoice",
        -3_390,
        6_610,
    )
    kind_column = next(c for c in billing.transactions(owner).columns if c.key == "kind")
    assert [kind_column.shown(row["kind"]) for row in rows] == [
        "Refund",
        "Invoice",
        "Adjustment",
        "Credit",
        "Payment",
    ]


@pytest.mark.parametrize(
    ("descending", "expected"), [(False, sorted(BALANCES)), (True, sorted(BALANCES)[::-1])]
)
def test_sorts_by_new_balance_both_ways(
    engine: Engine, owner: Actor, descending: bool, expected: list[int]
) -> None:
    query = ListQuery(sort="balance_after", descending=descending)
    assert column(engine, owner, "balance_after_cents", query) == expected


@pytest.mark.parametrize("descending", [False, True])
def test_sorts_by_amount_both_ways(engine: Engine, owner: Actor, descending: bool) -> None:
    amounts = sorted((cents for _, cents, _ in HISTORY), reverse=descending)
    query = ListQuery(sort="amount", descending=descending)
    assert column(engine, owner, "amount_cents", query) == amounts


def test_sorts_by_type(engine: Engine, owner: Actor) -> None:
    query = ListQuery(sort="type", descending=False)
    assert column(engine, owner, "kind", query) == [
        "adjustment",
        "credit",
        "invoice",
        "payment",
        "refund",
    ]


@pytest.mark.parametrize("descending", [True, False])
def test_sorted_by_type_entries_of_one_type_follow_by_date(
    engine: Engine, descending: bool
) -> None:
    """Within a type, by date in the sort's direction (newest first when descending), as
    the index on (organization, type, date) reads them."""
    actor = make_member(engine)
    assert actor.organization_id is not None
    for index in range(6):
        entry = post(
            engine, actor.organization_id, EntryKind.CREDIT, 100 + index, f"Credit {index}"
        )
        with db.write_session(engine) as session:
            session.execute(
                update(LedgerEntry)
                .where(col(LedgerEntry.id) == entry.id)
                .values(created_at=datetime(2026, 3, 1 + (index * 5) % 6, tzinfo=UTC))
            )
    by_date = sorted(range(6), key=lambda index: (index * 5) % 6, reverse=descending)
    query = ListQuery(sort="type", descending=descending)
    assert column(engine, actor, "memo", query) == [f"Credit {index}" for index in by_date]


def test_newest_first_by_default(engine: Engine, owner: Actor) -> None:
    assert column(engine, owner, "balance_after_cents") == BALANCES[::-1]


def test_type_filter_keeps_only_that_type(engine: Engine, owner: Actor) -> None:
    assert owner.organization_id is not None
    post(engine, owner.organization_id, EntryKind.INVOICE, -1_500, "Invoice 2026-11")
    query = ListQuery(filters={"type": "invoice"}, sort="amount", descending=False)

    rows = page(engine, owner, query).rows

    assert [(row["memo"], row["balance_after_cents"]) for row in rows] == [
        ("Invoice 2026-10", 6_610),
        ("Invoice 2026-11", 4_410),
    ]


def test_an_unknown_type_is_refused_with_the_choices(engine: Engine, owner: Actor) -> None:
    with pytest.raises(
        ValidationFailed,
        match="Payment, Credit, Invoice, Adjustment, Refund, Chargeback or Chargeback reversed",
    ):
        page(engine, owner, ListQuery(filters={"type": "fee"}))


def test_description_search_ignores_case(engine: Engine, owner: Actor) -> None:
    query = ListQuery(filters={"search": "TOP-UP"}, sort="amount", descending=True)
    assert column(engine, owner, "memo", query) == [
        "Top-up by Visa ending 4242",
        "Refund of top-up",
    ]


def test_date_range_counts_whole_days_in_the_billing_time_zone(
    engine: Engine, owner: Actor
) -> None:
    # 03:30 UTC on Nov 2 is still Nov 1 in Toronto.
    moments = {
        "Invoice 2026-10": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        "Goodwill credit": datetime(2026, 11, 2, 3, 30, tzinfo=UTC),
        "Refund of top-up": datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
    }
    with db.write_session(engine) as session:
        for memo, at in moments.items():
            session.execute(
                update(LedgerEntry).where(col(LedgerEntry.memo) == memo).values(created_at=at)
            )
    query = ListQuery(
        filters={"created": DateRange(date(2026, 11, 1), date(2026, 11, 1))},
        sort="amount",
        descending=False,
        time_zone=ZoneInfo("America/Toronto"),
    )

    assert column(engine, owner, "memo", query) == ["Invoice 2026-10", "Goodwill credit"]


def test_pages_through_a_long_history_without_repeats(engine: Engine) -> None:
    actor = make_member(engine)
    assert actor.organization_id is not None
    for number in range(1, 24):
        post(engine, actor.organization_id, EntryKind.PAYMENT, 100, f"Top-up {number}")

    pages = [
        page(engine, actor, ListQuery(sort="balance_after", page=number, page_size=10))
        for number in (1, 2, 3)
    ]

    assert [len(each.rows) for each in pages] == [10, 10, 3]
    assert {each.total for each in pages} == {23}
    shown = [row["balance_after_cents"] for each in pages for row in each.rows]
    assert shown == [100 * number for number in range(23, 0, -1)]


def test_another_organizations_entries_never_appear(engine: Engine, owner: Actor) -> None:
    with db.write_session(engine) as session:
        other = make_organization(session)
    post(engine, other.id, EntryKind.PAYMENT, 99_900, "Top-up of another organization")

    everything = page(engine, owner, ListQuery(page_size=50))
    searched = page(engine, owner, ListQuery(filters={"search": "another"}))

    assert everything.total == len(HISTORY)
    assert "Top-up of another organization" not in [row["memo"] for row in everything.rows]
    assert searched.total == 0


def test_a_new_organization_has_no_transactions_and_says_so(engine: Engine) -> None:
    listing = billing.transactions(make_member(engine, Role.BILLING))
    assert page(engine, make_member(engine, Role.ADMIN)).total == 0
    assert listing.empty_message == (
        "No transactions yet: payments, credits and invoices will appear here."
    )


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
def test_the_billing_roles_may_read_transactions(engine: Engine, role: Role) -> None:
    actor = make_member(engine, role)
    assert actor.organization_id is not None
    post(engine, actor.organization_id, EntryKind.CREDIT, 2_000, "Welcome credit")
    assert column(engine, actor, "balance_after_cents") == [2_000]


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_roles_without_billing_are_refused(engine: Engine, role: Role) -> None:
    with pytest.raises(PermissionDenied):
        billing.transactions(make_member(engine, role))


def test_staff_are_refused(engine: Engine) -> None:
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    with pytest.raises(PermissionDenied):
        billing.transactions(staff)


def test_available_funds_are_rounded_once_from_micro_dollars(engine: Engine) -> None:
    with db.write_session(engine) as session:
        organization = make_organization(session)
        member = make_user(session, organization=organization)
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            # $10.00 paid in, $0.0050 of usage: $9.995 available, which rounds to $10.00;
            # rounding the usage first ($0.01) would show $9.99.
            .values(balance_micros=10_000_000, unbilled_micros=5_000)
        )

    with db.read_session(engine) as session:
        funds = billing.funds(session, actor_of(member))

    assert (funds.balance_cents, funds.unbilled_cents, funds.available_cents) == (1_000, 1, 1_000)
