"""Billing › Invoices drawn: the list of the organization's invoices, and one invoice with its
parties, lines, taxes, total and status, downloadable as a PDF
(docs/product.md, Pages › Billing › Invoices).

An invoice opens from its row or from a link carrying ``?invoice=<id>`` (``ui.list_detail``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import tzinfo
from typing import Protocol

import streamlit as st

from portal_core.documents import (
    credit_note_file_name,
    credit_note_pdf,
    invoice_file_name,
    invoice_pdf,
)
from portal_core.documents.layout import format_quantity
from portal_core.models.billing import InvoiceStatus
from portal_core.money import format_cents, format_line_price, format_rate
from portal_core.permissions import Capability
from portal_core.queries import invoices
from portal_core.queries.invoices import (
    STATUS_LABELS,
    CreditNoteDetail,
    InvoiceDetail,
    period_label,
)
from portal_core.services.sessions import SessionView
from portal_core.ui import list_detail, resources
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

INVOICE_PARAM = "invoice"
CREDIT_NOTE_PARAM = "credit_note"
TABLE_KEY = "billing.invoices"
CREDIT_NOTES_TABLE_KEY = "billing.credit_notes"


def invoice_list(viewer: SessionView, *, time_zone: tzinfo) -> None:
    st.caption(
        "Issued on the 1st of each month for the month before and paid from your prepaid "
        "balance. Select an invoice to see its lines and taxes and to download its PDF. "
        "Amounts are in USD."
    )
    list_detail.listing_table(
        invoices.invoices(viewer.actor), key=TABLE_KEY, param=INVOICE_PARAM, time_zone=time_zone
    )


def credit_note_list(viewer: SessionView, *, time_zone: tzinfo) -> None:
    st.subheader("Credit notes", anchor=False)
    st.caption(
        "What SIPSTACK gave back of an invoice, with the taxes the invoice charged on it, "
        "credited to your prepaid balance. Select one for its lines and its PDF."
    )
    list_detail.listing_table(
        invoices.credit_notes(viewer.actor),
        key=CREDIT_NOTES_TABLE_KEY,
        param=CREDIT_NOTE_PARAM,
        time_zone=time_zone,
    )


def all_credit_notes_button() -> None:
    list_detail.back_button(
        "All invoices and credit notes",
        key="billing.credit_notes.back",
        param=CREDIT_NOTE_PARAM,
        table_key=CREDIT_NOTES_TABLE_KEY,
    )


def opened_credit_note(viewer: SessionView, raw: str) -> CreditNoteDetail | None:
    """The credit note the link names, or None (said on screen) when it names none of ours."""

    def read(credit_note_id: uuid.UUID) -> CreditNoteDetail:
        with resources.reading() as session:
            return invoices.credit_note(session, viewer.actor, credit_note_id)

    return list_detail.read_opened(raw, read, noun="credit note")


def credit_note(detail: CreditNoteDetail, *, time_zone: tzinfo) -> None:
    """One credit note: heading and PDF, what it credits and why, the parties, the lines."""
    note = detail.credit_note
    heading, download = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader(f"Credit note {note.label}")
    download.download_button(
        "Download PDF",
        data=lambda: credit_note_pdf(detail, time_zone=time_zone),
        file_name=credit_note_file_name(note.number),
        mime="application/pdf",
        key="billing.credit_notes.pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        type="primary",
        width="stretch",
    )
    issued_on = note.issued_at.astimezone(time_zone).date().isoformat()
    st.caption(
        f"Issued {issued_on} · credits invoice {detail.invoice_number} "
        f"({period_label(detail.invoice_period)}) · Prices in USD"
    )
    st.info(f"Reason: {note.reason}", icon=":material/undo:")
    seller, buyer = st.columns(2)
    with seller:
        _party("From", note.seller_details)
    with buyer:
        _party("Credited to", note.buyer_details)
    st.markdown(
        _document_table(
            detail.lines,
            detail.taxes,
            subtotal=("Subtotal credited", note.subtotal_cents),
            total=("Total credited", note.total_cents),
        )
    )


def all_invoices_button() -> None:
    list_detail.back_button(
        "All invoices", key="billing.invoices.back", param=INVOICE_PARAM, table_key=TABLE_KEY
    )


def opened_invoice(viewer: SessionView, raw: str) -> InvoiceDetail | None:
    """The invoice the link names, or None (said on screen) when it names none of ours."""

    def read(invoice_id: uuid.UUID) -> InvoiceDetail:
        with resources.reading() as session:
            return invoices.invoice(session, viewer.actor, invoice_id)

    return list_detail.read_opened(raw, read, noun="invoice")


def invoice(viewer: SessionView, detail: InvoiceDetail, *, time_zone: tzinfo) -> None:
    """One invoice: heading and PDF, status, what is due, the parties, the lines."""
    issued = detail.invoice
    period = period_label(issued.period)
    heading, download = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader(f"Invoice {issued.number} · {period}")
    download.download_button(
        "Download PDF",
        data=lambda: invoice_pdf(detail, time_zone=time_zone),
        file_name=invoice_file_name(issued.number),
        mime="application/pdf",
        key="billing.invoices.pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        type="primary",
        width="stretch",
    )
    paid = issued.status == InvoiceStatus.PAID
    st.badge(
        STATUS_LABELS[issued.status],
        icon=":material/check_circle:" if paid else ":material/schedule:",
        color="green" if paid else "orange",
    )
    issued_on = issued.issued_at.astimezone(time_zone).date().isoformat()
    st.caption(f"Issued {issued_on} for {period} · Prices in USD")
    if not paid:
        st.warning(
            "This invoice is due: your prepaid balance did not cover it. Add funds to pay it.",
            icon=":material/warning:",
        )
        if viewer.actor.can(Capability.BILLING_MANAGE):
            overview = page("billing.overview")
            st.page_link(overview.script, label="Add funds", icon=":material/add_card:")
    seller, buyer = st.columns(2)
    with seller:
        _party("From", issued.seller_details)
    with buyer:
        _party("Billed to", issued.buyer_details)
    st.markdown(lines_table(detail))


def lines_table(detail: InvoiceDetail) -> str:
    """The invoice's lines, taxes and total as a markdown table."""
    issued = detail.invoice
    return _document_table(
        detail.lines,
        detail.taxes,
        subtotal=("Subtotal", issued.subtotal_cents),
        total=("Total", issued.total_cents),
    )


