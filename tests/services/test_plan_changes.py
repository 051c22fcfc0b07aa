"""Changing plan (services/subscriptions.py states the rules): upgrades at once with the new
credit limit and the new fee on this month's invoice, downgrades scheduled for the next period
and applied by the invoice run, cancelling, refusals, the card-or-funds rule, roles, staff's
credit limit, and two changes at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    CreditNote,
    CreditNoteTax,
    EntryKind,
    Invoice,
    InvoiceLine,
    LedgerEntry,
    Subscription,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.services import invoices, ledger, subscriptions
from portal_core.services.subscriptions import ChangeKind, PlanChange
from tests.factories import (
    actor_of,
    fund,
    make_card,
    make_organization,
    make_staff,
    make_user,
    put_on_plan,
)
from tests.services.support import count, fetch, race

TORONTO = ZoneInfo("America/Toronto")
MID_OCTOBER = datetime(2026, 10, 15, 12, 0, tzinfo=TORONTO)
NOVEMBER_1ST = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)  # the scheduler's run
SEPTEMBER = datetime(2026, 9, 1, tzinfo=TORONTO)
# data/plans.csv, in cents: monthly fee, yearly price per month, credit limit.
FEES = {"free": 0, "starter": 3_000, "competitor": 70_000, "provider": 250_000}
YEARLY = {"starter": 2_400, "competitor": 56_000, "provider": 200_000}
CREDIT_LIMITS = {"free": 0, "starter": 6_000, "competitor": 140_000, "provider": 500_000}


# --- Helpers -------------------------------------------------------------------------------


def _owner(
    engine,
    *,
    plan: str = "free",
    cycle: BillingCycle = BillingCycle.MONTHLY,
    joined: datetime = SEPTEMBER,
    card: bool = True,
    balance_cents: int = 0,
    role: Role = Role.OWNER,
    country: str = "US",
    province: str | None = None,
    **subscription_changes: object,
) -> User:
    """A member of an organization on ``plan`` since ``joined``, with a saved card or not
    (in the United States, untaxed, unless ``country`` and ``province`` say otherwise)."""
    with db.write_session(engine) as session:
        organization = make_organization(session, country=country, province=province)
        subscription = put_on_plan(
            session, organization, plan, cycle=cycle, since=joined, **subscription_changes
        )
        limit = subscription.credit_limit_override_cents
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(
                credit_limit_micros=(CREDIT_LIMITS.get(plan, 0) if limit is None else limit)
                * MICROS_PER_CENT
            )
        )
        if card:
            _add_card(session, organization)
        if balance_cents:
            fund(session, organization, balance_cents, memo="top-up")
        return make_user(session, organization=organization, role=role)


def _add_card(
    session, organization: Organization, *, exp_year: int = 2030, removed: bool = False
) -> None:
    card = make_card(session, organization, default=True, exp_month=12, exp_year=exp_year)
    if removed:
        card.removed_at = datetime(2026, 10, 1, tzinfo=UTC)
        session.add(card)


def _change(
    engine, user: User, plan: str, cycle: BillingCycle = BillingCycle.MONTHLY, now=MID_OCTOBER
) -> PlanChange:
    with db.write_session(engine) as session:
        return subscriptions.change_plan(
            session, actor_of(user), plan_code=plan, cycle=cycle, now=now
        )


def _preview(engine, user: User, plan: str, cycle=BillingCycle.MONTHLY, now=MID_OCTOBER):
    with db.read_session(engine) as session:
        return subscriptions.preview_change(
            session, actor_of(user), plan_code=plan, cycle=cycle, now=now
        )


def _cancel(engine, user: User, now=MID_OCTOBER) -> str:
    with db.write_session(engine) as session:
        return subscriptions.cancel_pending_change(session, actor_of(user), now=now)


def _subscription(engine, user: User) -> Subscription:
    return fetch(engine, Subscription, user.organization_id)


def _plan_of(engine, user: User) -> tuple[str, BillingCycle, str | None, BillingCycle | None]:
    subscription = _subscription(engine, user)
    return (
        subscription.plan_code,
        subscription.cycle,
        subscription.next_plan_code,
        subscription.next_cycle,
    )


def _credit_limit_cents(engine, user: User) -> int:
    return fetch(engine, BillingAccount, user.organization_id).credit_limit_micros // (
        MICROS_PER_CENT
    )


def _run(engine, period: str = "2026-10", now: datetime = NOVEMBER_1ST):
    return invoices.run_invoices(engine, period=period, now=now)


def _subscription_lines(engine, user: User, period: str) -> list[tuple[str, int, int]]:
    with db.read_session(engine) as session:
        lines = session.exec(
            select(InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.amount_cents)
            .join(Invoice, col(Invoice.id) == InvoiceLine.invoice_id)
            .where(Invoice.organization_id == user.organization_id, Invoice.period == period)
            .order_by(col(InvoiceLine.position))
        ).all()
    return [
        (description, quantity, amount)
        for description, quantity, amount in lines
        if "plan" in description or "contract" in description
    ]


def _audits(engine, user: User, prefix: str = "plan.") -> list[tuple[str, str | None]]:
    with db.read_session(engine) as session:
        rows = session.exec(
            select(AuditEvent.action, AuditEvent.detail)
            .where(
                AuditEvent.organization_id == user.organization_id,
                col(AuditEvent.action).startswith(prefix),
            )
            .order_by(col(AuditEvent.created_at))
        ).all()
    return [(action, detail) for action, detail in rows]


# --- Upgrades ------------------------------------------------------------------------------


def test_an_upgrade_takes_effect_at_once_with_the_new_plans_credit_limit(engine):
    owner = _owner(engine)

    change = _change(engine, owner, "starter")

    assert change.kind is ChangeKind.UPGRADE
    assert _plan_of(engine, owner) == ("starter", BillingCycle.MONTHLY, None, None)
    assert _subscription(engine, owner).term_started_at == MID_OCTOBER
    assert _credit_limit_cents(engine, owner) == CREDIT_LIMITS["starter"]
    [(action, detail)] = _audits(engine, owner)
    assert action == "plan.upgraded"
    assert detail is not None and detail.startswith("free monthly → starter monthly, at once")


def test_this_months_invoice_bills_the_new_plans_fee_not_the_old_ones(engine):
    owner = _owner(engine, plan="starter")

    _change(engine, owner, "competitor")
    _run(engine)

    assert _subscription_lines(engine, owner, "2026-10") == [
        ("Competitor plan, October 2026", 1, FEES["competitor"])
    ]


def test_monthly_to_yearly_of_the_same_plan_starts_a_yearly_term_billed_this_month(engine):
    owner = _owner(engine, plan="starter")

    change = _change(engine, owner, "starter", BillingCycle.YEARLY)
    _run(engine)

    assert change.kind is ChangeKind.UPGRADE
    assert change.fee_cents == 12 * YEARLY["starter"]
    assert _plan_of(engine, owner) == ("starter", BillingCycle.YEARLY, None, None)
    assert _subscription_lines(engine, owner, "2026-10") == [
        ("Starter plan, yearly: 12 months from October 2026", 12, 12 * YEARLY["starter"])
    ]
    # The next months of the term owe no subscription fee.
    _run(engine, "2026-11", datetime(2026, 12, 1, 6, 0, tzinfo=TORONTO))
    assert _subscription_lines(engine, owner, "2026-11") == []


def test_an_upgrade_drops_a_scheduled_downgrade(engine):
    owner = _owner(engine, plan="competitor")
    _change(engine, owner, "starter")

    _change(engine, owner, "provider")

    assert _plan_of(engine, owner) == ("provider", BillingCycle.MONTHLY, None, None)


def test_leaving_an_invoiced_yearly_term_credits_its_unused_months_once(engine):
    owner = _owner(
        engine,
        plan="starter",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 6, 10, tzinfo=TORONTO),
    )
    _run(engine, "2026-06", datetime(2026, 7, 1, 6, 0, tzinfo=TORONTO))  # the year, invoiced
    balance_before = fetch(engine, BillingAccount, owner.organization_id).balance_micros

    change = _change(engine, owner, "competitor")  # in October: June–September used

    assert (change.unused_months, change.unused_credit_cents) == (8, 8 * YEARLY["starter"])
    with db.read_session(engine) as session:
        credits = session.exec(
            select(LedgerEntry.amount_cents, LedgerEntry.memo).where(
                LedgerEntry.organization_id == owner.organization_id,
                LedgerEntry.kind == EntryKind.CREDIT,
            )
        ).all()
        assert ledger.balance_mismatches(session) == []
    [(amount, memo)] = credits
    assert amount == 8 * YEARLY["starter"]
    assert memo.startswith("Credit note CN-1 for invoice ")
    balance_after = fetch(engine, BillingAccount, owner.organization_id).balance_micros
    assert balance_after - balance_before == 8 * YEARLY["starter"] * MICROS_PER_CENT
    assert _plan_of(engine, owner) == ("competitor", BillingCycle.MONTHLY, None, None)


def test_unused_yearly_months_are_credited_with_the_taxes_they_were_invoiced_with(engine):
    # An Ontario organization: its yearly invoice carried 13 % HST on the 12 months.
    owner = _owner(
        engine,
        plan="starter",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 6, 10, tzinfo=TORONTO),
        country="CA",
        province="ON",
    )
    _run(engine, "2026-06", datetime(2026, 7, 1, 6, 0, tzinfo=TORONTO))

    change = _change(engine, owner, "competitor")  # 8 months unused, $192.00 before tax

    assert change.unused_tax_cents == 2_496  # 13 % of $192.00
    with db.read_session(engine) as session:
        note = session.exec(
            select(CreditNote).where(CreditNote.organization_id == owner.organization_id)
        ).one()
        taxes = session.exec(
            select(
                CreditNoteTax.tax, CreditNoteTax.rate_millipercent, CreditNoteTax.amount_cents
            ).where(CreditNoteTax.credit_note_id == note.id)
        ).all()
        invoice = session.get(Invoice, note.invoice_id)
    assert (note.label, note.subtotal_cents, note.tax_cents, note.total_cents) == (
        "CN-1",
        19_200,
        2_496,
        21_696,
    )
    assert [tuple(tax) for tax in taxes] == [("HST", 13_000, 2_496)]
    assert invoice is not None and invoice.period == "2026-06"
    assert "plus the $24.96 of taxes they were invoiced with" in change.summary()


def test_an_upgrade_in_the_month_a_yearly_term_started_credits_nothing(engine):
    # The term's 12 months are only invoiced at the end of the month it started: the invoice
    # then carries the new plan alone, so there is nothing to give back.
    owner = _owner(
        engine,
        plan="starter",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 10, 3, tzinfo=TORONTO),
    )

    change = _change(engine, owner, "competitor", BillingCycle.YEARLY)
    _run(engine)

    assert change.unused_months == 0
    assert count(engine, LedgerEntry, LedgerEntry.kind == EntryKind.CREDIT) == 0
    assert _subscription_lines(engine, owner, "2026-10") == [
        ("Competitor plan, yearly: 12 months from October 2026", 12, 12 * YEARLY["competitor"])
    ]


# --- Downgrades ----------------------------------------------------------------------------


def test_a_downgrade_waits_for_the_next_period_and_the_invoice_run_applies_it(engine):
    owner = _owner(engine, plan="competitor")

    change = _change(engine, owner, "starter")

    assert change.kind is ChangeKind.DOWNGRADE
    assert change.starts_at == datetime(2026, 11, 1, tzinfo=TORONTO)
    assert _plan_of(engine, owner) == (
        "competitor",
        BillingCycle.MONTHLY,
        "starter",
        BillingCycle.MONTHLY,
    )
    assert _credit_limit_cents(engine, owner) == CREDIT_LIMITS["competitor"]
    [(action, _detail)] = _audits(engine, owner)
    assert action == "plan.downgrade_scheduled"

    _run(engine)

    # October is still Competitor's; from November the organization is on Starter.
    assert _subscription_lines(engine, owner, "2026-10") == [
        ("Competitor plan, October 2026", 1, FEES["competitor"])
    ]
    assert _plan_of(engine, owner) == ("starter", BillingCycle.MONTHLY, None, None)
    assert _credit_limit_cents(engine, owner) == CREDIT_LIMITS["starter"]


def test_a_yearly_plans_downgrade_waits_for_the_end_of_its_paid_term(engine):
    owner = _owner(
        engine,
        plan="provider",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 6, 10, tzinfo=TORONTO),
    )

    change = _change(engine, owner, "starter")
    _run(engine)

    assert change.starts_at == datetime(2027, 6, 1, tzinfo=TORONTO)
    assert _plan_of(engine, owner)[:3] == ("provider", BillingCycle.YEARLY, "starter")
    _run(engine, "2027-05", datetime(2027, 6, 1, 6, 0, tzinfo=TORONTO))
    assert _plan_of(engine, owner) == ("starter", BillingCycle.MONTHLY, None, None)


def test_yearly_to_monthly_of_the_same_plan_waits_for_the_terms_end(engine):
    owner = _owner(
        engine,
        plan="starter",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 6, 10, tzinfo=TORONTO),
    )

    change = _change(engine, owner, "starter", BillingCycle.MONTHLY)

    assert change.kind is ChangeKind.DOWNGRADE
    assert change.starts_at == datetime(2027, 6, 1, tzinfo=TORONTO)
    assert _plan_of(engine, owner) == (
        "starter",
        BillingCycle.YEARLY,
        "starter",
        BillingCycle.MONTHLY,
    )
    _run(engine, "2027-05", datetime(2027, 6, 1, 6, 0, tzinfo=TORONTO))
    assert _plan_of(engine, owner) == ("starter", BillingCycle.MONTHLY, None, None)
    _run(engine, "2027-06", datetime(2027, 7, 1, 6, 0, tzinfo=TORONTO))
    assert _subscription_lines(engine, owner, "2027-06") == [
        ("Starter plan, June 2027", 1, FEES["starter"])
    ]


def test_a_downgrade_needs_no_card_nor_funds(engine):
    owner = _owner(engine, plan="provider", card=False)

    change = _change(engine, owner, "free")

    assert change.kind is ChangeKind.DOWNGRADE
    assert _plan_of(engine, owner)[2] == "free"


def test_another_downgrade_replaces_the_scheduled_one(engine):
    owner = _owner(engine, plan="provider")
    _change(engine, owner, "competitor")

    _change(engine, owner, "free")

    assert _plan_of(engine, owner)[2:] == ("free", BillingCycle.MONTHLY)


def test_choosing_the_scheduled_change_again_says_when_it_happens(engine):
    owner = _owner(engine, plan="provider")
    _change(engine, owner, "competitor")

    with pytest.raises(Conflict, match="already scheduled for November 1, 2026"):
        _change(engine, owner, "competitor")


# --- Cancelling ----------------------------------------------------------------------------


def test_a_cancelled_downgrade_never_happens(engine):
    owner = _owner(engine, plan="competitor")
    _change(engine, owner, "starter")

    cancelled = _cancel(engine, owner)
    _run(engine)

    assert cancelled == "Starter"
    assert _plan_of(engine, owner) == ("competitor", BillingCycle.MONTHLY, None, None)
    assert [action for action, _detail in _audits(engine, owner)] == [
        "plan.downgrade_scheduled",
        "plan.change_cancelled",
    ]


def test_cancelling_without_a_scheduled_change_says_so(engine):
    owner = _owner(engine, plan="competitor")

    with pytest.raises(Conflict, match="no scheduled plan change"):
        _cancel(engine, owner)


# --- Refusals ------------------------------------------------------------------------------


def test_the_same_plan_and_cycle_is_refused_with_a_clear_message(engine):
    owner = _owner(engine, plan="starter")

    with pytest.raises(Conflict, match="You are already on Starter, billed monthly."):
        _change(engine, owner, "starter")

    assert _audits(engine, owner) == []


def test_the_same_plan_with_a_scheduled_change_points_to_cancelling_it(engine):
    owner = _owner(engine, plan="competitor")
    _change(engine, owner, "starter")

    with pytest.raises(Conflict, match="cancel the scheduled plan change"):
        _change(engine, owner, "competitor")


def test_carrier_cannot_be_picked_by_a_partner(engine):
    owner = _owner(engine, plan="provider")

    with pytest.raises(ValidationFailed, match="contact SIPSTACK") as raised:
        _change(engine, owner, "carrier")

    assert set(raised.value.errors) == {"plan"}
    assert _plan_of(engine, owner) == ("provider", BillingCycle.MONTHLY, None, None)


def test_an_organization_on_a_contract_changes_plan_through_sipstack(engine):
    owner = _owner(engine, plan="carrier", contract_monthly_cents=900_000)

    with pytest.raises(Conflict, match="contract is managed by SIPSTACK"):
        _change(engine, owner, "provider")

    assert _plan_of(engine, owner) == ("carrier", BillingCycle.MONTHLY, None, None)


@pytest.mark.parametrize(
    ("plan", "cycle", "error", "message"),
    [
        ("free", BillingCycle.YEARLY, ValidationFailed, "Free is billed monthly only"),
        ("gold", BillingCycle.MONTHLY, NotFound, "That plan was not found"),
    ],
)
def test_a_plan_or_cycle_that_does_not_exist_is_refused(engine, plan, cycle, error, message):
    owner = _owner(engine, plan="starter")

    with pytest.raises(error, match=message):
        _change(engine, owner, plan, cycle)


# --- A paid upgrade needs a card or funds --------------------------------------------------


def test_a_paid_upgrade_without_a_card_or_funds_is_refused_and_says_what_to_do(engine):
    owner = _owner(engine, card=False)

    with pytest.raises(InsufficientFunds) as raised:
        _change(engine, owner, "starter")

    message = raised.value.message
    assert "adds $30.00 to this month's invoice" in message
    assert "Billing › Payment Methods" in message and "Billing › Overview" in message
    assert _plan_of(engine, owner) == ("free", BillingCycle.MONTHLY, None, None)
    assert _credit_limit_cents(engine, owner) == 0
    assert _audits(engine, owner) == []


@pytest.mark.parametrize(
    ("balance_cents", "unbilled_cents", "allowed"),
    [(3_000, 0, True), (5_000, 2_000, True), (2_999, 0, False), (5_000, 2_001, False)],
)
def test_available_funds_that_cover_the_fee_allow_the_upgrade_without_a_card(
    engine, balance_cents, unbilled_cents, allowed
):
    owner = _owner(engine, card=False, balance_cents=balance_cents)
    with db.write_session(engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == owner.organization_id)
            .values(unbilled_micros=unbilled_cents * MICROS_PER_CENT)
        )

    if allowed:
        _change(engine, owner, "starter")
    else:
        with pytest.raises(InsufficientFunds):
            _change(engine, owner, "starter")

    assert _plan_of(engine, owner)[0] == ("starter" if allowed else "free")


@pytest.mark.parametrize(
    ("exp_year", "removed"), [(2026, True), (2025, False)], ids=["removed", "expired"]
)
def test_a_removed_or_expired_card_does_not_count(engine, exp_year, removed):
    owner = _owner(engine, card=False)
    with db.write_session(engine) as session:
        organization = session.get(Organization, owner.organization_id)
        assert organization is not None
        _add_card(session, organization, exp_year=exp_year, removed=removed)

    with pytest.raises(InsufficientFunds):
        _change(engine, owner, "starter")


def test_the_unused_yearly_credit_counts_towards_the_fee(engine):
    owner = _owner(
        engine,
        plan="starter",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 6, 10, tzinfo=TORONTO),
        card=False,
        balance_cents=40_000,
    )
    _run(engine, "2026-06", datetime(2026, 7, 1, 6, 0, tzinfo=TORONTO))  # −$288: $112 left

    # Competitor yearly is $6,720; Provider monthly $2,500: neither is covered.
    with pytest.raises(InsufficientFunds):
        _change(engine, owner, "competitor", BillingCycle.YEARLY)
    # Starter → Competitor monthly costs $700, less $192 credited: still more than $112.
    with pytest.raises(InsufficientFunds, match=r"adds \$508.00"):
        _change(engine, owner, "competitor")


# --- Roles and tenancy ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING], ids=str)
def test_billing_managers_change_the_plan(engine, role):
    member = _owner(engine, role=role)

    _change(engine, member, "starter")

    assert _plan_of(engine, member)[0] == "starter"


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER], ids=str)
def test_other_roles_cannot_change_preview_or_cancel(engine, role):
    member = _owner(engine, plan="competitor", role=role)

    with pytest.raises(PermissionDenied):
        _change(engine, member, "provider")
    with pytest.raises(PermissionDenied):
        _preview(engine, member, "provider")
    with pytest.raises(PermissionDenied):
        _cancel(engine, member)

    assert _plan_of(engine, member)[0] == "competitor"


def test_staff_have_no_plan_to_change(engine):
    with db.write_session(engine) as session:
        staff = make_staff(session)

    with pytest.raises(PermissionDenied):
        _change(engine, staff, "starter")


def test_a_change_moves_only_the_actors_organization(engine):
    owner = _owner(engine)
    other = _owner(engine)

    _change(engine, owner, "starter")

    assert _plan_of(engine, other)[0] == "free"
    assert _credit_limit_cents(engine, other) == 0


# --- Staff's credit limit ------------------------------------------------------------------


def test_a_credit_limit_set_by_staff_survives_an_upgrade(engine):
    owner = _owner(engine, plan="starter", credit_limit_override_cents=50_000)

    change = _change(engine, owner, "provider")

    assert (change.credit_limit_cents, change.credit_limit_by_staff) == (50_000, True)
    assert "stays $500.00, as SIPSTACK set it" in change.summary()
    assert _credit_limit_cents(engine, owner) == 50_000


def test_a_credit_limit_set_by_staff_survives_a_downgrade_applied_by_the_invoice_run(engine):
    owner = _owner(engine, plan="provider", credit_limit_override_cents=50_000)
    _change(engine, owner, "starter")

    _run(engine)

    assert _plan_of(engine, owner)[0] == "starter"
    assert _credit_limit_cents(engine, owner) == 50_000


# --- The preview and its words --------------------------------------------------------------


def test_the_preview_states_what_the_change_does_and_changes_nothing(engine):
    owner = _owner(engine)

    upgrade = _preview(engine, owner, "starter")

    assert (upgrade.kind, upgrade.fee_cents, upgrade.credit_limit_cents) == (
        ChangeKind.UPGRADE,
        FEES["starter"],
        CREDIT_LIMITS["starter"],
    )
    assert upgrade.summary() == (
        "**Starter, billed monthly** starts now. This month's invoice carries Starter's fee of "
        "$30.00 instead of Free's, and each month after. Requests from now on are priced by "
        "Starter: 10,000 lookups a month included, then $0.0030 each. Your credit limit "
        "becomes $60.00. Prices in USD, taxes excluded."
    )
    assert _plan_of(engine, owner) == ("free", BillingCycle.MONTHLY, None, None)
    assert _audits(engine, owner) == []


def test_the_preview_of_a_downgrade_says_when_and_what_it_will_cost(engine):
    owner = _owner(engine, plan="competitor")

    downgrade = _preview(engine, owner, "starter", BillingCycle.YEARLY)

    assert downgrade.summary() == (
        "On **November 1, 2026** your plan becomes **Starter, billed yearly**, at $288.00 for "
        "12 months. Until then you keep Competitor (billed monthly) and its allowance, and you "
        "can cancel this change. From then: 10,000 lookups a month included, then $0.0030 "
        "each. Your credit limit becomes $60.00. Prices in USD, taxes excluded."
    )


def test_the_preview_refuses_what_the_change_would_refuse(engine):
    owner = _owner(engine, card=False)

    with pytest.raises(InsufficientFunds):
        _preview(engine, owner, "provider")


# --- Two changes at once -------------------------------------------------------------------


def test_the_same_upgrade_asked_at_once_from_several_tabs_happens_once(concurrent_engine):
    owner = _owner(concurrent_engine)

    def upgrade() -> str:
        try:
            _change(concurrent_engine, owner, "competitor")
        except Conflict as error:
            return error.message
        return "changed"

    outcomes = race([upgrade] * 6, threads=6)

    assert sorted(outcomes) == ["You are already on Competitor, billed monthly."] * 5 + ["changed"]
    assert [action for action, _ in _audits(concurrent_engine, owner)] == ["plan.upgraded"]
    assert _credit_limit_cents(concurrent_engine, owner) == CREDIT_LIMITS["competitor"]


def test_concurrent_changes_apply_one_after_the_other_and_none_is_lost(concurrent_engine):
    owner = _owner(concurrent_engine)
    targets = [
        ("starter", BillingCycle.MONTHLY),
        ("starter", BillingCycle.YEARLY),
        ("competitor", BillingCycle.MONTHLY),
        ("provider", BillingCycle.MONTHLY),
        ("provider", BillingCycle.YEARLY),
        ("free", BillingCycle.MONTHLY),
    ]

    def change_to(plan: str, cycle: BillingCycle):
        def job() -> str:
            try:
                _change(concurrent_engine, owner, plan, cycle)
            except Conflict:
                return "refused"
            return "changed"

        return job

    outcomes = race([change_to(plan, cycle) for plan, cycle in targets], threads=6)

    # Each change saw the one before it: its "from" is the previous one's "to", and the
    # subscription ends as the last upgrade left it plus the last downgrade scheduled.
    trail = _audits(concurrent_engine, owner)
    assert len(trail) == outcomes.count("changed")
    assert trail, outcomes  # at least one change, or the walk below would check nothing
    plan_now = "free monthly"
    scheduled = None
    for action, detail in trail:
        assert detail is not None
        before, after = detail.split(" → ")
        assert before == plan_now
        target = " ".join(after.split(" ")[:2]).rstrip(",")
        if action == "plan.upgraded":
            plan_now, scheduled = target, None
        else:
            assert action == "plan.downgrade_scheduled"
            scheduled = target
    subscription = _subscription(concurrent_engine, owner)
    assert f"{subscription.plan_code} {subscription.cycle}" == plan_now
    pending = (
        subscription.next_plan_code and f"{subscription.next_plan_code} {subscription.next_cycle}"
    )
    assert pending == scheduled
    assert _credit_limit_cents(concurrent_engine, owner) == CREDIT_LIMITS[subscription.plan_code]


# --- When a downgrade takes effect -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cycle", "term_started", "asked", "boundary"),
    [
        # A monthly plan: the first day of the next month, in the billing time zone.
        (BillingCycle.MONTHLY, SEPTEMBER, datetime(2026, 12, 15, tzinfo=TORONTO), (2027, 1)),
        # 23:30 on October 31st in Toronto is already November in UTC: still October here.
        (BillingCycle.MONTHLY, SEPTEMBER, datetime(2026, 11, 1, 3, 30, tzinfo=UTC), (2026, 11)),
        # A yearly plan whose term started in June: the next June 1st.
        (BillingCycle.YEARLY, datetime(2026, 6, 10, tzinfo=TORONTO), MID_OCTOBER, (2027, 6)),
        (
            BillingCycle.YEARLY,
            datetime(2025, 6, 10, tzinfo=TORONTO),
            datetime(2026, 5, 20, tzinfo=TORONTO),
            (2026, 6),
        ),
        (
            BillingCycle.YEARLY,
            datetime(2025, 6, 10, tzinfo=TORONTO),
            datetime(2026, 6, 2, tzinfo=TORONTO),
            (2027, 6),
        ),
    ],
)
def test_a_downgrade_takes_effect_at_the_next_boundary_of_its_plan(
    cycle, term_started, asked, boundary
):
    subscription = Subscription(
        organization_id=uuid.uuid4(),
        plan_code="provider",
        cycle=cycle,
        term_started_at=term_started,
    )

    at = subscriptions.next_boundary(subscription, TORONTO, asked)

    year, month = boundary
    assert at == datetime(year, month, 1, tzinfo=TORONTO)
