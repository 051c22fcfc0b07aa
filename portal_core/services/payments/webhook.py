"""Stripe's webhook (``POST /api/stripe/webhook``): verified, then applied once.

A signature that does not verify (wrong, stale past the tolerance, or a body altered after
signing) is refused with a ``PortalError`` (HTTP 400) and changes nothing. The event's id is
recorded in ``gateway_events`` in the same transaction as its effect, so a replay —
sequential or concurrent, where the second insert loses on the primary key — changes
nothing. Only events of a type the portal understands are recorded as handled; any other is
answered and left alone.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, or_, select

from portal_core import db
from portal_core.errors import PortalError
from portal_core.models.base import utcnow
from portal_core.models.payments import (
    GatewayCustomer,
    GatewayEvent,
    GatewayName,
    Payment,
    PaymentSource,
    PaymentStatus,
    Refund,
)
from portal_core.payments.gateway import (
    CardDetails,
    InvalidSignature,
    RefundInfo,
    WebhookEvent,
)
from portal_core.services import auto_recharge
from portal_core.services.payments.cards import save_card
from portal_core.services.payments.settlement import (
    close_dispute,
    credit_payment,
    fail_payment,
    mail_failure,
    open_dispute,
    record_refund,
)

log = logging.getLogger(__name__)


class WebhookGateway(Protocol):
    """What the webhook needs of the gateway: Stripe's signature check and its cards."""

    def verify_event(self, payload: bytes, signature_header: str | None) -> WebhookEvent: ...

    def card_from_setup_intent(self, setup_intent_ref: str) -> CardDetails: ...

    def refunds_of_charge(self, charge_ref: str) -> list[RefundInfo]: ...


@dataclass(frozen=True)
class WebhookResult:
    """What one delivery did: ``replayed`` when the event had been handled before."""

    event_id: str
    event_type: str
    outcome: str
    replayed: bool = False


CHECKOUT_COMPLETED = "checkout.session.completed"
CHECKOUT_ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"
CHECKOUT_ASYNC_FAILED = "checkout.session.async_payment_failed"
CHECKOUT_EXPIRED = "checkout.session.expired"
INTENT_SUCCEEDED = "payment_intent.succeeded"
INTENT_FAILED = "payment_intent.payment_failed"
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_CREATED = "charge.dispute.created"
DISPUTE_CLOSED = "charge.dispute.closed"
# The events the portal acts on (the README lists them for Stripe's dashboard). Any other is
# answered and left alone, never recorded as handled: were the portal to learn its type
# later, a redelivery would still be applied.
UNDERSTOOD = (
    CHECKOUT_COMPLETED,
    CHECKOUT_ASYNC_SUCCEEDED,
    CHECKOUT_ASYNC_FAILED,
    CHECKOUT_EXPIRED,
    INTENT_SUCCEEDED,
    INTENT_FAILED,
    CHARGE_REFUNDED,
    DISPUTE_CREATED,
    DISPUTE_CLOSED,
)
CHECKOUT_EXPIRED_MESSAGE = "The payment page expired before the payment was made."
ASYNC_FAILED_MESSAGE = "Your bank did not complete the payment."


def receive_stripe_webhook(
    engine: Engine,
    payload: bytes,
    signature_header: str | None,
    *,
    gateway: WebhookGateway,
    now: datetime | None = None,
) -> WebhookResult:
    """Verify one delivery of Stripe's webhook and apply its event once.

    A signature that does not verify (wrong, stale past the tolerance, or a body altered
    after signing) is refused with a ``PortalError`` (HTTP 400) and changes nothing. The
    event's id is recorded with its effect in one transaction; an id seen before changes
    nothing. An event of a type the portal does not use is answered and not recorded. What
    an event needs from Stripe (the card a setup Checkout saved, a charge's refunds) is read
    before the transaction opens.
    """
    try:
        event = gateway.verify_event(payload, signature_header)
    except InvalidSignature as problem:
        raise PortalError(
            "The webhook's signature did not verify: it is not from Stripe, it was altered, "
            "or it is too old."
        ) from problem
    now = now or utcnow()
    if event.type not in UNDERSTOOD:
        return WebhookResult(event.id, event.type, "ignored: not an event the portal uses")
    with db.read_session(engine) as session:
        if session.get(GatewayEvent, (GatewayName.STRIPE, event.id)) is not None:
            return WebhookResult(event.id, event.type, "already handled", replayed=True)
    card: CardDetails | None = None
    if event.type == CHECKOUT_COMPLETED and event.data.get("mode") == "setup":
        setup_intent = _ref(event.data.get("setup_intent"))
        if setup_intent:
            card = gateway.card_from_setup_intent(setup_intent)
    refunds: list[RefundInfo] = []
    if event.type == CHARGE_REFUNDED:
        refunds = _refunds_in(event.data) or gateway.refunds_of_charge(str(event.data.get("id")))
    with db.write_session(engine) as session:
        if not _record_event(session, event, now):
            return WebhookResult(event.id, event.type, "already handled", replayed=True)
        outcome = _apply_event(session, event, card, refunds, now)
    return WebhookResult(event.id, event.type, outcome)


