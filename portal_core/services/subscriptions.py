"""An organization's plan: every organization starts on Free, with a billing account.

The credit limit starts at what the plan says (SPEC.md: twice the monthly subscription, a
figure in ``plans``); staff may set one per organization (``credit_limit_override_cents``),
which then holds across plan changes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from portal_core.errors import NotFound
from portal_core.models.billing import BillingAccount, BillingCycle, Plan, Subscription
from portal_core.money import cents_to_micros

FREE_PLAN = "free"


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
    session.add(
        Subscription(
            organization_id=organization_id,
            plan_code=plan.code,
            cycle=BillingCycle.MONTHLY,
            term_started_at=now,
            created_at=now,
            updated_at=now,
        )
    )


def credit_limit_cents(subscription: Subscription, plan: Plan) -> int:
    """The organization's credit limit: the one staff set, else its plan's (0 when neither)."""
    if subscription.credit_limit_override_cents is not None:
        return subscription.credit_limit_override_cents
    return plan.credit_limit_cents or 0
