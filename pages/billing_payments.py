"""Billing › Payments: every attempt to add funds by card (date, card, amount, fee, total
charged, status, reference); one opens with its receipt (PDF) when it went through, or the
reason when it did not (docs/product.md, Pages › Billing › Payments).

A payment opens when its row is selected, or from a link carrying ``?payment=<id>`` (the
Overview's last payment, a failed payment's notice): the query parameter is the one record of
which payment is open. Another organization's payment is not found.
"""

import streamlit as st

from portal_core.services import platform
from portal_core.ui import payment_views, resources, shell

viewer = shell.open_page("billing.payments")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)

st.title("Payments")
raw_payment = st.query_params.get(payment_views.PAYMENT_PARAM)
if raw_payment:
    payment_views.all_payments_button()
    opened = payment_views.opened_payment(viewer, raw_payment)
    if opened is not None:
        payment_views.payment(viewer, *opened, time_zone=time_zone)
else:
    payment_views.payment_list(viewer, time_zone=time_zone)
