"""Verify e-mail: where the link from the verification e-mail lands (single use, 24 hours)."""

import streamlit as st

from portal_core.errors import PortalError
from portal_core.services import accounts
from portal_core.ui import resources, shell

viewer = shell.open_public_page("public.verify_email")

st.title("Verify your e-mail")
token = st.query_params.get("token", "")
outcome_key = f"verify_email.outcome.{token}"

if not token:
    st.warning(
        "Open this page from the link in your verification e-mail.", icon=":material/link_off:"
    )
    st.stop()

# A rerun must not spend the single-use link again: remember what it did on this tab.
if outcome_key not in st.session_state:
    try:
        with resources.writing() as session:
            what = accounts.verify_email(session, token)
        st.session_state[outcome_key] = ("ok", what.value)
    except PortalError as error:
        st.session_state[outcome_key] = ("error", error.message)

status, detail = st.session_state[outcome_key]
if status == "error":
    st.error(detail, icon=":material/error:")
    st.write("Log in to ask for a new link, or start again.")
    st.page_link("Home.py", label="Log in", icon=":material/login:")
elif detail == accounts.VerifiedWhat.NEW_EMAIL:
    st.success("Your new e-mail address is confirmed.", icon=":material/check_circle:")
    st.page_link("Home.py", label="Go to the Dashboard", icon=":material/arrow_forward:")
else:
    st.success("Your e-mail is verified.", icon=":material/check_circle:")
    if viewer is None:
        st.write("Log in to activate your account.")
    st.page_link(
        "pages/activate.py", label="Continue to activation", icon=":material/arrow_forward:"
    )
