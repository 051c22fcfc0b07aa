"""The receipt of a card payment that added funds, as a PDF (Billing › Payments).

A receipt proves money was received: when, by which card, how much was credited to the
prepaid balance, the card convenience fee and the total charged to the card (the fee
is charged on card payments only, untaxed). It is not an invoice: the services themselves are
billed, with their taxes, on the monthly invoices, and the receipt says so, which is what an
accountant filing it needs to know. Only a payment that succeeded has one.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from portal_core.documents.layout import GREEN, MARGIN, Document, Total
from portal_core.errors import NotFound
from portal_core.models.accounts import Organization
from portal_core.models.payments import SETTLED_STATUSES, Payment
from portal_core.money import format_cents, format_rate
from portal_core.parties import SellerDetails, organization_lines, seller_lines

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9-]+")


def receipt_file_name(reference: str) -> str:
    """SIPSTACK-receipt-PAY-7Q2K….pdf, with only letters, digits and hyphens."""
    return f"SIPSTACK-receipt-{_UNSAFE_IN_FILE_NAME.sub('', reference) or 'payment'}.pdf"


def receipt_pdf(
    payment: Payment, organization: Organization, seller: SellerDetails, *, time_zone: tzinfo
) -> bytes:
    """The receipt of ``payment`` (succeeded) by ``organization``, from ``seller`` (the
    platform settings' legal details). Raises NotFound for a payment that did not succeed."""
    if payment.status not in SETTLED_STATUSES:
        raise NotFound("A receipt exists only for a payment that went through.")
    if payment.organization_id != organization.id:
        raise NotFound("That payment was not found.")
    paid_at = (payment.settled_at or payment.created_at).astimezone(time_zone)
    document = Document(
        title=f"SIPSTACK receipt {payment.reference}",
        footer=f"SIPSTACK receipt {payment.reference} · Prices in USD",
    )
    document.masthead("Receipt", payment.reference)

    top = document.get_y()
    half = (document.epw - 10) / 2
    seller_end = document.party("From", seller_lines(seller), x=MARGIN, width=half)
    document.set_y(top)
    facts_end = document.facts(
        [
            ("Reference", payment.reference),
            ("Date", paid_at.date().isoformat()),
            ("Time", paid_at.strftime("%H:%M %Z")),
            ("Paid by", payment.card_label or "Card"),
            ("Status", "Paid"),
        ],
        x=MARGIN + half + 10,
        width=half,
        colours={"Status": GREEN},
    )
    document.set_y(max(seller_end, facts_end) + 6)
    document.party("Received from", organization_lines(organization), x=MARGIN, width=half)
    document.ln(6)

    document.items(
        ("Description", "Amount"),
        [
            ("Funds added to the SIPSTACK prepaid balance", format_cents(payment.amount_cents)),
            (
                f"Card convenience fee ({format_rate(payment.fee_millipercent)}, not taxed)",
                format_cents(payment.fee_cents),
            ),
        ],
        col_widths=(80, 20),
    )
    document.ln(3)
    document.totals(
        [Total("Total charged to the card (USD)", format_cents(payment.total_cents), bold=True)]
    )
    document.ln(6)
    document.note(
        "This receipt confirms a payment to a prepaid balance; it is not an invoice. The "
        "services are billed, with their sales taxes, on SIPSTACK's monthly invoices "
        "(Billing › Invoices). Prices in USD."
    )
    return document.to_bytes()
