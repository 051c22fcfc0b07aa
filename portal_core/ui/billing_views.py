"""An organization's money drawn: the funds cards (Balance, Unbilled usage, Available funds,
Credit limit) that the Dashboard, Billing › Overview and Staff › Billing accounts show, and
the Overview's panels: a payment to report on (back from Stripe's page, or a link), the
account, the last payment and the auto-recharge settings
(docs/product.md, Pages › Billing › Overview).

Add funds, with its idempotent attempts, is ``ui.add_funds``.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import tzinfo

import streamlit as st

from portal_core.errors import ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.money import editable_dollars, format_cents, format_percent, parse_dollars
from portal_core.queries import payments
from portal_core.queries.billing import Funds
from portal_core.queries.payments import PAYMENT_STATUSES, AutoRechargeView
from portal_core.queries.pricing import CurrentPlan
from portal_core.services import auto_recharge, company
from portal_core.services.payments import top_ups
from portal_core.services.sessions import SessionView
from portal_core.services.subscriptions import cycle_label
from portal_core.ui import forms, list_detail, resources, state
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

PAYMENT_PARAM = "payment"  # a payment to report on: back from Stripe's page, or a link
CANCELLED_PARAM = "cancelled"  # Stripe's page was left without paying


# --- The funds cards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FundsHelp:
    """What each funds card's help says, in its reader's words (None: no help)."""

    balance: str | None
    unbilled: str | None
    available: str | None
    credit_limit: str | None


FOR_PARTNERS = FundsHelp(
    balance="Payments and credits, less invoices: the sum of your transactions.",
    unbilled="Lookups this period that are not invoiced yet.",
    available="Your balance less usage not yet invoiced: what requests draw on.",
    credit_limit="How far below zero your available funds may go before lookups are refused.",
)


def for_staff(*, credit_limit_overridden: bool) -> FundsHelp:
    return FundsHelp(
        balance=None,
        unbilled="Usage priced but not invoiced yet.",
        available="The balance less unbilled usage: what the top bar shows the partner.",
        credit_limit="Set by staff: it holds across plan changes."
        if credit_limit_overridden
        else "The plan's default.",
    )


def funds_metrics(
    funds: Funds, *, unbilled: bool = True, explained: FundsHelp = FOR_PARTNERS
) -> None:
    """One row of cards: Balance, Unbilled usage (when ``unbilled``), Available funds and
    Credit limit."""
    cards: list[tuple[str, int, str | None]] = [("Balance", funds.balance_cents, explained.balance)]
    if unbilled:
        cards.append(("Unbilled usage", funds.unbilled_cents, explained.unbilled))
    cards.append(("Available funds", funds.available_cents, explained.available))
    cards.append(("Credit limit", funds.credit_limit_cents, explained.credit_limit))
    for column, (label, cents, help_text) in zip(st.columns(len(cards)), cards, strict=True):
        column.metric(label, format_cents(cents), help=help_text, border=True)


def overview_funds(funds: Funds, plan: CurrentPlan) -> None:
    """The Overview's cards, with the credit limit the subscription holds (staff's, else the
    plan's), and what is owing."""
    funds_metrics(dataclasses.replace(funds, credit_limit_cents=plan.credit_limit_cents))
    if funds.balance_cents < 0:
        st.warning(
            f"Balance owing: {format_cents(-funds.balance_cents)}. Add funds to pay it.",
            icon=":material/warning:",
        )


# --- A payment to report on ---------------------------------------------------------------------


def returned_payment(viewer: SessionView, raw: str, *, can_manage: bool) -> None:
    """The status of the payment ``?payment=`` names: back from Stripe's page (pending until
    its webhook confirms it), or followed from a link."""

    def read(payment_id: uuid.UUID) -> Payment:
        with resources.reading() as session:
            return payments.payment(session, viewer.actor, payment_id)

    returned = list_detail.read_opened(raw, read, noun="payment")
    if returned is None:
        return
    with st.container(border=True):
        status = PaymentStatus(returned.status)
        _returned_status(returned, status)
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            if status is PaymentStatus.PENDING:
                if returned.checkout_url and can_manage:
                    st.link_button(
                        "Continue to secure payment",
                        returned.checkout_url,
                        icon=":material/lock:",
                        type="primary",
                    )
                st.button("Check again", key="overview.payment.refresh", icon=":material/refresh:")
            _open_in_payments(returned)
            st.button(
                "Dismiss",
                key="overview.payment.dismiss",
                icon=":material/close:",
                on_click=_forget_returned_payment,
            )


