"""Logging in through the browser: our form and checks, streamlit-authenticator's cookie.

What the library keeps: its signed, expiring cookie (a JWT set and deleted through its cookie
component), which is how a reload or a new tab finds its session again. What we replaced, and
why: its login form strips and lower-cases the password and turns autocomplete off, so ours
takes the password as typed and lets password managers fill it; its credential check keeps the
whole users table in a dict and its attempt counter in memory, so ours asks the database for
one user and throttles there (``services.auth``). The cookie names a *server-side session
handle* where the library would put a username: logging out, a password change or a
deactivation ends the session row, and a copy of the cookie is refused afterwards.
"""

from __future__ import annotations

import streamlit as st
import streamlit_authenticator as stauth

from portal_core.errors import AuthenticationFailed, Throttled
from portal_core.services import auth, sessions
from portal_core.settings import get_settings
from portal_core.ui import resources, state

_LIBRARY_KEYS = ("name", "username", "authentication_status", "email", "roles")


class LoginCookie:
    """The browser's login cookie, through streamlit-authenticator (built once per run)."""

    def __init__(self) -> None:
        settings = get_settings()
        self._name = settings.cookie_name
        # A fresh credentials dict on every run: the library rewrites the one it is given.
        self._authenticator = stauth.Authenticate(
            {"usernames": {}},
            cookie_name=settings.cookie_name,
            cookie_key=settings.cookie_key,
            cookie_expiry_days=settings.cookie_expiry_days,
            auto_hash=False,
        )

    def present(self) -> bool:
        return self._name in st.context.cookies

    def handle(self) -> str | None:
        """The session handle the cookie carries, if it is ours, unexpired and not logged out."""
        token = self._authenticator.cookie_controller.get_cookie()
        if not token:
            return None
        handle = token.get("username")
        return handle if isinstance(handle, str) and handle else None

    def remember(self, handle: str) -> None:
        st.session_state["username"] = handle
        st.session_state["authentication_status"] = True
        st.session_state["logout"] = None
        self._authenticator.cookie_controller.set_cookie()

    def forget(self) -> None:
        st.session_state["logout"] = True
        for key in _LIBRARY_KEYS:
            st.session_state[key] = None
        if self.present():
            self._authenticator.cookie_controller.delete_cookie()


def current_view(cookie: LoginCookie) -> sessions.SessionView | None:
    """Who is signed in on this tab, as the database says now (DESIGN.md, rule 7)."""
    handle = st.session_state.get(state.SESSION_HANDLE) or cookie.handle()
    if not handle:
        if st.session_state.get("logout"):
            cookie.forget()  # logged out on this tab: drop the browser's copy too
        return None
    with resources.reading() as session:
        view = sessions.resolve(session, handle)
    if view is None:
        st.session_state[state.SESSION_HANDLE] = None
        cookie.forget()
        return None
    st.session_state[state.SESSION_HANDLE] = handle
    if view.seen_long_ago():
        with resources.writing() as session:
            sessions.touch(session, handle)
    return view


def login_form(cookie: LoginCookie) -> sessions.SessionView | None:
    """The login form; returns the new session when this run logged in."""
    slot = st.empty()
    with slot.container():
        _, middle, _ = st.columns([1, 2, 1])
        with middle:
            with st.form("portal.login"):
                st.subheader("Log in to the SIPSTACK Partner Portal")
                email = st.text_input("E-mail", autocomplete="username")
                password = st.text_input(
                    "Password", type="password", autocomplete="current-password"
                )
                submitted = st.form_submit_button("Log in", type="primary", width="stretch")
            message = st.empty()
            left, right = st.columns(2)
            left.page_link("pages/get_started.py", label="New here? Get Started")
            right.page_link("pages/reset_password.py", label="Forgot your password?")
    if not submitted:
        return None
    if not email.strip() or not password:
        message.error("Enter your e-mail and your password.")
        return None
    try:
        with resources.writing() as session:
            logged_in = auth.log_in(
                session,
                email,
                password,
                ip_address=st.context.ip_address,
                user_agent=st.context.headers.get("User-Agent"),
            )
    except (AuthenticationFailed, Throttled) as error:
        message.error(error.message)
        return None
    slot.empty()
    st.session_state[state.SESSION_HANDLE] = logged_in.handle
    st.session_state[state.JUST_LOGGED_IN] = True
    cookie.remember(logged_in.handle)
    return logged_in.view


def log_out() -> None:
    """Button callback: end this session on the server; the run that follows drops the cookie."""
    handle = st.session_state.get(state.SESSION_HANDLE)
    if handle:
        with resources.writing() as session:
            auth.log_out(session, handle)
    st.session_state[state.SESSION_HANDLE] = None
    st.session_state["logout"] = True
