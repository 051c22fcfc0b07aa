"""Adding funds by card: the fee quote, the amount's bounds, and the top-up itself.

**The fee** (``quote``): the convenience fee is ``amount × rate``, the rate being the platform
setting ``card_fee_millipercent`` in thousandths of a percent (2950 = 2.95 %, the published
default), rounded half-up to the cent once, in integers: ``(amount × rate + 50,000) //
100,000``. The card is charged amount + fee; the balance is credited the amount. Amounts are
$10.00 to $10,000.00 in whole cents.

**The quote is a promise**: the fee shown before Pay now is the fee charged, even if staff
change the rate meanwhile. ``quote`` signs the rate for the organization and the amount (an
HMAC with the portal's secret key) and the form sends that token with Pay now; ``add_funds``
charges its rate for ``QUOTE_LIFETIME`` (30 minutes), refuses an altered one, and asks to
review the fee once it is older. Without a token, the current rate applies.

**Adding funds** (``add_funds``, ``BILLING_MANAGE``) is idempotent by the key the page sends:
one key per attempt of the form (the page makes a new key when the form is shown afresh or
after an attempt ended, and keeps it across reruns and double clicks). The payment row is
saved under that key *before* the gateway is called, and the same key again returns the same
payment without calling the gateway twice (also concurrently: the key is UNIQUE). The sandbox
charges at once: a success is settled (``settlement.credit_payment``) in the same transaction;
a decline keeps the payment as failed with a notice and raises ``PaymentDeclined`` with the
bank's reason, a refusal the unit of work commits (``errors.PortalError.keeps_writes``). With
Stripe the payment stays ``pending`` and the partner pays on Checkout's page
(``Payment.checkout_url``); only the signature-verified webhook, or reconciliation, settles it.

Calls to Stripe for a partner's top-up happen inside the caller's unit of work: no money moves
until the partner opens the returned page, which only exists once the payment is committed.
(On SQLite that holds the write lock for the call's round trip, well under a second.)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal_core.errors import (
    Conflict,
    PaymentDeclined,
    ValidationFailed,
)
from portal_core.models.base import utcnow
from portal_core.models.payments import (
    GatewayName,
    Payment,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)
from portal_core.money import format_percent, parse_dollars
from portal_core.payments import gateway_for
from portal_core.payments.gateway import (
    ChargeOutcome,
    ChargeStatus,
    Gateway,
    HostedPage,
    PaymentRequest,
    card_label,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.services import platform
from portal_core.services.payments.cards import (
    customer_ref,
    own_card,
    page_url,
    refuse_unusable,
    with_query,
)
from portal_core.services.payments.settlement import credit_payment, fail_payment
from portal_core.settings import get_settings

log = logging.getLogger(__name__)

# How long a fee shown before Pay now is honoured, whatever staff do to the rate meanwhile.
QUOTE_LIFETIME = timedelta(minutes=30)
MIN_AMOUNT_CENTS = 1_000  # $10.00
MAX_AMOUNT_CENTS = 1_000_000  # $10,000.00
AMOUNT_BOUNDS = "Add between $10.00 and $10,000.00, in whole cents."
MAX_IDEMPOTENCY_KEY = 80  # stored as "<organization hex>:<key>" in payments.idempotency_key
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O or U
_MILLIPERCENT_PER_UNIT = 100_000  # the rate is in thousandths of a percent


@dataclass(frozen=True)
class Quote:
    """What adding ``amount_cents`` costs: the fee at ``fee_millipercent`` and the total the
    card is charged. All integer cents."""

    amount_cents: int
    fee_millipercent: int
    fee_cents: int
    total_cents: int
    # A signed promise of this rate for this amount, to the organization it was quoted for:
    # the form sends it with Pay Now so the fee charged is the fee shown (``add_funds``).
    token: str = ""

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


def quote(
    session: Session,
    amount_cents: int,
    *,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Quote:
    """The fee and total for adding ``amount_cents``, at the platform's current fee rate;
    for ``organization_id``, with the token that holds this rate for it (``add_funds``)."""
    figures = quote_at(amount_cents, platform.card_fee_millipercent(session))
    if organization_id is None:
        return figures
    quoted_at = int((now or utcnow()).timestamp())
    token = f"{quoted_at}.{figures.fee_millipercent}." + _signature(
        organization_id, amount_cents, figures.fee_millipercent, quoted_at
    )
    return replace(figures, token=token)


def _signature(organization_id: uuid.UUID, amount_cents: int, rate: int, quoted_at: int) -> str:
    signed = f"quote:{organization_id}:{amount_cents}:{rate}:{quoted_at}".encode()
    key = get_settings().cookie_key.encode()
    return hmac.new(key, signed, hashlib.sha256).hexdigest()[:32]


def quoted_rate(
    session: Session, organization_id: uuid.UUID, amount_cents: int, token: str, now: datetime
) -> int:
    """The fee rate to charge: the one a valid quote promised (``QUOTE_LIFETIME``), else,
    without a quote, the current one. A quote that was altered, made for another amount or
    organization, or is too old is refused: the partner reviews the fee again."""
    if not token:
        return platform.card_fee_millipercent(session)
    stamp, _, rest = token.partition(".")
    rate, _, signature = rest.partition(".")
    if not (stamp.isdigit() and rate.isdigit()) or not hmac.compare_digest(
        signature, _signature(organization_id, amount_cents, int(rate), int(stamp))
    ):
        raise ValidationFailed({"amount": "That fee quote is not valid: review the fee again."})
    if now.timestamp() - int(stamp) > QUOTE_LIFETIME.total_seconds():
        raise ValidationFailed(
            {"amount": "The fee shown has expired: review the fee and press Pay now again."}
        )
    return int(rate)


def quote_at(amount_cents: int, fee_millipercent: int) -> Quote:
    """The fee and total for adding ``amount_cents`` at the rate ``fee_millipercent``."""
    check_amount(amount_cents)
    fee = fee_cents(amount_cents, fee_millipercent)
    return Quote(amount_cents, fee_millipercent, fee, amount_cents + fee)


def fee_label(fee_millipercent: int) -> str:
    return f"Card convenience fee ({format_percent(fee_millipercent)})"


def add_funds(
    session: Session,
    actor: Actor,
    *,
    payment_method_id: uuid.UUID,
    amount_cents: int,
    idempotency_key: str,
    quote_token: str = "",
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
    amount or card. See the module docstring for the key. ``quote_token`` is the token of
    the quote the partner saw (``quote``): its fee is the fee charged.
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
    card = own_card(session, organization_id, payment_method_id)
    refuse_unusable(session, card, gateway, now)
    figures = quote_at(
        amount_cents, quoted_rate(session, organization_id, amount_cents, quote_token, now)
    )
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
    back = return_url or page_url("billing_overview")
    request = payment_request(
        payment,
        card,
        customer,
        success_url=with_query(back, f"payment={payment.id}"),
        cancel_url=with_query(back, f"payment={payment.id}&cancelled=1"),
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
    # A refusal that keeps its record: the unit of work commits the failed payment and its
    # notice, then lets the error through to the page.
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
        # The payment row's id is in the gateway's key: every call for one saved payment is
        # the same request to the gateway, and a retry after a commit that failed (a new row,
        # a new reference in the request) is a new one rather than a refused reuse of a key.
        idempotency_key=f"{payment.idempotency_key}:{payment.id.hex}",
        success_url=success_url,
        cancel_url=cancel_url,
    )
