"""The ledger and each organization's cached account figures (DESIGN.md, rule 5).

The ledger is append-only and single-entry: one row per money event of one organization, in
integer cents; corrections are reversing entries, never edits. ``billing_accounts`` caches
the balance (the ledger's sum), the unbilled usage and the credit limit, all in micro-dollars
so the meter's guard is one comparison; it changes in the same transaction as the entry.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Date, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlmodel import Field, SQLModel

from portal_core.models.base import UTCDateTime, created_at_field, updated_at_field, uuid_pk


class EntryKind(StrEnum):
    PAYMENT = "payment"
    CREDIT = "credit"
    INVOICE = "invoice"
    ADJUSTMENT = "adjustment"
    REFUND = "refund"


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
    """A Smart CNAM plan (SPEC.md, Figures; seeded from ``data/plans.csv``, edited by staff).

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


class PlatformSetting(SQLModel, table=True):
    """A setting staff edit (fee rate, seller's details, billing time zone): a row, not code."""

    __tablename__ = "platform_settings"

    key: str = Field(primary_key=True, max_length=60)
    value: str = Field(max_length=500)
    description: str = Field(default="", max_length=300)
    updated_at: datetime = created_at_field()
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


# --- Subscriptions and metered usage -------------------------------------------------------


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
    contract_monthly_cents: int | None = Field(default=None, sa_type=BigInteger)
    contract_included_requests: int | None = Field(default=None, sa_type=BigInteger)
    contract_additional_request_micros: int | None = Field(default=None, sa_type=BigInteger)
    contract_lookups_per_second: int | None = None
    # A credit limit staff set for this organization; empty means the plan's (SPEC.md: twice
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
    """Smart CNAM's lookup types (SPEC.md); usage and invoices break down by them."""

    SOURCE_RISK = "source_risk"
    CALLER_ID = "caller_id"
    REGIONAL = "regional"
    TELCO_CARRIER = "telco_carrier"
    ONLINE_PROFILES = "online_profiles"


class UsageRecord(SQLModel, table=True):
    """One billable request, priced when it was made."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_org_created", "organization_id", "created_at"),
        Index("ix_usage_records_org_period", "organization_id", "period"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    product: Product = Field(sa_type=String(20))
    lookup_type: LookupType = Field(sa_type=String(20))
    # The billing period (YYYY-MM, billing time zone) the request counted in: its invoice's.
    period: str = Field(max_length=7)
    included: bool  # within the plan's monthly allowance
    cost_micros: int = Field(sa_type=BigInteger)
    request_key: str = Field(max_length=120, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class UsageDaily(SQLModel, table=True):
    """Daily roll-up of usage, kept up to date by the meter (one UPSERT per request), which
    charts, Explore and invoices read instead of the raw records (DESIGN.md, hot path)."""

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


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_lines"

    id: uuid.UUID = uuid_pk()
    invoice_id: uuid.UUID = Field(foreign_key="invoices.id", index=True)
    position: int
    description: str = Field(max_length=200)
    quantity: int = Field(sa_type=BigInteger)
    unit_micros: int = Field(sa_type=BigInteger)
    amount_cents: int = Field(sa_type=BigInteger)


class InvoiceTax(SQLModel, table=True):
    __tablename__ = "invoice_taxes"

    id: uuid.UUID = uuid_pk()
    invoice_id: uuid.UUID = Field(foreign_key="invoices.id", index=True)
    tax: str = Field(max_length=10)
    rate_millipercent: int
    amount_cents: int = Field(sa_type=BigInteger)
