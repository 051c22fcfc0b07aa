"""Confirmations for actions that cannot be taken back: yes/no, or with a required reason.

A dialog stays open across reruns only while the script keeps calling it, so an open
confirmation is a value in session state: ``ask(key)`` raises it (use it as a button's
``on_click``; ``ask(key, request)`` keeps what is to be confirmed, ids and figures only), and
``dialog(key, …)`` or ``dialog_with_reason(key, …)`` draws the dialog on every run while it
is up. Its buttons are keyed ``<key>.confirm`` and ``<key>.cancel``.

The reason variant is for staff actions (every staff action is audited): the
action receives what was typed, and the service it calls refuses an empty reason, whose
message then shows in the dialog, which stays open.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from portal_core.errors import PortalError
from portal_core.ui import state

REASON_MAX_LENGTH = 300  # the audit log's and the services' limit on a staff reason


def ask(key: str, request: object = True) -> None:
    st.session_state[key] = request


def asked(key: str) -> object | None:
    """What is waiting for confirmation under ``key`` (None when nothing is)."""
    request = st.session_state.get(key)
    return request if request else None


def _close(key: str) -> None:
    st.session_state[key] = False


def dialog(
    key: str,
    *,
    title: str,
    message: str,
    confirm_label: str,
    action: Callable[[], str | None],
) -> None:
    """While ``key`` is asked, show the dialog; confirming runs ``action`` and flashes the
    message it returns (if any); cancelling (or closing the dialog) does nothing."""
    if not st.session_state.get(key):
        return

    def body() -> None:
        st.write(message)
        yes, no = st.columns(2)
        if yes.button(confirm_label, type="primary", key=f"{key}.confirm"):
            try:
                outcome = action()
            except PortalError as error:
                st.error(error.message, icon=":material/error:")
                return
            _close(key)
            if outcome:
                state.flash(outcome)
            st.rerun()
        if no.button("Cancel", key=f"{key}.cancel"):
            _close(key)
            st.rerun()

    st.dialog(title, on_dismiss=lambda: _close(key))(body)()


def dialog_with_reason(
    key: str,
    *,
    title: str,
    message: str,
    confirm_label: str,
    action: Callable[[str], str],
    reason_key: str,
    reason_placeholder: str = "Why; kept in the audit log",
    on_done: Callable[[str], None] = state.flash,
) -> None:
    """While ``key`` is asked, show ``message`` (markdown) and a Reason box; confirming runs
    ``action(reason)`` and hands the message it returns to ``on_done`` (by default a flash).

    ``reason_key`` keys the Reason box: give each request its own, so a new confirmation
    starts empty. A ``PortalError`` from ``action`` is shown in the dialog, which stays open.
    """
    if not st.session_state.get(key):
        return

    def body() -> None:
        st.markdown(message)
        reason = st.text_area(
            "Reason",
            key=reason_key,
            max_chars=REASON_MAX_LENGTH,
            placeholder=reason_placeholder,
        )
        yes, no = st.columns(2)
        if yes.button(confirm_label, type="primary", key=f"{key}.confirm", width="stretch"):
            try:
                outcome = action(reason)
            except PortalError as error:
                st.error(error.message, icon=":material/error:")
                return
            _close(key)
            on_done(outcome)
            st.rerun()
        if no.button("Cancel", key=f"{key}.cancel", width="stretch"):
            _close(key)
            st.rerun()

    st.dialog(title, on_dismiss=lambda: _close(key))(body)()
