"""Auto-recharge under real concurrency (file SQLite in WAL, and PostgreSQL): crossings that
race make one recharge."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col

from portal_core import db
from portal_core.facts import FundsDropped
from portal_core.models.billing import BillingAccount, LedgerEntry
from portal_core.models.payments import Payment, PaymentSource, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.services.auto_recharge import on_funds_dropped, recharge
from tests.factories import fund, make_auto_recharge, make_card, make_user, organization_of
from tests.services.support import count, fetch, race

CENT = MICROS_PER_CENT


def _organization(engine, *, funds_cents: int, threshold_cents=2_000, amount_cents=5_000):
    with db.write_session(engine) as session:
        owner = make_user(session)
        organization = organization_of(session, owner)
        make_card(session, organization)
        make_auto_recharge(
            session, organization, threshold_cents=threshold_cents, amount_cents=amount_cents
        )
        fund(session, organization, funds_cents, memo="Opening funds")
        return organization.id


def _spend(engine, organization_id, cents):
    def spend():
        with db.write_connection(engine) as connection:
            balance, unbilled = connection.execute(
                update(BillingAccount)
                .where(col(BillingAccount.organization_id) == organization_id)
                .values(unbilled_micros=BillingAccount.unbilled_micros + cents * CENT)
                .returning(col(BillingAccount.balance_micros), col(BillingAccount.unbilled_micros))
            ).one()
            on_funds_dropped(
                connection,
                FundsDropped(
                    organization_id,
                    balance - unbilled + cents * CENT,
                    balance - unbilled,
                    "test-drop",
                ),
            )

    return spend


def _recharges(engine, organization_id) -> int:
    return count(
        engine,
        Payment,
        Payment.organization_id == organization_id,
        Payment.source == PaymentSource.AUTO_RECHARGE,
    )


def test_two_crossings_reported_at_once_make_one_recharge(concurrent_engine):
    organization_id = _organization(concurrent_engine, funds_cents=1_000)

    def crossing():
        # Two processes that each believe they crossed (a drop from $30 to $10).
        with db.write_connection(concurrent_engine) as connection:
            on_funds_dropped(
                connection,
                FundsDropped(organization_id, 3_000 * CENT, 1_000 * CENT, "test-drop"),
            )

    race([crossing, crossing], threads=2)

    assert _recharges(concurrent_engine, organization_id) == 1
    account = fetch(concurrent_engine, BillingAccount, organization_id)
    assert account.balance_micros == 6_000 * CENT


def test_five_recharges_racing_for_one_organization_make_one_payment(concurrent_engine):
    organization_id = _organization(concurrent_engine, funds_cents=1_000)

    made = race([lambda: recharge(concurrent_engine, organization_id)] * 5, threads=5)

    assert len({payment.id for payment in made if payment is not None}) == 1
    assert _recharges(concurrent_engine, organization_id) == 1
    assert count(concurrent_engine, LedgerEntry) == 2  # the opening funds and one recharge


def test_many_concurrent_spends_crossing_the_threshold_recharge_once(concurrent_engine):
    organization_id = _organization(
        concurrent_engine, funds_cents=3_000, threshold_cents=2_000, amount_cents=5_000
    )

    race([_spend(concurrent_engine, organization_id, 100) for _ in range(20)], threads=8)

    assert _recharges(concurrent_engine, organization_id) == 1
    account = fetch(concurrent_engine, BillingAccount, organization_id)
    # $30 − 20 × $1 + one $50 recharge.
    assert account.balance_micros - account.unbilled_micros == 6_000 * CENT
    assert count(concurrent_engine, Payment, Payment.status == PaymentStatus.SUCCEEDED) == 1
