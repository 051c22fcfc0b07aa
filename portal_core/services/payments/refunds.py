"""Staff refund a card payment, in full or in part, through the gateway, with a reason.

The money leaves during the gateway's call, so the refund is saved first (``pending``, under
the page's idempotency key: a double click refunds once), then the gateway is asked with a key
of that refund (a retry is the same refund to Stripe), then its answer is settled
(``settlement.record_refund``: the ledger, the payment's status, the notices). A gateway that
did not answer leaves the refund pending: asking again with the same key finishes it, and
Stripe's ``charge.refunded`` event settles it by the refund's id in its metadata.

What can be refunded: a payment that reached the balance, is not disputed or charged back
(the bank holds that money), and has something left of its total charged; from $0.01 up to
what is left. Refunding takes the amount's share of the balance, even below zero.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PaymentGatewayUnavailable, ValidationFailed
from portal_core.models.base import utcnow
from portal_core.models.payments import (
    SETTLED_STATUSES,
    ClosingRefund,
    ClosingRefundStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from portal_core.money import format_cents
from portal_core.payments import gateway_for
from portal_core.payments.gateway import Gateway, RefundRequest
from portal_core.permissions import Actor, Capability, require
from portal_core.rules.payments import refundable_cents
from portal_core.services import audit
from portal_core.services.payments.settlement import record_refund
from portal_core.services.validation import amount_up_to, text_problem

MAX_REASON = 300
MAX_IDEMPOTENCY_KEY = 100
# The key of a closed organization's refund of one payment, followed by the payment's id.
CLOSING_REFUND_KEY = "closing-refund:"


def refund_payment(
    engine: Engine,
    actor: Actor,
    *,
    organization_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount: str,
    reason: str,
    idempotency_key: str,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> Refund:
    """Refund ``amount`` (dollars as typed; empty: all that is left) of one of the
    organization's payments. ``ValidationFailed`` names each bad field (``amount``,
    ``reason``); ``Conflict`` when the payment cannot be refunded; ``NotFound`` for a payment
    of another organization. Returns the refund (``succeeded``, or ``pending`` when the
    gateway did not answer)."""
    require(actor, Capability.STAFF)
    gateway = gateway or gateway_for()
    now = now or utcnow()
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed({"idempotency_key": "An idempotency key of 1–100 characters."})
    with db.write_session(engine) as session:
        refund = _saved_refund(
            session, actor, organization_id, payment_id, amount, reason, idempotency_key, now
        )
    return _through_gateway(engine, refund, gateway, created_by=actor.user_id, now=now)


def refund_on_closing(
    engine: Engine,
    *,
    organization_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount_cents: int,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> Refund:
    """Refund ``amount_cents`` of the total charged of a payment of an organization that
    closed (``services.closing``, which decides the amount from the balance left). Keyed by
    the payment: asked again, it is the same refund, never a second one."""
    gateway = gateway or gateway_for()
    now = now or utcnow()
    key = f"{CLOSING_REFUND_KEY}{payment_id}"
    with db.write_session(engine) as session:
        refund = session.exec(select(Refund).where(Refund.idempotency_key == key)).first()
        if refund is None:
            payment = session.exec(
                select(Payment).where(Payment.id == payment_id).with_for_update()
            ).first()
            if payment is None or payment.organization_id != organization_id:
                raise NotFound("That payment was not found for this organization.")
            if not 0 < amount_cents <= refundable_cents(payment):
                raise Conflict(_why_not(payment))
            refund, _saved = _new_refund(
                session,
                payment,
                amount_cents=amount_cents,
                reason="The organization closed its account: its balance goes back to its cards.",
                key=key,
                created_by=None,
                now=now,
            )
    return _through_gateway(engine, refund, gateway, created_by=None, now=now)


def _through_gateway(
    engine: Engine,
    refund: Refund,
    gateway: Gateway,
    *,
    created_by: uuid.UUID | None,
    now: datetime,
) -> Refund:
    """Ask the gateway for a saved, pending refund and settle its answer (see the module)."""
    if refund.status != RefundStatus.PENDING:
        return refund
    with db.read_session(engine) as session:
        payment = session.get(Payment, refund.payment_id)
        assert payment is not None
        request = RefundRequest(
            payment_intent_ref=payment.payment_intent_ref or payment.gateway_ref or "",
            amount_cents=refund.amount_cents,
            refund_id=refund.id,
            payment_id=payment.id,
            organization_id=refund.organization_id,
            idempotency_key=f"refund:{refund.id.hex}",
        )
    try:
        answer = gateway.refund(request)
    except ValidationFailed as refused:
        with db.write_session(engine) as session:
            _fail(session, refund.id, refused.message, now)
        raise
    except PaymentGatewayUnavailable:
        return refund
    with db.write_session(engine) as session:
        payment = session.get(Payment, refund.payment_id)
        row = session.get(Refund, refund.id)
        assert payment is not None and row is not None
        if answer.status not in ("succeeded", "pending"):
            _fail(session, row.id, answer.message or "The card's bank refused the refund.", now)
            session.refresh(row)
            return row
        settled = record_refund(
            session,
            payment,
            amount_cents=answer.amount_cents,
            gateway_ref=answer.ref,
            refund=row,
            reason=row.reason,
            created_by=created_by,
            now=now,
        )
        return settled or row


def _refuse_during_a_closings_refund(session: Session, organization_id: uuid.UUID) -> None:
    """A closed organization's balance is going back to its cards by itself: a refund by hand
    meanwhile would take from the same balance twice (the closing's is computed from what is
    left when it runs, and a hand refund waiting on the card processor is not yet off it).
    Staff refund by hand what was handed to them, once the task says so. The task's row is
    locked, as each attempt's claim locks it."""
    task = session.exec(
        select(ClosingRefund)
        .where(ClosingRefund.organization_id == organization_id)
        .with_for_update()
    ).first()
    if task is not None and task.status == ClosingRefundStatus.PENDING:
        raise Conflict(
            "This organization closed and its balance is being refunded to its cards by "
            f"itself (attempt {task.attempts} so far, the next at "
            f"{task.next_attempt_at:%Y-%m-%d %H:%M} UTC). Let it finish: what no card takes "
            "is handed to staff, with a notice, to refund by hand."
        )


