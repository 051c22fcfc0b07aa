"""Billing › Overview's **Add funds**: a card, an amount, the convenience fee and the total
shown *before* Pay Now (from the service's quote), then the charge.

It never charges twice: each attempt has one idempotency key, kept in session state and bound
to the Pay Now button when it is drawn; a click only records the charge to make (once per
key), and the run that makes it draws the button disabled. A rerun while charging, or a
second click, finds the same key, and the service returns the payment already made under it.
The key is renewed, and the amount cleared, only once an attempt has ended, so a stale click
of an ended attempt is ignored.

With Stripe the payment is made on Stripe's hosted page: the partner follows the link and
comes back to ``?payment=<id>`` (``ui.billing_views.returned_payment``).
"""

from __future__ import annotations

import uuid

import streamlit as st

from portal_core.errors import Conflict, PaymentDeclined, PortalError, ValidationFailed
from portal_core.models.payments import PaymentStatus
from portal_core.money import format_cents, format_percent
from portal_core.queries import billing
from portal_core.queries.payments import Card
from portal_core.services.payments import top_ups
from portal_core.services.sessions import SessionView
from portal_core.ui import forms, resources, state
from portal_core.ui.billing_views import CANCELLED_PARAM, PAYMENT_PARAM
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

ATTEMPT = "overview.add_funds.attempt"  # this attempt's idempotency key
CHARGING = "overview.add_funds.charging"  # (key, card id, cents, quote) of the charge to make
OUTCOME = "overview.add_funds.outcome"  # (kind, message) of the last attempt
AMOUNT = "overview.add_funds.amount"
CARD = "overview.add_funds.card"
CLEAR_AMOUNT = "overview.add_funds.clear_amount"  # empty the amount on the next run


def form(viewer: SessionView, cards: list[Card], *, fee_millipercent: int) -> None:
    """The Add funds section: a card to pay with (or the way to save one), the amount, the
    figures and Pay Now; then the charge recorded by a click, and its outcome."""
    st.session_state.setdefault(ATTEMPT, uuid.uuid4().hex)
    st.session_state.setdefault(CHARGING, None)
    st.session_state.setdefault(OUTCOME, None)
    st.subheader("Add funds", anchor=False)
    charging = st.session_state[CHARGING]
    if st.session_state.pop(CLEAR_AMOUNT, False):
        st.session_state[AMOUNT] = ""
    usable = {str(card.id): card for card in cards if not card.expired}
    if not usable:
        st.info(
            "You have no card to pay with yet"
            + (" (your saved cards have expired)" if cards else "")
            + ": add one in Payment Methods, then come back here.",
            icon=":material/credit_card_off:",
        )
        st.page_link(
            page("billing.payment_methods").script, label="Add a card", icon=":material/add_card:"
        )
        return
    choices = list(usable)
    if st.session_state.get(CARD) not in usable:
        # First visit, or the chosen card was removed: preselect the default card.
        defaults = [card_id for card_id, card in usable.items() if card.is_default]
        st.session_state[CARD] = defaults[0] if defaults else choices[0]
    with st.container(border=True):
        card_column, amount_column = st.columns(2)
        card_id = card_column.selectbox(
            "Card",
            choices,
            format_func=lambda choice: (
                f"{usable[choice].label} · expires {usable[choice].expiry}"
                + (" · default" if usable[choice].is_default else "")
            ),
            key=CARD,
            disabled=charging is not None,
        )
        with amount_column:
            amount_text = st.text_input(
                "Amount (USD)",
                key=AMOUNT,
                placeholder="100.00",
                max_chars=20,
                help=top_ups.AMOUNT_BOUNDS,
                disabled=charging is not None,
            )
            amount_errors = forms.FieldErrors()
            amount_errors.slot("amount")
        figures = _quote(viewer, amount_text, amount_errors, fee_millipercent=fee_millipercent)
        if figures is not None:
            _figures_and_pay_now(figures, card_id, charging=charging is not None)
        if charging is not None:
            with st.spinner("Charging your card…"):
                _charge(viewer, *charging)
        _said_once()


