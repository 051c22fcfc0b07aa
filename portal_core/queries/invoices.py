"""Read side of invoices: one invoice of the acting user's organization, with its lines and
taxes. Another organization's invoice is simply not found (DESIGN.md, rule 3)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.billing import Invoice, InvoiceLine, InvoiceTax
from portal_core.permissions import Actor, Capability, require, require_organization


@dataclass(frozen=True)
class InvoiceDetail:
    invoice: Invoice
    lines: list[InvoiceLine]
    taxes: list[InvoiceTax]


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
