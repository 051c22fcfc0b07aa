"""An organization's plan: every organization starts on Free, with a billing account; a
partner changes plan on Billing › Pricing, and picks the first one in the activation wizard.

The credit limit starts at what the plan says (twice the monthly subscription, a
figure in ``plans``); staff may set one per organization (``credit_limit_override_cents``),
which then holds across plan changes.

Plan changes (docs/product.md, Billing model), in agreement with how ``services.invoices``
bills and ``services.meter`` prices:

- Plans rank by ``Plan.position`` (Free < Starter < Competitor < Provider < Carrier); within
  one plan, yearly ranks above monthly (a year's commitment at a lower monthly price).
- An **upgrade** (a higher plan, or the same plan monthly → yearly) takes effect at once:
  ``plan_code``/``cycle`` change, the plan's term starts now, any pending downgrade is dropped,
  and the credit limit moves to ``credit_limit_cents(subscription, plan)`` in the same
  transaction. The invoice run bills the subscription it finds, so this month's invoice
  carries the new plan's fee for the month, not the old one's; a yearly plan's term starts
  now, so this month's invoice carries its 12 months. Requests are priced by the plan in force
  when they are made (the meter reads the plan on each request).
- Leaving a yearly term early by an upgrade credits its **unused months**: when the term's
  12 months were invoiced (the invoice of the month the term started exists), the months from
  this one to the term's end are credited at the per-month price that invoice charged, with
  the taxes it charged on them, by a credit note against it (``services.credit_notes``), once
  per term (the key ``plan-credit:<organization>:<term month>``). The current month is among
  them, since the new plan's fee pays for it.
- A **downgrade** (a lower plan, or the same plan yearly → monthly) waits in
  ``next_plan_code``/``next_cycle`` until its own date, ``next_change_at``, fixed when it is
  asked for: a monthly plan's for the next month, a yearly plan's for
  the end of the paid term (the 12 months were paid in advance, so yearly → monthly of the same
  plan waits for the term's end too, like any change away from a paid year). The invoice run
  applies it once that date has come, with its terms holding from that date, whatever else
  changed in the subscription meanwhile. It can be cancelled until then, and choosing another
  downgrade replaces it.
- The same plan and cycle is refused with a clear message; so is a change already scheduled.
- Carrier is by contract: a partner cannot pick it ("contact us"), and an organization on a
  contract changes plan through SIPSTACK's staff, not here.

**A paid upgrade needs a way to pay** (as a commercial console asks): a saved card that is not
removed and not expired, *or* available funds (balance − unbilled usage) that cover what the
change adds to this month's invoice (the new fee, less any unused yearly months credited),
taxes excluded. Otherwise the change is refused with what to do: save a card in Billing ›
Payment Methods, or add funds in Billing › Overview. Downgrades never need one. The wizard's
plan step needs none either: its next step collects the card that a paid plan requires.

Concurrency: a change reads the subscription row ``FOR UPDATE`` (PostgreSQL; on SQLite the
write transaction holds the database's write lock from ``BEGIN IMMEDIATE``), so two changes at
once are applied one after the other, the second seeing the first's result: none is lost, and
the audit trail's "from" of each change is the "to" of the one before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from portal_core.errors import Conflict, InsufficientFunds, NotFound, ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    Invoice,
    InvoiceLine,
    Plan,
    Subscription,
)
from portal_core.money import (
    MICROS_PER_CENT,
    cents_to_micros,
    format_cents,
    format_micros,
    format_unit_price,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.rules.cards import has_usable_card
from portal_core.rules.plans import (  # noqa: F401  (the terms' rules, named here too)
    MONTHS_PER_TERM,
    additional_request_micros,
    credit_limit_cents,
    cycle_label,
    cycles_of,
    included_requests,
    long_date,
    next_boundary,
    on_contract,
    pending_change_at,
    term_fee_cents,
)
from portal_core.services import audit, credit_notes, in_force, platform

FREE_PLAN = "free"
PLAN_CHOSEN = "plan.chosen"  # the audit action of the wizard's plan step


def open_billing(session: Session, organization_id: uuid.UUID, *, now: datetime) -> None:
    """The billing account and the Free subscription of a new organization."""
    plan = session.get(Plan, FREE_PLAN)
    if plan is None:
        raise NotFound(
            "The Free plan is missing: run the migrations (python -m portal_core migrate)."
        )
    session.add(
        BillingAccount(
            organization_id=organization_id,
            credit_limit_micros=cents_to_micros(plan.credit_limit_cents or 0),
        )
    )
    subscription = Subscription(
        organization_id=organization_id,
        plan_code=plan.code,
        cycle=BillingCycle.MONTHLY,
        term_started_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    session.flush()
    in_force.record_terms(session, subscription, at=now)


# --- The terms in force: a Carrier contract's figures, else the plan's -----------------------


def cache_credit_limit(session: Session, subscription: Subscription, plan: Plan) -> int:
    """Cache the subscription's credit limit on its account, in the same transaction (the
    meter's guard reads it there); returns it."""
    limit = credit_limit_cents(subscription, plan)
    session.execute(
        update(BillingAccount)
        .where(col(BillingAccount.organization_id) == subscription.organization_id)
        .values(credit_limit_micros=cents_to_micros(limit))
    )
    return limit


