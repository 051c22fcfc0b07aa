"""Logging in through the browser: our form and checks, streamlit-authenticator's cookie.

What the library keeps: the format of its signed, expiring cookie (a JWT), which is how a
reload or a new tab finds its session again. What we replaced, and why: its login form strips
and lower-cases the password and turns autocomplete off, so ours takes the password as typed
and lets password managers fill it; its credential check keeps the whole users table in a dict
and its attempt counter in memory, so ours asks the database for one user and throttles there
(``services.auth``); its cookie component posts back to the server, and every post reruns the
page, so ours writes the cookie with a line of script that reports nothing (``LoginCookie``).
The cookie names a *server-side session handle* where the library would put a username:
logging out, a password change or a deactivation ends the session row, and a copy of the
cookie is refused afterwards.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import jwt
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from portal_core.errors import AuthenticationFailed, Throttled
from portal_core.models.base import utcnow
from portal_core.services import auth, sessions
from portal_core.settings import get_settings
from portal_core.ui import resources, scripts, state

_LOGOUT = "logout"  # the library's flag: this tab logged out, whatever cookie it arrived with
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
# Writes the cookie in the page itself (not in a component's frame), and says nothing back.
_SCRIPT = """
document.cookie = %(cookie)s + (window.location.protocol === "https:" ? "; Secure" : "");
"""


class LoginCookie:
    """The browser's login cookie: read on the server, written by a script in the page.

    Reading needs no script: the cookie arrives with the page's request, and is the library's
    signed token (HS256; ``username``: the session handle, ``exp_date``), checked as the
    library does. Writing it takes the browser, since Streamlit sets no cookie: a login or a
    logout keeps the cookie to write in the tab's state, and every run of the tab draws it
    with ``settle`` (the request that opened the tab still carries the old cookie, so the
    server cannot tell when the browser has it; writing the same cookie again changes
    nothing). Nothing reports back, so a login is one run of the page: a component would post
    a value, and each post would run the page again.
    """

    def __init__(self) -> None:
        settings = get_settings()
        self._name = settings.cookie_name
        self._key = settings.cookie_key
        self._expiry_days = settings.cookie_expiry_days

    def present(self) -> bool:
        return self._name in st.context.cookies

    def handle(self) -> str | None:
        """The session handle the cookie carries, if it is ours, unexpired and not logged out."""
        if st.session_state.get(_LOGOUT) or not self.present():
            return None
        try:
            token = jwt.decode(st.context.cookies[self._name], self._key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        handle, expires = token.get("username"), token.get("exp_date")
        if not isinstance(handle, str) or not isinstance(expires, int | float):
            return None
        return handle if handle and expires > time.time() else None

    def remember(self, handle: str) -> None:
        """After a login: the browser's cookie will name this session (drawn by ``settle``)."""
        expires = time.time() + self._expiry_days * 86_400
        token = jwt.encode({"username": handle, "exp_date": expires}, self._key, algorithm="HS256")
        st.session_state[_LOGOUT] = None
        st.session_state[state.COOKIE_CHANGE] = self._cookie(
            token, formatdate(expires, usegmt=True)
        )

    def forget(self) -> None:
        """After a logout or a dead session: the browser's copy goes (drawn by ``settle``)."""
        st.session_state[_LOGOUT] = True
        st.session_state[state.COOKIE_CHANGE] = self._cookie("", _EXPIRED)

    def settle(self) -> None:
        """Draw the pending change of the cookie, if this tab has one."""
        cookie = st.session_state.get(state.COOKIE_CHANGE)
        if isinstance(cookie, str) and cookie:
            # JSON is a JavaScript string literal; "<" escaped so "</script>" cannot occur.
            literal = json.dumps(cookie).replace("<", "\\u003c")
            scripts.run(_SCRIPT % {"cookie": literal})

    def _cookie(self, value: str, expires: str) -> str:
        """``document.cookie``'s assignment: the whole site's, sent only to this site."""
        return f"{self._name}={value}; expires={expires}; path=/; SameSite=Strict"


