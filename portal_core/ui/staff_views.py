"""Staff screens: Organizations (staff land on it at "/", and Staff › Organizations) and the
audit log.

An organization opens below the list when its row is selected, or from a link that carries
``?organization=<id>``; the query parameter is the one record of which organization is open,
so the link can be shared. Deactivating or reactivating a user or an organization, and
resetting a member's two-factor sign-in (phone and recovery codes lost), ask for a reason in a
confirmation dialog (``confirm.dialog_with_reason``), then call ``services.staff`` or
``services.two_factor`` (which check the role again and write the audit event).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from portal_core.errors import NotFound
from portal_core.money import format_cents
from portal_core.queries import staff as staff_queries
from portal_core.queries.staff import Member, OrganizationDetail
from portal_core.services import staff as staff_services
from portal_core.services import two_factor
from portal_core.services.sessions import SessionView
from portal_core.ui import confirm, list_detail, resources, table
from portal_core.ui.text import markdown_code, markdown_escape

ORGANIZATION_PARAM = "organization"
_ORGANIZATIONS_TABLE = "staff.organizations"
_ORGANIZATION_AUDIT_TABLE = "staff.organization_audit"
_AUDIT_TABLE = "staff.audit_log"
# The change waiting for its confirmation; its dialog's buttons are keyed from it
# ("staff.change.confirm", "staff.change.cancel").
_PENDING = "staff.change"
_DONE = "staff.change_done"  # the last change's result, shown once


@dataclass(frozen=True)
class _Change:
    """A deactivation or reactivation, or a two-factor reset, waiting to be confirmed (ids
    only, no ORM objects)."""

    target: str  # "user", "organization" or "two_factor" (a user's)
    id: uuid.UUID
    name: str
    activate: bool
    email: str | None = None  # a user's

    @property
    def shown(self) -> str:
        """Who or what, as markdown: the name as typed, and a user's e-mail address."""
        name = markdown_escape(self.name)
        return f"{name} ({markdown_code(self.email)})" if self.email else name

    @property
    def verb(self) -> str:
        if self.target == "two_factor":
            return "Reset"
        return "Reactivate" if self.activate else "Deactivate"

    @property
    def title(self) -> str:
        if self.target == "two_factor":
            return "Reset two-factor sign-in"
        return f"{self.verb} {self.target}"

    @property
    def reason_key(self) -> str:
        return f"staff.change.{self.target}.{self.id}.{self.verb.lower()}.reason"


def organizations(viewer: SessionView) -> None:
    st.title("Organizations")
    st.caption("Every partner organization. Select a row to see its users and act on it.")
    list_detail.listing_table(
        staff_queries.organizations(viewer.actor),
        key=_ORGANIZATIONS_TABLE,
        param=ORGANIZATION_PARAM,
    )
    raw = st.query_params.get(ORGANIZATION_PARAM)
    if raw:
        try:
            organization_id = uuid.UUID(raw)
        except ValueError:
            st.warning("That link does not name an organization.", icon=":material/link_off:")
        else:
            _organization(viewer, organization_id)
    change = confirm.asked(_PENDING)
    if isinstance(change, _Change):
        confirm.dialog_with_reason(
            _PENDING,
            title=change.title,
            message=_consequence(change),
            confirm_label=change.verb,
            action=lambda reason: _apply(viewer, change, reason),
            reason_key=change.reason_key,
            on_done=_remember_outcome,
        )


def audit_log(viewer: SessionView) -> None:
    st.title("Audit log")
    st.caption(
        "Sign-ins and failed sign-ins, password and e-mail changes, deactivations and every "
        "staff action. Times are in UTC."
    )
    table.data_table(staff_queries.audit_log(viewer.actor), key=_AUDIT_TABLE)


# --- One organization ----------------------------------------------------------------------


def _organization(viewer: SessionView, organization_id: uuid.UUID) -> None:
    try:
        with resources.reading() as session:
            detail = staff_queries.organization_detail(session, viewer.actor, organization_id)
    except NotFound as error:
        st.warning(error.message, icon=":material/search_off:")
        return
    list_detail.detail_heading(
        markdown_escape(detail.name),
        close_key="staff.organization.close",
        param=ORGANIZATION_PARAM,
        table_key=_ORGANIZATIONS_TABLE,
        forget=(_PENDING,),
        outcome_key=_DONE,
    )
    _organization_facts(detail)
    _organization_action(detail)
    _members(detail)
    st.markdown("#### Activity")
    table.data_table(
        staff_queries.audit_log(viewer.actor, organization_id=detail.id),
        key=_ORGANIZATION_AUDIT_TABLE,
    )


def _organization_facts(detail: OrganizationDetail) -> None:
    st.caption(f"{detail.state_label} · created {_when(detail.created_at)}")
    place = ", ".join(
        part
        for part in (
            detail.address_line,
            detail.city,
            detail.province,
            detail.postal_code,
            detail.country,
        )
        if part
    )
    company, where, when = st.columns(3)
    _fact(company, "Legal name", detail.legal_name)
    _fact(company, "Brand name", detail.brand_name)
    _fact(company, "Tax ID", detail.tax_id)
    _fact(where, "Address", place)
    _brand_domains(where, detail.domains)
    _fact(when, "Activated", _when(detail.activated_at) if detail.activated_at else None)
    _fact(when, "Last updated", _when(detail.updated_at))
    balance, available, credit = st.columns(3)
    balance.metric("Balance", format_cents(detail.funds.balance_cents), border=True)
    available.metric("Available funds", format_cents(detail.funds.available_cents), border=True)
    credit.metric("Credit limit", format_cents(detail.funds.credit_limit_cents), border=True)


