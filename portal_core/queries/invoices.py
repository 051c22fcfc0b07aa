"""Read side of invoices: the organization's list (the table widget's ``Listing``) and one
invoice with its lines and taxes, for the detail view and the PDF. Everything is scoped to the
acting user's organization: another organization's invoice is simply not found
(docs/architecture.md, rule 3)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, literal
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.billing import (
    CreditNote,
    CreditNoteLine,
    CreditNoteTax,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceTax,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import (
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRangeFilter,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
    updated_sort,
)

# An invoice's status in a partner's words (docs/product.md, Billing model: paid, or due until
# payments cover it).
STATUS_LABELS: dict[str, str] = {
    InvoiceStatus.PAID.value: "Paid",
    InvoiceStatus.DUE.value: "Due",
}

EMPTY_MESSAGE = (
    "No invoices yet. Invoices are issued on the 1st of each month for the month before: the "
    "plan's fee, usage beyond its allowance and taxes, paid from your prepaid balance."
)


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: Invoice
    lines: list[InvoiceLine]
    taxes: list[InvoiceTax]


def period_label(period: str) -> str:
    """An invoice's period (YYYY-MM) as a partner reads it: "2026-10" → "October 2026"."""
    return datetime.strptime(period, "%Y-%m").strftime("%B %Y")


def invoices(actor: Actor) -> Listing:
    """The organization's invoices, newest first: number, period, issue date, status and the
    subtotal, tax and total. Filters: number or period (text), status, issue date."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    status = col(Invoice.status)
    number = col(Invoice.number)
    return Listing(
        noun="invoices",
        select=select(col(Invoice.id))
        .select_from(Invoice)
        .where(col(Invoice.organization_id) == organization_id),
        key=col(Invoice.id),
        columns=(
            Column("number", "Number", number, ColumnKind.NUMBER),
            Column("period", "Period", col(Invoice.period), help="The month invoiced (YYYY-MM)."),
            Column("issued_at", "Issued", col(Invoice.issued_at), ColumnKind.DATETIME),
            Column(
                "status",
                "Status",
                status,
                ColumnKind.STATUS,
                labels=STATUS_LABELS,
                help="Paid from your prepaid balance, or due until payments cover it.",
            ),
            Column(
                "subtotal_cents", "Subtotal", col(Invoice.subtotal_cents), ColumnKind.MONEY_CENTS
            ),
            Column("tax_cents", "Tax", col(Invoice.tax_cents), ColumnKind.MONEY_CENTS),
            Column("total_cents", "Total", col(Invoice.total_cents), ColumnKind.MONEY_CENTS),
        ),
        sorts=(
            created_sort(col(Invoice.issued_at)),
            updated_sort(col(Invoice.updated_at)),
            Sort("total", "Total", col(Invoice.total_cents)),
            Sort("number", "Number", number),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            TextFilter(
                "search",
                "Number or period",
                (cast(number, String), col(Invoice.period)),
                placeholder="123 or 2026-10",
            ),
            ChoiceFilter("status", "Status", equal_choices(status, STATUS_LABELS)),
            DateRangeFilter("issued", "Issued", col(Invoice.issued_at)),
        ),
        empty_message=EMPTY_MESSAGE,
    )


def invoice(session: Session, actor: Actor, invoice_id: uuid.UUID) -> InvoiceDetail:
    """The invoice ``invoice_id`` of the actor's organization, lines in order, taxes by name."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    found = session.exec(
        select(Invoice).where(Invoice.id == invoice_id, Invoice.organization_id == organization_id)
    ).first()
    if found is None:
        raise NotFound("That invoice was not found.")
    lines = session.exec(
        select(InvoiceLine)
        .where(InvoiceLine.invoice_id == found.id)
        .order_by(col(InvoiceLine.position))
    ).all()
    taxes = session.exec(
        select(InvoiceTax).where(InvoiceTax.invoice_id == found.id).order_by(col(InvoiceTax.tax))
    ).all()
    return InvoiceDetail(invoice=found, lines=list(lines), taxes=list(taxes))


# --- Credit notes ------------------------------------------------------------------------------

CREDIT_NOTES_EMPTY = (
    "No credit notes. A credit note gives back something an invoice charged, with the taxes it "
    "charged on it: unused months of a yearly plan you left for a higher one, or a credit "
    "SIPSTACK granted against an invoice."
)


@dataclass(frozen=True)
class CreditNoteDetail:
    credit_note: CreditNote
    invoice_number: int
    invoice_period: str
    lines: list[CreditNoteLine]
    taxes: list[CreditNoteTax]


def credit_notes(actor: Actor) -> Listing:
    """The organization's credit notes, newest first: number (CN-…), the invoice it credits,
    issue date, why, and the subtotal, tax and total credited. Filters: number or reason
    (text), issue date."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    number = col(CreditNote.number)
    label = literal("CN-").concat(cast(number, String))
    # Read per row shown, not joined: the count then reads one index of credit notes alone.
    credited_invoice = (
        select(col(Invoice.number))
        .where(col(Invoice.id) == col(CreditNote.invoice_id))
        .scalar_subquery()
    )
    return Listing(
        noun="credit notes",
        select=select(col(CreditNote.id))
        .select_from(CreditNote)
        .where(col(CreditNote.organization_id) == organization_id),
        key=col(CreditNote.id),
        columns=(
            Column("number", "Number", label),
            Column("invoice", "Invoice", credited_invoice, ColumnKind.NUMBER),
            Column("issued_at", "Issued", col(CreditNote.issued_at), ColumnKind.DATETIME),
            Column("reason", "Reason", col(CreditNote.reason)),
            Column(
                "subtotal_cents",
                "Subtotal",
                col(CreditNote.subtotal_cents),
                ColumnKind.MONEY_CENTS,
            ),
            Column("tax_cents", "Tax", col(CreditNote.tax_cents), ColumnKind.MONEY_CENTS),
            Column("total_cents", "Total", col(CreditNote.total_cents), ColumnKind.MONEY_CENTS),
        ),
        sorts=(
            created_sort(col(CreditNote.issued_at)),
            Sort("total", "Total", col(CreditNote.total_cents)),
            Sort("number", "Number", number),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            TextFilter(
                "search",
                "Number or reason",
                (label, col(CreditNote.reason)),
                placeholder="CN-3 or yearly",
            ),
            DateRangeFilter("issued", "Issued", col(CreditNote.issued_at)),
        ),
        empty_message=CREDIT_NOTES_EMPTY,
    )


def credit_note(session: Session, actor: Actor, credit_note_id: uuid.UUID) -> CreditNoteDetail:
    """One credit note of the actor's organization, with the invoice it credits."""
    require(actor, Capability.BILLING_READ)
    organization_id = require_organization(actor)
    found = session.exec(
        select(CreditNote).where(
            CreditNote.id == credit_note_id, CreditNote.organization_id == organization_id
        )
    ).first()
    if found is None:
        raise NotFound("That credit note was not found.")
    invoice = session.get(Invoice, found.invoice_id)
    assert invoice is not None  # a credit note's invoice is its organization's
    lines = session.exec(
        select(CreditNoteLine)
        .where(CreditNoteLine.credit_note_id == found.id)
        .order_by(col(CreditNoteLine.position))
    ).all()
    taxes = session.exec(
        select(CreditNoteTax)
        .where(CreditNoteTax.credit_note_id == found.id)
        .order_by(col(CreditNoteTax.tax))
    ).all()
    return CreditNoteDetail(found, invoice.number, invoice.period, list(lines), list(taxes))
