"""Staff › Billing accounts: every organization's plan and money. Select one (or follow a link
with ``?organization=<id>``) to see its account and act on it: post a credit or adjustment,
set its credit limit, set or end its Carrier contract. Each action is reviewed in a form,
then confirmed in a dialog that asks for the reason (audited; a credit's reason is the
description the partner reads in Transactions)."""

import streamlit as st

from portal_core.queries import staff_billing as billing_queries
from portal_core.services import platform
from portal_core.ui import resources, shell, staff_billing_views

viewer = shell.open_page("staff.billing_accounts")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)
    plans = billing_queries.plans(session, viewer.actor)

st.title("Billing accounts")
st.caption(
    "Every organization's plan, balance and credit limit. Select a row to see its account, "
    "post a credit or adjustment, or set its credit limit or Carrier contract."
)
staff_billing_views.accounts_table(viewer, time_zone=time_zone)
summary = staff_billing_views.opened_account(viewer, time_zone=time_zone)
if summary is not None:
    staff_billing_views.account(viewer, summary, plans, time_zone=time_zone)