def _returned_status(returned: Payment, status: PaymentStatus) -> None:
    what = f"Payment {returned.reference} of {format_cents(returned.amount_cents)}"
    if status is PaymentStatus.SUCCEEDED:
        st.success(
            f"{what} went through: it was added to your balance.",
            icon=":material/check_circle:",
        )
    elif status is PaymentStatus.FAILED:
        st.error(
            f"{what} did not go through: {returned.failure_message or 'declined.'} "
            "Nothing was added to your balance.",
            icon=":material/credit_card_off:",
        )
    elif status is PaymentStatus.REQUIRES_ACTION:
        st.warning(
            f"{what} needs the card's bank to confirm it: "
            f"{returned.failure_message or ''} Nothing was added to your balance.",
            icon=":material/lock:",
        )
    elif st.query_params.get(CANCELLED_PARAM):
        st.info(
            f"{what}: you left the secure payment page without paying, so nothing was "
            "charged. Continue to pay it, or start again below.",
            icon=":material/info:",
        )
    else:
        st.info(
            f"{what} is pending: waiting for the card payment service to confirm it. "
            "Your balance is credited as soon as it does.",
            icon=":material/schedule:",
        )


def _open_in_payments(payment: Payment) -> None:
    payments_page = page("billing.payments")
    st.page_link(
        payments_page.script,
        label="Open in Payments",
        icon=payments_page.icon,
        query_params={PAYMENT_PARAM: str(payment.id)},
    )


def _forget_returned_payment() -> None:
    st.query_params.pop(PAYMENT_PARAM, None)
    st.query_params.pop(CANCELLED_PARAM, None)


# --- The account and the last payment -----------------------------------------------------------


def account_and_last_payment(
    organization: Organization, plan: CurrentPlan, last: Payment | None, *, time_zone: tzinfo
) -> None:
    """Two cards side by side: the account, and the last payment."""
    account_column, latest_column = st.columns(2)
    with account_column, st.container(border=True, height="stretch"):
        _account(organization, plan)
    with latest_column, st.container(border=True, height="stretch"):
        _last_payment(last, time_zone=time_zone)


def _account(organization: Organization, plan: CurrentPlan) -> None:
    """Who is billed, where its taxes come from, its plan and this month's lookups."""
    st.subheader("Account", anchor=False)
    countries = dict(company.countries())
    provinces = dict(company.provinces(organization.country or ""))
    place = ", ".join(
        part
        for part in (
            provinces.get(organization.province or "", organization.province or ""),
            countries.get(organization.country or "", organization.country or ""),
        )
        if part
    )
    st.markdown(
        f"**{markdown_escape(organization.legal_name or organization.name)}**  \n"
        f"Taxes by: {markdown_escape(place or 'not set')}"
    )
    st.markdown(f"Plan: **{markdown_escape(plan.plan_name)}**, {cycle_label(plan.cycle)}")
    used = f"This month: {plan.requests_used:,} of the {plan.allowance:,} lookups included"
    beyond = plan.requests_used - plan.allowance
    if beyond > 0 and not plan.capped:
        used += f", and {beyond:,} beyond"
    st.progress(plan.used_share, text=used)
    pricing_page = page("billing.pricing")
    st.page_link(pricing_page.script, label="Plans and pricing", icon=pricing_page.icon)


def _last_payment(last: Payment | None, *, time_zone: tzinfo) -> None:
    st.subheader("Last payment", anchor=False)
    if last is None:
        st.caption("No payments yet: funds you add by card appear here.")
    else:
        paid_on = last.created_at.astimezone(time_zone)
        st.markdown(
            f"**{markdown_escape(format_cents(last.amount_cents))}** on {paid_on:%Y-%m-%d}  \n"
            f"{markdown_escape(PAYMENT_STATUSES.get(last.status, last.status))} · "
            f"{markdown_escape(last.card_label or 'Card')} · "
            f"Reference {markdown_escape(last.reference)}"
        )
        _open_in_payments(last)
    transactions_page = page("billing.transactions")
    st.page_link(transactions_page.script, label="All transactions", icon=transactions_page.icon)


