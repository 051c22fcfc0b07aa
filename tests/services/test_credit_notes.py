"""Credit notes: a credit of something invoiced carries the invoice's taxes back, in its own
gapless series, once, never more than the invoice had; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import Conflict, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.billing import BillingAccount, CreditNote, Invoice, InvoiceStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.services import invoices, staff_billing
from tests.factories import actor_of, make_organization, make_staff, make_user, put_on_plan
from tests.services.support import fetch, race

TORONTO = ZoneInfo("America/Toronto")
RUN = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)


def _invoiced(engine, province: str = "ON"):
    """An Ontario Starter organization invoiced for October ($30.00 + $3.90 HST, due)."""
    with db.write_session(engine) as session:
        organization = make_organization(session, province=province)
        put_on_plan(session, organization, "starter", since=datetime(2026, 9, 1, tzinfo=TORONTO))
        owner = make_user(session, organization=organization, role=Role.OWNER)
        staff = make_staff(session)
    invoices.run_invoices(engine, period="2026-10", now=RUN)
    with db.read_session(engine) as session:
        invoice = session.exec(
            select(Invoice).where(Invoice.organization_id == organization.id)
        ).one()
    return organization, owner, staff, invoice


def _credit(engine, staff, organization, invoice, amount: str, key: str, reason="Outage"):
    with db.write_session(engine) as session:
        return staff_billing.credit_invoice(
            session,
            actor_of(staff),
            organization.id,
            invoice.id,
            amount=amount,
            reason=reason,
            idempotency_key=key,
        )


def test_a_credit_carries_the_invoices_taxes_and_pays_what_it_covers(engine):
    organization, _owner, staff, invoice = _invoiced(engine)
    assert invoice.status == InvoiceStatus.DUE

    note = _credit(engine, staff, organization, invoice, "", "all")

    assert (note.label, note.subtotal_cents, note.tax_cents, note.total_cents) == (
        "CN-1",
        3_000,
        390,
        3_390,
    )
    balance = fetch(engine, BillingAccount, organization.id).balance_micros
    assert balance == 0  # −$33.90 invoiced, +$33.90 credited
    assert fetch(engine, Invoice, invoice.id).status == InvoiceStatus.PAID


def test_credit_notes_are_numbered_in_their_own_series_and_never_exceed_the_invoice(engine):
    organization, _owner, staff, invoice = _invoiced(engine)

    first = _credit(engine, staff, organization, invoice, "10.00", "first")
    second = _credit(engine, staff, organization, invoice, "20.00", "second")

    assert (first.label, second.label) == ("CN-1", "CN-2")
    with pytest.raises(Conflict, match="already credited in full"):
        _credit(engine, staff, organization, invoice, "0.01", "third")


def test_a_credit_beyond_what_is_left_is_refused_and_changes_nothing(engine):
    organization, _owner, staff, invoice = _invoiced(engine)
    _credit(engine, staff, organization, invoice, "25.00", "first")

    with pytest.raises(ValidationFailed, match="up to \\$5.00"):
        _credit(engine, staff, organization, invoice, "5.01", "too-much")

    with db.read_session(engine) as session:
        assert len(session.exec(select(CreditNote)).all()) == 1


def test_a_double_click_issues_one_credit_note(engine):
    organization, _owner, staff, invoice = _invoiced(engine)

    first = _credit(engine, staff, organization, invoice, "10.00", "click")
    again = _credit(engine, staff, organization, invoice, "10.00", "click")

    assert first.id == again.id
    assert (
        fetch(engine, BillingAccount, organization.id).balance_micros
        == (-3_390 + 1_130) * MICROS_PER_CENT
    )


def test_only_staff_issue_credit_notes(engine):
    organization, owner, _staff, invoice = _invoiced(engine)

    with pytest.raises(PermissionDenied):
        _credit(engine, owner, organization, invoice, "10.00", "mine")


def test_concurrent_credit_notes_take_consecutive_numbers(concurrent_engine):
    issued = [_invoiced(concurrent_engine) for _ in range(3)]

    def credit(index: int):
        organization, _owner, staff, invoice = issued[index]
        return lambda: _credit(concurrent_engine, staff, organization, invoice, "1.00", f"k{index}")

    race([credit(index) for index in range(3)], threads=3)

    with db.read_session(concurrent_engine) as session:
        numbers = sorted(session.exec(select(CreditNote.number)).all())
        assert numbers == [1, 2, 3]
