"""Auto-recharge: when available funds drop under a threshold, charge the default card a set
amount (docs/product.md, Billing model; Twilio, Telnyx and OpenCNAM all have it).

**Settings** (``save_settings``, ``BILLING_MANAGE``): on or off, the threshold ($0 up to, not
including, $10,000) and the amount (the add-funds bounds: $10.00 to $10,000.00). Turning it
on needs a default card that has not expired; turning it on while funds are already under the
threshold recharges at once (after commit), as there will be no crossing to wait for.

**The trigger** (``on_funds_dropped``): a reaction to the ``FundsDropped`` fact that the
meter, the ledger and the invoice run publish wherever available funds go down, inside the
caller's transaction (``services.reactions``). It reads one row at most and, on a downward
crossing of the threshold, arranges ``recharge`` to run after the caller commits.

**A recharge** (``recharge``) opens its own units of work and charges the default card
off-session for the amount plus the convenience fee, when all of these hold:
- auto-recharge is on and available funds are still under the threshold;
- no recharge of the organization is in flight (``pending``);
- fewer than ``auto_recharge_max_per_day`` (a platform setting, default 3) recharges
  succeeded or are pending today, in the billing time zone;
- the last attempt today did not fail, or the settings or the default card changed since: a
  declined card is not tried again and again;
- the default card was saved with the gateway in use (not the sandbox's, once Stripe is on).
Its idempotency key is ``auto-recharge:<organization>:<day>:<n>`` (the n-th attempt of the
day), and the organization's account row is locked while it decides, so two processes that
race create one payment. The payment is committed before the gateway is called; the sandbox
answers at once and a success is credited then; Stripe's success is credited by the webhook.
A decline fails the payment and notifies the owners and billing members (a notice for those
who read Billing, and an e-mail); a bank asking for authentication notifies the owners.

**The sweep** (``sweep``, ``python -m portal_core billing recharge``, for the scheduler)
recharges organizations under their threshold with no attempt today (a crossing whose process
died before the recharge ran). A recharge left pending without the gateway's answer is
reconciliation's to ask again (``services.payments.reconciliation``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from portal_core import db, emails
from portal_core.errors import PaymentGatewayUnavailable, ValidationFailed
from portal_core.facts import FundsDropped
from portal_core.mail import send_after_commit
from portal_core.models.accounts import Role
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount
from portal_core.models.notices import NoticeKind
from portal_core.models.payments import (
    AutoRecharge,
    GatewayCustomer,
    Payment,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)
from portal_core.money import MICROS_PER_CENT, format_cents
from portal_core.payments import gateway_for
from portal_core.payments.gateway import ChargeOutcome, ChargeStatus, Gateway, PaymentRequest
from portal_core.payments.test_cards import EXPIRED_CARD
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.members import Member, members_who_may
from portal_core.rules.auto_recharge import (  # noqa: F401  (named here too)
    DEFAULT_AMOUNT_CENTS,
    DEFAULT_THRESHOLD_CENTS,
    AutoRechargeSettings,
    settings_of,
)
from portal_core.services import audit, notices, platform
from portal_core.services.payments import cards, settlement, top_ups

log = logging.getLogger(__name__)

MAX_THRESHOLD_CENTS = 1_000_000  # $10,000.00, not included
THRESHOLD_BOUNDS = "Set a threshold from $0.00 up to $9,999.99, in whole cents."
_CHARGING_STATUSES = (PaymentStatus.SUCCEEDED.value, PaymentStatus.PENDING.value)
_FAILED_STATUSES = (PaymentStatus.FAILED.value, PaymentStatus.REQUIRES_ACTION.value)

_settings_table = cast(Table, cast(Any, AutoRecharge).__table__)
_CROSSING_TERMS = core_select(_settings_table.c.enabled, _settings_table.c.threshold_cents).where(
    _settings_table.c.organization_id
    == bindparam("p_org", type_=_settings_table.c.organization_id.type)
)


# --- The trigger ----------------------------------------------------------------------------


def on_funds_dropped(connection: Connection, fact: FundsDropped) -> None:
    """Arrange a recharge when this drop takes available funds under the threshold.

    A crossing is ``after < threshold <= before``: the account row's updates are serialised,
    so concurrent drops cover disjoint intervals and only one of them crosses. Nothing is read
    unless the drop crossed a whole cent (the threshold is whole cents); otherwise one
    primary-key read of ``auto_recharges``. The recharge runs after the caller's commit (never
    after a rollback) and never raises into the caller: its failures are the organization's
    notices, and the sweep catches a crossing whose process died before the recharge ran.
    """
    before, after = fact.before_available_micros, fact.after_available_micros
    if after // MICROS_PER_CENT >= before // MICROS_PER_CENT:
        return
    terms = connection.execute(_CROSSING_TERMS, {"p_org": fact.organization_id}).first()
    if terms is None or not terms.enabled:
        return
    threshold_micros = int(terms.threshold_cents) * MICROS_PER_CENT
    if not after < threshold_micros <= before:
        return
    engine = connection.engine
    organization_id = fact.organization_id
    db.after_commit(connection, lambda: _recharge_quietly(engine, organization_id))


def _recharge_quietly(engine: Engine, organization_id: uuid.UUID) -> None:
    # The caller has committed its own work (a lookup, an invoice): a recharge's trouble is
    # reported to the organization, and must not turn the caller's success into an error.
    try:
        recharge(engine, organization_id)
    except Exception:
        log.exception("Auto-recharge of organization %s failed", organization_id)


# --- Settings -------------------------------------------------------------------------------


def save_settings(
    session: Session,
    actor: Actor,
    *,
    enabled: bool,
    threshold_cents: int,
    amount_cents: int,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> AutoRecharge:
    """Save the organization's auto-recharge; ``ValidationFailed`` names each bad field
    (``threshold``, ``amount``, ``enabled``). Turning it on under the threshold recharges
    after commit (see the module docstring)."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    errors: dict[str, str] = {}
    if (
        isinstance(threshold_cents, bool)
        or not isinstance(threshold_cents, int)
        or not 0 <= threshold_cents < MAX_THRESHOLD_CENTS
    ):
        errors["threshold"] = THRESHOLD_BOUNDS
    try:
        top_ups.check_amount(amount_cents)
    except ValidationFailed as problem:
        errors.update(problem.errors)
    if enabled:
        card = cards.default_card_of(session, organization_id)
        if card is None:
            errors["enabled"] = (
                "Auto-recharge charges your default card: add a card in Billing › Payment "
                "Methods first."
            )
        elif not cards.usable_today(session, card, now):
            errors["enabled"] = (
                f"Your default card expired at the end of {card.exp_month:02d}/{card.exp_year}: "
                "make another card the default in Billing › Payment Methods first."
            )
    if errors:
        raise ValidationFailed(errors)
    existing = session.get(AutoRecharge, organization_id)
    was_enabled = existing is not None and existing.enabled
    row = existing or AutoRecharge(
        organization_id=organization_id, threshold_cents=threshold_cents, amount_cents=amount_cents
    )
    row.enabled = enabled
    row.threshold_cents = threshold_cents
    row.amount_cents = amount_cents
    row.updated_at = now
    row.updated_by = actor.user_id
    session.add(row)
    audit.record(
        session,
        "auto_recharge.updated",
        actor=actor,
        detail=(
            f"{'on' if enabled else 'off'}: {format_cents(amount_cents)} under "
            f"{format_cents(threshold_cents)}"
        ),
    )
    session.flush()
    account = session.get(BillingAccount, organization_id)
    under = account is not None and (
        account.balance_micros - account.unbilled_micros < threshold_cents * MICROS_PER_CENT
    )
    if enabled and under and not was_enabled:
        engine = session.get_bind()
        assert isinstance(engine, Engine)
        db.after_commit(session, lambda: _recharge_now(engine, organization_id, gateway))
    return row


