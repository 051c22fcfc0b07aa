"""Billing › Invoices: the organization's monthly invoices and its credit notes; one opens with
its lines, taxes, total (and status), and downloads as a PDF to file for expenses.

An invoice opens when its row is selected, or from a link carrying ``?invoice=<id>`` (a new
invoice's notice links here): the query parameter is the one record of which invoice is open,
so the link can be shared with a colleague. Another organization's invoice is not found.
"""

import streamlit as st

from portal_core.services import platform
from portal_core.ui import invoice_views, resources, shell

viewer = shell.open_page("billing.invoices")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)

st.title("Invoices")
raw_invoice = st.query_params.get(invoice_views.INVOICE_PARAM)
raw_credit_note = st.query_params.get(invoice_views.CREDIT_NOTE_PARAM)
if raw_invoice:
    invoice_views.all_invoices_button()
    detail = invoice_views.opened_invoice(viewer, raw_invoice)
    if detail is not None:
        invoice_views.invoice(viewer, detail, time_zone=time_zone)
elif raw_credit_note:
    invoice_views.all_credit_notes_button()
    note = invoice_views.opened_credit_note(viewer, raw_credit_note)
    if note is not None:
        invoice_views.credit_note(note, time_zone=time_zone)
else:
    invoice_views.invoice_list(viewer, time_zone=time_zone)
    invoice_views.credit_note_list(viewer, time_zone=time_zone)
