"""A period is billed with what was in force during it, whatever changed between its end and
the run: the plan, a contract, a scheduled downgrade's own date, a plan's price, a tax rate,
the buyer's province. Each case was billed wrong when the run read things as they stood at
the run. On SQLite and PostgreSQL, and the run against a concurrent plan change."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.billing import (
    BillingCycle,
    Invoice,
    InvoiceLine,
    InvoiceTax,
    Subscription,
)
from portal_core.services import company, invoices, staff_billing, subscriptions
from portal_core.services.company import CompanyDetails
from portal_core.services.staff_billing import ContractForm, PlanForm
from tests.factories import (
    actor_of,
    make_card,
    make_organization,
    make_staff,
    make_user,
    put_on_plan,
)
from tests.services.support import fetch, race

TORONTO = ZoneInfo("America/Toronto")
SEPTEMBER = datetime(2026, 9, 1, tzinfo=TORONTO)
MID_OCTOBER = datetime(2026, 10, 10, 12, 0, tzinfo=TORONTO)
AFTER_MIDNIGHT = datetime(2026, 11, 1, 0, 30, tzinfo=TORONTO)  # October has ended
RUN = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)  # ...and the scheduler's run comes


def _member(engine, plan: str = "starter", *, province: str = "ON", country: str = "CA") -> User:
    with db.write_session(engine) as session:
        organization = make_organization(session, country=country, province=province)
        put_on_plan(session, organization, plan, since=SEPTEMBER)
        make_card(session, organization)
        return make_user(session, organization=organization, role=Role.OWNER)


def _organization_id(member: User) -> uuid.UUID:
    assert member.organization_id is not None
    return member.organization_id


def _staff(engine) -> User:
    with db.write_session(engine) as session:
        return make_staff(session)


def _october(engine, member: User) -> tuple[list[tuple], list[tuple]]:
    """October's invoice: (description, amount) of its lines, (tax, rate, amount) of taxes."""
    with db.read_session(engine) as session:
        invoice = session.exec(
            select(Invoice).where(
                Invoice.organization_id == member.organization_id, Invoice.period == "2026-10"
            )
        ).one()
        lines = session.exec(
            select(InvoiceLine.description, InvoiceLine.amount_cents)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(col(InvoiceLine.position))
        ).all()
        taxes = session.exec(
            select(InvoiceTax.tax, InvoiceTax.rate_millipercent, InvoiceTax.amount_cents)
            .where(InvoiceTax.invoice_id == invoice.id)
            .order_by(col(InvoiceTax.tax))
        ).all()
    return [tuple(line) for line in lines], [tuple(tax) for tax in taxes]


def _run(engine, now: datetime = RUN) -> invoices.RunSummary:
    return invoices.run_invoices(engine, period="2026-10", now=now)


def _contract(fee: str) -> ContractForm:
    return ContractForm(
        monthly_fee=fee,
        included_requests="2000000",
        additional_request_price="0.0020",
        lookups_per_second="500",
        credit_limit="20000",
    )


def test_a_plan_change_after_midnight_on_the_1st_leaves_last_months_fee(engine):
    member = _member(engine, "starter", country="US", province="NY")
    with db.write_session(engine) as session:
        subscriptions.change_plan(
            session,
            actor_of(member),
            plan_code="competitor",
            cycle=BillingCycle.MONTHLY,
            now=AFTER_MIDNIGHT,
        )

    _run(engine)

    lines, _taxes = _october(engine, member)
    assert lines == [("Starter plan, October 2026", 3_000)]


def test_a_late_rerun_after_a_contract_change_bills_the_plan_the_month_had(engine):
    member = _member(engine, "starter", country="US", province="NY")
    staff = _staff(engine)
    with db.write_session(engine) as session:
        staff_billing.set_carrier_contract(
            session,
            actor_of(staff),
            _organization_id(member),
            _contract("15000"),
            reason="Signed on the 10th",
            now=datetime(2026, 11, 10, tzinfo=TORONTO),
        )

    _run(engine, now=datetime(2026, 11, 12, tzinfo=TORONTO))

    lines, _taxes = _october(engine, member)
    assert lines == [("Starter plan, October 2026", 3_000)]


def test_a_contract_ended_on_the_28th_bills_the_contracts_month(engine):
    member = _member(engine, "starter", country="US", province="NY")
    staff = _staff(engine)
    with db.write_session(engine) as session:
        staff_billing.set_carrier_contract(
            session,
            actor_of(staff),
            _organization_id(member),
            _contract("15000"),
            reason="Signed",
            now=datetime(2026, 9, 20, tzinfo=TORONTO),
        )
        staff_billing.end_carrier_contract(
            session,
            actor_of(staff),
            _organization_id(member),
            plan_code="starter",
            reason="Ended",
            now=datetime(2026, 10, 28, tzinfo=TORONTO),
        )

    _run(engine)

    lines, _taxes = _october(engine, member)
    assert lines == [("Carrier contract, October 2026", 1_500_000)]


def test_a_credit_limit_set_on_the_1st_does_not_postpone_a_scheduled_downgrade(engine):
    member = _member(engine, "competitor", country="US", province="NY")
    staff = _staff(engine)
    with db.write_session(engine) as session:
        subscriptions.change_plan(
            session,
            actor_of(member),
            plan_code="starter",
            cycle=BillingCycle.MONTHLY,
            now=MID_OCTOBER,
        )
    with db.write_session(engine) as session:
        staff_billing.set_credit_limit(
            session,
            actor_of(staff),
            _organization_id(member),
            limit="5000",
            reason="Asked by finance",
            now=AFTER_MIDNIGHT,
        )

    _run(engine)

    subscription = fetch(engine, Subscription, member.organization_id)
    assert (subscription.plan_code, subscription.next_plan_code) == ("starter", None)
    assert subscription.term_started_at == datetime(2026, 11, 1, tzinfo=TORONTO)
    lines, _taxes = _october(engine, member)
    assert lines == [("Competitor plan, October 2026", 70_000)]