# --- Plans, cycles and their order ---------------------------------------------------------


def _rank(plan: Plan, cycle: BillingCycle) -> tuple[int, int]:
    return (plan.position, 1 if cycle == BillingCycle.YEARLY else 0)


# --- When a scheduled change happens ---------------------------------------------------------


def _current_term(subscription: Subscription, local_now: datetime) -> tuple[int, int]:
    """(year, month) in which a yearly plan's current term started: the latest start of its
    term's month not after this month."""
    term_month = subscription.term_started_at.astimezone(local_now.tzinfo).month
    year = local_now.year if local_now.month >= term_month else local_now.year - 1
    return year, term_month


@dataclass(frozen=True)
class _Unused:
    """The unused months of an invoiced yearly term, what each was invoiced at, and the
    taxes a credit of them carries back (the term's invoice's)."""

    months: int = 0
    month_cents: int = 0
    tax_cents: int = 0
    invoice_id: uuid.UUID | None = None


def _unused_prepaid_months(
    session: Session, subscription: Subscription, plan: Plan, local_now: datetime
) -> _Unused:
    """The months of an invoiced yearly term not used yet, this month included (none when
    the plan is monthly or its current term has not been invoiced yet), at the per-month
    price its invoice charged."""
    if subscription.cycle != BillingCycle.YEARLY or not plan.yearly_monthly_cents:
        return _Unused()
    year, month = _current_term(subscription, local_now)
    invoice = session.exec(
        select(Invoice).where(
            Invoice.organization_id == subscription.organization_id,
            Invoice.period == f"{year:04d}-{month:02d}",
        )
    ).first()
    if invoice is None:
        return _Unused()
    used = (local_now.year - year) * 12 + local_now.month - month
    months = max(MONTHS_PER_TERM - used, 0)
    yearly_line = session.exec(
        select(InvoiceLine).where(
            InvoiceLine.invoice_id == invoice.id, InvoiceLine.quantity == MONTHS_PER_TERM
        )
    ).first()
    month_cents = (
        yearly_line.unit_micros // MICROS_PER_CENT
        if yearly_line is not None
        else plan.yearly_monthly_cents
    )
    taxes = credit_notes.taxes_on(session, invoice, months * month_cents)
    return _Unused(months, month_cents, sum(amount for _t, _r, amount in taxes), invoice.id)


# --- The change, decided once for the preview and for the change itself -------------------


class ChangeKind(StrEnum):
    UPGRADE = "upgrade"  # at once
    DOWNGRADE = "downgrade"  # at the next period, or the end of a yearly term


