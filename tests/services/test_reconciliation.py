"""Reconciliation: payments whose webhook never came are settled by asking the gateway
(Stripe's fake), once; unsettled ones reach staff after an hour. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import PaymentGatewayUnavailable
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.payments.stripe_gateway import CHECKOUT_LIFETIME_SECONDS
from portal_core.services.payments.reconciliation import ASK_AFTER, REPORT_AFTER, reconcile
from tests.factories import make_user
from tests.services.support import count, fetch
from tests.support.stripe_flows import deliver, start_top_up, stripe_card


@pytest.fixture
def owner(engine):
    with db.write_session(engine) as session:
        return make_user(session)


def _pending(engine, fake, gateway, owner) -> Payment:
    card = stripe_card(engine, fake, gateway, owner)
    payment = start_top_up(engine, gateway, owner, card)
    assert payment.status == PaymentStatus.PENDING and payment.gateway_ref
    return payment


def _balance(engine, owner) -> int:
    return fetch(engine, BillingAccount, owner.organization_id).balance_micros // MICROS_PER_CENT


def _later(delay: timedelta):
    return utcnow() + delay + timedelta(seconds=30)


def _staff_notices(engine) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(
            session.exec(select(Notice).where(Notice.kind == NoticeKind.PAYMENT_UNSETTLED)).all()
        )


def test_a_paid_top_up_whose_webhook_never_came_is_credited_once(engine, fake, gateway, owner):
    payment = _pending(engine, fake, gateway, owner)
    paid = fake.pay_checkout(payment.gateway_ref or "")  # ...and the webhook is lost

    first = reconcile(engine, gateway=gateway, now=_later(ASK_AFTER))
    second = reconcile(engine, gateway=gateway, now=_later(ASK_AFTER))
    late = deliver(engine, gateway, "checkout.session.completed", paid)

    assert (first.credited, second.credited, late.outcome) == (1, 0, "already credited")
    stored = fetch(engine, Payment, payment.id)
    assert (stored.status, stored.payment_intent_ref) == (
        PaymentStatus.SUCCEEDED,
        paid["payment_intent"],
    )
    assert _balance(engine, owner) == 10_000


def test_an_expired_top_up_page_fails_its_payment_quietly(engine, fake, gateway, owner):
    payment = _pending(engine, fake, gateway, owner)
    fake.expire_checkout(payment.gateway_ref or "")

    summary = reconcile(engine, gateway=gateway, now=_later(ASK_AFTER))

    assert summary.failed == 1
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.FAILED
    assert count(engine, Notice) == 0
    assert _balance(engine, owner) == 0


def test_a_recent_payment_is_not_asked_about(engine, fake, gateway, owner):
    _pending(engine, fake, gateway, owner)
    asked_before = len(fake.requests)

    summary = reconcile(engine, gateway=gateway)

    assert (summary.credited, summary.failed, summary.still_open) == (0, 0, 0)
    assert len(fake.requests) == asked_before


def test_a_payment_still_open_after_an_hour_reaches_staff_once(engine, fake, gateway, owner):
    payment = _pending(engine, fake, gateway, owner)

    soon = reconcile(engine, gateway=gateway, now=_later(ASK_AFTER))
    after_an_hour = reconcile(engine, gateway=gateway, now=_later(REPORT_AFTER))
    again = reconcile(engine, gateway=gateway, now=_later(REPORT_AFTER))

    assert (soon.still_open, soon.reported) == (1, 0)
    assert (after_an_hour.reported, again.reported) == (1, 0)
    [notice] = _staff_notices(engine)
    assert notice.organization_id is None and payment.reference in notice.title
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.PENDING


def test_a_top_up_page_lives_thirty_minutes(engine, fake, gateway, owner):
    before = int(time.time())
    _pending(engine, fake, gateway, owner)

    sent = fake.posts("/v1/checkout/sessions")[-1]
    expires_at = int(sent.params["expires_at"])
    assert before + 30 * 60 <= expires_at <= int(time.time()) + CHECKOUT_LIFETIME_SECONDS


def test_a_top_up_retried_after_its_commit_failed_is_accepted_by_stripe(
    engine, fake, gateway, owner
):
    card = stripe_card(engine, fake, gateway, owner)
    with pytest.raises(RuntimeError), db.write_session(engine) as session:
        from portal_core.services.payments import top_ups
        from tests.factories import actor_of

        top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=10_000,
            idempotency_key="page-key",
            gateway=gateway,
        )
        raise RuntimeError("the commit failed after Stripe made the session")

    try:
        retried = start_top_up(engine, gateway, owner, card, key="page-key")
    except PaymentGatewayUnavailable:  # Stripe refused the reused key with new parameters
        pytest.fail("the retry reused the first attempt's key with other parameters")

    assert retried.status == PaymentStatus.PENDING and retried.checkout_url
    assert count(engine, Payment) == 1
