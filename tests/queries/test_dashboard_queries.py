"""The Dashboard's figures: requests against the allowance, month-to-date spend, spend per
month by lookup type, the balance over time and the days the funds last — in the billing
time zone (America/Toronto by default), from the daily roll-up and the ledger, and never
another organization's figures."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col

from portal_core import db
from portal_core.errors import PermissionDenied
from portal_core.models.accounts import Organization, Role
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    EntryKind,
    LedgerEntry,
    LookupType,
    Product,
    Subscription,
    UsageDaily,
)
from portal_core.models.products import EventAction, EventProduct, EventStatus, WhoisProfile
from portal_core.money import MICROS_PER_DOLLAR
from portal_core.permissions import Actor
from portal_core.queries import dashboard
from portal_core.services import ledger, meter, product_events
from tests.factories import actor_of, make_organization, make_staff, make_user

# Mid-November in Toronto (12:00 EST); the window tests count back from here.
NOW = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)
TODAY = date(2026, 11, 15)
DOLLAR = MICROS_PER_DOLLAR


def new_organization(engine: Engine, *, created_days_ago: int = 365) -> uuid.UUID:
    """An organization old enough that every window of the Dashboard is within its life."""
    with db.write_session(engine) as session:
        organization = make_organization(session)
        organization.created_at = NOW - timedelta(days=created_days_ago)
        session.add(organization)
        return organization.id


def member(engine: Engine, organization_id: uuid.UUID, role: Role = Role.OWNER) -> Actor:
    with db.write_session(engine) as session:
        organization = session.get(Organization, organization_id)
        return actor_of(make_user(session, role=role, organization=organization))


def owner_of_new_organization(engine: Engine) -> Actor:
    return member(engine, new_organization(engine))


def org(actor: Actor) -> uuid.UUID:
    assert actor.organization_id is not None
    return actor.organization_id


def add_usage(
    engine: Engine,
    organization_id: uuid.UUID,
    day: date,
    lookup_type: LookupType,
    cost_micros: int,
    billable_requests: int = 1,
) -> None:
    with db.write_session(engine) as session:
        session.add(
            UsageDaily(
                organization_id=organization_id,
                day=day,
                product=Product.SMART_CNAM.value,
                lookup_type=lookup_type.value,
                requests=billable_requests,
                billable_requests=billable_requests,
                cost_micros=cost_micros,
            )
        )


def post_at(engine: Engine, organization_id: uuid.UUID, cents: int, at: datetime) -> None:
    """Post an entry as if it had been posted at ``at`` (entries must come in time order)."""
    with db.write_session(engine) as session:
        entry = ledger.post_entry(
            session,
            organization_id=organization_id,
            kind=EntryKind.CREDIT if cents >= 0 else EntryKind.INVOICE,
            amount_cents=cents,
            idempotency_key=f"dashboard-{uuid.uuid4()}",
            memo="Dashboard test entry",
        )
        session.execute(
            update(LedgerEntry).where(col(LedgerEntry.id) == entry.id).values(created_at=at)
        )


def set_subscription(engine: Engine, organization_id: uuid.UUID, **values: object) -> None:
    with db.write_session(engine) as session:
        session.execute(
            update(Subscription)
            .where(col(Subscription.organization_id) == organization_id)
            .values(**values)
        )


def set_account(engine: Engine, organization_id: uuid.UUID, **values: object) -> None:
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization_id)
            .values(**values)
        )


def metered(engine: Engine, organization_id: uuid.UUID, lookup_type: LookupType, at: datetime):
    with db.write_session(engine) as session:
        return meter.meter_request(
            session.connection(),
            organization_id=organization_id,
            product=Product.SMART_CNAM,
            lookup_type=lookup_type,
            request_key=f"dashboard-{uuid.uuid4()}",
            now=at,
        )


def read(engine: Engine, query: Callable[..., Any], actor: Actor, **kwargs: object) -> Any:
    with db.read_session(engine) as session:
        return query(session, actor, now=NOW, **kwargs)


# --- Requests this month ----------------------------------------------------------------------


def test_requests_this_month_are_the_meters_count_against_the_plans_allowance(
    engine: Engine,
) -> None:
    owner = owner_of_new_organization(engine)
    set_account(engine, org(owner), period="2026-11", period_requests=37)

    requests = read(engine, dashboard.requests_this_month, owner)

    assert (requests.period, requests.used, requests.allowance) == ("2026-11", 37, 50)
    assert (requests.plan_name, requests.capped, requests.at_cap) == ("Free", True, False)
    assert requests.percent_used == 74


def test_a_count_left_from_an_earlier_month_reads_as_no_requests_yet(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_account(engine, org(owner), period="2026-10", period_requests=50)

    requests = read(engine, dashboard.requests_this_month, owner)

    assert (requests.used, requests.at_cap, requests.percent_used) == (0, False, 0)


def test_the_month_of_requests_is_the_billing_time_zones(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_account(engine, org(owner), period="2026-10", period_requests=12)
    # 03:00 UTC on November 1st is still October 31st in Toronto.
    halloween_night = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)

    with db.read_session(engine) as session:
        requests = dashboard.requests_this_month(session, owner, now=halloween_night)

    assert (requests.period, requests.used) == ("2026-10", 12)


def test_a_free_organization_with_its_allowance_used_is_at_its_cap(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_account(engine, org(owner), period="2026-11", period_requests=50)

    requests = read(engine, dashboard.requests_this_month, owner)

    assert requests.at_cap is True
    assert requests.percent_used == 100


def test_a_paid_plan_past_its_allowance_is_billed_per_request_not_capped(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_subscription(engine, org(owner), plan_code="starter")
    set_account(engine, org(owner), period="2026-11", period_requests=10_250)

    requests = read(engine, dashboard.requests_this_month, owner)

    assert (requests.allowance, requests.capped, requests.at_cap) == (10_000, False, False)
    assert (requests.beyond_allowance, requests.percent_used) == (250, 100)


def test_carriers_contract_allowance_replaces_the_plans(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_subscription(
        engine,
        org(owner),
        plan_code="carrier",
        contract_included_requests=3_000_000,
        contract_additional_request_micros=2_000,
    )
    set_account(engine, org(owner), period="2026-11", period_requests=1_500_000)

    requests = read(engine, dashboard.requests_this_month, owner)

    assert (requests.allowance, requests.by_contract, requests.capped) == (3_000_000, True, False)
    assert requests.percent_used == 50


@pytest.mark.parametrize("role", [role for role in Role if role is not Role.STAFF], ids=str)
def test_every_partner_role_sees_the_requests_against_the_allowance(
    engine: Engine, role: Role
) -> None:
    user = member(engine, new_organization(engine), role)
    assert read(engine, dashboard.requests_this_month, user).allowance == 50


# --- Month-to-date spend ----------------------------------------------------------------------


def test_month_to_date_spend_is_this_months_usage_plus_the_monthly_fee(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_subscription(engine, org(owner), plan_code="starter")
    add_usage(engine, org(owner), date(2026, 10, 31), LookupType.CALLER_ID, 9 * DOLLAR)
    add_usage(engine, org(owner), date(2026, 11, 1), LookupType.CALLER_ID, 1_500_000)
    add_usage(engine, org(owner), TODAY, LookupType.REGIONAL, 250_000)

    spend = read(engine, dashboard.month_to_date_spend, owner)

    assert (spend.period, spend.first_day) == ("2026-11", date(2026, 11, 1))
    assert spend.usage_micros == 1_750_000
    assert spend.subscription_micros == 30 * DOLLAR  # Starter, monthly
    assert spend.total_micros == 31_750_000


def test_a_yearly_plan_counts_its_per_month_price_in_the_month(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_subscription(engine, org(owner), plan_code="starter", cycle=BillingCycle.YEARLY.value)

    spend = read(engine, dashboard.month_to_date_spend, owner)

    assert (spend.cycle, spend.subscription_micros) == (BillingCycle.YEARLY, 24 * DOLLAR)


def test_a_carrier_contract_counts_its_monthly_figure(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    set_subscription(engine, org(owner), plan_code="carrier", contract_monthly_cents=450_000)

    spend = read(engine, dashboard.month_to_date_spend, owner)

    assert (spend.by_contract, spend.subscription_micros) == (True, 4_500 * DOLLAR)


def test_the_free_plan_costs_nothing_until_usage_does(engine: Engine) -> None:
    spend = read(engine, dashboard.month_to_date_spend, owner_of_new_organization(engine))
    assert (spend.usage_micros, spend.subscription_micros, spend.total_micros) == (0, 0, 0)


# --- Spend per month by lookup type -----------------------------------------------------------


def test_spend_per_month_is_summed_by_month_and_lookup_type_over_twelve_months(
    engine: Engine,
) -> None:
    owner = owner_of_new_organization(engine)
    add_usage(engine, org(owner), date(2025, 11, 30), LookupType.CALLER_ID, 99 * DOLLAR)  # 13th
    add_usage(engine, org(owner), date(2025, 12, 1), LookupType.CALLER_ID, 1 * DOLLAR, 330)
    add_usage(engine, org(owner), date(2026, 10, 3), LookupType.CALLER_ID, 2 * DOLLAR, 600)
    add_usage(engine, org(owner), date(2026, 10, 31), LookupType.CALLER_ID, 3 * DOLLAR, 900)
    add_usage(engine, org(owner), date(2026, 10, 31), LookupType.REGIONAL, 4 * DOLLAR)
    add_usage(engine, org(owner), date(2026, 11, 1), LookupType.CALLER_ID, 5 * DOLLAR)
    add_usage(engine, org(owner), date(2026, 11, 2), LookupType.ONLINE_PROFILES, 0)  # included

    spend = read(engine, dashboard.spend_by_month, owner)

    assert spend.months == ["2025-12"] + [f"2026-{month:02d}" for month in range(1, 12)]
    assert [(row.month, row.lookup_type, row.cost_micros) for row in spend.rows] == [
        ("2025-12", "caller_id", 1 * DOLLAR),
        ("2026-10", "caller_id", 5 * DOLLAR),
        ("2026-10", "regional", 4 * DOLLAR),
        ("2026-11", "caller_id", 5 * DOLLAR),
    ]
    assert spend.rows[1].billable_requests == 1_500
    assert spend.total_micros == 15 * DOLLAR


def test_a_request_late_on_october_31st_in_toronto_is_octobers_spend(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    organization_id = org(owner)
    set_subscription(engine, organization_id, plan_code="starter", contract_included_requests=0)
    post_at(engine, organization_id, 10_000, NOW - timedelta(days=60))
    # 23:30 on Oct 31 in Toronto is already November in UTC; 00:30 Nov 1 is November in both.
    metered(engine, organization_id, LookupType.CALLER_ID, datetime(2026, 11, 1, 3, 30, tzinfo=UTC))
    metered(engine, organization_id, LookupType.CALLER_ID, datetime(2026, 11, 1, 4, 30, tzinfo=UTC))
    metered(engine, organization_id, LookupType.CALLER_ID, datetime(2026, 11, 1, 5, 30, tzinfo=UTC))

    spend = read(engine, dashboard.spend_by_month, owner)

    starter_price = 3_000  # µ$ per request beyond the allowance
    assert [(row.month, row.cost_micros) for row in spend.rows] == [
        ("2026-10", starter_price),
        ("2026-11", 2 * starter_price),
    ]


def test_no_usage_cost_gives_every_month_and_no_rows(engine: Engine) -> None:
    spend = read(engine, dashboard.spend_by_month, owner_of_new_organization(engine))
    assert len(spend.months) == 12
    assert (spend.rows, spend.total_micros) == ([], 0)


# --- Balance over time ------------------------------------------------------------------------


def toronto_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def test_each_days_balance_is_its_last_entrys_carried_over_days_without_entries(
    engine: Engine,
) -> None:
    owner = owner_of_new_organization(engine)
    organization_id = org(owner)
    post_at(engine, organization_id, 50_000, toronto_noon(TODAY - timedelta(days=200)))
    post_at(engine, organization_id, 10_000, toronto_noon(TODAY - timedelta(days=10)))
    post_at(
        engine,
        organization_id,
        -2_500,
        toronto_noon(TODAY - timedelta(days=10)) + timedelta(hours=2),
    )
    post_at(engine, organization_id, -7_500, toronto_noon(TODAY - timedelta(days=4)))

    history = read(engine, dashboard.balance_over_time, owner)

    balances = {point.day: point.balance_cents for point in history.days}
    assert len(history.days) == 90
    assert history.days[0].day == TODAY - timedelta(days=89)
    assert history.days[-1].day == TODAY
    assert history.has_entries is True
    # Before the window's first entry: the balance carried in from 200 days ago.
    assert balances[TODAY - timedelta(days=89)] == 50_000
    assert balances[TODAY - timedelta(days=11)] == 50_000
    # The day's last entry closes it, and the days after carry it until the next entry.
    assert balances[TODAY - timedelta(days=10)] == 57_500
    assert balances[TODAY - timedelta(days=5)] == 57_500
    assert balances[TODAY - timedelta(days=4)] == 50_000
    assert balances[TODAY] == 50_000


def test_an_entry_late_in_the_evening_in_toronto_closes_that_day(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    post_at(engine, org(owner), 1_000, datetime(2026, 11, 10, 4, 30, tzinfo=UTC))  # Nov 9, 23:30

    balances = {
        p.day: p.balance_cents for p in read(engine, dashboard.balance_over_time, owner).days
    }

    assert balances[date(2026, 11, 8)] == 0
    assert balances[date(2026, 11, 9)] == 1_000


def test_entries_after_now_are_not_yet_in_the_balance(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    post_at(engine, org(owner), 1_000, NOW - timedelta(hours=1))
    post_at(engine, org(owner), 5_000, NOW + timedelta(hours=1))

    history = read(engine, dashboard.balance_over_time, owner)

    assert history.days[-1].balance_cents == 1_000


def test_an_organization_without_entries_reads_zero_and_says_so(engine: Engine) -> None:
    history = read(engine, dashboard.balance_over_time, owner_of_new_organization(engine))
    assert history.has_entries is False
    assert {point.balance_cents for point in history.days} == {0}


# --- Days the funds last ----------------------------------------------------------------------


def test_funds_last_available_over_the_last_30_days_average_rounded_down(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    post_at(engine, org(owner), 1_000, NOW - timedelta(days=40))  # $10.00 available
    add_usage(engine, org(owner), TODAY - timedelta(days=29), LookupType.CALLER_ID, 4 * DOLLAR)
    add_usage(engine, org(owner), TODAY, LookupType.REGIONAL, 3 * DOLLAR)
    add_usage(engine, org(owner), TODAY - timedelta(days=30), LookupType.CALLER_ID, 50 * DOLLAR)

    runway = read(engine, dashboard.funds_runway, owner)

    # $7 over 30 days is $0.2333… a day: $10 lasts 42.86 days, so 42.
    assert (runway.window_days, runway.spend_micros) == (30, 7 * DOLLAR)
    assert (runway.days, runway.reason) == (42, None)
    assert runway.daily_spend_micros == 233_333


def test_unbilled_usage_is_not_available_to_spend(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    post_at(engine, org(owner), 3_000, NOW - timedelta(days=40))
    set_account(engine, org(owner), unbilled_micros=10 * DOLLAR)  # $20.00 available
    add_usage(engine, org(owner), TODAY, LookupType.CALLER_ID, 30 * DOLLAR)  # $1 a day

    runway = read(engine, dashboard.funds_runway, owner)

    assert (runway.available_cents, runway.days) == (2_000, 20)


def test_without_spend_the_days_are_unknown_and_the_reason_says_why(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    post_at(engine, org(owner), 1_000, NOW - timedelta(days=40))
    add_usage(engine, org(owner), TODAY, LookupType.CALLER_ID, 0, billable_requests=0)

    runway = read(engine, dashboard.funds_runway, owner)

    assert runway.days is None
    assert runway.reason is not None
    assert runway.reason.startswith("No usage cost in the last 30 days")


def test_funds_already_below_zero_last_no_days(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    post_at(engine, org(owner), -1_000, NOW - timedelta(days=2))

    runway = read(engine, dashboard.funds_runway, owner)

    assert (runway.available_cents, runway.days) == (-1_000, 0)
    assert runway.reason is not None and "below zero" in runway.reason


def test_zero_funds_with_spend_last_no_days(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    add_usage(engine, org(owner), TODAY, LookupType.CALLER_ID, DOLLAR)
    assert read(engine, dashboard.funds_runway, owner).days == 0


def test_a_young_organization_averages_over_the_days_it_has_existed(engine: Engine) -> None:
    organization_id = new_organization(engine, created_days_ago=9)  # Nov 6, Toronto
    owner = member(engine, organization_id)
    post_at(engine, organization_id, 10_000, NOW - timedelta(days=9))  # $100.00
    add_usage(engine, organization_id, TODAY, LookupType.CALLER_ID, 20 * DOLLAR)  # $2 a day

    runway = read(engine, dashboard.funds_runway, owner)

    assert (runway.window_days, runway.window, runway.days) == (10, "the last 10 days", 50)


# --- Tenancy and roles ------------------------------------------------------------------------


def test_another_organizations_usage_and_entries_never_count(engine: Engine) -> None:
    owner = owner_of_new_organization(engine)
    other = new_organization(engine)
    post_at(engine, org(owner), 1_000, NOW - timedelta(days=3))
    add_usage(engine, org(owner), TODAY, LookupType.CALLER_ID, DOLLAR)
    post_at(engine, other, 900_000, NOW - timedelta(days=3))
    for day in (TODAY, TODAY - timedelta(days=40)):
        add_usage(engine, other, day, LookupType.CALLER_ID, 500 * DOLLAR)
        add_usage(engine, other, day, LookupType.REGIONAL, 500 * DOLLAR)
    set_account(engine, other, period="2026-11", period_requests=40)

    assert read(engine, dashboard.month_to_date_spend, owner).usage_micros == DOLLAR
    monthly = read(engine, dashboard.spend_by_month, owner)
    assert [(row.lookup_type, row.cost_micros) for row in monthly.rows] == [("caller_id", DOLLAR)]
    assert read(engine, dashboard.balance_over_time, owner).days[-1].balance_cents == 1_000
    runway = read(engine, dashboard.funds_runway, owner)
    assert (runway.spend_micros, runway.available_cents) == (DOLLAR, 1_000)
    assert read(engine, dashboard.requests_this_month, owner).used == 0


BILLING_QUERIES = [
    dashboard.month_to_date_spend,
    dashboard.spend_by_month,
    dashboard.balance_over_time,
    dashboard.funds_runway,
]


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER], ids=str)
@pytest.mark.parametrize("query", BILLING_QUERIES, ids=lambda query: query.__name__)
def test_roles_without_billing_never_get_spend_figures(engine: Engine, role: Role, query) -> None:
    user = member(engine, new_organization(engine), role)
    with pytest.raises(PermissionDenied):
        read(engine, query, user)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING], ids=str)
def test_billing_roles_get_every_spend_figure(engine: Engine, role: Role) -> None:
    user = member(engine, new_organization(engine), role)
    post_at(engine, org(user), 3_000, NOW - timedelta(days=3))
    add_usage(engine, org(user), TODAY, LookupType.TELCO_CARRIER, 3 * DOLLAR)

    assert read(engine, dashboard.month_to_date_spend, user).usage_micros == 3 * DOLLAR
    assert read(engine, dashboard.spend_by_month, user).total_micros == 3 * DOLLAR
    assert read(engine, dashboard.balance_over_time, user).days[-1].balance_cents == 3_000
    assert read(engine, dashboard.funds_runway, user).days == 300


@pytest.mark.parametrize(
    "query", [*BILLING_QUERIES, dashboard.requests_this_month], ids=lambda query: query.__name__
)
def test_staff_have_no_organizations_dashboard_figures(engine: Engine, query) -> None:
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    with pytest.raises(PermissionDenied):
        read(engine, query, staff)


# --- The products' tiles -----------------------------------------------------------------------


def _lookup(engine: Engine, organization_id: uuid.UUID, at: datetime, status: str = "ok") -> None:
    with db.write_connection(engine) as connection:
        product_events.record(
            connection,
            product_events.Event(
                organization_id=organization_id,
                product=EventProduct.SMART_CNAM,
                action=EventAction.LOOKUP,
                lookup_type=LookupType.REGIONAL.value,
                status=EventStatus(status),
            ),
            now=at,
        )


def test_product_tiles_count_lookups_that_went_through_in_the_billing_days(
    engine: Engine,
) -> None:
    organization_id = new_organization(engine)
    other = new_organization(engine)
    # NOW is 12:00 on Nov 15 in Toronto; 04:30 UTC on Nov 15 is still Nov 14 there.
    _lookup(engine, organization_id, NOW)
    _lookup(engine, organization_id, NOW - timedelta(hours=1))
    _lookup(engine, organization_id, NOW, status="refused")
    _lookup(engine, organization_id, datetime(2026, 11, 15, 4, 30, tzinfo=UTC))
    _lookup(
        engine, organization_id, datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    )  # 01:00 on Nov 1 there
    _lookup(engine, organization_id, datetime(2026, 11, 1, 3, 59, tzinfo=UTC))  # October
    _lookup(engine, other, NOW)
    with db.write_session(engine) as session:
        for number, owner in (("+14165550101", organization_id), ("+14165550102", other)):
            session.add(
                WhoisProfile(
                    organization_id=owner, number=number, caller_name="Acme", line_type="fixed"
                )
            )
        session.execute(
            update(Organization)
            .where(col(Organization.id) == organization_id)
            .values(carrier_score_millis=4_250)
        )
        actor = actor_of(
            make_user(session, organization=session.get(Organization, organization_id))
        )

    with db.read_session(engine) as session:
        tiles = dashboard.product_tiles(session, actor, now=NOW)

    assert tiles == dashboard.ProductTiles(
        lookups_today=2, lookups_this_month=4, registered_numbers=1, carrier_score_millis=4_250
    )


def test_product_tiles_of_a_new_organization_are_empty_and_unscored(engine: Engine) -> None:
    with db.write_session(engine) as session:
        actor = actor_of(make_user(session, role=Role.VIEWER))
    with db.read_session(engine) as session:
        tiles = dashboard.product_tiles(session, actor, now=NOW)
    assert tiles == dashboard.ProductTiles(0, 0, 0, None)


def test_staff_have_no_product_tiles(engine: Engine) -> None:
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    with db.read_session(engine) as session, pytest.raises(PermissionDenied):
        dashboard.product_tiles(session, staff, now=NOW)
