"""The monthly invoice run (``python -m portal_core invoices run``;
docs/product.md, Billing model).

A scheduler calls it on the 1st for the month before, in the billing time zone (a platform
setting). Each organization with a subscription is invoiced in its own transaction, so one
failure undoes nothing else and running again resumes where it stopped; running twice makes
nothing twice (UNIQUE (organization_id, period) on invoices, and the ledger entry's key).

The rules of one invoice, all in integers (docs/architecture.md, rules 4 and 5):
- The subscription line. A monthly plan pays the whole month's fee, whatever day it joined
  (a mid-month join pays the full fee; an upgrade pays the new plan's fee). A
  yearly plan pays 12 months at its yearly per-month price on the invoice of the month its
  term starts (and of that month each following year: a new term), nothing on the others.
  Carrier pays its contract's monthly figure. Free costs $0, so it has no line.
- A line per lookup type for the requests beyond the allowance: the period's usage records
  not ``included``, counted, their ``cost_micros`` summed and rounded half-up to cents once
  for the line. Records are priced when made, so a price change within the month (an upgrade)
  gives that lookup type a line per price, and quantity × unit always explains the amount.
- Taxes on the subtotal for Canadian companies only: each tax of the company's province
  (``tax_rates``), rounded half-up once per tax. Other countries pay none.
- Total = subtotal + taxes. Nothing to invoice (a total of $0) makes no invoice.
- The invoice is posted to the ledger (−total); in the same transaction the period's usage
  cost leaves ``unbilled_micros`` (exactly the sum of its records, in micro-dollars), so the
  available funds do not count it twice. The invoice is *paid* when the balance after it is
  still ≥ 0, else *due*. Available funds therefore drop by the total less that usage: the
  funds watcher (low-balance alerts, auto-recharge) hears of that drop once, and the
  members who may read Billing get an *invoice issued* notice.
- A pending downgrade takes effect for the next period (a yearly plan's at the end of its
  term, which was paid in advance), with the new plan's credit limit.
Invoice e-mails are queued with each invoice, for its members who may read Billing and asked
for them.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal_core import db, emails
from portal_core.errors import NotFound, PortalError, ValidationFailed
from portal_core.facts import BalanceRose
from portal_core.mail import send_after_commit
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    BillingDetails,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceTax,
    LookupType,
    Plan,
    Subscription,
    UsageCarry,
    UsageRecord,
)
from portal_core.models.notices import NoticeKind
from portal_core.money import (
    MICROS_PER_CENT,
    cents_to_micros,
    format_cents,
    micros_to_cents,
    tax_cents,
)
from portal_core.parties import organization_lines, seller_lines
from portal_core.permissions import Actor, Capability, require
from portal_core.queries.members import members_who_may
from portal_core.rules.lookup_types import LOOKUP_TYPE_NAMES
from portal_core.services import audit, in_force, ledger, notices, platform, subscriptions
from portal_core.services.document_numbers import next_number

log = logging.getLogger(__name__)

# Sales tax applies to Canadian companies only (docs/product.md, Billing model).
TAXED_COUNTRY = "CA"
_PERIOD = re.compile(r"(?P<year>[0-9]{4})-(?P<month>0[1-9]|1[0-2])")

_LOOKUP_ORDER = {lookup_type: index for index, lookup_type in enumerate(LookupType)}


# --- Periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A billing month (YYYY-MM) and its bounds in the billing time zone."""

    year: int
    month: int
    time_zone: ZoneInfo

    @property
    def code(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return self.starts_at.strftime("%B %Y")

    @property
    def starts_at(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=self.time_zone)

    @property
    def ends_at(self) -> datetime:
        """The first instant of the next month (exclusive)."""
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=self.time_zone)


def parse_period(text: str, time_zone: ZoneInfo) -> Period:
    found = _PERIOD.fullmatch(text.strip())
    if found is None:
        raise ValidationFailed({"period": f"“{text}” is not a month: use YYYY-MM, as in 2026-10."})
    return Period(int(found["year"]), int(found["month"]), time_zone)


def last_month(time_zone: ZoneInfo, now: datetime) -> Period:
    """The month before ``now``'s, in the billing time zone: what the 1st's run invoices."""
    local = now.astimezone(time_zone)
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return Period(year, month, time_zone)


# --- The run ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    CREATED = "created"
    ALREADY_INVOICED = "already_invoiced"
    NOTHING_TO_INVOICE = "nothing_to_invoice"


