"""Reset password: ask for a link by e-mail, then choose a new password with it."""

import streamlit as st

from portal_core.errors import ValidationFailed
from portal_core.services import auth
from portal_core.services.validation import email_problem
from portal_core.ui import forms, resources, shell

shell.open_public_page("public.reset_password")

st.title("Reset your password")
token = st.query_params.get("token", "")

if not token:
    if st.session_state.get("reset_password.requested"):
        st.success(
            "If an account uses that address, we sent it a link to choose a new password. "
            "The link expires in one hour.",
            icon=":material/mark_email_read:",
        )
        st.page_link("Home.py", label="Back to log in", icon=":material/login:")
        if st.button("Send a link to another e-mail", key="reset_password.again"):
            del st.session_state["reset_password.requested"]
            st.rerun()
        st.stop()
    with st.form("reset_password.request"):
        errors = forms.FieldErrors()
        email = st.text_input("E-mail", autocomplete="email")
        errors.slot("email")
        submitted = st.form_submit_button("Send me a link", type="primary")
    if submitted:

        def request_link() -> None:
            if problem := email_problem(email):
                raise ValidationFailed({"email": problem})
            with resources.writing() as session:
                auth.request_password_reset(session, email)

        if forms.attempt(errors, request_link):
            st.session_state["reset_password.requested"] = True
            st.rerun()
    st.page_link("Home.py", label="Back to log in", icon=":material/login:")
    st.stop()

if st.session_state.get("reset_password.done") == token:
    st.success("Your password is changed. Log in with it now.", icon=":material/check_circle:")
    st.page_link("Home.py", label="Log in", icon=":material/login:")
    st.stop()

with st.form("reset_password.choose"):
    errors = forms.FieldErrors()
    errors.general()
    new = st.text_input("New password", type="password", autocomplete="new-password")
    errors.slot("new_password")
    repeat = st.text_input("Repeat it", type="password", autocomplete="new-password")
    errors.slot("repeat")
    submitted = st.form_submit_button("Set my new password", type="primary")

if submitted:

    def choose_password() -> None:
        if new != repeat:
            raise ValidationFailed({"repeat": "The two passwords differ."})
        with resources.writing() as session:
            auth.reset_password(session, token, new)

    if forms.attempt(errors, choose_password):
        st.session_state["reset_password.done"] = token
        st.rerun()
