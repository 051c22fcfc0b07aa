"""What SIPSTACK staff do to billing: credits and adjustments, invoice runs, plans, prices,
tax rates and platform settings (docs/product.md, Pages › Staff).

Every function checks the staff capability itself, so a partner calling one directly (or
through an API route) gets "not allowed", and every one writes an audit event. Input comes
as the staff member typed it; each rule broken is reported against its field
(``ValidationFailed``), all of a form's problems at once.

The rules:
- **Credits and adjustments** are ledger entries (docs/architecture.md, rule 5): a credit adds to
  the balance, an adjustment adds or takes away; whole cents, non-zero, at most $100,000 either
  way (a bigger correction is several entries, each with its reason, or a conversation with
  finance). The reason is required; it is the entry's description in the partner's
  Transactions and the audit event's detail. The page's idempotency key makes a double click
  post once.
- A **credit limit** set by staff (``Subscription.credit_limit_override_cents``) replaces
  the plan's and holds across plan changes; clearing it returns to the plan's
  (``subscriptions.credit_limit_cents``). The account's cached limit, which the meter's guard
  reads, changes in the same transaction. At most $1,000,000.
- A **Carrier contract** (a contract plan whose price, allowance and limit staff set per
  organization) puts the organization on the by-contract plan with its
  monthly fee, included requests, price per additional request (in micro-dollars: up to six
  decimals of a dollar), lookups per second and credit limit. The meter and the invoice run
  read the ``contract_*`` figures in place of the plan's. Like an upgrade, a contract that
  starts mid-month bills its fee for that month instead of the old plan's; changing the
  terms of a running contract keeps its term. A yearly plan's prepaid months are not
  credited when a contract replaces it: post a credit if the agreement says so. Ending a
  contract moves the organization to a plan at once (monthly), with that plan's credit limit.
- A **plan**'s prices, allowance and default credit limit; a new default limit applies at
  once to the plan's organizations without a limit of their own. A by-contract plan has only
  its default allowance here: its prices are each contract's.
- A **tax rate** is a percentage from 0 to 100 with at most three decimals (9.975 %).
- The **invoice run** and the **balance check** (``services.invoices``, ``services.ledger``)
  with the staff member recorded as the one who asked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    CreditNote,
    EntryKind,
    LedgerEntry,
    Plan,
    Subscription,
    TaxRate,
)
from portal_core.money import (
    MICROS_PER_DOLLAR,
    cents_to_micros,
    format_cents,
    format_percent,
    format_unit_price,
    parse_dollars,
    parse_percent,
    parse_unit_price,
)
from portal_core.permissions import Actor, Capability, require
from portal_core.services import (
    audit,
    credit_notes,
    in_force,
    invoices,
    ledger,
    platform,
    subscriptions,
)
from portal_core.services.invoices import Period, Progress, RunSummary
from portal_core.services.ledger import AccountFigure
from portal_core.services.subscriptions import cache_credit_limit, credit_limit_cents, on_contract
from portal_core.services.validation import amount_up_to, text_problem

CARRIER_PLAN = "carrier"  # the by-contract plan (data/plans.csv)
POSTING_KINDS: tuple[EntryKind, ...] = (EntryKind.CREDIT, EntryKind.ADJUSTMENT)

MAX_POSTING_CENTS = 10_000_000  # $100,000 either way
MAX_CREDIT_LIMIT_CENTS = 100_000_000  # $1,000,000
MAX_MONTHLY_FEE_CENTS = 100_000_000  # $1,000,000 a month
MAX_UNIT_PRICE_MICROS = MICROS_PER_DOLLAR  # $1.00 a request
MAX_INCLUDED_REQUESTS = 100_000_000_000  # a hundred billion a month
MAX_LOOKUPS_PER_SECOND = 100_000
MAX_RATE_MILLIPERCENT = 100_000  # 100 %
MAX_REASON = 300  # the ledger memo's width, and the audit detail keeps it whole
MAX_IDEMPOTENCY_KEY = 100  # leaves room for the prefix within the ledger key's 120
INVOICE_PERIODS_OFFERED = 24

_COUNT = re.compile(r"[0-9]{1,15}")


# --- Credits and adjustments ----------------------------------------------------------------


def posting_amount_cents(kind: EntryKind, amount: str) -> int:
    """The cents of a credit or adjustment as typed, or ``ValidationFailed`` saying why not."""
    if kind not in POSTING_KINDS:
        raise ValidationFailed({"kind": "Staff post credits and adjustments only."})
    try:
        cents = parse_dollars(amount)
    except ValueError as error:
        raise ValidationFailed({"amount": str(error)}) from None
    if cents == 0:
        raise ValidationFailed({"amount": "Enter an amount other than zero."})
    if abs(cents) > MAX_POSTING_CENTS:
        raise ValidationFailed(
            {"amount": f"At most {format_cents(MAX_POSTING_CENTS)} in one entry."}
        )
    if kind is EntryKind.CREDIT and cents < 0:
        raise ValidationFailed(
            {
                "amount": "A credit adds to the balance: enter a positive amount, or post an "
                "adjustment to take money away."
            }
        )
    return cents


def post_credit(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    *,
    kind: EntryKind,
    amount: str,
    reason: str,
    idempotency_key: str,
) -> LedgerEntry:
    """Post a credit or adjustment to an organization's ledger, once per ``idempotency_key``.

    The same key again returns the first entry and records nothing more; with a different
    organization, kind or amount it is refused (``Conflict``).
    """
    require(actor, Capability.STAFF)
    errors: dict[str, str] = {}
    cents = 0
    try:
        cents = posting_amount_cents(kind, amount)
    except ValidationFailed as error:
        errors.update(error.errors)
    if problem := _reason_problem(reason):
        errors["reason"] = problem
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        errors["idempotency_key"] = "An idempotency key of 1–100 characters."
    if errors:
        raise ValidationFailed(errors)
    organization = _organization(session, organization_id)
    # Lock the account row first: a second posting of the same key (another tab, a retry)
    # waits here until this one commits, then finds its entry and posts (and audits) nothing.
    _lock_account(session, organization_id)
    key = f"staff:{idempotency_key}"
    already = session.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).first()
    entry = ledger.post_entry(
        session,
        organization_id=organization_id,
        kind=kind,
        amount_cents=cents,
        idempotency_key=key,
        memo=reason.strip(),
        created_by=actor.user_id,
    )
    if already is None:
        audit.record(
            session,
            f"billing.{kind.value}_posted",
            actor=actor,
            organization_id=organization_id,
            subject=organization.name,
            detail=f"{format_cents(cents)}; new balance "
            f"{format_cents(entry.balance_after_cents)}: {reason.strip()}",
        )
    return entry


# --- Credit limits --------------------------------------------------------------------------


def credit_note_amount_cents(amount: str, left_cents: int) -> int:
    """The cents (before tax) of a credit against an invoice as typed: empty is all it has
    left to credit; otherwise from $0.01 up to ``left_cents``."""
    return amount_up_to(
        amount, left_cents, out_of_bounds="Credit from $0.01 up to {left} before tax."
    )


def credit_invoice(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    invoice_id: uuid.UUID,
    *,
    amount: str,
    reason: str,
    idempotency_key: str,
    now: datetime | None = None,
) -> CreditNote:
    """Credit part (or, with ``amount`` empty, the rest) of one of the organization's
    invoices, before tax: a credit note carrying the invoice's taxes at its rates, credited
    to the balance (``services.credit_notes``)."""
    require(actor, Capability.STAFF)
    if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed({"idempotency_key": "An idempotency key of 1–100 characters."})
    _lock_account(session, organization_id)
    invoice = credit_notes.invoice_of(session, organization_id, invoice_id)
    left = credit_notes.creditable_cents(session, invoice)
    if left == 0:
        raise Conflict(f"Invoice {invoice.number} is already credited in full.")
    errors: dict[str, str] = {}
    cents = left
    try:
        cents = credit_note_amount_cents(amount, left)
    except ValidationFailed as problem:
        errors.update(problem.errors)
    if problem_text := _reason_problem(reason):
        errors["reason"] = problem_text
    if errors:
        raise ValidationFailed(errors)
    note = credit_notes.issue_credit_note(
        session,
        invoice,
        [
            credit_notes.CreditLine(
                f"Credit: {reason.strip()}"[:200], 1, cents_to_micros(cents), cents
            )
        ],
        reason=reason.strip(),
        idempotency_key=f"staff-credit-note:{idempotency_key}",
        created_by=actor.user_id,
        now=now,
    )
    audit.record(
        session,
        "billing.credit_note_issued",
        actor=actor,
        organization_id=organization_id,
        subject=note.label,
        detail=f"{format_cents(note.total_cents)} against invoice {invoice.number}: "
        f"{reason.strip()}",
    )
    return note


def credit_limit_override_cents(limit: str) -> int | None:
    """A credit limit as typed: None when empty (the plan's), else whole cents."""
    if not limit.strip():
        return None
    return _cents(limit, "credit_limit", maximum=MAX_CREDIT_LIMIT_CENTS)


def set_credit_limit(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    *,
    limit: str,
    reason: str,
    now: datetime | None = None,
) -> int:
    """Set the organization's own credit limit (``limit`` empty: back to its plan's);
    returns the limit now in force, in cents."""
    require(actor, Capability.STAFF)
    errors: dict[str, str] = {}
    override: int | None = None
    try:
        override = credit_limit_override_cents(limit)
    except ValidationFailed as error:
        errors.update(error.errors)
    if problem := _reason_problem(reason):
        errors["reason"] = problem
    if errors:
        raise ValidationFailed(errors)
    now = now or utcnow()
    organization = _organization(session, organization_id)
    subscription, plan = _subscription(session, organization_id, now)
    before = credit_limit_cents(subscription, plan)
    was_overridden = subscription.credit_limit_override_cents is not None
    subscription.credit_limit_override_cents = override
    subscription.updated_at = now
    session.add(subscription)
    after = cache_credit_limit(session, subscription, plan)
    audit.record(
        session,
        "billing.credit_limit_set",
        actor=actor,
        organization_id=organization_id,
        subject=organization.name,
        detail=f"{_limit_text(before, was_overridden)} → {_limit_text(after, override is not None)}"
        f": {reason.strip()}",
    )
    return after


# --- Carrier contracts ----------------------------------------------------------------------


@dataclass(frozen=True)
class ContractForm:
    """A Carrier contract's terms as staff typed them (dollars, counts)."""

    monthly_fee: str
    included_requests: str
    additional_request_price: str
    lookups_per_second: str
    credit_limit: str


@dataclass(frozen=True)
class Contract:
    """A Carrier contract's terms, in the integers they are stored in."""

    monthly_cents: int
    included_requests: int
    additional_request_micros: int
    lookups_per_second: int
    credit_limit_cents: int

    def describe(self) -> str:
        return (
            f"{format_cents(self.monthly_cents)} a month, {self.included_requests:,} requests "
            f"included, then {format_unit_price(self.additional_request_micros)} each, "
            f"{self.lookups_per_second:,} lookups a second, credit limit "
            f"{format_cents(self.credit_limit_cents)}"
        )


def parse_contract(form: ContractForm) -> Contract:
    """The contract's figures, or ``ValidationFailed`` with every field's problem."""
    errors: dict[str, str] = {}
    monthly = _collect(
        errors, lambda: _cents(form.monthly_fee, "monthly_fee", MAX_MONTHLY_FEE_CENTS)
    )
    included = _collect(
        errors,
        lambda: _count(form.included_requests, "included_requests", MAX_INCLUDED_REQUESTS),
    )
    price = _collect(
        errors, lambda: _unit_price(form.additional_request_price, "additional_request_price")
    )
    rate = _collect(
        errors,
        lambda: _count(
            form.lookups_per_second, "lookups_per_second", MAX_LOOKUPS_PER_SECOND, minimum=1
        ),
    )
    limit = _collect(
        errors, lambda: _cents(form.credit_limit, "credit_limit", MAX_CREDIT_LIMIT_CENTS)
    )
    if errors:
        raise ValidationFailed(errors)
    return Contract(
        monthly_cents=monthly,
        included_requests=included,
        additional_request_micros=price,
        lookups_per_second=rate,
        credit_limit_cents=limit,
    )


def set_carrier_contract(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    form: ContractForm,
    *,
    reason: str,
    now: datetime | None = None,
) -> Contract:
    """Put the organization on a Carrier contract, or change its running contract's terms."""
    require(actor, Capability.STAFF)
    errors: dict[str, str] = {}
    contract: Contract | None = None
    try:
        contract = parse_contract(form)
    except ValidationFailed as error:
        errors.update(error.errors)
    if problem := _reason_problem(reason):
        errors["reason"] = problem
    if errors or contract is None:
        raise ValidationFailed(errors)
    now = now or utcnow()
    organization = _organization(session, organization_id)
    subscription, current = _subscription(session, organization_id, now)
    carrier = session.get(Plan, CARRIER_PLAN)
    if carrier is None or not carrier.by_contract:
        raise NotFound("The Carrier plan is missing: run the migrations.")
    before = (
        f"{current.name} contract: {_contract_of(subscription).describe()}"
        if on_contract(subscription, current)
        else f"{current.name} plan ({BillingCycle(subscription.cycle).value})"
    )
    if subscription.plan_code != carrier.code:
        # A new contract starts a term now, and bills its fee for this month (as an upgrade).
        subscription.plan_code = carrier.code
        subscription.term_started_at = now
    subscription.cycle = BillingCycle.MONTHLY
    subscription.next_plan_code = None
    subscription.next_cycle = None
    subscription.contract_monthly_cents = contract.monthly_cents
    subscription.contract_included_requests = contract.included_requests
    subscription.contract_additional_request_micros = contract.additional_request_micros
    subscription.contract_lookups_per_second = contract.lookups_per_second
    subscription.credit_limit_override_cents = contract.credit_limit_cents
    subscription.updated_at = now
    session.add(subscription)
    in_force.record_terms(session, subscription, at=now)
    cache_credit_limit(session, subscription, carrier)
    audit.record(
        session,
        "billing.contract_set",
        actor=actor,
        organization_id=organization_id,
        subject=organization.name,
        detail=f"{before} → {carrier.name} contract: {contract.describe()}: {reason.strip()}",
    )
    return contract


def end_carrier_contract(
    session: Session,
    actor: Actor,
    organization_id: uuid.UUID,
    *,
    plan_code: str,
    reason: str,
    now: datetime | None = None,
) -> Plan:
    """End the organization's Carrier contract: it moves to ``plan_code`` (monthly) at once,
    with that plan's credit limit; returns the plan."""
    require(actor, Capability.STAFF)
    if problem := _reason_problem(reason):
        raise ValidationFailed({"reason": problem})
    now = now or utcnow()
    organization = _organization(session, organization_id)
    subscription, current = _subscription(session, organization_id, now)
    if not on_contract(subscription, current):
        raise Conflict(f"{organization.name} has no Carrier contract to end.")
    plan = session.get(Plan, plan_code)
    if plan is None or plan.by_contract:
        raise ValidationFailed({"plan_code": "Choose a plan with published prices."})
    before = _contract_of(subscription).describe()
    subscription.plan_code = plan.code
    subscription.cycle = BillingCycle.MONTHLY
    subscription.term_started_at = now
    subscription.next_plan_code = None
    subscription.next_cycle = None
    subscription.contract_monthly_cents = None
    subscription.contract_included_requests = None
    subscription.contract_additional_request_micros = None
    subscription.contract_lookups_per_second = None
    # The contract's credit limit was one of its terms: it ends with it.
    subscription.credit_limit_override_cents = None
    subscription.updated_at = now
    session.add(subscription)
    in_force.record_terms(session, subscription, at=now)
    limit = cache_credit_limit(session, subscription, plan)
    audit.record(
        session,
        "billing.contract_ended",
        actor=actor,
        organization_id=organization_id,
        subject=organization.name,
        detail=f"{current.name} contract ({before}) → {plan.name} plan, credit limit "
        f"{format_cents(limit)}: {reason.strip()}",
    )
    return plan


# --- Plans and tax rates --------------------------------------------------------------------


@dataclass(frozen=True)
class PlanForm:
    """A plan's figures as staff typed them; empty prices mean "none" (see ``update_plan``)."""

    monthly_price: str
    yearly_monthly_price: str
    included_requests: str
    additional_request_price: str
    credit_limit: str


@dataclass(frozen=True)
class PlanUpdate:
    """What an edit changed (each "figure: before → after"), and how many organizations'
    credit limits followed a new default."""

    changes: list[str]
    organizations_following: int = 0


def update_plan(
    session: Session, actor: Actor, code: str, form: PlanForm, *, now: datetime | None = None
) -> PlanUpdate:
    """Change a plan's figures. For a plan with published prices the monthly and yearly
    (per month) prices and the credit limit are required, and an empty price per additional
    request makes the plan capped (Free). A by-contract plan takes its allowance only. New
    fees hold from ``now``: a month already begun is invoiced at the fee it began with."""
    require(actor, Capability.STAFF)
    plan = session.exec(select(Plan).where(Plan.code == code).with_for_update()).first()
    if plan is None:
        raise NotFound("That plan was not found.")
    errors: dict[str, str] = {}
    included = _collect(
        errors,
        lambda: _count(form.included_requests, "included_requests", MAX_INCLUDED_REQUESTS),
    )
    monthly: int | None = None
    yearly: int | None = None
    price: int | None = None
    limit: int | None = None
    if plan.by_contract:
        for field, text in (
            ("monthly_price", form.monthly_price),
            ("yearly_monthly_price", form.yearly_monthly_price),
            ("additional_request_price", form.additional_request_price),
            ("credit_limit", form.credit_limit),
        ):
            if text.strip():
                errors[field] = (
                    f"{plan.name}'s prices and credit limit are set per organization, by "
                    "contract: leave this empty."
                )
    else:
        monthly = _collect(
            errors, lambda: _cents(form.monthly_price, "monthly_price", MAX_MONTHLY_FEE_CENTS)
        )
        yearly = _collect(
            errors,
            lambda: _cents(
                form.yearly_monthly_price, "yearly_monthly_price", MAX_MONTHLY_FEE_CENTS
            ),
        )
        if form.additional_request_price.strip():
            price = _collect(
                errors,
                lambda: _unit_price(
                    form.additional_request_price, "additional_request_price", minimum=1
                ),
            )
        limit = _collect(
            errors, lambda: _cents(form.credit_limit, "credit_limit", MAX_CREDIT_LIMIT_CENTS)
        )
    if errors:
        raise ValidationFailed(errors)

    figures: list[tuple[str, object, object, Callable[[Any], str]]] = [
        ("monthly price", plan.monthly_cents, monthly, _money),
        ("yearly price per month", plan.yearly_monthly_cents, yearly, _money),
        ("included requests", plan.included_requests, included, "{:,}".format),
        ("price per additional request", plan.additional_request_micros, price, _unit),
        ("credit limit", plan.credit_limit_cents, limit, _money),
    ]
    changes = [
        f"{label}: {shown(before)} → {shown(after)}"
        for label, before, after, shown in figures
        if before != after
    ]
    if not changes:
        return PlanUpdate([])
    limit_changed = plan.credit_limit_cents != limit
    plan.monthly_cents = monthly
    plan.yearly_monthly_cents = yearly
    plan.included_requests = included
    plan.additional_request_micros = price
    plan.credit_limit_cents = limit
    session.add(plan)
    session.flush()
    # New fees hold from now: a month already begun is invoiced at the fee it began with.
    in_force.record_plan_price(session, plan, at=now or utcnow())
    following = 0
    if limit_changed:
        following = _follow_plan_credit_limit(session, plan)
    audit.record(
        session,
        "billing.plan_updated",
        actor=actor,
        subject=plan.name,
        detail="; ".join(changes)
        + (f"; {following:,} organizations follow the new credit limit" if limit_changed else ""),
    )
    return PlanUpdate(changes, following)


def tax_rate_millipercent(rate: str) -> int:
    """A rate typed as a percentage ("13", "9.975 %") in thousandths of a percent."""
    try:
        millipercent = parse_percent(rate)
    except ValueError as error:
        raise ValidationFailed({"rate": str(error)}) from None
    if millipercent > MAX_RATE_MILLIPERCENT:
        raise ValidationFailed({"rate": "A tax rate is between 0 and 100 %."})
    return millipercent


def update_tax_rate(
    session: Session,
    actor: Actor,
    tax_rate_id: uuid.UUID,
    *,
    rate: str,
    now: datetime | None = None,
) -> TaxRate:
    """Change one province's tax rate from now on: invoices of periods that end after now
    apply it; a period that ended before keeps the rate it ended with."""
    require(actor, Capability.STAFF)
    millipercent = tax_rate_millipercent(rate)
    tax_rate = session.get(TaxRate, tax_rate_id)
    if tax_rate is None:
        raise NotFound("That tax rate was not found.")
    before = tax_rate.rate_millipercent
    if before == millipercent:
        return tax_rate
    tax_rate.rate_millipercent = millipercent
    tax_rate.updated_at = now or utcnow()
    session.add(tax_rate)
    # The new rate holds from now: invoices of periods that ended before keep the old one.
    in_force.record_tax_rate(session, tax_rate, at=tax_rate.updated_at)
    audit.record(
        session,
        "billing.tax_rate_updated",
        actor=actor,
        subject=f"{tax_rate.country}-{tax_rate.province} {tax_rate.tax}",
        detail=f"{format_percent(before)} → {format_percent(millipercent)}",
    )
    session.flush()
    return tax_rate


# --- Invoice runs and the balance check -----------------------------------------------------


def invoice_periods(session: Session, actor: Actor, *, now: datetime | None = None) -> list[Period]:
    """The months an invoice run may be asked for, newest first: last month (the default,
    the scheduler's) and the 23 before it, in the billing time zone."""
    require(actor, Capability.STAFF)
    time_zone = platform.billing_time_zone(session)
    period = invoices.last_month(time_zone, now or utcnow())
    periods = [period]
    for _ in range(INVOICE_PERIODS_OFFERED - 1):
        period = _month_before(period, time_zone)
        periods.append(period)
    return periods


def run_invoices(
    engine: Engine,
    actor: Actor,
    *,
    period: str,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RunSummary:
    """Invoice ``period`` for every organization, as the 1st's scheduled run does; the run's
    audit event names the staff member who asked. Running it again creates nothing twice."""
    require(actor, Capability.STAFF)
    return invoices.run_invoices(engine, period=period, now=now, actor=actor, progress=progress)


@dataclass(frozen=True)
class Mismatch:
    """A cached account figure that differs from what it is recomputed from."""

    organization_id: uuid.UUID
    organization_name: str
    figure: AccountFigure
    cached_micros: int
    recomputed_micros: int

    @property
    def difference_micros(self) -> int:
        return self.cached_micros - self.recomputed_micros


def check_balances(session: Session, actor: Actor) -> list[Mismatch]:
    """Recompute every organization's cached balance (from the ledger) and unbilled usage
    (from the usage records not invoiced yet); each difference, by organization name."""
    require(actor, Capability.STAFF)
    found = ledger.balance_mismatches(session)
    ids = {item.organization_id for item in found}
    names = (
        dict(
            session.exec(
                select(Organization.id, Organization.name).where(col(Organization.id).in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    mismatches = sorted(
        (
            Mismatch(
                organization_id=item.organization_id,
                organization_name=names.get(item.organization_id, str(item.organization_id)),
                figure=item.figure,
                cached_micros=item.cached_micros,
                recomputed_micros=item.ledger_micros,
            )
            for item in found
        ),
        key=lambda item: (item.organization_name.lower(), item.figure.value),
    )
    audit.record(
        session,
        "billing.balance_check",
        actor=actor,
        detail=f"{len(mismatches)} mismatches in {len(ids)} organizations",
    )
    return mismatches


# --- Helpers --------------------------------------------------------------------------------


def _reason_problem(reason: str) -> str | None:
    return text_problem(reason, label="a reason", max_length=MAX_REASON)


def _organization(session: Session, organization_id: uuid.UUID) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("That organization was not found.")
    return organization


def _lock_account(session: Session, organization_id: uuid.UUID) -> None:
    found = session.execute(
        sa_select(col(BillingAccount.organization_id))
        .where(col(BillingAccount.organization_id) == organization_id)
        .with_for_update()
    ).first()
    if found is None:
        raise NotFound("That organization has no billing account.")


def _subscription(
    session: Session, organization_id: uuid.UUID, now: datetime
) -> tuple[Subscription, Plan]:
    """The organization's subscription as it stands at ``now`` (a downgrade due by then
    applied), locked so a concurrent plan change waits, and its plan."""
    subscription = session.exec(
        select(Subscription)
        .where(Subscription.organization_id == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if subscription is None:
        raise NotFound("That organization has no subscription.")
    subscriptions.apply_due_change(session, subscription, until=now)
    plan = session.get(Plan, subscription.plan_code)
    if plan is None:
        raise NotFound(f"The plan “{subscription.plan_code}” was not found.")
    return subscription, plan


def _follow_plan_credit_limit(session: Session, plan: Plan) -> int:
    """Give the plan's organizations without a limit of their own the plan's new one."""
    following = (
        select(Subscription.organization_id)
        .where(
            Subscription.plan_code == plan.code,
            col(Subscription.credit_limit_override_cents).is_(None),
        )
        .scalar_subquery()
    )
    result = session.execute(
        update(BillingAccount)
        .where(col(BillingAccount.organization_id).in_(following))
        .values(credit_limit_micros=cents_to_micros(plan.credit_limit_cents or 0))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _contract_of(subscription: Subscription) -> Contract:
    return Contract(
        monthly_cents=subscription.contract_monthly_cents or 0,
        included_requests=subscription.contract_included_requests or 0,
        additional_request_micros=subscription.contract_additional_request_micros or 0,
        lookups_per_second=subscription.contract_lookups_per_second or 0,
        credit_limit_cents=subscription.credit_limit_override_cents or 0,
    )


def _collect(errors: dict[str, str], parse: Callable[[], int]) -> int:
    """Run one field's parser; its problem goes into ``errors`` (0 stands in meanwhile)."""
    try:
        return parse()
    except ValidationFailed as error:
        errors.update(error.errors)
        return 0


def _cents(text: str, field: str, maximum: int) -> int:
    if not text.strip():
        raise ValidationFailed({field: "Enter an amount in dollars, such as 250.00."})
    try:
        cents = parse_dollars(text)
    except ValueError as error:
        raise ValidationFailed({field: str(error)}) from None
    if cents < 0:
        raise ValidationFailed({field: "Enter an amount of zero or more."})
    if cents > maximum:
        raise ValidationFailed({field: f"At most {format_cents(maximum)}."})
    return cents


def _count(text: str, field: str, maximum: int, *, minimum: int = 0) -> int:
    cleaned = text.strip().replace(",", "").replace(" ", "").replace("_", "")
    if _COUNT.fullmatch(cleaned) is None:
        raise ValidationFailed({field: "Enter a whole number, such as 2,000,000."})
    value = int(cleaned)
    if not minimum <= value <= maximum:
        raise ValidationFailed({field: f"Enter a number from {minimum:,} to {maximum:,}."})
    return value


def _unit_price(text: str, field: str, *, minimum: int = 0) -> int:
    """A price per request in dollars with up to six decimals ("0.0025") → micro-dollars."""
    try:
        micros = parse_unit_price(text)
    except ValueError as error:
        raise ValidationFailed({field: str(error)}) from None
    if micros < minimum:
        raise ValidationFailed(
            {field: "Enter a price above zero, or leave it empty for a capped plan."}
        )
    if micros > MAX_UNIT_PRICE_MICROS:
        raise ValidationFailed({field: f"At most {format_unit_price(MAX_UNIT_PRICE_MICROS)}."})
    return micros


def _money(cents: int | None) -> str:
    return "none" if cents is None else format_cents(cents)


def _unit(micros: int | None) -> str:
    return "none (capped)" if micros is None else format_unit_price(micros)


def _limit_text(cents: int, overridden: bool) -> str:
    source = "set by staff" if overridden else "the plan's"
    return f"{format_cents(cents)} ({source})"


def _month_before(period: Period, time_zone: ZoneInfo) -> Period:
    if period.month == 1:
        return Period(period.year - 1, 12, time_zone)
    return Period(period.year, period.month - 1, time_zone)
