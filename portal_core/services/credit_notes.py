"""Credit notes: giving back something that was invoiced with tax.

An invoice's amounts carried taxes; a credit of them must carry the same taxes back, or the
partner's books (and SIPSTACK's tax returns) do not balance. So the unused months of a yearly
term left by an upgrade, and any credit staff grant against an invoice, are a **credit
note**:

- its lines (what is credited, before tax), at most what the invoice still has to credit
  (its subtotal less its earlier credit notes);
- each tax of the original invoice at the original rate, on the credit note's subtotal,
  rounded half-up once per tax (as on invoices);
- numbered in its own gapless series, CN-1, CN-2… (``document_numbers.next_number``), with the
  invoice's seller and buyer details;
- credited to the balance once (ledger key ``credit-note:<key>``), which may make due
  invoices paid;
- told to the organization's members who may read Billing (a notice, and an e-mail to those
  who asked for invoice e-mails).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal_core import emails
from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.mail import send_after_commit
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    EntryKind,
    Invoice,
    InvoiceTax,
)
from portal_core.models.notices import NoticeKind
from portal_core.money import format_cents, tax_cents
from portal_core.permissions import Capability
from portal_core.queries.members import members_who_may
from portal_core.services import ledger, notices
from portal_core.services.document_numbers import next_number

CREDIT_NOTE_SERIES = "CN"


@dataclass(frozen=True)
class CreditLine:
    description: str
    quantity: int
    unit_micros: int
    amount_cents: int


def creditable_cents(session: Session, invoice: Invoice) -> int:
    """What an invoice still has to credit, before tax: its subtotal less its credit notes'."""
    credited = session.exec(
        select(func.coalesce(func.sum(CreditNote.subtotal_cents), 0)).where(
            CreditNote.invoice_id == invoice.id
        )
    ).one()
    return max(invoice.subtotal_cents - int(credited), 0)


def taxes_on(session: Session, invoice: Invoice, subtotal_cents: int) -> list[tuple[str, int, int]]:
    """(tax, rate, amount) of each of the invoice's taxes, at its rates, on ``subtotal``."""
    rows = session.exec(
        select(InvoiceTax).where(InvoiceTax.invoice_id == invoice.id).order_by(col(InvoiceTax.tax))
    ).all()
    return [
        (row.tax, row.rate_millipercent, tax_cents(subtotal_cents, row.rate_millipercent))
        for row in rows
    ]


def issue_credit_note(
    session: Session,
    invoice: Invoice,
    lines: Sequence[CreditLine],
    *,
    reason: str,
    idempotency_key: str,
    created_by: uuid.UUID | None = None,
    now: datetime | None = None,
) -> CreditNote:
    """Issue a credit note of ``lines`` against ``invoice`` (see the module docstring); the
    same key again returns the first. ``ValidationFailed`` for nothing to credit or more than
    the invoice has left."""
    existing = session.exec(
        select(CreditNote).where(CreditNote.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        if existing.invoice_id != invoice.id:
            raise Conflict("That credit note was already issued against another invoice.")
        return existing
    now = now or utcnow()
    subtotal = sum(line.amount_cents for line in lines)
    left = creditable_cents(session, invoice)
    if subtotal <= 0:
        raise ValidationFailed({"amount": "A credit note credits more than $0.00."})
    if subtotal > left:
        raise ValidationFailed(
            {
                "amount": f"Invoice {invoice.number} has {format_cents(left)} left to credit "
                "(before tax): credit at most that."
            }
        )
    taxes = taxes_on(session, invoice, subtotal)
    total = subtotal + sum(amount for _tax, _rate, amount in taxes)
    number = next_number(session, CREDIT_NOTE_SERIES)
    note = CreditNote(
        organization_id=invoice.organization_id,
        number=number,
        invoice_id=invoice.id,
        reason=reason[:300],
        subtotal_cents=subtotal,
        tax_cents=total - subtotal,
        total_cents=total,
        issued_at=now,
        seller_details=invoice.seller_details,
        buyer_details=invoice.buyer_details,
        idempotency_key=idempotency_key,
        created_by=created_by,
    )
    session.add(note)
    session.flush()
    session.add_all(
        CreditNoteLine(credit_note_id=note.id, position=position, **vars(line))
        for position, line in enumerate(lines, start=1)
    )
    session.add_all(
        CreditNoteTax(credit_note_id=note.id, tax=tax, rate_millipercent=rate, amount_cents=amount)
        for tax, rate, amount in taxes
    )
    entry = ledger.post_entry(
        session,
        organization_id=invoice.organization_id,
        kind=EntryKind.CREDIT,
        amount_cents=total,
        idempotency_key=f"credit-note:{idempotency_key}",
        memo=f"Credit note {note.label} for invoice {invoice.number}: {reason}",
        created_by=created_by,
        now=now,
    )
    note.ledger_entry_id = entry.id
    session.add(note)
    session.flush()
    _tell(session, note, invoice, now)
    return note


def _tell(session: Session, note: CreditNote, invoice: Invoice, now: datetime) -> None:
    body = (
        f"Credit note {note.label} credits {format_cents(note.total_cents)}, taxes included, "
        f"against invoice {invoice.number}: {note.reason}"
    )
    notices.post(
        session,
        organization_id=note.organization_id,
        kind=NoticeKind.CREDIT_NOTE_ISSUED,
        title=f"Credit note {note.label}: {format_cents(note.total_cents)}",
        body=body,
        dedupe_key=f"credit-note:{note.id}",
        capability=Capability.BILLING_READ,
        link_page_id="billing.invoices",
        now=now,
    )
    for member in members_who_may(session, note.organization_id, Capability.BILLING_READ):
        if member.notify_invoices:
            send_after_commit(
                session,
                emails.credit_note_issued(
                    member.email,
                    member.name,
                    credit_note_id=note.id,
                    label=note.label,
                    total_cents=note.total_cents,
                    invoice_number=invoice.number,
                    reason=note.reason,
                ),
            )


def invoice_of(session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.organization_id != organization_id:
        raise NotFound("That invoice was not found for this organization.")
    return invoice
