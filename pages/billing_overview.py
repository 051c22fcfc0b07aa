"""Billing › Overview: the account (legal name, where its taxes come from, plan), its money
(balance, unbilled usage, available funds, credit limit), this month's requests, the last
payment, **Add funds** and the auto-recharge settings (SPEC.md, Billing › Overview; issue 3).

Add funds shows the amount, the convenience fee and the total *before* Pay Now, from the
service's quote. It never charges twice: each attempt has one idempotency key, kept in
session state and bound to the Pay Now button when it is drawn; a click only records the
charge to make (once per key), and the run that makes it draws the button disabled. A rerun
while charging, or a second click, finds the same key, and the service returns the payment
already made under it. The key is renewed, and the amount cleared, only once an attempt has
ended, so a stale click of an ended attempt is ignored.

With Stripe the payment is made on Stripe's hosted page: the partner follows the link and
comes back to ``?payment=<id>``, where the payment's status shows (pending until Stripe's
webhook confirms it, then succeeded).
"""

import uuid

import streamlit as st

from portal_core.errors import Conflict, NotFound, PaymentDeclined, PortalError, ValidationFailed
from portal_core.models.payments import PaymentStatus
from portal_core.money import format_cents, parse_dollars
from portal_core.permissions import Capability
from portal_core.queries import billing, payments, pricing
from portal_core.queries.payments import PAYMENT_STATUSES
from portal_core.services import accounts, auto_recharge, platform
from portal_core.services import payments as card_payments
from portal_core.services.subscriptions import cycle_label
from portal_core.ui import forms, resources, shell, state
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

viewer = shell.open_page("billing.overview")
can_manage = viewer.actor.can(Capability.BILLING_MANAGE)

PAYMENT_PARAM = "payment"  # a payment to report on: back from Stripe's page, or a link
CANCELLED_PARAM = "cancelled"  # Stripe's page was left without paying
ATTEMPT = "overview.add_funds.attempt"  # this attempt's idempotency key
CHARGING = "overview.add_funds.charging"  # (key, card id, cents) of the charge to make
OUTCOME = "overview.add_funds.outcome"  # (kind, message) of the last attempt
AMOUNT = "overview.add_funds.amount"
CARD = "overview.add_funds.card"
CLEAR_AMOUNT = "overview.add_funds.clear_amount"  # empty the amount on the next run

st.session_state.setdefault(ATTEMPT, uuid.uuid4().hex)
st.session_state.setdefault(CHARGING, None)
st.session_state.setdefault(OUTCOME, None)

with resources.reading() as session:
    organization = accounts.organization_of(session, viewer.actor)
    funds = billing.funds(session, viewer.actor)
    plan = pricing.current_plan(session, viewer.actor)
    last = payments.last_payment(session, viewer.actor)
    cards = payments.payment_methods(session, viewer.actor)
    recharge = payments.auto_recharge_settings(session, viewer.actor)
    fee_millipercent = platform.card_fee_millipercent(session)
    time_zone = platform.billing_time_zone(session)

payments_page = page("billing.payments")
methods_page = page("billing.payment_methods")


# --- Actions -----------------------------------------------------------------------------------


def request_charge(key: str, card_id: str, amount_cents: int) -> None:
    """Pay Now's click: record the charge to make, once per attempt. A click on the button of
    an attempt that already ended (its key was renewed) records nothing."""
    if st.session_state.get(CHARGING) is None and key == st.session_state.get(ATTEMPT):
        st.session_state[CHARGING] = (key, card_id, amount_cents)
        st.session_state[OUTCOME] = None


def end_attempt(outcome: tuple[str, str] | None, *, clear_amount: bool) -> None:
    """The attempt ended: the next Pay Now is a new payment, under a new key."""
    st.session_state[OUTCOME] = outcome
    st.session_state[ATTEMPT] = uuid.uuid4().hex
    if clear_amount:
        st.session_state[CLEAR_AMOUNT] = True


