"""Billing › Transactions: payments, credits, invoices, adjustments and refunds in one history,
each with its amount and the balance it left (docs/product.md, Pages › Billing › Transactions)."""

import streamlit as st

from portal_core.queries import billing
from portal_core.services import platform
from portal_core.ui import resources, shell, table

viewer = shell.open_page("billing.transactions")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)

st.title("Transactions")
st.caption(
    "Every payment, credit, invoice, adjustment and refund of your account, with the balance "
    "after each. Amounts are in USD."
)
table.data_table(
    billing.transactions(viewer.actor), key="billing.transactions", time_zone=time_zone
)