def _record_event(session: Session, event: WebhookEvent, now: datetime) -> bool:
    """Insert the event's id; ``False`` when a concurrent delivery of it got there first."""
    try:
        with session.begin_nested():
            session.add(
                GatewayEvent(
                    gateway=GatewayName.STRIPE,
                    event_id=event.id[:120],
                    event_type=event.type[:80],
                    received_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True


def _apply_event(
    session: Session,
    event: WebhookEvent,
    card: CardDetails | None,
    refunds: list[RefundInfo],
    now: datetime,
) -> str:
    data = event.data
    if event.type == CHARGE_REFUNDED:
        return _apply_refunds(session, data, refunds, now)
    if event.type in (DISPUTE_CREATED, DISPUTE_CLOSED):
        return _apply_dispute(session, event.type, data, now)
    if event.type == CHECKOUT_COMPLETED and data.get("mode") == "setup":
        return _save_card_from_setup(session, data, card, now)
    if event.type in (CHECKOUT_COMPLETED, CHECKOUT_ASYNC_SUCCEEDED):
        payment = _payment_of_checkout(session, data)
        if payment is None:
            return "ignored: no such payment"
        if data.get("payment_status") not in ("paid", "no_payment_required"):
            return "awaiting payment"
        credited = credit_payment(
            session, payment, payment_intent_ref=_ref(data.get("payment_intent")), now=now
        )
        return "credited" if credited else "already credited"
    if event.type in (CHECKOUT_ASYNC_FAILED, CHECKOUT_EXPIRED):
        payment = _payment_of_checkout(session, data)
        if payment is None:
            return "ignored: no such payment"
        if event.type == CHECKOUT_EXPIRED:
            # Abandoned on Stripe's page: kept as failed, without alarming anyone.
            changed = payment.status == PaymentStatus.PENDING and fail_payment(
                session, payment, CHECKOUT_EXPIRED_MESSAGE, notify=False, now=now
            )
            return "expired" if changed else "unchanged"
        if fail_payment(session, payment, ASYNC_FAILED_MESSAGE, now=now):
            mail_failure(session, payment, ASYNC_FAILED_MESSAGE)
            return "failed"
        return "unchanged"
    if event.type in (INTENT_SUCCEEDED, INTENT_FAILED):
        payment = _payment_of_intent(session, data)
        if payment is None:
            # Checkout's own PaymentIntents land here too: their session's events settle them.
            return "ignored: not an off-session payment"
        if event.type == INTENT_SUCCEEDED:
            return "credited" if credit_payment(session, payment, now=now) else "already credited"
        error = data.get("last_payment_error") or {}
        changed = auto_recharge.record_off_session_failure(
            session,
            payment,
            message=str(error.get("message") or "Your card was declined."),
            needs_authentication=error.get("code") == "authentication_required",
            now=now,
        )
        return "failed" if changed else "unchanged"
    return "ignored"


def _apply_refunds(
    session: Session, charge: dict[str, Any], refunds: list[RefundInfo], now: datetime
) -> str:
    payment = _payment_charged_by(session, charge.get("payment_intent"))
    if payment is None:
        return "ignored: no such payment"
    posted = 0
    for refund in refunds:
        if refund.status not in ("succeeded", "pending"):
            continue  # a refund that failed or was canceled gave nothing back
        own = _uuid(refund.refund_id)
        mine = session.get(Refund, own) if own else None
        if mine is not None and mine.payment_id != payment.id:
            mine = None
        known = (
            mine
            or session.exec(
                select(Refund).where(
                    Refund.gateway == payment.gateway, Refund.gateway_ref == refund.ref
                )
            ).first()
        )
        if known is not None and known.ledger_entry_id is not None:
            continue  # posted already: by the staff refund that asked, or an earlier event
        recorded = record_refund(
            session,
            payment,
            amount_cents=refund.amount_cents,
            gateway_ref=refund.ref,
            refund=mine,
            reason="Refunded in Stripe" if mine is None else mine.reason,
            now=now,
        )
        if recorded is not None and recorded.ledger_entry_id is not None:
            posted += 1
    return f"{posted} refund{'s' if posted != 1 else ''} posted"


def _apply_dispute(session: Session, kind: str, dispute: dict[str, Any], now: datetime) -> str:
    payment = _payment_charged_by(session, dispute.get("payment_intent"))
    if payment is None or not dispute.get("id"):
        return "ignored: no such payment"
    arguments: dict[str, Any] = {
        "gateway_ref": str(dispute["id"]),
        "amount_cents": int(dispute.get("amount") or 0),
        "status": str(dispute.get("status") or ""),
        "reason": str(dispute.get("reason") or ""),
        "now": now,
    }
    if kind == DISPUTE_CREATED:
        return f"dispute {open_dispute(session, payment, **arguments).status}"
    return f"dispute {close_dispute(session, payment, **arguments).status}"


def _payment_charged_by(session: Session, intent: Any) -> Payment | None:
    """The Stripe payment whose card a PaymentIntent charged (a Checkout session's, recorded
    when it was credited; an auto-recharge's own)."""
    intent_ref = _ref(intent)
    if not intent_ref:
        return None
    return session.exec(
        select(Payment).where(
            Payment.gateway == GatewayName.STRIPE,
            or_(Payment.payment_intent_ref == intent_ref, Payment.gateway_ref == intent_ref),
        )
    ).first()


def _refunds_in(charge: dict[str, Any]) -> list[RefundInfo]:
    """The refunds a ``charge.refunded`` event carries, when it carries them."""
    listed = (charge.get("refunds") or {}).get("data") or []
    return [
        RefundInfo(
            ref=str(refund["id"]),
            amount_cents=int(refund.get("amount") or 0),
            status=str(refund.get("status") or "pending"),
            refund_id=(refund.get("metadata") or {}).get("refund_id"),
        )
        for refund in listed
        if isinstance(refund, dict) and refund.get("id")
    ]


def _save_card_from_setup(
    session: Session, data: dict[str, Any], card: CardDetails | None, now: datetime
) -> str:
    organization_id = _uuid((data.get("metadata") or {}).get("organization_id"))
    customer = session.exec(
        select(GatewayCustomer).where(
            GatewayCustomer.gateway == GatewayName.STRIPE,
            GatewayCustomer.customer_ref == str(_ref(data.get("customer")) or ""),
        )
    ).first()
    if card is None or customer is None or customer.organization_id != organization_id:
        return "ignored: no card for a known customer"
    save_card(session, customer.organization_id, card, GatewayName.STRIPE, now=now)
    return "card saved"


def _payment_of_checkout(session: Session, data: dict[str, Any]) -> Payment | None:
    """The Stripe payment a Checkout session was made for (its metadata names it), checked
    against the session: same organization, same session, same total."""
    metadata = data.get("metadata") or {}
    payment_id = _uuid(metadata.get("payment_id") or data.get("client_reference_id"))
    payment = session.get(Payment, payment_id) if payment_id else None
    if payment is None or payment.gateway != GatewayName.STRIPE:
        return None
    if str(payment.organization_id) != str(metadata.get("organization_id")):
        return None
    if payment.gateway_ref not in (None, data.get("id")):
        return None
    total = data.get("amount_total")
    if total is not None and int(total) != payment.total_cents:
        log.error("Checkout %s charged %s for payment %s", data.get("id"), total, payment.id)
        return None
    return payment


def _payment_of_intent(session: Session, data: dict[str, Any]) -> Payment | None:
    """The auto-recharge a PaymentIntent was created for, by the payment id in its metadata
    (the event may arrive before the charge's answer recorded ``gateway_ref``), checked
    against the intent: same organization, no other intent, same amount."""
    metadata = data.get("metadata") or {}
    payment_id = _uuid(metadata.get("payment_id"))
    payment = session.get(Payment, payment_id) if payment_id else None
    if payment is None or payment.gateway != GatewayName.STRIPE:
        return None
    if payment.source != PaymentSource.AUTO_RECHARGE:
        return None
    if str(payment.organization_id) != str(metadata.get("organization_id")):
        return None
    if payment.gateway_ref not in (None, data.get("id")):
        return None
    amount = data.get("amount")
    if amount is not None and int(amount) != payment.total_cents:
        log.error("PaymentIntent %s charged %s for payment %s", data.get("id"), amount, payment.id)
        return None
    if payment.gateway_ref is None:
        payment.gateway_ref = str(data.get("id"))
        session.add(payment)
    return payment


def _ref(value: Any) -> str | None:
    """A Stripe reference that may come expanded (an object with an id) or as its id."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
