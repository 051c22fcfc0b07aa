"""Organization › Access › Users drawn: the invitation form, the members in the portal's
table, the member opened below it (their role and deactivation, for owners), and the pending
invitations with Resend and Cancel (docs/product.md, Pages › Users).

A member opens from the table or a link carrying ``?member=<id>``. The services check the
role again (``services.members``): an admin who forged a request for the owner role, or a
role change, is refused there too. Deactivation, and a role change to or from owner, ask for
a confirmation first (``ui.confirm``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from portal_core.errors import PortalError, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.base import utcnow
from portal_core.models.payments import ClosingRefundStatus
from portal_core.money import format_cents
from portal_core.permissions import Capability, invitable_roles, role_label
from portal_core.queries import members as member_queries
from portal_core.queries.members import MemberDetail, PendingInvitation
from portal_core.services import closing, members
from portal_core.services.sessions import SessionView
from portal_core.ui import confirm, forms, list_detail, resources
from portal_core.ui.text import markdown_code, markdown_escape

MEMBER_PARAM = "member"
TABLE_KEY = "users.members"
OUTCOME = "users.outcome"  # what the last action did, said once at the top (markdown)
PROBLEM = "users.problem"  # why the last button's action was refused, said once
PENDING = "users.change"  # a deactivation or an owner's role change waiting for its "yes"
INVITE_FORM = "users.invite"


@dataclass(frozen=True)
class _Change:
    """A change to a member waiting to be confirmed (ids and words only)."""

    member_id: uuid.UUID
    name: str
    email: str
    role: Role | None = None  # the new role; None for a deactivation

    @property
    def shown(self) -> str:
        return f"{markdown_escape(self.name)} ({markdown_code(self.email)})"


# --- Heading and inviting ------------------------------------------------------------------


def heading(viewer: SessionView) -> None:
    st.title("Users")
    manages = viewer.actor.can(Capability.USERS_MANAGE)
    st.caption(
        "The members of your organization and the people invited to join it. "
        + (
            "Select a member to change their role or deactivate them."
            if manages
            else "Only an owner changes roles or deactivates a member."
        )
    )
    outcome = st.session_state.pop(OUTCOME, None)
    if outcome:
        st.success(outcome, icon=":material/check_circle:")
    problem = st.session_state.pop(PROBLEM, None)
    if problem:
        st.error(problem, icon=":material/error:")


def invite_form(viewer: SessionView) -> None:
    """E-mail and role (an admin is not offered owner); the link goes out by e-mail."""
    roles = invitable_roles(viewer.actor)
    with st.expander("Invite a member", icon=":material/person_add:"):
        with st.form(INVITE_FORM, clear_on_submit=False):
            errors = forms.FieldErrors()
            email = st.text_input("E-mail", key=f"{INVITE_FORM}.email", autocomplete="off")
            errors.slot("email")
            role = st.selectbox(
                "Role",
                roles,
                index=roles.index(Role.VIEWER),
                format_func=role_label,
                key=f"{INVITE_FORM}.role",
            )
            errors.slot("role")
            errors.general()
            st.caption(
                "They get a link, valid 7 days, to choose their name and password and join "
                "with this role. Inviting an address again replaces its pending invitation."
            )
            submitted = st.form_submit_button(
                "Send invitation", type="primary", icon=":material/send:"
            )
    if submitted:

        def send() -> None:
            with resources.writing() as session:
                members.invite(session, viewer.actor, email, role)

        if forms.attempt(errors, send):
            st.session_state[OUTCOME] = (
                f"Invitation sent to {markdown_code(email.strip().lower())} as {role_label(role)}."
            )
            st.rerun()


# --- The members ---------------------------------------------------------------------------


def members_table(viewer: SessionView) -> None:
    st.subheader("Members")
    list_detail.listing_table(
        member_queries.members_listing(viewer.actor), key=TABLE_KEY, param=MEMBER_PARAM
    )


def opened_member(viewer: SessionView) -> MemberDetail | None:
    return list_detail.opened(
        MEMBER_PARAM,
        lambda session, member_id: member_queries.member_detail(session, viewer.actor, member_id),
        noun="member",
    )


def member_detail(viewer: SessionView, member: MemberDetail) -> None:
    list_detail.detail_heading(
        markdown_escape(member.name),
        close_key="users.member.close",
        param=MEMBER_PARAM,
        table_key=TABLE_KEY,
        forget=(PENDING,),
    )
    st.markdown(
        f"{markdown_code(member.email)} · **{role_label(member.role)}** · "
        f"{member_queries.MEMBER_STATUSES[member.status.value]}"
    )
    last = _when(member.last_sign_in) if member.last_sign_in else "never"
    st.caption(f"Member since {_when(member.created_at)} · last sign-in {last}")
    if not viewer.actor.can(Capability.USERS_MANAGE):
        return
    _role_change(viewer, member)
    _activation(viewer, member)


def _role_change(viewer: SessionView, member: MemberDetail) -> None:
    prefix = f"users.member.{member.id}"
    with st.form(f"{prefix}.role_form", border=False):
        role = st.selectbox(
            "Role",
            invitable_roles(viewer.actor),
            index=invitable_roles(viewer.actor).index(member.role),
            format_func=role_label,
            key=f"{prefix}.role",
        )
        submitted = st.form_submit_button("Change role", icon=":material/badge:")
    if not submitted or role is member.role:
        return
    change = _Change(member.id, member.name, member.email, role=role)
    if Role.OWNER in (role, member.role):
        confirm.ask(PENDING, change)  # to or from owner: said out loud first
        return
    _run(lambda: _apply(viewer, change))
    st.rerun()


def _activation(viewer: SessionView, member: MemberDetail) -> None:
    prefix = f"users.member.{member.id}"
    if member.deactivated:
        st.warning(
            "Deactivated: they cannot log in until an owner reactivates them.",
            icon=":material/block:",
        )
        if st.button("Reactivate", key=f"{prefix}.reactivate", icon=":material/play_circle:"):
            _run(lambda: _reactivate(viewer, member))
            st.rerun()
        return
    if member.id == viewer.user_id:
        st.caption("You cannot deactivate yourself: another owner can.")
        return
    st.button(
        "Deactivate",
        key=f"{prefix}.deactivate",
        icon=":material/block:",
        on_click=confirm.ask,
        args=(PENDING, _Change(member.id, member.name, member.email)),
    )


def confirmations(viewer: SessionView) -> None:
    """The dialog of a deactivation or an owner's role change, while one is asked."""
    change = confirm.asked(PENDING)
    if not isinstance(change, _Change):
        return
    if change.role is None:
        title, label = "Deactivate member", "Deactivate"
        message = (
            f"{change.shown} is logged out everywhere at once and cannot log in until an "
            "owner reactivates them. They are told by e-mail."
        )
    else:
        title, label = "Change role", f"Make {role_label(change.role)}"
        message = (
            f"{change.shown} becomes **{role_label(change.role)}**"
            + (
                ": an owner changes roles, deactivates members and can close the organization."
                if change.role is Role.OWNER
                else " and is no longer an owner."
            )
            + " They are told by e-mail."
        )
    confirm.dialog(
        PENDING,
        title=title,
        message=message,
        confirm_label=label,
        action=lambda: _remember(_apply(viewer, change)),
    )


