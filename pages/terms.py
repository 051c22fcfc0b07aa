"""Terms of Service: the current version, readable without an account."""

import streamlit as st

from portal_core.terms import current_terms
from portal_core.ui import shell

shell.open_public_page("public.terms")

terms = current_terms()
st.caption(f"Version {terms.version}")
st.markdown(terms.text)
