"""What SIPSTACK staff read of billing: organizations with their plan and money, one
organization's billing summary and ledger, and the reference data they edit (plans, tax
rates, platform settings).

Each read checks the staff capability first, as ``queries.staff`` does. Money stays in
integers here (cents, and micro-dollars for prices per request); pages format it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import Organization, User
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    CreditNote,
    Invoice,
    LedgerEntry,
    Plan,
    PlatformSetting,
    Subscription,
    TaxRate,
)
from portal_core.models.payments import ClosingRefund, ClosingRefundStatus, Payment
from portal_core.money import MICROS_PER_CENT, format_cents
from portal_core.permissions import Actor, Capability, require
from portal_core.queries import pricing
from portal_core.queries.billing import ENTRY_KINDS, Funds, funds_in
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
)
from portal_core.queries.staff import ORGANIZATION_CREATED, ORGANIZATION_SEARCH
from portal_core.rules import plans as plan_terms
from portal_core.rules.payments import REFUNDABLE_STATUSES, refund_share, refundable_cents

CYCLES: dict[str, str] = {
    BillingCycle.MONTHLY.value: "Monthly",
    BillingCycle.YEARLY.value: "Yearly",
}
LIMIT_SOURCES: dict[str, str] = {"staff": "Set by staff", "plan": "Plan's"}

CLOSINGS: dict[str, str] = {
    "closed": "Closed",
    ClosingRefundStatus.PENDING.value: "Closed, refund pending",
    ClosingRefundStatus.STAFF.value: "Closed, refund by staff",
    ClosingRefundStatus.REFUNDED.value: "Closed, refunded",
}
# An open organization has none; a closed one, where the refund of its balance stands (an
# organization closed with nothing left to refund has no refund task: plain "Closed").
_CLOSING = case(
    (col(Organization.closed_at).is_(None), None),
    (col(ClosingRefund.status).is_(None), "closed"),
    else_=col(ClosingRefund.status),
)

_LIMIT_SOURCE = case(
    (col(Subscription.credit_limit_override_cents).is_(None), "plan"), else_="staff"
)


def billing_accounts(actor: Actor) -> Listing:
    """Every organization with its plan, balance and credit limit; newest first."""
    require(actor, Capability.STAFF)
    # Balances and limits move in whole cents (the ledger's and the limit's unit), so the
    # integer division is exact.
    balance = col(BillingAccount.balance_micros) // MICROS_PER_CENT
    return Listing(
        noun="billing accounts",
        select=select(col(Organization.id))
        .select_from(Organization)
        .join(Subscription, col(Subscription.organization_id) == col(Organization.id))
        .join(Plan, col(Plan.code) == col(Subscription.plan_code))
        .join(BillingAccount, col(BillingAccount.organization_id) == col(Organization.id))
        .outerjoin(ClosingRefund, col(ClosingRefund.organization_id) == col(Organization.id)),
        key=col(Organization.id),
        columns=(
            Column("name", "Organization", col(Organization.name)),
            Column("plan", "Plan", col(Plan.name)),
            Column("cycle", "Billing", col(Subscription.cycle), ColumnKind.STATUS, labels=CYCLES),
            Column(
                "balance_cents",
                "Balance",
                balance,
                ColumnKind.MONEY_CENTS,
                help="The sum of the organization's ledger; negative is a balance owing.",
            ),
            Column(
                "credit_limit_cents",
                "Credit limit",
                col(BillingAccount.credit_limit_micros) // MICROS_PER_CENT,
                ColumnKind.MONEY_CENTS,
            ),
            Column(
                "limit_source",
                "Limit",
                _LIMIT_SOURCE,
                ColumnKind.STATUS,
                labels=LIMIT_SOURCES,
                help="Whether staff set this organization's credit limit, or it is its plan's.",
            ),
            Column(
                "closing",
                "Closed",
                _CLOSING,
                ColumnKind.STATUS,
                labels=CLOSINGS,
                help="Closed by its owner; whether its balance went back to its cards, is still "
                "being refunded (tried again every few minutes), or was handed to staff.",
            ),
            Column("created_at", "Created", col(Organization.created_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(Organization.created_at)),
            Sort("name", "Organization", col(Organization.name)),
            Sort("plan", "Plan", col(Plan.position)),
            Sort("balance", "Balance", col(BillingAccount.balance_micros)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            ORGANIZATION_SEARCH,
            ChoiceFilter(
                "account",
                "Account",
                (
                    Choice("owing", "Balance owing", col(BillingAccount.balance_micros) < 0),
                    Choice("contract", "Carrier contract", col(Plan.by_contract).is_(True)),
                    Choice(
                        "limit_set",
                        "Credit limit set by staff",
                        col(Subscription.credit_limit_override_cents).is_not(None),
                    ),
                    Choice(
                        "refund_pending",
                        "Closed, refund pending",
                        col(ClosingRefund.status) == ClosingRefundStatus.PENDING.value,
                    ),
                    Choice(
                        "refund_by_staff",
                        "Closed, refund by staff",
                        col(ClosingRefund.status) == ClosingRefundStatus.STAFF.value,
                    ),
                ),
            ),
            ORGANIZATION_CREATED,
        ),
        empty_message="There are no organizations yet.",
    )


@dataclass(frozen=True)
class ContractTerms:
    """A Carrier contract's figures as stored (None: not set)."""

    monthly_cents: int | None
    included_requests: int | None
    additional_request_micros: int | None
    lookups_per_second: int | None


