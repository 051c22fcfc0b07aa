"""What was in force when: the history that lets a period be billed from what held during it.

Whatever the invoice run reads about a period — the organization's plan, cycle or contract,
the plan's fees, the province's tax rates, the buyer's details — may change between the
period's end and the run (a plan change just after midnight on the 1st, a late re-run after a
contract change, staff editing a rate or a price on the 1st, a partner moving province). So
each of them keeps its history, written by the service that changes it, in the same
transaction, and read here by instant:

- ``subscription_terms``: one row per stretch of unchanged terms (``record_terms``); a
  downgrade's row starts at its own effective date, not when it is applied.
- ``plan_prices``: a plan's fees from a date on (``record_plan_price``).
- ``tax_rate_changes``: a tax's rate from a date on (``record_tax_rate``).
- ``billing_details``: the buyer's printed details and tax region (``record_billing_details``).

Rows written before the portal kept history are "since always" (``SINCE_ALWAYS``): the
migration that added these tables filled them from what stood then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, or_, select

from portal_core.models.accounts import Organization
from portal_core.models.billing import (
    BillingCycle,
    BillingDetails,
    Plan,
    PlanPrice,
    Subscription,
    SubscriptionTerm,
    TaxRate,
    TaxRateChange,
)

# --- Writing the history --------------------------------------------------------------------


def record_terms(session: Session, subscription: Subscription, *, at: datetime) -> None:
    """The subscription's plan, cycle and contract fee hold from ``at``: close the open term
    and open one with them (or correct the open one, when it opened at ``at`` itself)."""
    open_term = session.exec(
        select(SubscriptionTerm)
        .where(
            SubscriptionTerm.organization_id == subscription.organization_id,
            col(SubscriptionTerm.effective_to).is_(None),
        )
        .order_by(col(SubscriptionTerm.effective_from).desc())
    ).first()
    figures: dict[str, object] = {
        "plan_code": subscription.plan_code,
        "cycle": subscription.cycle,
        "term_started_at": subscription.term_started_at,
        "contract_monthly_cents": subscription.contract_monthly_cents,
    }
    if open_term is not None:
        if all(getattr(open_term, name) == value for name, value in figures.items()):
            return
        if open_term.effective_from >= at:
            for name, value in figures.items():
                setattr(open_term, name, value)
            session.add(open_term)
            session.flush()
            return
        open_term.effective_to = at
        session.add(open_term)
    session.add(
        SubscriptionTerm(
            organization_id=subscription.organization_id,
            effective_from=at,
            plan_code=subscription.plan_code,
            cycle=subscription.cycle,
            term_started_at=subscription.term_started_at,
            contract_monthly_cents=subscription.contract_monthly_cents,
        )
    )
    session.flush()


def restart_terms(session: Session, subscription: Subscription, *, at: datetime) -> None:
    """Forget the terms before ``at`` and start them afresh: an organization activated now
    owes nothing for the time it spent in the activation wizard."""
    for term in session.exec(
        select(SubscriptionTerm).where(
            SubscriptionTerm.organization_id == subscription.organization_id
        )
    ).all():
        session.delete(term)
    session.flush()
    record_terms(session, subscription, at=at)


def record_plan_price(session: Session, plan: Plan, *, at: datetime) -> None:
    """The plan's fees hold from ``at``."""
    current = price_at(session, plan.code, at)
    if current is not None and (current.monthly_cents, current.yearly_monthly_cents) == (
        plan.monthly_cents,
        plan.yearly_monthly_cents,
    ):
        return
    if current is None or current.effective_from != at:
        current = PlanPrice(plan_code=plan.code, effective_from=at)
    # A second change at the same instant corrects the first.
    current.monthly_cents = plan.monthly_cents
    current.yearly_monthly_cents = plan.yearly_monthly_cents
    session.add(current)
    session.flush()


def record_tax_rate(session: Session, rate: TaxRate, *, at: datetime) -> None:
    """The tax's rate holds from ``at`` (a second change at the same instant corrects the
    first)."""
    change = session.exec(
        select(TaxRateChange).where(
            TaxRateChange.country == rate.country,
            TaxRateChange.province == rate.province,
            TaxRateChange.tax == rate.tax,
            TaxRateChange.effective_from == at,
        )
    ).first() or TaxRateChange(
        country=rate.country,
        province=rate.province,
        tax=rate.tax,
        effective_from=at,
        rate_millipercent=rate.rate_millipercent,
    )
    change.rate_millipercent = rate.rate_millipercent
    session.add(change)
    session.flush()


