"""Saved cards: adding one, the default card, removing one, and the organization's customer
at the gateway.

Reads need ``BILLING_READ``, every change ``BILLING_MANAGE``; everything is scoped to the
actor's organization, and another organization's card is simply "not found".

``start_adding_card`` saves the sandbox's chosen test card at once, or returns Stripe
Checkout's setup page (the card is saved when the webhook reports it). The first card saved
becomes the default. Removing a card is soft (``removed_at``: payments keep naming it); the
default card cannot be removed while auto-recharge is on, and when the default card is removed
otherwise, the newest remaining card still usable becomes the default (none does when every
remaining card has expired). A card past its expiry month cannot be charged, and so cannot be
made the default either: auto-recharge would charge it. Whether a card is usable is
``rules.cards.usable_on`` on the billing day, the one rule every page and service uses.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
)
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount
from portal_core.models.payments import (
    AutoRecharge,
    GatewayCustomer,
    GatewayName,
    PaymentMethod,
)
from portal_core.payments import gateway_for
from portal_core.payments.gateway import (
    CardDetails,
    CardSetupRequest,
    Gateway,
    HostedPage,
    card_label,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.rules.cards import usable_on
from portal_core.rules.platform import billing_day
from portal_core.services import audit
from portal_core.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardSetup:
    """The outcome of adding a card: saved now (``card``, the sandbox), or to be entered on
    the gateway's page at ``checkout_url`` (Stripe; the webhook saves it)."""

    card: PaymentMethod | None = None
    checkout_url: str | None = None


def usable_today(session: Session, card: PaymentMethod, now: datetime) -> bool:
    """Whether ``card`` can be charged today, in the billing time zone (``rules.cards``)."""
    return usable_on(card.exp_month, card.exp_year, billing_day(session, now))


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
    back = return_url or page_url("billing_payment_methods")
    outcome = gateway.start_card_setup(
        CardSetupRequest(
            organization_id=organization_id,
            customer_ref=customer_ref(session, gateway, organization_id, actor.email),
            test_card=test_card,
            success_url=with_query(back, "card_setup=done"),
            cancel_url=with_query(back, "card_setup=cancelled"),
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
    card = own_card(session, organization_id, payment_method_id)
    if not usable_today(session, card, now):
        raise expired_refusal(card)
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
    card = own_card(session, organization_id, payment_method_id)
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
        (other for other in _cards(session, organization_id) if usable_today(session, other, now)),
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


def own_card(
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


def refuse_unusable(session: Session, card: PaymentMethod, gateway: Gateway, now: datetime) -> None:
    """Refuse a card this gateway cannot charge, or one expired today."""
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
    if not usable_today(session, card, now):
        raise expired_refusal(card)


def expired_refusal(card: PaymentMethod) -> ValidationFailed:
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


def page_url(page: str) -> str:
    """A page of the portal, as the gateway's hosted pages send the partner back to it."""
    return f"{get_settings().public_url.rstrip('/')}/{page}"


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"
