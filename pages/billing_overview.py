"""Billing › Overview: the account (legal name, where its taxes come from, plan), its money
(balance, unbilled usage, available funds, credit limit), this month's requests, the last
payment, **Add funds** and the auto-recharge settings (docs/product.md, Pages › Billing › Overview).

Add funds shows the amount, the convenience fee and the total *before* Pay Now, and never
charges twice (``ui.add_funds``). With Stripe the payment is made on Stripe's hosted page: the
partner comes back to ``?payment=<id>``, where the payment's status shows (pending until
Stripe's webhook confirms it, then succeeded).
"""

import streamlit as st

from portal_core.permissions import Capability
from portal_core.queries import billing, payments, pricing
from portal_core.services import accounts, platform
from portal_core.ui import add_funds, billing_views, resources, shell

viewer = shell.open_page("billing.overview")
can_manage = viewer.actor.can(Capability.BILLING_MANAGE)

with resources.reading() as session:
    organization = accounts.organization_of(session, viewer.actor)
    funds = billing.funds(session, viewer.actor)
    plan = pricing.current_plan(session, viewer.actor)
    last = payments.last_payment(session, viewer.actor)
    cards = payments.payment_methods(session, viewer.actor)
    recharge = payments.auto_recharge_settings(session, viewer.actor)
    fee_millipercent = platform.card_fee_millipercent(session)
    time_zone = platform.billing_time_zone(session)

st.title("Overview")
raw_payment = st.query_params.get(billing_views.PAYMENT_PARAM)
if raw_payment:
    billing_views.returned_payment(viewer, raw_payment, can_manage=can_manage)
billing_views.overview_funds(funds, plan)
billing_views.account_and_last_payment(organization, plan, last, time_zone=time_zone)
if can_manage:
    add_funds.form(viewer, cards, fee_millipercent=fee_millipercent)
billing_views.auto_recharge_settings(
    viewer, recharge, fee_millipercent=fee_millipercent, can_manage=can_manage
)
