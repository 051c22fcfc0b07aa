"""Lookups under real concurrency (file SQLite in WAL, and PostgreSQL): eight threads looking
numbers up for one organization bill each lookup exactly once, a replayed key once in all,
and the funds that run out refuse the rest, each refusal logged and charged nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import LookupRefused
from portal_core.models.billing import BillingAccount, UsageRecord
from portal_core.models.products import EventStatus, ProductEvent, ProductEventDaily
from portal_core.services.lookups import LookupResult
from tests.services.products_support import look_up, member
from tests.services.support import count, fetch, race

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
PRICE = 3_000  # Starter's $0.0030


def _looking_up(engine, who, key: str | None = None):
    def job() -> LookupResult | LookupRefused:
        try:
            return look_up(
                engine, who, "+14169671111", now=NOW, request_key=key or uuid.uuid4().hex
            )
        except LookupRefused as refused:
            return refused

    return job


def _logged(engine, status: EventStatus) -> int:
    return count(engine, ProductEvent, col(ProductEvent.status) == status)


def test_eight_threads_bill_each_lookup_once(concurrent_engine) -> None:
    who = member(concurrent_engine, contract_included_requests=5)
    results = race([_looking_up(concurrent_engine, who) for _ in range(40)], threads=8)
    assert all(isinstance(result, LookupResult) for result in results)
    assert sum(result.included for result in results) == 5
    assert count(concurrent_engine, UsageRecord) == 40
    assert _logged(concurrent_engine, EventStatus.OK) == 40
    account = fetch(concurrent_engine, BillingAccount, who.organization_id)
    assert account.unbilled_micros == 35 * PRICE
    with db.read_session(concurrent_engine) as session:
        logged_cost = session.exec(select(func.sum(ProductEvent.cost_micros))).one()
        rolled_up = session.exec(select(func.sum(ProductEventDaily.events))).one()
    assert logged_cost == 35 * PRICE
    assert rolled_up == 40


def test_one_request_key_raced_by_eight_threads_is_charged_and_logged_once(
    concurrent_engine,
) -> None:
    who = member(concurrent_engine, contract_included_requests=0)
    results = race(
        [_looking_up(concurrent_engine, who, key="one-press") for _ in range(8)], threads=8
    )
    assert sum(not result.replayed for result in results) == 1
    assert count(concurrent_engine, UsageRecord) == 1
    assert _logged(concurrent_engine, EventStatus.OK) == 1
    assert fetch(concurrent_engine, BillingAccount, who.organization_id).unbilled_micros == PRICE


def test_funds_that_run_out_refuse_the_rest_and_each_refusal_is_logged(concurrent_engine) -> None:
    # $0.10 of funds pays 33 lookups at $0.0030 (the 34th would need $0.102).
    who = member(concurrent_engine, funds_cents=10, contract_included_requests=0)
    results = race([_looking_up(concurrent_engine, who) for _ in range(40)], threads=8)
    served = [result for result in results if isinstance(result, LookupResult)]
    refused = [result for result in results if isinstance(result, LookupRefused)]
    assert (len(served), len(refused)) == (33, 7)
    assert count(concurrent_engine, UsageRecord) == 33
    assert _logged(concurrent_engine, EventStatus.OK) == 33
    assert _logged(concurrent_engine, EventStatus.REFUSED) == 7
    account = fetch(concurrent_engine, BillingAccount, who.organization_id)
    assert account.unbilled_micros == 33 * PRICE
