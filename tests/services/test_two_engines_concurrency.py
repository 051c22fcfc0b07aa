"""Two processes on one SQLite file: money stays right when two *engines* write at once.

The portal's write lock belongs to an engine (``engine.info_write_lock``), so it queues the
writers of one process only. The scheduler, the API and a second portal copy each have their
own engine on the same file, and then only SQLite itself stands between their writers: every
write transaction begins with ``BEGIN IMMEDIATE``, and the busy timeout makes a second writer
wait for the first to commit. Each test here gives two engines to threads released together,
or holds one engine's write transaction open while the other engine starts its own, and
checks the outcome: no funds spent twice, no entry posted twice, no invoice number skipped or
used twice. Nothing here is timed; the waits only keep a broken test from hanging.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import InsufficientFunds
from portal_core.models.accounts import Organization
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import (
    BillingAccount,
    EntryKind,
    Invoice,
    LedgerEntry,
    LookupType,
    Product,
    UsageRecord,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.services import invoices, ledger
from portal_core.services.meter import MeteredRequest, meter_request
from tests.factories import make_metered_organization, make_organization, put_on_plan
from tests.services.support import count, fetch, race

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
TORONTO = ZoneInfo("America/Toronto")
JOINED = datetime(2026, 9, 1, tzinfo=TORONTO)
OCTOBER_RUN = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)

Engines = tuple[Engine, Engine]


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    """Two engines on one SQLite file, as two processes have: each its own pool and lock."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    db.migrate(url)
    first, second = db.create_engine(url), db.create_engine(url)
    assert first.info_write_lock is not second.info_write_lock  # type: ignore[attr-defined]
    yield first, second
    first.dispose()
    second.dispose()


def _beginning(engine: Engine) -> threading.Event:
    """Set as a writer of ``engine`` sends its ``BEGIN IMMEDIATE``: it has passed its own
    engine's lock and is at SQLite's door."""
    begun = threading.Event()

    def mark(_connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            begun.set()

    event.listen(engine, "before_cursor_execute", mark)
    return begun


def _in_thread(job: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(job()))
    thread.start()
    return thread, outcome


def _no_mismatch(engine: Engine) -> None:
    with db.read_session(engine) as session:
        assert ledger.balance_mismatches(session) == []


# --- The meter's guarded spend -----------------------------------------------------------------


def _metered_organization(engine: Engine, *, funds_cents: int, price: int) -> Organization:
    with db.write_session(engine) as session:
        return make_metered_organization(session, price_micros=price, funds_cents=funds_cents)


def _meter(connection: Any, organization_id: uuid.UUID, key: str | None = None) -> MeteredRequest:
    return meter_request(
        connection,
        organization_id=organization_id,
        product=Product.SMART_CNAM,
        lookup_type=LookupType.SOURCE_RISK,
        request_key=key or uuid.uuid4().hex,
        now=NOW,
    )


def _metering(
    engine: Engine, organization_id: uuid.UUID, key: str | None = None
) -> Callable[[], MeteredRequest | InsufficientFunds]:
    def meter() -> MeteredRequest | InsufficientFunds:
        try:
            with db.write_connection(engine) as connection:
                return _meter(connection, organization_id, key)
        except InsufficientFunds as refused:
            return refused

    return meter


def _unbilled(engine: Engine, organization: Organization) -> int:
    return fetch(engine, BillingAccount, organization.id).unbilled_micros


def test_two_engines_metering_the_last_funds_at_once_spend_them_once(engines: Engines) -> None:
    first, second = engines
    # 1 cent = 10,000 µ$ pays for one 6,000 µ$ request, not two; five organizations, five races.
    organizations = [_metered_organization(first, funds_cents=1, price=6_000) for _ in range(5)]

    for organization in organizations:
        outcomes = race(
            [_metering(first, organization.id), _metering(second, organization.id)], threads=2
        )
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            "InsufficientFunds",
            "MeteredRequest",
        ]
        assert _unbilled(second, organization) == 6_000

    assert count(first, UsageRecord) == len(organizations)
    _no_mismatch(first)


def test_a_meter_on_one_engine_waits_for_the_others_uncommitted_spend_and_is_refused(
    engines: Engines,
) -> None:
    first, second = engines
    organization = _metered_organization(first, funds_cents=1, price=6_000)
    second_begins = _beginning(second)

    with db.write_connection(first) as connection:
        spent = _meter(connection, organization.id)  # the last funds, not yet committed
        thread, outcome = _in_thread(_metering(second, organization.id))
        assert second_begins.wait(timeout=60)
    thread.join(timeout=120)

    assert not thread.is_alive()
    assert spent.cost_micros == 6_000 and not spent.replayed
    [refused] = outcome
    assert isinstance(refused, InsufficientFunds)
    assert _unbilled(first, organization) == 6_000
    assert count(first, UsageRecord) == 1
    _no_mismatch(first)


def test_forty_requests_on_two_engines_for_funds_of_twenty_five_meter_exactly_twenty_five(
    engines: Engines,
) -> None:
    first, second = engines
    price = 4_000
    organization = _metered_organization(first, funds_cents=10, price=price)  # 25 × 4,000 µ$

    outcomes = race(
        [_metering(engines[number % 2], organization.id) for number in range(40)], threads=8
    )

    metered = [outcome for outcome in outcomes if isinstance(outcome, MeteredRequest)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, InsufficientFunds)]
    assert (len(metered), len(refused)) == (25, 15)
    assert sorted(result.period_requests for result in metered) == list(range(1, 26))
    assert _unbilled(second, organization) == 25 * price
    assert count(second, UsageRecord) == 25
    _no_mismatch(first)