@dataclass(frozen=True)
class Failure:
    organization_id: uuid.UUID
    organization_name: str
    message: str


@dataclass
class RunSummary:
    period: str
    organizations: int = 0
    created: int = 0
    already_invoiced: int = 0
    nothing_to_invoice: int = 0
    invoiced_cents: int = 0  # the totals of the invoices this run created
    failures: list[Failure] = field(default_factory=list)
    emails_queued: int = 0  # invoice e-mails queued with their invoices (the mail queue sends)


Progress = Callable[[str, int, int], None]  # (period, organizations done, of how many)


def run_invoices(
    engine: Engine,
    *,
    period: str | None = None,
    now: datetime | None = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """Invoice ``period`` (default: last month) for every activated organization.

    ``actor`` is the staff user who asked (a page); the command line runs without one.
    ``progress(period, done, total)`` is called before the first organization and after each.
    """
    if actor is not None:
        require(actor, Capability.STAFF)
    now = now or utcnow()
    with db.read_session(engine) as session:
        time_zone = platform.billing_time_zone(session)
        seller = platform.seller(session)
        billed = parse_period(period, time_zone) if period else last_month(time_zone, now)
        if billed.ends_at > now:
            raise ValidationFailed(
                {
                    "period": f"{billed.code} has not ended yet in the billing time zone "
                    f"({time_zone.key}): it can be invoiced from "
                    f"{billed.ends_at.date().isoformat()}."
                }
            )
        organizations = session.exec(
            select(Organization.id, Organization.name)
            .join(Subscription, col(Subscription.organization_id) == Organization.id)
            # An organization that never finished activating owes nothing, whatever plan its
            # owner picked in the wizard: its term starts at activation.
            .where(col(Organization.activated_at).is_not(None))
            # A closed organization had its last invoice when it closed (``invoice_to_date``).
            .where(
                or_(
                    col(Organization.closed_at).is_(None),
                    col(Organization.closed_at) >= billed.starts_at,
                )
            )
            .order_by(col(Organization.created_at), col(Organization.id))
        ).all()
    summary = RunSummary(period=billed.code, organizations=len(organizations))
    seller_details = _seller_details(seller)
    if progress is not None:
        progress(billed.code, 0, len(organizations))
    for done, (organization_id, name) in enumerate(organizations, start=1):
        _invoice_one(engine, organization_id, name, billed, seller_details, now, summary)
        if progress is not None:
            progress(billed.code, done, len(organizations))
    with db.write_session(engine) as session:
        audit.record(
            session,
            "invoices.run",
            actor=actor,
            subject=billed.code,
            detail=(
                f"{summary.created} created, {summary.already_invoiced} already invoiced, "
                f"{summary.nothing_to_invoice} with nothing to invoice, "
                f"{len(summary.failures)} failed; {summary.invoiced_cents} cents invoiced"
            ),
        )
    return summary


def _invoice_one(
    engine: Engine,
    organization_id: uuid.UUID,
    name: str,
    period: Period,
    seller_details: str,
    now: datetime,
    summary: RunSummary,
) -> None:
    """One organization in its own transaction; its failure is counted, not raised, so the
    others are still invoiced and a later run retries it."""
    try:
        with db.write_session(engine) as session:
            issued = _invoice_organization(session, organization_id, period, seller_details, now)
    except PortalError as error:
        # A domain error says what to fix (a province without taxes, say): the summary shows it.
        summary.failures.append(Failure(organization_id, name, error.message))
        return
    except Exception as error:
        log.exception("Invoicing %s for %s failed", organization_id, period.code)
        summary.failures.append(Failure(organization_id, name, repr(error).splitlines()[0][:300]))
        return
    if issued.outcome is Outcome.CREATED:
        summary.created += 1
        summary.invoiced_cents += issued.total_cents
    elif issued.outcome is Outcome.ALREADY_INVOICED:
        summary.already_invoiced += 1
    else:
        summary.nothing_to_invoice += 1
    summary.emails_queued += issued.mails_queued


# --- The last invoice of an organization that closes ---------------------------------------


def invoice_to_date(
    session: Session, organization_id: uuid.UUID, *, now: datetime
) -> Invoice | None:
    """Invoice the current month now, as the run on the 1st would invoice it, for an
    organization that closes (``services.closing``): the month's subscription fee from the
    terms in force (whole, as the run bills a month: nothing is prorated) and the usage to
    date beyond the allowance, with its taxes. Returns the invoice, or None when there is
    nothing to invoice (Free, no usage beyond the allowance) or the month is already invoiced.
    The later runs leave the closed organization out (``run_invoices``)."""
    time_zone = platform.billing_time_zone(session)
    local = now.astimezone(time_zone)
    period = Period(local.year, local.month, time_zone)
    seller_details = _seller_details(platform.seller(session))
    issued = _invoice_organization(session, organization_id, period, seller_details, now)
    if issued.outcome is not Outcome.CREATED:
        return None
    return session.exec(
        select(Invoice).where(
            Invoice.organization_id == organization_id, Invoice.period == period.code
        )
    ).one()


@dataclass(frozen=True)
class FeesToDate:
    """What ``invoice_to_date`` would bill now of subscription fees: the month's, whole."""

    period_label: str  # "May 2026"
    fee_cents: int  # 0: nothing, or the month is already invoiced


def fees_to_date(session: Session, organization_id: uuid.UUID, *, now: datetime) -> FeesToDate:
    """The subscription fees a last invoice made at ``now`` would bill (before taxes), read
    without invoicing anything: what the closing page says before anything is done."""
    time_zone = platform.billing_time_zone(session)
    local = now.astimezone(time_zone)
    period = Period(local.year, local.month, time_zone)
    if _invoiced(session, organization_id, period):
        return FeesToDate(period.label, 0)
    lines = _subscription_lines(session, organization_id, period)
    return FeesToDate(period.label, sum(line.amount_cents for line in lines))


# --- One organization ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    description: str
    quantity: int
    unit_micros: int
    amount_cents: int
    lookup_type: str | None = None
    carried_micros: int = 0


@dataclass(frozen=True)
class _Issued:
    outcome: Outcome
    total_cents: int = 0
    mails_queued: int = 0


INVOICE_SERIES = "INV"


def _invoice_organization(
    session: Session,
    organization_id: uuid.UUID,
    period: Period,
    seller_details: str,
    now: datetime,
) -> _Issued:
    if _invoiced(session, organization_id, period):
        return _Issued(Outcome.ALREADY_INVOICED)  # a re-run's common case, read without a lock
    # The subscription's row stays locked until this organization's invoice commits: a plan
    # change made at the same moment waits for it, and the run bills what it read. So does the
    # account's: every usage record is written in a transaction that first moved the account
    # (the meter's guarded spend), so while the run holds it no record of the organization
    # appears or commits, and the usage it totals is exactly the usage it marks as billed.
    subscription = session.exec(
        select(Subscription)
        .where(Subscription.organization_id == organization_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    session.execute(
        sa_select(BillingAccount.__table__.c.organization_id)  # type: ignore[attr-defined]
        .where(BillingAccount.__table__.c.organization_id == organization_id)  # type: ignore[attr-defined]
        .with_for_update()
    ).first()
    organization = session.get(Organization, organization_id)
    if organization is None or subscription is None:
        raise NotFound("That organization or its subscription was not found.")
    if _invoiced(session, organization_id, period):
        return _Issued(Outcome.ALREADY_INVOICED)  # a concurrent run, seen once it committed
    subscriptions.apply_due_change(session, subscription, until=period.ends_at)
    # Everything billed is what held during the period, whatever changed since.
    fees = _subscription_lines(session, organization_id, period)
    buyer = in_force.billing_details_at(session, organization, period.ends_at)
    if not _taxable_as_recorded(session, buyer, period):
        # The province it had then has no taxes on file (it was missing or wrong): the details
        # corrected since are what the invoice is issued to.
        buyer = in_force.current_billing_details(organization)

    # Everything from the number to the usage it takes is undone together (a savepoint) when
    # the invoice turns out to carry nothing: the number goes back, the usage stays for the
    # next invoice.
    with session.begin_nested() as savepoint:
        number = next_number(session, INVOICE_SERIES)
        invoice = Invoice(
            organization_id=organization_id,
            number=number,
            period=period.code,
            status=InvoiceStatus.DUE,
            subtotal_cents=0,
            tax_cents=0,
            total_cents=0,
            issued_at=now,
            updated_at=now,
            seller_details=seller_details,
            buyer_details=_buyer_details(buyer),
        )
        session.add(invoice)
        session.flush()
        usage_lines, usage_cost_micros = _take_usage(session, organization_id, invoice.id, period)
        lines = fees + usage_lines
        subtotal = sum(line.amount_cents for line in lines)
        if subtotal == 0:
            savepoint.rollback()
    if subtotal == 0:
        return _Issued(Outcome.NOTHING_TO_INVOICE)

    taxes = _taxes(session, buyer, period, subtotal)
    total = subtotal + sum(amount for _tax, _rate, amount in taxes)
    entry = ledger.post_entry(
        session,
        organization_id=organization_id,
        kind=EntryKind.INVOICE,
        amount_cents=-total,
        idempotency_key=f"invoice:{organization_id}:{period.code}",
        memo=f"Invoice {number} for {period.label}",
        releases_unbilled_micros=usage_cost_micros,
        now=now,
    )
    paid = entry.balance_after_cents >= 0
    invoice.status = InvoiceStatus.PAID if paid else InvoiceStatus.DUE
    invoice.paid_at = now if paid else None
    invoice.subtotal_cents = subtotal
    invoice.tax_cents = total - subtotal
    invoice.total_cents = total
    invoice.ledger_entry_id = entry.id
    session.add(invoice)
    session.add_all(
        InvoiceLine(invoice_id=invoice.id, position=position, **vars(line))
        for position, line in enumerate(lines, start=1)
    )
    session.add_all(
        InvoiceTax(invoice_id=invoice.id, tax=tax, rate_millipercent=rate, amount_cents=amount)
        for tax, rate, amount in taxes
    )
    session.flush()
    notices.post(
        session,
        organization_id=organization_id,
        kind=NoticeKind.INVOICE_ISSUED,
        title=f"Invoice {number} for {period.label}",
        body=(
            f"Invoice {number} for {period.label}: {format_cents(total)}, taxes included. "
            + (
                "Paid from your prepaid balance."
                if paid
                else "Due: your balance did not cover it; add funds in Billing › Overview."
            )
        ),
        dedupe_key=f"invoice:{invoice.id}",
        capability=Capability.BILLING_READ,
        link_page_id="billing.invoices",
        now=now,
    )
    # Queued with the invoice, so it goes out exactly when the invoice exists, and a mail
    # server's trouble never makes the run report an invoice that exists as failed.
    recipients = [
        member
        for member in members_who_may(session, organization_id, Capability.BILLING_READ)
        if member.notify_invoices
    ]
    for member in recipients:
        send_after_commit(
            session,
            emails.invoice_issued(
                member.email,
                member.name,
                invoice_id=invoice.id,
                number=number,
                month=period.label,
                total_cents=total,
                paid=paid,
            ),
        )
    return _Issued(Outcome.CREATED, total, len(recipients))


# --- Due invoices become paid -----------------------------------------------------------------


def settle_due_invoices(connection: Connection, fact: BalanceRose) -> None:
    """The reaction to a balance that went up: the organization's due invoices that the
    balance now covers become paid, oldest first.

    The balance owes ``−balance`` when negative; the newest due invoices are what it still
    owes, so walking them newest first, each stays due while something is owed and the older
    ones, once the amount owed is accounted for, are paid. A balance of zero or more pays
    them all. Each invoice paid gets a notice and an e-mail for those who may read Billing.
    """
    invoices = Invoice.__table__.c  # type: ignore[attr-defined]
    due = connection.execute(
        sa_select(invoices.id, invoices.number, invoices.period, invoices.total_cents)
        .where(
            invoices.organization_id == fact.organization_id,
            invoices.status == InvoiceStatus.DUE.value,
        )
        .order_by(invoices.number.desc())
    ).all()
    if not due:
        return
    accounts = BillingAccount.__table__.c  # type: ignore[attr-defined]
    balance_micros = connection.execute(
        sa_select(accounts.balance_micros).where(accounts.organization_id == fact.organization_id)
    ).scalar_one()
    owed_cents = max(-(int(balance_micros) // MICROS_PER_CENT), 0)
    now = fact.at or utcnow()
    for invoice_id, number, period_code, total_cents in due:
        if owed_cents > 0:
            owed_cents -= int(total_cents)
            continue
        paid = connection.execute(
            update(Invoice)
            .where(invoices.id == invoice_id, invoices.status == InvoiceStatus.DUE.value)
            .values(status=InvoiceStatus.PAID.value, paid_at=now, updated_at=now)
        ).rowcount
        if paid:
            _tell_paid(
                connection,
                fact.organization_id,
                invoice_id,
                number,
                period_code,
                int(total_cents),
                now,
            )


def _tell_paid(
    connection: Connection,
    organization_id: uuid.UUID,
    invoice_id: uuid.UUID,
    number: int,
    period_code: str,
    total_cents: int,
    now: datetime,
) -> None:
    month = parse_period(period_code, ZoneInfo("UTC")).label
    notices.post_for_members(
        connection,
        organization_id=organization_id,
        capability=Capability.BILLING_READ,
        kind=NoticeKind.INVOICE_PAID,
        title=f"Invoice {number} is paid",
        body=(
            f"Invoice {number} for {month} ({format_cents(total_cents)}, taxes included) is "
            "paid: your payments and credits now cover it."
        ),
        dedupe_key=f"invoice-paid:{invoice_id}",
        link_page_id="billing.invoices",
        now=now,
    )
    for member in members_who_may(connection, organization_id, Capability.BILLING_READ):
        if member.notify_invoices:
            send_after_commit(
                connection,
                emails.invoice_paid(
                    member.email,
                    member.name,
                    invoice_id=invoice_id,
                    number=number,
                    month=month,
                    total_cents=total_cents,
                ),
            )


# --- The lines ---------------------------------------------------------------------------------


def _invoiced(session: Session, organization_id: uuid.UUID, period: Period) -> bool:
    return (
        session.exec(
            select(Invoice.id).where(
                Invoice.organization_id == organization_id, Invoice.period == period.code
            )
        ).first()
        is not None
    )


def _subscription_lines(
    session: Session, organization_id: uuid.UUID, period: Period
) -> list[_Line]:
    """The fees of ``period`` from the terms in force during it (``in_force.terms_during``):

    - a yearly term whose 12 months start in ``period`` (the month its term began, each
      year) and that is still in force at its end bills them, at its yearly per-month fee
      (one replaced within that month by an upgrade was never invoiced, and owes nothing);
    - the month itself is billed once, at the highest monthly fee of the monthly terms in
      force during it — an upgrade's new fee rather than the old one, a contract ended on the
      28th rather than the plan it ended into — leaving out a monthly term that ended before
      a yearly term began in the month (the 12 months include it);
    - a fee is the contract's, else the plan's in force when the month (or the term, if
      later) began (``in_force.price_at``).
    """
    terms = in_force.terms_during(session, organization_id, period.starts_at, period.ends_at)
    lines: list[_Line] = []
    yearly_from: datetime | None = None
    for term in terms:
        if term.cycle != BillingCycle.YEARLY or not _starts_a_term(term, period):
            continue
        if term.effective_to is not None and term.effective_to < period.ends_at:
            continue  # replaced within its first month (an upgrade) before it was invoiced
        fee, name = _fee(session, term, period)
        if fee:
            lines.append(
                _Line(
                    f"{name}, yearly: 12 months from {period.label}",
                    12,
                    cents_to_micros(fee),
                    12 * fee,
                )
            )
        started = max(term.effective_from, period.starts_at)
        yearly_from = started if yearly_from is None else max(yearly_from, started)
    monthly = [
        _fee(session, term, period)
        for term in terms
        if term.cycle != BillingCycle.YEARLY
        and (yearly_from is None or term.effective_to is None or term.effective_to > yearly_from)
    ]
    fee, name = max(monthly, key=lambda fee_and_name: fee_and_name[0], default=(0, ""))
    if fee:
        lines.insert(0, _Line(f"{name}, {period.label}", 1, cents_to_micros(fee), fee))
    return lines


def _fee(session: Session, term: in_force.Term, period: Period) -> tuple[int, str]:
    """A term's fee per month for ``period`` (yearly: its per-month price) and its name."""
    plan = session.get(Plan, term.plan_code)
    if plan is None:
        raise NotFound(f"The plan “{term.plan_code}” was not found.")
    if term.contract_monthly_cents is not None:
        return term.contract_monthly_cents, f"{plan.name} contract"
    price = in_force.price_at(session, plan.code, max(term.effective_from, period.starts_at))
    monthly, yearly = (
        (price.monthly_cents, price.yearly_monthly_cents)
        if price is not None
        else (plan.monthly_cents, plan.yearly_monthly_cents)
    )
    fee = yearly if term.cycle == BillingCycle.YEARLY else monthly
    return fee or 0, f"{plan.name} plan"


def _starts_a_term(term: in_force.Term, period: Period) -> bool:
    """A yearly term starts in the month of ``term_started_at`` and in that month each year."""
    started = term.term_started_at.astimezone(period.time_zone)
    return period.month == started.month and period.starts_at >= datetime(
        started.year, started.month, 1, tzinfo=period.time_zone
    )


def _take_usage(
    session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID, period: Period
) -> tuple[list[_Line], int]:
    """Put the organization's usage not invoiced yet, of ``period`` and before, on the
    invoice; return its lines and its whole cost (µ$).

    They are totalled, then marked, under the account's lock (see ``_invoice_organization``):
    no record of the organization can appear or commit in between, so each one is either on
    this invoice's lines, in the cost taken off the unbilled usage and marked with it, or left
    for the next invoice — never counted by one and missed by the other (a request still in
    flight at midnight commits after the run and rolls into the next invoice). One aggregate
    and one UPDATE over the index of the records not yet billed; Python sees a handful of
    groups, never the records.

    A line is the records beyond the allowance of one lookup type and price; its amount is
    their cost plus the remainder carried from the type's last line (``UsageCarry``),
    rounded half-up to the cent once, and what rounding left over carries on.
    """
    records = UsageRecord.__table__.c  # type: ignore[attr-defined]
    not_billed = (
        records.organization_id == organization_id,
        records.invoice_id.is_(None),
        records.period <= period.code,
    )
    rows = session.execute(
        sa_select(
            records.lookup_type,
            records.included,
            records.cost_micros,
            func.count(),
            func.sum(records.cost_micros),
        )
        .where(*not_billed)
        .group_by(records.lookup_type, records.included, records.cost_micros)
    ).all()
    session.execute(
        update(UsageRecord)
        .where(*not_billed)
        .values(invoice_id=invoice_id)
        # No record is loaded in the session: nothing to synchronise, nothing to fetch first.
        .execution_options(synchronize_session=False)
    )
    usage_cost = sum(int(cost) for *_group, cost in rows)
    beyond = sorted(
        (row for row in rows if not row[1] and row[4] > 0),
        key=lambda row: (_LOOKUP_ORDER.get(row[0], len(_LOOKUP_ORDER)), row[2]),
    )
    carries = {
        carry.lookup_type: carry
        for carry in session.exec(
            select(UsageCarry).where(UsageCarry.organization_id == organization_id)
        ).all()
    }
    lines = []
    for lookup_type, _included, unit, requests, cost in beyond:
        carry = carries.get(lookup_type)
        if carry is None:
            carry = carries[lookup_type] = UsageCarry(
                organization_id=organization_id, lookup_type=lookup_type, remainder_micros=0
            )
        carried = carry.remainder_micros
        amount_cents = micros_to_cents(int(cost) + carried)
        carry.remainder_micros = int(cost) + carried - cents_to_micros(amount_cents)
        session.add(carry)
        lines.append(
            _Line(
                f"{LOOKUP_TYPE_NAMES.get(lookup_type, lookup_type)} lookups beyond the allowance",
                int(requests),
                int(unit),
                amount_cents,
                lookup_type=lookup_type,
                carried_micros=carried,
            )
        )
    session.flush()
    return lines, usage_cost


def _taxable_as_recorded(session: Session, buyer: BillingDetails, period: Period) -> bool:
    """Whether the buyer's recorded details can be taxed: not Canadian, or in a province
    with taxes on file at the end of the period."""
    if buyer.country != TAXED_COUNTRY:
        return True
    return bool(in_force.tax_rates_at(session, TAXED_COUNTRY, buyer.province or "", period.ends_at))


def _taxes(
    session: Session, buyer: BillingDetails, period: Period, subtotal_cents: int
) -> list[tuple[str, int, int]]:
    """(tax, rate, amount) for each tax of the buyer's province, at the rates in force at the
    end of ``period``; none outside Canada."""
    if buyer.country != TAXED_COUNTRY:
        return []
    rates = in_force.tax_rates_at(session, TAXED_COUNTRY, buyer.province or "", period.ends_at)
    if not rates:
        raise ValidationFailed(
            {
                "province": f"{buyer.name} is a Canadian company whose province "
                f"(“{buyer.province or ''}”) has no sales taxes on file: set its "
                "province (Company page) or the province's taxes, then run again."
            }
        )
    return [(tax, rate, tax_cents(subtotal_cents, rate)) for tax, rate in rates]


# --- The parties, as printed ---------------------------------------------------------------


def _seller_details(seller: platform.Seller) -> str:
    return "\n".join(seller_lines(seller))


def _buyer_details(buyer: BillingDetails) -> str:
    return "\n".join(organization_lines(buyer))[:1000]