class _Line(Protocol):
    description: str
    quantity: int
    unit_micros: int
    amount_cents: int


class _Tax(Protocol):
    tax: str
    rate_millipercent: int
    amount_cents: int


def _document_table(
    lines: Sequence[_Line],
    taxes: Sequence[_Tax],
    *,
    subtotal: tuple[str, int],
    total: tuple[str, int],
) -> str:
    """An invoice's or a credit note's lines, each tax and the total as a markdown table,
    every cell escaped (a "$" would otherwise start a formula)."""
    rows = [
        "| Description | Quantity | Unit price | Amount |",
        "|:--|--:|--:|--:|",
    ]
    for line in lines:
        cells = (
            line.description,
            format_quantity(line.quantity),
            format_line_price(line.unit_micros),
            format_cents(line.amount_cents),
        )
        rows.append("| " + " | ".join(markdown_escape(cell) for cell in cells) + " |")
    totals = [(subtotal[0], format_cents(subtotal[1]))]
    totals.extend(
        (f"{tax.tax} ({format_rate(tax.rate_millipercent)})", format_cents(tax.amount_cents))
        for tax in taxes
    )
    if not taxes:
        totals.append(("Sales tax (outside Canada)", format_cents(0)))
    for label, amount in totals:
        rows.append(f"| | | {markdown_escape(label)} | {markdown_escape(amount)} |")
    rows.append(
        f"| | | **{markdown_escape(total[0])}** | **{markdown_escape(format_cents(total[1]))}** |"
    )
    return "\n".join(rows)


def _party(heading: str, details: str) -> None:
    st.markdown(f"**{heading}**")
    st.markdown("  \n".join(markdown_escape(line) for line in details.splitlines()))
