"""Analytics › Logs: every product event of the organization (lookups, Whois Profiles' changes,
community reports) with the volume per day above them (docs/product.md, Pages › Logs).

An event opens when its row is selected, or from a link carrying ``?event=<id>``; another
organization's event is not found. Every role of an organization reads its own events.
"""

import streamlit as st

from portal_core.queries import logs
from portal_core.services import platform
from portal_core.ui import logs_views, resources, shell

viewer = shell.open_page("analytics.logs")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)
    has_events = logs.has_events(session, viewer.actor)
    users = logs.event_users(session, viewer.actor)
    tokens = logs.event_tokens(session, viewer.actor)

st.title("Logs")
raw_event = st.query_params.get(logs_views.EVENT_PARAM)
if raw_event:
    logs_views.all_events_button()
    opened = logs_views.opened_event(viewer, raw_event)
    if opened is not None:
        logs_views.event(opened, time_zone=time_zone)
elif not has_events:
    logs_views.empty_state(viewer)
else:
    listing = logs.events(viewer.actor, users=users, tokens=tokens)
    logs_views.volume_chart(viewer, listing, time_zone=time_zone)
    logs_views.event_table(listing, time_zone=time_zone)
