"""Billing › Payment Methods drawn: the title with the green + (the sandbox's test-card picker,
or Stripe's hosted setup page), the return from Stripe's page, the table of saved cards, the
selected card with its actions (make it the default, remove it), and the dialogs that add and
remove a card (docs/product.md, Pages › Billing › Payment Methods; docs/architecture.md, rule 6).

The selected card is kept in session state, not in a query parameter: the table keeps a
selected row by its position, so a selection whose card moved (another member added or removed
one) is cleared rather than acted on.
"""

from __future__ import annotations

import uuid
from datetime import datetime, tzinfo

import streamlit as st

from portal_core.errors import NotFound, PortalError
from portal_core.payments.gateway import card_label
from portal_core.queries import payments
from portal_core.queries.payments import AutoRechargeView, Card
from portal_core.services.payments import cards
from portal_core.services.sessions import SessionView
from portal_core.ui import confirm, resources, state, table
from portal_core.ui.registry import page
from portal_core.ui.text import markdown_escape

SETUP_PARAM = "card_setup"  # Stripe's page sends the partner back with done / cancelled
ADD_ASKED = "payment_methods.add.asked"  # the sandbox's test-card picker is open
REMOVE_ASKED = "payment_methods.remove.asked"  # the id of the card whose removal is asked
SETUP_URL = "payment_methods.setup_url"  # Stripe's setup page, once asked for
PROBLEM = "payment_methods.problem"  # a refusal from a button's action, shown on the rerun
TABLE_KEY = "payment_methods.cards"
SELECTED = "payment_methods.selected"  # the id of the card last clicked in the table


# --- Title and the green + -------------------------------------------------------------------


def heading(viewer: SessionView, *, can_manage: bool, sandbox: bool) -> None:
    """The title with the green + (for those who manage billing), what the page is for, and
    the refusal of the last button's action, if any."""
    title, plus = st.columns([4, 1], vertical_alignment="bottom")
    title.title("Payment Methods")
    if can_manage:
        with plus:
            if sandbox:
                st.button(
                    "Add card",
                    type="primary",
                    icon=":material/add:",
                    key="payment_methods.add",
                    on_click=confirm.ask,
                    args=(ADD_ASKED,),
                    width="stretch",
                )
            else:
                st.button(
                    "Add card",
                    type="primary",
                    icon=":material/add:",
                    key="payment_methods.add",
                    on_click=_start_stripe_setup,
                    args=(viewer,),
                    width="stretch",
                )
    st.caption(
        "Cards you add funds with; the default card is the one auto-recharge charges. "
        + ("Select a card to make it the default or to remove it. " if can_manage else "")
        + "Card numbers never reach SIPSTACK's servers: "
        + (
            "this test environment offers Stripe's test cards by name."
            if sandbox
            else "you enter them on Stripe's secure page."
        )
    )
    problems = st.container()
    problem = st.session_state.pop(PROBLEM, None)
    if problem:
        problems.error(problem, icon=":material/error:")


def _start_stripe_setup(viewer: SessionView) -> None:
    """Ask Stripe for its hosted setup page; the page then offers the link to it."""
    try:
        with resources.writing() as session:
            setup = cards.start_adding_card(session, viewer.actor)
    except PortalError as error:
        st.session_state[SETUP_URL] = None
        st.session_state[PROBLEM] = error.message
        return
    st.session_state[SETUP_URL] = setup.checkout_url


# --- Back from Stripe's page, or on the way there -------------------------------------------


def stripe_setup(*, can_manage: bool, sandbox: bool) -> None:
    """What Stripe's page said on the way back (``?card_setup=``), or the link to it once
    the + asked for it."""
    returned = st.query_params.get(SETUP_PARAM)
    if returned:
        st.session_state[SETUP_URL] = None  # that page was used (or left): a new + asks anew
        if returned == "done":
            st.info(
                "Stripe is confirming your card: it appears below in a moment. Reload the page "
                "if it has not yet.",
                icon=":material/hourglass_top:",
            )
        else:
            st.info("Card entry was cancelled: nothing was saved.", icon=":material/info:")
        st.button("Dismiss", key="payment_methods.setup_dismiss", on_click=_forget_setup_return)
    setup_url = st.session_state.get(SETUP_URL)
    if can_manage and not sandbox and setup_url:
        with st.container(border=True):
            st.write("Enter the card on Stripe's secure page; you come back here when it is saved.")
            st.link_button(
                "Continue to secure card entry",
                setup_url,
                icon=":material/lock:",
                type="primary",
            )


def _forget_setup_return() -> None:
    st.query_params.pop(SETUP_PARAM, None)


# --- The cards -------------------------------------------------------------------------------


def selected_card(viewer: SessionView, *, time_zone: tzinfo) -> Card | None:
    """The table of the organization's cards; the card selected in it, if it is still ours."""
    selected_id = table.data_table(
        payments.payment_methods_listing(viewer.actor, today=datetime.now(time_zone).date()),
        key=TABLE_KEY,
        on_select=_card_selected,
        time_zone=time_zone,
    )
    if selected_id is not None and selected_id != st.session_state.get(SELECTED):
        # The table keeps a selected row by its position: a card added or removed since (by
        # another member, in another tab) moved another card under it. Select nothing rather
        # than offer to remove a card that was not clicked.
        table.clear_selection(TABLE_KEY)
        st.rerun()
    return _own_card(viewer, selected_id) if selected_id is not None else None


def _card_selected(card_id: object | None) -> None:
    st.session_state[SELECTED] = card_id


