"""A script for the browser that takes no room on the page.

``st.html`` with a script is an element like any other: Streamlit gives it a place in the
column, and the gap between elements with it, so each such script would push the page down
a line. These are drawn in a container that a style hides (a style alone takes no room:
Streamlit puts it apart from the page's elements).
"""

from __future__ import annotations

import streamlit as st

_MARK = "portal-script"
_HIDE = f'<style>[data-testid="stElementContainer"]:has(.{_MARK}) {{ display: none; }}</style>'


def run(script: str) -> None:
    """Run ``script`` (JavaScript, without its ``<script>`` tags) in the page, out of sight."""
    st.html(_HIDE)
    st.html(
        f'<span class="{_MARK}" hidden></span><script>{script}</script>',
        unsafe_allow_javascript=True,
    )
