"""The ledger under real concurrency: threads, one session each, on file SQLite (WAL) and on
PostgreSQL (the ``concurrent_engine`` fixture). A shared in-memory connection would prove
nothing here (docs/architecture.md, Tests)."""

from __future__ import annotations

from sqlmodel import select

from portal_core import db
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.money import MICROS_PER_CENT
from portal_core.services import ledger
from tests.factories import make_organization
from tests.services.support import count, fetch, race


def _posting(engine, organization_id, amount_cents, key):
    def post():
        with db.write_session(engine) as session:
            return ledger.post_entry(
                session,
                organization_id=organization_id,
                kind=EntryKind.PAYMENT,
                amount_cents=amount_cents,
                idempotency_key=key,
                memo="concurrent top-up",
            ).id

    return post


def _organization(engine):
    with db.write_session(engine) as session:
        return make_organization(session)


def _balance_micros(engine, organization):
    return fetch(engine, BillingAccount, organization.id).balance_micros


def test_the_same_key_posted_five_times_at_once_posts_one_entry(concurrent_engine):
    organization = _organization(concurrent_engine)
    double_clicks = [
        _posting(concurrent_engine, organization.id, 2_500, "checkout-42") for _ in range(5)
    ]

    entry_ids = race(double_clicks, threads=5)

    assert len(set(entry_ids)) == 1
    assert count(concurrent_engine, LedgerEntry) == 1
    assert _balance_micros(concurrent_engine, organization) == 2_500 * MICROS_PER_CENT
    with db.read_session(concurrent_engine) as session:
        assert ledger.balance_mismatches(session) == []


def test_a_hundred_concurrent_postings_all_count(concurrent_engine):
    organization = _organization(concurrent_engine)
    before = _balance_micros(concurrent_engine, organization)
    postings = [
        _posting(concurrent_engine, organization.id, 1_000, f"top-up-{number}")
        for number in range(100)
    ]

    entry_ids = race(postings, threads=8)

    assert len(set(entry_ids)) == 100
    assert _balance_micros(concurrent_engine, organization) - before == 100_000 * MICROS_PER_CENT
    with db.read_session(concurrent_engine) as session:
        amounts = session.exec(
            select(LedgerEntry.amount_cents).where(LedgerEntry.organization_id == organization.id)
        ).all()
        assert ledger.balance_mismatches(session) == []
    assert amounts == [1_000] * 100


def test_concurrent_postings_to_two_organizations_stay_apart(concurrent_engine):
    first, second = _organization(concurrent_engine), _organization(concurrent_engine)
    postings = [
        _posting(concurrent_engine, organization.id, cents, f"{organization.id}-{number}")
        for number in range(20)
        for organization, cents in ((first, 700), (second, 300))
    ]

    race(postings, threads=6)

    assert _balance_micros(concurrent_engine, first) == 20 * 700 * MICROS_PER_CENT
    assert _balance_micros(concurrent_engine, second) == 20 * 300 * MICROS_PER_CENT
    with db.read_session(concurrent_engine) as session:
        assert ledger.balance_mismatches(session) == []


def test_a_hundred_concurrent_postings_each_record_a_distinct_running_total(concurrent_engine):
    organization = _organization(concurrent_engine)
    before_cents = _balance_micros(concurrent_engine, organization) // MICROS_PER_CENT
    postings = [
        _posting(concurrent_engine, organization.id, 1_000, f"running-{number}")
        for number in range(100)
    ]

    race(postings, threads=8)

    with db.read_session(concurrent_engine) as session:
        balances_after = session.exec(
            select(LedgerEntry.balance_after_cents).where(
                LedgerEntry.organization_id == organization.id
            )
        ).all()
    assert sorted(balances_after) == [before_cents + 1_000 * step for step in range(1, 101)]