def _apply(viewer: SessionView, change: _Change) -> str:
    with resources.writing() as session:
        if change.role is None:
            members.set_active(session, viewer.actor, change.member_id, False)
            return f"{change.shown} is deactivated; their sessions have ended."
        members.change_role(session, viewer.actor, change.member_id, change.role)
    return f"{change.shown} is now {role_label(change.role)}."


def _reactivate(viewer: SessionView, member: MemberDetail) -> str:
    with resources.writing() as session:
        members.set_active(session, viewer.actor, member.id, True)
    return (
        f"{markdown_escape(member.name)} ({markdown_code(member.email)}) is reactivated "
        "and can log in again."
    )


# --- Pending invitations -------------------------------------------------------------------


def pending_invitations(viewer: SessionView) -> None:
    with resources.reading() as session:
        pending = member_queries.pending_invitations(session, viewer.actor)
    st.subheader(f"Pending invitations ({len(pending)})")
    if not pending:
        st.caption("No invitation is waiting to be accepted.")
        return
    widths = [4, 1.5, 3, 2.5, 1.3, 1.3]
    for column, label in zip(
        st.columns(widths), ["E-mail", "Role", "Invited by", "Expires", "", ""], strict=True
    ):
        column.caption(label)
    now = utcnow()
    mine = set(invitable_roles(viewer.actor))
    for invitation in pending:
        _invitation_row(viewer, invitation, widths, now=now, may_act=invitation.role in mine)