@dataclass(frozen=True)
class PlanChange:
    """What choosing ``plan_code``/``cycle`` does, in figures the confirmation states."""

    kind: ChangeKind
    from_plan_name: str
    from_cycle: BillingCycle
    plan_code: str
    plan_name: str
    cycle: BillingCycle
    starts_at: datetime  # now for an upgrade; the boundary for a downgrade (billing time zone)
    fee_cents: int  # the new plan's fee on the invoice of the month it starts (12 months: yearly)
    monthly_equivalent_cents: int  # its price per month (yearly: the yearly per-month price)
    included_requests: int
    additional_request_micros: int | None  # None: capped
    credit_limit_cents: int  # the credit limit once the change is in effect
    credit_limit_by_staff: bool
    unused_months: int = 0  # of a yearly term left by an upgrade, credited now
    unused_month_cents: int = 0
    unused_tax_cents: int = 0  # the taxes they were invoiced with, credited back with them

    @property
    def unused_credit_cents(self) -> int:
        return self.unused_months * self.unused_month_cents

    @property
    def due_cents(self) -> int:
        """What the change adds to this month's invoice, less what it credits now."""
        if self.kind is ChangeKind.DOWNGRADE:
            return 0
        return max(self.fee_cents - self.unused_credit_cents, 0)

    @property
    def target(self) -> str:
        return f"{self.plan_name}, {cycle_label(self.cycle)}"

    def summary(self) -> str:
        """The confirmation's text: what happens, when, what it costs, the new credit limit."""
        if self.kind is ChangeKind.UPGRADE:
            parts = [f"**{self.target}** starts now."]
            if self.cycle == BillingCycle.YEARLY:
                parts.append(
                    f"A 12-month term starts this month: this month's invoice carries 12 months "
                    f"at {format_cents(self.monthly_equivalent_cents)} = "
                    f"{format_cents(self.fee_cents)}, instead of {self.from_plan_name}'s fee."
                )
            else:
                parts.append(
                    f"This month's invoice carries {self.plan_name}'s fee of "
                    f"{format_cents(self.fee_cents)} instead of {self.from_plan_name}'s, and "
                    "each month after."
                )
            if self.unused_months:
                months = (
                    f"{self.unused_months} unused month{'s' if self.unused_months != 1 else ''}"
                )
                taxes = (
                    f" plus the {format_cents(self.unused_tax_cents)} of taxes they were "
                    "invoiced with"
                    if self.unused_tax_cents
                    else ""
                )
                parts.append(
                    f"The {months} of your {self.from_plan_name} yearly term are credited to "
                    f"your balance now by a credit note: {format_cents(self.unused_credit_cents)}"
                    f"{taxes}."
                )
            parts.append(f"Requests from now on are priced by {self.plan_name}: {self._terms()}.")
        else:
            when = long_date(self.starts_at)
            price = (
                f"at {format_cents(self.fee_cents)} for 12 months"
                if self.cycle == BillingCycle.YEARLY
                else f"at {format_cents(self.fee_cents)} a month"
                if self.fee_cents
                else "at no charge"
            )
            parts = [
                f"On **{when}** your plan becomes **{self.target}**, {price}.",
                f"Until then you keep {self.from_plan_name} ({cycle_label(self.from_cycle)}) and "
                "its allowance, and you can cancel this change.",
                f"From then: {self._terms()}.",
            ]
        limit = format_cents(self.credit_limit_cents)
        if self.credit_limit_by_staff:
            parts.append(f"Your credit limit stays {limit}, as SIPSTACK set it.")
        else:
            parts.append(f"Your credit limit becomes {limit}.")
        parts.append("Prices in USD, taxes excluded.")
        return " ".join(parts)

    def _terms(self) -> str:
        included = f"{self.included_requests:,} lookups a month included"
        if self.additional_request_micros is None:
            return f"{included}, none beyond"
        return f"{included}, then {format_unit_price(self.additional_request_micros)} each"


@dataclass(frozen=True)
class _Situation:
    subscription: Subscription
    current: Plan
    time_zone: ZoneInfo
    local_now: datetime


