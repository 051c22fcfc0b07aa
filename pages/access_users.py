"""Organization › Access › Users: invite a member by e-mail with a role; the members in the
portal's table; a member opened below it (their role and deactivation, for owners); the
pending invitations with Resend and Cancel; for owners, the danger zone that closes the
organization (docs/product.md, Pages › Users)."""

from portal_core.permissions import Capability
from portal_core.ui import shell, users_views

viewer = shell.open_page("access.users")

users_views.heading(viewer)
users_views.invite_form(viewer)
users_views.members_table(viewer)
member = users_views.opened_member(viewer)
if member is not None:
    users_views.member_detail(viewer, member)
users_views.pending_invitations(viewer)
if viewer.actor.can(Capability.USERS_MANAGE):
    users_views.confirmations(viewer)
    users_views.danger_zone(viewer)
