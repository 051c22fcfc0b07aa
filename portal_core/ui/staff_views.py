"""Staff screens shared by several pages."""

import streamlit as st

from portal_core.services.sessions import SessionView


def organizations(viewer: SessionView) -> None:
    st.title("Organizations")