@dataclass(frozen=True)
class ClosingState:
    """A closed organization, and where the refund of its balance to its cards stands
    (``refund_status`` is None when nothing was left to refund at its closing)."""

    closed_at: datetime
    refund_status: ClosingRefundStatus | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    left_cents: int = 0  # handed to staff


@dataclass(frozen=True)
class BillingSummary:
    """An organization's billing as staff see it. ``included_requests`` and
    ``additional_request_micros`` are what the meter applies (the contract's, else the
    plan's); ``period_requests`` counts the current month's requests so far."""

    organization_id: uuid.UUID
    organization_name: str
    plan_code: str
    plan_name: str
    by_contract: bool
    cycle: BillingCycle
    term_started_at: datetime
    next_plan_name: str | None
    next_cycle: BillingCycle | None
    contract: ContractTerms | None
    included_requests: int
    additional_request_micros: int | None
    period: str
    period_requests: int
    funds: Funds
    credit_limit_overridden: bool
    plan_credit_limit_cents: int
    closing: ClosingState | None = None

    @property
    def available_cents(self) -> int:
        return self.funds.available_cents


def billing_summary(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    *,
    time_zone: tzinfo,
    now: datetime | None = None,
) -> BillingSummary:
    """One organization's plan, contract, credit limit and funds. ``time_zone`` is the
    billing time zone, whose month is the current period."""
    require(actor, Capability.STAFF)
    found = session.exec(
        select(Organization, Subscription, Plan, BillingAccount)
        .join(Subscription, col(Subscription.organization_id) == col(Organization.id))
        .join(Plan, col(Plan.code) == col(Subscription.plan_code))
        .join(BillingAccount, col(BillingAccount.organization_id) == col(Organization.id))
        .where(col(Organization.id) == organization_id)
    ).first()
    if found is None:
        raise NotFound("That organization was not found.")
    organization, subscription, plan, account = found
    next_plan = (
        session.get(Plan, subscription.next_plan_code) if subscription.next_plan_code else None
    )
    local = (now or utcnow()).astimezone(time_zone)
    period = f"{local.year:04d}-{local.month:02d}"
    contract = None
    if plan_terms.on_contract(subscription, plan):
        contract = ContractTerms(
            monthly_cents=subscription.contract_monthly_cents,
            included_requests=subscription.contract_included_requests,
            additional_request_micros=subscription.contract_additional_request_micros,
            lookups_per_second=subscription.contract_lookups_per_second,
        )
    return BillingSummary(
        organization_id=organization.id,
        organization_name=organization.name,
        plan_code=plan.code,
        plan_name=plan.name,
        by_contract=plan.by_contract,
        cycle=BillingCycle(subscription.cycle),
        term_started_at=subscription.term_started_at,
        next_plan_name=next_plan.name if next_plan else None,
        next_cycle=BillingCycle(subscription.next_cycle) if subscription.next_cycle else None,
        contract=contract,
        included_requests=plan_terms.included_requests(subscription, plan),
        additional_request_micros=plan_terms.additional_request_micros(subscription, plan),
        period=period,
        period_requests=account.period_requests if account.period == period else 0,
        funds=funds_in(account),
        credit_limit_overridden=subscription.credit_limit_override_cents is not None,
        plan_credit_limit_cents=plan.credit_limit_cents or 0,
        closing=_closing_state(session, organization),
    )


