"""A closed organization's balance goes back to its cards even when the process closing it
dies, or the card processor fails, right after the closing commits: the refund is kept as a
task that the ``closing.refunds`` job attempts again (docs/product.md, Pages › Users, Closing
the organization). Stripe is the real SDK against the local fake; every cent is followed from
Stripe's refunds to the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import col, func, select

from portal_core import db
from portal_core.errors import Conflict
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import EntryKind, LedgerEntry
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import (
    ClosingRefund,
    ClosingRefundStatus,
    Payment,
    Refund,
    RefundStatus,
)
from portal_core.payments.gateway import RefundInfo, RefundRequest
from portal_core.payments.stripe_gateway import StripeGateway
from portal_core.queries.billing import funds_of
from portal_core.services import closing
from portal_core.services.jobs import JOBS
from portal_core.services.payments import refunds
from tests.factories import actor_of, make_starter_organization, make_user
from tests.services.support import race
from tests.support import stripe_flows
from tests.support.fake_stripe import FakeStripe

NOW = datetime(2026, 5, 15, 16, 0, tzinfo=UTC)
STARTER_WITH_HST_CENTS = 3_000 + 390  # Starter's $30.00 and Ontario's 13 % HST
PAID_CENTS = 8_000  # what the card put on the balance, before the convenience fee
LEFT_CENTS = PAID_CENTS - STARTER_WITH_HST_CENTS  # what is left after the last invoice


def _closed_with_a_stripe_payment(
    engine: Engine, fake: FakeStripe, gateway: StripeGateway, *payments: int
) -> Organization:
    """A Starter organization that paid ``payments`` (or $80.00) by card on Stripe, then
    closed: its last invoice is posted, its refunds not yet tried (the process stopped)."""
    with db.write_session(engine) as session:
        organization = make_starter_organization(session)
        owner = make_user(session, organization=organization, role=Role.OWNER)
    card = stripe_flows.stripe_card(engine, fake, gateway, owner)
    for number, amount in enumerate(payments or (PAID_CENTS,)):
        stripe_flows.paid_top_up(
            engine, fake, gateway, owner, card, amount_cents=amount, key=f"top-up-{number}"
        )
    _close(engine, owner, organization)
    return organization


def _close(engine: Engine, owner: User, organization: Organization) -> None:
    with db.write_session(engine) as session:
        closing.close_organization(session, actor_of(owner), organization.name, now=NOW)


def _balance(engine: Engine, organization: Organization) -> int:
    with db.read_session(engine) as session:
        return funds_of(session, organization.id).balance_cents


def _task(engine: Engine, organization: Organization) -> ClosingRefund:
    with db.read_session(engine) as session:
        return session.get_one(ClosingRefund, organization.id)


def _stripe_refunds(fake: FakeStripe) -> list[dict[str, Any]]:
    return [item for item in fake.objects.values() if item.get("object") == "refund"]


def _staff_notices(engine: Engine) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(
            session.exec(select(Notice).where(Notice.kind == NoticeKind.ORGANIZATION_CLOSED)).all()
        )


def _assert_every_cent_followed(
    engine: Engine, fake: FakeStripe, organization: Organization, *, refunded_cents: int
) -> None:
    """Stripe's refunds are the portal's succeeded refunds, one for one and to the cent; the
    ledger's refund entries take exactly their shares off the balance."""
    with db.read_session(engine) as session:
        ours = session.exec(select(Refund).where(Refund.organization_id == organization.id)).all()
        entries = session.exec(
            select(func.sum(LedgerEntry.amount_cents)).where(
                LedgerEntry.organization_id == organization.id,
                LedgerEntry.kind == EntryKind.REFUND,
            )
        ).one()
    at_stripe = {item["id"]: int(item["amount"]) for item in _stripe_refunds(fake)}
    succeeded = {
        row.gateway_ref: row.amount_cents for row in ours if row.status == RefundStatus.SUCCEEDED
    }
    assert succeeded == at_stripe
    assert -(entries or 0) == sum(row.balance_cents for row in ours if row.ledger_entry_id)
    assert -(entries or 0) == refunded_cents


def _job(engine: Engine, now: datetime, gateway: StripeGateway) -> closing.RefundSweep:
    return closing.refund_closed_balances(engine, gateway=gateway, now=now)


