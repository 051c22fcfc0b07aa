"""Staff › Invoice runs: the jobs the scheduler runs by itself, with their last and next run;
invoice a month for every organization, as the scheduler does on the 1st (running it again
creates nothing twice), with its progress and summary; and the balance check, which
recomputes every cached balance and unbilled usage and lists what differs."""

import streamlit as st

from portal_core.queries import scheduled_jobs
from portal_core.services import platform, staff_billing
from portal_core.services.jobs import JOBS
from portal_core.ui import resources, shell, staff_invoicing_views

viewer = shell.open_page("staff.invoicing")

with resources.reading() as session:
    periods = staff_billing.invoice_periods(session, viewer.actor)
    time_zone = platform.billing_time_zone(session)
    runs = scheduled_jobs.scheduled_jobs(session, viewer.actor, names=[job.name for job in JOBS])
labels = {period.code: period.label for period in periods}

st.title("Invoice runs")
st.caption(
    "The scheduler invoices last month on the 1st. Run a month here to catch up or retry: "
    "organizations already invoiced for it are skipped, so nothing is invoiced twice."
)
staff_invoicing_views.scheduled_jobs(runs, JOBS, time_zone=time_zone)
staff_invoicing_views.run_form(labels, time_zone=time_zone)
staff_invoicing_views.queued_run(viewer, labels)
staff_invoicing_views.last_run(labels)
staff_invoicing_views.balance_check(viewer, time_zone=time_zone)