def _closing_state(session: Session, organization: Organization) -> ClosingState | None:
    if organization.closed_at is None:
        return None
    task = session.get(ClosingRefund, organization.id)
    if task is None:
        return ClosingState(organization.closed_at)
    return ClosingState(
        organization.closed_at,
        refund_status=ClosingRefundStatus(task.status),
        attempts=task.attempts,
        next_attempt_at=task.next_attempt_at,
        last_error=task.last_error,
        left_cents=task.left_cents,
    )


def ledger_entries(actor: Actor, organization_id: uuid.UUID) -> Listing:
    """One organization's ledger, newest first, with who posted each staff entry."""
    require(actor, Capability.STAFF)
    kind = col(LedgerEntry.kind)
    # A column's subquery, not a join: counting the entries then reads an index alone.
    poster = (
        select(col(User.email))
        .where(col(User.id) == col(LedgerEntry.created_by))
        .correlate(LedgerEntry)
        .scalar_subquery()
    )
    return Listing(
        noun="transactions",
        select=select(col(LedgerEntry.id))
        .select_from(LedgerEntry)
        .where(col(LedgerEntry.organization_id) == organization_id),
        key=col(LedgerEntry.id),
        columns=(
            Column("created_at", "Date", col(LedgerEntry.created_at), ColumnKind.DATETIME),
            Column("kind", "Type", kind, ColumnKind.STATUS, labels=ENTRY_KINDS),
            Column("memo", "Description", col(LedgerEntry.memo)),
            Column("amount_cents", "Amount", col(LedgerEntry.amount_cents), ColumnKind.MONEY_CENTS),
            Column(
                "balance_after_cents",
                "New balance",
                col(LedgerEntry.balance_after_cents),
                ColumnKind.MONEY_CENTS,
            ),
            Column("posted_by", "By", poster, help="Who posted it, for staff entries."),
        ),
        sorts=(
            created_sort(col(LedgerEntry.created_at)),
            Sort("type", "Type", kind, then=(col(LedgerEntry.created_at),)),
            Sort("amount", "Amount", col(LedgerEntry.amount_cents)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            ChoiceFilter("type", "Type", equal_choices(kind, ENTRY_KINDS)),
            TextFilter("search", "Description", (col(LedgerEntry.memo),)),
            DateRangeFilter("created", "Date", col(LedgerEntry.created_at)),
        ),
        empty_message="No transactions yet.",
    )


@dataclass(frozen=True)
class RefundablePayment:
    """A card payment of the organization that staff may refund, and how much is left."""

    id: uuid.UUID
    reference: str
    card_label: str
    created_at: datetime
    amount_cents: int
    total_cents: int
    refunded_cents: int
    refundable_cents: int

    def share_of(self, refund_cents: int) -> int:
        """What refunding ``refund_cents`` of it takes from the balance."""
        return refund_share(self.amount_cents, self.total_cents, self.refunded_cents, refund_cents)

    def label(self, time_zone: tzinfo) -> str:
        refunded = f", {format_cents(self.refunded_cents)} refunded" if self.refunded_cents else ""
        return (
            f"{self.reference} · {self.created_at.astimezone(time_zone):%Y-%m-%d} · "
            f"{self.card_label} · {format_cents(self.total_cents)} charged{refunded}"
        )


def refundable_payments(
    session: Session, actor: Actor, organization_id: uuid.UUID, *, limit: int = 50
) -> list[RefundablePayment]:
    """The organization's newest payments with something left to refund (the 50 newest;
    older ones are found by their reference in Billing › Payments)."""
    require(actor, Capability.STAFF)
    rows = session.exec(
        select(Payment)
        .where(
            Payment.organization_id == organization_id,
            col(Payment.status).in_([status.value for status in REFUNDABLE_STATUSES]),
            col(Payment.refunded_cents) < col(Payment.total_cents),
        )
        .order_by(col(Payment.created_at).desc(), col(Payment.id).desc())
        .limit(limit)
    ).all()
    return [
        RefundablePayment(
            id=row.id,
            reference=row.reference,
            card_label=row.card_label,
            created_at=row.created_at,
            amount_cents=row.amount_cents,
            total_cents=row.total_cents,
            refunded_cents=row.refunded_cents,
            refundable_cents=refundable_cents(row),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class CreditableInvoice:
    """An invoice of the organization with something left to credit (before tax)."""

    id: uuid.UUID
    number: int
    period: str
    subtotal_cents: int
    creditable_cents: int

    @property
    def label(self) -> str:
        return (
            f"Invoice {self.number} · {self.period} · {format_cents(self.subtotal_cents)} "
            f"before tax, {format_cents(self.creditable_cents)} left to credit"
        )


def creditable_invoices(
    session: Session, actor: Actor, organization_id: uuid.UUID, *, limit: int = 24
) -> list[CreditableInvoice]:
    """The organization's newest invoices (two years of them) with something left to
    credit: their subtotal less their credit notes'."""
    require(actor, Capability.STAFF)
    credited = (
        select(func.coalesce(func.sum(CreditNote.subtotal_cents), 0))
        .where(col(CreditNote.invoice_id) == col(Invoice.id))
        .scalar_subquery()
    )
    rows = session.execute(
        sa_select(
            col(Invoice.id),
            col(Invoice.number),
            col(Invoice.period),
            col(Invoice.subtotal_cents),
            credited,
        )
        .where(col(Invoice.organization_id) == organization_id)
        .order_by(col(Invoice.number).desc())
        .limit(limit)
    ).all()
    return [
        CreditableInvoice(invoice_id, number, period, subtotal, subtotal - int(done))
        for invoice_id, number, period, subtotal, done in rows
        if subtotal - int(done) > 0
    ]


@dataclass(frozen=True)
class PlanRow(pricing.PlanRow):
    """A plan as the pricing table has it, with how many organizations are on it and how many
    of those follow its credit limit (no limit of their own)."""

    organizations: int = 0
    following_plan_limit: int = 0


def plans(session: Session, actor: Actor) -> list[PlanRow]:
    """Every plan in the order partners see them."""
    require(actor, Capability.STAFF)
    counts = {
        code: (int(total), int(following or 0))
        for code, total, following in session.exec(
            select(
                Subscription.plan_code,
                func.count(),
                func.sum(
                    case((col(Subscription.credit_limit_override_cents).is_(None), 1), else_=0)
                ),
            ).group_by(col(Subscription.plan_code))
        ).all()
    }
    return [
        PlanRow(
            **{field.name: getattr(row, field.name) for field in fields(row)},
            organizations=counts.get(row.code, (0, 0))[0],
            following_plan_limit=counts.get(row.code, (0, 0))[1],
        )
        for row in pricing.plans(session)
    ]


@dataclass(frozen=True)
class TaxRateRow:
    id: uuid.UUID
    country: str
    province: str
    tax: str
    rate_millipercent: int
    updated_at: datetime


def tax_rates(session: Session, actor: Actor) -> list[TaxRateRow]:
    """Every sales tax, by province then tax."""
    require(actor, Capability.STAFF)
    return [
        TaxRateRow(
            id=rate.id,
            country=rate.country,
            province=rate.province,
            tax=rate.tax,
            rate_millipercent=rate.rate_millipercent,
            updated_at=rate.updated_at,
        )
        for rate in session.exec(
            select(TaxRate).order_by(col(TaxRate.country), col(TaxRate.province), col(TaxRate.tax))
        ).all()
    ]


@dataclass(frozen=True)
class SettingRow:
    """A platform setting. ``stored`` is False when its row is missing (a database seeded
    before the setting existed): its shipped default applies until staff save a value."""

    key: str
    value: str
    description: str
    updated_at: datetime | None
    updated_by: str | None
    stored: bool = True


def platform_settings(session: Session, actor: Actor, *, keys: Sequence[str]) -> list[SettingRow]:
    """The settings named by ``keys`` (the editable ones), in that order, with who changed
    each last."""
    require(actor, Capability.STAFF)
    editor = aliased(User)
    found = {
        setting.key: (setting, email)
        for setting, email in session.exec(
            select(PlatformSetting, editor.email)
            .outerjoin(editor, col(editor.id) == col(PlatformSetting.updated_by))
            .where(col(PlatformSetting.key).in_(keys))
        ).all()
    }
    rows = []
    for key in keys:
        if key not in found:
            rows.append(SettingRow(key, "", "", None, None, stored=False))
            continue
        setting, email = found[key]
        rows.append(
            SettingRow(
                key=key,
                value=setting.value,
                description=setting.description,
                updated_at=setting.updated_at,
                updated_by=email,
            )
        )
    return rows