def current_view(cookie: LoginCookie) -> sessions.SessionView | None:
    """Who is signed in on this tab, as the database says now (docs/architecture.md, rule 7)."""
    handle = st.session_state.get(state.SESSION_HANDLE) or cookie.handle()
    if not handle:
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
    """The login form, and its second step for an account with two-factor sign-in; returns
    the new session when this run logged in.

    Both steps are drawn in one slot: the code's form takes the password's place in the run
    that accepted the password, and keeps it in the runs that follow, until it expires."""
    slot = st.empty()
    pending, expired = _pending_sign_in()
    if pending is not None:
        with slot.container():
            code, submitted, message = _code_form()
        if not submitted:
            return None
        if not code.strip():
            message.error("Enter the code your authenticator app shows.")
            return None
        try:
            with resources.writing() as session:
                logged_in = auth.complete_sign_in(
                    session, pending, code, ip_address=client_address(), user_agent=_user_agent()
                )
        except auth.SecondStepExpired:
            st.session_state[state.PENDING_SIGN_IN] = None
            expired = True  # back to the password
        except (AuthenticationFailed, Throttled) as error:
            message.error(error.message)
            return None
        else:
            st.session_state[state.PENDING_SIGN_IN] = None
            return _signed_in(slot, cookie, logged_in)
    with slot.container():
        email, password, submitted, message = _password_form()
    if not submitted:
        if expired:
            message.warning(auth.SECOND_STEP_EXPIRED)
        return None
    if not email.strip() or not password:
        message.error("Enter your e-mail and your password.")
        return None
    try:
        with resources.writing() as session:
            logged_in = auth.log_in(
                session, email, password, ip_address=client_address(), user_agent=_user_agent()
            )
    except (AuthenticationFailed, Throttled) as error:
        message.error(error.message)
        return None
    except auth.SecondStepRequired as step:
        st.session_state[state.PENDING_SIGN_IN] = step.pending
        with slot.container():
            _code_form()
        return None
    return _signed_in(slot, cookie, logged_in)


def _signed_in(
    slot: DeltaGenerator, cookie: LoginCookie, logged_in: auth.LoggedIn
) -> sessions.SessionView:
    slot.empty()
    st.session_state[state.SESSION_HANDLE] = logged_in.handle
    cookie.remember(logged_in.handle)
    return logged_in.view


def _password_form() -> tuple[str, str, bool, DeltaGenerator]:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        with st.form("portal.login"):
            st.subheader("Log in to the SIPSTACK Partner Portal")
            email = st.text_input("E-mail", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Log in", type="primary", width="stretch")
        message = st.empty()
        left, right = st.columns(2)
        left.page_link("pages/get_started.py", label="New here? Get Started")
        right.page_link("pages/reset_password.py", label="Forgot your password?")
    return email, password, submitted, message


def _code_form() -> tuple[str, bool, DeltaGenerator]:
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        with st.form("portal.login_code", clear_on_submit=True):
            st.subheader("Two-factor sign-in")
            st.write(
                "Type the code your authenticator app shows for the SIPSTACK Partner Portal, "
                "or one of your recovery codes."
            )
            code = st.text_input(
                "Code", key="portal.login_code.code", autocomplete="one-time-code", max_chars=20
            )
            submitted = st.form_submit_button("Verify", type="primary", width="stretch")
        message = st.empty()
        st.button(
            "Use another account",
            key="portal.login_code.back",
            icon=":material/arrow_back:",
            on_click=_forget_pending_sign_in,
        )
    return code, submitted, message


def _pending_sign_in() -> tuple[auth.PendingSignIn | None, bool]:
    """This tab's password waiting for its code, while it has not expired; and whether one
    just expired (the password is asked again, and the form says why)."""
    pending = st.session_state.get(state.PENDING_SIGN_IN)
    if not isinstance(pending, auth.PendingSignIn):
        return None, False
    if pending.expires_at <= utcnow():
        st.session_state[state.PENDING_SIGN_IN] = None
        return None, True
    return pending, False


def _forget_pending_sign_in() -> None:
    st.session_state[state.PENDING_SIGN_IN] = None


def client_address() -> str | None:
    """The browser's IP address, for the password throttle; None when it is not known.

    It is the websocket's peer as uvicorn reports it: uvicorn replaces a proxy's address with
    the one the proxy forwards (``X-Forwarded-For``) only when the proxy is one it trusts
    (``FORWARDED_ALLOW_IPS``), so a forged header from anyone else changes nothing; never read
    that header here. Streamlit reports a loopback peer as None: a browser on this machine, or
    a local proxy that forwards no address, tells clients apart by nothing.
    """
    address = st.context.ip_address
    return address if isinstance(address, str) and address else None


def _user_agent() -> str | None:
    agent = st.context.headers.get("User-Agent")
    return agent if isinstance(agent, str) else None


def log_out() -> None:
    """Button callback: end this session on the server; the run that follows drops the cookie."""
    handle = st.session_state.get(state.SESSION_HANDLE)
    if handle:
        with resources.writing() as session:
            auth.log_out(session, handle)
    st.session_state[state.SESSION_HANDLE] = None
    LoginCookie().forget()
