"""Staff › Reports: every community report of a number as spam or safe, and its removal with
a reason (docs/product.md, Whois Profiles › Community reports and reputation watch)."""

from portal_core.services import platform
from portal_core.ui import resources, shell, staff_products_views

viewer = shell.open_page("staff.reports")

with resources.reading() as session:
    time_zone = platform.billing_time_zone(session)

staff_products_views.reports_page(viewer, time_zone=time_zone)
