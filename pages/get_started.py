"""Get Started: create a SIPSTACK partner account (docs/product.md, Account life cycle)."""

import streamlit as st

from portal_core.services import accounts
from portal_core.ui import forms, resources, shell
from portal_core.ui.text import markdown_code

viewer = shell.open_public_page("public.get_started")

st.title("Get Started")
if viewer is not None:
    st.info(f"You are signed in as {markdown_code(viewer.email)}.", icon=":material/info:")
    st.page_link("Home.py", label="Go to the Dashboard", icon=":material/arrow_forward:")
    st.stop()

sent_to = st.session_state.get("get_started.sent_to")
if sent_to:
    st.success(
        f"Check your e-mail: we sent a link to {markdown_code(sent_to)} to verify your "
        "address. It expires in 24 hours.",
        icon=":material/mark_email_read:",
    )
    st.page_link("Home.py", label="Log in", icon=":material/login:")
    if st.button("Sign up with another e-mail", key="get_started.again"):
        del st.session_state["get_started.sent_to"]
        st.rerun()
    st.stop()

st.write("Create your partner account: the activation wizard takes you from there.")
with st.form("get_started"):
    errors = forms.FieldErrors()
    name = st.text_input("Your name", max_chars=120, autocomplete="name")
    errors.slot("name")
    email = st.text_input("Work e-mail", max_chars=254, autocomplete="email")
    errors.slot("email")
    company = st.text_input("Company", max_chars=120, autocomplete="organization")
    errors.slot("company")
    password = st.text_input(
        "Password",
        type="password",
        autocomplete="new-password",
        help="At least 8 characters. A few unrelated words make a strong password.",
    )
    errors.slot("password")
    accepted = st.checkbox("I agree to the Terms of Service")
    errors.slot("accepted_terms")
    st.page_link("pages/terms.py", label="Read the Terms of Service", icon=":material/gavel:")
    errors.general()
    submitted = st.form_submit_button("Create account", type="primary")

if submitted:
    form = accounts.SignUp(
        name=name, email=email, company=company, password=password, accepted_terms=accepted
    )

    def sign_up() -> None:
        with resources.writing() as session:
            accounts.sign_up(session, form)

    if forms.attempt(errors, sign_up):
        st.session_state["get_started.sent_to"] = email.strip()
        st.rerun()

st.page_link("Home.py", label="Already have an account? Log in", icon=":material/login:")