def charge(key: str, card_id: str, amount_cents: int) -> None:
    """Make the recorded charge, then rerun to show its outcome and the new funds."""
    try:
        with resources.writing() as session:
            payment = card_payments.add_funds(
                session,
                viewer.actor,
                payment_method_id=uuid.UUID(card_id),
                amount_cents=amount_cents,
                idempotency_key=key,
            )
    except PaymentDeclined as declined:
        end_attempt(
            ("error", f"{declined.message} Nothing was added to your balance."),
            clear_amount=False,
        )
    except Conflict as conflict:
        end_attempt(("error", conflict.message), clear_amount=False)
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
            end_attempt(("success", f"{message} Reference {payment.reference}."), clear_amount=True)
        else:
            # Stripe: the partner pays on its page; the status shows under ?payment=<id>.
            st.query_params[PAYMENT_PARAM] = str(payment.id)
            st.query_params.pop(CANCELLED_PARAM, None)
            end_attempt(None, clear_amount=True)
    finally:
        st.session_state[CHARGING] = None
    st.rerun()


def forget_returned_payment() -> None:
    st.query_params.pop(PAYMENT_PARAM, None)
    st.query_params.pop(CANCELLED_PARAM, None)


def money_field(text: str, field: str, bounds: str) -> tuple[int | None, dict[str, str]]:
    try:
        return parse_dollars(text), {}
    except ValueError as problem:
        return None, {field: f"{problem} {bounds}"}


# --- The page ----------------------------------------------------------------------------------

st.title("Overview")

# --- A payment to report on (back from Stripe's page, or a link) ----------------------------
raw_payment = st.query_params.get(PAYMENT_PARAM)
if raw_payment:
    try:
        with resources.reading() as session:
            returned = payments.payment(session, viewer.actor, uuid.UUID(raw_payment))
    except (ValueError, NotFound):
        st.warning(
            "That payment was not found. It may belong to another organization, or the link "
            "may be incomplete.",
            icon=":material/search_off:",
        )
    else:
        with st.container(border=True):
            status = PaymentStatus(returned.status)
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
            with st.container(horizontal=True, gap="small", vertical_alignment="center"):
                if status is PaymentStatus.PENDING:
                    if returned.checkout_url and can_manage:
                        st.link_button(
                            "Continue to secure payment",
                            returned.checkout_url,
                            icon=":material/lock:",
                            type="primary",
                        )
                    st.button(
                        "Check again", key="overview.payment.refresh", icon=":material/refresh:"
                    )
                st.page_link(
                    payments_page.script,
                    label="Open in Payments",
                    icon=payments_page.icon,
                    query_params={PAYMENT_PARAM: str(returned.id)},
                )
                st.button(
                    "Dismiss",
                    key="overview.payment.dismiss",
                    icon=":material/close:",
                    on_click=forget_returned_payment,
                )

# --- The money --------------------------------------------------------------------------------
balance, unbilled, available, limit = st.columns(4)
balance.metric(
    "Balance",
    format_cents(funds.balance_cents),
    help="Payments and credits, less invoices: the sum of your transactions.",
    border=True,
)
unbilled.metric(
    "Unbilled usage",
    format_cents(funds.unbilled_cents),
    help="Lookups this period that are not invoiced yet.",
    border=True,
)
available.metric(
    "Available funds",
    format_cents(funds.available_cents),
    help="Your balance less unbilled usage.",
    border=True,
)
limit.metric(
    "Credit limit",
    format_cents(plan.credit_limit_cents),
    help="How far below zero your available funds may go before lookups are refused.",
    border=True,
)
if funds.balance_cents < 0:
    st.warning(
        f"Balance owing: {format_cents(-funds.balance_cents)}. Add funds to pay it.",
        icon=":material/warning:",
    )

# --- The account and the last payment ------------------------------------------------------
account, latest = st.columns(2)
with account, st.container(border=True, height="stretch"):
    st.subheader("Account", anchor=False)
    countries = dict(accounts.countries())
    provinces = dict(accounts.provinces(organization.country or ""))
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

with latest, st.container(border=True, height="stretch"):
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
        st.page_link(
            payments_page.script,
            label="Open in Payments",
            icon=payments_page.icon,
            query_params={PAYMENT_PARAM: str(last.id)},
        )
    transactions_page = page("billing.transactions")
    st.page_link(transactions_page.script, label="All transactions", icon=transactions_page.icon)

