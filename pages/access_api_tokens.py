"""Organization › Access › API Tokens: the organization's tokens for the REST API, the green +
that creates one (its secret shown once, with samples of a lookup), and a token opened with
Revoke (docs/product.md, Pages › API tokens). Owners, admins and developers open it."""

import streamlit as st

from portal_core.models.base import utcnow
from portal_core.queries import api_tokens
from portal_core.services import platform
from portal_core.ui import api_token_views, resources, shell

viewer = shell.open_page("access.api_tokens")
now = utcnow()
api_token_views.write_last_use()

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)
    has_tokens = api_tokens.has_tokens(session, viewer.actor)

api_token_views.heading()
api_token_views.new_token_once()
if has_tokens:
    api_token_views.token_table(viewer, now=now, time_zone=time_zone)
else:
    api_token_views.empty_state()

opened_id = st.query_params.get(api_token_views.PARAM)
if opened_id:
    opened = api_token_views.opened_token(viewer, opened_id, now=now)
    if opened is not None:
        api_token_views.detail(opened, time_zone=time_zone)

api_token_views.form_dialog(viewer)
api_token_views.revoke_dialog(viewer)
