"""An organization's auto-recharge settings as the portal reads them, with the form's
defaults when none were saved (the Overview's form and the service that saves it agree)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from portal_core.models.payments import AutoRecharge

DEFAULT_THRESHOLD_CENTS = 2_000  # what the form shows before anything is saved
DEFAULT_AMOUNT_CENTS = 5_000


@dataclass(frozen=True)
class AutoRechargeSettings:
    """An organization's auto-recharge, or the form's defaults when none was saved."""

    enabled: bool
    threshold_cents: int
    amount_cents: int
    updated_at: datetime | None = None


def settings_of(session: Session, organization_id: uuid.UUID) -> AutoRechargeSettings:
    row = session.get(AutoRecharge, organization_id)
    if row is None:
        return AutoRechargeSettings(False, DEFAULT_THRESHOLD_CENTS, DEFAULT_AMOUNT_CENTS)
    return AutoRechargeSettings(row.enabled, row.threshold_cents, row.amount_cents, row.updated_at)