# --- Add funds --------------------------------------------------------------------------------
if can_manage:
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
        st.page_link(methods_page.script, label="Add a card", icon=":material/add_card:")
    else:
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
                    help=card_payments.AMOUNT_BOUNDS,
                    disabled=charging is not None,
                )
                amount_errors = forms.FieldErrors()
                amount_errors.slot("amount")
            figures: card_payments.Quote | None = None
            if amount_text.strip():
                try:
                    amount_cents = card_payments.parse_amount(amount_text)
                    with resources.reading() as session:
                        figures = card_payments.quote(session, amount_cents)
                except ValidationFailed as problem:
                    amount_errors.show(problem)
            else:
                st.caption(
                    f"Enter an amount: {card_payments.AMOUNT_BOUNDS.lower()} A card "
                    f"convenience fee of {card_payments.percent(fee_millipercent)} is added."
                )
            if figures is not None:
                st.markdown(
                    "| | USD |\n|:--|--:|\n"
                    f"| Amount added to your balance "
                    f"| {markdown_escape(format_cents(figures.amount_cents))} |\n"
                    f"| {markdown_escape(card_payments.fee_label(figures.fee_millipercent))} "
                    f"| {markdown_escape(format_cents(figures.fee_cents))} |\n"
                    f"| **Total charged to your card** "
                    f"| **{markdown_escape(format_cents(figures.total_cents))}** |"
                )
                st.button(
                    f"Pay now {format_cents(figures.total_cents)}",
                    key="overview.add_funds.pay",
                    type="primary",
                    icon=":material/lock:",
                    disabled=charging is not None,
                    on_click=request_charge,
                    args=(st.session_state[ATTEMPT], card_id, figures.amount_cents),
                )
            if charging is not None:
                with st.spinner("Charging your card…"):
                    charge(*charging)
            outcome = st.session_state[OUTCOME]
            st.session_state[OUTCOME] = None  # said once: the next interaction starts afresh
            if outcome is not None:
                kind, message = outcome
                if kind == "success":
                    st.success(message, icon=":material/check_circle:")
                else:
                    st.error(message, icon=":material/credit_card_off:")

# --- Auto-recharge ----------------------------------------------------------------------------
st.subheader("Auto-recharge", anchor=False)
rate = card_payments.percent(fee_millipercent)
st.caption(
    "When your available funds drop under the threshold, your default card is charged the "
    f"amount plus the card convenience fee ({rate}), at most {recharge.max_per_day:,} "
    f"time{'s' if recharge.max_per_day != 1 else ''} a day. A failed recharge is not retried "
    "until the settings or the default card change, and you get a notice."
)
default_card = recharge.default_card
if default_card is None:
    st.info(
        "Auto-recharge charges your default card, and you have none yet.", icon=":material/info:"
    )
    st.page_link(methods_page.script, label="Add a card", icon=":material/add_card:")
elif default_card.expired:
    st.warning(
        f"Your default card, {default_card.label}, expired ({default_card.expiry}): make "
        "another card the default.",
        icon=":material/event_busy:",
    )
    st.page_link(methods_page.script, label="Payment Methods", icon=methods_page.icon)
else:
    st.markdown(
        f"Charges **{markdown_escape(default_card.label)}** (your default card, expires "
        f"{default_card.expiry})."
    )

if not can_manage:
    state_line = "on" if recharge.enabled else "off"
    st.markdown(
        f"Auto-recharge is **{state_line}**: {format_cents(recharge.amount_cents)} when "
        f"available funds fall below {format_cents(recharge.threshold_cents)}."
    )
else:
    with st.form("overview.auto_recharge"):
        recharge_errors = forms.FieldErrors()
        recharge_errors.general()
        enabled = st.toggle("Recharge automatically", value=recharge.enabled)
        recharge_errors.slot("enabled")
        threshold_column, amount_column = st.columns(2)
        with threshold_column:
            threshold_text = st.text_input(
                "When available funds fall below (USD)",
                value=format_cents(recharge.threshold_cents).removeprefix("$"),
                max_chars=20,
                help=auto_recharge.THRESHOLD_BOUNDS,
            )
            recharge_errors.slot("threshold")
        with amount_column:
            recharge_text = st.text_input(
                "Add this amount (USD)",
                value=format_cents(recharge.amount_cents).removeprefix("$"),
                max_chars=20,
                help=card_payments.AMOUNT_BOUNDS,
            )
            recharge_errors.slot("amount")
        saved = st.form_submit_button("Save auto-recharge", type="primary")
    if saved:

        def save_recharge() -> None:
            threshold_cents, threshold_problem = money_field(
                threshold_text, "threshold", auto_recharge.THRESHOLD_BOUNDS
            )
            amount_cents, amount_problem = money_field(
                recharge_text, "amount", card_payments.AMOUNT_BOUNDS
            )
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

        if forms.attempt(recharge_errors, save_recharge):
            state.flash(
                "Auto-recharge is on." if enabled else "Auto-recharge is off; settings saved."
            )
            st.rerun()
