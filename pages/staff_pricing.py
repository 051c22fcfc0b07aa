"""Staff › Plans, taxes & settings: the plans' prices, allowances and default credit limits,
Canada's sales tax rates, and the platform settings (card fee, billing time zone, SIPSTACK's
details on invoices), each edited through its service, which validates and audits it."""

import streamlit as st

from portal_core.queries import staff_billing as billing_queries
from portal_core.services import platform
from portal_core.ui import resources, shell, staff_pricing_views

viewer = shell.open_page("staff.pricing")

with resources.reading() as session:
    plans = billing_queries.plans(session, viewer.actor)
    rates = billing_queries.tax_rates(session, viewer.actor)
    settings = billing_queries.platform_settings(session, viewer.actor, keys=platform.KEYS)
    time_zone = platform.billing_time_zone(session)

st.title("Plans, taxes & settings")
staff_pricing_views.last_edit()
plans_tab, taxes_tab, settings_tab = st.tabs(["Plans", "Tax rates", "Platform settings"])
with plans_tab:
    staff_pricing_views.plans(viewer, plans)
with taxes_tab:
    staff_pricing_views.tax_rates(viewer, rates, time_zone=time_zone)
with settings_tab:
    staff_pricing_views.platform_settings(viewer, settings, time_zone=time_zone)