def _recharge_now(engine: Engine, organization_id: uuid.UUID, gateway: Gateway | None) -> None:
    try:
        recharge(engine, organization_id, gateway=gateway)
    except Exception:
        log.exception("Auto-recharge of organization %s failed", organization_id)


# --- A recharge -------------------------------------------------------------------------------


def recharge(
    engine: Engine,
    organization_id: uuid.UUID,
    *,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> Payment | None:
    """Recharge the organization if the rules of the module docstring allow it; the payment
    made (succeeded, pending, failed or requires_action), or ``None`` when none was due."""
    gateway = gateway or gateway_for()
    now = now or utcnow()
    with db.write_session(engine) as session:
        prepared = _prepare(session, gateway, organization_id, now)
        if prepared is None or prepared.payment.status != PaymentStatus.PENDING:
            return prepared.payment if prepared else None
        if not gateway.credits_from_webhook and prepared.request is not None:
            # Nothing leaves the process: charge and settle in this same unit of work.
            outcome = gateway.charge_off_session(prepared.request)
            return _record_outcome(session, gateway, prepared.payment, outcome, now)
    # Money moves during this call: the payment (and its key) is committed before it.
    return _charge_saved(engine, gateway, prepared, now)


@dataclass(frozen=True)
class _Prepared:
    payment: Payment
    request: PaymentRequest | None = None  # None: refused before the gateway (expired card)


def _prepare(
    session: Session, gateway: Gateway, organization_id: uuid.UUID, now: datetime
) -> _Prepared | None:
    settings = session.get(AutoRecharge, organization_id)
    if settings is None or not settings.enabled:
        return None
    # The account row stays locked until commit: a concurrent recharge of the organization
    # waits here, then sees this one's payment (and, in the sandbox, its credit).
    account = session.exec(
        select(BillingAccount)
        .where(col(BillingAccount.organization_id) == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if account is None:
        return None
    threshold_micros = settings.threshold_cents * MICROS_PER_CENT
    if account.balance_micros - account.unbilled_micros >= threshold_micros:
        return None
    if _in_flight(session, organization_id):
        return None
    day, start, end = _today(session, now)
    attempts = _attempts(session, organization_id, start, end)
    charging = [payment for payment in attempts if payment.status in _CHARGING_STATUSES]
    limit = platform.auto_recharge_max_per_day(session)
    if len(charging) >= limit:
        _notify_daily_limit(session, organization_id, day, limit)
        return None
    card = cards.default_card_of(session, organization_id)
    if attempts and attempts[-1].status in _FAILED_STATUSES:
        last = attempts[-1]
        changed = settings.updated_at > last.created_at or (
            card is not None and card.updated_at > last.created_at
        )
        if not changed:
            return None
    if card is None or card.gateway != gateway.name:
        # A card saved with another gateway (the sandbox's, before Stripe was configured)
        # cannot be charged by this one: the organization needs to add its card again.
        _notify_no_card(session, organization_id, day)
        return None
    figures = top_ups.quote(session, settings.amount_cents)
    key = f"auto-recharge:{organization_id.hex}:{day.isoformat()}:{len(attempts) + 1}"
    payment = top_ups.new_payment(
        organization_id,
        card,
        figures,
        gateway.name,
        PaymentSource.AUTO_RECHARGE,
        key,
        created_by=None,
        now=now,
    )
    saved = top_ups.insert_payment(session, payment)
    if saved is not payment:
        return None  # a concurrent recharge saved this attempt first
    if not cards.usable_today(session, card, now):
        record_off_session_failure(
            session, payment, message=EXPIRED_CARD, needs_authentication=False, now=now
        )
        return _Prepared(payment)
    customer_ref = cards.customer_ref(session, gateway, organization_id, None)
    return _Prepared(payment, top_ups.payment_request(payment, card, customer_ref))


def _charge_saved(engine: Engine, gateway: Gateway, prepared: _Prepared, now: datetime) -> Payment:
    if prepared.request is None:
        return prepared.payment
    try:
        outcome = gateway.charge_off_session(prepared.request)
    except PaymentGatewayUnavailable:
        log.warning("Auto-recharge %s is pending: the gateway did not answer", prepared.payment.id)
        return prepared.payment
    with db.write_session(engine) as session:
        payment = session.get(Payment, prepared.payment.id)
        assert payment is not None
        return _record_outcome(session, gateway, payment, outcome, now)


def _record_outcome(
    session: Session, gateway: Gateway, payment: Payment, outcome: ChargeOutcome, now: datetime
) -> Payment:
    if outcome.ref and payment.gateway_ref is None:
        payment.gateway_ref = outcome.ref
        payment.updated_at = now
        session.add(payment)
        session.flush()
    if outcome.status is ChargeStatus.SUCCEEDED and not gateway.credits_from_webhook:
        settlement.credit_payment(session, payment, now=now)
    elif outcome.status in (ChargeStatus.DECLINED, ChargeStatus.REQUIRES_ACTION):
        record_off_session_failure(
            session,
            payment,
            message=outcome.message or "Your card was declined.",
            needs_authentication=outcome.status is ChargeStatus.REQUIRES_ACTION,
            now=now,
        )
    session.refresh(payment)
    return payment


def record_off_session_failure(
    session: Session,
    payment: Payment,
    *,
    message: str,
    needs_authentication: bool,
    now: datetime | None = None,
) -> bool:
    """Record a recharge the card's bank refused, and tell the organization once: the owners
    when the bank asked for authentication, else the owners and billing members (a notice
    for those who read Billing, and an e-mail). Returns whether anything changed."""
    status = PaymentStatus.REQUIRES_ACTION if needs_authentication else PaymentStatus.FAILED
    if not settlement.fail_payment(session, payment, message, status=status, notify=False, now=now):
        return False
    total = format_cents(payment.total_cents)
    if needs_authentication:
        for owner in _owners(session, payment.organization_id):
            notices.post(
                session,
                organization_id=payment.organization_id,
                kind=NoticeKind.PAYMENT_NEEDS_AUTHENTICATION,
                title="Auto-recharge needs you to confirm a payment",
                body=(
                    f"The bank of {payment.card_label} asked for the cardholder to confirm "
                    f"the {total} auto-recharge ({payment.reference}). Add funds yourself in "
                    "Billing › Overview, or make another card the default."
                ),
                dedupe_key=f"auto-recharge-authentication:{payment.id}:{owner.id}",
                user_id=owner.id,
                link_page_id="billing.overview",
            )
            send_after_commit(
                session,
                emails.auto_recharge_needs_authentication(
                    owner.email,
                    owner.name,
                    reference=payment.reference,
                    card_label=payment.card_label,
                    total_cents=payment.total_cents,
                ),
            )
        return True
    notices.post(
        session,
        organization_id=payment.organization_id,
        kind=NoticeKind.AUTO_RECHARGE_FAILED,
        title="Auto-recharge failed",
        body=(
            f"The {total} auto-recharge with {payment.card_label} ({payment.reference}) did "
            f"not go through: {message} Add funds, or make another card the default."
        ),
        dedupe_key=f"auto-recharge-failed:{payment.id}",
        capability=Capability.BILLING_READ,
        link_page_id="billing.payment_methods",
    )
    recipients = members_who_may(
        session, payment.organization_id, Capability.BILLING_READ, among=(Role.OWNER, Role.BILLING)
    )
    for user in recipients:
        send_after_commit(
            session,
            emails.auto_recharge_failed(
                user.email,
                user.name,
                reference=payment.reference,
                card_label=payment.card_label,
                total_cents=payment.total_cents,
                reason=message,
            ),
        )
    return True


def _owners(session: Session, organization_id: uuid.UUID) -> list[Member]:
    """The organization's active owners: a bank asking for the cardholder's confirmation is
    theirs to answer."""
    return members_who_may(session, organization_id, Capability.BILLING_MANAGE, among=(Role.OWNER,))


def _in_flight(session: Session, organization_id: uuid.UUID) -> bool:
    return (
        session.exec(
            select(Payment.id).where(
                Payment.organization_id == organization_id,
                Payment.source == PaymentSource.AUTO_RECHARGE,
                Payment.status == PaymentStatus.PENDING,
            )
        ).first()
        is not None
    )


def _attempts(
    session: Session, organization_id: uuid.UUID, start: datetime, end: datetime
) -> list[Payment]:
    """Today's recharges of the organization, oldest first."""
    return list(
        session.exec(
            select(Payment)
            .where(
                Payment.organization_id == organization_id,
                Payment.source == PaymentSource.AUTO_RECHARGE,
                col(Payment.created_at) >= start,
                col(Payment.created_at) < end,
            )
            .order_by(col(Payment.created_at), col(Payment.idempotency_key))
        ).all()
    )


def _today(session: Session, now: datetime) -> tuple[date, datetime, datetime]:
    """Today in the billing time zone, and its bounds in UTC."""
    zone = platform.billing_time_zone(session)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return day, start, end


def _notify_daily_limit(
    session: Session, organization_id: uuid.UUID, day: date, limit: int
) -> None:
    notices.post(
        session,
        organization_id=organization_id,
        kind=NoticeKind.AUTO_RECHARGE_FAILED,
        title="Auto-recharge reached its daily limit",
        body=(
            f"Auto-recharge has charged your card {limit} times today, the most it may in a "
            "day, and your available funds are under its threshold again. It resumes "
            "tomorrow; add funds in Billing › Overview to keep going today."
        ),
        dedupe_key=f"auto-recharge-limit:{organization_id}:{day.isoformat()}",
        capability=Capability.BILLING_READ,
        link_page_id="billing.overview",
    )


def _notify_no_card(session: Session, organization_id: uuid.UUID, day: date) -> None:
    notices.post(
        session,
        organization_id=organization_id,
        kind=NoticeKind.AUTO_RECHARGE_FAILED,
        title="Auto-recharge has no card to charge",
        body=(
            "Your available funds are under the auto-recharge threshold, but there is no "
            "default card it can charge. Add a card in Billing › Payment Methods."
        ),
        dedupe_key=f"auto-recharge-no-card:{organization_id}:{day.isoformat()}",
        capability=Capability.BILLING_READ,
        link_page_id="billing.payment_methods",
    )


# --- The sweep --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did: recharges made, by outcome."""

    recharged: int = 0
    failed: int = 0
    pending: int = 0
    errors: int = 0


def sweep(
    engine: Engine, *, gateway: Gateway | None = None, now: datetime | None = None
) -> SweepSummary:
    """Recharge every organization under its threshold that has no recharge today (a
    crossing whose process stopped before its recharge ran). Safe to run as often as a
    scheduler likes; recharges left without the gateway's answer are reconciliation's
    (``services.payments.reconciliation``)."""
    gateway = gateway or gateway_for()
    now = now or utcnow()
    counts = {"recharged": 0, "failed": 0, "pending": 0, "errors": 0}
    with db.read_session(engine) as session:
        _day, start, end = _today(session, now)
        due = _due(session, start, end)
    for organization_id in due:
        try:
            payment = recharge(engine, organization_id, gateway=gateway, now=now)
        except Exception:
            log.exception("Auto-recharge of organization %s failed", organization_id)
            counts["errors"] += 1
            continue
        if payment is None:
            continue
        if payment.status == PaymentStatus.SUCCEEDED:
            counts["recharged"] += 1
        elif payment.status == PaymentStatus.PENDING:
            counts["pending"] += 1
        else:
            counts["failed"] += 1
    return SweepSummary(**counts)


def _due(session: Session, start: datetime, end: datetime) -> list[uuid.UUID]:
    recharged_today = (
        select(Payment.id)
        .where(
            col(Payment.organization_id) == col(AutoRecharge.organization_id),
            Payment.source == PaymentSource.AUTO_RECHARGE,
            col(Payment.created_at) >= start,
            col(Payment.created_at) < end,
        )
        .exists()
    )
    available = col(BillingAccount.balance_micros) - col(BillingAccount.unbilled_micros)
    return list(
        session.exec(
            select(AutoRecharge.organization_id)
            .join(
                BillingAccount,
                col(BillingAccount.organization_id) == col(AutoRecharge.organization_id),
            )
            .where(
                col(AutoRecharge.enabled).is_(True),
                available < col(AutoRecharge.threshold_cents) * MICROS_PER_CENT,
                ~recharged_today,
            )
        ).all()
    )


def charge_again(engine: Engine, gateway: Gateway, payment_id: uuid.UUID, now: datetime) -> None:
    """Send a saved recharge the gateway never answered again, with its own key: the gateway
    answers a charge it already made with that charge, and makes it otherwise."""
    with db.read_session(engine) as session:
        payment = session.get(Payment, payment_id)
        card = session.get(PaymentMethod, payment.payment_method_id) if payment else None
        customer = (
            session.get(GatewayCustomer, (payment.organization_id, gateway.name))
            if payment
            else None
        )
        if payment is None or card is None or customer is None:
            return
        request = top_ups.payment_request(payment, card, customer.customer_ref)
    _charge_saved(engine, gateway, _Prepared(payment, request), now)
