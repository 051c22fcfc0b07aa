"""Read side of payments: Billing › Payments, the saved cards (Billing › Payment Methods'
table, and the plain list that the Overview's and the wizard's card pickers read), the last
payment, the auto-recharge settings and the sandbox's test cards
(docs/product.md, Pages › Billing).

Everything is scoped to the acting user's organization and needs ``BILLING_READ``; a payment
of another organization is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, String, case, cast, func, literal
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
from portal_core.payments.gateway import brand_name, card_label
from portal_core.payments.test_cards import TEST_CARDS, TestCard
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import (
    Choice,
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
from portal_core.rules import platform
from portal_core.rules.auto_recharge import settings_of
from portal_core.rules.cards import expiry_month_number, month_number, usable_on
from portal_core.rules.platform import billing_day

# A payment's status in a partner's words (Billing › Payments).
PAYMENT_STATUSES: dict[str, str] = {
    PaymentStatus.SUCCEEDED.value: "Succeeded",
    PaymentStatus.PENDING.value: "Pending",
    PaymentStatus.FAILED.value: "Failed",
    PaymentStatus.REQUIRES_ACTION.value: "Needs authentication",
    PaymentStatus.PARTIALLY_REFUNDED.value: "Partially refunded",
    PaymentStatus.REFUNDED.value: "Refunded",
    PaymentStatus.DISPUTED.value: "Disputed",
    PaymentStatus.CHARGED_BACK.value: "Charged back",
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
    today = billing_day(session, now)
    return [_card(row, today) for row in rows]


def default_card(session: Session, actor: Actor, *, now: datetime | None = None) -> Card | None:
    """The card auto-recharge charges and Add funds preselects, if there is one."""
    cards = payment_methods(session, actor, now=now)
    return cards[0] if cards and cards[0].is_default else None


def payment_method(
    session: Session, actor: Actor, payment_method_id: uuid.UUID, *, now: datetime | None = None
) -> Card:
    """One saved card of the organization (the one selected in the table, the one whose
    removal is asked); ``NotFound`` for a removed card or another organization's."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    row = session.get(PaymentMethod, payment_method_id)
    if row is None or row.organization_id != organization_id or row.removed_at is not None:
        raise NotFound("That card was not found among your payment methods.")
    return _card(row, billing_day(session, now or utcnow()))


# Stripe's card networks, as a PaymentMethod's ``card.brand`` names them (Stripe's API
# reference, "The PaymentMethod object"). The table names each the way ``brand_name`` does,
# in SQL, so that the filter finds "American Express" and the CSV writes the name a partner
# reads; a brand Stripe adds later shows as stored until it is listed here.
STRIPE_CARD_BRANDS: tuple[str, ...] = (
    "amex",
    "cartes_bancaires",
    "diners",
    "discover",
    "eftpos_au",
    "interac",
    "jcb",
    "link",
    "mastercard",
    "unionpay",
    "visa",
    "unknown",
)
CARD_STATUSES: dict[str, str] = {"active": "Active", "expired": "Expired"}
DEFAULT_FLAGS: dict[str, str] = {"yes": "Yes", "no": "No"}

_BRAND_NAME = case(
    {code: brand_name(code) for code in STRIPE_CARD_BRANDS},
    value=func.lower(col(PaymentMethod.brand)),
    else_=col(PaymentMethod.brand),
)
_CARD_LABEL = _BRAND_NAME.concat(literal(" •••• ")).concat(col(PaymentMethod.last4))
# The expiry as one number, 2034 × 100 + 12 = 203412: it sorts by date and compares with the
# billing month the way ``rules.cards.usable_on`` does (good through its month).
_EXPIRY_MONTH = expiry_month_number(col(PaymentMethod.exp_month), col(PaymentMethod.exp_year))
_EXPIRY = (
    case((col(PaymentMethod.exp_month) < 10, "0"), else_="")
    .concat(cast(col(PaymentMethod.exp_month), String))
    .concat(literal("/"))
    .concat(cast(col(PaymentMethod.exp_year), String))
)
_DEFAULT_FLAG = case((col(PaymentMethod.is_default).is_(True), "yes"), else_="no")


def payment_methods_listing(actor: Actor, *, today: date) -> Listing:
    """Billing › Payment Methods' table: the organization's saved cards (not the removed ones),
    newest first: the card, brand, last four, expiry (MM/YYYY), whether it is the default, and
    its status, Expired from the month after its expiry month (``today``: the billing day,
    ``rules.platform.billing_day``). Filters: the card's name or brand, the card number's
    last four, status, date added."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    expired = _EXPIRY_MONTH < month_number(today)
    status: ColumnElement[str] = case((expired, "expired"), else_="active")
    return Listing(
        noun="cards",
        select=select(col(PaymentMethod.id))
        .select_from(PaymentMethod)
        .where(
            col(PaymentMethod.organization_id) == organization_id,
            col(PaymentMethod.removed_at).is_(None),
        ),
        key=col(PaymentMethod.id),
        columns=(
            Column("card", "Card", _CARD_LABEL),
            Column("brand", "Brand", _BRAND_NAME),
            Column("last4", "Last four", col(PaymentMethod.last4)),
            Column("expiry", "Expires", _EXPIRY, help="Month and year, as printed on the card."),
            Column(
                "default",
                "Default",
                _DEFAULT_FLAG,
                labels=DEFAULT_FLAGS,
                help="The card auto-recharge charges and Add funds offers first.",
            ),
            Column(
                "status",
                "Status",
                status,
                ColumnKind.STATUS,
                labels=CARD_STATUSES,
                help="A card can be charged through the last day of its expiry month.",
            ),
            Column("created_at", "Added", col(PaymentMethod.created_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(PaymentMethod.created_at)),
            updated_sort(col(PaymentMethod.updated_at)),
            Sort("expiry", "Expiry", _EXPIRY_MONTH),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            TextFilter("name", "Card", (_CARD_LABEL, col(PaymentMethod.brand)), "Visa"),
            TextFilter("last4", "Card number's last four", (col(PaymentMethod.last4),), "4242"),
            ChoiceFilter(
                "status",
                "Status",
                (
                    Choice("active", CARD_STATUSES["active"], ~expired),
                    Choice("expired", CARD_STATUSES["expired"], expired),
                ),
            ),
            DateRangeFilter("created", "Date added", col(PaymentMethod.created_at)),
        ),
        empty_message=(
            "No card saved yet: add one with the green + Add card button to add funds and to "
            "use auto-recharge."
        ),
    )


def _card(row: PaymentMethod, today: date) -> Card:
    return Card(
        id=row.id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.is_default,
        expired=not usable_on(row.exp_month, row.exp_year, today),
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
    ``services.payments.cards.start_adding_card(test_card=…)``)."""
    return TEST_CARDS
