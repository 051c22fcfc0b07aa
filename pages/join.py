"""Join: where an invitation's link lands; the invitee chooses a name and a password and joins
the organization with the role they were invited with (docs/product.md, Pages › Users)."""

import streamlit as st

from portal_core.ui import shell, users_views

viewer = shell.open_public_page("public.join")

users_views.join(viewer, st.query_params.get("token", ""))
