"""Billing › Pricing's reads: the plans as rows (figures and their text), the organization's
plan, scheduled change and requests used this period (the meter's counter, in the billing
time zone), the cap of a capped plan and the upgrade it is offered; scoped and role-checked."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col

from portal_core import db
from portal_core.errors import PermissionDenied, PlanCapReached
from portal_core.models.accounts import Role, User
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    Plan,
)
from portal_core.queries import pricing
from tests.factories import actor_of, change_subscription, make_organization, make_staff, make_user
from tests.services.support import meter_one

TORONTO = ZoneInfo("America/Toronto")
MID_OCTOBER = datetime(2026, 10, 15, 12, 0, tzinfo=TORONTO)


def _member(engine, *, role: Role = Role.OWNER, **subscription_changes: object) -> User:
    with db.write_session(engine) as session:
        organization = make_organization(session)
        change_subscription(session, organization, **subscription_changes)
        return make_user(session, organization=organization, role=role)


def _counter(engine, user: User, period: str, requests: int) -> None:
    """Leave the meter's counter as the meter leaves it after ``requests`` of ``period``."""
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == user.organization_id)
            .values(period=period, period_requests=requests)
        )


def _meter(engine, user: User, now: datetime = MID_OCTOBER) -> None:
    assert user.organization_id is not None
    meter_one(engine, user.organization_id, now=now)


def _pricing(engine, user: User, now: datetime = MID_OCTOBER) -> pricing.Pricing:
    with db.read_session(engine) as session:
        return pricing.pricing(session, actor_of(user), now=now)


# --- The plans -----------------------------------------------------------------------------


def test_plans_read_in_order_with_their_figures_as_published(engine):
    with db.read_session(engine) as session:
        rows = pricing.plans(session)

    assert [
        (row.name, row.monthly_price, row.yearly_price, row.included, row.additional_request)
        for row in rows
    ] == [
        ("Free", "$0.00 / month", "—", "50 a month", "None (capped)"),
        (
            "Starter",
            "$30.00 / month",
            "$24.00 / month ($288.00 a year)",
            "10,000 a month",
            "$0.0030",
        ),
        (
            "Competitor",
            "$700.00 / month",
            "$560.00 / month ($6,720.00 a year)",
            "250,000 a month",
            "$0.0028",
        ),
        (
            "Provider",
            "$2,500.00 / month",
            "$2,000.00 / month ($24,000.00 a year)",
            "1,000,000 a month",
            "$0.0025",
        ),
        ("Carrier", "By contract", "By contract", "2,000,000+ a month", "By contract"),
    ]
    assert [(row.speed, row.support_sla) for row in rows] == [
        ("1 / second", "community"),
        ("5 / second", "community"),
        ("50 / second", "within 8 hours"),
        ("200 / second", "within 4 hours"),
        ("By contract", "within 2 hours"),
    ]
    assert [row.cycles for row in rows] == [
        (BillingCycle.MONTHLY,),
        (BillingCycle.MONTHLY, BillingCycle.YEARLY),
        (BillingCycle.MONTHLY, BillingCycle.YEARLY),
        (BillingCycle.MONTHLY, BillingCycle.YEARLY),
        (),
    ]


def test_a_price_staff_change_shows_at_once(engine):
    with db.write_session(engine) as session:
        session.execute(
            update(Plan).where(col(Plan.code) == "starter").values(additional_request_micros=2_500)
        )

    with db.read_session(engine) as session:
        starter = next(row for row in pricing.plans(session) if row.code == "starter")

    assert starter.additional_request == "$0.0025"


# --- The organization's plan ---------------------------------------------------------------


def test_the_current_plan_with_its_cycle_and_credit_limit(engine):
    owner = _member(
        engine, plan_code="competitor", cycle=BillingCycle.YEARLY, credit_limit_override_cents=9_900
    )

    current = _pricing(engine, owner).current

    assert (current.plan_code, current.plan_name, current.cycle) == (
        "competitor",
        "Competitor",
        BillingCycle.YEARLY,
    )
    assert (current.credit_limit_cents, current.credit_limit_by_staff) == (9_900, True)
    assert current.is_current("competitor", BillingCycle.YEARLY)
    assert not current.is_current("competitor", BillingCycle.MONTHLY)
    assert (current.next_plan_name, current.changes_at) == (None, None)


