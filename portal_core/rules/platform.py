"""The platform settings as the portal reads them: typed, with their shipped defaults.

The card convenience fee, the billing time zone, auto-recharge's daily limit, how long Logs
keeps product events and SIPSTACK's details printed on invoices are rows of
``platform_settings`` that staff edit (``services.platform.update_setting``), never constants
in code. Each read falls back to the
default shipped in ``data/platform_settings.csv`` (the figure the migration seeded) when its
row is missing, so a partly seeded database still reads sensibly.

**One clock for billing.** Days and months of billing are those of the billing time zone:
``billing_day`` is what "today" means for a card's expiry, auto-recharge's daily limit and
the month a request counts in, everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from portal_core import reference
from portal_core.models.billing import PlatformSetting

CARD_FEE = "card_fee_millipercent"
BILLING_TIME_ZONE = "billing_time_zone"
SELLER_LEGAL_NAME = "seller_legal_name"
SELLER_ADDRESS = "seller_address"
SELLER_GST_HST_NUMBER = "seller_gst_hst_number"
SELLER_QST_NUMBER = "seller_qst_number"
AUTO_RECHARGE_MAX_PER_DAY = "auto_recharge_max_per_day"
LOG_RETENTION_DAYS = "log_retention_days"

TEXT_LABELS = {
    SELLER_LEGAL_NAME: "the seller's legal name",
    SELLER_ADDRESS: "the seller's address",
    SELLER_GST_HST_NUMBER: "the GST/HST registration number",
    SELLER_QST_NUMBER: "the QST registration number",
}
KEYS: tuple[str, ...] = (
    CARD_FEE,
    BILLING_TIME_ZONE,
    *TEXT_LABELS,
    AUTO_RECHARGE_MAX_PER_DAY,
    LOG_RETENTION_DAYS,
)


@dataclass(frozen=True)
class Seller:
    """SIPSTACK as it appears on its invoices."""

    legal_name: str
    address: str
    gst_hst_number: str
    qst_number: str


@cache
def shipped() -> dict[str, dict[str, str]]:
    return {row["key"]: row for row in reference.platform_settings()}


def defaults() -> dict[str, str]:
    return {key: row["value"] for key, row in shipped().items()}


def shipped_default(key: str) -> str:
    """A setting's shipped default (``data/platform_settings.csv``), should its row be gone."""
    return defaults()[key]


def _values(session: Session, keys: tuple[str, ...]) -> dict[str, str]:
    rows = session.exec(
        select(PlatformSetting.key, PlatformSetting.value).where(col(PlatformSetting.key).in_(keys))
    ).all()
    stored = dict(rows)
    return {key: stored.get(key, defaults()[key]) for key in keys}


def card_fee_millipercent(session: Session) -> int:
    """The card convenience fee in thousandths of a percent (2950 = 2.95 %)."""
    return int(_values(session, (CARD_FEE,))[CARD_FEE])


def billing_time_zone(session: Session) -> ZoneInfo:
    """The time zone whose month boundaries decide billing periods."""
    return ZoneInfo(_values(session, (BILLING_TIME_ZONE,))[BILLING_TIME_ZONE])


def auto_recharge_max_per_day(session: Session) -> int:
    """How many auto-recharges may charge an organization's card in one billing-time-zone day."""
    return int(_values(session, (AUTO_RECHARGE_MAX_PER_DAY,))[AUTO_RECHARGE_MAX_PER_DAY])


def log_retention_days(session: Session) -> int:
    """How many days product events are kept for Logs before the nightly pruning deletes them."""
    return int(_values(session, (LOG_RETENTION_DAYS,))[LOG_RETENTION_DAYS])


def seller(session: Session) -> Seller:
    values = _values(session, tuple(TEXT_LABELS))
    return Seller(
        legal_name=values[SELLER_LEGAL_NAME],
        address=values[SELLER_ADDRESS],
        gst_hst_number=values[SELLER_GST_HST_NUMBER],
        qst_number=values[SELLER_QST_NUMBER],
    )


def billing_day(session: Session, now: datetime) -> date:
    """The day ``now`` falls on in the billing time zone: "today" for billing."""
    return now.astimezone(billing_time_zone(session)).date()