# --- Auto-recharge -----------------------------------------------------------------------------


def auto_recharge_settings(
    viewer: SessionView, recharge: AutoRechargeView, *, fee_millipercent: int, can_manage: bool
) -> None:
    """What auto-recharge does and with which card; its form for those who manage billing."""
    st.subheader("Auto-recharge", anchor=False)
    rate = format_percent(fee_millipercent)
    st.caption(
        "When your available funds drop under the threshold, your default card is charged the "
        f"amount plus the card convenience fee ({rate}), at most {recharge.max_per_day:,} "
        f"time{'s' if recharge.max_per_day != 1 else ''} a day. A failed recharge is not "
        "retried until the settings or the default card change, and you get a notice."
    )
    _recharge_card(recharge)
    if not can_manage:
        state_line = "on" if recharge.enabled else "off"
        st.markdown(
            f"Auto-recharge is **{state_line}**: {format_cents(recharge.amount_cents)} when "
            f"available funds fall below {format_cents(recharge.threshold_cents)}."
        )
    else:
        _recharge_form(viewer, recharge)


def _recharge_card(recharge: AutoRechargeView) -> None:
    methods_page = page("billing.payment_methods")
    default_card = recharge.default_card
    if default_card is None:
        st.info(
            "Auto-recharge charges your default card, and you have none yet.",
            icon=":material/info:",
        )
        st.page_link(methods_page.script, label="Add a card", icon=":material/add_card:")
    elif default_card.expired:
        st.warning(
            f"Your default card, {markdown_escape(default_card.label)}, expired "
            f"({default_card.expiry}): make "
            "another card the default.",
            icon=":material/event_busy:",
        )
        st.page_link(methods_page.script, label="Payment Methods", icon=methods_page.icon)
    else:
        st.markdown(
            f"Charges **{markdown_escape(default_card.label)}** (your default card, expires "
            f"{default_card.expiry})."
        )


def _recharge_form(viewer: SessionView, recharge: AutoRechargeView) -> None:
    with st.form("overview.auto_recharge"):
        errors = forms.FieldErrors()
        errors.general()
        enabled = st.toggle("Recharge automatically", value=recharge.enabled)
        errors.slot("enabled")
        threshold_column, amount_column = st.columns(2)
        with threshold_column:
            threshold_text = st.text_input(
                "When available funds fall below (USD)",
                value=editable_dollars(recharge.threshold_cents),
                max_chars=20,
                help=auto_recharge.THRESHOLD_BOUNDS,
            )
            errors.slot("threshold")
        with amount_column:
            amount_text = st.text_input(
                "Add this amount (USD)",
                value=editable_dollars(recharge.amount_cents),
                max_chars=20,
                help=top_ups.AMOUNT_BOUNDS,
            )
            errors.slot("amount")
        saved = st.form_submit_button("Save auto-recharge", type="primary")
    if not saved:
        return

    def save() -> None:
        threshold_cents, threshold_problem = _money_field(
            threshold_text, "threshold", auto_recharge.THRESHOLD_BOUNDS
        )
        amount_cents, amount_problem = _money_field(amount_text, "amount", top_ups.AMOUNT_BOUNDS)
        if threshold_cents is None or amount_cents is None:
            raise ValidationFailed({**threshold_problem, **amount_problem})
        with resources.writing() as session:
            auto_recharge.save_settings(
                session,
                viewer.actor,
                enabled=enabled,
                threshold_cents=threshold_cents,
                amount_cents=amount_cents,
            )

    if forms.attempt(errors, save):
        state.flash("Auto-recharge is on." if enabled else "Auto-recharge is off; settings saved.")
        st.rerun()


def _money_field(text: str, field: str, bounds: str) -> tuple[int | None, dict[str, str]]:
    try:
        return parse_dollars(text), {}
    except ValueError as problem:
        return None, {field: f"{problem} {bounds}"}