def _fact(where: DeltaGenerator, label: str, value: str | None) -> None:
    where.markdown(f"**{label}**  \n{markdown_escape(value) if value else '—'}")


def _brand_domains(where: DeltaGenerator, domains: list[staff_queries.BrandDomainState]) -> None:
    """Each domain with its status: a pending one may be why the carrier score is low."""
    lines = [
        f"{markdown_escape(domain.domain)} · {'verified' if domain.verified else 'pending'} · "
        + (
            f"last checked {_when(domain.last_checked_at)}"
            if domain.last_checked_at
            else "not checked yet"
        )
        for domain in domains
    ]
    where.markdown("**Brand domains**  \n" + ("  \n".join(lines) if lines else "—"))


def _organization_action(detail: OrganizationDetail) -> None:
    change = _Change("organization", detail.id, detail.name, activate=detail.deactivated)
    if detail.deactivated:
        st.warning(
            "This organization is deactivated: none of its users can sign in.",
            icon=":material/block:",
        )
    st.button(
        f"{change.verb} organization",
        key="staff.organization.toggle",
        icon=":material/play_circle:" if change.activate else ":material/block:",
        on_click=confirm.ask,
        args=(_PENDING, change),
    )


def _members(detail: OrganizationDetail) -> None:
    st.markdown(f"#### Users ({len(detail.members)})")
    if not detail.members:
        st.info("This organization has no users.", icon=":material/group_off:")
        return
    widths = [3, 4, 1.5, 1.5, 2, 1.6]
    for column, label in zip(
        st.columns(widths), ["Name", "E-mail", "Role", "Status", "Created", ""], strict=True
    ):
        column.caption(label)
    for member in detail.members:
        _member_row(member, widths)


def _member_row(member: Member, widths: list[float]) -> None:
    name, email, role, status, created, action = st.columns(widths, vertical_alignment="center")
    name.markdown(markdown_escape(member.name))
    email.markdown(markdown_code(member.email))
    role.markdown(member.role.value.title())
    status.markdown(member.status.value.title())
    created.markdown(_when(member.created_at))
    change = _Change(
        "user", member.id, member.name, activate=member.deactivated, email=member.email
    )
    action.button(
        change.verb,
        key=f"staff.user.{member.id}.toggle",
        on_click=confirm.ask,
        args=(_PENDING, change),
        width="stretch",
    )
    if member.two_factor_on:
        reset = _Change("two_factor", member.id, member.name, activate=False, email=member.email)
        action.button(
            "Reset two-factor",
            key=f"staff.user.{member.id}.two_factor_reset",
            help="For a member who lost their phone and their recovery codes.",
            on_click=confirm.ask,
            args=(_PENDING, reset),
            width="stretch",
        )


# --- Confirming a change -------------------------------------------------------------------


def _apply(viewer: SessionView, change: _Change, reason: str) -> str:
    with resources.writing() as session:
        if change.target == "user":
            staff_services.set_user_active(
                session, viewer.actor, change.id, change.activate, reason=reason
            )
        elif change.target == "two_factor":
            two_factor.reset_by_staff(session, viewer.actor, change.id, reason=reason)
        else:
            staff_services.set_organization_active(
                session, viewer.actor, change.id, change.activate, reason=reason
            )
    return _outcome(change)


def _remember_outcome(outcome: str) -> None:
    st.session_state[_DONE] = outcome


def _consequence(change: _Change) -> str:
    name = f"**{change.shown}**"
    if change.target == "two_factor":
        return (
            f"Two-factor sign-in is turned off for {name}: their authenticator app and recovery "
            "codes stop working, every session of theirs ends, and they are e-mailed. If their "
            "organization requires it, they must set it up again before anything but My Profile."
        )
    if change.target == "user":
        if change.activate:
            return f"{name} will be able to sign in again."
        return f"{name} is signed out everywhere at once and cannot sign in until reactivated."
    if change.activate:
        return f"The users of {name} will be able to sign in again."
    return (
        f"Every user of {name} is signed out at once, and none can sign in until the "
        "organization is reactivated."
    )


def _outcome(change: _Change) -> str:
    """What was done, as markdown (it is shown by ``list_detail.detail_heading``)."""
    if change.target == "two_factor":
        return f"Two-factor sign-in is off for {change.shown}; their sessions have ended."
    if change.target == "user":
        if change.activate:
            return f"{change.shown} is reactivated and can sign in again."
        return f"{change.shown} is deactivated; their sessions have ended."
    if change.activate:
        return f"{change.shown} is reactivated."
    return f"{change.shown} is deactivated; its users' sessions have ended."


# --- Text ----------------------------------------------------------------------------------


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