def _own_card(viewer: SessionView, card_id: object) -> Card | None:
    """The organization's card of that id, or None: removed meanwhile (by another member,
    in another tab) or never ours."""
    try:
        with resources.reading() as session:
            return payments.payment_method(session, viewer.actor, uuid.UUID(str(card_id)))
    except (ValueError, NotFound):
        return None


def card_actions(
    viewer: SessionView, card: Card, *, recharge: AutoRechargeView, can_manage: bool
) -> None:
    """The selected card: what it is, its flags, and what can be done with it."""
    with st.container(border=True):
        flags = []
        if card.is_default:
            flags.append(":green-badge[:material/check: Default]")
        if card.expired:
            flags.append(":red-badge[:material/event_busy: Expired]")
        st.markdown(f"**{markdown_escape(card.label)}** {' '.join(flags)}")
        notes = [f"Expired {card.expiry}" if card.expired else f"Expires {card.expiry}"]
        if card.is_default and recharge.enabled:
            notes.append("auto-recharge charges this card")
        if card.expired:
            notes.append(
                "an expired card cannot be charged: make another card the default"
                if card.is_default
                else "an expired card cannot be charged or made the default"
            )
        st.caption(" · ".join(notes))
        if not can_manage:
            return
        with st.container(horizontal=True, gap="small"):
            if not card.is_default and not card.expired:
                st.button(
                    "Make default",
                    key=f"payment_methods.default.{card.id}",
                    icon=":material/star:",
                    on_click=_make_default,
                    args=(viewer, str(card.id)),
                )
            st.button(
                "Remove",
                key=f"payment_methods.remove.{card.id}",
                icon=":material/delete:",
                on_click=confirm.ask,
                args=(REMOVE_ASKED, str(card.id)),
            )


def _make_default(viewer: SessionView, card_id: str) -> None:
    try:
        with resources.writing() as session:
            made = cards.set_default_card(session, viewer.actor, uuid.UUID(card_id))
    except PortalError as error:
        st.session_state[PROBLEM] = error.message
        return
    # The rows may move (sorted by last update): a kept selection could point at another card.
    table.clear_selection(TABLE_KEY)
    state.flash(f"{markdown_escape(card_label(made.brand, made.last4))} is now your default card.")


def auto_recharge_note() -> None:
    """Why the default card cannot be removed while auto-recharge is on, and where to turn
    it off."""
    overview = page("billing.overview")
    st.caption(
        "Auto-recharge is on: the default card cannot be removed until another card is the "
        "default or auto-recharge is off."
    )
    st.page_link(overview.script, label="Auto-recharge settings", icon=overview.icon)


# --- The dialogs -----------------------------------------------------------------------------


def add_test_card_dialog(viewer: SessionView) -> None:
    """While the + is asked (sandbox only), the picker of Stripe's test cards."""
    if not confirm.asked(ADD_ASKED):
        return
    test_cards = {card.gateway_ref: card for card in payments.sandbox_test_cards()}

    @st.dialog("Add a test card", on_dismiss=lambda: confirm.ask(ADD_ASKED, False))
    def pick_test_card() -> None:
        st.write(
            "This environment charges no real card. Pick one of Stripe's test cards: each "
            "behaves the way Stripe's does in test mode."
        )
        chosen = st.radio(
            "Test card",
            list(test_cards),
            format_func=lambda ref: (
                f"{test_cards[ref].name} · {test_cards[ref].number} — {test_cards[ref].outcome}"
            ),
            key="payment_methods.add.test_card",
        )
        save, cancel = st.columns(2)
        if save.button("Save card", type="primary", key="payment_methods.add.save"):
            try:
                message = _add_sandbox_card(viewer, chosen)
            except PortalError as error:
                st.error(error.message, icon=":material/error:")
                return
            confirm.ask(ADD_ASKED, False)
            state.flash(message)
            st.rerun()
        if cancel.button("Cancel", key="payment_methods.add.cancel"):
            confirm.ask(ADD_ASKED, False)
            st.rerun()

    pick_test_card()


def _add_sandbox_card(viewer: SessionView, gateway_ref: str) -> str:
    with resources.writing() as session:
        setup = cards.start_adding_card(session, viewer.actor, test_card=gateway_ref)
    saved = setup.card
    if saved is None:  # only Stripe answers with a page; the sandbox saves at once
        return "The card is being confirmed: it appears here in a moment."
    label = markdown_escape(card_label(saved.brand, saved.last4))
    default = " It is your default card." if saved.is_default else ""
    return f"{label} is saved.{default}"


def remove_card_dialog(viewer: SessionView) -> None:
    """While a card's removal is asked, its confirmation; a card gone meanwhile closes it."""
    asked_removal = confirm.asked(REMOVE_ASKED)
    if not asked_removal:
        return
    to_remove = _own_card(viewer, asked_removal)
    if to_remove is None:
        confirm.ask(REMOVE_ASKED, False)
        return

    def remove() -> str:
        with resources.writing() as session:
            default = cards.remove_card(session, viewer.actor, to_remove.id)
        table.clear_selection(TABLE_KEY)  # its row is gone: another card would take it
        message = f"{markdown_escape(to_remove.label)} is removed."
        if default is not None:
            label = markdown_escape(card_label(default.brand, default.last4))
            message += f" {label} is now your default card."
        return message

    warning = (
        " It is your default card: the newest of your other cards that has not expired "
        "becomes the default."
        if to_remove.is_default
        else ""
    )
    confirm.dialog(
        REMOVE_ASKED,
        title="Remove this card?",
        message=f"{markdown_escape(to_remove.label)}, expiring {to_remove.expiry}, will no "
        f"longer be offered for payments.{warning} Past payments keep naming it.",
        confirm_label="Remove card",
        action=remove,
    )
