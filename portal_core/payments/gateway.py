"""The ``Gateway`` protocol: what the payment services ask of a card processor.

Two implementations: the offline sandbox (``sandbox.py``, the default) and Stripe
(``stripe_gateway.py``, when ``STRIPE_SECRET_KEY`` is set). The services never branch on which
one they hold except through what the protocol says:

- ``start_card_setup`` either saves a card at once (``SavedCard``: the sandbox's test card
  chosen by name) or sends the partner to a hosted page (``HostedPage``: Stripe Checkout in
  setup mode; the card arrives later through the webhook).
- ``start_payment`` (a partner's top-up, on-session) either charges at once
  (``ChargeOutcome``) or sends the partner to a hosted page (Checkout in payment mode).
- ``charge_off_session`` (auto-recharge) charges a saved card with nobody present.
- ``credits_from_webhook`` says whether a successful charge may be credited on the spot
  (sandbox) or only when the signature-verified webhook confirms it (Stripe:
  docs/architecture.md, rule 6).

Every request carries an idempotency key that the caller saved before calling, so a retry
of the same request is the same request at the gateway. Amounts are integer cents (USD).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from portal_core.models.payments import GatewayName

CURRENCY = "usd"

_BRANDS = {
    "visa": "Visa",
    "mastercard": "Mastercard",
    "amex": "American Express",
    "discover": "Discover",
    "diners": "Diners Club",
    "jcb": "JCB",
    "unionpay": "UnionPay",
}


def brand_name(brand: str) -> str:
    """A card network as a partner reads it: ``visa`` → Visa."""
    return _BRANDS.get(brand.lower(), brand.title())


def card_label(brand: str, last4: str) -> str:
    """How a card is named everywhere: "Visa •••• 4242"."""
    return f"{brand_name(brand)} •••• {last4}"


@dataclass(frozen=True)
class CardDetails:
    """What the portal keeps of a card: the gateway's reference, never its number."""

    gateway_ref: str  # Stripe's pm_…, or the sandbox's test card (pm_card_visa)
    brand: str  # lower case, as Stripe spells it: visa, mastercard, amex…
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class SavedCard:
    """The card is saved: no page to visit."""

    card: CardDetails


@dataclass(frozen=True)
class HostedPage:
    """The partner continues on the gateway's page at ``url``; ``ref`` is its session (cs_…)."""

    url: str
    ref: str


class ChargeStatus(StrEnum):
    SUCCEEDED = "succeeded"  # the card was charged
    PROCESSING = "processing"  # accepted; the webhook will say how it ended
    DECLINED = "declined"
    REQUIRES_ACTION = "requires_action"  # the bank wants the cardholder to authenticate


@dataclass(frozen=True)
class ChargeOutcome:
    """How a charge ended at the gateway. ``message`` is the gateway's words for a decline
    ("Your card has insufficient funds."), fit for the partner; ``code`` its code."""

    status: ChargeStatus
    ref: str | None = None  # the gateway's object (pi_…), when there is one
    message: str | None = None
    code: str | None = None


@dataclass(frozen=True)
class CardSetupRequest:
    organization_id: uuid.UUID
    customer_ref: str
    # The sandbox's test card, by its gateway reference (pm_card_visa); hosted pages ignore it.
    test_card: str | None
    success_url: str
    cancel_url: str
    idempotency_key: str


@dataclass(frozen=True)
class PaymentRequest:
    """One charge of ``amount_cents + fee_cents`` to a saved card, for payment ``payment_id``."""

    organization_id: uuid.UUID
    payment_id: uuid.UUID
    reference: str
    customer_ref: str
    payment_method_ref: str
    amount_cents: int  # credited to the balance
    fee_cents: int  # the convenience fee, charged on top
    fee_label: str  # "Card convenience fee (2.95 %)"
    idempotency_key: str
    # Where a hosted page sends the partner back; unused off-session and by the sandbox.
    success_url: str = ""
    cancel_url: str = ""

    @property
    def total_cents(self) -> int:
        return self.amount_cents + self.fee_cents


@dataclass(frozen=True)
class RefundRequest:
    """Give ``amount_cents`` of a charge back to its card (staff's refund of a payment)."""

    payment_intent_ref: str
    amount_cents: int
    refund_id: uuid.UUID  # the portal's refund, named in the gateway's metadata
    payment_id: uuid.UUID
    organization_id: uuid.UUID
    idempotency_key: str


@dataclass(frozen=True)
class RefundInfo:
    """A refund as the gateway reports it: its id (re_…), amount and status (``succeeded``,
    ``pending``, ``failed``, ``canceled``); ``refund_id`` is the portal's, when it asked."""

    ref: str
    amount_cents: int
    status: str
    refund_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class PaymentState:
    """Where a charge stands at the gateway, for reconciliation: ``paid`` (with the
    PaymentIntent that charged), ``failed`` or ``expired`` (with why), or ``open`` (the
    partner may still pay, or the bank is still deciding)."""

    outcome: str  # paid | failed | expired | open
    payment_intent_ref: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event: its id (the replay guard), type and object."""

    id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)


class InvalidSignature(Exception):
    """A webhook whose signature, timestamp or body does not verify."""


class Gateway(Protocol):
    """A card processor, as the services use it (see the module docstring)."""

    name: GatewayName
    credits_from_webhook: bool

    def create_customer(
        self, *, organization_id: uuid.UUID, name: str, email: str | None, idempotency_key: str
    ) -> str:
        """The organization's new customer at the gateway (its reference, cus_…)."""
        ...

    def start_card_setup(self, request: CardSetupRequest) -> SavedCard | HostedPage:
        """Save a card at once, or return the hosted page where the partner enters it."""
        ...

    def start_payment(self, request: PaymentRequest) -> ChargeOutcome | HostedPage:
        """A partner's top-up: charge at once, or return the hosted page to pay on."""
        ...

    def charge_off_session(self, request: PaymentRequest) -> ChargeOutcome:
        """Charge a saved card with nobody present (auto-recharge)."""
        ...

    def refund(self, request: RefundRequest) -> RefundInfo:
        """Give part or all of a charge back to its card."""
        ...

    def payment_state(self, ref: str) -> PaymentState:
        """Where a Checkout session (cs_…) or a PaymentIntent (pi_…) stands now."""
        ...
