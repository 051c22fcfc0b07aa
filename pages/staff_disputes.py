"""Staff › Disputes: every ownership dispute, both organizations named, its history, and the
decision for either side with a reason
(docs/product.md, Whois Profiles › Ownership and disputes)."""

from portal_core.services import platform
from portal_core.ui import resources, shell, staff_products_views

viewer = shell.open_page("staff.disputes")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)

staff_products_views.disputes_page(viewer, time_zone=time_zone)