def _situation(
    session: Session, organization_id: uuid.UUID, now: datetime, *, lock: bool
) -> _Situation:
    query = select(Subscription).where(Subscription.organization_id == organization_id)
    if lock:
        # Re-read under the row lock, whatever the session held: the decision must see the
        # latest committed plan (a concurrent change may just have committed).
        query = query.with_for_update().execution_options(populate_existing=True)
    subscription = session.exec(query).first()
    if subscription is None:
        raise NotFound("Your organization has no subscription.")
    if lock:
        # A downgrade whose date has come holds, whether or not a run applied it yet: the
        # change asked for now starts from the plan in force now.
        apply_due_change(session, subscription, until=now)
    current = session.get(Plan, subscription.plan_code)
    if current is None:
        raise NotFound(f"The plan “{subscription.plan_code}” was not found.")
    time_zone = platform.billing_time_zone(session)
    return _Situation(subscription, current, time_zone, now.astimezone(time_zone))


def _chosen_plan(session: Session, plan_code: str, cycle: BillingCycle) -> Plan:
    plan = session.get(Plan, plan_code)
    if plan is None:
        raise NotFound("That plan was not found.")
    if plan.by_contract:
        raise ValidationFailed(
            {
                "plan": f"{plan.name} is priced by contract: contact SIPSTACK and our team will "
                "set it up for your organization."
            }
        )
    if cycle not in cycles_of(plan):
        raise ValidationFailed({"cycle": f"{plan.name} is billed monthly only."})
    return plan


def _decide(
    session: Session, situation: _Situation, plan: Plan, cycle: BillingCycle, now: datetime
) -> PlanChange:
    subscription, current = situation.subscription, situation.current
    if on_contract(subscription, current):
        raise Conflict(
            f"Your {current.name} contract is managed by SIPSTACK: contact us to change it."
        )
    if (plan.code, cycle) == (current.code, subscription.cycle):
        message = f"You are already on {plan.name}, {cycle_label(cycle)}."
        if subscription.next_plan_code is not None:
            message += " To keep it, cancel the scheduled plan change instead."
        raise Conflict(message)
    upgrade = _rank(plan, cycle) > _rank(current, subscription.cycle)
    if not upgrade and (plan.code, cycle) == (subscription.next_plan_code, subscription.next_cycle):
        on = pending_change_at(subscription, situation.time_zone)
        assert on is not None  # a next plan is set
        raise Conflict(
            f"Your change to {plan.name}, {cycle_label(cycle)}, is already scheduled for "
            f"{long_date(on)}."
        )
    unused = (
        _unused_prepaid_months(session, subscription, current, situation.local_now)
        if upgrade
        else _Unused()
    )
    return PlanChange(
        kind=ChangeKind.UPGRADE if upgrade else ChangeKind.DOWNGRADE,
        from_plan_name=current.name,
        from_cycle=subscription.cycle,
        plan_code=plan.code,
        plan_name=plan.name,
        cycle=cycle,
        starts_at=(
            situation.local_now
            if upgrade
            else next_boundary(subscription, situation.time_zone, now)
        ),
        fee_cents=term_fee_cents(plan, cycle),
        monthly_equivalent_cents=(
            plan.yearly_monthly_cents if cycle == BillingCycle.YEARLY else plan.monthly_cents
        )
        or 0,
        included_requests=plan.included_requests,
        additional_request_micros=plan.additional_request_micros,
        credit_limit_cents=credit_limit_cents(subscription, plan),
        credit_limit_by_staff=subscription.credit_limit_override_cents is not None,
        unused_months=unused.months,
        unused_month_cents=unused.month_cents if unused.months else 0,
        unused_tax_cents=unused.tax_cents if unused.months else 0,
    )


def _payment_problem(
    session: Session, organization_id: uuid.UUID, change: PlanChange, local_now: datetime
) -> str | None:
    """Why a paid upgrade cannot be made yet (no card, too few funds), or None."""
    if change.due_cents == 0:
        return None
    if has_usable_card(session, organization_id, local_now):
        return None
    account = session.get(BillingAccount, organization_id)
    available = 0 if account is None else account.balance_micros - account.unbilled_micros
    if available >= cents_to_micros(change.due_cents):
        return None
    return (
        f"Moving to {change.plan_name} ({cycle_label(change.cycle)}) adds "
        f"{format_cents(change.due_cents)} to this month's invoice (taxes excluded), and your "
        f"available funds are {format_micros(available)}. Save a card in Billing › Payment "
        "Methods, or add funds in Billing › Overview, then choose the plan again."
    )


