"""Staff › Audit log: sign-ins, failures, security changes and every staff action."""

from portal_core.ui import shell, staff_views

viewer = shell.open_page("staff.audit_log")

staff_views.audit_log(viewer)
