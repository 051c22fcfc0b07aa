"""Read side of Billing › Pricing and the wizard's plan step: the plans as rows, and the
organization's plan, cycle, scheduled change and requests used this period.

Plans are reference data (a handful of rows that staff edit); nothing here is cached, so a
price staff change shows at once and matches the figure the change's confirmation states.

Requests used this period come from the meter's own counter (``billing_accounts.period`` and
``period_requests``, ``services.meter``): the meter restarts the count when the first request
of a new month (billing time zone) arrives, so a counter of an older period reads as 0 used.
The allowance and the cap follow the meter too: a contract's figures when staff set them,
else the plan's; a plan without a price per additional request is capped at its allowance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, BillingCycle, Plan, Subscription
from portal_core.money import format_cents, format_unit_price
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.rules import plans as plan_terms
from portal_core.rules import platform

BY_CONTRACT = "By contract"


@dataclass(frozen=True)
class PlanRow:
    """One plan as the pricing table shows it; figures as stored, text via ``money``."""

    code: str
    name: str
    monthly_cents: int | None
    yearly_monthly_cents: int | None
    included_requests: int
    additional_request_micros: int | None
    lookups_per_second: int | None
    support_sla: str
    by_contract: bool
    credit_limit_cents: int | None
    cycles: tuple[BillingCycle, ...]  # the cycles a partner may choose (none: by contract)

    @property
    def monthly_price(self) -> str:
        if self.by_contract or self.monthly_cents is None:
            return BY_CONTRACT
        return f"{format_cents(self.monthly_cents)} / month"

    @property
    def yearly_price(self) -> str:
        if self.by_contract:
            return BY_CONTRACT
        if BillingCycle.YEARLY not in self.cycles or self.yearly_monthly_cents is None:
            return "—"
        year = plan_terms.MONTHS_PER_TERM * self.yearly_monthly_cents
        return f"{format_cents(self.yearly_monthly_cents)} / month ({format_cents(year)} a year)"

    @property
    def included(self) -> str:
        suffix = "+" if self.by_contract else ""
        return f"{self.included_requests:,}{suffix} a month"

    @property
    def additional_request(self) -> str:
        if self.by_contract:
            return BY_CONTRACT
        if self.additional_request_micros is None:
            return "None (capped)"
        return format_unit_price(self.additional_request_micros)

    @property
    def speed(self) -> str:
        if self.lookups_per_second is None:
            return BY_CONTRACT
        return f"{self.lookups_per_second:,} / second"

    def price_for(self, cycle: BillingCycle) -> str:
        return self.yearly_price if cycle == BillingCycle.YEARLY else self.monthly_price

    def option_label(self, cycle: BillingCycle) -> str:
        """One line for a picker: "Starter · $30.00 / month · 10,000 a month, then $0.0030"."""
        beyond = (
            "none beyond"
            if self.additional_request_micros is None
            else f"then {format_unit_price(self.additional_request_micros)} each"
        )
        return f"{self.name} · {self.price_for(cycle)} · {self.included} included, {beyond}"


@dataclass(frozen=True)
class CurrentPlan:
    """The organization's plan now, its scheduled change, and this period's requests."""

    plan_code: str
    plan_name: str
    cycle: BillingCycle
    on_contract: bool
    credit_limit_cents: int
    credit_limit_by_staff: bool
    next_plan_code: str | None
    next_plan_name: str | None
    next_cycle: BillingCycle | None
    changes_at: datetime | None  # when the scheduled change takes effect (billing time zone)
    period: str  # YYYY-MM, billing time zone
    period_ends_at: datetime  # the first instant of the next period: when the count restarts
    requests_used: int
    allowance: int
    capped: bool  # no price per additional request: past the allowance, requests are refused

    @property
    def at_cap(self) -> bool:
        return self.capped and self.requests_used >= self.allowance

    @property
    def used_share(self) -> float:
        """Requests used as a share of the allowance, 0.0–1.0, for a progress bar."""
        if self.allowance <= 0:
            return 1.0
        return min(self.requests_used / self.allowance, 1.0)

    def is_current(self, plan_code: str, cycle: BillingCycle) -> bool:
        return (plan_code, cycle) == (self.plan_code, self.cycle)

    def is_scheduled(self, plan_code: str, cycle: BillingCycle) -> bool:
        return (plan_code, cycle) == (self.next_plan_code, self.next_cycle)


@dataclass(frozen=True)
class Pricing:
    plans: list[PlanRow]
    current: CurrentPlan
    # The plan a capped organization at its cap is offered, right there: the next plan up
    # that a partner may choose and that prices requests beyond its allowance.
    upgrade_to: PlanRow | None


def plans(session: Session) -> list[PlanRow]:
    """Every plan, in order (Free first, Carrier last)."""
    rows = session.exec(select(Plan).order_by(col(Plan.position), col(Plan.code))).all()
    return [_row(plan) for plan in rows]


def pricing(session: Session, actor: Actor, *, now: datetime | None = None) -> Pricing:
    """The pricing table with the actor's organization's plan and usage (Billing readers)."""
    require(actor, Capability.BILLING_READ)
    rows = plans(session)
    current = current_plan(session, actor, now=now)
    return Pricing(rows, current, _upgrade_for(rows, current))


def current_plan(session: Session, actor: Actor, *, now: datetime | None = None) -> CurrentPlan:
    """The organization's plan and this period's requests used vs. its allowance; every member
    may read it (requests vs. allowance is on the Dashboard of every role)."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    found = session.exec(
        select(Subscription, Plan, BillingAccount)
        .join(Plan, col(Plan.code) == Subscription.plan_code)
        .join(BillingAccount, col(BillingAccount.organization_id) == Subscription.organization_id)
        .where(Subscription.organization_id == organization_id)
    ).first()
    if found is None:
        raise NotFound("Your organization has no subscription.")
    subscription, plan, account = found
    time_zone = platform.billing_time_zone(session)
    local = (now or utcnow()).astimezone(time_zone)
    period = f"{local.year:04d}-{local.month:02d}"
    next_plan = (
        session.get(Plan, subscription.next_plan_code) if subscription.next_plan_code else None
    )
    return CurrentPlan(
        plan_code=plan.code,
        plan_name=plan.name,
        cycle=subscription.cycle,
        on_contract=plan_terms.on_contract(subscription, plan),
        credit_limit_cents=plan_terms.credit_limit_cents(subscription, plan),
        credit_limit_by_staff=subscription.credit_limit_override_cents is not None,
        next_plan_code=subscription.next_plan_code,
        next_plan_name=next_plan.name if next_plan else None,
        next_cycle=(subscription.next_cycle or subscription.cycle) if next_plan else None,
        changes_at=plan_terms.pending_change_at(subscription, time_zone),
        period=period,
        period_ends_at=_next_month(local),
        requests_used=account.period_requests if account.period >= period else 0,
        allowance=plan_terms.included_requests(subscription, plan),
        capped=plan_terms.additional_request_micros(subscription, plan) is None,
    )


def _row(plan: Plan) -> PlanRow:
    return PlanRow(
        code=plan.code,
        name=plan.name,
        monthly_cents=plan.monthly_cents,
        yearly_monthly_cents=plan.yearly_monthly_cents,
        included_requests=plan.included_requests,
        additional_request_micros=plan.additional_request_micros,
        lookups_per_second=plan.lookups_per_second,
        support_sla=plan.support_sla,
        by_contract=plan.by_contract,
        credit_limit_cents=plan.credit_limit_cents,
        cycles=plan_terms.cycles_of(plan),
    )


def _upgrade_for(rows: list[PlanRow], current: CurrentPlan) -> PlanRow | None:
    if not current.at_cap or current.on_contract:
        return None
    names = [row.code for row in rows]
    above = rows[names.index(current.plan_code) + 1 :] if current.plan_code in names else []
    return next(
        (row for row in above if row.cycles and row.additional_request_micros is not None), None
    )


def _next_month(local: datetime) -> datetime:
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=local.tzinfo)
