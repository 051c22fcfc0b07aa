"""Dashboard ("/"): a welcome, shortcuts, the setup checklist, the account's figures this
month and the charts of spend and balance (docs/product.md, Pages › Dashboard).

Every role sees the funds, the requests against the plan's allowance and the products' tiles;
the spend figures, the days of funds left and the charts are for the roles that see Billing.
SIPSTACK staff have no organization: they land on Staff › Organizations here instead.
"""

import streamlit as st

from portal_core.models.base import utcnow
from portal_core.permissions import Capability
from portal_core.queries import billing, dashboard, whois
from portal_core.ui import (
    billing_views,
    dashboard_views,
    resources,
    score_views,
    shell,
    staff_views,
)

viewer = shell.open_page("dashboard")

if viewer.is_staff:
    staff_views.organizations(viewer)
else:
    sees_billing = viewer.actor.can(Capability.BILLING_READ)
    with resources.reading() as session:
        funds = billing.funds(session, viewer.actor)
        checklist = dashboard.setup_checklist(session, viewer.actor)
        requests = dashboard.requests_this_month(session, viewer.actor)
        tiles = dashboard.product_tiles(session, viewer.actor)
        carrier = whois.carrier_score_explained(session, viewer.actor, now=utcnow())
        if sees_billing:
            spend = dashboard.month_to_date_spend(session, viewer.actor)
            runway = dashboard.funds_runway(session, viewer.actor)
            monthly = dashboard.spend_by_month(session, viewer.actor)
            history = dashboard.balance_over_time(session, viewer.actor)

    dashboard_views.welcome(viewer, sees_billing=sees_billing)
    dashboard_views.setup_checklist(checklist, viewer)
    st.subheader("Your account")
    billing_views.funds_metrics(funds, unbilled=False)
    dashboard_views.this_month(
        requests, spend if sees_billing else None, runway if sees_billing else None
    )
    dashboard_views.allowance_used_up(viewer, requests)
    dashboard_views.product_tiles(tiles)
    if carrier is not None:
        score_views.carrier_score_explanation(
            carrier, key="dashboard", label="Your carrier score: why, and what would raise it"
        )
    if sees_billing:
        dashboard_views.spend_and_balance_charts(monthly, history)
