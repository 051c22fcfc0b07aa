"""Adding funds under real concurrency: threads, one unit of work each, on file SQLite (WAL)
and PostgreSQL (``concurrent_engine``)."""

from __future__ import annotations

from sqlmodel import select

from portal_core import db
from portal_core.errors import PaymentDeclined
from portal_core.models.billing import BillingAccount, LedgerEntry
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.services import ledger
from portal_core.services.payments import top_ups
from tests.factories import actor_of, make_card, make_user, organization_of
from tests.services.support import count, fetch, race


def _owner_with_card(engine, test_card: str = "pm_card_visa"):
    with db.write_session(engine) as session:
        owner = make_user(session)
        card = make_card(session, organization_of(session, owner), test_card=test_card)
    return owner, card


def _top_up(engine, owner, card_id, key, amount_cents=1_000):
    def pay():
        with db.write_session(engine) as session:
            return top_ups.add_funds(
                session,
                actor_of(owner),
                payment_method_id=card_id,
                amount_cents=amount_cents,
                idempotency_key=key,
            ).id

    return pay


def test_a_hundred_concurrent_ten_dollar_top_ups_add_exactly_a_thousand_dollars(concurrent_engine):
    owner, card = _owner_with_card(concurrent_engine)
    top_ups = [_top_up(concurrent_engine, owner, card.id, f"top-up-{n}") for n in range(100)]

    payment_ids = race(top_ups, threads=8)

    assert len(set(payment_ids)) == 100
    balance = fetch(concurrent_engine, BillingAccount, owner.organization_id).balance_micros
    assert balance == 100_000 * MICROS_PER_CENT
    assert count(concurrent_engine, Payment, Payment.status == PaymentStatus.SUCCEEDED) == 100
    assert count(concurrent_engine, LedgerEntry) == 100
    with db.read_session(concurrent_engine) as session:
        assert ledger.balance_mismatches(session) == []


def test_the_same_key_five_times_at_once_makes_one_payment_and_one_entry(concurrent_engine):
    owner, card = _owner_with_card(concurrent_engine)
    double_clicks = [
        _top_up(concurrent_engine, owner, card.id, "pay-now-1", amount_cents=2_500)
        for _ in range(5)
    ]

    payment_ids = race(double_clicks, threads=5)

    assert len(set(payment_ids)) == 1
    assert count(concurrent_engine, Payment) == 1
    assert count(concurrent_engine, LedgerEntry) == 1
    balance = fetch(concurrent_engine, BillingAccount, owner.organization_id).balance_micros
    assert balance == 2_500 * MICROS_PER_CENT


def test_the_same_declined_key_five_times_at_once_keeps_one_failed_payment(concurrent_engine):
    owner, card = _owner_with_card(concurrent_engine, "pm_card_chargeDeclined")

    def attempt():
        try:
            _top_up(concurrent_engine, owner, card.id, "pay-now-declined")()
        except PaymentDeclined as declined:
            return declined.payment_id
        raise AssertionError("a declined card was charged")

    payment_ids = race([attempt] * 5, threads=5)

    assert len(set(payment_ids)) == 1
    with db.read_session(concurrent_engine) as session:
        statuses = session.exec(select(Payment.status)).all()
    assert statuses == [PaymentStatus.FAILED]
    assert count(concurrent_engine, LedgerEntry) == 0