def test_one_request_key_metered_on_two_engines_is_charged_once(engines: Engines) -> None:
    first, second = engines
    organization = _metered_organization(first, funds_cents=100, price=3_000)

    outcomes = race(
        [_metering(engines[number % 2], organization.id, "lookup-7") for number in range(6)],
        threads=6,
    )

    metered = [outcome for outcome in outcomes if isinstance(outcome, MeteredRequest)]
    assert len(metered) == 6
    assert sum(not result.replayed for result in metered) == 1
    assert {(result.cost_micros, result.period_requests) for result in metered} == {(3_000, 1)}
    assert count(second, UsageRecord) == 1
    assert _unbilled(first, organization) == 3_000
    _no_mismatch(second)


# --- The ledger's idempotent posting -------------------------------------------------------------


def _organization(engine: Engine) -> Organization:
    with db.write_session(engine) as session:
        return make_organization(session)


def _post(session: Any, organization_id: uuid.UUID, cents: int, key: str) -> LedgerEntry:
    return ledger.post_entry(
        session,
        organization_id=organization_id,
        kind=EntryKind.PAYMENT,
        amount_cents=cents,
        idempotency_key=key,
        memo="top-up from another process",
    )


def _posting(
    engine: Engine, organization_id: uuid.UUID, cents: int, key: str
) -> Callable[[], uuid.UUID]:
    def post() -> uuid.UUID:
        with db.write_session(engine) as session:
            return _post(session, organization_id, cents, key).id

    return post


def _balance_micros(engine: Engine, organization: Organization) -> int:
    return fetch(engine, BillingAccount, organization.id).balance_micros


def _entries(engine: Engine, organization: Organization) -> list[LedgerEntry]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(LedgerEntry).where(LedgerEntry.organization_id == organization.id)
            ).all()
        )


def test_one_key_posted_on_two_engines_at_once_posts_one_entry(engines: Engines) -> None:
    first, second = engines
    organization = _organization(first)

    entry_ids = race(
        [
            _posting(engines[number % 2], organization.id, 2_500, "checkout-7")
            for number in range(6)
        ],
        threads=6,
    )

    assert len(entry_ids) == 6 and len(set(entry_ids)) == 1
    [entry] = _entries(second, organization)
    assert (entry.id, entry.amount_cents, entry.balance_after_cents) == (entry_ids[0], 2_500, 2_500)
    assert _balance_micros(first, organization) == 2_500 * MICROS_PER_CENT
    _no_mismatch(first)


def test_a_key_posted_while_the_other_engine_holds_it_uncommitted_finds_that_entry(
    engines: Engines,
) -> None:
    first, second = engines
    organization = _organization(first)
    second_begins = _beginning(second)

    with db.write_session(first) as session:
        held = _post(session, organization.id, 4_000, "webhook-and-return")
        thread, outcome = _in_thread(_posting(second, organization.id, 4_000, "webhook-and-return"))
        assert second_begins.wait(timeout=60)
    thread.join(timeout=120)

    assert not thread.is_alive()
    assert outcome == [held.id]
    assert [entry.id for entry in _entries(second, organization)] == [held.id]
    assert _balance_micros(second, organization) == 4_000 * MICROS_PER_CENT
    _no_mismatch(second)


def test_postings_on_two_engines_all_count_each_with_its_own_running_total(
    engines: Engines,
) -> None:
    first, second = engines
    organization = _organization(first)

    entry_ids = race(
        [
            _posting(engines[number % 2], organization.id, 1_000, f"top-up-{number}")
            for number in range(60)
        ],
        threads=8,
    )

    assert len(set(entry_ids)) == 60
    entries = _entries(first, organization)
    assert sorted(entry.balance_after_cents for entry in entries) == [
        1_000 * step for step in range(1, 61)
    ]
    assert _balance_micros(second, organization) == 60_000 * MICROS_PER_CENT
    _no_mismatch(first)


# --- The invoice run -----------------------------------------------------------------------------


def _organizations_on_starter(engine: Engine, how_many: int) -> list[Organization]:
    with db.write_session(engine) as session:
        made = []
        for _ in range(how_many):
            organization = make_organization(session, country="US", province="NY")
            put_on_plan(session, organization, "starter", since=JOINED)
            made.append(organization)
    return made


def test_invoice_runs_on_two_engines_at_once_both_finish_and_number_without_gaps(
    engines: Engines,
) -> None:
    first, second = engines
    organizations = _organizations_on_starter(first, 12)

    def run_on(engine: Engine) -> Callable[[], invoices.RunSummary]:
        return lambda: invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)

    summaries = race([run_on(first), run_on(second)], threads=2)

    assert [summary.failures for summary in summaries] == [[], []]
    assert [summary.organizations for summary in summaries] == [12, 12]
    assert sum(summary.created for summary in summaries) == len(organizations)
    assert sum(summary.already_invoiced for summary in summaries) == len(organizations)
    with db.read_session(second) as session:
        issued = session.exec(select(Invoice.organization_id, Invoice.number)).all()
        runs = session.exec(
            select(AuditEvent.detail).where(col(AuditEvent.action) == "invoices.run")
        ).all()
    assert sorted(number for _organization, number in issued) == list(range(1, 13))
    assert sorted(str(organization) for organization, _number in issued) == sorted(
        str(organization.id) for organization in organizations
    )
    assert len(runs) == 2
    invoice_entries = [
        entry
        for organization in organizations
        for entry in _entries(first, organization)
        if entry.kind == EntryKind.INVOICE
    ]
    assert len(invoice_entries) == len(organizations)
    _no_mismatch(second)
