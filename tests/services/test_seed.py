"""The demo ``make run`` seeds (README.md, Demo logins): Demo Telecom on Starter with its
funds and each past month invoiced; numbers of every line type (one private, one verified),
each scored with a history; Northwind Calling holding a number Demo Telecom claims (an open
dispute) and reporting numbers; two months of lookups of every type that leave most of the
month's allowance; and a partner's next lookup goes through."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import (
    BillingCycle,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LookupType,
    Subscription,
    UsageRecord,
)
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.models.products import (
    CommunityReport,
    DisputeStatus,
    EventAction,
    EventStatus,
    NumberScore,
    OwnershipDispute,
    ProductEvent,
    ProfileStatus,
    ReportKind,
    WhoisProfile,
)
from portal_core.permissions import Actor
from portal_core.queries import dashboard
from portal_core.queries.billing import funds_of
from portal_core.rules.numbers import PROFILE_LINE_TYPES
from portal_core.services import auth, ledger, lookups, seed
from portal_core.settings import get_settings
from tests.factories import actor_of

# A Wednesday in the middle of November, 11 a.m. in Toronto (the billing time zone).
NOW = datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
TORONTO = ZoneInfo("America/Toronto")


@pytest.fixture
def development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENV", "development")
    get_settings.cache_clear()


@pytest.fixture
def seeded(engine: Engine, development: None) -> Engine:
    assert seed.seed_demo(engine, now=NOW)
    return engine


def _organization(session: Session, name: str) -> Organization:
    return session.exec(select(Organization).where(Organization.name == name)).one()


def _member(session: Session, email: str) -> Actor:
    return actor_of(session.exec(select(User).where(User.email == email)).one())


def _profiles(session: Session, organization: Organization) -> list[WhoisProfile]:
    return list(
        session.exec(
            select(WhoisProfile).where(WhoisProfile.organization_id == organization.id)
        ).all()
    )


def _lookups_by_month(session: Session, organization: Organization) -> Counter[str]:
    """The lookups that went through, by month of the billing time zone."""
    made = session.exec(
        select(ProductEvent.created_at).where(
            ProductEvent.organization_id == organization.id,
            ProductEvent.action == EventAction.LOOKUP,
            ProductEvent.status == EventStatus.OK,
        )
    ).all()
    return Counter(moment.astimezone(TORONTO).strftime("%Y-%m") for moment in made)


def _invoices(session: Session, organization: Organization) -> list[Invoice]:
    return list(
        session.exec(
            select(Invoice)
            .where(Invoice.organization_id == organization.id)
            .order_by(col(Invoice.period))
        ).all()
    )


def test_demo_telecom_is_on_starter_with_its_funds_and_each_past_month_invoiced(seeded):
    with db.read_session(seeded) as session:
        demo = _organization(session, "Demo Telecom")
        northwind = _organization(session, seed.NORTHWIND)
        subscription = session.get_one(Subscription, demo.id)
        payments = session.exec(select(Payment).where(Payment.organization_id == demo.id)).all()
        invoices = _invoices(session, demo)
        lines = {
            invoice.period: [
                (line.description, line.amount_cents)
                for line in session.exec(
                    select(InvoiceLine).where(InvoiceLine.invoice_id == invoice.id)
                )
            ]
            for invoice in invoices
        }
        funds = funds_of(session, demo.id)
        northwind_invoices = _invoices(session, northwind)
        mismatches = ledger.balance_mismatches(session)

    assert (subscription.plan_code, subscription.cycle) == ("starter", BillingCycle.MONTHLY)
    assert demo.activated_at is not None and demo.activated_at < NOW - timedelta(days=45)
    assert [(p.amount_cents, p.status) for p in payments] == [(25_000, PaymentStatus.SUCCEEDED)]
    # Signed up on September 21st: September and October have ended, and each was billed
    # Starter's whole fee (its lookups were within the allowance) with Ontario's HST.
    assert [(i.period, i.status, i.subtotal_cents, i.total_cents) for i in invoices] == [
        ("2026-09", InvoiceStatus.PAID, 3_000, 3_390),
        ("2026-10", InvoiceStatus.PAID, 3_000, 3_390),
    ]
    assert lines == {
        "2026-09": [("Starter plan, September 2026", 3_000)],
        "2026-10": [("Starter plan, October 2026", 3_000)],
    }
    # Each issued on the 1st at 00:05, as the scheduler's invoice run.
    assert [i.issued_at.astimezone(TORONTO).strftime("%m-%d %H:%M") for i in invoices] == [
        "10-01 00:05",
        "11-01 00:05",
    ]
    assert (funds.balance_cents, funds.unbilled_cents) == (25_000 - 2 * 3_390, 0)
    assert northwind_invoices == []  # Free: nothing to invoice
    assert mismatches == []


def test_demo_numbers_cover_every_line_type_one_private_one_verified_each_scored(seeded):
    with db.read_session(seeded) as session:
        demo = _organization(session, "Demo Telecom")
        northwind = _organization(session, seed.NORTHWIND)
        active = [
            profile
            for profile in _profiles(session, demo) + _profiles(session, northwind)
            if profile.status == ProfileStatus.ACTIVE
        ]
        history = Counter(
            (organization_id, number)
            for organization_id, number in session.exec(
                select(NumberScore.organization_id, NumberScore.number)
            )
        )
    demo_active = [profile for profile in active if profile.organization_id == demo.id]

    line_types = Counter(profile.line_type for profile in demo_active)
    assert set(line_types) == {line_type.value for line_type in PROFILE_LINE_TYPES}
    assert all(
        phonenumbers.is_valid_number(phonenumbers.parse(profile.number)) for profile in active
    )
    assert [profile.private for profile in demo_active].count(True) == 1
    assert [profile.verified_at is not None for profile in demo_active].count(True) == 1
    # Complete and bare profiles, and some in between.
    assert len({profile.completeness_permille for profile in demo_active}) >= 4
    assert max(profile.completeness_permille for profile in demo_active) == 1_000
    # Every registered number has its score, and a point of its history each day since it
    # was registered (the nightly snapshot's, and those of the days it changed).
    assert all(profile.score_millis is not None for profile in active)
    assert all(
        history[(profile.organization_id, profile.number)]
        >= (NOW.date() - profile.created_at.date()).days
        for profile in active
    )
    assert demo.carrier_score_millis is not None and northwind.carrier_score_millis is not None


def test_northwind_holds_a_number_demo_telecom_claims_in_an_open_dispute(seeded):
    with db.write_session(seeded) as session:
        logged_in = auth.log_in(
            session,
            seed.NORTHWIND_OWNER_EMAIL,
            seed.NORTHWIND_OWNER_PASSWORD,
            ip_address="127.0.0.1",
        )
    with db.read_session(seeded) as session:
        demo = _organization(session, "Demo Telecom")
        northwind = _organization(session, seed.NORTHWIND)
        disputes = session.exec(select(OwnershipDispute)).all()
        claim = session.exec(
            select(WhoisProfile).where(
                WhoisProfile.organization_id == demo.id,
                WhoisProfile.status == ProfileStatus.PENDING,
            )
        ).one()
        held = session.exec(
            select(WhoisProfile)
            .where(WhoisProfile.number == claim.number)
            .where(WhoisProfile.status == ProfileStatus.ACTIVE)
        ).one()

    assert (logged_in.view.role, logged_in.view.organization_id) == (Role.OWNER, northwind.id)
    assert [
        (d.status, d.number, d.holder_organization_id, d.claimant_organization_id) for d in disputes
    ] == [(DisputeStatus.OPEN, claim.number, northwind.id, demo.id)]
    assert held.organization_id == northwind.id and claim.score_millis is None  # unscored


def test_northwind_reported_one_demo_number_and_numbers_nobody_registered(seeded):
    with db.read_session(seeded) as session:
        demo = _organization(session, "Demo Telecom")
        northwind = _organization(session, seed.NORTHWIND)
        registered = {
            profile.number: profile.organization_id
            for profile in session.exec(select(WhoisProfile))
        }
        made = session.exec(select(CommunityReport)).all()
        scored = session.exec(
            select(NumberScore.score_millis)
            .where(NumberScore.number.in_([r.number for r in made]))  # type: ignore[attr-defined]
            .order_by(col(NumberScore.day))
        ).all()

    assert {report.organization_id for report in made} == {northwind.id}
    on_demo = [report for report in made if registered.get(report.number) == demo.id]
    nobody = [report for report in made if report.number not in registered]
    assert [report.kind for report in on_demo] == [ReportKind.SPAM]
    assert len(nobody) >= 2 and ReportKind.SPAM in {report.kind for report in nobody}
    assert len(on_demo) + len(nobody) == len(made)
    # The spam report cost the Demo number score from its day on.
    assert len(scored) >= 2 and scored[-1] < max(scored)


def test_two_months_of_lookups_of_every_type_leave_most_of_the_allowance(seeded):
    with db.read_session(seeded) as session:
        demo = _organization(session, "Demo Telecom")
        developer = _member(session, seed.demo_email(Role.DEVELOPER))
        by_month = _lookups_by_month(session, demo)
        types = set(
            session.exec(
                select(ProductEvent.lookup_type).where(
                    ProductEvent.organization_id == demo.id,
                    ProductEvent.action == EventAction.LOOKUP,
                )
            ).all()
        )
        latest = session.exec(
            select(func.max(ProductEvent.created_at)).where(ProductEvent.organization_id == demo.id)
        ).one()
        metered = Counter(
            (period, included, cost)
            for period, included, cost in session.exec(
                select(UsageRecord.period, UsageRecord.included, UsageRecord.cost_micros).where(
                    UsageRecord.organization_id == demo.id
                )
            )
        )
        requests = dashboard.requests_this_month(session, developer, now=NOW)
        tiles = dashboard.product_tiles(session, developer, now=NOW)

    assert by_month["2026-10"] >= 250  # last month
    assert by_month["2026-11"] >= 100  # this month, to the 18th
    assert types == {lookup_type.value for lookup_type in LookupType}
    assert latest is not None and latest < NOW
    # Every lookup went through the meter, each within the allowance.
    assert metered == {
        (period, True, 0): by_month[period] for period in ("2026-09", "2026-10", "2026-11")
    }
    assert (requests.plan_name, requests.allowance) == ("Starter", 10_000)
    assert requests.used == by_month["2026-11"] and requests.used * 10 < requests.allowance
    assert (tiles.lookups_this_month, tiles.registered_numbers) == (requests.used, 7)
    assert tiles.lookups_today > 0 and tiles.carrier_score_millis == demo.carrier_score_millis


def test_the_demo_developer_s_next_lookup_goes_through_within_the_allowance(seeded):
    with db.read_session(seeded) as session:
        developer = _member(session, seed.demo_email(Role.DEVELOPER))

    result = lookups.look_up(
        seeded,
        developer,
        source="+1 416 555 0177",
        destination=seed.MAIN_LINE.number,
        lookup_type=LookupType.SOURCE_RISK,
        request_key="after-the-seed",
        now=NOW + timedelta(minutes=1),
    )

    assert (result.included, result.cost_micros, result.replayed) == (True, 0, False)
    assert result.event_id is not None
    assert result.score.band.remark  # scored, with its remark


def test_seeded_just_after_midnight_on_the_1st_last_month_is_invoiced_and_this_one_begun(
    engine, development
):
    now = datetime(2026, 12, 1, 0, 30, tzinfo=TORONTO).astimezone(UTC)

    assert seed.seed_demo(engine, now=now)

    with db.read_session(engine) as session:
        demo = _organization(session, "Demo Telecom")
        developer = _member(session, seed.demo_email(Role.DEVELOPER))
        periods = [invoice.period for invoice in _invoices(session, demo)]
        by_month = _lookups_by_month(session, demo)
        requests = dashboard.requests_this_month(session, developer, now=now)
    assert periods == ["2026-10", "2026-11"]
    assert by_month["2026-11"] >= 250 and by_month["2026-12"] > 0
    assert requests.used == by_month["2026-12"]


def test_the_demo_is_seeded_once(seeded):
    assert not seed.seed_demo(seeded, now=NOW + timedelta(days=1))

    with db.read_session(seeded) as session:
        organizations = session.exec(select(func.count()).select_from(Organization)).one()
    assert organizations == 2
