"""Cards and card payments: saving cards, the fee quote, adding funds, and settling payments
from Stripe's webhook (SPEC.md, *Billing*; DESIGN.md, rules 4–6).

Who may do what: reads need ``BILLING_READ``, every change ``BILLING_MANAGE``; everything is
scoped to the actor's organization, and another organization's card or payment is simply
"not found".

**Cards.** ``start_adding_card`` saves the sandbox's chosen test card at once, or returns
Stripe Checkout's setup page (the card is saved when the webhook reports it). The first card
saved becomes the default. Removing a card is soft (``removed_at``: payments keep naming
it); the default card cannot be removed while auto-recharge is on, and when the default card
is removed otherwise, the newest remaining card that has not expired becomes the default (none
does when every remaining card has expired). A card past its expiry month cannot be charged,
and so cannot be made the default either: auto-recharge would charge it.

**The fee** (``quote``): the convenience fee is ``amount × rate``, the rate being the platform
setting ``card_fee_millipercent`` in thousandths of a percent (2950 = 2.95 %, SPEC.md
*Figures*), rounded half-up to the cent once, in integers: ``(amount × rate + 50,000) //
100,000``. The card is charged amount + fee; the balance is credited the amount. Amounts are
$10.00 to $10,000.00 in whole cents (issue 3, *Add funds*).

**Adding funds** (``add_funds``) is idempotent by the key the page sends: one key per attempt
of the form (the page makes a new key, e.g. ``uuid4().hex``, when the form is shown afresh or
after an attempt ended, and keeps it across reruns and double clicks). The payment row is
saved under that key *before* the gateway is called, and the same key again returns the same
payment without calling the gateway twice (also concurrently: the key is UNIQUE). The sandbox
charges at once: a success is credited to the ledger in the same transaction; a decline
keeps the payment as failed, posts a ``PAYMENT_FAILED`` notice, commits, and then raises
``PaymentDeclined`` with the bank's reason (the form shows it; a retry uses a new key).
With Stripe the payment stays ``pending`` and the partner pays on Checkout's page
(``Payment.checkout_url``); only the signature-verified webhook credits it.

**The webhook** (``receive_stripe_webhook``): the event's id is recorded in
``gateway_events`` in the same transaction as its effect, so a replay — sequential or
concurrent, where the second insert loses on the primary key — changes nothing. A payment is
credited once, under the ledger key ``payment:<id>``.

Calls to Stripe for a partner's card or top-up happen inside the caller's unit of work: no
money moves until the partner opens the returned page, which only exists once the payment is
committed, and a retry after a failed commit gets the same Checkout session back from
Stripe by the same idempotency key. (On SQLite that holds the write lock for the call's
round trip, well under a second.) Auto-recharge, where money moves during the call, commits
its payment first (``services.auto_recharge``).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import db, emails
from portal_core.errors import (
    Conflict,
    NotFound,
    PaymentDeclined,
    PortalError,
    ValidationFailed,
)
from portal_core.mail import send_after_commit
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind
from portal_core.models.notices import NoticeKind
from portal_core.models.payments import (
    AutoRecharge,
    GatewayCustomer,
    GatewayEvent,
    GatewayName,
    Payment,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)
from portal_core.money import format_cents, format_percent, parse_dollars
from portal_core.payments import gateway_for
from portal_core.payments.gateway import (
    CardDetails,
    CardSetupRequest,
    ChargeOutcome,
    ChargeStatus,
    Gateway,
    HostedPage,
    InvalidSignature,
    PaymentRequest,
    WebhookEvent,
    card_label,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.services import audit, ledger, notices, platform
from portal_core.settings import get_settings

log = logging.getLogger(__name__)

MIN_AMOUNT_CENTS = 1_000  # $10.00
MAX_AMOUNT_CENTS = 1_000_000  # $10,000.00
AMOUNT_BOUNDS = "Add between $10.00 and $10,000.00, in whole cents."
MAX_IDEMPOTENCY_KEY = 80  # stored as "<organization hex>:<key>" in payments.idempotency_key
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O or U
_MILLIPERCENT_PER_UNIT = 100_000  # the rate is in thousandths of a percent


# --- The fee --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """What adding ``amount_cents`` costs: the fee at ``fee_millipercent`` and the total the
    card is charged. All integer cents."""

    amount_cents: int
    fee_millipercent: int
    fee_cents: int
    total_cents: int

    @property
    def fee_rate(self) -> str:
        """The rate as a partner reads it: "2.95 %"."""
        return format_percent(self.fee_millipercent)


def fee_cents(amount_cents: int, fee_millipercent: int) -> int:
    """``amount × rate`` rounded half-up to the cent, in integers (see the module docstring)."""
    return (amount_cents * fee_millipercent + _MILLIPERCENT_PER_UNIT // 2) // _MILLIPERCENT_PER_UNIT


def check_amount(amount_cents: int) -> None:
    """Refuse an amount outside $10.00–$10,000.00 or not in whole cents."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValidationFailed({"amount": AMOUNT_BOUNDS})
    if not MIN_AMOUNT_CENTS <= amount_cents <= MAX_AMOUNT_CENTS:
        raise ValidationFailed({"amount": AMOUNT_BOUNDS})


