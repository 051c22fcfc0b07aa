"""The terms of an organization's plan, as every part of the portal reads them: a Carrier
contract's figures before the plan's, the credit limit, the cycles a plan offers, and when a
scheduled plan change takes effect. Services (``services.subscriptions``, the invoice run,
the meter) and the read side (Pricing, staff's billing accounts) share these rules.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from portal_core.models.billing import BillingCycle, Plan, Subscription

MONTHS_PER_TERM = 12


def credit_limit_cents(subscription: Subscription, plan: Plan) -> int:
    """The organization's credit limit: the one staff set, else its plan's (0 when neither)."""
    if subscription.credit_limit_override_cents is not None:
        return subscription.credit_limit_override_cents
    return plan.credit_limit_cents or 0


def on_contract(subscription: Subscription, plan: Plan) -> bool:
    """Whether a Carrier contract sets the terms: the by-contract plan, or contract figures
    staff recorded."""
    return plan.by_contract or subscription.contract_monthly_cents is not None


def included_requests(subscription: Subscription, plan: Plan) -> int:
    """The requests a month included: the contract's, else the plan's (what the meter
    applies)."""
    if subscription.contract_included_requests is not None:
        return subscription.contract_included_requests
    return plan.included_requests


def additional_request_micros(subscription: Subscription, plan: Plan) -> int | None:
    """The price of a request beyond the allowance: the contract's, else the plan's; None
    when requests stop at the allowance (a capped plan)."""
    if subscription.contract_additional_request_micros is not None:
        return subscription.contract_additional_request_micros
    return plan.additional_request_micros


def cycles_of(plan: Plan) -> tuple[BillingCycle, ...]:
    """The billing cycles a partner may pick for ``plan``: yearly only where it has a yearly
    price (Free has none worth a year's commitment); none for a plan by contract."""
    if plan.by_contract:
        return ()
    if plan.monthly_cents and plan.yearly_monthly_cents:
        return (BillingCycle.MONTHLY, BillingCycle.YEARLY)
    return (BillingCycle.MONTHLY,)


def term_fee_cents(plan: Plan, cycle: BillingCycle) -> int:
    """What the invoice of the month a plan starts carries for it: one month's fee, or the 12
    months of a yearly term at the yearly per-month price (``invoices._subscription_line``)."""
    if cycle == BillingCycle.YEARLY:
        return MONTHS_PER_TERM * (plan.yearly_monthly_cents or 0)
    return plan.monthly_cents or 0


def cycle_label(cycle: BillingCycle) -> str:
    return "billed yearly" if cycle == BillingCycle.YEARLY else "billed monthly"


def _month_start(year: int, month: int, time_zone: ZoneInfo) -> datetime:
    return datetime(year, month, 1, tzinfo=time_zone)


def next_boundary(subscription: Subscription, time_zone: ZoneInfo, after: datetime) -> datetime:
    """When a downgrade recorded at ``after`` takes effect: the first day of the next month for
    a monthly plan; for a yearly plan, the next start of its term's month (the paid term's
    end). This is the date at which the invoice run applies it (see the module docstring)."""
    local = after.astimezone(time_zone)
    if subscription.cycle == BillingCycle.YEARLY:
        term_month = subscription.term_started_at.astimezone(time_zone).month
        year = local.year if local.month < term_month else local.year + 1
        return _month_start(year, term_month, time_zone)
    if local.month == 12:
        return _month_start(local.year + 1, 1, time_zone)
    return _month_start(local.year, local.month + 1, time_zone)


def pending_change_at(subscription: Subscription, time_zone: ZoneInfo) -> datetime | None:
    """When a scheduled downgrade takes effect (billing time zone), or None without one: the
    date fixed when it was asked for (``next_change_at``), which the invoice run applies."""
    if subscription.next_plan_code is None:
        return None
    if subscription.next_change_at is not None:
        return subscription.next_change_at.astimezone(time_zone)
    return next_boundary(subscription, time_zone, subscription.updated_at)


def long_date(moment: datetime | date) -> str:
    """ "December 1, 2026": how dates of plan changes are written to partners."""
    return f"{moment:%B} {moment.day}, {moment.year}"
