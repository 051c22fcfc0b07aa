"""Billing › Pricing: the plans and their prices (USD, taxes excluded), the organization's plan
and this month's requests, and changing plan: upgrades at once, downgrades at the next period
(SPEC.md, Billing model). A Free organization that used its allowance is offered the upgrade
at the top of the page."""

import streamlit as st

from portal_core.errors import InsufficientFunds, PortalError
from portal_core.models.billing import BillingCycle
from portal_core.money import format_cents
from portal_core.permissions import Capability
from portal_core.queries import pricing
from portal_core.services import subscriptions
from portal_core.services.subscriptions import ChangeKind, cycle_label, long_date
from portal_core.ui import confirm, resources, shell
from portal_core.ui.registry import page

viewer = shell.open_page("billing.pricing")
can_manage = viewer.actor.can(Capability.BILLING_MANAGE)

CHOICE = "pricing.choice"  # (plan code, cycle) of the last "Choose" clicked
CHANGE_ASKED = "pricing.change.asked"
CANCEL_ASKED = "pricing.cancel.asked"

with resources.reading() as session:
    view = pricing.pricing(session, viewer.actor)
current = view.current
current_row = next(row for row in view.plans if row.code == current.plan_code)


def choose(plan_code: str, cycle: str) -> None:
    st.session_state[CHOICE] = (plan_code, cycle)
    confirm.ask(CHANGE_ASKED)


st.title("Pricing")
st.caption(
    "Prices in USD, taxes excluded. Upgrades take effect at once: this month's invoice carries "
    "the new plan's fee instead of the old one's. Downgrades take effect at the next period "
    "(a yearly plan's at the end of its paid term)."
)

# --- The cap: a capped plan whose allowance is used is offered the upgrade right here -------
if current.at_cap:
    kind = "free" if not current_row.monthly_cents else "included"
    resets = long_date(current.period_ends_at)
    with st.container(border=True):
        if view.upgrade_to is not None:
            upgrade = view.upgrade_to
            st.warning(
                f"You've used all {current.allowance:,} {kind} lookups this month, so lookups "
                f"are refused until {resets}. Upgrade to {upgrade.name} to keep going now: "
                f"{upgrade.included} included for {upgrade.monthly_price}, then "
                f"{upgrade.additional_request} per lookup.",
                icon=":material/block:",
            )
            if can_manage:
                st.button(
                    f"Upgrade to {upgrade.name}",
                    type="primary",
                    icon=":material/upgrade:",
                    key="pricing.cap.upgrade",
                    on_click=choose,
                    args=(upgrade.code, BillingCycle.MONTHLY.value),
                )
            else:
                st.caption("Ask an owner, admin or billing member of your organization to upgrade.")
        else:
            st.warning(
                f"You've used all {current.allowance:,} lookups of your {current.plan_name} "
                f"contract this month, so lookups are refused until {resets}. Ask SIPSTACK to "
                "extend your contract to keep going.",
                icon=":material/block:",
            )

problems = st.container()

# --- Your plan -------------------------------------------------------------------------------
st.subheader(f"Your plan: {current.plan_name}, {cycle_label(current.cycle)}")
beyond = current.requests_used - current.allowance
usage = f"This month: {current.requests_used:,} of the {current.allowance:,} lookups included"
if beyond > 0 and not current.capped:
    usage += f", and {beyond:,} beyond, priced per lookup"
st.progress(current.used_share, text=usage)
limit_note = " (set by SIPSTACK)" if current.credit_limit_by_staff else ""
st.caption(f"Credit limit: {format_cents(current.credit_limit_cents)}{limit_note}.")
if current.on_contract:
    st.info(
        f"Your {current.plan_name} contract is managed by SIPSTACK: contact us to change it.",
        icon=":material/handshake:",
    )

