"""Billing › Payments: every attempt to add funds by card (date, card, amount, fee, total
charged, status, reference); one opens with its receipt (PDF) when it went through, or the
reason when it did not (SPEC.md, Billing › Payments).

A payment opens when its row is selected, or from a link carrying ``?payment=<id>`` (the
Overview's last payment, a failed payment's notice): the query parameter is the one record of
which payment is open. Another organization's payment is not found.
"""

import uuid
from typing import Literal

import streamlit as st

from portal_core.documents import receipt_file_name, receipt_pdf
from portal_core.errors import NotFound
from portal_core.models.accounts import Organization
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.money import format_cents
from portal_core.permissions import Capability
from portal_core.queries import payments
from portal_core.queries.payments import PAYMENT_SOURCES, PAYMENT_STATUSES
from portal_core.services import accounts, platform
from portal_core.services.payments import percent
from portal_core.services.platform import Seller
from portal_core.ui import resources, shell, table
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("billing.payments")

PAYMENT_PARAM = "payment"
TABLE_KEY = "billing.payments"
BadgeColour = Literal["green", "orange", "red"]
STATUS_LOOKS: dict[PaymentStatus, tuple[str, BadgeColour]] = {
    PaymentStatus.SUCCEEDED: (":material/check_circle:", "green"),
    PaymentStatus.PENDING: (":material/schedule:", "orange"),
    PaymentStatus.FAILED: (":material/cancel:", "red"),
    PaymentStatus.REQUIRES_ACTION: (":material/lock:", "orange"),
}

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)


def open_selected(payment_id: object | None) -> None:
    if payment_id is None:
        st.query_params.pop(PAYMENT_PARAM, None)
    else:
        st.query_params[PAYMENT_PARAM] = str(payment_id)


def back_to_list() -> None:
    st.query_params.pop(PAYMENT_PARAM, None)
    table.clear_selection(TABLE_KEY)


def opened_payment(raw: str) -> tuple[Payment, Organization, Seller] | None:
    """The payment the link names with what its receipt prints, or None (said on screen)
    when it names none of ours."""
    try:
        with resources.reading() as session:
            found = payments.payment(session, viewer.actor, uuid.UUID(raw))
            return found, accounts.organization_of(session, viewer.actor), platform.seller(session)
    except (ValueError, NotFound):
        st.warning(
            "That payment was not found. It may belong to another organization, or the link "
            "may be incomplete.",
            icon=":material/search_off:",
        )
        return None


def show_payment(payment: Payment, organization: Organization, seller: Seller) -> None:
    status = PaymentStatus(payment.status)
    heading, download = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader(f"Payment {payment.reference}")
    if status is PaymentStatus.SUCCEEDED:
        download.download_button(
            "Download receipt (PDF)",
            data=lambda: receipt_pdf(payment, organization, seller, time_zone=time_zone),
            file_name=receipt_file_name(payment.reference),
            mime="application/pdf",
            key="billing.payments.receipt",
            icon=":material/picture_as_pdf:",
            on_click="ignore",
            type="primary",
            width="stretch",
        )
    icon, colour = STATUS_LOOKS[status]
    st.badge(PAYMENT_STATUSES[status.value], icon=icon, color=colour)
    made = payment.created_at.astimezone(time_zone)
    source = PAYMENT_SOURCES.get(payment.source, payment.source)
    st.caption(f"{made:%Y-%m-%d %H:%M %Z} · {source} · Amounts in USD")

    if status is PaymentStatus.FAILED:
        st.error(
            f"This payment did not go through: {payment.failure_message or 'declined.'} "
            "Nothing was added to your balance.",
            icon=":material/credit_card_off:",
        )
    elif status is PaymentStatus.REQUIRES_ACTION:
        st.warning(
            f"The card's bank asked for authentication: {payment.failure_message or ''} "
            "Nothing was added to your balance. Add funds from Billing › Overview to pay while "
            "you are present to confirm it.",
            icon=":material/lock:",
        )
    elif status is PaymentStatus.PENDING:
        st.info(
            "Waiting for the card payment service to confirm this payment. Your balance is "
            "credited as soon as it does.",
            icon=":material/schedule:",
        )
        if payment.checkout_url and viewer.actor.can(Capability.BILLING_MANAGE):
            st.link_button(
                "Continue to secure payment",
                payment.checkout_url,
                icon=":material/lock:",
                type="primary",
            )

    rows = [
        "| | USD |",
        "|:--|--:|",
        f"| Card | {markdown_escape(payment.card_label or 'Card')} |",
        f"| Amount added to your balance | {markdown_escape(format_cents(payment.amount_cents))} |",
        f"| Card convenience fee ({markdown_escape(percent(payment.fee_millipercent))}) "
        f"| {markdown_escape(format_cents(payment.fee_cents))} |",
        f"| **Total charged to the card** "
        f"| **{markdown_escape(format_cents(payment.total_cents))}** |",
        f"| Reference | {markdown_escape(payment.reference)} |",
    ]
    st.markdown("\n".join(rows))
    if status is PaymentStatus.SUCCEEDED:
        transactions = page("billing.transactions")
        st.page_link(
            transactions.script,
            label="See it in Transactions",
            icon=transactions.icon,
        )


st.title("Payments")
raw_payment = st.query_params.get(PAYMENT_PARAM)
if raw_payment:
    st.button(
        "All payments",
        key="billing.payments.back",
        icon=":material/arrow_back:",
        on_click=back_to_list,
    )
    opened = opened_payment(raw_payment)
    if opened is not None:
        show_payment(*opened)
else:
    st.caption(
        "Every card payment that added funds, or tried to: the amount added to your balance, "
        "the card convenience fee and the total charged. Select a payment for its receipt. "
        "Amounts are in USD."
    )
    table.data_table(
        payments.payments(viewer.actor),
        key=TABLE_KEY,
        on_select=open_selected,
        time_zone=time_zone,
    )
