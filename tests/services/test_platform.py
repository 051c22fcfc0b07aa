"""Platform settings: typed reads with their defaults, and staff-only, validated, audited
changes: rows in the database with defaults, edited by staff (docs/product.md, Billing model)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, delete, select

from portal_core import db
from portal_core.errors import PermissionDenied, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import PlatformSetting
from portal_core.services import platform
from tests.factories import actor_of, make_staff, make_user
from tests.services.support import count, fetch


@pytest.fixture
def staff(engine):
    with db.write_session(engine) as session:
        return actor_of(make_staff(session))


def _read(engine, reader):
    with db.read_session(engine) as session:
        return reader(session)


def _update(engine, actor, key, value, **options):
    with db.write_session(engine) as session:
        return platform.update_setting(session, actor, key, value, **options)


def test_the_settings_read_as_seeded_from_data(engine):
    assert _read(engine, platform.card_fee_millipercent) == 2_950
    assert _read(engine, platform.billing_time_zone) == ZoneInfo("America/Toronto")
    assert _read(engine, platform.seller) == platform.Seller(
        legal_name="SIPSTACK Inc.",
        address="100 Queen Street West, Toronto, ON M5H 2N2, Canada",
        gst_hst_number="123456789 RT0001",
        qst_number="1234567890 TQ0001",
    )


def test_logs_keep_product_events_400_days_unless_staff_say_otherwise(engine):
    assert _read(engine, platform.log_retention_days) == 400
    with db.write_session(engine) as session:
        session.exec(
            delete(PlatformSetting).where(col(PlatformSetting.key) == platform.LOG_RETENTION_DAYS)
        )

    assert _read(engine, platform.log_retention_days) == 400


def test_a_missing_row_reads_as_its_shipped_default(engine, staff):
    _update(engine, staff, platform.CARD_FEE, "3100")
    with db.write_session(engine) as session:
        session.exec(delete(PlatformSetting).where(col(PlatformSetting.key) == platform.CARD_FEE))

    assert _read(engine, platform.card_fee_millipercent) == 2_950


def test_staff_change_a_setting_and_the_change_is_audited(engine, staff):
    when = datetime(2026, 11, 2, 10, 0, tzinfo=ZoneInfo("UTC"))

    _update(engine, staff, platform.CARD_FEE, " 3500 ", now=when)

    assert _read(engine, platform.card_fee_millipercent) == 3_500
    stored = fetch(engine, PlatformSetting, platform.CARD_FEE)
    assert (stored.value, stored.updated_by, stored.updated_at) == ("3500", staff.user_id, when)
    with db.read_session(engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "platform_setting.updated")
        ).one()
    assert (event.actor_user_id, event.subject, event.detail) == (
        staff.user_id,
        platform.CARD_FEE,
        "2950 → 3500",
    )


@pytest.mark.parametrize(
    ("key", "value", "reader", "expected"),
    [
        (
            platform.BILLING_TIME_ZONE,
            "America/Vancouver",
            platform.billing_time_zone,
            ZoneInfo("America/Vancouver"),
        ),
        (platform.CARD_FEE, "0", platform.card_fee_millipercent, 0),
        (platform.LOG_RETENTION_DAYS, "30", platform.log_retention_days, 30),
        (platform.LOG_RETENTION_DAYS, " 03650 ", platform.log_retention_days, 3_650),
        (platform.CARD_FEE, "010000", platform.card_fee_millipercent, 10_000),
        (
            platform.SELLER_QST_NUMBER,
            "1006170506 TQ0002",
            lambda session: platform.seller(session).qst_number,
            "1006170506 TQ0002",
        ),
    ],
    ids=[
        "time-zone",
        "no-fee",
        "shortest-retention",
        "longest-retention",
        "ten-percent-fee",
        "qst-number",
    ],
)
def test_a_changed_setting_reads_back_typed(engine, staff, key, value, reader, expected):
    _update(engine, staff, key, value)

    assert _read(engine, reader) == expected


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
def test_a_partner_may_not_change_a_setting(engine, role):
    with db.write_session(engine) as session:
        partner = actor_of(make_user(session, role=role))

    with pytest.raises(PermissionDenied):
        _update(engine, partner, platform.CARD_FEE, "0")

    assert _read(engine, platform.card_fee_millipercent) == 2_950
    assert count(engine, AuditEvent, col(AuditEvent.action) == "platform_setting.updated") == 0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (platform.CARD_FEE, "10001", "between 0 and 10,000 (0 % to 10 %)"),
        (platform.CARD_FEE, "-5", "a whole number (2950 is 2.95 %)"),
        (platform.CARD_FEE, "2.95", "a whole number (2950 is 2.95 %)"),
        (platform.CARD_FEE, "", "a whole number"),
        (platform.LOG_RETENTION_DAYS, "29", "30 to 3,650 days: enter a whole number of days."),
        (platform.LOG_RETENTION_DAYS, "3651", "30 to 3,650 days"),
        (platform.LOG_RETENTION_DAYS, "400.5", "a whole number of days"),
        (platform.LOG_RETENTION_DAYS, "-400", "a whole number of days"),
        (platform.LOG_RETENTION_DAYS, "", "a whole number of days"),
        (platform.LOG_RETENTION_DAYS, "٤٠٠", "a whole number of days"),
        (platform.BILLING_TIME_ZONE, "Mars/Olympus_Mons", "is not a time zone"),
        (platform.BILLING_TIME_ZONE, "../../etc/passwd", "is not a time zone"),
        (platform.BILLING_TIME_ZONE, "", "is not a time zone"),
        (platform.SELLER_LEGAL_NAME, "   ", "Enter the seller's legal name."),
        (platform.SELLER_GST_HST_NUMBER, "", "Enter the GST/HST registration number."),
        (platform.SELLER_QST_NUMBER, "x" * 501, "at most 500 characters"),
        (platform.SELLER_ADDRESS, "1 Front St\nToronto", "characters that are not allowed"),
    ],
)
def test_a_bad_value_is_refused_with_a_message_and_changes_nothing(
    engine, staff, key, value, message
):
    before = fetch(engine, PlatformSetting, key).value

    with pytest.raises(ValidationFailed) as refused:
        _update(engine, staff, key, value)

    assert message in refused.value.errors[key]
    assert fetch(engine, PlatformSetting, key).value == before
    assert count(engine, AuditEvent, col(AuditEvent.action) == "platform_setting.updated") == 0


def test_an_unknown_key_is_refused(engine, staff):
    with pytest.raises(ValidationFailed) as refused:
        _update(engine, staff, "free_money", "1")

    assert refused.value.errors == {"key": "“free_money” is not a platform setting."}