def _quote(
    viewer: SessionView, amount_text: str, errors: forms.FieldErrors, *, fee_millipercent: int
) -> top_ups.Quote | None:
    """The figures for the amount typed, quoted for this organization (Pay now charges
    exactly them), or None (what to type, or why not, said)."""
    if not amount_text.strip():
        st.caption(
            f"Enter an amount: {top_ups.AMOUNT_BOUNDS.lower()} A card "
            f"convenience fee of {format_percent(fee_millipercent)} is added."
        )
        return None
    try:
        amount_cents = top_ups.parse_amount(amount_text)
        with resources.reading() as session:
            return top_ups.quote(
                session, amount_cents, organization_id=viewer.actor.organization_id
            )
    except ValidationFailed as problem:
        errors.show(problem)
        return None


def _figures_and_pay_now(figures: top_ups.Quote, card_id: str, *, charging: bool) -> None:
    st.markdown(
        "| | USD |\n|:--|--:|\n"
        f"| Amount added to your balance "
        f"| {markdown_escape(format_cents(figures.amount_cents))} |\n"
        f"| {markdown_escape(top_ups.fee_label(figures.fee_millipercent))} "
        f"| {markdown_escape(format_cents(figures.fee_cents))} |\n"
        f"| **Total charged to your card** "
        f"| **{markdown_escape(format_cents(figures.total_cents))}** |"
    )
    st.button(
        f"Pay now {format_cents(figures.total_cents)}",
        key="overview.add_funds.pay",
        type="primary",
        icon=":material/lock:",
        disabled=charging,
        on_click=_request_charge,
        args=(st.session_state[ATTEMPT], card_id, figures.amount_cents, figures.token),
    )


def _said_once() -> None:
    """The last attempt's outcome, said once: the next interaction starts afresh."""
    outcome = st.session_state[OUTCOME]
    st.session_state[OUTCOME] = None
    if outcome is not None:
        kind, message = outcome
        if kind == "success":
            st.success(message, icon=":material/check_circle:")
        else:
            st.error(message, icon=":material/credit_card_off:")


def _request_charge(key: str, card_id: str, amount_cents: int, quote_token: str) -> None:
    """Pay Now's click: record the charge to make (with the quote shown), once per attempt. A
    click on the button of an attempt that already ended (its key was renewed) records
    nothing."""
    if st.session_state.get(CHARGING) is None and key == st.session_state.get(ATTEMPT):
        st.session_state[CHARGING] = (key, card_id, amount_cents, quote_token)
        st.session_state[OUTCOME] = None


def _end_attempt(outcome: tuple[str, str] | None, *, clear_amount: bool) -> None:
    """The attempt ended: the next Pay Now is a new payment, under a new key."""
    st.session_state[OUTCOME] = outcome
    st.session_state[ATTEMPT] = uuid.uuid4().hex
    if clear_amount:
        st.session_state[CLEAR_AMOUNT] = True


def _charge(
    viewer: SessionView, key: str, card_id: str, amount_cents: int, quote_token: str
) -> None:
    """Make the recorded charge, then rerun to show its outcome and the new funds."""
    try:
        with resources.writing() as session:
            payment = top_ups.add_funds(
                session,
                viewer.actor,
                payment_method_id=uuid.UUID(card_id),
                amount_cents=amount_cents,
                idempotency_key=key,
                quote_token=quote_token,
            )
    except PaymentDeclined as declined:
        _end_attempt(
            ("error", f"{declined.message} Nothing was added to your balance."),
            clear_amount=False,
        )
    except Conflict as conflict:
        _end_attempt(("error", conflict.message), clear_amount=False)
    except PortalError as error:
        # Nothing was charged that will not be settled: a retry keeps the same key.
        st.session_state[OUTCOME] = ("error", error.message)
    else:
        if payment.status == PaymentStatus.SUCCEEDED:
            with resources.reading() as session:
                after = billing.funds(session, viewer.actor)
            message = (
                f"{format_cents(payment.amount_cents)} added to your balance. New balance: "
                f"{format_cents(after.balance_cents)}."
            )
            state.flash(message)
            _end_attempt(
                ("success", f"{message} Reference {payment.reference}."), clear_amount=True
            )
        else:
            # Stripe: the partner pays on its page; the status shows under ?payment=<id>.
            st.query_params[PAYMENT_PARAM] = str(payment.id)
            st.query_params.pop(CANCELLED_PARAM, None)
            _end_attempt(None, clear_amount=True)
    finally:
        st.session_state[CHARGING] = None
    st.rerun()
