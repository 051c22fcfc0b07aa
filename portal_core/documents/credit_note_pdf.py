"""A credit note as a PDF, to file beside the invoice it credits: the parties as the invoice
printed them, what is credited, each tax at the invoice's rate, and the total credited to the
buyer's prepaid balance. Amounts are USD; dates are days in the billing time zone."""

from __future__ import annotations

from datetime import tzinfo

from portal_core.documents.layout import GREEN, MARGIN, Document, priced_lines
from portal_core.queries.invoices import CreditNoteDetail, period_label


def credit_note_file_name(number: int) -> str:
    """SIPSTACK-credit-note-CN-000012.pdf: zero-padded so a folder of them sorts by number."""
    return f"SIPSTACK-credit-note-CN-{number:06d}.pdf"


def credit_note_pdf(detail: CreditNoteDetail, *, time_zone: tzinfo) -> bytes:
    """The PDF of ``detail`` (read with ``queries.invoices.credit_note``, which scopes it)."""
    note = detail.credit_note
    issued = note.issued_at.astimezone(time_zone).date().isoformat()
    document = Document(
        title=f"SIPSTACK credit note {note.label}",
        footer=f"SIPSTACK credit note {note.label} · invoice {detail.invoice_number} · USD",
    )
    document.masthead("Credit note", note.label)

    top = document.get_y()
    half = (document.epw - 10) / 2
    seller_end = document.party("From", note.seller_details.splitlines(), x=MARGIN, width=half)
    document.set_y(top)
    facts_end = document.facts(
        [
            ("Credit note", note.label),
            ("Credits invoice", f"No. {detail.invoice_number}"),
            ("Invoice period", period_label(detail.invoice_period)),
            ("Issue date", issued),
            ("Currency", "USD"),
        ],
        x=MARGIN + half + 10,
        width=half,
    )
    document.set_y(max(seller_end, facts_end) + 6)
    document.party("Credited to", note.buyer_details.splitlines(), x=MARGIN, width=half)
    document.ln(6)
    document.note(f"Reason: {note.reason}")
    document.ln(2)

    priced_lines(
        document,
        detail.lines,
        detail.taxes,
        subtotal=("Subtotal credited", note.subtotal_cents),
        total=("Total credited (USD)", note.total_cents),
    )
    document.ln(6)
    document.note(
        "Credited to the buyer's SIPSTACK prepaid balance, with the taxes of the original "
        "invoice at its rates.",
        colour=GREEN,
        bold=True,
    )
    return document.to_bytes()
