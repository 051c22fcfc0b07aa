"""The monthly invoice run: lines, taxes, rounding, the ledger, idempotency, downgrades, e-mail
(docs/product.md, Billing model; services/invoices.py states the rules).

Usage is written as the meter would leave it (usage records of a period, their cost added to
``unbilled_micros``) with Core inserts, so these tests do not depend on the meter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Organization, Role, UserStatus
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import (
    BillingAccount,
    BillingCycle,
    EntryKind,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceTax,
    LedgerEntry,
    LookupType,
    Subscription,
    TaxRate,
    TaxRateChange,
    UsageCarry,
    UsageRecord,
)
from portal_core.models.notices import Notice, NoticeKind
from portal_core.money import MICROS_PER_CENT
from portal_core.queries import invoices as invoice_queries
from portal_core.services import invoices, ledger, platform
from portal_core.settings import get_settings
from tests.factories import (
    actor_of,
    fund,
    keep_details,
    make_organization,
    make_staff,
    make_user,
    put_on_plan,
    record_usage,
)
from tests.services.support import body_of, count, fetch, outbox
from tests.support.served import free_port

TORONTO = ZoneInfo("America/Toronto")
OCTOBER = "2026-10"
# The scheduler's run on the 1st, early morning in the billing time zone.
NOVEMBER_1ST = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)
MID_OCTOBER = datetime(2026, 10, 15, 12, 0, tzinfo=TORONTO)
STARTER_FEE = 3_000  # cents (data/plans.csv)
STARTER_UNIT = 3_000  # micro-dollars per additional request ($0.0030)
MONTHLY_FEES = {"free": 0, "starter": 3_000, "competitor": 70_000, "provider": 250_000}


@dataclass(frozen=True)
class Issued:
    invoice: Invoice
    lines: list[tuple[str, int, int, int]]  # description, quantity, unit µ$, amount ¢
    taxes: list[tuple[str, int, int]]  # tax, rate, amount ¢


def _organization(
    engine,
    *,
    plan: str = "starter",
    cycle: BillingCycle = BillingCycle.MONTHLY,
    joined: datetime = datetime(2026, 9, 1, tzinfo=TORONTO),
    country: str = "CA",
    province: str | None = "ON",
    balance_cents: int = 0,
    **subscription_changes,
) -> Organization:
    with db.write_session(engine) as session:
        organization = make_organization(session, country=country, province=province)
        put_on_plan(session, organization, plan, cycle=cycle, since=joined, **subscription_changes)
        if balance_cents:
            fund(session, organization, balance_cents, memo="top-up")
    return organization


def _use(
    engine,
    organization: Organization,
    lookup_type: LookupType,
    requests: int,
    *,
    unit_micros: int = STARTER_UNIT,
    included: bool = False,
    period: str = OCTOBER,
) -> int:
    """``requests`` usage records as the meter records them; returns their cost in µ$."""
    with db.write_session(engine) as session:
        return record_usage(
            session,
            organization.id,
            period,
            requests,
            lookup_type=lookup_type,
            unit_micros=unit_micros,
            included=included,
        )


def _run(engine, period: str | None = OCTOBER, now: datetime = NOVEMBER_1ST, **options):
    return invoices.run_invoices(engine, period=period, now=now, **options)


def _issued(engine, organization: Organization, period: str = OCTOBER) -> Issued | None:
    with db.read_session(engine) as session:
        invoice = session.exec(
            select(Invoice).where(
                Invoice.organization_id == organization.id, Invoice.period == period
            )
        ).first()
        if invoice is None:
            return None
        lines = session.exec(
            select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice.id)
            .order_by(col(InvoiceLine.position))
        ).all()
        taxes = session.exec(
            select(InvoiceTax)
            .where(InvoiceTax.invoice_id == invoice.id)
            .order_by(col(InvoiceTax.tax))
        ).all()
    return Issued(
        invoice,
        [(line.description, line.quantity, line.unit_micros, line.amount_cents) for line in lines],
        [(tax.tax, tax.rate_millipercent, tax.amount_cents) for tax in taxes],
    )


def _lines(engine, invoice: Invoice) -> list[InvoiceLine]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id == invoice.id)
                .order_by(col(InvoiceLine.position))
            ).all()
        )


def _account(engine, organization: Organization) -> BillingAccount:
    return fetch(engine, BillingAccount, organization.id)


def _reload(session, organization: Organization) -> Organization:
    stored = session.get(Organization, organization.id)
    assert stored is not None
    return stored


def _staff(engine):
    with db.write_session(engine) as session:
        return actor_of(make_staff(session))


def _half_up(numerator: int, denominator: int) -> int:
    """Half-up division of non-negative integers, computed apart from the code under test."""
    return (2 * numerator + denominator) // (2 * denominator)


# --- Lines ---------------------------------------------------------------------------------


def test_usage_within_the_allowance_is_free_and_the_rest_is_a_line_per_lookup_type(engine):
    organization = _organization(engine)
    _use(engine, organization, LookupType.CALLER_ID, 120, included=True)
    _use(engine, organization, LookupType.CALLER_ID, 1_500)
    _use(engine, organization, LookupType.REGIONAL, 250)
    _use(engine, organization, LookupType.REGIONAL, 30, included=True)

    summary = _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.lines == [
        ("Starter plan, October 2026", 1, 30_000_000, 3_000),
        ("Caller ID lookups beyond the allowance", 1_500, 3_000, 450),
        ("Regional lookups beyond the allowance", 250, 3_000, 75),
    ]
    assert (issued.invoice.subtotal_cents, issued.invoice.tax_cents) == (3_525, 458)
    assert issued.invoice.total_cents == 3_983
    assert (summary.created, summary.invoiced_cents) == (1, 3_983)


def test_a_mid_month_join_pays_the_full_monthly_fee(engine):
    organization = _organization(engine, joined=datetime(2026, 10, 30, 23, 0, tzinfo=TORONTO))

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.lines == [("Starter plan, October 2026", 1, 30_000_000, STARTER_FEE)]


def test_an_organization_that_joined_after_the_period_owes_nothing_for_it(engine):
    organization = _organization(engine, joined=datetime(2026, 11, 1, 0, 30, tzinfo=TORONTO))

    summary = _run(engine, now=datetime(2026, 11, 1, 8, 0, tzinfo=TORONTO))

    assert _issued(engine, organization) is None
    assert (summary.created, summary.nothing_to_invoice) == (0, 1)


def test_an_organization_still_in_the_activation_wizard_is_not_invoiced(engine):
    activated = _organization(engine)
    activating = _organization(engine)
    with db.write_session(engine) as session:
        stored = _reload(session, activating)
        stored.activated_at = None
        session.add(stored)

    summary = _run(engine)

    assert _issued(engine, activated) is not None
    assert _issued(engine, activating) is None
    assert (summary.organizations, summary.created) == (1, 1)


def test_carrier_pays_its_contract_fee(engine):
    organization = _organization(
        engine, plan="carrier", contract_monthly_cents=950_000, contract_included_requests=3_000_000
    )

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.lines == [("Carrier contract, October 2026", 1, 9_500_000_000, 950_000)]


def test_free_without_usage_gets_no_invoice_and_the_summary_says_so(engine):
    free = _organization(engine, plan="free")
    paying = _organization(engine)

    summary = _run(engine)

    assert _issued(engine, free) is None
    assert _issued(engine, paying) is not None
    assert (summary.organizations, summary.created, summary.nothing_to_invoice) == (2, 1, 1)


# --- Yearly plans --------------------------------------------------------------------------


def test_a_yearly_plan_pays_twelve_months_on_the_month_its_term_starts_only(engine):
    organization = _organization(
        engine, cycle=BillingCycle.YEARLY, joined=datetime(2026, 10, 5, 9, 0, tzinfo=TORONTO)
    )

    _run(engine, "2026-09")
    _run(engine, "2026-10")
    _run(engine, "2026-11", now=datetime(2026, 12, 1, 6, 0, tzinfo=TORONTO))
    _run(engine, "2027-10", now=datetime(2027, 11, 1, 6, 0, tzinfo=TORONTO))

    assert _issued(engine, organization, "2026-09") is None
    assert _issued(engine, organization, "2026-11") is None
    for year in (2026, 2027):  # the term's start, then its renewal a year later
        issued = _issued(engine, organization, f"{year}-10")
        assert issued is not None
        assert issued.lines == [
            (f"Starter plan, yearly: 12 months from October {year}", 12, 24_000_000, 28_800)
        ]


def test_a_yearly_plan_is_invoiced_for_its_usage_every_month(engine):
    organization = _organization(
        engine, cycle=BillingCycle.YEARLY, joined=datetime(2026, 3, 1, tzinfo=TORONTO)
    )
    _use(engine, organization, LookupType.TELCO_CARRIER, 1_000)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.lines == [("Telco/Carrier lookups beyond the allowance", 1_000, 3_000, 300)]


# --- Taxes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "province", "taxes"),
    [
        ("CA", "ON", [("HST", 13_000, 390)]),
        ("CA", "AB", [("GST", 5_000, 150)]),
        ("CA", "QC", [("GST", 5_000, 150), ("QST", 9_975, 299)]),
        ("US", "NY", []),
    ],
    ids=["ontario-hst", "alberta-gst", "quebec-gst-and-qst", "us-company-no-tax"],
)
def test_taxes_follow_the_company_province_and_only_in_canada(engine, country, province, taxes):
    organization = _organization(engine, country=country, province=province)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.taxes == taxes
    tax = sum(amount for _tax, _rate, amount in taxes)
    assert (issued.invoice.subtotal_cents, issued.invoice.tax_cents) == (STARTER_FEE, tax)
    assert issued.invoice.total_cents == STARTER_FEE + tax


def test_each_line_is_rounded_once_from_its_exact_cost(engine):
    organization = _organization(engine, country="US", province="NY")
    # 5 × $0.0030 = 1.5 ¢ per line: rounded per line, 2 ¢ each (per request it would be 0 ¢,
    # and the usage rounded as a whole 3 ¢).
    _use(engine, organization, LookupType.CALLER_ID, 5)
    _use(engine, organization, LookupType.REGIONAL, 5)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert [line[3] for line in issued.lines] == [STARTER_FEE, 2, 2]
    assert issued.invoice.total_cents == STARTER_FEE + 4


@pytest.mark.parametrize(
    ("requests", "subtotal", "taxes"),
    [
        # GST 5 % of $30.02 = $1.501 → $1.50; QST 9.975 % = $2.994495 → $2.99: $4.49 in all,
        # where rounding the two together (14.975 % = $4.49549…) would say $4.50.
        (5, 3_002, [("GST", 5_000, 150), ("QST", 9_975, 299)]),
        # GST 5 % of $30.10 = $1.505: half a cent rounds up, to $1.51.
        (33, 3_010, [("GST", 5_000, 151), ("QST", 9_975, 300)]),
    ],
    ids=["per-tax-not-combined", "half-a-cent-up"],
)
def test_each_tax_is_rounded_half_up_once_on_the_subtotal(engine, requests, subtotal, taxes):
    organization = _organization(engine, country="CA", province="QC")
    _use(engine, organization, LookupType.CALLER_ID, requests)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.invoice.subtotal_cents == subtotal
    assert issued.taxes == taxes
    assert issued.invoice.total_cents == subtotal + sum(amount for _t, _r, amount in taxes)


def test_a_price_change_within_the_month_gives_a_line_per_price(engine):
    organization = _organization(engine, country="US", province="NY")
    _use(engine, organization, LookupType.CALLER_ID, 100, unit_micros=3_000)
    _use(engine, organization, LookupType.CALLER_ID, 100, unit_micros=2_800)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.lines[1:] == [
        ("Caller ID lookups beyond the allowance", 100, 2_800, 28),
        ("Caller ID lookups beyond the allowance", 100, 3_000, 30),
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    usage=st.lists(
        st.tuples(
            st.sampled_from(list(LookupType)),
            st.integers(min_value=1, max_value=40),
            st.integers(min_value=1, max_value=60_000),
        ),
        max_size=5,
    ),
    plan=st.sampled_from(["free", "starter", "competitor", "provider"]),
    rates=st.lists(st.integers(min_value=0, max_value=30_000), min_size=2, max_size=2),
)
def test_lines_sum_to_the_subtotal_and_subtotal_plus_taxes_is_the_total(engine, usage, plan, rates):
    with db.write_session(engine) as session:
        for tax, rate in zip(("GST", "QST"), rates, strict=True):
            for model in (TaxRate, TaxRateChange):  # today's rate, and its history
                session.execute(
                    update(model)
                    .where(col(model.province) == "QC", col(model.tax) == tax)
                    .values(rate_millipercent=rate)
                )
    organization = _organization(engine, plan=plan, province="QC")
    for lookup_type, requests, unit in usage:
        _use(engine, organization, lookup_type, requests, unit_micros=unit)

    _run(engine)

    groups: dict[tuple[LookupType, int], int] = {}
    for lookup_type, requests, unit in usage:
        groups[(lookup_type, unit)] = groups.get((lookup_type, unit), 0) + requests
    # A lookup type's lines, cheapest first, carry their rounding remainders from one to the
    # next: the type's cents are its whole cost rounded once, never a cent per line off.
    expected_usage = 0
    for lookup_type in LookupType:
        exact = sum(
            requests * unit for (kind, unit), requests in groups.items() if kind == lookup_type
        )
        expected_usage += _half_up(exact, MICROS_PER_CENT)
    expected_subtotal = MONTHLY_FEES[plan] + expected_usage
    issued = _issued(engine, organization)
    if expected_subtotal == 0:
        assert issued is None
        return
    assert issued is not None
    invoice = issued.invoice
    figures = [invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents]
    figures += [number for line in issued.lines for number in line[1:]]
    figures += [amount for _tax, _rate, amount in issued.taxes]
    assert all(type(figure) is int for figure in figures)
    assert sum(line[3] for line in issued.lines) == invoice.subtotal_cents == expected_subtotal
    assert invoice.subtotal_cents + invoice.tax_cents == invoice.total_cents
    assert sum(amount for _tax, _rate, amount in issued.taxes) == invoice.tax_cents
    for line in _lines(engine, invoice):
        exact = line.quantity * line.unit_micros + line.carried_micros
        assert line.amount_cents == (
            _half_up(exact, MICROS_PER_CENT) if exact >= 0 else -_half_up(-exact, MICROS_PER_CENT)
        )
        assert abs(line.carried_micros) <= MICROS_PER_CENT // 2
    assert [(tax, amount) for tax, _rate, amount in issued.taxes] == [
        (tax, _half_up(invoice.subtotal_cents * rate, 100_000))
        for tax, rate in zip(("GST", "QST"), rates, strict=True)
    ]


# --- Usage that arrives late, and the rounding of usage lines ---------------------------------

NOVEMBER = "2026-11"
DECEMBER_1ST = datetime(2026, 12, 1, 6, 0, tzinfo=TORONTO)


def _records(engine, organization: Organization) -> list[UsageRecord]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(UsageRecord).where(UsageRecord.organization_id == organization.id)
            ).all()
        )


def test_usage_that_commits_after_its_months_run_is_billed_on_the_next_invoice(engine):
    organization = _organization(engine, country="US", province="NY")
    _use(engine, organization, LookupType.CALLER_ID, 100)
    _run(engine)
    # A request of 31 October whose transaction committed after the run had totalled October.
    late = _use(engine, organization, LookupType.CALLER_ID, 10, period=OCTOBER)

    with db.read_session(engine) as session:
        assert ledger.balance_mismatches(session) == []
    assert _account(engine, organization).unbilled_micros == late

    _run(engine, NOVEMBER, now=DECEMBER_1ST)

    november = _issued(engine, organization, NOVEMBER)
    assert november is not None
    assert november.lines[1:] == [("Caller ID lookups beyond the allowance", 10, 3_000, 3)]
    assert _account(engine, organization).unbilled_micros == 0
    invoice_of = {record.invoice_id for record in _records(engine, organization)}
    october = _issued(engine, organization)
    assert october is not None
    assert invoice_of == {october.invoice.id, november.invoice.id}
    assert sum(record.invoice_id is not None for record in _records(engine, organization)) == 110


def test_each_usage_record_is_on_exactly_one_invoice_however_often_the_run_repeats(engine):
    organization = _organization(engine, country="US", province="NY")
    _use(engine, organization, LookupType.REGIONAL, 7)
    _run(engine)
    _run(engine)
    _use(engine, organization, LookupType.REGIONAL, 3, period=NOVEMBER)
    _run(engine, NOVEMBER, now=DECEMBER_1ST)
    _run(engine, NOVEMBER, now=DECEMBER_1ST)

    records = _records(engine, organization)
    assert len(records) == 10 and all(record.invoice_id is not None for record in records)
    with db.read_session(engine) as session:
        assert ledger.balance_mismatches(session) == []


def test_usage_of_a_month_not_ended_waits_for_its_own_invoice(engine):
    organization = _organization(engine, country="US", province="NY")
    _use(engine, organization, LookupType.CALLER_ID, 4, period=NOVEMBER)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None and issued.lines[1:] == []
    assert _account(engine, organization).unbilled_micros == 4 * STARTER_UNIT


def test_a_lines_rounding_remainder_carries_into_the_next_invoice(engine):
    organization = _organization(engine, country="US", province="NY")
    # 7 × $0.0030 = $0.021: the line bills $0.02 and carries $0.001.
    _use(engine, organization, LookupType.CALLER_ID, 7)
    _run(engine)
    # 3 × $0.0030 = $0.009, plus the $0.001 carried: $0.01, nothing left over.
    _use(engine, organization, LookupType.CALLER_ID, 3, period=NOVEMBER)
    _run(engine, NOVEMBER, now=DECEMBER_1ST)

    october, november = _issued(engine, organization), _issued(engine, organization, NOVEMBER)
    assert october is not None and november is not None
    assert october.lines[1:] == [("Caller ID lookups beyond the allowance", 7, 3_000, 2)]
    assert november.lines[1:] == [("Caller ID lookups beyond the allowance", 3, 3_000, 1)]
    assert [line.carried_micros for line in _lines(engine, november.invoice)] == [0, 1_000]
    with db.read_session(engine) as session:
        carry = session.get(UsageCarry, (organization.id, LookupType.CALLER_ID.value))
    assert carry is not None and carry.remainder_micros == 0


def test_usage_that_rounds_to_nothing_on_its_line_is_billed_when_the_carry_reaches_a_cent(
    engine,
):
    organization = _organization(engine, country="US", province="NY")
    # $0.0040 a month of Telco/Carrier lookups: each month's line alone rounds to $0.00.
    months = [(OCTOBER, NOVEMBER_1ST), (NOVEMBER, DECEMBER_1ST)]
    for period, run_at in months:
        _use(engine, organization, LookupType.TELCO_CARRIER, 1, unit_micros=4_000, period=period)
        _run(engine, period, now=run_at)

    amounts = [
        _issued(engine, organization, period).lines[1:]  # type: ignore[union-attr]
        for period, _at in months
    ]
    assert amounts == [
        [("Telco/Carrier lookups beyond the allowance", 1, 4_000, 0)],
        [("Telco/Carrier lookups beyond the allowance", 1, 4_000, 1)],
    ]
    with db.read_session(engine) as session:
        carry = session.get(UsageCarry, (organization.id, LookupType.TELCO_CARRIER.value))
    # $0.0080 used, $0.01 billed: $0.0020 billed ahead, taken off the next line.
    assert carry is not None and carry.remainder_micros == -2_000


def test_usage_with_no_fee_to_carry_it_waits_for_an_invoice_worth_issuing(engine):
    organization = _organization(engine, plan="free", country="US", province="NY")
    _use(engine, organization, LookupType.CALLER_ID, 1, unit_micros=4_000)

    summary = _run(engine)

    assert summary.nothing_to_invoice == 1
    assert _issued(engine, organization) is None
    assert [record.invoice_id for record in _records(engine, organization)] == [None]
    assert _account(engine, organization).unbilled_micros == 4_000


# --- The ledger, the balance and the unbilled usage ----------------------------------------


def test_the_invoice_is_posted_to_the_ledger_and_lowers_the_balance(engine):
    organization = _organization(engine, balance_cents=5_000)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    with db.read_session(engine) as session:
        entry = session.get(LedgerEntry, issued.invoice.ledger_entry_id)
        assert entry is not None
        assert (entry.kind, entry.amount_cents, entry.idempotency_key) == (
            EntryKind.INVOICE,
            -3_390,
            f"invoice:{organization.id}:{OCTOBER}",
        )
        assert ledger.balance_mismatches(session) == []
    assert _account(engine, organization).balance_micros == (5_000 - 3_390) * MICROS_PER_CENT


@pytest.mark.parametrize(
    ("balance_cents", "status"),
    [(3_390, InvoiceStatus.PAID), (3_389, InvoiceStatus.DUE), (0, InvoiceStatus.DUE)],
    ids=["covered-exactly-paid", "a-cent-short-due", "nothing-prepaid-due"],
)
def test_the_invoice_is_paid_when_the_balance_stays_non_negative_else_due(
    engine, balance_cents, status
):
    organization = _organization(engine, balance_cents=balance_cents)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.invoice.status == status


def test_the_period_usage_leaves_unbilled_usage_exactly(engine):
    organization = _organization(engine, country="US", province="NY")
    october = _use(engine, organization, LookupType.CALLER_ID, 7, unit_micros=3_333)
    october += _use(engine, organization, LookupType.SOURCE_RISK, 40, included=True)
    november = _use(
        engine, organization, LookupType.CALLER_ID, 11, unit_micros=3_333, period="2026-11"
    )
    assert _account(engine, organization).unbilled_micros == october + november

    _run(engine)

    assert _account(engine, organization).unbilled_micros == november == 36_663


def test_a_second_run_creates_nothing_and_changes_no_balance(engine):
    organizations = [_organization(engine, balance_cents=1_000) for _ in range(3)]
    for organization in organizations:
        _use(engine, organization, LookupType.REGIONAL, 9)
    first = _run(engine)
    accounts = [_account(engine, organization) for organization in organizations]
    entries = count(engine, LedgerEntry)

    again = _run(engine)

    assert (first.created, again.created, again.already_invoiced) == (3, 0, 3)
    assert again.invoiced_cents == 0
    assert count(engine, Invoice) == 3
    assert count(engine, InvoiceLine) == 6
    assert count(engine, LedgerEntry) == entries
    assert [_account(engine, organization) for organization in organizations] == accounts


def test_invoice_numbers_follow_one_another_across_organizations(engine):
    organizations = [_organization(engine) for _ in range(3)]
    _run(engine)
    for organization in organizations:
        _use(engine, organization, LookupType.CALLER_ID, 4, period="2026-11")

    _run(engine, "2026-11", now=datetime(2026, 12, 1, 6, 0, tzinfo=TORONTO))

    numbers = [
        issued.invoice.number
        for period in (OCTOBER, "2026-11")
        for organization in organizations
        if (issued := _issued(engine, organization, period)) is not None
    ]
    assert numbers == [1, 2, 3, 4, 5, 6]


def test_the_seller_and_buyer_details_are_copied_onto_the_invoice(engine):
    staff = _staff(engine)
    with db.write_session(engine) as session:
        platform.update_setting(session, staff, platform.SELLER_LEGAL_NAME, "SIPSTACK Canada Inc.")
    organization = _organization(engine)
    with db.write_session(engine) as session:
        stored = session.get(Organization, organization.id)
        assert stored is not None
        stored.postal_code, stored.tax_id = "M5V 2T6", "987654321RT0001"
        keep_details(session, stored)

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.invoice.seller_details.splitlines() == [
        "SIPSTACK Canada Inc.",
        "100 Queen Street West, Toronto, ON M5H 2N2, Canada",
        "GST/HST registration: 123456789 RT0001",
        "QST registration: 1234567890 TQ0001",
    ]
    assert issued.invoice.buyer_details.splitlines() == [
        organization.legal_name,
        "1 Main Street",
        "Toronto, ON M5V 2T6",
        "CA",
        "Tax ID: 987654321RT0001",
    ]


# --- Downgrades ----------------------------------------------------------------------------


def test_a_pending_downgrade_takes_effect_for_the_next_period_with_its_credit_limit(engine):
    organization = _organization(
        engine,
        plan="provider",
        next_plan_code="starter",
        next_cycle=BillingCycle.MONTHLY,
        updated_at=MID_OCTOBER,
    )

    _run(engine)

    issued = _issued(engine, organization)
    assert issued is not None
    assert issued.lines[0][0] == "Provider plan, October 2026"  # October is still Provider's
    subscription = fetch(engine, Subscription, organization.id)
    assert (subscription.plan_code, subscription.next_plan_code) == ("starter", None)
    assert subscription.term_started_at == datetime(2026, 11, 1, tzinfo=TORONTO)
    assert _account(engine, organization).credit_limit_micros == 6_000 * MICROS_PER_CENT


def test_a_downgrade_asked_after_the_period_ended_waits_for_the_next_boundary(engine):
    organization = _organization(
        engine,
        plan="provider",
        next_plan_code="starter",
        updated_at=datetime(2026, 11, 3, tzinfo=TORONTO),
    )

    _run(engine, now=datetime(2026, 11, 4, tzinfo=TORONTO))

    assert fetch(engine, Subscription, organization.id).plan_code == "provider"


def test_a_yearly_plan_downgrades_only_when_its_paid_term_ends(engine):
    organization = _organization(
        engine,
        plan="provider",
        cycle=BillingCycle.YEARLY,
        joined=datetime(2026, 6, 10, tzinfo=TORONTO),
        next_plan_code="starter",
        next_cycle=BillingCycle.MONTHLY,
        updated_at=datetime(2026, 7, 1, tzinfo=TORONTO),
    )

    _run(engine)  # October: the term runs to the end of May 2027
    assert fetch(engine, Subscription, organization.id).plan_code == "provider"

    _run(engine, "2027-05", now=datetime(2027, 6, 1, 6, 0, tzinfo=TORONTO))
    subscription = fetch(engine, Subscription, organization.id)
    assert (subscription.plan_code, subscription.cycle) == ("starter", BillingCycle.MONTHLY)


# --- Failures, periods, permissions, audit --------------------------------------------------


def test_one_organization_failing_leaves_the_others_invoiced_and_a_rerun_resumes(engine):
    broken = _organization(engine, province="ZZ")
    fine = _organization(engine)

    summary = _run(engine)

    assert [failure.organization_id for failure in summary.failures] == [broken.id]
    assert "has no sales taxes on file" in summary.failures[0].message
    assert _issued(engine, broken) is None
    assert _issued(engine, fine) is not None
    assert _account(engine, broken).balance_micros == 0

    with db.write_session(engine) as session:
        stored = session.get(Organization, broken.id)
        assert stored is not None
        stored.province = "ON"
        session.add(stored)
    again = _run(engine)

    assert (again.created, again.already_invoiced, again.failures) == (1, 1, [])


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-11", "2026-11 has not ended yet in the billing time zone (America/Toronto)"),
        ("2027-01", "2027-01 has not ended yet"),
        ("2026-13", "“2026-13” is not a month: use YYYY-MM"),
        ("October", "“October” is not a month"),
    ],
)
def test_a_period_not_ended_or_malformed_is_refused(engine, period, message):
    _organization(engine)

    with pytest.raises(ValidationFailed) as refused:
        _run(engine, period, now=datetime(2026, 11, 30, 23, 0, tzinfo=TORONTO))

    assert message in refused.value.errors["period"]
    assert count(engine, Invoice) == 0


def test_the_default_period_is_last_month_in_the_billing_time_zone(engine):
    staff = _staff(engine)
    with db.write_session(engine) as session:
        platform.update_setting(session, staff, platform.BILLING_TIME_ZONE, "Asia/Tokyo")
    organization = _organization(engine)
    # 16:00 UTC on 31 October is already 1 November in Tokyo (and still October in Toronto).
    now = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)

    summary = _run(engine, None, now=now)

    assert summary.period == OCTOBER
    assert _issued(engine, organization) is not None


def test_a_partner_cannot_run_invoices(engine):
    with db.write_session(engine) as session:
        owner = make_user(session, role=Role.OWNER)

    with pytest.raises(PermissionDenied):
        _run(engine, actor=actor_of(owner))


def test_a_run_is_audited_with_its_summary(engine):
    staff = _staff(engine)
    _organization(engine)

    _run(engine, actor=staff)

    with db.read_session(engine) as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "invoices.run")).one()
    assert (event.actor_user_id, event.subject) == (staff.user_id, OCTOBER)
    assert event.detail is not None and event.detail.startswith("1 created")


def test_progress_is_reported_for_every_organization(engine):
    for _ in range(3):
        _organization(engine)
    seen: list[tuple[str, int, int]] = []

    _run(engine, progress=lambda period, done, total: seen.append((period, done, total)))

    assert seen == [(OCTOBER, done, 3) for done in range(4)]


# --- Reading an invoice, and its e-mail ----------------------------------------------------


def test_an_invoice_reads_with_its_lines_and_taxes_for_its_organization(engine):
    organization = _organization(engine, province="QC")
    _use(engine, organization, LookupType.ONLINE_PROFILES, 100)
    with db.write_session(engine) as session:
        billing = make_user(session, organization=_reload(session, organization), role=Role.BILLING)
    _run(engine)
    issued = _issued(engine, organization)
    assert issued is not None

    with db.read_session(engine) as session:
        detail = invoice_queries.invoice(session, actor_of(billing), issued.invoice.id)

    assert detail.invoice.number == issued.invoice.number
    assert [line.description for line in detail.lines] == [
        "Starter plan, October 2026",
        "Online Profiles lookups beyond the allowance",
    ]
    assert [tax.tax for tax in detail.taxes] == ["GST", "QST"]


def test_another_organizations_invoice_is_not_found(engine):
    organization = _organization(engine)
    with db.write_session(engine) as session:
        stranger = make_user(session, role=Role.OWNER)
    _run(engine)
    issued = _issued(engine, organization)
    assert issued is not None

    with db.read_session(engine) as session, pytest.raises(NotFound):
        invoice_queries.invoice(session, actor_of(stranger), issued.invoice.id)


def test_a_role_without_billing_cannot_read_an_invoice(engine):
    organization = _organization(engine)
    with db.write_session(engine) as session:
        developer = make_user(
            session, organization=_reload(session, organization), role=Role.DEVELOPER
        )
    _run(engine)
    issued = _issued(engine, organization)
    assert issued is not None

    with db.read_session(engine) as session, pytest.raises(PermissionDenied):
        invoice_queries.invoice(session, actor_of(developer), issued.invoice.id)


def test_the_invoice_email_goes_only_to_active_users_who_asked_for_it(engine, outbox_dir):
    organization = _organization(engine, balance_cents=10_000)
    with db.write_session(engine) as session:
        stored = _reload(session, organization)
        owner = make_user(session, organization=stored, role=Role.OWNER)
        declined = make_user(session, organization=stored, role=Role.BILLING)
        declined.notify_invoices = False
        session.add(declined)
        make_user(session, organization=stored, role=Role.ADMIN, status=UserStatus.DEACTIVATED)
        make_user(session, role=Role.OWNER)  # another organization's

    summary = _run(engine)

    messages = outbox(outbox_dir)
    assert [message["To"] for message in messages] == [owner.email]
    assert summary.emails_queued == 1
    invoice = _issued(engine, organization).invoice  # type: ignore[union-attr]
    assert messages[0]["Subject"] == f"SIPSTACK invoice {invoice.number} for October 2026: $33.90"
    assert "paid from your prepaid balance" in body_of(messages[0])
    assert f"/billing_invoices?invoice={invoice.id}\n" in body_of(messages[0])


def test_no_email_is_sent_again_by_a_second_run(engine, outbox_dir):
    organization = _organization(engine)
    with db.write_session(engine) as session:
        make_user(session, organization=_reload(session, organization))
    _run(engine)

    _run(engine)

    assert len(outbox(outbox_dir)) == 1
    assert "it is due" in body_of(outbox(outbox_dir)[0])


def test_members_whose_role_may_not_read_billing_get_no_invoice_email_or_notice(engine, outbox_dir):
    organization = _organization(engine, balance_cents=10_000)
    with db.write_session(engine) as session:
        stored = _reload(session, organization)
        billing = make_user(session, organization=stored, role=Role.BILLING)
        for role in (Role.VIEWER, Role.DEVELOPER):
            make_user(session, organization=stored, role=role)  # invoice e-mails on by default

    _run(engine)

    assert [message["To"] for message in outbox(outbox_dir)] == [billing.email]
    with db.read_session(engine) as session:
        notice = session.exec(select(Notice).where(Notice.organization_id == organization.id)).one()
    assert (notice.kind, notice.capability) == (NoticeKind.INVOICE_ISSUED, "billing_read")


def test_a_mail_server_failure_leaves_the_invoice_made_and_the_email_queued(
    engine, outbox_dir, monkeypatch
):
    organization = _organization(engine)
    with db.write_session(engine) as session:
        make_user(session, organization=_reload(session, organization))
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(free_port()))  # nothing listens there
    get_settings.cache_clear()

    summary = _run(engine)

    assert (summary.created, summary.failures, summary.emails_queued) == (1, [], 1)
    assert _issued(engine, organization) is not None
    from portal_core.models.mail import QueuedMail

    with db.read_session(engine) as session:
        queued = session.exec(select(QueuedMail)).one()
    assert queued.sent_at is None and queued.attempts == 1


def test_the_period_ends_at_midnight_in_the_billing_time_zone_not_in_utc(engine):
    organization = _organization(engine)
    # 03:30 UTC on 1 November is still 31 October in Toronto: October has not ended there,
    # and "last month" is September.
    early = datetime(2026, 11, 1, 3, 30, tzinfo=UTC)

    with pytest.raises(ValidationFailed):
        _run(engine, OCTOBER, now=early)
    assert _run(engine, None, now=early).period == "2026-09"
    assert _issued(engine, organization, "2026-09") is not None
