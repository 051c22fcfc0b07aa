"""Cards, payments and the gateway's events (docs/product.md, Billing model;
docs/architecture.md, rule 6).

No card number is ever stored: a payment method is the gateway's reference to a card (a
Stripe PaymentMethod id, or the sandbox's test-card name) with the brand, last four and expiry
shown to the partner. A payment is one attempt to add funds, kept whatever its outcome; it
carries its idempotency key under UNIQUE, saved before the gateway is called, so a double
click, a rerun or a retry charges once. ``gateway_events`` remembers each webhook event id
handled, so a replayed delivery changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from portal_core.models.base import (
    UTCDateTime,
    created_at_field,
    optional_time_field,
    updated_at_field,
    uuid_pk,
)


class GatewayName(StrEnum):
    SANDBOX = "sandbox"
    STRIPE = "stripe"


class GatewayCustomer(SQLModel, table=True):
    """An organization's customer record at a gateway (Stripe's ``cus_…``)."""

    __tablename__ = "gateway_customers"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    gateway: GatewayName = Field(sa_column=Column(String(20), primary_key=True))
    customer_ref: str = Field(max_length=120, unique=True)
    created_at: datetime = created_at_field()


class PaymentMethod(SQLModel, table=True):
    """A saved card. Removing one sets ``removed_at``: payments made with it keep naming it."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        Index("ix_payment_methods_org_created", "organization_id", "created_at", "id"),
        Index("ix_payment_methods_org_updated", "organization_id", "updated_at", "id"),
        UniqueConstraint("organization_id", "gateway", "gateway_ref"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    gateway: GatewayName = Field(sa_type=String(20))
    # Stripe's ``pm_…`` id, or the sandbox's test card (``pm_card_visa``…): never a number.
    gateway_ref: str = Field(max_length=120)
    brand: str = Field(max_length=20)  # visa, mastercard, amex…
    last4: str = Field(min_length=4, max_length=4)
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2200)
    is_default: bool = False
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    removed_at: datetime | None = optional_time_field()


class PaymentStatus(StrEnum):
    PENDING = "pending"  # sent to the gateway (or its hosted page); the webhook will settle it
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined, expired or abandoned: kept with the reason
    REQUIRES_ACTION = "requires_action"  # the bank asked for authentication off-session
    # Settled, then money went back to the card: all of it, or part of it.
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    # The cardholder's bank disputed the charge: the amount is held back until it is decided;
    # a dispute won returns the payment to what it was, a lost one leaves it charged back.
    DISPUTED = "disputed"
    CHARGED_BACK = "charged_back"


# A payment whose amount reached the balance (and was perhaps given back since).
SETTLED_STATUSES = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.DISPUTED,
    PaymentStatus.CHARGED_BACK,
)


class PaymentSource(StrEnum):
    PORTAL = "portal"  # a partner's Add funds
    AUTO_RECHARGE = "auto_recharge"


