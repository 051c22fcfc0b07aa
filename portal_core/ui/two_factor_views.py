"""My Profile's two-factor sign-in: turning it on (password, QR code, confirming code), the
recovery codes shown once, turning it off, new recovery codes; and, for owners, the
organization's requirement (docs/product.md, My Profile).

The recovery codes live in the tab's state from the run that made them until the member says
they are saved: the database keeps only their digests, so this is the one time they exist.
A setup waiting for its confirming code lives there too, with the member it was begun for: the
database keeps no secret until a code confirms it.
"""

from __future__ import annotations

import io
import uuid

import segno
import streamlit as st

from portal_core.permissions import Capability
from portal_core.services import two_factor
from portal_core.services.sessions import SessionView
from portal_core.ui import forms, resources, state
from portal_core.ui.auth import client_address

CODES = "profile.two_factor.codes"  # the recovery codes just made, until saved
SETUP = "profile.two_factor.setup"  # (member's id, two_factor.Setup) until confirmed
_CODES_FILE = "sipstack-recovery-codes.txt"


def recovery_codes_once() -> None:
    """The recovery codes just made, above the tabs so that no tab hides them."""
    codes = st.session_state.get(CODES)
    if not codes:
        return
    with st.container(border=True, key="profile.two_factor.codes_panel"):
        st.subheader("Your recovery codes")
        st.write(
            "Each code signs you in once if you lose your phone. Save them somewhere safe "
            "now: they are not shown again."
        )
        st.code("\n".join(codes), language=None)
        save, done = st.columns(2)
        save.download_button(
            "Download as .txt",
            data=lambda: _codes_file(codes).encode(),
            file_name=_CODES_FILE,
            mime="text/plain",
            key="profile.two_factor.download",
            icon=":material/download:",
            on_click="ignore",
        )
        done.button(
            "I have saved them",
            key="profile.two_factor.saved",
            icon=":material/check:",
            on_click=_forget_codes,
        )


def two_factor_section(viewer: SessionView) -> None:
    st.subheader("Two-factor sign-in")
    with resources.reading() as session:
        status = two_factor.status(session, viewer.actor)
    setup = _setup_of(viewer.user_id)
    if status.enabled:
        _forget_setup()
        _enabled(viewer, status)
    elif setup is not None:
        _confirm(viewer, setup)
    else:
        _begin(viewer)


def organization_security(viewer: SessionView) -> None:
    """The owner's switch: every member signs in with a code."""
    if viewer.is_staff or not viewer.actor.can(Capability.USERS_MANAGE):
        return
    st.subheader("Organization security")
    with st.form("profile.require_two_factor"):
        required = st.toggle(
            "Require two-factor sign-in for every member",
            value=viewer.two_factor_required,
            help="Members without it can open only My Profile until they turn it on.",
        )
        errors = forms.FieldErrors()
        errors.general()
        if st.form_submit_button("Save organization security"):

            def save() -> None:
                with resources.writing() as session:
                    two_factor.set_organization_requirement(session, viewer.actor, required)

            if forms.attempt(errors, save):
                state.flash(
                    "Every member now signs in with a code."
                    if required
                    else "Two-factor sign-in is each member's choice again."
                )
                st.rerun()


def _begin(viewer: SessionView) -> None:
    st.write(
        "After your password, logging in will ask for a six-digit code from an authenticator "
        "app on your phone (Google Authenticator, Microsoft Authenticator, 1Password, …)."
    )
    with st.form("profile.two_factor.begin", clear_on_submit=True):
        password = st.text_input(
            "Current password", type="password", autocomplete="current-password"
        )
        errors = forms.FieldErrors()
        errors.slot("current_password")
        if st.form_submit_button("Set up two-factor sign-in", type="primary"):

            def begin() -> None:
                with resources.writing() as session:
                    setup = two_factor.begin(
                        session,
                        viewer.actor,
                        password,
                        ip_address=client_address(),
                        session_handle=viewer.handle,
                    )
                st.session_state[SETUP] = (viewer.user_id, setup)

            if forms.attempt(errors, begin):
                st.rerun()


