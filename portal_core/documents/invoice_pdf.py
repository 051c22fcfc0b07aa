"""An invoice as a PDF a partner can file for expenses
(docs/product.md, Pages › Billing › Invoices).

It prints what the invoice run recorded, never today's settings: the seller's and the buyer's
details as they were copied onto the invoice when it was issued, its lines, each tax with its
rate, the total and the status. Amounts are USD (docs/product.md, Billing model); dates are
days in the billing time zone, the one whose months the invoice covers.
"""

from __future__ import annotations

from datetime import tzinfo

from portal_core.documents.layout import (
    AMBER,
    GREEN,
    MARGIN,
    Document,
    priced_lines,
)
from portal_core.models.billing import InvoiceStatus
from portal_core.queries.invoices import STATUS_LABELS, InvoiceDetail, period_label


def invoice_file_name(number: int) -> str:
    """SIPSTACK-invoice-000123.pdf: zero-padded so that a folder of invoices sorts by number."""
    return f"SIPSTACK-invoice-{number:06d}.pdf"


def invoice_pdf(detail: InvoiceDetail, *, time_zone: tzinfo) -> bytes:
    """The PDF of ``detail`` (read with ``queries.invoices.invoice``, which scopes it)."""
    invoice = detail.invoice
    period = period_label(invoice.period)
    issued = invoice.issued_at.astimezone(time_zone).date().isoformat()
    status = STATUS_LABELS[invoice.status]
    document = Document(
        title=f"SIPSTACK invoice {invoice.number}",
        footer=f"SIPSTACK invoice {invoice.number} · {period} · Prices in USD",
    )
    document.masthead("Invoice", f"No. {invoice.number}")

    top = document.get_y()
    half = (document.epw - 10) / 2
    seller_end = document.party("From", invoice.seller_details.splitlines(), x=MARGIN, width=half)
    document.set_y(top)
    facts_end = document.facts(
        [
            ("Invoice number", str(invoice.number)),
            ("Period", period),
            ("Issue date", issued),
            ("Status", status),
            ("Currency", "USD"),
        ],
        x=MARGIN + half + 10,
        width=half,
        colours={"Status": GREEN if invoice.status == InvoiceStatus.PAID else AMBER},
    )
    document.set_y(max(seller_end, facts_end) + 6)
    document.party("Billed to", invoice.buyer_details.splitlines(), x=MARGIN, width=half)
    document.ln(6)

    priced_lines(
        document,
        detail.lines,
        detail.taxes,
        subtotal=("Subtotal", invoice.subtotal_cents),
        total=("Total (USD)", invoice.total_cents),
    )
    document.ln(6)

    if invoice.status == InvoiceStatus.PAID:
        document.note("Paid from the buyer's SIPSTACK prepaid balance.", colour=GREEN, bold=True)
    else:
        document.note(
            "Due: the prepaid balance did not cover this invoice. Add funds in the SIPSTACK "
            "Partner Portal (Billing › Overview) to pay it.",
            colour=AMBER,
            bold=True,
        )
    document.note(
        "Prices in USD. Usage is billed per request beyond the plan's monthly allowance; sales "
        "tax applies to Canadian companies only, by province."
    )
    return document.to_bytes()
