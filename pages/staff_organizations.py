"""Staff › Organizations: every partner organization; open one to see and manage its users."""

from portal_core.ui import shell, staff_views

viewer = shell.open_page("staff.organizations")

staff_views.organizations(viewer)
