"""Billing › Pricing: the plans and their prices (USD, taxes excluded), the organization's plan
and this month's requests, and changing plan: upgrades at once, downgrades at the next period
(docs/product.md, Billing model). A Free organization that used its allowance is offered the upgrade
at the top of the page."""

import streamlit as st

from portal_core.permissions import Capability
from portal_core.queries import pricing
from portal_core.ui import pricing_views, resources, shell

viewer = shell.open_page("billing.pricing")
can_manage = viewer.actor.can(Capability.BILLING_MANAGE)

with resources.reading() as session:
    view = pricing.pricing(session, viewer.actor)

st.title("Pricing")
st.caption(
    "Prices in USD, taxes excluded. Upgrades take effect at once: this month's invoice carries "
    "the new plan's fee instead of the old one's. Downgrades take effect at the next period "
    "(a yearly plan's at the end of its paid term)."
)
pricing_views.allowance_used_up(view, can_manage=can_manage)
problems = st.container()  # why a chosen change cannot be made, said near the top
pricing_views.your_plan(viewer, view.current, can_manage=can_manage)
pricing_views.plan_cards(view, can_manage=can_manage)
pricing_views.confirm_change(viewer, problems, can_manage=can_manage)
