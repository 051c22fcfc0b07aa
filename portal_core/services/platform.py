"""The platform settings: the staff-only change of one. The typed reads live in
``portal_core.rules.platform`` (the read side uses them too) and are named here as well.

Rules for a new value (``update_setting``): the fee is a whole number of thousandths of a
percent from 0 to 10,000 (0 %–10 %: some jurisdictions cap card surcharges, and nothing
above 10 % is a plausible convenience fee); the time zone is an IANA name such as
America/Toronto; the seller's details are non-empty single-line text of at most 500
characters (the column's width); auto-recharge's daily limit is a whole number of charges
from 1 to 24 (at least once, so enabling it means something; at most once an hour on
average, beyond which a card issuer sees a pattern of repeated charges); the log retention is
a whole number of days from 30 (a month's events stay, whatever a partner needs to check an
invoice against) to 3,650 (ten years, beyond which the table only grows).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import available_timezones

from sqlmodel import Session

from portal_core.errors import ValidationFailed
from portal_core.models.base import utcnow
from portal_core.models.billing import PlatformSetting
from portal_core.permissions import Actor, Capability, require
from portal_core.rules.platform import (  # noqa: F401  (the reads, for the services' use)
    AUTO_RECHARGE_MAX_PER_DAY,
    BILLING_TIME_ZONE,
    CARD_FEE,
    KEYS,
    LOG_RETENTION_DAYS,
    SELLER_ADDRESS,
    SELLER_GST_HST_NUMBER,
    SELLER_LEGAL_NAME,
    SELLER_QST_NUMBER,
    TEXT_LABELS,
    Seller,
    auto_recharge_max_per_day,
    billing_day,
    billing_time_zone,
    card_fee_millipercent,
    defaults,
    log_retention_days,
    seller,
    shipped,
    shipped_default,
)
from portal_core.services import audit
from portal_core.services.validation import text_problem

MAX_CARD_FEE_MILLIPERCENT = 10_000  # 10 %
MAX_AUTO_RECHARGES_PER_DAY = 24
MIN_LOG_RETENTION_DAYS = 30
MAX_LOG_RETENTION_DAYS = 3_650


def update_setting(
    session: Session, actor: Actor, key: str, value: str, *, now: datetime | None = None
) -> PlatformSetting:
    """Change one setting (staff only), audited with its old and new value."""
    require(actor, Capability.STAFF)
    if key not in KEYS:
        raise ValidationFailed({"key": f"“{key}” is not a platform setting."})
    cleaned = value.strip()
    if problem := _problem(key, cleaned):
        raise ValidationFailed({key: problem})
    if key in (CARD_FEE, AUTO_RECHARGE_MAX_PER_DAY, LOG_RETENTION_DAYS):
        cleaned = str(int(cleaned))  # "02950" and "2950" are the same fee
    now = now or utcnow()
    setting = session.get(PlatformSetting, key)
    old = setting.value if setting is not None else defaults()[key]
    if setting is None:
        setting = PlatformSetting(
            key=key, value=cleaned, description=shipped()[key]["description"], updated_at=now
        )
    setting.value = cleaned
    setting.updated_at = now
    setting.updated_by = actor.user_id
    session.add(setting)
    audit.record(
        session, "platform_setting.updated", actor=actor, subject=key, detail=f"{old} → {cleaned}"
    )
    session.flush()
    return setting


def _problem(key: str, value: str) -> str | None:
    if key == CARD_FEE:
        if not value.isascii() or not value.isdigit():
            return "Enter the fee in thousandths of a percent, a whole number (2950 is 2.95 %)."
        if int(value) > MAX_CARD_FEE_MILLIPERCENT:
            return "The card fee must be between 0 and 10,000 (0 % to 10 %)."
        return None
    if key == AUTO_RECHARGE_MAX_PER_DAY:
        whole = value.isascii() and value.isdigit()
        if not whole or not 1 <= int(value) <= MAX_AUTO_RECHARGES_PER_DAY:
            return (
                f"Auto-recharge may charge a card 1 to {MAX_AUTO_RECHARGES_PER_DAY} times a day: "
                "enter a whole number."
            )
        return None
    if key == LOG_RETENTION_DAYS:
        whole = value.isascii() and value.isdigit()
        if not whole or not MIN_LOG_RETENTION_DAYS <= int(value) <= MAX_LOG_RETENTION_DAYS:
            return (
                f"Keep product events {MIN_LOG_RETENTION_DAYS} to {MAX_LOG_RETENTION_DAYS:,} "
                "days: enter a whole number of days."
            )
        return None
    if key == BILLING_TIME_ZONE:
        if value not in available_timezones():
            return f"“{value}” is not a time zone: use an IANA name such as America/Toronto."
        return None
    return text_problem(value, label=TEXT_LABELS[key], max_length=500)