if current.next_plan_name and current.next_cycle and current.changes_at:
    next_target = f"{current.next_plan_name}, {cycle_label(current.next_cycle)}"
    changes_on = long_date(current.changes_at)
    st.info(
        f"Scheduled: your plan changes to **{next_target}** on **{changes_on}**. Until then you "
        f"keep {current.plan_name}.",
        icon=":material/event:",
    )
    if can_manage:
        st.button(
            "Cancel this change",
            icon=":material/event_busy:",
            key="pricing.cancel",
            on_click=confirm.ask,
            args=(CANCEL_ASKED,),
        )

        def cancel_change() -> str:
            with resources.writing() as session:
                subscriptions.cancel_pending_change(session, viewer.actor)
            return f"The change is cancelled: you stay on {current.plan_name}."

        confirm.dialog(
            CANCEL_ASKED,
            title="Cancel the scheduled change?",
            message=f"You stay on {current.plan_name}, {cycle_label(current.cycle)}: nothing "
            f"changes on {changes_on}.",
            confirm_label="Keep my plan",
            action=cancel_change,
        )

# --- The plans -------------------------------------------------------------------------------
if not can_manage:
    st.caption("Ask an owner, admin or billing member of your organization to change the plan.")
columns = st.columns(len(view.plans))
for column, row in zip(columns, view.plans, strict=True):
    with column, st.container(border=True, height="stretch"):
        marked = " :green-badge[:material/check: Current]" if row.code == current.plan_code else ""
        st.subheader(f"{row.name}{marked}", anchor=False)
        st.markdown(f"**{row.monthly_price}**")
        st.caption(f"Yearly: {row.yearly_price}")
        st.markdown(
            f"- {row.included} included\n"
            f"- Beyond: {row.additional_request}\n"
            f"- Speed: {row.speed}\n"
            f"- Support: {row.support_sla}"
        )
        if row.by_contract:
            st.caption("Priced by contract: contact SIPSTACK and our team sets it up for you.")
            continue
        if not can_manage or current.on_contract:
            continue
        for cycle in row.cycles:
            if current.is_current(row.code, cycle):
                st.caption(f":material/check_circle: Your plan, {cycle_label(cycle)}")
            elif current.is_scheduled(row.code, cycle):
                st.caption(f":material/event: Scheduled, {cycle_label(cycle)}")
            else:
                st.button(
                    f"Choose {cycle.value}" if len(row.cycles) > 1 else "Choose",
                    key=f"pricing.choose.{row.code}.{cycle.value}",
                    width="stretch",
                    on_click=choose,
                    args=(row.code, cycle.value),
                )

# --- The change, confirmed with what it does ------------------------------------------------
chosen = st.session_state.get(CHOICE)
if can_manage and chosen and st.session_state.get(CHANGE_ASKED):
    plan_code, cycle = chosen[0], BillingCycle(chosen[1])
    try:
        with resources.reading() as session:
            change = subscriptions.preview_change(
                session, viewer.actor, plan_code=plan_code, cycle=cycle
            )
    except PortalError as error:
        st.session_state[CHANGE_ASKED] = False
        with problems:
            st.error(error.message, icon=":material/error:")
            if isinstance(error, InsufficientFunds):
                st.page_link(
                    page("billing.payment_methods").script,
                    label="Save a card in Payment Methods",
                    icon=":material/credit_card:",
                )
                st.page_link(
                    page("billing.overview").script,
                    label="Add funds in Overview",
                    icon=":material/account_balance_wallet:",
                )
    else:
        upgrade_now = change.kind is ChangeKind.UPGRADE

        def make_change() -> str:
            with resources.writing() as session:
                done = subscriptions.change_plan(
                    session, viewer.actor, plan_code=plan_code, cycle=cycle
                )
            if done.kind is ChangeKind.UPGRADE:
                return f"You are on {done.target} now."
            return f"Your plan changes to {done.target} on {long_date(done.starts_at)}."

        confirm.dialog(
            CHANGE_ASKED,
            title=f"Upgrade to {change.plan_name}?"
            if upgrade_now
            else f"Change to {change.plan_name} at the next period?",
            message=change.summary(),
            confirm_label="Upgrade now" if upgrade_now else "Schedule the change",
            action=make_change,
        )
