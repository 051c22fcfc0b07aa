"""The platform settings: typed reads, and the staff-only change of one (SPEC.md, Billing model).

The card convenience fee, the billing time zone and SIPSTACK's details printed on invoices are
rows of ``platform_settings`` that staff edit, never constants in code. Each read falls back
to the default shipped in ``data/platform_settings.csv`` (the figure the migration seeded)
when its row is missing, so a partly seeded database still reads sensibly.

Rules for a new value (``update_setting``): the fee is a whole number of thousandths of a
percent from 0 to 10,000 (0 %–10 %: some jurisdictions cap card surcharges, and nothing
above 10 % is a plausible convenience fee); the time zone is an IANA name such as
America/Toronto; the seller's details are non-empty single-line text of at most 500
characters (the column's width); auto-recharge's daily limit is a whole number of charges
from 1 to 24 (at least once, so enabling it means something; at most once an hour on
average, beyond which a card issuer sees a pattern of repeated charges).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlmodel import Session, col, select

from portal_core import reference
from portal_core.errors import ValidationFailed
from portal_core.models.base import utcnow
from portal_core.models.billing import PlatformSetting
from portal_core.permissions import Actor, Capability, require
from portal_core.services import audit
from portal_core.services.validation import text_problem

CARD_FEE = "card_fee_millipercent"
BILLING_TIME_ZONE = "billing_time_zone"
SELLER_LEGAL_NAME = "seller_legal_name"
SELLER_ADDRESS = "seller_address"
SELLER_GST_HST_NUMBER = "seller_gst_hst_number"
SELLER_QST_NUMBER = "seller_qst_number"
AUTO_RECHARGE_MAX_PER_DAY = "auto_recharge_max_per_day"

MAX_CARD_FEE_MILLIPERCENT = 10_000  # 10 %
MAX_AUTO_RECHARGES_PER_DAY = 24

_TEXT_LABELS = {
    SELLER_LEGAL_NAME: "the seller's legal name",
    SELLER_ADDRESS: "the seller's address",
    SELLER_GST_HST_NUMBER: "the GST/HST registration number",
    SELLER_QST_NUMBER: "the QST registration number",
}
KEYS: tuple[str, ...] = (CARD_FEE, BILLING_TIME_ZONE, *_TEXT_LABELS, AUTO_RECHARGE_MAX_PER_DAY)


@dataclass(frozen=True)
class Seller:
    """SIPSTACK as it appears on its invoices."""

    legal_name: str
    address: str
    gst_hst_number: str
    qst_number: str


@cache
def _shipped() -> dict[str, dict[str, str]]:
    return {row["key"]: row for row in reference.platform_settings()}


def _defaults() -> dict[str, str]:
    return {key: row["value"] for key, row in _shipped().items()}


def shipped_default(key: str) -> str:
    """A setting's shipped default (``data/platform_settings.csv``), should its row be gone."""
    return _defaults()[key]


def _values(session: Session, keys: tuple[str, ...]) -> dict[str, str]:
    rows = session.exec(
        select(PlatformSetting.key, PlatformSetting.value).where(col(PlatformSetting.key).in_(keys))
    ).all()
    stored = dict(rows)
    return {key: stored.get(key, _defaults()[key]) for key in keys}


def card_fee_millipercent(session: Session) -> int:
    """The card convenience fee in thousandths of a percent (2950 = 2.95 %)."""
    return int(_values(session, (CARD_FEE,))[CARD_FEE])


def billing_time_zone(session: Session) -> ZoneInfo:
    """The time zone whose month boundaries decide billing periods."""
    return ZoneInfo(_values(session, (BILLING_TIME_ZONE,))[BILLING_TIME_ZONE])


def auto_recharge_max_per_day(session: Session) -> int:
    """How many auto-recharges may charge an organization's card in one billing-time-zone day."""
    return int(_values(session, (AUTO_RECHARGE_MAX_PER_DAY,))[AUTO_RECHARGE_MAX_PER_DAY])


def seller(session: Session) -> Seller:
    values = _values(session, tuple(_TEXT_LABELS))
    return Seller(
        legal_name=values[SELLER_LEGAL_NAME],
        address=values[SELLER_ADDRESS],
        gst_hst_number=values[SELLER_GST_HST_NUMBER],
        qst_number=values[SELLER_QST_NUMBER],
    )


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
    if key in (CARD_FEE, AUTO_RECHARGE_MAX_PER_DAY):
        cleaned = str(int(cleaned))  # "02950" and "2950" are the same fee
    now = now or utcnow()
    setting = session.get(PlatformSetting, key)
    old = setting.value if setting is not None else _defaults()[key]
    if setting is None:
        setting = PlatformSetting(
            key=key, value=cleaned, description=_shipped()[key]["description"], updated_at=now
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
    if key == BILLING_TIME_ZONE:
        if value not in available_timezones():
            return f"“{value}” is not a time zone: use an IANA name such as America/Toronto."
        return None
    return text_problem(value, label=_TEXT_LABELS[key], max_length=500)
