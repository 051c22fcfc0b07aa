"""Organization › Brand: the brand name and the brand's domains, each with its status and the
DNS TXT record that verifies it; owners and admins rename the brand, add, check and remove
domains (docs/product.md, Pages › Brand)."""

import streamlit as st

from portal_core.permissions import Capability
from portal_core.queries import company
from portal_core.services import platform
from portal_core.ui import brand_views, resources, shell

viewer = shell.open_page("organization.brand")
can_edit = viewer.actor.can(Capability.COMPANY_EDIT)

with resources.reading() as session:
    brand = company.brand(session, viewer.actor)
    time_zone = platform.billing_time_zone(session)

st.title("Brand")
brand_views.problem()
brand_views.brand_name(viewer, brand, can_edit=can_edit)
brand_views.domains(viewer, brand, can_edit=can_edit, time_zone=time_zone)
if can_edit:
    brand_views.add_form(viewer)
    brand_views.remove_dialog(viewer, brand)