def _invitation_row(
    viewer: SessionView,
    invitation: PendingInvitation,
    widths: list[float],
    *,
    now: datetime,
    may_act: bool,
) -> None:
    email, role, inviter, expires, resend, cancel = st.columns(widths, vertical_alignment="center")
    email.markdown(markdown_code(invitation.email))
    role.markdown(role_label(invitation.role))
    inviter.markdown(markdown_escape(invitation.invited_by) if invitation.invited_by else "—")
    expires.markdown(
        ":orange[Expired]" if invitation.expired(now) else _when(invitation.expires_at)
    )
    if not may_act:
        return
    prefix = f"users.invitation.{invitation.id}"
    resend.button(
        "Resend",
        key=f"{prefix}.resend",
        on_click=_run,
        args=(lambda: _resend(viewer, invitation),),
        width="stretch",
    )
    cancel.button(
        "Cancel",
        key=f"{prefix}.cancel",
        on_click=_run,
        args=(lambda: _cancel(viewer, invitation),),
        width="stretch",
    )


def _resend(viewer: SessionView, invitation: PendingInvitation) -> str:
    with resources.writing() as session:
        members.resend(session, viewer.actor, invitation.id)
    return f"A new link went to {markdown_code(invitation.email)}; the old one no longer works."


def _cancel(viewer: SessionView, invitation: PendingInvitation) -> str:
    with resources.writing() as session:
        members.cancel(session, viewer.actor, invitation.id)
    return f"The invitation to {markdown_code(invitation.email)} is cancelled."


# --- Shared --------------------------------------------------------------------------------


def _run(action: Callable[[], str]) -> None:
    """Run a button's action; what it did, or why it was refused, is said on the next run."""
    try:
        st.session_state[OUTCOME] = action()
    except PortalError as error:
        st.session_state[PROBLEM] = error.message


