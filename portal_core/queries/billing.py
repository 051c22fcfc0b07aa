"""Read side of billing: what the top bar and the Dashboard show of an organization's money."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, select

from portal_core.models.billing import BillingAccount
from portal_core.money import micros_to_cents
from portal_core.permissions import Actor, require_organization


@dataclass(frozen=True)
class Funds:
    """An organization's figures in cents (SPEC.md, Billing model)."""

    balance_cents: int
    unbilled_cents: int
    credit_limit_cents: int

    @property
    def available_cents(self) -> int:
        """Available funds: the balance less unbilled usage."""
        return self.balance_cents - self.unbilled_cents


def funds(session: Session, actor: Actor) -> Funds:
    """The acting user's organization's funds; an organization with no entries reads $0.00."""
    return funds_of(session, require_organization(actor))


def funds_of(session: Session, organization_id: uuid.UUID) -> Funds:
    account = session.exec(
        select(BillingAccount).where(BillingAccount.organization_id == organization_id)
    ).first()
    if account is None:
        return Funds(0, 0, 0)
    return Funds(
        balance_cents=micros_to_cents(account.balance_micros),
        unbilled_cents=micros_to_cents(account.unbilled_micros),
        credit_limit_cents=micros_to_cents(account.credit_limit_micros),
    )