# --- The services --------------------------------------------------------------------------


def _allowed_change(
    session: Session,
    actor: Actor,
    *,
    plan_code: str,
    cycle: BillingCycle,
    now: datetime,
    lock: bool,
) -> tuple[_Situation, Plan, PlanChange]:
    """The change ``actor`` asks for, decided; refused (raising) when the role, the plan, the
    cycle or the means to pay it do not allow it. ``lock`` holds the subscription's row for
    a change about to be made."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    plan = _chosen_plan(session, plan_code, cycle)
    situation = _situation(session, organization_id, now, lock=lock)
    change = _decide(session, situation, plan, cycle, now)
    if problem := _payment_problem(session, organization_id, change, situation.local_now):
        raise InsufficientFunds(problem)
    return situation, plan, change


def preview_change(
    session: Session,
    actor: Actor,
    *,
    plan_code: str,
    cycle: BillingCycle,
    now: datetime | None = None,
) -> PlanChange:
    """What ``change_plan`` would do now, for its confirmation; raises what it would raise."""
    *_, change = _allowed_change(
        session, actor, plan_code=plan_code, cycle=cycle, now=now or utcnow(), lock=False
    )
    return change


def change_plan(
    session: Session,
    actor: Actor,
    *,
    plan_code: str,
    cycle: BillingCycle,
    now: datetime | None = None,
) -> PlanChange:
    """Change the organization's plan: an upgrade at once, a downgrade scheduled (see the
    module docstring for every rule). Returns what was done."""
    now = now or utcnow()
    situation, plan, change = _allowed_change(
        session, actor, plan_code=plan_code, cycle=cycle, now=now, lock=True
    )
    subscription = situation.subscription
    organization_id = subscription.organization_id
    before = f"{situation.current.code} {subscription.cycle}"
    if change.kind is ChangeKind.UPGRADE:
        if change.unused_months:
            year, month = _current_term(subscription, situation.local_now)
            term = _unused_prepaid_months(
                session, subscription, situation.current, situation.local_now
            )
            invoice = session.get(Invoice, term.invoice_id)
            assert invoice is not None  # unused months exist only for an invoiced term
            credit_notes.issue_credit_note(
                session,
                invoice,
                [
                    credit_notes.CreditLine(
                        f"Unused months of the {change.from_plan_name} yearly term",
                        change.unused_months,
                        cents_to_micros(change.unused_month_cents),
                        change.unused_credit_cents,
                    )
                ],
                reason=f"{change.unused_months} unused months of the {change.from_plan_name} "
                f"yearly term, left for {plan.name}",
                idempotency_key=f"plan-credit:{organization_id}:{year:04d}-{month:02d}",
                created_by=actor.user_id,
                now=now,
            )
        _put_on_plan(session, subscription, plan, cycle, now)
        audit.record(
            session,
            "plan.upgraded",
            actor=actor,
            subject=f"{plan.code} {cycle}",
            detail=f"{before} → {plan.code} {cycle}, at once; fee {format_cents(change.fee_cents)}"
            f"; unused months credited {format_cents(change.unused_credit_cents)}; credit "
            f"limit {format_cents(change.credit_limit_cents)}",
        )
    else:
        subscription.next_plan_code = plan.code
        subscription.next_cycle = cycle
        # Its own date, fixed now: nothing done to the subscription meanwhile moves it.
        subscription.next_change_at = change.starts_at.astimezone(UTC)
        subscription.updated_at = now
        session.add(subscription)
        audit.record(
            session,
            "plan.downgrade_scheduled",
            actor=actor,
            subject=f"{plan.code} {cycle}",
            detail=f"{before} → {plan.code} {cycle}, on {change.starts_at.date().isoformat()}",
        )
    session.flush()
    return change


def cancel_pending_change(session: Session, actor: Actor, *, now: datetime | None = None) -> str:
    """Drop a scheduled downgrade; returns the plan name it would have moved to."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    subscription = _situation(session, organization_id, now, lock=True).subscription
    if subscription.next_plan_code is None:
        raise Conflict("There is no scheduled plan change to cancel.")
    pending = session.get(Plan, subscription.next_plan_code)
    cancelled = f"{subscription.next_plan_code} {subscription.next_cycle or subscription.cycle}"
    subscription.next_plan_code = None
    subscription.next_cycle = None
    subscription.next_change_at = None
    subscription.updated_at = now
    session.add(subscription)
    audit.record(session, "plan.change_cancelled", actor=actor, subject=cancelled)
    session.flush()
    return pending.name if pending is not None else cancelled