def parse_amount(text: str) -> int:
    """What a partner typed in the amount field ("250", "$1,000.50"), in cents, within the
    bounds; ``ValidationFailed({"amount": …})`` otherwise (three decimals included)."""
    try:
        cents = parse_dollars(text)
    except ValueError as problem:
        raise ValidationFailed({"amount": f"{problem} {AMOUNT_BOUNDS}"}) from problem
    check_amount(cents)
    return cents


def quote(session: Session, amount_cents: int) -> Quote:
    """The fee and total for adding ``amount_cents``, at the platform's current fee rate."""
    return quote_at(amount_cents, platform.card_fee_millipercent(session))


def quote_at(amount_cents: int, fee_millipercent: int) -> Quote:
    """The fee and total for adding ``amount_cents`` at the rate ``fee_millipercent``."""
    check_amount(amount_cents)
    fee = fee_cents(amount_cents, fee_millipercent)
    return Quote(amount_cents, fee_millipercent, fee, amount_cents + fee)


def fee_label(fee_millipercent: int) -> str:
    return f"Card convenience fee ({format_percent(fee_millipercent)})"


# --- Cards ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardSetup:
    """The outcome of adding a card: saved now (``card``, the sandbox), or to be entered on
    the gateway's page at ``checkout_url`` (Stripe; the webhook saves it)."""

    card: PaymentMethod | None = None
    checkout_url: str | None = None


def is_expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """A card works through the last day of its expiry month."""
    return (exp_year, exp_month) < (now.year, now.month)