def test_a_scheduled_change_reads_with_the_day_it_takes_effect(engine):
    owner = _member(
        engine,
        plan_code="provider",
        next_plan_code="starter",
        next_cycle=BillingCycle.MONTHLY,
        updated_at=datetime(2026, 10, 20, tzinfo=UTC),
    )

    current = _pricing(engine, owner).current

    assert (current.next_plan_name, current.next_cycle) == ("Starter", BillingCycle.MONTHLY)
    assert current.changes_at == datetime(2026, 11, 1, tzinfo=TORONTO)
    assert current.is_scheduled("starter", BillingCycle.MONTHLY)


@pytest.mark.parametrize(
    ("now", "used"),
    [
        (datetime(2026, 11, 1, 3, 59, tzinfo=UTC), 37),  # 23:59 on October 31st in Toronto
        (datetime(2026, 11, 1, 4, 0, tzinfo=UTC), 0),  # midnight: November starts at 0
    ],
)
def test_requests_used_are_this_periods_in_the_billing_time_zone(engine, now, used):
    owner = _member(engine)
    _counter(engine, owner, "2026-10", 37)

    current = _pricing(engine, owner, now=now).current

    assert (current.requests_used, current.allowance) == (used, 50)


def test_a_contract_allowance_replaces_the_plans(engine):
    owner = _member(
        engine,
        plan_code="carrier",
        contract_monthly_cents=900_000,
        contract_included_requests=3_000_000,
        contract_additional_request_micros=1_500,
    )
    _counter(engine, owner, "2026-10", 2_000_000)

    current = _pricing(engine, owner).current

    assert (current.allowance, current.capped, current.on_contract) == (3_000_000, False, True)
    assert not current.at_cap


# --- The cap -------------------------------------------------------------------------------


def test_a_free_organization_that_used_its_allowance_is_at_its_cap_and_offered_starter(engine):
    owner = _member(engine)
    for _ in range(50):
        _meter(engine, owner)
    with pytest.raises(PlanCapReached):
        _meter(engine, owner)  # the meter agrees: the 51st is refused

    view = _pricing(engine, owner)

    assert (view.current.requests_used, view.current.at_cap) == (50, True)
    assert view.current.used_share == 1.0
    assert view.upgrade_to is not None and view.upgrade_to.code == "starter"


def test_a_free_organization_below_its_allowance_is_not_at_its_cap(engine):
    owner = _member(engine)
    _counter(engine, owner, "2026-10", 49)

    view = _pricing(engine, owner)

    assert not view.current.at_cap
    assert view.upgrade_to is None


def test_last_months_cap_does_not_hold_this_month(engine):
    owner = _member(engine)
    _counter(engine, owner, "2026-09", 50)

    assert not _pricing(engine, owner).current.at_cap


def test_a_plan_with_a_price_beyond_its_allowance_has_no_cap(engine):
    owner = _member(engine, plan_code="starter")
    _counter(engine, owner, "2026-10", 12_000)

    view = _pricing(engine, owner)

    assert (view.current.capped, view.current.at_cap, view.upgrade_to) == (False, False, None)
    assert view.current.used_share == 1.0


# --- Scope and roles -----------------------------------------------------------------------


def test_another_organizations_usage_never_counts(engine):
    owner = _member(engine)
    other = _member(engine)
    _counter(engine, other, "2026-10", 50)

    view = _pricing(engine, owner)

    assert (view.current.requests_used, view.current.at_cap) == (0, False)


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER], ids=str)
def test_roles_without_billing_read_no_pricing_but_see_their_usage(engine, role):
    member = _member(engine, role=role)
    _counter(engine, member, "2026-10", 12)

    with pytest.raises(PermissionDenied), db.read_session(engine) as session:
        pricing.pricing(session, actor_of(member), now=MID_OCTOBER)
    with db.read_session(engine) as session:
        current = pricing.current_plan(session, actor_of(member), now=MID_OCTOBER)
    assert current.requests_used == 12


def test_staff_have_no_organization_plan(engine):
    with db.write_session(engine) as session:
        staff = make_staff(session)

    with pytest.raises(PermissionDenied), db.read_session(engine) as session:
        pricing.current_plan(session, actor_of(staff))
