"""Organization › Company: the legal details, what they decide (the sales tax), a form for
owners and admins (read-only for the other roles) and the history of changes
(docs/product.md, Pages › Company)."""

import streamlit as st

from portal_core.permissions import Capability
from portal_core.queries import company
from portal_core.services import platform
from portal_core.ui import company_views, resources, shell

viewer = shell.open_page("organization.company")
can_edit = viewer.actor.can(Capability.COMPANY_EDIT)

with resources.reading() as session:
    details = company.company(session, viewer.actor)
    history = company.company_history(session, viewer.actor) if can_edit else None
    time_zone = platform.billing_time_zone(session)

st.title("Company")
company_views.notes(details)
if can_edit:
    company_views.edit_form(viewer, details)
else:
    company_views.read_only(details)
if history is not None:
    company_views.history(history, time_zone=time_zone)
