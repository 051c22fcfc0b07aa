"""Billing › Invoices: the organization's monthly invoices; one opens with its lines, taxes,
total and status, and downloads as a PDF to file for expenses (SPEC.md, Billing › Invoices).

An invoice opens when its row is selected, or from a link carrying ``?invoice=<id>`` (a new
invoice's notice links here): the query parameter is the one record of which invoice is open,
so the link can be shared with a colleague. Another organization's invoice is not found.
"""

import uuid

import streamlit as st

from portal_core.documents import invoice_file_name, invoice_pdf
from portal_core.documents.layout import format_line_price, format_quantity, format_rate
from portal_core.errors import NotFound
from portal_core.models.billing import InvoiceStatus
from portal_core.money import format_cents
from portal_core.permissions import Capability
from portal_core.queries import invoices
from portal_core.queries.invoices import STATUS_LABELS, InvoiceDetail, period_label
from portal_core.services import platform
from portal_core.ui import resources, shell, table
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("billing.invoices")

INVOICE_PARAM = "invoice"
TABLE_KEY = "billing.invoices"

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)


def open_selected(invoice_id: object | None) -> None:
    if invoice_id is None:
        st.query_params.pop(INVOICE_PARAM, None)
    else:
        st.query_params[INVOICE_PARAM] = str(invoice_id)


def back_to_list() -> None:
    st.query_params.pop(INVOICE_PARAM, None)
    table.clear_selection(TABLE_KEY)


def opened_invoice(raw: str) -> InvoiceDetail | None:
    """The invoice the link names, or None (said on screen) when it names none of ours."""
    try:
        with resources.reading() as session:
            return invoices.invoice(session, viewer.actor, uuid.UUID(raw))
    except (ValueError, NotFound):
        st.warning(
            "That invoice was not found. It may belong to another organization, or the link "
            "may be incomplete.",
            icon=":material/search_off:",
        )
        return None


def lines_table(detail: InvoiceDetail) -> str:
    """The lines, taxes and total as a markdown table, every cell escaped (a "$" would
    otherwise start a formula)."""
    invoice = detail.invoice
    rows = [
        "| Description | Quantity | Unit price | Amount |",
        "|:--|--:|--:|--:|",
    ]
    for line in detail.lines:
        cells = (
            line.description,
            format_quantity(line.quantity),
            format_line_price(line.unit_micros),
            format_cents(line.amount_cents),
        )
        rows.append("| " + " | ".join(markdown_escape(cell) for cell in cells) + " |")
    totals = [("Subtotal", format_cents(invoice.subtotal_cents))]
    totals.extend(
        (f"{tax.tax} ({format_rate(tax.rate_millipercent)})", format_cents(tax.amount_cents))
        for tax in detail.taxes
    )
    if not detail.taxes:
        totals.append(("Sales tax (outside Canada)", format_cents(0)))
    for label, amount in totals:
        rows.append(f"| | | {markdown_escape(label)} | {markdown_escape(amount)} |")
    rows.append(f"| | | **Total** | **{markdown_escape(format_cents(invoice.total_cents))}** |")
    return "\n".join(rows)


def party(heading: str, details: str) -> None:
    st.markdown(f"**{heading}**")
    st.markdown("  \n".join(markdown_escape(line) for line in details.splitlines()))


def show_invoice(detail: InvoiceDetail) -> None:
    invoice = detail.invoice
    period = period_label(invoice.period)
    heading, download = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader(f"Invoice {invoice.number} · {period}")
    download.download_button(
        "Download PDF",
        data=lambda: invoice_pdf(detail, time_zone=time_zone),
        file_name=invoice_file_name(invoice.number),
        mime="application/pdf",
        key="billing.invoices.pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        type="primary",
        width="stretch",
    )
    paid = invoice.status == InvoiceStatus.PAID
    st.badge(
        STATUS_LABELS[invoice.status],
        icon=":material/check_circle:" if paid else ":material/schedule:",
        color="green" if paid else "orange",
    )
    issued = invoice.issued_at.astimezone(time_zone).date().isoformat()
    st.caption(f"Issued {issued} for {period} · Prices in USD")
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
        party("From", invoice.seller_details)
    with buyer:
        party("Billed to", invoice.buyer_details)
    st.markdown(lines_table(detail))


st.title("Invoices")
raw_invoice = st.query_params.get(INVOICE_PARAM)
if raw_invoice:
    st.button(
        "All invoices",
        key="billing.invoices.back",
        icon=":material/arrow_back:",
        on_click=back_to_list,
    )
    detail = opened_invoice(raw_invoice)
    if detail is not None:
        show_invoice(detail)
else:
    st.caption(
        "Issued on the 1st of each month for the month before and paid from your prepaid "
        "balance. Select an invoice to see its lines and taxes and to download its PDF. "
        "Amounts are in USD."
    )
    table.data_table(
        invoices.invoices(viewer.actor),
        key=TABLE_KEY,
        on_select=open_selected,
        time_zone=time_zone,
    )
