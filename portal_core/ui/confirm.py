"""Yes/no confirmations for actions that cannot be taken back.

A dialog stays open across reruns only while the script keeps calling it, so an open
confirmation is a flag in session state: ``ask(key)`` raises it (use it as a button's
``on_click``), and ``dialog(key, …)`` draws the dialog on every run while it is up.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from portal_core.errors import PortalError
from portal_core.ui import state


def ask(key: str) -> None:
    st.session_state[key] = True


def _close(key: str) -> None:
    st.session_state[key] = False


def dialog(
    key: str,
    *,
    title: str,
    message: str,
    confirm_label: str,
    action: Callable[[], str],
) -> None:
    """While ``key`` is asked, show the dialog; confirming runs ``action`` and flashes the
    message it returns; cancelling (or closing the dialog) does nothing."""
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
            state.flash(outcome)
            st.rerun()
        if no.button("Cancel", key=f"{key}.cancel"):
            _close(key)
            st.rerun()

    st.dialog(title, on_dismiss=lambda: _close(key))(body)()
