"""Staff billing actions (services/staff_billing.py): credits and adjustments, credit limits,
Carrier contracts, plans, tax rates, invoice runs and the balance check — each validated
field by field, audited, and refused to every partner role."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import PARTNER_ROLES, Organization, Role
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceTax,
    LedgerEntry,
    LookupType,
    Plan,
    Product,
    Subscription,
    TaxRate,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.permissions import Actor
from portal_core.services import invoices, staff_billing
from portal_core.services.ledger import AccountFigure
from portal_core.services.meter import meter_request
from portal_core.services.staff_billing import ContractForm, Mismatch, PlanForm
from tests.factories import actor_of, change_subscription, make_organization, make_staff, make_user
from tests.services.support import count, fetch, race

TORONTO = ZoneInfo("America/Toronto")
OCTOBER_5TH = datetime(2026, 10, 5, 12, 0, tzinfo=TORONTO)
OCTOBER_10TH = datetime(2026, 10, 10, 12, 0, tzinfo=TORONTO)
NOVEMBER_1ST = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)
MID_OCTOBER = datetime(2026, 10, 15, 12, 0, tzinfo=TORONTO)
STARTER_LIMIT_CENTS = 6_000  # twice Starter's $30 (data/plans.csv)


@pytest.fixture
def staff(engine: Engine) -> Actor:
    with db.write_session(engine) as session:
        return actor_of(make_staff(session, email="sam@sipstack.example"))


def _organization(
    engine: Engine, *, plan: str = "starter", name: str | None = None, **changes: object
) -> Organization:
    with db.write_session(engine) as session:
        organization = make_organization(session, name=name)
        change_subscription(
            session,
            organization,
            **{
                "plan_code": plan,
                "term_started_at": datetime(2026, 9, 1, tzinfo=TORONTO),
                "updated_at": datetime(2026, 9, 1, tzinfo=TORONTO),
                **changes,  # a test's own changes win
            },
        )
        if plan == "starter":
            session.execute(
                update(BillingAccount)
                .where(col(BillingAccount.organization_id) == organization.id)
                .values(credit_limit_micros=STARTER_LIMIT_CENTS * MICROS_PER_CENT)
            )
    return organization


def _post(
    engine: Engine,
    actor: Actor,
    organization: Organization,
    amount: str,
    *,
    kind: EntryKind = EntryKind.CREDIT,
    reason: str = "Goodwill for the October outage",
    key: str | None = None,
) -> LedgerEntry:
    with db.write_session(engine) as session:
        return staff_billing.post_credit(
            session,
            actor,
            organization.id,
            kind=kind,
            amount=amount,
            reason=reason,
            idempotency_key=key or uuid.uuid4().hex,
        )


def _set_limit(
    engine: Engine, actor: Actor, organization: Organization, limit: str, reason: str = "Trusted"
) -> int:
    with db.write_session(engine) as session:
        return staff_billing.set_credit_limit(
            session, actor, organization.id, limit=limit, reason=reason
        )


CONTRACT = ContractForm(
    monthly_fee="9,500.00",
    included_requests="2,000,000",
    additional_request_price="0.0021",
    lookups_per_second="300",
    credit_limit="20,000",
)


def _set_contract(
    engine: Engine,
    actor: Actor,
    organization: Organization,
    form: ContractForm = CONTRACT,
    *,
    now: datetime = OCTOBER_5TH,
) -> staff_billing.Contract:
    with db.write_session(engine) as session:
        return staff_billing.set_carrier_contract(
            session, actor, organization.id, form, reason="Signed contract C-1042", now=now
        )


def _end_contract(
    engine: Engine, actor: Actor, organization: Organization, plan_code: str = "starter"
) -> None:
    with db.write_session(engine) as session:
        staff_billing.end_carrier_contract(
            session, actor, organization.id, plan_code=plan_code, reason="Contract ended"
        )


def _account(engine: Engine, organization: Organization) -> BillingAccount:
    return fetch(engine, BillingAccount, organization.id)


def _subscription(engine: Engine, organization: Organization) -> Subscription:
    return fetch(engine, Subscription, organization.id)


def _audits(engine: Engine, action: str) -> list[AuditEvent]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == action)
                .order_by(col(AuditEvent.created_at))
            ).all()
        )


def _entries(engine: Engine, organization: Organization) -> list[LedgerEntry]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(LedgerEntry)
                .where(LedgerEntry.organization_id == organization.id)
                .order_by(col(LedgerEntry.created_at))
            ).all()
        )


def _problems(call: Callable[[], object]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as raised:
        call()
    return raised.value.errors


# --- Credits and adjustments ----------------------------------------------------------------


def test_a_credit_adds_to_the_balance_with_the_reason_as_its_description(engine, staff):
    organization = _organization(engine, name="Northwind Voice")

    entry = _post(engine, staff, organization, "$250.00", reason=" Goodwill for the outage ")

    assert (entry.kind, entry.amount_cents, entry.balance_after_cents) == (
        EntryKind.CREDIT,
        25_000,
        25_000,
    )
    assert (entry.memo, entry.created_by) == ("Goodwill for the outage", staff.user_id)
    assert _account(engine, organization).balance_micros == 25_000 * MICROS_PER_CENT
    [event] = _audits(engine, "billing.credit_posted")
    assert (event.actor_user_id, event.organization_id, event.subject) == (
        staff.user_id,
        organization.id,
        "Northwind Voice",
    )
    assert event.detail == "$250.00; new balance $250.00: Goodwill for the outage"


def test_an_adjustment_can_take_money_away_even_below_zero(engine, staff):
    organization = _organization(engine)
    _post(engine, staff, organization, "40")

    entry = _post(
        engine, staff, organization, "−55.50", kind=EntryKind.ADJUSTMENT, reason="Chargeback"
    )

    assert (entry.kind, entry.amount_cents, entry.balance_after_cents) == (
        EntryKind.ADJUSTMENT,
        -5_550,
        -1_550,
    )
    assert _account(engine, organization).balance_micros == -1_550 * MICROS_PER_CENT
    [event] = _audits(engine, "billing.adjustment_posted")
    assert event.detail == "−$55.50; new balance −$15.50: Chargeback"


def test_the_same_idempotency_key_posts_once_and_is_audited_once(engine, staff):
    organization = _organization(engine)

    first = _post(engine, staff, organization, "25", key="form-7f3a")
    again = _post(engine, staff, organization, "25", key="form-7f3a")

    assert again.id == first.id
    assert len(_entries(engine, organization)) == 1
    assert _account(engine, organization).balance_micros == 2_500 * MICROS_PER_CENT
    assert len(_audits(engine, "billing.credit_posted")) == 1


def test_the_same_key_for_another_amount_is_refused(engine, staff):
    organization = _organization(engine)
    _post(engine, staff, organization, "25", key="form-7f3a")

    with pytest.raises(Conflict):
        _post(engine, staff, organization, "26", key="form-7f3a")

    assert len(_entries(engine, organization)) == 1


def test_five_concurrent_posts_of_one_key_make_one_entry_and_one_audit_event(
    concurrent_engine,
):
    with db.write_session(concurrent_engine) as session:
        actor = actor_of(make_staff(session))
    organization = _organization(concurrent_engine)

    entries = race(
        [
            lambda: _post(concurrent_engine, actor, organization, "10.00", key="double-click")
            for _ in range(5)
        ],
        threads=5,
    )

    assert len({entry.id for entry in entries}) == 1
    assert len(_entries(concurrent_engine, organization)) == 1
    assert _account(concurrent_engine, organization).balance_micros == 1_000 * MICROS_PER_CENT
    assert len(_audits(concurrent_engine, "billing.credit_posted")) == 1


@pytest.mark.parametrize(
    ("kind", "amount", "message"),
    [
        (
            EntryKind.CREDIT,
            "-5.00",
            "A credit adds to the balance: enter a positive amount, or post an adjustment to "
            "take money away.",
        ),
        (EntryKind.CREDIT, "0.00", "Enter an amount other than zero."),
        (EntryKind.ADJUSTMENT, "100,000.01", "At most $100,000.00 in one entry."),
        (EntryKind.ADJUSTMENT, "-100000.01", "At most $100,000.00 in one entry."),
        (EntryKind.CREDIT, "1.005", "Amounts are in whole cents: use at most two decimals."),
        (EntryKind.CREDIT, "ten", "“ten” is not an amount in dollars, such as 25.00."),
        (EntryKind.CREDIT, "", "“” is not an amount in dollars, such as 25.00."),
    ],
)
def test_an_amount_that_breaks_a_rule_is_refused_with_its_message(
    engine, staff, kind, amount, message
):
    organization = _organization(engine)

    problems = _problems(lambda: _post(engine, staff, organization, amount, kind=kind))

    assert problems == {"amount": message}
    assert _entries(engine, organization) == []


def test_the_largest_entries_either_way_are_allowed(engine, staff):
    organization = _organization(engine)

    _post(engine, staff, organization, "100,000.00")
    _post(engine, staff, organization, "-100000", kind=EntryKind.ADJUSTMENT)

    assert [entry.amount_cents for entry in _entries(engine, organization)] == [
        10_000_000,
        -10_000_000,
    ]


@pytest.mark.parametrize("kind", [EntryKind.PAYMENT, EntryKind.REFUND, EntryKind.INVOICE])
def test_staff_cannot_post_a_payment_an_invoice_or_a_refund(engine, staff, kind):
    organization = _organization(engine)

    problems = _problems(lambda: _post(engine, staff, organization, "5", kind=kind))

    assert problems == {"kind": "Staff post credits and adjustments only."}
    assert _entries(engine, organization) == []


def test_a_reason_is_required_and_every_problem_is_reported_at_once(engine, staff):
    organization = _organization(engine)

    problems = _problems(lambda: _post(engine, staff, organization, "abc", reason="   "))

    assert problems == {
        "amount": "“abc” is not an amount in dollars, such as 25.00.",
        "reason": "Enter a reason.",
    }
    assert _entries(engine, organization) == []
    assert _audits(engine, "billing.credit_posted") == []


def test_an_unknown_organization_is_not_found(engine, staff):
    with pytest.raises(NotFound), db.write_session(engine) as session:
        staff_billing.post_credit(
            session,
            staff,
            uuid.uuid4(),
            kind=EntryKind.CREDIT,
            amount="5",
            reason="Test",
            idempotency_key="k",
        )


# --- Credit limits --------------------------------------------------------------------------


def test_a_credit_limit_set_by_staff_is_what_the_meter_guard_reads(engine, staff):
    organization = _organization(engine, name="Northwind Voice")

    in_force = _set_limit(engine, staff, organization, "1,500.00", "Pays by wire, reliable")

    assert in_force == 150_000
    assert _subscription(engine, organization).credit_limit_override_cents == 150_000
    assert _account(engine, organization).credit_limit_micros == 150_000 * MICROS_PER_CENT
    [event] = _audits(engine, "billing.credit_limit_set")
    assert (event.subject, event.organization_id) == ("Northwind Voice", organization.id)
    assert event.detail == (
        "$60.00 (the plan's) → $1,500.00 (set by staff): Pays by wire, reliable"
    )


def test_clearing_the_credit_limit_returns_to_the_plans(engine, staff):
    organization = _organization(engine)
    _set_limit(engine, staff, organization, "1500")

    in_force = _set_limit(engine, staff, organization, "  ", "Back to normal terms")

    assert in_force == STARTER_LIMIT_CENTS
    assert _subscription(engine, organization).credit_limit_override_cents is None
    assert _account(engine, organization).credit_limit_micros == (
        STARTER_LIMIT_CENTS * MICROS_PER_CENT
    )
    last = _audits(engine, "billing.credit_limit_set")[-1]
    assert last.detail == "$1,500.00 (set by staff) → $60.00 (the plan's): Back to normal terms"


def test_a_credit_limit_of_zero_is_a_limit_of_its_own(engine, staff):
    organization = _organization(engine)

    assert _set_limit(engine, staff, organization, "0") == 0
    assert _subscription(engine, organization).credit_limit_override_cents == 0


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("-1", "Enter an amount of zero or more."),
        ("1,000,000.01", "At most $1,000,000.00."),
        ("lots", "“lots” is not an amount in dollars, such as 25.00."),
    ],
)
def test_a_credit_limit_that_breaks_a_rule_is_refused(engine, staff, limit, message):
    organization = _organization(engine)

    assert _problems(lambda: _set_limit(engine, staff, organization, limit)) == {
        "credit_limit": message
    }
    assert _subscription(engine, organization).credit_limit_override_cents is None


def test_a_credit_limit_needs_a_reason(engine, staff):
    organization = _organization(engine)

    assert _problems(lambda: _set_limit(engine, staff, organization, "100", reason="")) == {
        "reason": "Enter a reason."
    }


def test_a_staff_limit_survives_a_new_plan_default_and_the_others_follow_it(engine, staff):
    own = _organization(engine)
    follower = _organization(engine)
    other_plan = _organization(engine, plan="competitor")
    _set_limit(engine, staff, own, "1,500")
    before_other = _account(engine, other_plan).credit_limit_micros

    with db.write_session(engine) as session:
        result = staff_billing.update_plan(
            session, staff, "starter", _starter_form(credit_limit="80")
        )

    assert result.organizations_following == 1
    assert _account(engine, own).credit_limit_micros == 150_000 * MICROS_PER_CENT
    assert _account(engine, follower).credit_limit_micros == 8_000 * MICROS_PER_CENT
    assert _account(engine, other_plan).credit_limit_micros == before_other


# --- Carrier contracts ----------------------------------------------------------------------


def test_a_contract_puts_the_organization_on_carrier_with_its_figures(engine, staff):
    organization = _organization(engine, name="Maple Carrier", next_plan_code="free")

    contract = _set_contract(engine, staff, organization)

    subscription = _subscription(engine, organization)
    assert (subscription.plan_code, subscription.cycle, subscription.next_plan_code) == (
        "carrier",
        BillingCycle.MONTHLY,
        None,
    )
    assert subscription.term_started_at == OCTOBER_5TH
    assert (
        subscription.contract_monthly_cents,
        subscription.contract_included_requests,
        subscription.contract_additional_request_micros,
        subscription.contract_lookups_per_second,
        subscription.credit_limit_override_cents,
    ) == (950_000, 2_000_000, 2_100, 300, 2_000_000)
    assert contract.describe() == (
        "$9,500.00 a month, 2,000,000 requests included, then $0.0021 each, 300 lookups a "
        "second, credit limit $20,000.00"
    )
    assert _account(engine, organization).credit_limit_micros == 2_000_000 * MICROS_PER_CENT
    [event] = _audits(engine, "billing.contract_set")
    assert event.subject == "Maple Carrier"
    assert event.detail == (
        f"Starter plan (monthly) → Carrier contract: {contract.describe()}: Signed contract C-1042"
    )


def test_new_terms_for_a_running_contract_keep_its_term(engine, staff):
    organization = _organization(engine)
    _set_contract(engine, staff, organization, now=OCTOBER_5TH)

    _set_contract(
        engine,
        staff,
        organization,
        ContractForm("12000", "3000000", "0.002", "500", "25000"),
        now=OCTOBER_10TH,
    )

    subscription = _subscription(engine, organization)
    assert subscription.term_started_at == OCTOBER_5TH
    assert (subscription.contract_monthly_cents, subscription.contract_included_requests) == (
        1_200_000,
        3_000_000,
    )
    second = _audits(engine, "billing.contract_set")[-1]
    assert second.detail is not None
    assert second.detail.startswith("Carrier contract: $9,500.00 a month")


def _meter(engine: Engine, organization: Organization, now: datetime) -> int:
    with db.write_connection(engine) as connection:
        return meter_request(
            connection,
            organization_id=organization.id,
            product=Product.SMART_CNAM,
            lookup_type=LookupType.CALLER_ID,
            request_key=uuid.uuid4().hex,
            now=now,
        ).cost_micros


def test_the_meter_and_the_invoice_run_bill_the_contracts_figures(engine, staff):
    organization = _organization(engine)
    _set_contract(
        engine,
        staff,
        organization,
        ContractForm("9500", "2", "0.0125", "300", "20000"),
        now=OCTOBER_5TH,
    )

    costs = [_meter(engine, organization, OCTOBER_10TH) for _ in range(4)]
    summary = invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    assert costs == [0, 0, 12_500, 12_500]
    assert summary.created == 1
    with db.read_session(engine) as session:
        invoice = session.exec(
            select(Invoice).where(Invoice.organization_id == organization.id)
        ).one()
        lines = session.exec(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(col(InvoiceLine.position))
        ).all()
        [tax] = session.exec(select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id)).all()
    assert [
        (line.description, line.quantity, line.unit_micros, line.amount_cents) for line in lines
    ] == [
        ("Carrier contract, October 2026", 1, 950_000 * MICROS_PER_CENT, 950_000),
        ("Caller ID lookups beyond the allowance", 2, 12_500, 3),  # 2.5 ¢, half-up
    ]
    assert (tax.tax, tax.amount_cents) == ("HST", 123_500)  # 13 % of $9,500.03, half-up
    assert invoice.total_cents == 950_003 + 123_500


def test_ending_a_contract_moves_to_the_plan_with_its_credit_limit(engine, staff):
    organization = _organization(engine)
    _set_contract(engine, staff, organization)

    _end_contract(engine, staff, organization, "starter")

    subscription = _subscription(engine, organization)
    assert (subscription.plan_code, subscription.cycle) == ("starter", BillingCycle.MONTHLY)
    assert (
        subscription.contract_monthly_cents,
        subscription.contract_included_requests,
        subscription.contract_additional_request_micros,
        subscription.contract_lookups_per_second,
        subscription.credit_limit_override_cents,
    ) == (None, None, None, None, None)
    assert _account(engine, organization).credit_limit_micros == (
        STARTER_LIMIT_CENTS * MICROS_PER_CENT
    )
    [event] = _audits(engine, "billing.contract_ended")
    assert event.detail is not None
    assert event.detail.endswith("→ Starter plan, credit limit $60.00: Contract ended")


def test_ending_a_contract_that_does_not_exist_is_refused(engine, staff):
    organization = _organization(engine, name="Plain Starter")

    with pytest.raises(Conflict, match="Plain Starter has no Carrier contract to end."):
        _end_contract(engine, staff, organization)


@pytest.mark.parametrize("plan_code", ["carrier", "no-such-plan"])
def test_a_contract_ends_onto_a_plan_with_published_prices_only(engine, staff, plan_code):
    organization = _organization(engine)
    _set_contract(engine, staff, organization)

    problems = _problems(lambda: _end_contract(engine, staff, organization, plan_code))

    assert problems == {"plan_code": "Choose a plan with published prices."}
    assert _subscription(engine, organization).plan_code == "carrier"


def test_every_bad_contract_figure_is_reported_at_once(engine, staff):
    organization = _organization(engine)

    problems = _problems(
        lambda: _set_contract(
            engine,
            staff,
            organization,
            ContractForm("abc", "-3", "0.0000001", "0", ""),
        )
    )

    assert problems == {
        "monthly_fee": "“abc” is not an amount in dollars, such as 25.00.",
        "included_requests": "Enter a whole number, such as 2,000,000.",
        "additional_request_price": (
            "Prices per request go to the millionth of a dollar: at most six decimals."
        ),
        "lookups_per_second": "Enter a number from 1 to 100,000.",
        "credit_limit": "Enter an amount in dollars, such as 250.00.",
    }
    assert _subscription(engine, organization).plan_code == "starter"


@pytest.mark.parametrize(
    ("price", "micros"),
    [("0.0021", 2_100), ("$0.000001", 1), ("0", 0), ("1", 1_000_000), (".5", 500_000)],
)
def test_a_contract_price_per_request_is_read_to_the_micro_dollar(engine, staff, price, micros):
    form = ContractForm("100", "1000", price, "10", "0")

    assert staff_billing.parse_contract(form).additional_request_micros == micros


def test_a_contract_price_above_a_dollar_a_request_is_refused(engine, staff):
    form = ContractForm("100", "1000", "1.000001", "10", "0")

    assert _problems(lambda: staff_billing.parse_contract(form)) == {
        "additional_request_price": "At most $1.0000."
    }


# --- Plans ----------------------------------------------------------------------------------


def _starter_form(**changes: str) -> PlanForm:
    values = {
        "monthly_price": "30.00",
        "yearly_monthly_price": "24.00",
        "included_requests": "10,000",
        "additional_request_price": "0.0030",
        "credit_limit": "60.00",
    }
    values.update(changes)
    return PlanForm(**values)


def _update_plan(
    engine: Engine, actor: Actor, code: str, form: PlanForm
) -> staff_billing.PlanUpdate:
    with db.write_session(engine) as session:
        return staff_billing.update_plan(session, actor, code, form)


def test_staff_edit_a_plan_and_the_audit_keeps_before_and_after(engine, staff):
    result = _update_plan(
        engine,
        staff,
        "starter",
        _starter_form(
            monthly_price="35",
            yearly_monthly_price="28",
            included_requests="12000",
            additional_request_price="0.0029",
        ),
    )

    assert result.changes == [
        "monthly price: $30.00 → $35.00",
        "yearly price per month: $24.00 → $28.00",
        "included requests: 10,000 → 12,000",
        "price per additional request: $0.0030 → $0.0029",
    ]
    [event] = _audits(engine, "billing.plan_updated")
    assert (event.subject, event.actor_user_id) == ("Starter", staff.user_id)
    assert event.detail == "; ".join(result.changes)
    plan = _plan(engine, "starter")
    assert (
        plan.monthly_cents,
        plan.yearly_monthly_cents,
        plan.included_requests,
        plan.additional_request_micros,
        plan.credit_limit_cents,
    ) == (3_500, 2_800, 12_000, 2_900, 6_000)


def _plan(engine: Engine, code: str) -> Plan:
    return fetch(engine, Plan, code)


def test_saving_a_plan_unchanged_changes_nothing_and_audits_nothing(engine, staff):
    assert _update_plan(engine, staff, "starter", _starter_form()).changes == []
    assert _audits(engine, "billing.plan_updated") == []


def test_an_empty_price_per_additional_request_makes_the_plan_capped(engine, staff):
    result = _update_plan(engine, staff, "starter", _starter_form(additional_request_price=""))

    assert result.changes == ["price per additional request: $0.0030 → none (capped)"]
    assert _plan(engine, "starter").additional_request_micros is None


def test_the_meter_prices_new_requests_at_a_plans_new_price(engine, staff):
    organization = _organization(engine)
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(period="2026-10", period_requests=10_000)
        )
    _update_plan(engine, staff, "starter", _starter_form(additional_request_price="0.005"))

    assert _meter(engine, organization, OCTOBER_10TH) == 5_000


def test_every_bad_plan_figure_is_reported_at_once(engine, staff):
    problems = _problems(
        lambda: _update_plan(
            engine,
            staff,
            "starter",
            PlanForm(
                monthly_price="",
                yearly_monthly_price="-1",
                included_requests="many",
                additional_request_price="0",
                credit_limit="2,000,000",
            ),
        )
    )

    assert problems == {
        "monthly_price": "Enter an amount in dollars, such as 250.00.",
        "yearly_monthly_price": "Enter an amount of zero or more.",
        "included_requests": "Enter a whole number, such as 2,000,000.",
        "additional_request_price": (
            "Enter a price above zero, or leave it empty for a capped plan."
        ),
        "credit_limit": "At most $1,000,000.00.",
    }
    assert _plan(engine, "starter").monthly_cents == 3_000


def test_carrier_takes_its_default_allowance_only(engine, staff):
    problems = _problems(
        lambda: _update_plan(engine, staff, "carrier", PlanForm("100", "", "3,000,000", "", ""))
    )
    assert problems == {
        "monthly_price": (
            "Carrier's prices and credit limit are set per organization, by contract: leave "
            "this empty."
        )
    }

    result = _update_plan(engine, staff, "carrier", PlanForm("", "", "3,000,000", "", ""))

    assert result.changes == ["included requests: 2,000,000 → 3,000,000"]


def test_an_unknown_plan_is_not_found(engine, staff):
    with pytest.raises(NotFound):
        _update_plan(engine, staff, "platinum", _starter_form())


# --- Tax rates ------------------------------------------------------------------------------


def _tax_rate(engine: Engine, province: str, tax: str) -> TaxRate:
    with db.read_session(engine) as session:
        return session.exec(
            select(TaxRate).where(TaxRate.province == province, TaxRate.tax == tax)
        ).one()


@pytest.mark.parametrize(
    ("typed", "millipercent"),
    [("13", 13_000), ("9.975", 9_975), ("13.5 %", 13_500), ("0", 0), ("100", 100_000)],
)
def test_a_rate_is_read_as_a_percentage_in_thousandths(typed, millipercent):
    assert staff_billing.tax_rate_millipercent(typed) == millipercent


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("100.001", "A tax rate is between 0 and 100 %."),
        ("9.9755", "Use at most three decimals, as in 9.975."),
        ("-1", "“-1” is not a percentage, such as 13 or 9.975."),
        ("", "“” is not a percentage, such as 13 or 9.975."),
    ],
)
def test_a_rate_out_of_bounds_or_too_precise_is_refused(typed, message):
    assert _problems(lambda: staff_billing.tax_rate_millipercent(typed)) == {"rate": message}


def test_a_new_tax_rate_is_audited_and_applied_by_the_invoice_of_the_month_it_is_in(engine, staff):
    organization = _organization(engine)  # Ontario, Starter since September
    hst = _tax_rate(engine, "ON", "HST")

    with db.write_session(engine) as session:
        staff_billing.update_tax_rate(session, staff, hst.id, rate="13.5", now=MID_OCTOBER)
    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    assert _tax_rate(engine, "ON", "HST").rate_millipercent == 13_500
    [event] = _audits(engine, "billing.tax_rate_updated")
    assert (event.subject, event.detail) == ("CA-ON HST", "13 % → 13.5 %")
    with db.read_session(engine) as session:
        invoice = session.exec(
            select(Invoice).where(Invoice.organization_id == organization.id)
        ).one()
        [tax] = session.exec(select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id)).all()
    assert (tax.rate_millipercent, tax.amount_cents) == (13_500, 405)  # 13.5 % of $30.00


def test_a_tax_rate_changed_after_a_period_ended_leaves_that_periods_invoice_alone(engine, staff):
    organization = _organization(engine)  # Ontario, Starter since September
    hst = _tax_rate(engine, "ON", "HST")
    # Staff change the rate at 00:30 on the 1st; the run comes at 06:00 the same morning.
    with db.write_session(engine) as session:
        staff_billing.update_tax_rate(
            session, staff, hst.id, rate="15", now=NOVEMBER_1ST - timedelta(hours=5, minutes=30)
        )

    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    with db.read_session(engine) as session:
        invoice = session.exec(
            select(Invoice).where(Invoice.organization_id == organization.id)
        ).one()
        [tax] = session.exec(select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id)).all()
    assert (tax.rate_millipercent, tax.amount_cents) == (13_000, 390)  # October's 13 %


# --- Invoice runs and the balance check -----------------------------------------------------


def test_staff_run_invoices_with_progress_and_the_run_names_them(engine, staff):
    _organization(engine)
    _organization(engine, plan="free")
    reports: list[tuple[str, int, int]] = []

    summary = staff_billing.run_invoices(
        engine,
        staff,
        period="2026-10",
        now=NOVEMBER_1ST,
        progress=lambda period, done, total: reports.append((period, done, total)),
    )

    assert (summary.created, summary.nothing_to_invoice, summary.failures) == (1, 1, [])
    assert reports == [("2026-10", 0, 2), ("2026-10", 1, 2), ("2026-10", 2, 2)]
    [event] = _audits(engine, "invoices.run")
    assert (event.actor_user_id, event.subject) == (staff.user_id, "2026-10")


def test_the_periods_offered_start_with_last_month_in_the_billing_time_zone(engine, staff):
    # 03:00 UTC on November 1st is still October 31st in Toronto.
    with db.read_session(engine) as session:
        periods = staff_billing.invoice_periods(
            session, staff, now=datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
        )

    assert [period.code for period in periods[:3]] == ["2026-09", "2026-08", "2026-07"]
    assert len(periods) == 24
    assert periods[-1].code == "2024-10"


def test_the_balance_check_names_each_mismatched_organization(engine, staff):
    healthy = _organization(engine, name="Healthy Voice")
    broken = _organization(engine, name="Broken Telecom")
    _post(engine, staff, healthy, "10")
    _post(engine, staff, broken, "10")
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == broken.id)
            .values(balance_micros=BillingAccount.balance_micros + 5, unbilled_micros=7)
        )

    with db.write_session(engine) as session:
        mismatches = staff_billing.check_balances(session, staff)

    assert mismatches == [
        Mismatch(broken.id, "Broken Telecom", AccountFigure.BALANCE, 10_000_005, 10_000_000),
        Mismatch(broken.id, "Broken Telecom", AccountFigure.UNBILLED, 7, 0),
    ]
    assert mismatches[0].difference_micros == 5
    [event] = _audits(engine, "billing.balance_check")
    assert (event.actor_user_id, event.detail) == (staff.user_id, "2 mismatches in 1 organizations")


def test_the_balance_check_finds_nothing_when_every_figure_matches(engine, staff):
    _post(engine, staff, _organization(engine), "10")

    with db.write_session(engine) as session:
        assert staff_billing.check_balances(session, staff) == []


# --- Partners ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(PARTNER_ROLES))
def test_every_partner_role_is_refused_every_staff_billing_action(engine, role: Role):
    with db.write_session(engine) as session:
        partner = actor_of(make_user(session, role=role))
    organization_id = partner.organization_id
    assert organization_id is not None
    hst = _tax_rate(engine, "ON", "HST")
    actions = [
        lambda s: staff_billing.post_credit(
            s,
            partner,
            organization_id,
            kind=EntryKind.CREDIT,
            amount="100",
            reason="Free money",
            idempotency_key="k",
        ),
        lambda s: staff_billing.set_credit_limit(
            s, partner, organization_id, limit="100000", reason="Why not"
        ),
        lambda s: staff_billing.set_carrier_contract(
            s, partner, organization_id, CONTRACT, reason="Why not"
        ),
        lambda s: staff_billing.end_carrier_contract(
            s, partner, organization_id, plan_code="free", reason="Why not"
        ),
        lambda s: staff_billing.update_plan(
            s, partner, "starter", _starter_form(monthly_price="1")
        ),
        lambda s: staff_billing.update_tax_rate(s, partner, hst.id, rate="0"),
        lambda s: staff_billing.check_balances(s, partner),
        lambda s: staff_billing.invoice_periods(s, partner),
    ]

    for action in actions:
        with pytest.raises(PermissionDenied), db.write_session(engine) as session:
            action(session)
    with pytest.raises(PermissionDenied):
        staff_billing.run_invoices(engine, partner, period="2026-10", now=NOVEMBER_1ST)

    assert count(engine, LedgerEntry) == 0
    assert _plan(engine, "starter").monthly_cents == 3_000
    assert _tax_rate(engine, "ON", "HST").rate_millipercent == 13_000
    assert count(engine, Invoice) == 0
