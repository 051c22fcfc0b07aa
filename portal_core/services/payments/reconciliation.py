"""Reconciliation: settling the payments whose webhook never came
(``python -m portal_core billing reconcile``, run by the scheduler every few minutes).

A top-up's Checkout page lives 30 minutes; an auto-recharge is charged off-session. Either is
settled by Stripe's signed webhook — but a webhook can be lost (a misconfigured endpoint, an
outage longer than Stripe's retries), and then the partner's money would never arrive, and
auto-recharge, which waits for its pending charge, would stop for good. So every payment still
pending ``ASK_AFTER`` (5 minutes) after it was made is asked about:

- a Checkout session or a PaymentIntent the gateway says is **paid** is credited (the same
  settlement as the webhook's, once whoever comes first);
- one that **expired** or **failed** is failed (a declined recharge tells its owners, as a
  declined charge does);
- one still **open** (the partner is on the page, the bank is deciding) is left for next time;
- a recharge the gateway never answered (no PaymentIntent recorded) is charged again with its
  own key, which the gateway answers with the first charge if there was one; after a day,
  when Stripe no longer remembers the key, it is failed;
- one still pending ``REPORT_AFTER`` (an hour) after it was made becomes a staff notice, once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import Payment, PaymentSource, PaymentStatus
from portal_core.money import format_cents
from portal_core.payments import gateway_for
from portal_core.payments.gateway import Gateway, PaymentState
from portal_core.services import auto_recharge, notices
from portal_core.services.payments.settlement import credit_payment, fail_payment, mail_failure

log = logging.getLogger(__name__)

ASK_AFTER = timedelta(minutes=5)
REPORT_AFTER = timedelta(hours=1)
# Stripe keeps an idempotency key 24 hours: past that, charging again could charge twice.
ABANDONED_AFTER = timedelta(days=1)
NO_ANSWER = "The card payment service did not answer, so this payment did not go through."
EXPIRED = "The payment page expired before the payment was made."
DECLINED = "Your bank did not complete the payment."
_UNSETTLED = "payment-unsettled:"


@dataclass
class ReconcileSummary:
    credited: int = 0
    failed: int = 0
    asked_again: int = 0
    still_open: int = 0
    reported: int = 0
    errors: int = 0


def reconcile(
    engine: Engine, *, gateway: Gateway | None = None, now: datetime | None = None
) -> ReconcileSummary:
    """Ask the gateway about every payment pending longer than ``ASK_AFTER`` and settle what
    it answers (see the module docstring). Safe to run as often as a scheduler likes."""
    gateway = gateway or gateway_for()
    now = now or utcnow()
    summary = ReconcileSummary()
    with db.read_session(engine) as session:
        pending = session.exec(
            select(Payment.id)
            .where(
                Payment.status == PaymentStatus.PENDING,
                Payment.gateway == gateway.name,
                col(Payment.created_at) < now - ASK_AFTER,
            )
            .order_by(col(Payment.created_at))
        ).all()
    for payment_id in pending:
        try:
            _reconcile_one(engine, gateway, payment_id, now, summary)
        except Exception:
            log.exception("Could not reconcile payment %s", payment_id)
            summary.errors += 1
    with db.write_session(engine) as session:
        summary.reported = _report_unsettled(session, now)
    return summary


def _reconcile_one(
    engine: Engine,
    gateway: Gateway,
    payment_id: uuid.UUID,
    now: datetime,
    summary: ReconcileSummary,
) -> None:
    with db.read_session(engine) as session:
        payment = session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING:
        return
    if payment.gateway_ref is None:
        _never_answered(engine, gateway, payment, now, summary)
        return
    state = gateway.payment_state(payment.gateway_ref)
    with db.write_session(engine) as session:
        _settle(session, payment, state, now, summary)


def _never_answered(
    engine: Engine, gateway: Gateway, payment: Payment, now: datetime, summary: ReconcileSummary
) -> None:
    """A payment saved, whose gateway call never came back with an answer."""
    too_old = payment.created_at < now - ABANDONED_AFTER
    if payment.source == PaymentSource.AUTO_RECHARGE and not too_old:
        auto_recharge.charge_again(engine, gateway, payment.id, now)
        summary.asked_again += 1
        return
    if payment.source == PaymentSource.PORTAL and payment.created_at >= now - ASK_AFTER:
        return
    with db.write_session(engine) as session:
        if _fail(session, payment, NO_ANSWER, now, tell=False):
            summary.failed += 1


def _settle(
    session: Session,
    payment: Payment,
    state: PaymentState,
    now: datetime,
    summary: ReconcileSummary,
) -> None:
    if state.outcome == "paid":
        if credit_payment(session, payment, payment_intent_ref=state.payment_intent_ref, now=now):
            summary.credited += 1
        return
    if state.outcome == "expired":
        if _fail(session, payment, EXPIRED, now, tell=False):
            summary.failed += 1
        return
    if state.outcome == "failed":
        if _fail(session, payment, state.message or DECLINED, now, tell=True):
            summary.failed += 1
        return
    summary.still_open += 1


def _fail(session: Session, payment: Payment, message: str, now: datetime, *, tell: bool) -> bool:
    """Fail a pending payment: a recharge as a declined recharge is (its owners hear of it);
    a top-up quietly when its page expired, or with the bank's reason."""
    if payment.source == PaymentSource.AUTO_RECHARGE:
        return auto_recharge.record_off_session_failure(
            session, payment, message=message, needs_authentication=False, now=now
        )
    changed = fail_payment(session, payment, message, notify=tell, now=now)
    if changed and tell:
        mail_failure(session, payment, message)
    return changed


def _report_unsettled(session: Session, now: datetime) -> int:
    """A staff notice for each payment still pending an hour after it was made (once)."""
    stuck = session.exec(
        select(Payment, Organization.name)
        .join(Organization, col(Organization.id) == col(Payment.organization_id))
        .where(
            Payment.status == PaymentStatus.PENDING,
            col(Payment.created_at) < now - REPORT_AFTER,
        )
    ).all()
    told = set(
        session.exec(
            select(Notice.dedupe_key).where(col(Notice.dedupe_key).startswith(_UNSETTLED))
        ).all()
    )
    fresh = [(p, name) for p, name in stuck if f"{_UNSETTLED}{p.id}" not in told]
    for payment, organization_name in fresh:
        notices.post_for_staff(
            session,
            kind=NoticeKind.PAYMENT_UNSETTLED,
            title=f"{organization_name}: payment {payment.reference} unsettled",
            body=(
                f"{format_cents(payment.total_cents)} with {payment.card_label} "
                f"({payment.reference}, {payment.source.replace('_', '-')}) has been pending "
                f"since {payment.created_at:%Y-%m-%d %H:%M} UTC and the gateway has not settled "
                "it. Check it in the gateway's dashboard; reconciliation keeps asking."
            ),
            dedupe_key=f"{_UNSETTLED}{payment.id}",
            link_page_id="staff.billing",
            now=now,
        )
    return len(fresh)