def test_a_price_change_applies_from_the_first_month_that_begins_after_it(engine):
    member = _member(engine, "starter", country="US", province="NY")
    staff = _staff(engine)
    with db.write_session(engine) as session:
        staff_billing.update_plan(
            session,
            actor_of(staff),
            "starter",
            PlanForm(
                monthly_price="35.00",
                yearly_monthly_price="24.00",
                included_requests="10000",
                additional_request_price="0.0030",
                credit_limit="60.00",
            ),
            now=MID_OCTOBER,
        )

    _run(engine)
    invoices.run_invoices(engine, period="2026-11", now=datetime(2026, 12, 1, 6, tzinfo=TORONTO))

    lines, _taxes = _october(engine, member)
    assert lines == [("Starter plan, October 2026", 3_000)]
    with db.read_session(engine) as session:
        november = session.exec(
            select(InvoiceLine.amount_cents)
            .join(Invoice, col(Invoice.id) == col(InvoiceLine.invoice_id))
            .where(Invoice.period == "2026-11", Invoice.organization_id == member.organization_id)
        ).all()
    assert november == [3_500]


def _move_to_quebec(engine, member: User, *, now: datetime) -> None:
    with db.write_session(engine) as session:
        company.save_company(
            session,
            actor_of(member),
            CompanyDetails(
                legal_name="Moved Telecom Inc.",
                country="CA",
                province="QC",
                address_line="1 Rue Sainte-Catherine",
                city="Montréal",
                postal_code="H2X 1Y4",
                tax_id="",
            ),
            now=now,
        )


def test_a_move_to_another_province_on_the_1st_taxes_the_next_month(engine):
    member = _member(engine, "starter", province="ON")
    _move_to_quebec(engine, member, now=AFTER_MIDNIGHT)

    _run(engine)

    _lines, taxes = _october(engine, member)
    assert taxes == [("HST", 13_000, 390)]


def test_a_move_made_mid_month_taxes_that_months_invoice(engine):
    """What the Company page says: each month's invoice is taxed by the details at the end of
    the month, so a move saved on the 10th already applies to that month's invoice."""
    member = _member(engine, "starter", province="ON")
    _move_to_quebec(engine, member, now=MID_OCTOBER)

    _run(engine)

    _lines, taxes = _october(engine, member)
    assert taxes == [("GST", 5_000, 150), ("QST", 9_975, 299)]


def test_the_run_waits_for_a_plan_change_made_at_the_same_moment_and_keeps_it(
    concurrent_engine,
):
    engine = concurrent_engine
    member = _member(engine, "competitor", country="US", province="NY")
    with db.write_session(engine) as session:
        subscriptions.change_plan(
            session,
            actor_of(member),
            plan_code="starter",
            cycle=BillingCycle.MONTHLY,
            now=MID_OCTOBER,
        )  # a downgrade, due on 1 November
    upgrading = threading.Event()

    def upgrade() -> None:
        # The partner changes their mind just as the run starts: back up to Provider, which
        # drops the scheduled downgrade. The change holds its lock a moment before committing.
        with db.write_session(engine) as session:
            subscriptions.change_plan(
                session,
                actor_of(member),
                plan_code="provider",
                cycle=BillingCycle.MONTHLY,
                now=AFTER_MIDNIGHT,
            )
            upgrading.set()
            time.sleep(0.5)

    def run() -> None:
        upgrading.wait(timeout=30)
        _run(engine)

    race([upgrade, run], threads=2)

    subscription = fetch(engine, Subscription, member.organization_id)
    assert (subscription.plan_code, subscription.next_plan_code) == ("provider", None)


def test_terms_are_recorded_as_the_subscription_changes(engine):
    member = _member(engine, "starter", country="US", province="NY")
    with db.write_session(engine) as session:
        subscriptions.change_plan(
            session,
            actor_of(member),
            plan_code="competitor",
            cycle=BillingCycle.MONTHLY,
            now=MID_OCTOBER,
        )

    _run(engine)

    lines, _taxes = _october(engine, member)
    assert lines == [("Competitor plan, October 2026", 70_000)]


def test_a_change_after_midnight_starts_from_the_downgrade_that_took_effect_then(engine):
    member = _member(engine, "provider", country="US", province="NY")
    with db.write_session(engine) as session:
        subscriptions.change_plan(
            session,
            actor_of(member),
            plan_code="starter",
            cycle=BillingCycle.MONTHLY,
            now=MID_OCTOBER,
        )  # Provider → Starter, due 1 November

    # At 00:30 on the 1st, before the run, the partner picks Competitor: from Starter (in
    # force since midnight) that is an upgrade, which takes effect at once.
    with db.write_session(engine) as session:
        change = subscriptions.change_plan(
            session,
            actor_of(member),
            plan_code="competitor",
            cycle=BillingCycle.MONTHLY,
            now=AFTER_MIDNIGHT,
        )
    _run(engine)

    assert change.kind is subscriptions.ChangeKind.UPGRADE
    assert change.from_plan_name == "Starter"
    subscription = fetch(engine, Subscription, _organization_id(member))
    assert (subscription.plan_code, subscription.next_plan_code) == ("competitor", None)
    lines, _taxes = _october(engine, member)
    assert lines == [("Provider plan, October 2026", 250_000)]
