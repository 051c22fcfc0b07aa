"""When a saved card can be charged: one rule, on one clock, everywhere.

A card works through the last day of its expiry month, and "today" is the day in the billing
time zone (``rules.platform.billing_day``): Add funds, making a card the default, turning on
auto-recharge, a recharge itself, the paid-upgrade check, the wizard's card step and the
Dashboard's checklist all ask ``usable_on`` (or its SQL twin) for the same day, so a card is
never usable on one page and refused on another.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from portal_core.models.payments import PaymentMethod
from portal_core.rules.platform import billing_day


def usable_on(exp_month: int, exp_year: int, day: date) -> bool:
    """Whether a card expiring at the end of ``exp_month``/``exp_year`` works on ``day``."""
    return (exp_year, exp_month) >= (day.year, day.month)


def expiry_month_number(exp_month: Any, exp_year: Any) -> Any:
    """The expiry as one number, 2034 × 100 + 12 = 203412 (columns or integers): it sorts by
    date and compares with ``month_number(day)`` as ``usable_on`` does."""
    return exp_year * 100 + exp_month


def month_number(day: date) -> int:
    return day.year * 100 + day.month


def has_usable_card(session: Session, organization_id: uuid.UUID, now: datetime) -> bool:
    """Whether the organization has a saved card, not removed, usable today (billing day)."""
    today = billing_day(session, now)
    card = session.exec(
        select(PaymentMethod.id).where(
            PaymentMethod.organization_id == organization_id,
            col(PaymentMethod.removed_at).is_(None),
            expiry_month_number(col(PaymentMethod.exp_month), col(PaymentMethod.exp_year))
            >= month_number(today),
        )
    ).first()
    return card is not None