def choose_initial_plan(
    session: Session,
    actor: Actor,
    *,
    plan_code: str,
    cycle: BillingCycle,
    now: datetime | None = None,
) -> None:
    """The activation wizard's plan step: put a not-yet-active organization on a plan (Free
    is a valid choice; choosing again before activation replaces the choice). No card is
    asked here: the wizard's next step collects it for a paid plan, and activation restarts
    the term, so nothing is owed for the time spent in the wizard."""
    require(actor, Capability.BILLING_MANAGE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    plan = _chosen_plan(session, plan_code, cycle)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("Your organization was not found.")
    if organization.activated_at is not None:
        raise Conflict("Your account is active: change your plan in Billing › Pricing.")
    subscription = _situation(session, organization_id, now, lock=True).subscription
    _put_on_plan(session, subscription, plan, cycle, now)
    subscription.plan_chosen_at = now
    audit.record(session, PLAN_CHOSEN, actor=actor, subject=f"{plan.code} {cycle}")
    session.flush()


def plan_chosen(session: Session, organization_id: uuid.UUID) -> bool:
    """Whether the organization went through the wizard's plan step."""
    subscription = session.get(Subscription, organization_id)
    return subscription is not None and subscription.plan_chosen_at is not None


def start_term(session: Session, organization_id: uuid.UUID, *, now: datetime) -> None:
    """Start the subscription's term at activation: the account is live, and billed, from
    now on (the time spent in the wizard owes nothing)."""
    subscription = session.get(Subscription, organization_id)
    if subscription is None:
        raise NotFound("Your organization has no subscription.")
    subscription.term_started_at = now
    subscription.updated_at = now
    session.add(subscription)
    in_force.restart_terms(session, subscription, at=now)


def apply_due_change(session: Session, subscription: Subscription, *, until: datetime) -> bool:
    """Apply a scheduled downgrade whose own date (``next_change_at``, fixed when it was asked
    for) has come by ``until``: its terms hold from that date, whenever it is applied (by the
    invoice run, or by the next change of the subscription). Returns whether it applied one.
    The caller holds the subscription's row lock."""
    due = subscription.next_change_at
    if subscription.next_plan_code is None or due is None or due > until:
        return False
    plan = session.get(Plan, subscription.next_plan_code)
    if plan is None:
        raise NotFound(f"The plan “{subscription.next_plan_code}” was not found.")
    subscription.plan_code = plan.code
    subscription.cycle = subscription.next_cycle or subscription.cycle
    subscription.term_started_at = due
    subscription.next_plan_code = None
    subscription.next_cycle = None
    subscription.next_change_at = None
    if not plan.by_contract:
        subscription.contract_monthly_cents = None
        subscription.contract_included_requests = None
        subscription.contract_additional_request_micros = None
        subscription.contract_lookups_per_second = None
    subscription.updated_at = due
    session.add(subscription)
    in_force.record_terms(session, subscription, at=due)
    # The new plan's limit, unless staff set one for this organization: theirs holds.
    cache_credit_limit(session, subscription, plan)
    session.flush()
    return True


def _put_on_plan(
    session: Session, subscription: Subscription, plan: Plan, cycle: BillingCycle, now: datetime
) -> None:
    """At once: the plan, its cycle, a term from now, no pending change, its credit limit."""
    subscription.plan_code = plan.code
    subscription.cycle = cycle
    subscription.term_started_at = now
    subscription.next_plan_code = None
    subscription.next_cycle = None
    subscription.next_change_at = None
    subscription.updated_at = now
    session.add(subscription)
    in_force.record_terms(session, subscription, at=now)
    cache_credit_limit(session, subscription, plan)