def record_billing_details(session: Session, organization: Organization, *, at: datetime) -> None:
    """The organization's printed details and tax region hold from ``at``."""
    figures = _details_of(organization)
    current = session.exec(
        select(BillingDetails)
        .where(BillingDetails.organization_id == organization.id)
        .order_by(col(BillingDetails.effective_from).desc())
    ).first()
    if current is not None and all(
        getattr(current, name) == value for name, value in figures.items()
    ):
        return
    if current is not None and current.effective_from >= at:
        for name, value in figures.items():
            setattr(current, name, value)
        session.add(current)
    else:
        session.add(
            BillingDetails.model_validate(
                {"organization_id": organization.id, "effective_from": at, **figures}
            )
        )
    session.flush()


def _details_of(organization: Organization) -> dict[str, str | None]:
    return {
        "name": organization.name,
        "legal_name": organization.legal_name,
        "address_line": organization.address_line,
        "city": organization.city,
        "province": organization.province,
        "postal_code": organization.postal_code,
        "country": organization.country,
        "tax_id": organization.tax_id,
    }


# --- Reading it ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A stretch of an organization's terms, clipped to nothing: as recorded."""

    plan_code: str
    cycle: BillingCycle
    term_started_at: datetime
    contract_monthly_cents: int | None
    effective_from: datetime
    effective_to: datetime | None


def terms_during(
    session: Session, organization_id: uuid.UUID, start: datetime, end: datetime
) -> list[Term]:
    """The organization's terms in force at some instant of [start, end), oldest first."""
    rows = session.exec(
        select(SubscriptionTerm)
        .where(
            SubscriptionTerm.organization_id == organization_id,
            col(SubscriptionTerm.effective_from) < end,
            or_(
                col(SubscriptionTerm.effective_to).is_(None),
                col(SubscriptionTerm.effective_to) > start,
            ),
        )
        .order_by(col(SubscriptionTerm.effective_from))
    ).all()
    return [
        Term(
            row.plan_code,
            BillingCycle(row.cycle),
            row.term_started_at,
            row.contract_monthly_cents,
            row.effective_from,
            row.effective_to,
        )
        for row in rows
    ]


def price_at(session: Session, plan_code: str, at: datetime) -> PlanPrice | None:
    """The plan's fees in force at ``at`` (None when the plan has no history)."""
    return session.exec(
        select(PlanPrice)
        .where(PlanPrice.plan_code == plan_code, col(PlanPrice.effective_from) <= at)
        .order_by(col(PlanPrice.effective_from).desc())
    ).first()


def tax_rates_at(
    session: Session, country: str, province: str, at: datetime
) -> list[tuple[str, int]]:
    """(tax, rate) of each of the province's taxes in force just before ``at`` (a period's
    end, exclusive), by tax name; a tax at 0 % is left out."""
    rows = session.exec(
        select(TaxRateChange)
        .where(
            TaxRateChange.country == country,
            TaxRateChange.province == province,
            col(TaxRateChange.effective_from) < at,
        )
        .order_by(col(TaxRateChange.tax), col(TaxRateChange.effective_from).desc())
    ).all()
    latest: dict[str, int] = {}
    for row in rows:
        latest.setdefault(row.tax, row.rate_millipercent)
    return sorted((tax, rate) for tax, rate in latest.items() if rate > 0)


def billing_details_at(
    session: Session, organization: Organization, at: datetime
) -> BillingDetails:
    """The organization's details in force just before ``at`` (a period's end, exclusive);
    its details of today when none were recorded by then."""
    found = session.exec(
        select(BillingDetails)
        .where(
            BillingDetails.organization_id == organization.id,
            col(BillingDetails.effective_from) < at,
        )
        .order_by(col(BillingDetails.effective_from).desc())
    ).first()
    if found is not None:
        return found
    return BillingDetails.model_validate(
        {"organization_id": organization.id, "effective_from": at, **_details_of(organization)}
    )
