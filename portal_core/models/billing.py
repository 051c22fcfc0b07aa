"""The ledger and each organization's cached account figures (docs/architecture.md, rule 5).

The ledger is append-only and single-entry: one row per money event of one organization, in
integer cents; corrections are reversing entries, never edits. ``billing_accounts`` caches
the balance (the ledger's sum), the unbilled usage and the credit limit, all in micro-dollars
so the meter's guard is one comparison; it changes in the same transaction as the entry.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlmodel import Field, SQLModel

from portal_core.models.base import UTCDateTime, created_at_field, updated_at_field, uuid_pk


class EntryKind(StrEnum):
    PAYMENT = "payment"
    CREDIT = "credit"
    INVOICE = "invoice"
    ADJUSTMENT = "adjustment"
    REFUND = "refund"  # a payment's share given back to the card
    CHARGEBACK = "chargeback"  # a disputed payment's share, held back
    CHARGEBACK_REVERSAL = "chargeback_reversal"  # ...and returned when the dispute is won


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        # Transactions filters, sorts, counts and pages an organization's entries in SQL: one
        # index per sort, and per sort under the Type filter, each ending with the id that
        # breaks ties (tests/queries/test_list_plans.py checks every list's plans).
        Index("ix_ledger_entries_org_created", "organization_id", "created_at", "id"),
        Index(
            "ix_ledger_entries_org_balance_after", "organization_id", "balance_after_cents", "id"
        ),
        Index("ix_ledger_entries_org_amount", "organization_id", "amount_cents", "id"),
        Index("ix_ledger_entries_org_kind_created", "organization_id", "kind", "created_at", "id"),
        Index(
            "ix_ledger_entries_org_kind_balance_after",
            "organization_id",
            "kind",
            "balance_after_cents",
            "id",
        ),
        Index("ix_ledger_entries_org_kind_amount", "organization_id", "kind", "amount_cents", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    kind: EntryKind = Field(sa_type=String(20))
    amount_cents: int = Field(sa_type=BigInteger)
    # The organization's balance right after this entry, set from the same atomic UPDATE that
    # moved the cached balance: Transactions shows, sorts and pages it as a plain column.
    balance_after_cents: int = Field(sa_type=BigInteger)
    # Every money change carries one, under UNIQUE: a replay finds the first and stops.
    idempotency_key: str = Field(max_length=120, unique=True)
    memo: str = Field(max_length=300)
    created_at: datetime = created_at_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


class BillingAccount(SQLModel, table=True):
    __tablename__ = "billing_accounts"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    balance_micros: int = Field(default=0, sa_type=BigInteger)
    unbilled_micros: int = Field(default=0, sa_type=BigInteger)
    credit_limit_micros: int = Field(default=0, sa_type=BigInteger)
    # The meter counts the period's requests here, in the same statement that spends, so the
    # allowance is applied atomically; ``period`` (YYYY-MM) restarts the count each month.
    period: str = Field(default="", max_length=7)
    period_requests: int = Field(default=0, sa_type=BigInteger)


# --- Reference data: plans, taxes, platform settings ----------------------------------------


class BillingCycle(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Plan(SQLModel, table=True):
    """A Smart CNAM plan (docs/product.md, Billing model; seeded from ``data/plans.csv``,
    edited by staff).

    Empty prices mean "by contract" (Carrier: staff set them per organization on its
    subscription) or, for the price per additional request, "none": the plan is capped.
    """

    __tablename__ = "plans"

    code: str = Field(primary_key=True, max_length=20)
    name: str = Field(max_length=40)
    position: int = 0
    monthly_cents: int | None = Field(default=None, sa_type=BigInteger)
    yearly_monthly_cents: int | None = Field(default=None, sa_type=BigInteger)
    included_requests: int = Field(sa_type=BigInteger)
    additional_request_micros: int | None = Field(default=None, sa_type=BigInteger)
    credit_limit_cents: int | None = Field(default=None, sa_type=BigInteger)
    lookups_per_second: int | None = None
    support_sla: str = Field(max_length=40)
    by_contract: bool = False


class TaxRate(SQLModel, table=True):
    """A sales tax of a Canadian province (seeded from ``data/canada_sales_tax.csv``)."""

    __tablename__ = "tax_rates"
    __table_args__ = (UniqueConstraint("country", "province", "tax"),)

    id: uuid.UUID = uuid_pk()
    country: str = Field(max_length=2)
    province: str = Field(max_length=3)
    tax: str = Field(max_length=10)
    # Thousandths of a percent, so 9.975 % is 9975 and the rate stays an integer.
    rate_millipercent: int = Field(ge=0, le=100_000)
    updated_at: datetime = created_at_field()


# Since always: the effective date of what was in force before the portal kept history.
SINCE_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)


class PlanPrice(SQLModel, table=True):
    """A plan's fees from ``effective_from`` on. Staff changing a plan's price append one; a
    month is invoiced at the fee in force when it (or the plan's term, if later) began."""

    __tablename__ = "plan_prices"
    __table_args__ = (UniqueConstraint("plan_code", "effective_from"),)

    id: uuid.UUID = uuid_pk()
    plan_code: str = Field(foreign_key="plans.code", max_length=20)
    effective_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    monthly_cents: int | None = Field(default=None, sa_type=BigInteger)
    yearly_monthly_cents: int | None = Field(default=None, sa_type=BigInteger)


class TaxRateChange(SQLModel, table=True):
    """A sales tax's rate from ``effective_from`` on. ``tax_rates`` holds each tax's rate of
    today; this is its history, which an invoice reads for the rate in force at the end of
    its period."""

    __tablename__ = "tax_rate_changes"
    __table_args__ = (UniqueConstraint("country", "province", "tax", "effective_from"),)

    id: uuid.UUID = uuid_pk()
    country: str = Field(max_length=2)
    province: str = Field(max_length=3)
    tax: str = Field(max_length=10)
    rate_millipercent: int = Field(ge=0, le=100_000)
    effective_from: datetime = Field(sa_type=UTCDateTime, nullable=False)


class BillingDetails(SQLModel, table=True):
    """What an organization's invoices print and tax it by — legal name, address, country,
    province, tax id — from ``effective_from`` on. An invoice takes the details in force at
    the end of its period, so a move on the 1st changes the next month's taxes, not the last's."""

    __tablename__ = "billing_details"
    __table_args__ = (
        Index("ix_billing_details_org_effective", "organization_id", "effective_from"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    effective_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    name: str = Field(max_length=120)
    legal_name: str | None = Field(default=None, max_length=200)
    address_line: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    province: str | None = Field(default=None, max_length=3)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)
    tax_id: str | None = Field(default=None, max_length=40)


class PlatformSetting(SQLModel, table=True):
    """A setting staff edit (fee rate, seller's details, billing time zone): a row, not code."""

    __tablename__ = "platform_settings"

    key: str = Field(primary_key=True, max_length=60)
    value: str = Field(max_length=500)
    description: str = Field(default="", max_length=300)
    updated_at: datetime = created_at_field()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


# --- Subscriptions and metered usage -------------------------------------------------------


class SubscriptionTerm(SQLModel, table=True):
    """The terms an organization was billed by, from ``effective_from`` until
    ``effective_to`` (open: still in force): a plan and cycle, or a Carrier contract's
    figures. Every change of plan, cycle or contract closes one and opens the next, in the
    same transaction; a downgrade's opens at its own effective date. The invoice run bills a
    period from the terms in force during it, not from the subscription as it is at the run."""

    __tablename__ = "subscription_terms"
    __table_args__ = (Index("ix_subscription_terms_org_from", "organization_id", "effective_from"),)

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    effective_from: datetime = Field(sa_type=UTCDateTime, nullable=False)
    effective_to: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    plan_code: str = Field(foreign_key="plans.code", max_length=20)
    cycle: BillingCycle = Field(sa_type=String(10))
    # When this plan's (yearly) term began: its 12 months are billed from that month.
    term_started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    contract_monthly_cents: int | None = Field(default=None, sa_type=BigInteger)


class Subscription(SQLModel, table=True):
    """An organization's plan. Upgrades change ``plan_code`` at once; downgrades wait in
    ``next_plan_code`` for the next period. The ``contract_*`` figures are Carrier's, set by
    staff; when present they replace the plan's."""

    __tablename__ = "subscriptions"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    plan_code: str = Field(foreign_key="plans.code", max_length=20)
    cycle: BillingCycle = Field(default=BillingCycle.MONTHLY, sa_type=String(10))
    term_started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_plan_code: str | None = Field(default=None, foreign_key="plans.code", max_length=20)
    next_cycle: BillingCycle | None = Field(default=None, sa_type=String(10))
    # When the scheduled downgrade takes effect: its own date, set when it was asked for.
    next_change_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    contract_monthly_cents: int | None = Field(default=None, sa_type=BigInteger)
    contract_included_requests: int | None = Field(default=None, sa_type=BigInteger)
    contract_additional_request_micros: int | None = Field(default=None, sa_type=BigInteger)
    contract_lookups_per_second: int | None = None
    # A credit limit staff set for this organization; empty means the plan's (twice
    # the monthly subscription). A plan change recomputes the account's limit from this.
    credit_limit_override_cents: int | None = Field(default=None, sa_type=BigInteger)
    # When the owner chose the plan in the activation wizard (its plan step is done).
    plan_chosen_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # When the owner skipped the wizard's card step (allowed on a plan without a fee).
    card_step_skipped_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Product(StrEnum):
    SMART_CNAM = "smart_cnam"


class LookupType(StrEnum):
    """Smart CNAM's lookup types (docs/product.md, Smart CNAM lookups and scores); usage and
    invoices break down by them."""

    SOURCE_RISK = "source_risk"
    CALLER_ID = "caller_id"
    REGIONAL = "regional"
    TELCO_CARRIER = "telco_carrier"
    ONLINE_PROFILES = "online_profiles"

    @property
    def label(self) -> str:
        return _LOOKUP_TYPE_LABELS[self.value]


_LOOKUP_TYPE_LABELS = {
    "source_risk": "Source/Risk",
    "caller_id": "Caller ID",
    "regional": "Regional",
    "telco_carrier": "Telco/Carrier",
    "online_profiles": "Online Profiles",
}


class UsageRecord(SQLModel, table=True):
    """One billable request, priced when it was made, and billed on exactly one invoice
    (``invoice_id``: empty until an invoice takes it, whatever period it counted in)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_org_created", "organization_id", "created_at"),
        Index("ix_usage_records_org_period", "organization_id", "period"),
        # The records not billed yet, which the invoice run totals and marks and the balance
        # check sums: a billed record leaves this index, so it stays the size of a month.
        Index(
            "ix_usage_records_unbilled",
            "organization_id",
            "period",
            sqlite_where=text("invoice_id IS NULL"),
            postgresql_where=text("invoice_id IS NULL"),
        ),
        # A request key is the organization's own: two organizations may use the same one.
        UniqueConstraint("organization_id", "request_key"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    product: Product = Field(sa_type=String(20))
    lookup_type: LookupType = Field(sa_type=String(20))
    # The billing period (YYYY-MM, billing time zone) the request counted in: its invoice's.
    period: str = Field(max_length=7)
    included: bool  # within the plan's monthly allowance
    cost_micros: int = Field(sa_type=BigInteger)
    request_key: str = Field(max_length=120)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    invoice_id: uuid.UUID | None = Field(default=None, foreign_key="invoices.id")


class UsageDaily(SQLModel, table=True):
    """Daily roll-up of usage, kept up to date by the meter (one UPSERT per request), which
    charts, Explore and invoices read instead of the raw records
    (docs/architecture.md, The hot path)."""

    __tablename__ = "usage_daily"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    day: date = Field(sa_column=Column(Date, primary_key=True))
    product: str = Field(sa_column=Column(String(20), primary_key=True))
    lookup_type: str = Field(sa_column=Column(String(20), primary_key=True))
    requests: int = Field(default=0, sa_type=BigInteger)
    billable_requests: int = Field(default=0, sa_type=BigInteger)
    cost_micros: int = Field(default=0, sa_type=BigInteger)


# --- Invoices ------------------------------------------------------------------------------


class InvoiceStatus(StrEnum):
    PAID = "paid"
    DUE = "due"


class DocumentCounter(SQLModel, table=True):
    """The last number of a gapless series (invoices, credit notes). A number is taken by one
    atomic ``UPDATE … SET last_number = last_number + 1 RETURNING`` inside the document's
    transaction: the row stays locked until it commits, so concurrent runs take turns, and
    a rollback gives the number back."""

    __tablename__ = "document_counters"

    series: str = Field(primary_key=True, max_length=10)
    last_number: int = Field(default=0, sa_type=BigInteger)


class UsageCarry(SQLModel, table=True):
    """The signed rounding remainder (µ$) of an organization's last usage line of a lookup
    type, carried into the next invoice's line of that type: usage is billed to the
    micro-dollar over time, never over or under by the rounding of one line."""

    __tablename__ = "usage_carries"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    lookup_type: str = Field(sa_column=Column(String(20), primary_key=True))
    remainder_micros: int = Field(default=0, sa_type=BigInteger)


class Invoice(SQLModel, table=True):
    """A month's invoice; the seller's and buyer's details are copied in when it is issued."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "period"),
        # Billing › Invoices: each sort, and the Status filter, from an index.
        Index("ix_invoices_org_issued", "organization_id", "issued_at", "id"),
        Index("ix_invoices_org_updated", "organization_id", "updated_at", "id"),
        Index("ix_invoices_org_total", "organization_id", "total_cents", "id"),
        Index("ix_invoices_org_number", "organization_id", "number", "id"),
        Index("ix_invoices_org_status", "organization_id", "status", "issued_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    number: int = Field(unique=True)
    period: str = Field(max_length=7)  # YYYY-MM
    status: InvoiceStatus = Field(sa_type=String(10))
    subtotal_cents: int = Field(sa_type=BigInteger)
    tax_cents: int = Field(sa_type=BigInteger)
    total_cents: int = Field(sa_type=BigInteger)
    issued_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    seller_details: str = Field(max_length=1000)
    buyer_details: str = Field(max_length=1000)
    ledger_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")
    # When payments and credits covered a due invoice (or when it was issued, if paid then).
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_lines"

    id: uuid.UUID = uuid_pk()
    invoice_id: uuid.UUID = Field(foreign_key="invoices.id", index=True)
    position: int
    description: str = Field(max_length=200)
    quantity: int = Field(sa_type=BigInteger)
    unit_micros: int = Field(sa_type=BigInteger)
    amount_cents: int = Field(sa_type=BigInteger)
    # A usage line's lookup type, and the rounding remainder carried into it from the line
    # of that type before (µ$, signed): amount = quantity × unit + carried, rounded half-up.
    lookup_type: str | None = Field(default=None, max_length=20)
    carried_micros: int = Field(default=0, sa_type=BigInteger)


class InvoiceTax(SQLModel, table=True):
    __tablename__ = "invoice_taxes"

    id: uuid.UUID = uuid_pk()
    invoice_id: uuid.UUID = Field(foreign_key="invoices.id", index=True)
    tax: str = Field(max_length=10)
    rate_millipercent: int
    amount_cents: int = Field(sa_type=BigInteger)


# --- Credit notes ------------------------------------------------------------------------------


class CreditNote(SQLModel, table=True):
    """A credit of something invoiced with tax (unused months of a yearly term given back, a
    credit staff grant against an invoice): its lines, and the original invoice's taxes at
    the original rates, numbered in its own gapless series (CN-1, CN-2…) and credited to the
    balance once (``idempotency_key``)."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        # Billing › Invoices' credit notes: each sort, and the count, from an index.
        Index("ix_credit_notes_org_issued", "organization_id", "issued_at", "id"),
        Index("ix_credit_notes_org_total", "organization_id", "total_cents", "id"),
        Index("ix_credit_notes_org_number", "organization_id", "number", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    number: int = Field(unique=True)
    invoice_id: uuid.UUID = Field(foreign_key="invoices.id", index=True)
    reason: str = Field(max_length=300)
    subtotal_cents: int = Field(sa_type=BigInteger)
    tax_cents: int = Field(sa_type=BigInteger)
    total_cents: int = Field(sa_type=BigInteger)
    issued_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    seller_details: str = Field(max_length=1000)
    buyer_details: str = Field(max_length=1000)
    idempotency_key: str = Field(max_length=120, unique=True)
    ledger_entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")

    @property
    def label(self) -> str:
        return f"CN-{self.number}"


class CreditNoteLine(SQLModel, table=True):
    __tablename__ = "credit_note_lines"

    id: uuid.UUID = uuid_pk()
    credit_note_id: uuid.UUID = Field(foreign_key="credit_notes.id", index=True)
    position: int
    description: str = Field(max_length=200)
    quantity: int = Field(sa_type=BigInteger)
    unit_micros: int = Field(sa_type=BigInteger)
    amount_cents: int = Field(sa_type=BigInteger)


class CreditNoteTax(SQLModel, table=True):
    __tablename__ = "credit_note_taxes"

    id: uuid.UUID = uuid_pk()
    credit_note_id: uuid.UUID = Field(foreign_key="credit_notes.id", index=True)
    tax: str = Field(max_length=10)
    rate_millipercent: int
    amount_cents: int = Field(sa_type=BigInteger)
