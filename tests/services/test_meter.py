"""The meter: the allowance first, then the plan's price; Free capped; refusals that record
nothing; the credit limit; the month in the billing time zone; replays charged once; daily
roll-ups that add up to the records; and the check that recomputes the unbilled usage."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from portal_core import db
from portal_core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PlanCapReached,
    ValidationFailed,
)
from portal_core.models.billing import (
    BillingAccount,
    EntryKind,
    Invoice,
    InvoiceStatus,
    LookupType,
    PlatformSetting,
    Product,
    UsageDaily,
    UsageRecord,
)
from portal_core.services import ledger
from portal_core.services.ledger import AccountFigure, BalanceMismatch
from portal_core.services.meter import MeteredRequest, meter_request
from tests.factories import change_subscription, fund, make_organization
from tests.services.support import count, fetch

TORONTO = ZoneInfo("America/Toronto")
# Mid-November 2026, well inside the month in any time zone.
NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
STARTER_PRICE = 3_000  # $0.0030 (docs/product.md, Billing model; data/plans.csv)


def _organization(
    engine,
    *,
    plan: str = "starter",
    funds_cents: int = 100_000,
    credit_limit_micros: int = 0,
    included: int | None = None,
    price: int | None = None,
    period: str = "",
    period_requests: int = 0,
):
    """An organization on ``plan`` with ``funds_cents`` paid in through the ledger; ``included``
    and ``price`` are the subscription's contract figures (None: the plan's own)."""
    with db.write_session(engine) as session:
        organization = make_organization(session)
        change_subscription(
            session,
            organization,
            plan_code=plan,
            contract_included_requests=included,
            contract_additional_request_micros=price,
        )
        if funds_cents:
            fund(session, organization, funds_cents, memo="test funds")
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(
                credit_limit_micros=credit_limit_micros,
                period=period,
                period_requests=period_requests,
            )
        )
    return organization


def _meter(
    engine,
    organization,
    key: str | None = None,
    *,
    lookup_type: LookupType = LookupType.CALLER_ID,
    now: datetime = NOW,
) -> MeteredRequest:
    with db.write_connection(engine) as connection:
        return meter_request(
            connection,
            organization_id=organization.id,
            product=Product.SMART_CNAM,
            lookup_type=lookup_type,
            request_key=uuid.uuid4().hex if key is None else key,
            now=now,
        )


def _account(engine, organization) -> BillingAccount:
    return fetch(engine, BillingAccount, organization.id)


def _records(engine, organization) -> list[UsageRecord]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(UsageRecord)
                .where(UsageRecord.organization_id == organization.id)
                .order_by(col(UsageRecord.created_at))
            ).all()
        )


def _mismatches(engine) -> list[BalanceMismatch]:
    with db.read_session(engine) as session:
        return ledger.balance_mismatches(session)


def _set_time_zone(engine, name: str) -> None:
    with db.write_session(engine) as session:
        setting = session.get(PlatformSetting, "billing_time_zone")
        assert setting is not None
        setting.value = name
        session.add(setting)


def _toronto(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=TORONTO).astimezone(UTC)


# --- Pricing -------------------------------------------------------------------------------


def test_the_allowance_is_free_then_each_request_costs_the_plans_price(engine):
    organization = _organization(engine, included=3)

    results = [_meter(engine, organization) for _ in range(5)]

    assert [(r.cost_micros, r.included, r.period_requests) for r in results] == [
        (0, True, 1),
        (0, True, 2),
        (0, True, 3),
        (STARTER_PRICE, False, 4),
        (STARTER_PRICE, False, 5),
    ]
    assert {r.period for r in results} == {"2026-11"}
    assert _account(engine, organization).unbilled_micros == 2 * STARTER_PRICE
    records = _records(engine, organization)
    assert [(r.included, r.cost_micros, r.period) for r in records] == [
        (True, 0, "2026-11"),
    ] * 3 + [(False, STARTER_PRICE, "2026-11")] * 2
    assert _mismatches(engine) == []


def test_starters_ten_thousandth_request_is_included_and_the_next_costs_three_thousand_micros(
    engine,
):
    organization = _organization(engine, period="2026-11", period_requests=9_999)

    last_included = _meter(engine, organization)
    first_paid = _meter(engine, organization)

    assert last_included == MeteredRequest(
        cost_micros=0, included=True, period="2026-11", period_requests=10_000
    )
    assert first_paid == MeteredRequest(
        cost_micros=3_000, included=False, period="2026-11", period_requests=10_001
    )
    assert _account(engine, organization).unbilled_micros == 3_000


def test_a_carrier_contracts_figures_replace_the_plans(engine):
    organization = _organization(engine, plan="carrier", included=2, price=1_750)

    costs = [_meter(engine, organization).cost_micros for _ in range(4)]

    assert costs == [0, 0, 1_750, 1_750]
    assert _account(engine, organization).unbilled_micros == 3_500


def test_a_contract_allowance_on_a_priced_plan_keeps_the_plans_price(engine):
    organization = _organization(engine, plan="competitor", included=1)

    costs = [_meter(engine, organization).cost_micros for _ in range(2)]

    assert costs == [0, 2_800]  # Competitor's $0.0028 past the contract's one request


def test_the_free_plan_is_capped_at_its_allowance_and_offers_the_upgrade(engine):
    organization = _organization(
        engine, plan="free", funds_cents=0, period="2026-11", period_requests=49
    )
    assert _meter(engine, organization).period_requests == 50
    before = _account(engine, organization)

    with pytest.raises(PlanCapReached) as refused:
        _meter(engine, organization)

    message = str(refused.value)
    assert "Free plan" in message and "50 requests" in message
    assert "Upgrade" in message and "Billing › Pricing" in message
    assert refused.value.status == 402
    after = _account(engine, organization)
    assert (after.period, after.period_requests, after.unbilled_micros) == (
        "2026-11",
        50,
        before.unbilled_micros,
    )
    assert len(_records(engine, organization)) == 1
    assert count(engine, UsageDaily, UsageDaily.organization_id == organization.id) == 1


def test_the_free_plan_is_capped_even_with_funds(engine):
    organization = _organization(
        engine, plan="free", funds_cents=50_000, period="2026-11", period_requests=50
    )

    with pytest.raises(PlanCapReached):
        _meter(engine, organization)

    assert _records(engine, organization) == []


def test_a_carrier_contract_without_a_price_is_capped_and_says_to_extend_the_contract(engine):
    organization = _organization(engine, plan="carrier", included=1)
    _meter(engine, organization)

    with pytest.raises(PlanCapReached, match="Carrier contract includes 1 requests") as refused:
        _meter(engine, organization)

    assert "extend your contract" in str(refused.value)
    assert len(_records(engine, organization)) == 1


# --- Funds and the credit limit ------------------------------------------------------------


def test_a_request_the_funds_cannot_cover_is_refused_with_its_cost_and_records_nothing(engine):
    organization = _organization(engine, included=0, funds_cents=0)

    with pytest.raises(InsufficientFunds) as refused:
        _meter(engine, organization, lookup_type=LookupType.SOURCE_RISK)

    message = str(refused.value)
    assert "$0.0030" in message
    assert "Billing › Overview" in message
    assert refused.value.status == 402
    account = _account(engine, organization)
    assert (account.unbilled_micros, account.period_requests, account.period) == (0, 0, "")
    assert _records(engine, organization) == []
    assert count(engine, UsageDaily) == 0


def test_funds_cover_requests_until_what_is_left_is_less_than_one_price(engine):
    # 1 cent = 10,000 µ$: three requests at 3,000 µ$, and the fourth would need 12,000.
    organization = _organization(engine, included=0, funds_cents=1)

    for _ in range(3):
        _meter(engine, organization)
    with pytest.raises(InsufficientFunds, match=r"\$0\.0030"):
        _meter(engine, organization)

    account = _account(engine, organization)
    assert account.balance_micros - account.unbilled_micros == 1_000
    assert len(_records(engine, organization)) == 3


def test_the_credit_limit_lets_available_funds_go_down_to_minus_the_limit_exactly(engine):
    organization = _organization(
        engine, included=0, funds_cents=0, credit_limit_micros=3 * STARTER_PRICE
    )

    for _ in range(3):
        _meter(engine, organization)
    account = _account(engine, organization)
    assert account.balance_micros - account.unbilled_micros == -account.credit_limit_micros

    with pytest.raises(InsufficientFunds, match="credit limit"):
        _meter(engine, organization)
    assert _account(engine, organization).unbilled_micros == 3 * STARTER_PRICE


def test_an_account_past_its_credit_limit_is_refused_even_within_the_allowance(engine):
    organization = _organization(engine, funds_cents=0, credit_limit_micros=10_000)
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.INVOICE,
            amount_cents=-2,  # balance −20,000 µ$, past the 10,000 µ$ limit
            idempotency_key="invoice-past-limit",
            memo="invoice",
        )

    with pytest.raises(InsufficientFunds, match="past its credit limit"):
        _meter(engine, organization)

    assert _records(engine, organization) == []


# --- The month, in the billing time zone ---------------------------------------------------


def test_the_month_turns_over_in_the_billing_time_zone(engine):
    organization = _organization(engine, included=1)

    late_november = _meter(engine, organization, now=_toronto(2026, 11, 30, 23, 30))
    still_november = _meter(engine, organization, now=_toronto(2026, 11, 30, 23, 45))
    early_december = _meter(engine, organization, now=_toronto(2026, 12, 1, 0, 30))

    # 23:30 in Toronto is already December 1st in UTC: it still counts in November.
    assert _toronto(2026, 11, 30, 23, 30).month == 12
    assert (late_november.period, late_november.cost_micros) == ("2026-11", 0)
    assert (still_november.period, still_november.cost_micros) == ("2026-11", STARTER_PRICE)
    assert early_december == MeteredRequest(
        cost_micros=0, included=True, period="2026-12", period_requests=1
    )
    with db.read_session(engine) as session:
        days = session.exec(
            select(col(UsageDaily.day), col(UsageDaily.requests)).order_by(col(UsageDaily.day))
        ).all()
    assert [tuple(row) for row in days] == [(date(2026, 11, 30), 2), (date(2026, 12, 1), 1)]


def test_a_new_month_restarts_a_capped_plans_allowance(engine):
    organization = _organization(
        engine, plan="free", funds_cents=0, period="2026-10", period_requests=50
    )

    result = _meter(engine, organization)

    assert result == MeteredRequest(
        cost_micros=0, included=True, period="2026-11", period_requests=1
    )


def test_the_billing_time_zone_is_a_platform_setting(engine):
    _set_time_zone(engine, "UTC")
    organization = _organization(engine)

    result = _meter(engine, organization, now=_toronto(2026, 11, 30, 23, 30))

    assert result.period == "2026-12"


def test_a_request_still_in_flight_when_the_month_turned_counts_in_the_new_month(engine):
    organization = _organization(engine, included=1)
    _meter(engine, organization, now=_toronto(2026, 12, 1, 0, 0, 1))

    straggler = _meter(engine, organization, now=_toronto(2026, 11, 30, 23, 59, 59))

    assert (straggler.period, straggler.period_requests, straggler.cost_micros) == (
        "2026-12",
        2,
        STARTER_PRICE,
    )
    account = _account(engine, organization)
    assert (account.period, account.period_requests) == ("2026-12", 2)
    with db.read_session(engine) as session:
        assert set(session.exec(select(col(UsageDaily.day))).all()) == {date(2026, 12, 1)}


# --- Idempotency ---------------------------------------------------------------------------


def test_a_replayed_request_key_returns_the_first_result_and_charges_once(engine):
    organization = _organization(engine, included=0)

    first = _meter(engine, organization, "lookup-7")
    again = _meter(engine, organization, "lookup-7")

    assert (first.cost_micros, first.replayed) == (STARTER_PRICE, False)
    assert again == MeteredRequest(
        cost_micros=STARTER_PRICE,
        included=False,
        period="2026-11",
        period_requests=1,
        replayed=True,
    )
    assert _account(engine, organization).unbilled_micros == STARTER_PRICE
    assert len(_records(engine, organization)) == 1
    assert (
        fetch(
            engine,
            UsageDaily,
            (organization.id, date(2026, 11, 16), Product.SMART_CNAM.value, "caller_id"),
        ).requests
        == 1
    )


def test_a_replay_after_the_month_turned_reports_its_own_months_count(engine):
    organization = _organization(engine)
    _meter(engine, organization, "october-1", now=datetime(2026, 10, 10, tzinfo=UTC))
    _meter(engine, organization, "october-2", now=datetime(2026, 10, 11, tzinfo=UTC))
    _meter(engine, organization, "november-1")

    again = _meter(engine, organization, "october-1")

    assert (again.period, again.period_requests, again.replayed) == ("2026-10", 2, True)


def test_a_request_key_reused_for_a_different_request_is_a_conflict(engine):
    organization = _organization(engine, included=0)
    _meter(engine, organization, "lookup-8")

    with pytest.raises(Conflict, match="request key"):
        _meter(engine, organization, "lookup-8", lookup_type=LookupType.REGIONAL)

    assert count(engine, UsageRecord) == 1
    assert _account(engine, organization).unbilled_micros == STARTER_PRICE


def test_request_keys_are_each_organizations_own(engine):
    first = _organization(engine, included=0)
    second = _organization(engine, included=0)
    _meter(engine, first, "lookup-8")

    again = _meter(engine, second, "lookup-8", lookup_type=LookupType.REGIONAL)

    assert (again.replayed, again.cost_micros) == (False, STARTER_PRICE)
    assert count(engine, UsageRecord) == 2
    assert _account(engine, second).unbilled_micros == STARTER_PRICE


@pytest.mark.parametrize("key", ["", "k" * 121])
def test_a_request_key_is_required_and_bounded(engine, key):
    organization = _organization(engine)

    with pytest.raises(ValidationFailed, match="request key"):
        _meter(engine, organization, key)

    assert count(engine, UsageRecord) == 0
    assert _account(engine, organization).period_requests == 0


def test_an_organization_without_a_subscription_is_not_found(engine):
    with pytest.raises(NotFound):
        with db.write_connection(engine) as connection:
            meter_request(
                connection,
                organization_id=uuid.uuid4(),
                product=Product.SMART_CNAM,
                lookup_type=LookupType.CALLER_ID,
                request_key="orphan",
                now=NOW,
            )
    assert count(engine, UsageRecord) == 0


def test_a_metering_rolled_back_with_its_unit_of_work_leaves_nothing(engine):
    organization = _organization(engine, included=0)

    with pytest.raises(RuntimeError):
        with db.write_connection(engine) as connection:
            meter_request(
                connection,
                organization_id=organization.id,
                product=Product.SMART_CNAM,
                lookup_type=LookupType.CALLER_ID,
                request_key="lookup-failed-later",
                now=NOW,
            )
            raise RuntimeError("the lookup failed after it was metered")

    assert _account(engine, organization).unbilled_micros == 0
    assert count(engine, UsageRecord) == 0
    assert count(engine, UsageDaily) == 0


def test_the_meter_joins_a_write_sessions_unit_of_work(engine):
    organization = _organization(engine, included=0)

    with db.write_session(engine) as session:
        result = meter_request(
            session.connection(),
            organization_id=organization.id,
            product=Product.SMART_CNAM,
            lookup_type=LookupType.TELCO_CARRIER,
            request_key="from-a-session",
            now=NOW,
        )

    assert result.cost_micros == STARTER_PRICE
    assert _account(engine, organization).unbilled_micros == STARTER_PRICE


# --- Daily roll-ups and the check ----------------------------------------------------------


def test_daily_roll_ups_add_up_to_the_usage_records(engine):
    first = _organization(engine, included=4)
    second = _organization(engine, plan="provider", included=2)
    lookup_types = list(LookupType)
    times = [_toronto(2026, 11, day, hour) for day in (3, 4) for hour in (0, 12, 23)]
    for index, moment in enumerate(times * 2):
        for organization in (first, second):
            _meter(
                engine,
                organization,
                lookup_type=lookup_types[index % len(lookup_types)],
                now=moment,
            )

    with db.read_session(engine) as session:
        records = session.exec(select(UsageRecord)).all()
        daily = session.exec(select(UsageDaily)).all()
    expected: Counter[tuple[object, ...]] = Counter()
    for record in records:
        key = (
            record.organization_id,
            record.created_at.astimezone(TORONTO).date(),
            str(record.product),
            str(record.lookup_type),
        )
        expected[(*key, "requests")] += 1
        expected[(*key, "billable")] += 0 if record.included else 1
        expected[(*key, "cost")] += record.cost_micros
    rolled: Counter[tuple[object, ...]] = Counter()
    for row in daily:
        day_key = (row.organization_id, row.day, row.product, row.lookup_type)
        rolled[(*day_key, "requests")] += row.requests
        rolled[(*day_key, "billable")] += row.billable_requests
        rolled[(*day_key, "cost")] += row.cost_micros
    assert rolled == expected
    assert sum(row.requests for row in daily) == 24
    assert sum(row.cost_micros for row in daily) == 8 * STARTER_PRICE + 10 * 2_500


def test_the_check_finds_unbilled_usage_that_drifted_from_the_records(engine):
    organization = _organization(engine, included=0)
    _meter(engine, organization)
    assert _mismatches(engine) == []
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(unbilled_micros=BillingAccount.unbilled_micros + 7)
        )

    assert _mismatches(engine) == [
        BalanceMismatch(
            organization_id=organization.id,
            cached_micros=STARTER_PRICE + 7,
            ledger_micros=STARTER_PRICE,
            figure=AccountFigure.UNBILLED,
        )
    ]


def test_the_check_leaves_out_the_usage_on_invoices(engine):
    organization = _organization(engine, included=0)
    _meter(engine, organization, now=datetime(2026, 10, 20, tzinfo=UTC))
    _meter(engine, organization, now=datetime(2026, 10, 21, tzinfo=UTC))
    _meter(engine, organization)
    with db.write_session(engine) as session:
        # What the invoice run does for October: post the invoice, take its usage off, and
        # mark the records it billed.
        entry = ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.INVOICE,
            amount_cents=-3_001,
            idempotency_key="invoice-2026-10",
            memo="October",
            releases_unbilled_micros=2 * STARTER_PRICE,
        )
        invoice = Invoice(
            organization_id=organization.id,
            number=1,
            period="2026-10",
            status=InvoiceStatus.PAID,
            subtotal_cents=3_001,
            tax_cents=0,
            total_cents=3_001,
            seller_details="SIPSTACK Inc.",
            buyer_details="Org",
            ledger_entry_id=entry.id,
        )
        session.add(invoice)
        session.flush()
        session.execute(
            update(UsageRecord)
            .where(col(UsageRecord.period) == "2026-10")
            .values(invoice_id=invoice.id)
        )

    assert _account(engine, organization).unbilled_micros == STARTER_PRICE
    assert _mismatches(engine) == []
    with db.read_session(engine) as session:
        total = session.exec(select(func.sum(UsageRecord.cost_micros))).one()
    assert total == 3 * STARTER_PRICE