def start_adding_card(
    session: Session,
    actor: Actor,
    *,
    test_card: str | None = None,
    return_url: str | None = None,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> CardSetup:
    """Add a card: in the sandbox, ``test_card`` is the chosen test card's reference
    (``queries.payments.sandbox_test_cards()``: ``pm_card_visa``…), saved at once; with
    Stripe, the result's ``checkout_url`` is the hosted page to send the partner to, which
    returns to ``return_url`` (default: Billing › Payment Methods)."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    gateway = gateway or gateway_for()
    now = now or utcnow()
    back = return_url or _page_url("billing_payment_methods")
    outcome = gateway.start_card_setup(
        CardSetupRequest(
            organization_id=organization_id,
            customer_ref=customer_ref(session, gateway, organization_id, actor.email),
            test_card=test_card,
            success_url=_with_query(back, "card_setup=done"),
            cancel_url=_with_query(back, "card_setup=cancelled"),
            idempotency_key=f"card-setup:{organization_id.hex}:{uuid.uuid4().hex}",
        )
    )
    if isinstance(outcome, HostedPage):
        return CardSetup(checkout_url=outcome.url)
    card = save_card(
        session, organization_id, outcome.card, gateway.name, created_by=actor.user_id, now=now
    )
    audit.record(session, "payment_method.added", actor=actor, subject=str(card.id))
    return CardSetup(card=card)


def save_card(
    session: Session,
    organization_id: uuid.UUID,
    details: CardDetails,
    gateway_name: GatewayName,
    *,
    created_by: uuid.UUID | None = None,
    now: datetime | None = None,
) -> PaymentMethod:
    """Keep a card the gateway confirmed (once: saving it again returns it, and a removed card
    saved again comes back). The organization's first card becomes its default."""
    now = now or utcnow()
    _lock_cards(session, organization_id)
    card = session.exec(
        select(PaymentMethod).where(
            PaymentMethod.organization_id == organization_id,
            PaymentMethod.gateway == gateway_name,
            PaymentMethod.gateway_ref == details.gateway_ref,
        )
    ).first()
    if card is not None and card.removed_at is None:
        return card
    if card is None:
        card = PaymentMethod(
            organization_id=organization_id,
            gateway=gateway_name,
            gateway_ref=details.gateway_ref,
            created_at=now,
            created_by=created_by,
            brand=details.brand,
            last4=details.last4,
            exp_month=details.exp_month,
            exp_year=details.exp_year,
        )
    card.removed_at = None
    card.brand, card.last4 = details.brand, details.last4
    card.exp_month, card.exp_year = details.exp_month, details.exp_year
    card.is_default = default_card_of(session, organization_id) is None
    card.updated_at = now
    session.add(card)
    session.flush()
    return card


def set_default_card(
    session: Session, actor: Actor, payment_method_id: uuid.UUID, *, now: datetime | None = None
) -> PaymentMethod:
    """Make one of the organization's cards the default (auto-recharge charges it). Refuses
    an expired card with ``ValidationFailed``, in the words a charge to it is refused with."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    _lock_cards(session, organization_id)
    card = _own_card(session, organization_id, payment_method_id)
    if is_expired(card.exp_month, card.exp_year, now):
        raise _expired(card)
    for other in _cards(session, organization_id):
        if other.is_default and other.id != card.id:
            other.is_default = False
            other.updated_at = now
            session.add(other)
    card.is_default = True
    card.updated_at = now
    session.add(card)
    audit.record(session, "payment_method.made_default", actor=actor, subject=str(card.id))
    session.flush()
    return card


def remove_card(
    session: Session, actor: Actor, payment_method_id: uuid.UUID, *, now: datetime | None = None
) -> PaymentMethod | None:
    """Remove a card (the page confirms first). Returns the card that is now the default,
    if the removed one was (the newest remaining card that has not expired), else ``None``
    (also when no such card remains). Refuses with
    ``Conflict`` to remove the default card while auto-recharge is on."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    _lock_cards(session, organization_id)
    card = _own_card(session, organization_id, payment_method_id)
    label = card_label(card.brand, card.last4)
    if card.is_default:
        settings = session.get(AutoRecharge, organization_id)
        if settings is not None and settings.enabled:
            raise Conflict(
                f"{label} is the default card, which auto-recharge charges. Make another card "
                "the default, or turn auto-recharge off in Billing › Overview, then remove it."
            )
    was_default = card.is_default
    card.removed_at = now
    card.is_default = False
    card.updated_at = now
    session.add(card)
    audit.record(session, "payment_method.removed", actor=actor, subject=str(card.id))
    session.flush()
    if not was_default:
        return None
    newest = next(
        (
            other
            for other in _cards(session, organization_id)
            if not is_expired(other.exp_month, other.exp_year, now)
        ),
        None,
    )
    if newest is not None:
        newest.is_default = True
        newest.updated_at = now
        session.add(newest)
        session.flush()
    return newest


def default_card_of(session: Session, organization_id: uuid.UUID) -> PaymentMethod | None:
    """The organization's default card (not removed), if it has one."""
    return session.exec(
        select(PaymentMethod).where(
            PaymentMethod.organization_id == organization_id,
            col(PaymentMethod.is_default).is_(True),
            col(PaymentMethod.removed_at).is_(None),
        )
    ).first()


def _cards(session: Session, organization_id: uuid.UUID) -> list[PaymentMethod]:
    """The organization's saved cards, newest first."""
    return list(
        session.exec(
            select(PaymentMethod)
            .where(
                PaymentMethod.organization_id == organization_id,
                col(PaymentMethod.removed_at).is_(None),
            )
            .order_by(col(PaymentMethod.created_at).desc(), col(PaymentMethod.id).desc())
        ).all()
    )


def _own_card(
    session: Session, organization_id: uuid.UUID, payment_method_id: uuid.UUID
) -> PaymentMethod:
    card = session.get(PaymentMethod, payment_method_id)
    if card is None or card.organization_id != organization_id or card.removed_at is not None:
        raise NotFound("That card was not found among your payment methods.")
    return card


def _lock_cards(session: Session, organization_id: uuid.UUID) -> None:
    """Serialise changes to one organization's cards (the default is one card, however many
    members change cards at once) by locking its billing account row until commit."""
    session.exec(
        select(BillingAccount.organization_id)
        .where(BillingAccount.organization_id == organization_id)
        .with_for_update()
    ).first()


def customer_ref(
    session: Session, gateway: Gateway, organization_id: uuid.UUID, email: str | None
) -> str:
    """The organization's customer at the gateway, created the first time (by an idempotency
    key of the organization, so two first times create one customer)."""
    customer = session.get(GatewayCustomer, (organization_id, gateway.name))
    if customer is not None:
        return customer.customer_ref
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("That organization was not found.")
    ref = gateway.create_customer(
        organization_id=organization_id,
        name=organization.legal_name or organization.name,
        email=email,
        idempotency_key=f"customer:{organization_id.hex}",
    )
    try:
        with session.begin_nested():
            session.add(
                GatewayCustomer(
                    organization_id=organization_id,
                    gateway=gateway.name,
                    customer_ref=ref,
                    created_at=utcnow(),
                )
            )
    except IntegrityError:
        # A concurrent first time saved it; the gateway gave both of us the same customer.
        session.expire_all()
        saved = session.get(GatewayCustomer, (organization_id, gateway.name))
        if saved is None:
            raise
        return saved.customer_ref
    return ref


# --- Adding funds ---------------------------------------------------------------------------


def add_funds(
    session: Session,
    actor: Actor,
    *,
    payment_method_id: uuid.UUID,
    amount_cents: int,
    idempotency_key: str,
    return_url: str | None = None,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> Payment:
    """Charge a saved card ``amount_cents`` plus the fee, and credit the amount.

    Returns the payment: ``succeeded`` (sandbox: credited, a receipt e-mailed to the actor
    after commit) or ``pending`` with ``checkout_url`` (Stripe: send the partner there; it
    returns to ``return_url``, default Billing › Overview with ``?payment=<id>``). Raises
    ``PaymentDeclined`` (after committing the failed payment and its notice) on a decline;
    ``ValidationFailed`` for an amount out of bounds or an expired card; ``NotFound`` for a
    card that is not the organization's; ``Conflict`` when the key was used for another
    amount or card. See the module docstring for the key.
    """
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed(
            {"idempotency_key": f"An idempotency key of 1–{MAX_IDEMPOTENCY_KEY} characters."}
        )
    gateway = gateway or gateway_for()
    now = now or utcnow()
    key = f"{organization_id.hex}:{idempotency_key}"
    existing = _payment_by_key(session, key)
    if existing is not None:
        return _replayed(existing, payment_method_id, amount_cents)
    card = _own_card(session, organization_id, payment_method_id)
    _refuse_unusable(card, gateway, now)
    figures = quote(session, amount_cents)
    customer = customer_ref(session, gateway, organization_id, actor.email)
    payment = new_payment(
        organization_id,
        card,
        figures,
        gateway.name,
        PaymentSource.PORTAL,
        key,
        created_by=actor.user_id,
        now=now,
    )
    saved = insert_payment(session, payment)
    if saved is not payment:
        return _replayed(saved, payment_method_id, amount_cents)
    back = return_url or _page_url("billing_overview")
    request = payment_request(
        payment,
        card,
        customer,
        success_url=_with_query(back, f"payment={payment.id}"),
        cancel_url=_with_query(back, f"payment={payment.id}&cancelled=1"),
    )
    outcome = gateway.start_payment(request)
    if isinstance(outcome, HostedPage):
        payment.gateway_ref = outcome.ref
        payment.checkout_url = outcome.url
        payment.updated_at = now
        session.add(payment)
        session.flush()
        return payment
    return _after_on_session_charge(session, gateway, payment, outcome, now)


def _after_on_session_charge(
    session: Session, gateway: Gateway, payment: Payment, outcome: ChargeOutcome, now: datetime
) -> Payment:
    payment.gateway_ref = outcome.ref
    if outcome.status is ChargeStatus.SUCCEEDED and not gateway.credits_from_webhook:
        credit_payment(session, payment, now=now)
        return payment
    if outcome.status in (ChargeStatus.SUCCEEDED, ChargeStatus.PROCESSING):
        payment.updated_at = now
        session.add(payment)
        session.flush()
        return payment
    message = outcome.message or "Your card was declined."
    fail_payment(session, payment, message, now=now)
    # The failed payment and its notice are kept: the unit of work would roll them back
    # on the error it is about to see.
    session.commit()
    raise PaymentDeclined(message, payment_id=payment.id)


def _replayed(payment: Payment, payment_method_id: uuid.UUID, amount_cents: int) -> Payment:
    """The payment already made under this key, checked to be the same request."""
    if payment.payment_method_id != payment_method_id or payment.amount_cents != amount_cents:
        raise Conflict(
            "That payment was already submitted with another card or amount. Reload the page "
            "to start a new payment."
        )
    if payment.status == PaymentStatus.FAILED:
        raise PaymentDeclined(
            payment.failure_message or "Your card was declined.", payment_id=payment.id
        )
    return payment


def _refuse_unusable(card: PaymentMethod, gateway: Gateway, now: datetime) -> None:
    if card.gateway != gateway.name:
        # A sandbox card after Stripe was configured (or back): this gateway cannot charge it.
        raise ValidationFailed(
            {
                "payment_method_id": (
                    f"{card_label(card.brand, card.last4)} was saved for another payment "
                    "service: add it again in Billing › Payment Methods."
                )
            }
        )
    if is_expired(card.exp_month, card.exp_year, now):
        raise _expired(card)


def _expired(card: PaymentMethod) -> ValidationFailed:
    """The refusal of an expired card, for a charge and for making it the default alike."""
    return ValidationFailed(
        {
            "payment_method_id": (
                f"{card_label(card.brand, card.last4)} expired at the end of "
                f"{card.exp_month:02d}/{card.exp_year}: choose another card, or add a new "
                "one in Billing › Payment Methods."
            )
        }
    )


def new_payment(
    organization_id: uuid.UUID,
    card: PaymentMethod,
    figures: Quote,
    gateway_name: GatewayName,
    source: PaymentSource,
    idempotency_key: str,
    *,
    created_by: uuid.UUID | None,
    now: datetime,
) -> Payment:
    return Payment(
        organization_id=organization_id,
        reference=new_reference(),
        source=source,
        gateway=gateway_name,
        payment_method_id=card.id,
        card_label=card_label(card.brand, card.last4),
        card_last4=card.last4,
        amount_cents=figures.amount_cents,
        fee_millipercent=figures.fee_millipercent,
        fee_cents=figures.fee_cents,
        total_cents=figures.total_cents,
        status=PaymentStatus.PENDING,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
        created_by=created_by,
    )


def new_reference() -> str:
    """A payment's reference for support: PAY- and eight unambiguous characters."""
    return "PAY-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


def insert_payment(session: Session, payment: Payment) -> Payment:
    """Save ``payment`` under its key, or return the payment a concurrent request saved
    under the same key first (the key is UNIQUE: the second insert waits, then fails)."""
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        existing = _payment_by_key(session, payment.idempotency_key)
        if existing is None:
            raise
        return existing
    return payment


def _payment_by_key(session: Session, key: str) -> Payment | None:
    return session.exec(
        select(Payment)
        .where(Payment.idempotency_key == key)
        .execution_options(populate_existing=True)
    ).first()


def payment_request(
    payment: Payment,
    card: PaymentMethod,
    customer_ref: str,
    *,
    success_url: str = "",
    cancel_url: str = "",
) -> PaymentRequest:
    return PaymentRequest(
        organization_id=payment.organization_id,
        payment_id=payment.id,
        reference=payment.reference,
        customer_ref=customer_ref,
        payment_method_ref=card.gateway_ref,
        amount_cents=payment.amount_cents,
        fee_cents=payment.fee_cents,
        fee_label=fee_label(payment.fee_millipercent),
        idempotency_key=payment.idempotency_key,
        success_url=success_url,
        cancel_url=cancel_url,
    )


# --- Settling a payment -------------------------------------------------------------------


def credit_payment(session: Session, payment: Payment, *, now: datetime | None = None) -> bool:
    """Credit a successful payment's amount to the balance, once (ledger key
    ``payment:<id>``), mark it succeeded, and e-mail its receipt after commit. Returns
    whether this call credited it (``False``: it already was)."""
    now = now or utcnow()
    payment = _locked(session, payment.id)
    if payment.status == PaymentStatus.SUCCEEDED:
        return False
    entry = ledger.post_entry(
        session,
        organization_id=payment.organization_id,
        kind=EntryKind.PAYMENT,
        amount_cents=payment.amount_cents,
        idempotency_key=f"payment:{payment.id}",
        memo=f"Card payment {payment.reference}, {payment.card_label}",
        created_by=payment.created_by,
    )
    payment.status = PaymentStatus.SUCCEEDED
    payment.ledger_entry_id = entry.id
    payment.failure_message = None
    payment.settled_at = now
    payment.updated_at = now
    session.add(payment)
    session.flush()
    automatic = payment.source == PaymentSource.AUTO_RECHARGE
    for user in _receipt_recipients(session, payment):
        send_after_commit(
            session,
            emails.payment_receipt(
                user.email,
                user.name,
                reference=payment.reference,
                card_label=payment.card_label,
                amount_cents=payment.amount_cents,
                fee_cents=payment.fee_cents,
                total_cents=payment.total_cents,
                automatic=automatic,
            ),
        )
    return True


def fail_payment(
    session: Session,
    payment: Payment,
    message: str,
    *,
    status: PaymentStatus = PaymentStatus.FAILED,
    notify: bool = True,
    now: datetime | None = None,
) -> bool:
    """Record that ``payment`` did not go through (``FAILED``, or ``REQUIRES_ACTION`` when
    the bank asked for the cardholder), with the reason; a succeeded payment stays succeeded.
    A portal payment's failure posts a ``PAYMENT_FAILED`` notice for those who read Billing
    (auto-recharge posts its own). Returns whether the status changed."""
    now = now or utcnow()
    payment = _locked(session, payment.id)
    if payment.status in (PaymentStatus.SUCCEEDED, status):
        return False
    payment.status = status
    payment.failure_message = message[:300]
    payment.updated_at = now
    session.add(payment)
    session.flush()
    if notify and payment.source == PaymentSource.PORTAL:
        notices.post(
            session,
            organization_id=payment.organization_id,
            kind=NoticeKind.PAYMENT_FAILED,
            title="A card payment was declined",
            body=(
                f"{format_cents(payment.total_cents)} with {payment.card_label} "
                f"({payment.reference}): {message} Nothing was added to the balance."
            ),
            dedupe_key=f"payment-failed:{payment.id}",
            capability=Capability.BILLING_READ,
            link_page_id="billing.payments",
        )
    return True


def _locked(session: Session, payment_id: uuid.UUID) -> Payment:
    """The payment, re-read and locked until commit, so two settlements of one payment (two
    webhook events, a webhook and a sweep) take turns and the second sees the first's."""
    payment = session.exec(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if payment is None:
        raise NotFound("That payment was not found.")
    return payment


def _receipt_recipients(session: Session, payment: Payment) -> list[User]:
    """The member who paid; for auto-recharge (nobody paid), the owners and billing members."""
    if payment.source == PaymentSource.PORTAL and payment.created_by is not None:
        user = session.get(User, payment.created_by)
        active = user is not None and user.status == UserStatus.ACTIVE
        return [user] if active and user is not None else []
    return members(session, payment.organization_id, (Role.OWNER, Role.BILLING))


def members(session: Session, organization_id: uuid.UUID, roles: Iterable[Role]) -> list[User]:
    """The organization's active members of ``roles``."""
    return list(
        session.exec(
            select(User)
            .where(
                User.organization_id == organization_id,
                col(User.role).in_([role.value for role in roles]),
                User.status == UserStatus.ACTIVE,
            )
            .order_by(col(User.created_at))
        ).all()
    )


# --- Stripe's webhook -----------------------------------------------------------------------


class WebhookGateway(Protocol):
    """What the webhook needs of the gateway: Stripe's signature check and its cards."""

    def verify_event(self, payload: bytes, signature_header: str | None) -> WebhookEvent: ...

    def card_from_setup_intent(self, setup_intent_ref: str) -> CardDetails: ...


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
    nothing. Event types the portal does not use are recorded and ignored. A card that a
    setup Checkout saved is read from Stripe before the transaction opens.
    """
    try:
        event = gateway.verify_event(payload, signature_header)
    except InvalidSignature as problem:
        raise PortalError(
            "The webhook's signature did not verify: it is not from Stripe, it was altered, "
            "or it is too old."
        ) from problem
    now = now or utcnow()
    with db.read_session(engine) as session:
        if session.get(GatewayEvent, (GatewayName.STRIPE, event.id)) is not None:
            return WebhookResult(event.id, event.type, "already handled", replayed=True)
    card: CardDetails | None = None
    if event.type == CHECKOUT_COMPLETED and event.data.get("mode") == "setup":
        setup_intent = _ref(event.data.get("setup_intent"))
        if setup_intent:
            card = gateway.card_from_setup_intent(setup_intent)
    with db.write_session(engine) as session:
        if not _record_event(session, event, now):
            return WebhookResult(event.id, event.type, "already handled", replayed=True)
        outcome = _apply_event(session, event, card, now)
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
    session: Session, event: WebhookEvent, card: CardDetails | None, now: datetime
) -> str:
    data = event.data
    if event.type == CHECKOUT_COMPLETED and data.get("mode") == "setup":
        return _save_card_from_setup(session, data, card, now)
    if event.type in (CHECKOUT_COMPLETED, CHECKOUT_ASYNC_SUCCEEDED):
        payment = _payment_of_checkout(session, data)
        if payment is None:
            return "ignored: no such payment"
        if data.get("payment_status") not in ("paid", "no_payment_required"):
            return "awaiting payment"
        return "credited" if credit_payment(session, payment, now=now) else "already credited"
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
            _mail_failure(session, payment, ASYNC_FAILED_MESSAGE)
            return "failed"
        return "unchanged"
    if event.type in (INTENT_SUCCEEDED, INTENT_FAILED):
        payment = _payment_of_intent(session, data)
        if payment is None:
            # Checkout's own PaymentIntents land here too: their session's events settle them.
            return "ignored: not an off-session payment"
        if event.type == INTENT_SUCCEEDED:
            return "credited" if credit_payment(session, payment, now=now) else "already credited"
        from portal_core.services import auto_recharge

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


def _mail_failure(session: Session, payment: Payment, reason: str) -> None:
    user = session.get(User, payment.created_by) if payment.created_by else None
    if user is None or user.status != UserStatus.ACTIVE:
        return
    send_after_commit(
        session,
        emails.payment_failed(
            user.email,
            user.name,
            reference=payment.reference,
            card_label=payment.card_label,
            total_cents=payment.total_cents,
            reason=reason,
        ),
    )


# --- Small helpers ----------------------------------------------------------------------------


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


def _page_url(page: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/{page}"


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"
