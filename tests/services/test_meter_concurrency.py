"""The meter under real concurrency: threads with a connection each, released together, on
file SQLite (WAL) and on PostgreSQL (the ``concurrent_engine`` fixture). Two requests never
spend the same funds, and one request key is charged once (docs/architecture.md, rule 5)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, text, update
from sqlmodel import col

from portal_core import db
from portal_core.errors import InsufficientFunds
from portal_core.models.billing import (
    BillingAccount,
    LookupType,
    Product,
    UsageRecord,
)
from portal_core.services import ledger
from portal_core.services.meter import MeteredRequest, meter_request
from tests.conftest import reset_database
from tests.factories import make_metered_organization
from tests.services.support import count, fetch, race

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def _organization(engine: Engine, *, funds_cents: int, price: int):
    """A Starter organization whose every request costs ``price`` (no allowance left)."""
    with db.write_session(engine) as session:
        return make_metered_organization(session, price_micros=price, funds_cents=funds_cents)


def _metering(engine: Engine, organization_id: uuid.UUID, key: str | None = None):
    def meter() -> MeteredRequest | InsufficientFunds:
        try:
            with db.write_connection(engine) as connection:
                return meter_request(
                    connection,
                    organization_id=organization_id,
                    product=Product.SMART_CNAM,
                    lookup_type=LookupType.SOURCE_RISK,
                    request_key=key or uuid.uuid4().hex,
                    now=NOW,
                )
        except InsufficientFunds as refused:
            return refused

    return meter


def _unbilled(engine: Engine, organization) -> int:
    return fetch(engine, BillingAccount, organization.id).unbilled_micros


def _no_mismatch(engine: Engine) -> None:
    with db.read_session(engine) as session:
        assert ledger.balance_mismatches(session) == []


def test_two_concurrent_debits_that_together_exceed_the_funds_one_succeeds(concurrent_engine):
    # 1 cent = 10,000 µ$ covers one 6,000 µ$ request, not two.
    organization = _organization(concurrent_engine, funds_cents=1, price=6_000)

    outcomes = race([_metering(concurrent_engine, organization.id) for _ in range(2)], threads=2)

    assert sorted(type(outcome).__name__ for outcome in outcomes) == [
        "InsufficientFunds",
        "MeteredRequest",
    ]
    assert _unbilled(concurrent_engine, organization) == 6_000
    assert count(concurrent_engine, UsageRecord) == 1
    _no_mismatch(concurrent_engine)


def test_forty_threads_racing_for_funds_for_twenty_five_requests_get_exactly_twenty_five(
    concurrent_engine,
):
    price = 4_000
    organization = _organization(concurrent_engine, funds_cents=10, price=price)  # 25 × 4,000

    outcomes = race([_metering(concurrent_engine, organization.id) for _ in range(40)], threads=40)

    metered = [outcome for outcome in outcomes if isinstance(outcome, MeteredRequest)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, InsufficientFunds)]
    assert (len(metered), len(refused)) == (25, 15)
    assert sorted(result.period_requests for result in metered) == list(range(1, 26))
    assert _unbilled(concurrent_engine, organization) == 25 * price
    assert count(concurrent_engine, UsageRecord) == 25
    _no_mismatch(concurrent_engine)


def test_the_same_request_key_from_five_threads_at_once_is_recorded_and_charged_once(
    concurrent_engine,
):
    organization = _organization(concurrent_engine, funds_cents=100, price=3_000)

    outcomes = race(
        [_metering(concurrent_engine, organization.id, "lookup-42") for _ in range(5)], threads=5
    )

    metered = [outcome for outcome in outcomes if isinstance(outcome, MeteredRequest)]
    assert len(metered) == 5
    assert {(m.cost_micros, m.period, m.period_requests) for m in metered} == {
        (3_000, "2026-11", 1)
    }
    assert sum(not result.replayed for result in metered) == 1
    assert count(concurrent_engine, UsageRecord) == 1
    assert _unbilled(concurrent_engine, organization) == 3_000
    account = fetch(concurrent_engine, BillingAccount, organization.id)
    assert account.period_requests == 1
    _no_mismatch(concurrent_engine)


@pytest.mark.postgres
def test_a_key_committed_elsewhere_after_the_look_up_is_taken_back_and_replayed(
    request: pytest.FixtureRequest,
):
    """PostgreSQL lets another transaction insert the same key between the meter's look-up
    and its insert (SQLite's write lock cannot): the meter then undoes its own spending."""
    engine: Engine = request.getfixturevalue("postgres_engine")
    reset_database(engine)
    organization = _organization(engine, funds_cents=100, price=3_000)
    started = threading.Event()
    other = engine.connect()
    transaction = other.begin()
    other.execute(
        insert(UsageRecord).values(
            id=uuid.uuid4(),
            organization_id=organization.id,
            product=Product.SMART_CNAM.value,
            lookup_type=LookupType.SOURCE_RISK.value,
            period="2026-11",
            included=False,
            cost_micros=3_000,
            request_key="lookup-43",
            created_at=NOW,
        )
    )
    # The other transaction also counted its request, as the meter would have.
    other.execute(
        update(BillingAccount)
        .where(col(BillingAccount.organization_id) == organization.id)
        .values(period="2026-11", period_requests=1, unbilled_micros=3_000)
    )
    meter = _metering(engine, organization.id, "lookup-43")
    outcome: list[object] = []

    def late_meter() -> None:
        started.set()
        outcome.append(meter())

    thread = threading.Thread(target=late_meter)
    thread.start()
    started.wait(timeout=30)
    with engine.connect() as watcher:
        # Commit only once the meter waits on the other transaction's lock.
        for _attempt in range(3_000):
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
            watcher.rollback()
            if waiting:
                break
            threading.Event().wait(0.01)
    transaction.commit()
    other.close()
    thread.join(timeout=60)

    (result,) = outcome
    assert isinstance(result, MeteredRequest)
    assert (result.cost_micros, result.replayed, result.period_requests) == (3_000, True, 1)
    assert count(engine, UsageRecord) == 1
    account = fetch(engine, BillingAccount, organization.id)
    assert (account.period_requests, account.unbilled_micros) == (1, 3_000)
    _no_mismatch(engine)