def _confirm(viewer: SessionView, setup: two_factor.Setup) -> None:
    st.write(
        "Scan this QR code with your authenticator app, or type the key below into it; then "
        "enter the code the app shows. It counts once the code is right."
    )
    picture, details = st.columns([1, 2])
    picture.image(_qr_png(setup.uri), caption="Scan with your authenticator app", width=200)
    with details:
        st.caption("Or type this key")
        st.code(_grouped(setup.secret), language=None)
        with st.form("profile.two_factor.confirm", clear_on_submit=True):
            code = st.text_input("Code from the app", autocomplete="one-time-code", max_chars=10)
            errors = forms.FieldErrors()
            errors.slot("code")
            if st.form_submit_button("Turn on two-factor sign-in", type="primary"):

                def confirm() -> None:
                    with resources.writing() as session:
                        st.session_state[CODES] = two_factor.confirm(
                            session, viewer.actor, setup, code, session_handle=viewer.handle
                        )

                if forms.attempt(errors, confirm):
                    _forget_setup()
                    state.flash("Two-factor sign-in is on: you are signed out everywhere else.")
                    st.rerun()
        st.button(
            "Start again",
            key="profile.two_factor.start_again",
            icon=":material/restart_alt:",
            on_click=_forget_setup,
        )


def _enabled(viewer: SessionView, status: two_factor.Status) -> None:
    left = status.recovery_codes_left
    when = status.enabled_at.date().isoformat() if status.enabled_at else ""
    st.success(
        f"On since {when}: logging in asks for a code from your authenticator app. "
        f"{left} unused recovery code{'s' if left != 1 else ''} left.",
        icon=":material/verified_user:",
    )
    with st.form("profile.two_factor.recovery", clear_on_submit=True):
        st.write("New recovery codes replace the old ones, used or not.")
        code = st.text_input("Code from the app", autocomplete="one-time-code", max_chars=10)
        recovery_errors = forms.FieldErrors()
        recovery_errors.slot("code")
        if st.form_submit_button("Make new recovery codes"):

            def regenerate() -> None:
                with resources.writing() as session:
                    st.session_state[CODES] = two_factor.regenerate_recovery_codes(
                        session,
                        viewer.actor,
                        code,
                        ip_address=client_address(),
                        session_handle=viewer.handle,
                    )

            if forms.attempt(recovery_errors, regenerate):
                state.flash("New recovery codes made: the old ones no longer work.")
                st.rerun()
    if status.organization_requires:
        st.caption("Your organization requires two-factor sign-in, so it stays on.")
        return
    with st.form("profile.two_factor.disable", clear_on_submit=True):
        st.write("Turning it off asks for your password and a code (or a recovery code).")
        password = st.text_input(
            "Current password", type="password", autocomplete="current-password"
        )
        disable_errors = forms.FieldErrors()
        disable_errors.slot("current_password")
        disable_code = st.text_input("Code", autocomplete="one-time-code", max_chars=20)
        disable_errors.slot("code")
        disable_errors.general()
        if st.form_submit_button("Turn off two-factor sign-in"):

            def disable() -> None:
                with resources.writing() as session:
                    two_factor.disable(
                        session,
                        viewer.actor,
                        current_password=password,
                        code=disable_code,
                        ip_address=client_address(),
                        session_handle=viewer.handle,
                    )

            if forms.attempt(disable_errors, disable):
                state.flash("Two-factor sign-in is off.")
                st.rerun()


def _qr_png(uri: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=5, border=2)
    return buffer.getvalue()


def _grouped(secret: str) -> str:
    """The key in groups of four, as authenticator apps accept it and people copy it."""
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def _codes_file(codes: list[str]) -> str:
    return (
        "SIPSTACK Partner Portal: two-factor recovery codes\n"
        "Each code signs in once, in place of a code from your authenticator app.\n\n"
        + "\n".join(codes)
        + "\n"
    )


def _setup_of(user_id: uuid.UUID) -> two_factor.Setup | None:
    """The setup this tab began for this member (another member may have used the tab)."""
    kept = st.session_state.get(SETUP)
    if not kept:
        return None
    member, setup = kept
    return setup if member == user_id and isinstance(setup, two_factor.Setup) else None


def _forget_setup() -> None:
    st.session_state[SETUP] = None


def _forget_codes() -> None:
    st.session_state[CODES] = None
