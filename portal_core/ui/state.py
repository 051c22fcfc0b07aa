"""Every session-state key the shell keeps, declared in one place.

Only ids and handles live here, never ORM objects or balances (docs/architecture.md, rule 9).
Page-level keys are prefixed with the page's id by the pages themselves.
"""

from __future__ import annotations

import streamlit as st

SESSION_HANDLE = "portal.session_handle"  # the server-side session of this browser tab
FLASH = "portal.flash"  # one message to show at the top of the next run
COOKIE_CHANGE = "portal.cookie_change"  # the login cookie this tab writes (ui.auth.LoginCookie)
# A right password waiting for its two-factor code (services.auth.PendingSignIn): the server's
# memory of this tab, never the browser's.
PENDING_SIGN_IN = "portal.pending_sign_in"


def init() -> None:
    st.session_state.setdefault(SESSION_HANDLE, None)
    st.session_state.setdefault(FLASH, None)


def flash(message: str) -> None:
    """Show ``message`` once, on the next run (for results of actions that rerun)."""
    st.session_state[FLASH] = message


def pop_flash() -> str | None:
    message = st.session_state.get(FLASH)
    st.session_state[FLASH] = None
    return message
