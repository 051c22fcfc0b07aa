"""Staff reads of billing (queries/staff_billing.py): the billing accounts list, one
organization's summary and ledger, plans, tax rates and platform settings — staff only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col, delete

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied
from portal_core.models.accounts import PARTNER_ROLES, Organization, Role
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    EntryKind,
    PlatformSetting,
    Subscription,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.permissions import Actor
from portal_core.queries import staff_billing
from portal_core.queries.billing import Funds
from portal_core.queries.listing import Listing, ListQuery, fetch_page
from portal_core.services import ledger, platform
from portal_core.services import staff_billing as staff_services
from tests.factories import actor_of, change_subscription, make_organization, make_staff, make_user

TORONTO = ZoneInfo("America/Toronto")
NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


@pytest.fixture
def staff(engine: Engine) -> Actor:
    with db.write_session(engine) as session:
        return actor_of(make_staff(session, email="sam@sipstack.example"))


def _organization(
    engine: Engine, name: str, *, plan: str = "starter", **changes: object
) -> Organization:
    with db.write_session(engine) as session:
        organization = make_organization(session, name=name)
        change_subscription(session, organization, **{"plan_code": plan, **changes})
    return organization


def _pay(engine: Engine, organization: Organization, cents: int) -> None:
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.PAYMENT if cents > 0 else EntryKind.INVOICE,
            amount_cents=cents,
            idempotency_key=uuid.uuid4().hex,
            memo="Top-up" if cents > 0 else "Invoice 7",
        )


def _account(engine: Engine, organization: Organization, **values: object) -> None:
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(**values)
        )


def _rows(engine: Engine, listing: Listing, **query: object) -> list[dict]:
    with db.read_session(engine) as session:
        return fetch_page(session, listing, ListQuery(**query)).rows  # type: ignore[arg-type]


@pytest.mark.parametrize("role", sorted(PARTNER_ROLES))
def test_every_partner_role_is_refused_every_staff_billing_read(engine: Engine, role: Role):
    with db.write_session(engine) as session:
        partner = actor_of(make_user(session, role=role))
    assert partner.organization_id is not None

    with pytest.raises(PermissionDenied):
        staff_billing.billing_accounts(partner)
    with pytest.raises(PermissionDenied):
        staff_billing.ledger_entries(partner, partner.organization_id)
    with db.read_session(engine) as session:
        for read in (
            lambda: staff_billing.billing_summary(
                session,
                partner,
                partner.organization_id,
                time_zone=TORONTO,
            ),
            lambda: staff_billing.plans(session, partner),
            lambda: staff_billing.tax_rates(session, partner),
            lambda: staff_billing.platform_settings(session, partner, keys=platform.KEYS),
        ):
            with pytest.raises(PermissionDenied):
                read()


# --- The billing accounts list --------------------------------------------------------------


def test_each_organization_is_listed_with_its_plan_balance_and_credit_limit(engine, staff):
    north = _organization(engine, "Northwind", plan="starter")
    _pay(engine, north, 12_345)
    _account(engine, north, credit_limit_micros=6_000 * MICROS_PER_CENT)
    _organization(engine, "Maple Carrier", plan="carrier", credit_limit_override_cents=500_000)

    rows = _rows(engine, staff_billing.billing_accounts(staff), sort="name", descending=False)

    assert [
        (
            row["name"],
            row["plan"],
            row["cycle"],
            row["balance_cents"],
            row["credit_limit_cents"],
            row["limit_source"],
        )
        for row in rows
    ] == [
        ("Maple Carrier", "Carrier", "monthly", 0, 0, "staff"),
        ("Northwind", "Starter", "monthly", 12_345, 6_000, "plan"),
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("owing", ["Owing Voice"]), ("contract", ["Maple Carrier"]), ("limit_set", ["Trusted"])],
)
def test_the_account_filter_finds_owing_contract_and_staff_limit_accounts(
    engine, staff, choice, expected
):
    _pay(engine, _organization(engine, "Owing Voice"), -500)
    _organization(engine, "Maple Carrier", plan="carrier")
    _organization(engine, "Trusted", credit_limit_override_cents=100_000)
    _pay(engine, _organization(engine, "Plain"), 1_000)

    rows = _rows(engine, staff_billing.billing_accounts(staff), filters={"account": choice})

    assert [row["name"] for row in rows] == expected


def test_the_list_sorts_by_balance_and_searches_names(engine, staff):
    for name, cents in (("Alpha", 300), ("Beta", -200), ("Gamma", 100)):
        _pay(engine, _organization(engine, name), cents)
    listing = staff_billing.billing_accounts(staff)

    by_balance = _rows(engine, listing, sort="balance", descending=False)
    found = _rows(engine, listing, filters={"search": "AMM"})

    assert [row["name"] for row in by_balance] == ["Beta", "Gamma", "Alpha"]
    assert [row["name"] for row in found] == ["Gamma"]


# --- One organization -----------------------------------------------------------------------


def test_the_summary_has_the_plan_funds_and_a_staff_set_credit_limit(engine, staff):
    north = _organization(engine, "Northwind", cycle=BillingCycle.YEARLY, next_plan_code="free")
    _pay(engine, north, 10_000)
    _account(
        engine,
        north,
        unbilled_micros=2_500 * MICROS_PER_CENT + 4_999,
        credit_limit_micros=150_000 * MICROS_PER_CENT,
        period="2026-11",
        period_requests=10_250,
    )
    with db.write_session(engine) as session:
        subscription = session.get(Subscription, north.id)
        assert subscription is not None
        subscription.credit_limit_override_cents = 150_000

    with db.read_session(engine) as session:
        summary = staff_billing.billing_summary(
            session, staff, north.id, time_zone=TORONTO, now=NOW
        )

    assert (summary.organization_name, summary.plan_name, summary.cycle) == (
        "Northwind",
        "Starter",
        BillingCycle.YEARLY,
    )
    assert (summary.next_plan_name, summary.contract, summary.by_contract) == ("Free", None, False)
    assert (summary.included_requests, summary.additional_request_micros) == (10_000, 3_000)
    assert (summary.period, summary.period_requests) == ("2026-11", 10_250)
    assert summary.funds == Funds(
        balance_cents=10_000,
        unbilled_cents=2_500,
        credit_limit_cents=150_000,
        available_cents=7_500,
    )
    assert summary.available_cents == 7_500
    assert (summary.credit_limit_overridden, summary.plan_credit_limit_cents) == (True, 6_000)


def test_the_summary_shows_a_contracts_figures_as_the_meter_applies_them(engine, staff):
    carrier = _organization(engine, "Maple Carrier")
    with db.write_session(engine) as session:
        staff_services.set_carrier_contract(
            session,
            staff,
            carrier.id,
            staff_services.ContractForm("9500", "3,000,000", "0.0021", "300", "20000"),
            reason="Contract C-1",
        )

    with db.read_session(engine) as session:
        summary = staff_billing.billing_summary(session, staff, carrier.id, time_zone=TORONTO)

    assert summary.by_contract
    assert summary.contract == staff_billing.ContractTerms(950_000, 3_000_000, 2_100, 300)
    assert (summary.included_requests, summary.additional_request_micros) == (3_000_000, 2_100)
    assert summary.funds.credit_limit_cents == 2_000_000


def test_last_months_request_count_reads_as_none_this_month(engine, staff):
    north = _organization(engine, "Northwind")
    _account(engine, north, period="2026-10", period_requests=900)

    with db.read_session(engine) as session:
        summary = staff_billing.billing_summary(
            session, staff, north.id, time_zone=TORONTO, now=NOW
        )

    assert (summary.period, summary.period_requests) == ("2026-11", 0)


def test_an_unknown_organization_has_no_summary(engine, staff):
    with db.read_session(engine) as session, pytest.raises(NotFound):
        staff_billing.billing_summary(session, staff, uuid.uuid4(), time_zone=TORONTO)


def test_the_ledger_shows_one_organizations_entries_and_who_posted_staff_ones(engine, staff):
    north = _organization(engine, "Northwind")
    other = _organization(engine, "Elsewhere")
    _pay(engine, north, 5_000)
    _pay(engine, other, 7_000)
    with db.write_session(engine) as session:
        staff_services.post_credit(
            session,
            staff,
            north.id,
            kind=EntryKind.CREDIT,
            amount="12.50",
            reason="Outage goodwill",
            idempotency_key="q-1",
        )

    rows = _rows(engine, staff_billing.ledger_entries(staff, north.id))

    assert [
        (
            row["kind"],
            row["memo"],
            row["amount_cents"],
            row["balance_after_cents"],
            row["posted_by"],
        )
        for row in rows
    ] == [
        ("credit", "Outage goodwill", 1_250, 6_250, "sam@sipstack.example"),
        ("payment", "Top-up", 5_000, 5_000, None),
    ]


# --- Reference data -------------------------------------------------------------------------


def test_plans_come_in_order_with_how_many_organizations_follow_their_limit(engine, staff):
    _organization(engine, "A")
    _organization(engine, "B", credit_limit_override_cents=100)
    _organization(engine, "C", plan="provider")

    with db.read_session(engine) as session:
        plans = staff_billing.plans(session, staff)

    assert [plan.code for plan in plans] == ["free", "starter", "competitor", "provider", "carrier"]
    starter = plans[1]
    assert (
        starter.monthly_cents,
        starter.yearly_monthly_cents,
        starter.included_requests,
        starter.additional_request_micros,
        starter.credit_limit_cents,
        starter.lookups_per_second,
    ) == (3_000, 2_400, 10_000, 3_000, 6_000, 5)
    assert [(plan.organizations, plan.following_plan_limit) for plan in plans] == [
        (0, 0),
        (2, 1),
        (0, 0),
        (1, 1),
        (0, 0),
    ]
    assert plans[-1].by_contract and plans[-1].monthly_cents is None


def test_tax_rates_are_listed_by_province_then_tax(engine, staff):
    with db.read_session(engine) as session:
        rates = staff_billing.tax_rates(session, staff)

    assert len(rates) == 17
    assert [(rate.province, rate.tax, rate.rate_millipercent) for rate in rates[:3]] == [
        ("AB", "GST", 5_000),
        ("BC", "GST", 5_000),
        ("BC", "PST", 7_000),
    ]
    assert ("QC", "QST", 9_975) in [(r.province, r.tax, r.rate_millipercent) for r in rates]


def test_settings_come_in_the_order_asked_with_who_changed_them(engine, staff):
    with db.write_session(engine) as session:
        platform.update_setting(session, staff, platform.CARD_FEE, "3100")
        session.exec(
            delete(PlatformSetting).where(col(PlatformSetting.key) == platform.SELLER_QST_NUMBER)
        )

    with db.read_session(engine) as session:
        settings = staff_billing.platform_settings(
            session,
            staff,
            keys=(platform.CARD_FEE, platform.BILLING_TIME_ZONE, platform.SELLER_QST_NUMBER),
        )

    assert [(row.key, row.value, row.updated_by, row.stored) for row in settings] == [
        (platform.CARD_FEE, "3100", "sam@sipstack.example", True),
        (platform.BILLING_TIME_ZONE, "America/Toronto", None, True),
        (platform.SELLER_QST_NUMBER, "", None, False),
    ]
    assert settings[0].description.startswith("Card convenience fee")
