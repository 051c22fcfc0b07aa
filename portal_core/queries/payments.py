"""Read side of payments: Billing › Payments, the saved cards, the last payment, the
auto-recharge settings and the sandbox's test cards (SPEC.md, *Billing*).

Everything is scoped to the acting user's organization and needs ``BILLING_READ``; a payment
of another organization is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.base import utcnow
from portal_core.models.payments import (
    GatewayName,
    Payment,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)
from portal_core.payments import gateway_name
from portal_core.payments.gateway import card_label
from portal_core.payments.test_cards import TEST_CARDS, TestCard
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import (
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRangeFilter,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
    updated_sort,
)
from portal_core.services import platform
from portal_core.services.auto_recharge import settings_of
from portal_core.services.payments import is_expired

# A payment's status in a partner's words (Billing › Payments).
PAYMENT_STATUSES: dict[str, str] = {
    PaymentStatus.SUCCEEDED.value: "Succeeded",
    PaymentStatus.PENDING.value: "Pending",
    PaymentStatus.FAILED.value: "Failed",
    PaymentStatus.REQUIRES_ACTION.value: "Needs authentication",
}
PAYMENT_SOURCES: dict[str, str] = {
    PaymentSource.PORTAL.value: "Add funds",
    PaymentSource.AUTO_RECHARGE.value: "Auto-recharge",
}


def payments(actor: Actor) -> Listing:
    """The organization's payments, newest first: date, card, amount, fee, total charged,
    status, reference. Filters: the card's last four, status, date range, reference."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    status = col(Payment.status)
    return Listing(
        noun="payments",
        select=select(col(Payment.id))
        .select_from(Payment)
        .where(col(Payment.organization_id) == organization_id),
        key=col(Payment.id),
        columns=(
            Column("created_at", "Date", col(Payment.created_at), ColumnKind.DATETIME),
            Column("card_label", "Card", col(Payment.card_label)),
            Column(
                "amount_cents",
                "Amount",
                col(Payment.amount_cents),
                ColumnKind.MONEY_CENTS,
                help="Added to your balance.",
            ),
            Column(
                "fee_cents",
                "Fee",
                col(Payment.fee_cents),
                ColumnKind.MONEY_CENTS,
                help="The card convenience fee, charged on top of the amount.",
            ),
            Column(
                "total_cents",
                "Total charged",
                col(Payment.total_cents),
                ColumnKind.MONEY_CENTS,
                help="What the card was charged: the amount plus the fee.",
            ),
            Column("status", "Status", status, ColumnKind.STATUS, labels=PAYMENT_STATUSES),
            Column("source", "Made by", col(Payment.source), labels=PAYMENT_SOURCES),
            Column("reference", "Reference", col(Payment.reference)),
        ),
        sorts=(
            created_sort(col(Payment.created_at)),
            updated_sort(col(Payment.updated_at)),
            Sort("amount", "Amount", col(Payment.amount_cents)),
            Sort("total", "Total charged", col(Payment.total_cents)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            TextFilter("card", "Card number's last four", (col(Payment.card_last4),), "4242"),
            ChoiceFilter("status", "Status", equal_choices(status, PAYMENT_STATUSES)),
            DateRangeFilter("created", "Date", col(Payment.created_at)),
            TextFilter("reference", "Reference", (col(Payment.reference),), "PAY-…"),
        ),
        empty_message="No payments yet: funds you add by card will appear here.",
    )


def payment(session: Session, actor: Actor, payment_id: uuid.UUID) -> Payment:
    """One payment of the organization (its detail, its receipt); ``NotFound`` otherwise."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    found = session.get(Payment, payment_id)
    if found is None or found.organization_id != organization_id:
        raise NotFound("That payment was not found.")
    return found


def last_payment(session: Session, actor: Actor) -> Payment | None:
    """The organization's most recent payment, whatever its outcome."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    return session.exec(
        select(Payment)
        .where(Payment.organization_id == organization_id)
        .order_by(col(Payment.created_at).desc(), col(Payment.id).desc())
    ).first()


@dataclass(frozen=True)
class Card:
    """A saved card as Payment Methods shows it."""

    id: uuid.UUID
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool
    expired: bool
    created_at: datetime

    @property
    def label(self) -> str:
        """The card as named everywhere: Visa •••• 4242."""
        return card_label(self.brand, self.last4)

    @property
    def expiry(self) -> str:
        """Month and year, as printed on the card: 12/2034."""
        return f"{self.exp_month:02d}/{self.exp_year}"


def payment_methods(session: Session, actor: Actor, *, now: datetime | None = None) -> list[Card]:
    """The organization's saved cards (not removed): the default first, then newest first.
    A plain list: an organization keeps a handful of cards, never a page's worth."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    now = now or utcnow()
    rows = session.exec(
        select(PaymentMethod)
        .where(
            PaymentMethod.organization_id == organization_id,
            col(PaymentMethod.removed_at).is_(None),
        )
        .order_by(
            col(PaymentMethod.is_default).desc(),
            col(PaymentMethod.created_at).desc(),
            col(PaymentMethod.id).desc(),
        )
    ).all()
    return [_card(row, now) for row in rows]


def default_card(session: Session, actor: Actor, *, now: datetime | None = None) -> Card | None:
    """The card auto-recharge charges and Add funds preselects, if there is one."""
    cards = payment_methods(session, actor, now=now)
    return cards[0] if cards and cards[0].is_default else None


def _card(row: PaymentMethod, now: datetime) -> Card:
    return Card(
        id=row.id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.is_default,
        expired=is_expired(row.exp_month, row.exp_year, now),
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class AutoRechargeView:
    """The Overview's auto-recharge form: the settings, the card they charge, the daily limit
    (a platform setting) and how many recharges charged today."""

    enabled: bool
    threshold_cents: int
    amount_cents: int
    default_card: Card | None
    max_per_day: int
    updated_at: datetime | None


def auto_recharge_settings(
    session: Session, actor: Actor, *, now: datetime | None = None
) -> AutoRechargeView:
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    settings = settings_of(session, organization_id)
    return AutoRechargeView(
        enabled=settings.enabled,
        threshold_cents=settings.threshold_cents,
        amount_cents=settings.amount_cents,
        default_card=default_card(session, actor, now=now),
        max_per_day=platform.auto_recharge_max_per_day(session),
        updated_at=settings.updated_at,
    )


def uses_sandbox() -> bool:
    """Cards are the sandbox's test cards (no ``STRIPE_SECRET_KEY``): the page offers
    ``sandbox_test_cards()``; otherwise it sends the partner to Stripe's page."""
    return gateway_name() == GatewayName.SANDBOX


def sandbox_test_cards() -> tuple[TestCard, ...]:
    """Stripe's test cards for the sandbox's picker: ``name``, ``label``, ``number`` (to
    show), ``outcome`` (what charging it does) and ``gateway_ref`` (what to pass as
    ``services.payments.start_adding_card(test_card=…)``)."""
    return TEST_CARDS
