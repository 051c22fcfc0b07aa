"""Billing › Payments drawn: the list of every attempt to add funds by card, and one payment
with its status, figures and receipt (PDF) when it went through, or the reason when it did not
(docs/product.md, Pages › Billing › Payments).

A payment opens from its row or from a link carrying ``?payment=<id>`` (``ui.list_detail``):
the Overview's last payment and a failed payment's notice link here.
"""

from __future__ import annotations

import uuid
from datetime import tzinfo
from typing import Literal

import streamlit as st

from portal_core.documents import receipt_file_name, receipt_pdf
from portal_core.models.accounts import Organization
from portal_core.models.payments import SETTLED_STATUSES, Payment, PaymentStatus
from portal_core.money import format_cents, format_percent
from portal_core.permissions import Capability
from portal_core.queries import payments
from portal_core.queries.payments import PAYMENT_SOURCES, PAYMENT_STATUSES
from portal_core.services import accounts, platform
from portal_core.services.platform import Seller
from portal_core.services.sessions import SessionView
from portal_core.ui import list_detail, resources
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

PAYMENT_PARAM = "payment"
TABLE_KEY = "billing.payments"
BadgeColour = Literal["green", "orange", "red"]
STATUS_LOOKS: dict[PaymentStatus, tuple[str, BadgeColour]] = {
    PaymentStatus.SUCCEEDED: (":material/check_circle:", "green"),
    PaymentStatus.PENDING: (":material/schedule:", "orange"),
    PaymentStatus.FAILED: (":material/cancel:", "red"),
    PaymentStatus.REQUIRES_ACTION: (":material/lock:", "orange"),
    PaymentStatus.PARTIALLY_REFUNDED: (":material/undo:", "orange"),
    PaymentStatus.REFUNDED: (":material/undo:", "orange"),
    PaymentStatus.DISPUTED: (":material/gavel:", "red"),
    PaymentStatus.CHARGED_BACK: (":material/gavel:", "red"),
}


def payment_list(viewer: SessionView, *, time_zone: tzinfo) -> None:
    st.caption(
        "Every card payment that added funds, or tried to: the amount added to your balance, "
        "the card convenience fee and the total charged. Select a payment for its receipt. "
        "Amounts are in USD."
    )
    list_detail.listing_table(
        payments.payments(viewer.actor), key=TABLE_KEY, param=PAYMENT_PARAM, time_zone=time_zone
    )


def all_payments_button() -> None:
    list_detail.back_button(
        "All payments", key="billing.payments.back", param=PAYMENT_PARAM, table_key=TABLE_KEY
    )


def opened_payment(viewer: SessionView, raw: str) -> tuple[Payment, Organization, Seller] | None:
    """The payment the link names with what its receipt prints, or None (said on screen)
    when it names none of ours."""

    def read(payment_id: uuid.UUID) -> tuple[Payment, Organization, Seller]:
        with resources.reading() as session:
            found = payments.payment(session, viewer.actor, payment_id)
            return found, accounts.organization_of(session, viewer.actor), platform.seller(session)

    return list_detail.read_opened(raw, read, noun="payment")


def payment(
    viewer: SessionView,
    made: Payment,
    organization: Organization,
    seller: Seller,
    *,
    time_zone: tzinfo,
) -> None:
    """One payment: heading and receipt, status, what happened, its figures."""
    status = PaymentStatus(made.status)
    heading, download = st.columns([3, 1], vertical_alignment="bottom")
    heading.subheader(f"Payment {made.reference}")
    if status in SETTLED_STATUSES:
        download.download_button(
            "Download receipt (PDF)",
            data=lambda: receipt_pdf(made, organization, seller, time_zone=time_zone),
            file_name=receipt_file_name(made.reference),
            mime="application/pdf",
            key="billing.payments.receipt",
            icon=":material/picture_as_pdf:",
            on_click="ignore",
            type="primary",
            width="stretch",
        )
    icon, colour = STATUS_LOOKS[status]
    st.badge(PAYMENT_STATUSES[status.value], icon=icon, color=colour)
    made_at = made.created_at.astimezone(time_zone)
    source = PAYMENT_SOURCES.get(made.source, made.source)
    st.caption(f"{made_at:%Y-%m-%d %H:%M %Z} · {source} · Amounts in USD")
    _outcome(viewer, made, status)
    st.markdown(_figures(made))
    if status in SETTLED_STATUSES:
        transactions = page("billing.transactions")
        st.page_link(
            transactions.script,
            label="See it in Transactions",
            icon=transactions.icon,
        )


def _outcome(viewer: SessionView, made: Payment, status: PaymentStatus) -> None:
    """Why a payment added nothing, what it waits for, or what became of it since."""
    if made.refunded_cents:
        st.info(
            f"{format_cents(made.refunded_cents)} of the {format_cents(made.total_cents)} "
            "charged went back to the card; its share of the amount left your balance (see "
            "Transactions).",
            icon=":material/undo:",
        )
    if status is PaymentStatus.DISPUTED:
        st.warning(
            "The card's bank disputes this payment: its amount is held back from your balance "
            "until the dispute is decided.",
            icon=":material/gavel:",
        )
    elif status is PaymentStatus.CHARGED_BACK:
        st.error(
            "The card's bank decided the dispute for the cardholder: this payment's amount was "
            "taken back from your balance.",
            icon=":material/gavel:",
        )
    if status is PaymentStatus.FAILED:
        st.error(
            f"This payment did not go through: {made.failure_message or 'declined.'} "
            "Nothing was added to your balance.",
            icon=":material/credit_card_off:",
        )
    elif status is PaymentStatus.REQUIRES_ACTION:
        st.warning(
            f"The card's bank asked for authentication: {made.failure_message or ''} "
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
        if made.checkout_url and viewer.actor.can(Capability.BILLING_MANAGE):
            st.link_button(
                "Continue to secure payment",
                made.checkout_url,
                icon=":material/lock:",
                type="primary",
            )


def _figures(made: Payment) -> str:
    """The card, amounts and reference as a markdown table, every cell escaped."""
    rows = [
        "| | USD |",
        "|:--|--:|",
        f"| Card | {markdown_escape(made.card_label or 'Card')} |",
        f"| Amount added to your balance | {markdown_escape(format_cents(made.amount_cents))} |",
        f"| Card convenience fee ({markdown_escape(format_percent(made.fee_millipercent))}) "
        f"| {markdown_escape(format_cents(made.fee_cents))} |",
        f"| **Total charged to the card** "
        f"| **{markdown_escape(format_cents(made.total_cents))}** |",
        f"| Reference | {markdown_escape(made.reference)} |",
    ]
    return "\n".join(rows)