def _saved_refund(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount: str,
    reason: str,
    idempotency_key: str,
    now: datetime,
) -> Refund:
    """The refund under this key (a double click), or a new pending one, checked."""
    key = f"staff-refund:{idempotency_key}"
    existing = session.exec(select(Refund).where(Refund.idempotency_key == key)).first()
    if existing is not None:
        if existing.payment_id != payment_id:
            raise Conflict("That refund was already asked for another payment: reload the page.")
        return existing
    payment = session.exec(
        select(Payment).where(Payment.id == payment_id).with_for_update()
    ).first()
    if payment is None or payment.organization_id != organization_id:
        raise NotFound("That payment was not found for this organization.")
    _refuse_during_a_closings_refund(session, organization_id)
    left = refundable_cents(payment)
    if left == 0:
        raise Conflict(_why_not(payment))
    errors: dict[str, str] = {}
    cents = left
    try:
        cents = refund_amount_cents(amount, left)
    except ValidationFailed as problem:
        errors.update(problem.errors)
    cleaned = reason.strip()
    if reason_problem := text_problem(cleaned, label="the reason", max_length=MAX_REASON):
        errors["reason"] = reason_problem
    if errors:
        raise ValidationFailed(errors)
    refund, saved = _new_refund(
        session,
        payment,
        amount_cents=cents,
        reason=cleaned,
        key=key,
        created_by=actor.user_id,
        now=now,
    )
    if not saved:
        return refund  # a double click's, saved a moment ago in another transaction
    audit.record(
        session,
        "payment.refund_requested",
        actor=actor,
        organization_id=organization_id,
        subject=payment.reference,
        detail=f"{format_cents(cents)} of {format_cents(payment.total_cents)}: {cleaned}",
    )
    return refund


def _new_refund(
    session: Session,
    payment: Payment,
    *,
    amount_cents: int,
    reason: str,
    key: str,
    created_by: uuid.UUID | None,
    now: datetime,
) -> tuple[Refund, bool]:
    """Save a pending refund under ``key`` (True); or the one a concurrent request saved
    under it first, if it won the race (False)."""
    refund = Refund(
        organization_id=payment.organization_id,
        payment_id=payment.id,
        gateway=payment.gateway,
        amount_cents=amount_cents,
        status=RefundStatus.PENDING,
        reason=reason,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
        created_by=created_by,
    )
    try:
        with session.begin_nested():
            session.add(refund)
            session.flush()
    except IntegrityError:
        raced = session.exec(select(Refund).where(Refund.idempotency_key == key)).first()
        if raced is None:
            raise
        return raced, False
    return refund, True


def refund_amount_cents(amount: str, left_cents: int) -> int:
    """The cents of a refund as typed: empty is all that is left; otherwise from $0.01 up to
    ``left_cents``. ``ValidationFailed({"amount": …})`` says why not."""
    return amount_up_to(
        amount, left_cents, out_of_bounds="Refund from $0.01 up to {left}, what is left."
    )


def _why_not(payment: Payment) -> str:
    if payment.status in (PaymentStatus.DISPUTED, PaymentStatus.CHARGED_BACK):
        return (
            f"{payment.reference} is disputed by the cardholder's bank: it cannot be refunded "
            "while the bank holds its money."
        )
    if payment.status not in SETTLED_STATUSES:
        return f"{payment.reference} never reached the balance: there is nothing to refund."
    return f"{payment.reference} is already refunded in full."


def _fail(session: Session, refund_id: uuid.UUID, message: str, now: datetime) -> None:
    refund = session.get(Refund, refund_id)
    if refund is None or refund.status != RefundStatus.PENDING:
        return
    refund.status = RefundStatus.FAILED
    refund.failure_message = message[:300]
    refund.updated_at = now
    session.add(refund)