class Payment(SQLModel, table=True):
    """One attempt to add funds by card: amount credited, fee, total charged, outcome."""

    __tablename__ = "payments"
    __table_args__ = (
        # Billing › Payments: one index per sort, and per sort under the Status filter.
        Index("ix_payments_org_created", "organization_id", "created_at", "id"),
        Index("ix_payments_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_payments_org_amount", "organization_id", "amount_cents", "id"),
        Index("ix_payments_org_total", "organization_id", "total_cents", "id"),
        Index("ix_payments_org_status", "organization_id", "status", "created_at", "id"),
        Index("ix_payments_org_status_updated", "organization_id", "status", "updated_at", "id"),
        Index("ix_payments_org_status_amount", "organization_id", "status", "amount_cents", "id"),
        Index("ix_payments_org_status_total", "organization_id", "status", "total_cents", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    # A short reference a partner can quote to support (PAY-7Q2K…), unique.
    reference: str = Field(max_length=20, unique=True)
    source: PaymentSource = Field(sa_type=String(20))
    gateway: GatewayName = Field(sa_type=String(20))
    payment_method_id: uuid.UUID | None = Field(default=None, foreign_key="payment_methods.id")
    # The card as it was when charged ("Visa •••• 4242"), so history survives its removal.
    card_label: str = Field(default="", max_length=60)
    card_last4: str = Field(default="", max_length=4, index=True)
    amount_cents: int = Field(sa_type=BigInteger)  # credited to the balance
    fee_millipercent: int  # the convenience fee's rate at the time
    fee_cents: int = Field(sa_type=BigInteger)
    total_cents: int = Field(sa_type=BigInteger)  # amount + fee: what the card is charged
    status: PaymentStatus = Field(sa_type=String(20))
    failure_message: str | None = Field(default=None, max_length=300)
    # Saved before the first call to the gateway and sent with every call
    # (docs/architecture.md, rule 6).
    idempotency_key: str = Field(max_length=120, unique=True)
    # The gateway's object for this attempt: Checkout Session ``cs_…`` or PaymentIntent ``pi_…``.
    gateway_ref: str | None = Field(default=None, max_length=200, index=True)
    # The PaymentIntent that charged the card (a Checkout session's, once paid): refunds and
    # disputes name it.
    payment_intent_ref: str | None = Field(default=None, max_length=200, index=True)
    # Of ``total_cents``, what was refunded to the card so far (its share of the amount has
    # left the balance: see ``services.payments.settlement``).
    refunded_cents: int = Field(default=0, sa_type=BigInteger)
    checkout_url: str | None = Field(default=None, max_length=1000)
    ledger_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    settled_at: datetime | None = optional_time_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


class GatewayEvent(SQLModel, table=True):
    """A webhook event already handled: its id is the replay guard."""

    __tablename__ = "gateway_events"

    gateway: GatewayName = Field(sa_column=Column(String(20), primary_key=True))
    event_id: str = Field(sa_column=Column(String(120), primary_key=True))
    event_type: str = Field(max_length=80)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class AutoRecharge(SQLModel, table=True):
    """An organization's auto-recharge: when available funds drop under ``threshold_cents``,
    charge the default card ``amount_cents`` (at most the platform's daily limit of times)."""

    __tablename__ = "auto_recharges"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    enabled: bool = False
    threshold_cents: int = Field(sa_type=BigInteger)
    amount_cents: int = Field(sa_type=BigInteger)
    updated_at: datetime = updated_at_field()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


class RefundStatus(StrEnum):
    PENDING = "pending"  # asked of the gateway; its answer not recorded yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(SQLModel, table=True):
    """Money given back to the card of a payment: by staff from the portal, or in Stripe's
    dashboard (the webhook reports it). ``amount_cents`` is of the total charged;
    ``balance_cents`` is its share of the amount credited, which leaves the balance."""

    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_org_created", "organization_id", "created_at"),
        UniqueConstraint("gateway", "gateway_ref"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    payment_id: uuid.UUID = Field(foreign_key="payments.id", index=True)
    gateway: GatewayName = Field(sa_type=String(20))
    gateway_ref: str | None = Field(default=None, max_length=200)  # Stripe's re_…
    amount_cents: int = Field(sa_type=BigInteger)
    balance_cents: int = Field(default=0, sa_type=BigInteger)
    status: RefundStatus = Field(sa_type=String(20))
    reason: str = Field(default="", max_length=300)
    failure_message: str | None = Field(default=None, max_length=300)
    # A staff refund's key, saved before the gateway is called (a double click refunds once).
    idempotency_key: str | None = Field(default=None, max_length=120, unique=True)
    ledger_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


class DisputeStatus(StrEnum):
    OPEN = "open"  # the amount is held back
    INQUIRY = "inquiry"  # the bank asks questions; nothing is held back yet
    WON = "won"  # the amount came back
    LOST = "lost"  # charged back for good


class Dispute(SQLModel, table=True):
    """A cardholder's bank disputing a payment (a chargeback). Its amount's share of the
    balance is debited when it opens, and credited back if it is won. Stripe's dispute fee is
    Stripe's, never posted to the partner's balance."""

    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("gateway", "gateway_ref"),)

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    payment_id: uuid.UUID = Field(foreign_key="payments.id", index=True)
    gateway: GatewayName = Field(sa_type=String(20))
    gateway_ref: str = Field(max_length=200)  # Stripe's dp_…
    amount_cents: int = Field(sa_type=BigInteger)  # of the total charged
    balance_cents: int = Field(default=0, sa_type=BigInteger)  # held back from the balance
    status: DisputeStatus = Field(sa_type=String(20))
    reason: str = Field(default="", max_length=80)  # the bank's: fraudulent, duplicate…
    opened_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    closed_at: datetime | None = optional_time_field()
    debit_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")
    credit_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")


class ClosingRefundStatus(StrEnum):
    PENDING = "pending"  # the balance is still to go back to the cards: the job tries again
    REFUNDED = "refunded"  # nothing of the balance is left to refund
    STAFF = "staff"  # handed to staff with a notice: no card could take what is left


class ClosingRefund(SQLModel, table=True):
    """The refund of a closed organization's balance to the cards that paid it, as one task
    that outlives the process closing it: saved with the closing, then tried right after its
    commit and by the ``closing.refunds`` job until nothing is left, or staff are told.

    Each attempt claims the row by moving ``next_attempt_at`` a lease ahead (and counting
    ``attempts``) in one UPDATE, so two attempts at once never both walk the payments;
    ``left_cents`` is what was handed to staff."""

    __tablename__ = "closing_refunds"
    __table_args__ = (Index("ix_closing_refunds_status_next", "status", "next_attempt_at"),)

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    status: ClosingRefundStatus = Field(sa_type=String(20))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_error: str | None = Field(default=None, max_length=300)
    left_cents: int = Field(default=0, sa_type=BigInteger)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
