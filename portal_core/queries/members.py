"""An organization's members: who of them hears of something, and the Users page's lists.

Every e-mail and notice about an organization's money or products goes to its active members
whose role holds the capability that would let them open the page it describes
(``permissions.roles_with``), never to the others: a viewer receives no invoice totals.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table, func, select
from sqlmodel import Session, col

from portal_core.errors import NotFound
from portal_core.models.access import Invitation, LoginSession
from portal_core.models.accounts import Role, User, UserStatus
from portal_core.permissions import (
    PARTNER_ROLE_ORDER,
    Actor,
    Capability,
    require,
    require_organization,
    role_label,
    roles_with,
)
from portal_core.queries.listing import (
    ChoiceFilter,
    Column,
    ColumnKind,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
)

_users = cast(Table, User.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    email: str
    name: str
    role: str
    notify_invoices: bool
    notify_disputes: bool = True
    notify_reputation: bool = True


def members_who_may(
    target: Session | Connection,
    organization_id: uuid.UUID,
    capability: Capability,
    *,
    among: tuple[Role, ...] | None = None,
) -> list[Member]:
    """The organization's active members whose role holds ``capability`` (and is one of
    ``among``, for mail meant for fewer people than may see it), oldest first."""
    roles = [role for role in roles_with(capability) if among is None or role in among]
    users = _users.c
    query = (
        select(
            users.id,
            users.email,
            users.name,
            users.role,
            users.notify_invoices,
            users.notify_disputes,
            users.notify_reputation,
        )
        .where(
            users.organization_id == organization_id,
            users.status == UserStatus.ACTIVE.value,
            users.role.in_([role.value for role in roles]),
        )
        .order_by(users.created_at, users.id)
    )
    rows = target.execute(query).all()
    return [
        Member(
            row.id,
            row.email,
            row.name,
            str(row.role),
            bool(row.notify_invoices),
            bool(row.notify_disputes),
            bool(row.notify_reputation),
        )
        for row in rows
    ]


# --- Organization › Access › Users -------------------------------------------------------

MEMBER_STATUSES: dict[str, str] = {
    UserStatus.ACTIVE.value: "Active",
    UserStatus.UNVERIFIED.value: "Unverified",
    UserStatus.DEACTIVATED.value: "Deactivated",
}
ROLE_LABELS: dict[str, str] = {role.value: role_label(role) for role in PARTNER_ROLE_ORDER}

# A member's last sign-in: their newest login session (sessions are kept after they end).
_LAST_SIGN_IN = (
    select(func.max(col(LoginSession.created_at)))
    .where(col(LoginSession.user_id) == col(User.id))
    .correlate(User)
    .scalar_subquery()
)


def members_listing(actor: Actor) -> Listing:
    """The organization's members for the shared table: search, role, status; newest first."""
    require(actor, Capability.USERS_INVITE)
    organization_id = require_organization(actor)
    return Listing(
        noun="members",
        select=select(col(User.id))
        .select_from(User)
        .where(col(User.organization_id) == organization_id),
        key=col(User.id),
        columns=(
            Column("name", "Name", col(User.name)),
            Column("email", "E-mail", col(User.email)),
            Column("role", "Role", col(User.role), ColumnKind.STATUS, labels=ROLE_LABELS),
            Column("status", "Status", col(User.status), ColumnKind.STATUS, labels=MEMBER_STATUSES),
            Column(
                "last_sign_in",
                "Last sign-in",
                _LAST_SIGN_IN,
                ColumnKind.DATETIME,
                help="When they last logged in; empty if they never have.",
            ),
            Column("created_at", "Member since", col(User.created_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(User.created_at)),
            Sort("name", "Name", col(User.name)),
            Sort("last_sign_in", "Last sign-in", _LAST_SIGN_IN),
        ),
        default_sort="created",
        default_descending=False,
        filters=(
            TextFilter(
                "search",
                "Name or e-mail",
                (col(User.name), col(User.email)),
                placeholder="Part of a name or an address",
            ),
            ChoiceFilter("role", "Role", equal_choices(col(User.role), ROLE_LABELS)),
            ChoiceFilter("status", "Status", equal_choices(col(User.status), MEMBER_STATUSES)),
        ),
        empty_message="Your organization has no members yet.",
    )


@dataclass(frozen=True)
class MemberDetail:
    """One member, as the Users page opens them."""

    id: uuid.UUID
    name: str
    email: str
    role: Role
    status: UserStatus
    created_at: datetime
    last_sign_in: datetime | None

    @property
    def deactivated(self) -> bool:
        return self.status is UserStatus.DEACTIVATED


def member_detail(session: Session, actor: Actor, user_id: uuid.UUID) -> MemberDetail:
    require(actor, Capability.USERS_INVITE)
    row = session.execute(
        select(User, _LAST_SIGN_IN).where(
            col(User.id) == user_id, col(User.organization_id) == require_organization(actor)
        )
    ).first()
    if row is None:
        raise NotFound("That member was not found in your organization.")
    user, last_sign_in = row
    return MemberDetail(
        id=user.id,
        name=user.name,
        email=user.email,
        role=Role(user.role),
        status=UserStatus(user.status),
        created_at=user.created_at,
        last_sign_in=last_sign_in,
    )


@dataclass(frozen=True)
class PendingInvitation:
    id: uuid.UUID
    email: str
    role: Role
    invited_by: str | None
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


def pending_invitations(session: Session, actor: Actor) -> list[PendingInvitation]:
    """The organization's invitations neither accepted nor cancelled (expired ones too, so
    they can be sent again), newest first."""
    require(actor, Capability.USERS_INVITE)
    rows = session.execute(
        select(Invitation, col(User.name))
        .outerjoin(User, col(User.id) == col(Invitation.invited_by))
        .where(
            col(Invitation.organization_id) == require_organization(actor),
            col(Invitation.accepted_at).is_(None),
            col(Invitation.cancelled_at).is_(None),
        )
        .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc())
    ).all()
    return [
        PendingInvitation(
            id=invitation.id,
            email=invitation.email,
            role=Role(invitation.role),
            invited_by=inviter,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
        )
        for invitation, inviter in rows
    ]
