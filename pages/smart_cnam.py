"""Partner › Smart CNAM: look a number up — Source/Risk, Caller ID, Regional, Telco/Carrier or
Online Profiles — see what it costs before, the answer and why its score is what it is after,
report the number as spam or safe, this user's last lookups beside the form, and the lookup
as code for the API (docs/product.md, Smart CNAM lookups and scores)."""

import streamlit as st

from portal_core.queries import whois
from portal_core.services import platform
from portal_core.ui import resources, shell, smart_cnam_views

viewer = shell.open_page("partner.smart_cnam")

with resources.reading() as session:
    price = whois.next_lookup_price(session, viewer.actor)
    own_numbers = whois.own_active_numbers(session, viewer.actor)
    recent = whois.recent_lookups(session, viewer.actor)
    time_zone = platform.billing_time_zone(session)

st.title("Smart CNAM")
st.caption(
    "Look up who is calling: a caller's name, where a number is from, its carrier, its online "
    "profiles, and a score from 0 (blacklisted) to 5 (trusted), with why. Every lookup is "
    "billed through your plan and listed in Logs."
)
form, side = st.columns([3, 2], gap="large")
with form:
    smart_cnam_views.price_line(price)
    smart_cnam_views.lookup_form(viewer, own_numbers=own_numbers)
with side:
    smart_cnam_views.recent(recent, time_zone=time_zone)

result = smart_cnam_views.last_result(viewer)
if result is not None:
    smart_cnam_views.result_view(viewer, result)
smart_cnam_views.code_view(viewer, result)
