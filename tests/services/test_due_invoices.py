"""Due invoices become paid when payments and credits cover them, oldest first: in the
invoice, its notice and its e-mail, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from portal_core import db
from portal_core.models.accounts import Organization, Role
from portal_core.models.billing import EntryKind, Invoice, InvoiceStatus
from portal_core.models.notices import Notice, NoticeKind
from portal_core.services import invoices, ledger
from tests.factories import fund, make_organization, make_user, put_on_plan
from tests.services.support import outbox

TORONTO = ZoneInfo("America/Toronto")
JOINED = datetime(2026, 9, 1, tzinfo=TORONTO)
OCTOBER_RUN = datetime(2026, 11, 1, 6, 0, tzinfo=TORONTO)
NOVEMBER_RUN = datetime(2026, 12, 1, 6, 0, tzinfo=TORONTO)
STARTER_FEE = 3_000  # cents, untaxed in New York


def _organization(engine) -> tuple[Organization, str]:
    """A Starter organization in New York (no sales tax) with a billing member."""
    with db.write_session(engine) as session:
        organization = make_organization(session, country="US", province="NY")
        put_on_plan(session, organization, "starter", since=JOINED)
        billing = make_user(session, organization=organization, role=Role.BILLING)
    return organization, billing.email


def _invoices(engine, organization: Organization) -> list[Invoice]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(Invoice)
                .where(Invoice.organization_id == organization.id)
                .order_by(col(Invoice.number))
            ).all()
        )


def _pay(engine, organization: Organization, cents: int, key: str | None = None) -> None:
    with db.write_session(engine) as session:
        fund(session, organization, cents, idempotency_key=key)


def _paid_notices(engine, organization: Organization) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(Notice).where(
                    Notice.organization_id == organization.id,
                    Notice.kind == NoticeKind.INVOICE_PAID,
                )
            ).all()
        )


def test_a_payment_that_covers_a_due_invoice_makes_it_paid_and_says_so(engine, outbox_dir):
    organization, billing = _organization(engine)
    invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)
    (due,) = _invoices(engine, organization)
    assert (due.status, due.paid_at) == (InvoiceStatus.DUE, None)

    _pay(engine, organization, 5_000)

    (paid,) = _invoices(engine, organization)
    assert paid.status == InvoiceStatus.PAID and paid.paid_at is not None
    (notice,) = _paid_notices(engine, organization)
    assert notice.title == f"Invoice {paid.number} is paid"
    assert notice.capability == "billing_read"
    subjects = [message["Subject"] for message in outbox(outbox_dir) if message["To"] == billing]
    assert f"SIPSTACK invoice {paid.number} for October 2026 is paid" in subjects


def test_payments_pay_the_oldest_due_invoice_first(engine):
    organization, _billing = _organization(engine)
    invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)
    invoices.run_invoices(engine, period="2026-11", now=NOVEMBER_RUN)
    assert [invoice.status for invoice in _invoices(engine, organization)] == ["due", "due"]

    _pay(engine, organization, 4_000)  # the balance goes from −$60.00 to −$20.00

    assert [invoice.status for invoice in _invoices(engine, organization)] == ["paid", "due"]

    _pay(engine, organization, 2_000)

    assert [invoice.status for invoice in _invoices(engine, organization)] == ["paid", "paid"]
    assert len(_paid_notices(engine, organization)) == 2


def test_a_payment_too_small_to_cover_any_due_invoice_changes_none(engine):
    organization, _billing = _organization(engine)
    invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)

    _pay(engine, organization, STARTER_FEE - 1)

    assert [invoice.status for invoice in _invoices(engine, organization)] == ["due"]
    assert _paid_notices(engine, organization) == []


def test_a_staff_credit_pays_a_due_invoice_too(engine):
    organization, _billing = _organization(engine)
    invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)

    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.CREDIT,
            amount_cents=STARTER_FEE,
            idempotency_key="goodwill-1",
            memo="Goodwill",
        )

    assert [invoice.status for invoice in _invoices(engine, organization)] == ["paid"]


def test_a_replayed_payment_pays_and_tells_once(engine, outbox_dir):
    organization, billing = _organization(engine)
    invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)

    _pay(engine, organization, 5_000, key="payment-1")
    _pay(engine, organization, 5_000, key="payment-1")

    assert len(_paid_notices(engine, organization)) == 1
    paid_mails = [m for m in outbox(outbox_dir) if m["To"] == billing and "paid" in m["Subject"]]
    assert len(paid_mails) == 1


def test_an_invoice_the_balance_covers_is_paid_when_issued(engine):
    organization, _billing = _organization(engine)
    _pay(engine, organization, 10_000)

    invoices.run_invoices(engine, period="2026-10", now=OCTOBER_RUN)

    (invoice,) = _invoices(engine, organization)
    assert invoice.status == InvoiceStatus.PAID and invoice.paid_at == OCTOBER_RUN
