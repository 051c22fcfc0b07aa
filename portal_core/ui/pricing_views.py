"""Billing › Pricing drawn: the upgrade offered when a capped allowance is used up, the
organization's plan and this month's requests, a scheduled change (and cancelling it), the
plans' cards with their Choose buttons, and the confirmation of a change that says what it
does (docs/product.md, Billing model: upgrades at once, downgrades at the next period).

"Choose" records the plan and cycle chosen and asks for the confirmation; the next run
previews the change with ``subscriptions.preview_change`` and shows its summary in a dialog.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from portal_core.errors import InsufficientFunds, PortalError
from portal_core.models.billing import BillingCycle
from portal_core.money import format_cents
from portal_core.queries.pricing import CurrentPlan, PlanRow, Pricing
from portal_core.services import subscriptions
from portal_core.services.sessions import SessionView
from portal_core.services.subscriptions import ChangeKind, cycle_label, long_date
from portal_core.ui import confirm, resources
from portal_core.ui.registry import page

CHOICE = "pricing.choice"  # (plan code, cycle) of the last "Choose" clicked
CHANGE_ASKED = "pricing.change.asked"
CANCEL_ASKED = "pricing.cancel.asked"


def _choose(plan_code: str, cycle: str) -> None:
    st.session_state[CHOICE] = (plan_code, cycle)
    confirm.ask(CHANGE_ASKED)


def allowance_used_up(view: Pricing, *, can_manage: bool) -> None:
    """A capped plan whose allowance is used is offered the upgrade right here; a contract
    whose allowance is used is pointed to SIPSTACK."""
    current = view.current
    if not current.at_cap:
        return
    current_row = next(row for row in view.plans if row.code == current.plan_code)
    kind = "free" if not current_row.monthly_cents else "included"
    resets = long_date(current.period_ends_at)
    with st.container(border=True):
        if view.upgrade_to is None:
            st.warning(
                f"You've used all {current.allowance:,} lookups of your {current.plan_name} "
                f"contract this month, so lookups are refused until {resets}. Ask SIPSTACK to "
                "extend your contract to keep going.",
                icon=":material/block:",
            )
            return
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
                on_click=_choose,
                args=(upgrade.code, BillingCycle.MONTHLY.value),
            )
        else:
            st.caption("Ask an owner, admin or billing member of your organization to upgrade.")


def your_plan(viewer: SessionView, current: CurrentPlan, *, can_manage: bool) -> None:
    """The plan, this month's lookups, the credit limit, and a change scheduled for later."""
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
    _scheduled_change(viewer, current, can_manage=can_manage)


def _scheduled_change(viewer: SessionView, current: CurrentPlan, *, can_manage: bool) -> None:
    if not (current.next_plan_name and current.next_cycle and current.changes_at):
        return
    next_target = f"{current.next_plan_name}, {cycle_label(current.next_cycle)}"
    changes_on = long_date(current.changes_at)
    st.info(
        f"Scheduled: your plan changes to **{next_target}** on **{changes_on}**. Until then you "
        f"keep {current.plan_name}.",
        icon=":material/event:",
    )
    if not can_manage:
        return
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


def plan_cards(view: Pricing, *, can_manage: bool) -> None:
    """One card a plan, side by side: its prices, allowance, speed and support, and a Choose
    button for each cycle the organization may move to."""
    if not can_manage:
        st.caption("Ask an owner, admin or billing member of your organization to change the plan.")
    columns = st.columns(len(view.plans))
    for column, row in zip(columns, view.plans, strict=True):
        with column, st.container(border=True, height="stretch"):
            _plan_card(row, view.current, can_manage=can_manage)


def _plan_card(row: PlanRow, current: CurrentPlan, *, can_manage: bool) -> None:
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
        return
    if not can_manage or current.on_contract:
        return
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
                on_click=_choose,
                args=(row.code, cycle.value),
            )


def confirm_change(viewer: SessionView, problems: DeltaGenerator, *, can_manage: bool) -> None:
    """The chosen change, previewed and confirmed with what it does; or why it cannot be
    made yet, said in ``problems`` (near the top of the page), with the ways to pay for it."""
    chosen = st.session_state.get(CHOICE)
    if not (can_manage and chosen and st.session_state.get(CHANGE_ASKED)):
        return
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
        return
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