def test_the_job_refunds_a_balance_whose_process_died_after_the_closing(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    assert _balance(engine, organization) == LEFT_CENTS
    assert _task(engine, organization).status == ClosingRefundStatus.PENDING

    swept = _job(engine, NOW + timedelta(minutes=5), gateway)

    assert swept == closing.RefundSweep(refunded=1, retrying=0, handed_to_staff=0)
    assert _balance(engine, organization) == 0
    assert _task(engine, organization).status == ClosingRefundStatus.REFUNDED
    assert len(_stripe_refunds(fake)) == 1
    _assert_every_cent_followed(engine, fake, organization, refunded_cents=LEFT_CENTS)
    assert _staff_notices(engine) == []


def test_a_stripe_failure_is_retried_by_a_later_run_and_refunds_once(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    fake.fail_next_posts(1)  # the refund's request never reached Stripe

    first = closing.refund_balance(engine, organization.id, gateway=gateway, now=NOW)

    assert (first.status, first.left_cents, first.refunded_cents) == (
        ClosingRefundStatus.PENDING,
        LEFT_CENTS,
        0,
    )
    task = _task(engine, organization)
    assert (task.attempts, task.next_attempt_at) == (1, NOW + closing.FIRST_RETRY)
    assert task.last_error is not None and "did not answer" in task.last_error
    assert _staff_notices(engine) == []
    early = _job(engine, NOW + timedelta(minutes=1), gateway)  # not due yet: nothing asked
    assert early == closing.RefundSweep(refunded=0, retrying=0, handed_to_staff=0)

    later = _job(engine, NOW + closing.FIRST_RETRY, gateway)

    assert later == closing.RefundSweep(refunded=1, retrying=0, handed_to_staff=0)
    [refund] = _stripe_refunds(fake)
    refund_posts = fake.posts("/v1/refunds")
    assert len({post.idempotency_key for post in refund_posts}) == 1  # asked again, same key
    assert _balance(engine, organization) == 0
    _assert_every_cent_followed(engine, fake, organization, refunded_cents=LEFT_CENTS)
    assert int(refund["amount"]) > LEFT_CENTS  # the convenience fee goes back too
    assert _staff_notices(engine) == []


def test_a_refund_stripe_made_whose_answer_was_lost_is_recorded_once(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)

    class DiesAfterStripeAnswers:
        """The process stops after Stripe refunded, before the answer is recorded."""

        def __getattr__(self, name: str) -> Any:
            return getattr(gateway, name)

        def refund(self, request: RefundRequest) -> RefundInfo:
            gateway.refund(request)
            raise RuntimeError("the process stopped")

    first = closing.refund_balance(
        engine,
        organization.id,
        gateway=DiesAfterStripeAnswers(),
        now=NOW,
    )
    assert first.status == ClosingRefundStatus.PENDING
    assert "RuntimeError" in (_task(engine, organization).last_error or "")
    assert len(_stripe_refunds(fake)) == 1

    _job(engine, NOW + closing.FIRST_RETRY, gateway)

    assert len(_stripe_refunds(fake)) == 1  # Stripe answered the same key with the same refund
    assert _balance(engine, organization) == 0
    _assert_every_cent_followed(engine, fake, organization, refunded_cents=LEFT_CENTS)


def test_two_runs_at_once_refund_once(concurrent_engine, fake, gateway):
    engine = concurrent_engine
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    later = NOW + timedelta(minutes=5)

    swept = race([lambda: _job(engine, later, gateway)] * 2, threads=2)

    assert sorted(run.refunded for run in swept) == [0, 1]
    assert len(_stripe_refunds(fake)) == 1
    assert _balance(engine, organization) == 0
    assert _task(engine, organization).attempts == 1
    _assert_every_cent_followed(engine, fake, organization, refunded_cents=LEFT_CENTS)


def test_after_the_last_failed_attempt_staff_are_told_once(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    fake.fail_next_posts(1_000)  # Stripe keeps failing
    at = NOW
    for attempt in range(1, closing.MAX_ATTEMPTS):
        outcome = closing.refund_balance(engine, organization.id, gateway=gateway, now=at)
        assert (outcome.attempted, outcome.status) == (True, ClosingRefundStatus.PENDING)
        assert _staff_notices(engine) == []
        at += closing.retry_delay(attempt)

    last = _job(engine, at, gateway)

    assert last == closing.RefundSweep(refunded=0, retrying=0, handed_to_staff=1)
    [notice] = _staff_notices(engine)
    assert f"refund ${LEFT_CENTS // 100}.{LEFT_CENTS % 100:02d}" in notice.title
    assert "did not answer" in notice.body and "twice" in notice.body
    task = _task(engine, organization)
    assert (task.status, task.left_cents, task.attempts) == (
        ClosingRefundStatus.STAFF,
        LEFT_CENTS,
        closing.MAX_ATTEMPTS,
    )
    fake.fail_next_posts(0)
    after = _job(engine, at + timedelta(days=1), gateway)  # handed over: never tried again
    assert after == closing.RefundSweep(refunded=0, retrying=0, handed_to_staff=0)
    assert len(_staff_notices(engine)) == 1
    assert _stripe_refunds(fake) == []
    assert _balance(engine, organization) == task.left_cents  # what staff were handed


def test_the_walk_goes_on_from_the_payment_it_stopped_at(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway, 6_000, 2_000)
    fake.fail_next_posts(1)  # the newest payment's refund fails

    closing.refund_balance(engine, organization.id, gateway=gateway, now=NOW)
    assert _stripe_refunds(fake) == []
    _job(engine, NOW + closing.FIRST_RETRY, gateway)

    amounts = sorted(int(item["amount"]) for item in _stripe_refunds(fake))
    assert len(amounts) == 2  # the newest in whole, then part of the older one
    assert _balance(engine, organization) == 0
    _assert_every_cent_followed(engine, fake, organization, refunded_cents=LEFT_CENTS)


def test_an_organization_closed_without_a_task_is_found_by_its_balance(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    with db.write_session(engine) as session:  # closed before refunds were kept as tasks
        session.delete(session.get_one(ClosingRefund, organization.id))

    swept = _job(engine, NOW + timedelta(minutes=5), gateway)

    assert swept.refunded == 1
    assert _balance(engine, organization) == 0
    _assert_every_cent_followed(engine, fake, organization, refunded_cents=LEFT_CENTS)


def test_the_job_is_registered_every_five_minutes(engine):
    [job] = [job for job in JOBS if job.name == "closing.refunds"]
    with db.write_session(engine) as session:
        organization = make_starter_organization(session, top_up_cents=10_000)  # no card
        owner = make_user(session, organization=organization, role=Role.OWNER)
    _close(engine, owner, organization)

    report = job.run(engine, NOW + timedelta(minutes=5))

    assert report.summary == (
        "0 closed organizations' balances refunded, 0 to try again, 1 handed to staff."
    )
    assert report.succeeded
    assert job.schedule.describe() == "Every 5 minutes"
    [notice] = _staff_notices(engine)
    assert "could not go back to its cards" in notice.body
    with db.read_session(engine) as session:
        assert (
            session.exec(
                select(col(Refund.id)).where(Refund.organization_id == organization.id)
            ).all()
            == []
        )


def _staff_refund(engine: Engine, organization: Organization, gateway: StripeGateway, key: str):
    with db.write_session(engine) as session:
        staff = actor_of(make_user(session, role=Role.STAFF))
        payment = session.exec(
            select(Payment).where(Payment.organization_id == organization.id)
        ).one()
    return refunds.refund_payment(
        engine,
        staff,
        organization_id=organization.id,
        payment_id=payment.id,
        amount="10.00",
        reason="The partner asked for part of it back",
        idempotency_key=key,
        gateway=gateway,
        now=NOW + timedelta(minutes=1),
    )


def test_staff_cannot_refund_by_hand_while_the_closings_refund_is_under_way(engine, fake, gateway):
    """Both would take from the same balance: the closing's refund is computed from what is
    left when it runs, and a hand refund still waiting on Stripe is not yet off the balance."""
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    with pytest.raises(Conflict) as refused:
        _staff_refund(engine, organization, gateway, "by-hand-1")
    assert "closed" in refused.value.message and "being refunded" in refused.value.message
    with db.read_session(engine) as session:
        made = session.exec(select(Refund).where(Refund.organization_id == organization.id))
        assert made.all() == []
    assert _stripe_refunds(fake) == []
    assert _balance(engine, organization) == LEFT_CENTS


def test_staff_refund_by_hand_what_was_handed_to_them(engine, fake, gateway):
    organization = _closed_with_a_stripe_payment(engine, fake, gateway)
    with db.write_session(engine) as session:
        task = session.get_one(ClosingRefund, organization.id)
        task.status = ClosingRefundStatus.STAFF
        task.left_cents = LEFT_CENTS
        session.add(task)

    refund = _staff_refund(engine, organization, gateway, "by-hand-2")

    assert (refund.status, refund.amount_cents) == (RefundStatus.SUCCEEDED, 1_000)
    assert len(_stripe_refunds(fake)) == 1