def _remember(outcome: str) -> None:
    st.session_state[OUTCOME] = outcome


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- Joining (the public page an invitation's link opens) ----------------------------------

JOINED = "join.joined"  # the link this tab joined with, and the organization's name


def join(viewer: SessionView | None, token: str) -> None:
    """The invitation, then a name, a password and the Terms; or a clear refusal of a link
    that cannot be used (expired, used, cancelled), which writes nothing."""
    st.title("Join your organization")
    joined = st.session_state.get(JOINED)
    if joined and joined[0] == token:
        st.success(
            f"Welcome to {markdown_escape(joined[1])}. Log in with your e-mail and the password "
            "you just chose.",
            icon=":material/check_circle:",
        )
        st.page_link("Home.py", label="Log in", icon=":material/login:")
        return
    if not token:
        st.warning(
            "Open this page from the link in your invitation e-mail.", icon=":material/link_off:"
        )
        return
    try:
        with resources.reading() as session:
            invitation = members.invitation_for(session, token)
    except PortalError as error:
        st.error(error.message, icon=":material/error:")
        st.page_link("Home.py", label="Log in", icon=":material/login:")
        return
    if viewer is not None:
        st.info(
            f"You are logged in as {markdown_code(viewer.email)}. This invitation is for "
            f"{markdown_code(invitation.email)}: log out first to join as them.",
            icon=":material/info:",
        )
        return
    st.write(
        f"**{markdown_escape(invitation.organization_name)}** invites "
        f"{markdown_code(invitation.email)} to the SIPSTACK Partner Portal as "
        f"**{role_label(invitation.role)}**. Choose your name and a password to join."
    )
    _join_form(token, invitation)


def _join_form(token: str, invitation: members.InvitationView) -> None:
    with st.form("join"):
        errors = forms.FieldErrors()
        name = st.text_input("Your name", max_chars=120, autocomplete="name")
        errors.slot("name")
        password = st.text_input(
            "Password",
            type="password",
            autocomplete="new-password",
            help="At least 8 characters. A few unrelated words make a strong password.",
        )
        errors.slot("password")
        repeat = st.text_input("Repeat it", type="password", autocomplete="new-password")
        errors.slot("repeat")
        accepted = st.checkbox("I agree to the Terms of Service")
        errors.slot("accepted_terms")
        st.page_link("pages/terms.py", label="Read the Terms of Service", icon=":material/gavel:")
        errors.general()
        submitted = st.form_submit_button("Join", type="primary")
    if not submitted:
        return

    def accept() -> None:
        if password != repeat:
            raise ValidationFailed({"repeat": "The two passwords differ."})
        with resources.writing() as session:
            members.accept(session, token, members.JoinForm(name, password, accepted))

    if forms.attempt(errors, accept):
        st.session_state[JOINED] = (token, invitation.organization_name)
        st.rerun()


# --- Closing the organization (owners) -----------------------------------------------------

CLOSE_FORM = "users.close"


def danger_zone(viewer: SessionView) -> None:
    """What closing does, said before anything is done; refused while a balance is owing;
    confirmed by typing the organization's name."""
    with resources.reading() as session:
        shown = closing.preview(session, viewer.actor)
    st.divider()
    st.subheader("Danger zone")
    with st.expander("Close the organization", icon=":material/warning:"):
        name = markdown_escape(shown.organization_name)
        if shown.owing_cents:
            st.error(
                f"{name} owes {markdown_escape(format_cents(shown.owing_cents))}: pay it before "
                "closing the organization.",
                icon=":material/block:",
            )
            st.page_link(
                "pages/billing_overview.py",
                label="Add funds in Billing › Overview",
                icon=":material/account_balance_wallet:",
            )
            return
        st.markdown(f"Closing **{name}** cannot be undone. In one go:")
        st.markdown("\n".join(f"1. {markdown_escape(step)}" for step in shown.steps))
        st.markdown(_last_invoice_said(shown))
        st.caption(
            f"Now: a balance of {markdown_escape(format_cents(shown.balance_cents))}, "
            f"{shown.profiles} Whois profiles, {shown.open_disputes} open ownership disputes, "
            f"{shown.members} members, {shown.pending_invitations} pending invitations. "
            "Kept, as billing law requires: the ledger, invoices, credit notes, payments, "
            "refunds and the audit log."
        )
        with st.form(CLOSE_FORM):
            errors = forms.FieldErrors()
            typed = st.text_input(
                "Type the organization's name to confirm",
                key=f"{CLOSE_FORM}.name",
                autocomplete="off",
            )
            errors.slot("name")
            errors.general()
            submitted = st.form_submit_button(
                "Close the organization", type="primary", icon=":material/delete_forever:"
            )
        if not submitted:
            return
        done: list[closing.Closing] = []

        def close() -> None:
            with resources.writing() as session:
                done.append(closing.close_organization(session, viewer.actor, typed))

        if forms.attempt(errors, close):
            _closed(done[0])


def _last_invoice_said(shown: closing.ClosingPreview) -> str:
    """What the last invoice bills, in figures: the whole month's fee (it is not prorated)
    and the usage to date beyond the allowance; taxes are added to both."""
    period = markdown_escape(shown.last_invoice_period)
    fee = markdown_escape(format_cents(shown.last_invoice_fee_cents))
    usage = markdown_escape(format_cents(shown.unbilled_cents))
    if not shown.last_invoice_fee_cents and not shown.unbilled_cents:
        return f"**No last invoice:** there is nothing to bill for {period}."
    said = f"**The last invoice, for {period},** bills "
    if shown.last_invoice_fee_cents:
        said += (
            f"the month's subscription fee in full, {fee}: it is not prorated, so closing "
            "before the month ends does not lower it; "
        )
    else:
        said += "no subscription fee; "
    return said + (
        f"the usage to date beyond your allowance, {usage} so far; and the taxes on them. "
        "It is paid from your balance."
    )


def _closed(done: closing.Closing) -> None:
    """What the closing did, then the balance left going back to the cards (after the
    closing committed: the card processor is asked outside it). Every session of the
    organization, this one too, has ended, so the next page shows the login form."""
    said = list(done.done)
    if done.balance_left_cents > 0:
        with st.spinner("Refunding your balance to your cards…"):
            refunded = closing.refund_balance(resources.engine(), done.organization_id)
        if refunded.refunded_cents:
            said.append(
                f"your balance of {format_cents(refunded.refunded_cents)} refunded to your cards"
            )
        if refunded.left_cents and refunded.status == ClosingRefundStatus.PENDING:
            said.append(
                f"{format_cents(refunded.left_cents)} goes back to your cards as soon as the "
                "card processor answers: it is tried again every few minutes"
            )
        elif refunded.left_cents:
            said.append(f"{format_cents(refunded.left_cents)} SIPSTACK's staff will refund to you")
    st.success(
        f"{markdown_escape(done.organization_name)} is closed: "
        + markdown_escape("; ".join(said))
        + ". You are logged out.",
        icon=":material/check_circle:",
    )
    st.page_link("Home.py", label="Done", icon=":material/logout:")
    st.stop()
