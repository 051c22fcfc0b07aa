"""What the Dashboard reads (docs/product.md, Pages › Dashboard): the setup checklist, the
month's requests against the plan's allowance, the month-to-date spend, spend per month by
lookup type, the balance over time, how many days the funds last, and the products' tiles
(lookups today and this month, registered numbers, the carrier score).

Every figure is of the acting user's organization. Who sees what (docs/product.md, Roles):
the requests against the allowance are for every role, like the top bar's funds; the spend
figures, the charts and the days of funds left need ``BILLING_READ`` (Billing and Explore are
for owner, admin and billing only, and the balance's history is Transactions in a picture).

Days and months are those of the billing time zone (the platform setting), the months that
invoices bill. Usage figures come from the daily roll-up ``usage_daily``, which the meter
keeps in the billing time zone's days, aggregated in SQL (docs/architecture.md, rule 9;
docs/architecture.md, The hot path); the balance over time comes from the balance each
ledger entry carries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, extract, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import BrandDomain, Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    LedgerEntry,
    Plan,
    Subscription,
    UsageDaily,
)
from portal_core.models.products import (
    EventAction,
    EventStatus,
    ProductEventDaily,
    WhoisProfile,
)
from portal_core.money import cents_to_micros
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.billing import funds
from portal_core.rules import platform
from portal_core.rules.cards import has_usable_card

SPEND_MONTHS = 12  # spend per month: this month and the 11 before it
BALANCE_DAYS = 90  # balance over time: today and the 89 days before it
RUNWAY_DAYS = 30  # days of funds left: at the average daily spend of the last 30 days
_NO_PLAN = "Your organization has no plan yet: choose one in Billing › Pricing."


@dataclass(frozen=True)
class ChecklistItem:
    label: str
    done: bool
    # Where a partner does it (a registry page id), for an item not done yet.
    page_id: str | None = None


def setup_checklist(
    session: Session, actor: Actor, *, now: datetime | None = None
) -> list[ChecklistItem]:
    """The setup checklist (docs/product.md, Pages › Dashboard): company details, a brand
    domain, a plan, a usable card, a first number registered in Whois Profiles."""
    organization_id = require_organization(actor)
    organization = session.get(Organization, organization_id)
    domains = session.exec(
        select(func.count())
        .select_from(BrandDomain)
        .where(BrandDomain.organization_id == organization_id)
    ).one()
    company_done = bool(
        organization
        and organization.legal_name
        and organization.country
        and organization.address_line
    )
    subscription = session.get(Subscription, organization_id)
    plan = session.get(Plan, subscription.plan_code) if subscription is not None else None
    return [
        ChecklistItem("Company details", company_done),
        ChecklistItem("Brand domain", domains > 0),
        ChecklistItem(
            f"Plan: {plan.name}" if plan else "Plan", plan is not None, "billing.pricing"
        ),
        ChecklistItem(
            "Payment method",
            has_usable_card(session, organization_id, now or utcnow()),
            "billing.payment_methods",
        ),
        ChecklistItem(
            "First number registered",
            session.exec(
                select(WhoisProfile.id)
                .where(col(WhoisProfile.organization_id) == organization_id)
                .limit(1)
            ).first()
            is not None,
            "partner.whois_profiles",
        ),
    ]


# --- Requests this month against the allowance (every role) ---------------------------------


@dataclass(frozen=True)
class RequestsThisMonth:
    """The billing month's requests against the plan's allowance (a contract's, on Carrier).

    ``capped`` plans (Free; a contract without a price per additional request) refuse requests
    past the allowance; the others bill each request beyond it.
    """

    period: str  # YYYY-MM, in the billing time zone
    first_day: date  # of the period
    used: int
    allowance: int
    plan_code: str
    plan_name: str
    by_contract: bool
    capped: bool
    price_micros: int | None = None  # per request past the allowance; None when capped

    @property
    def at_cap(self) -> bool:
        """No request is left this month: the plan stops them until the next month."""
        return self.capped and self.used >= self.allowance

    @property
    def resets_on(self) -> date:
        """The first day of the next billing month, when the count starts again."""
        year, month = self.first_day.year, self.first_day.month
        return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)

    @property
    def beyond_allowance(self) -> int:
        """Requests past the allowance, each billed at the plan's price per request."""
        return max(0, self.used - self.allowance)

    @property
    def percent_used(self) -> int:
        """Share of the allowance used, 0–100 (whole percent, rounded down; 100 beyond it)."""
        if self.allowance <= 0:
            return 100 if self.used > 0 else 0
        return min(100, self.used * 100 // self.allowance)


def requests_this_month(
    session: Session, actor: Actor, *, now: datetime | None = None
) -> RequestsThisMonth:
    """The organization's requests this billing month, as the meter counts them.

    The meter keeps the count on the billing account with the month it belongs to and starts
    it again with the month's first request, so a count of an earlier month reads as 0.
    """
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    first_day = _today(session, now).replace(day=1)
    period = _period(first_day)
    row = session.execute(
        sa_select(
            col(BillingAccount.period),
            col(BillingAccount.period_requests),
            col(Plan.code),
            col(Plan.name),
            col(Plan.by_contract),
            func.coalesce(Subscription.contract_included_requests, Plan.included_requests),
            func.coalesce(
                Subscription.contract_additional_request_micros, Plan.additional_request_micros
            ),
        )
        .select_from(Subscription)
        .join(Plan, col(Plan.code) == col(Subscription.plan_code))
        .join(
            BillingAccount,
            col(BillingAccount.organization_id) == col(Subscription.organization_id),
        )
        .where(col(Subscription.organization_id) == organization_id)
    ).first()
    if row is None:
        raise NotFound(_NO_PLAN)
    counted_period, counted, code, name, by_contract, allowance, price = row
    return RequestsThisMonth(
        period=period,
        first_day=first_day,
        used=int(counted) if counted_period == period else 0,
        allowance=int(allowance),
        plan_code=str(code),
        plan_name=str(name),
        by_contract=bool(by_contract),
        capped=price is None,
        price_micros=None if price is None else int(price),
    )


# --- Month-to-date spend (billing roles) ----------------------------------------------------


@dataclass(frozen=True)
class MonthToDateSpend:
    """What the billing month has cost so far, before taxes, in micro-dollars.

    ``usage_micros`` is the cost of the month's requests beyond the allowance (those within
    it cost nothing). ``subscription_micros`` is the plan's fee for one month: the monthly
    price, a contract's monthly figure, or, on a yearly plan, its per-month price (the year
    is invoiced at once in the month its term starts; this is the month's share of it).
    """

    period: str  # YYYY-MM
    first_day: date
    usage_micros: int
    subscription_micros: int
    plan_name: str
    cycle: BillingCycle
    by_contract: bool

    @property
    def total_micros(self) -> int:
        return self.usage_micros + self.subscription_micros


def month_to_date_spend(
    session: Session, actor: Actor, *, now: datetime | None = None
) -> MonthToDateSpend:
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    today = _today(session, now)
    first_day = today.replace(day=1)
    usage = session.exec(
        select(func.coalesce(func.sum(UsageDaily.cost_micros), 0)).where(
            col(UsageDaily.organization_id) == organization_id,
            col(UsageDaily.day) >= first_day,
            col(UsageDaily.day) <= today,
        )
    ).one()
    subscription, plan = _subscription(session, organization_id)
    return MonthToDateSpend(
        period=_period(today),
        first_day=first_day,
        usage_micros=int(usage),
        subscription_micros=cents_to_micros(_monthly_fee_cents(subscription, plan)),
        plan_name=plan.name,
        cycle=BillingCycle(subscription.cycle),
        by_contract=subscription.contract_monthly_cents is not None,
    )


def _monthly_fee_cents(subscription: Subscription, plan: Plan) -> int:
    """One month of the plan's fee, by the rules the invoice run bills it (0 when none)."""
    if subscription.contract_monthly_cents is not None:
        return subscription.contract_monthly_cents
    if subscription.cycle == BillingCycle.YEARLY:
        return plan.yearly_monthly_cents or 0
    return plan.monthly_cents or 0


# --- Spend per month by lookup type (billing roles) -----------------------------------------


@dataclass(frozen=True)
class MonthlySpend:
    month: str  # YYYY-MM
    lookup_type: str
    cost_micros: int
    billable_requests: int


@dataclass(frozen=True)
class SpendByMonth:
    """Usage cost per billing month and lookup type, oldest month first.

    ``months`` lists every month of the window, with or without spend, so a chart shows the
    quiet months too; ``rows`` holds only the (month, lookup type) pairs that cost something.
    """

    months: list[str]
    rows: list[MonthlySpend]

    @property
    def total_micros(self) -> int:
        return sum(row.cost_micros for row in self.rows)


def spend_by_month(
    session: Session, actor: Actor, *, months: int = SPEND_MONTHS, now: datetime | None = None
) -> SpendByMonth:
    """The usage cost of each of the last ``months`` billing months (this one included) by
    lookup type, summed in SQL from the daily roll-up; subscription fees and taxes are not
    part of it."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    today = _today(session, now)
    window = _months_back(today.replace(day=1), months)
    year = extract("year", col(UsageDaily.day))
    month = extract("month", col(UsageDaily.day))
    cost = func.sum(UsageDaily.cost_micros)
    rows = session.execute(
        sa_select(
            year,
            month,
            col(UsageDaily.lookup_type),
            cost,
            func.sum(UsageDaily.billable_requests),
        )
        .where(
            col(UsageDaily.organization_id) == organization_id,
            col(UsageDaily.day) >= window[0],
            col(UsageDaily.day) <= today,
        )
        .group_by(year, month, col(UsageDaily.lookup_type))
        .having(cost > 0)
        .order_by(year, month, col(UsageDaily.lookup_type))
    ).all()
    return SpendByMonth(
        months=[_period(first) for first in window],
        rows=[
            MonthlySpend(
                month=f"{int(row_year):04d}-{int(row_month):02d}",
                lookup_type=str(lookup_type),
                cost_micros=int(row_cost),
                billable_requests=int(billable),
            )
            for row_year, row_month, lookup_type, row_cost, billable in rows
        ],
    )


# --- Balance over time (billing roles) ------------------------------------------------------


@dataclass(frozen=True)
class DayBalance:
    day: date
    balance_cents: int


@dataclass(frozen=True)
class BalanceHistory:
    """The balance at the end of each day, oldest first; ``has_entries`` is False when the
    organization had no ledger entry by the last day (every balance then reads $0.00)."""

    days: list[DayBalance]
    has_entries: bool


def balance_over_time(
    session: Session, actor: Actor, *, days: int = BALANCE_DAYS, now: datetime | None = None
) -> BalanceHistory:
    """The balance at the end of each of the last ``days`` days (today's: so far).

    Each ledger entry carries the balance right after it, so a day's closing balance is the
    balance of the last entry before the day's end, and a day without entries carries the
    previous one forward. Rather than reading the window's entries, one statement asks, per
    day, for that single entry: a backward step on the (organization_id, created_at) index
    each, so it costs the same at a hundred entries or a million (``bench/dashboard.py``).
    """
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    now = now or utcnow()
    time_zone = _time_zone(session)
    today = now.astimezone(time_zone).date()
    window = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    closings = [min(_start_of(day + timedelta(days=1), time_zone), now) for day in window]
    row: Any = session.execute(
        sa_select(
            *(
                _balance_before(organization_id, closing).label(f"day_{index}")
                for index, closing in enumerate(closings)
            )
        )
    ).one()
    balances = list(row)
    return BalanceHistory(
        days=[
            DayBalance(day=day, balance_cents=int(balance or 0))
            for day, balance in zip(window, balances, strict=True)
        ],
        has_entries=balances[-1] is not None,
    )


def _balance_before(organization_id: uuid.UUID, moment: datetime) -> Any:
    return (
        select(col(LedgerEntry.balance_after_cents))
        .where(
            col(LedgerEntry.organization_id) == organization_id,
            col(LedgerEntry.created_at) < moment,
        )
        .order_by(col(LedgerEntry.created_at).desc())
        .limit(1)
        .scalar_subquery()
    )


# --- Days of funds left (billing roles) -----------------------------------------------------


@dataclass(frozen=True)
class FundsRunway:
    """How many days the available funds last at the recent average daily usage cost.

    ``days`` = available funds ÷ (usage cost of the window ÷ the window's days), rounded
    down, in integers: ``available × window_days // spend``. The window is the last 30 days
    of the billing time zone, today included, or fewer for an organization created within
    them (counting the days before it existed would understate its daily spend and promise
    funds that last longer than they will). Usage cost is what requests beyond the allowance
    cost (``usage_daily``); the subscription fee, invoiced once a month, is not part of it.

    - Funds already below zero: ``days`` is 0 (requests draw on the credit limit).
    - No usage cost in the window: ``days`` is None and ``reason`` says why; nothing is
      being spent, so the funds do not run down.
    - Otherwise ``days`` ≥ 0 (0 when the funds are exactly zero).
    """

    available_cents: int
    spend_micros: int
    window_days: int
    days: int | None
    reason: str | None

    @property
    def window(self) -> str:
        """The averaging window in words: "the last 30 days", or "today" for a new account."""
        return _window(self.window_days)

    @property
    def daily_spend_micros(self) -> int:
        """The window's average daily usage cost, rounded down to a micro-dollar."""
        return self.spend_micros // self.window_days


def funds_runway(session: Session, actor: Actor, *, now: datetime | None = None) -> FundsRunway:
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    now = now or utcnow()
    time_zone = _time_zone(session)
    today = now.astimezone(time_zone).date()
    organization = session.get(Organization, organization_id)
    start = today - timedelta(days=RUNWAY_DAYS - 1)
    if organization is not None:
        start = max(start, min(today, organization.created_at.astimezone(time_zone).date()))
    window_days = (today - start).days + 1
    spend = int(
        session.exec(
            select(func.coalesce(func.sum(UsageDaily.cost_micros), 0)).where(
                col(UsageDaily.organization_id) == organization_id,
                col(UsageDaily.day) >= start,
                col(UsageDaily.day) <= today,
            )
        ).one()
    )
    available_cents = funds(session, actor).available_cents
    days: int | None
    reason: str | None
    if available_cents < 0:
        days = 0
        reason = "Your available funds are below zero: requests draw on your credit limit."
    elif spend <= 0:
        when = "today" if window_days == 1 else f"in {_window(window_days)}"
        days = None
        reason = (
            f"No usage cost {when}: requests within your plan's allowance cost nothing, so "
            "your funds are not running down."
        )
    else:
        days = cents_to_micros(available_cents) * window_days // spend
        reason = None
    return FundsRunway(
        available_cents=available_cents,
        spend_micros=spend,
        window_days=window_days,
        days=days,
        reason=reason,
    )


# --- The products' tiles (every role) ---------------------------------------------------------


@dataclass(frozen=True)
class ProductTiles:
    """Lookups that went through today and this billing month, the numbers the organization
    registered (its Whois profiles, pending ones too) and its carrier score (milli-points;
    None until it is scored)."""

    lookups_today: int
    lookups_this_month: int
    registered_numbers: int
    carrier_score_millis: int | None


def product_tiles(session: Session, actor: Actor, *, now: datetime | None = None) -> ProductTiles:
    """The lookups come from the daily roll-up of product events (a month is at most 31 of
    its days per lookup type), never from the events themselves."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    today = _today(session, now)
    daily = ProductEventDaily
    today_events = case((col(daily.day) == today, col(daily.events)), else_=0)
    row = session.execute(
        sa_select(
            func.coalesce(func.sum(today_events), 0),
            func.coalesce(func.sum(daily.events), 0),
        ).where(
            col(daily.organization_id) == organization_id,
            col(daily.day) >= today.replace(day=1),
            col(daily.day) <= today,
            col(daily.action) == EventAction.LOOKUP.value,
            col(daily.status) == EventStatus.OK.value,
        )
    ).one()
    registered = session.exec(
        select(func.count())
        .select_from(WhoisProfile)
        .where(col(WhoisProfile.organization_id) == organization_id)
    ).one()
    score = session.exec(
        select(col(Organization.carrier_score_millis)).where(
            col(Organization.id) == organization_id
        )
    ).first()
    return ProductTiles(
        lookups_today=int(row[0]),
        lookups_this_month=int(row[1]),
        registered_numbers=int(registered),
        carrier_score_millis=score,
    )


# --- Shared -----------------------------------------------------------------------------------


def _time_zone(session: Session) -> ZoneInfo:
    return platform.billing_time_zone(session)


def _today(session: Session, now: datetime | None) -> date:
    return (now or utcnow()).astimezone(_time_zone(session)).date()


def _window(days: int) -> str:
    return "today" if days == 1 else f"the last {days} days"


def _start_of(day: date, time_zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=time_zone)


def _period(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _months_back(first_day: date, months: int) -> list[date]:
    """The first days of the ``months`` months ending with ``first_day``'s, oldest first."""
    firsts = []
    year, month = first_day.year, first_day.month
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return firsts[::-1]


def _subscription(session: Session, organization_id: uuid.UUID) -> tuple[Subscription, Plan]:
    subscription = session.get(Subscription, organization_id)
    plan = session.get(Plan, subscription.plan_code) if subscription is not None else None
    if subscription is None or plan is None:
        raise NotFound(_NO_PLAN)
    return subscription, plan
