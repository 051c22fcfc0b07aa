"""Who of an organization hears of something: its active members whose role may see it.

Every e-mail and notice about an organization's money or products goes to the members whose
role holds the capability that would let them open the page it describes
(``permissions.roles_with``), never to the others: a viewer receives no invoice totals.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, select
from sqlmodel import Session

from portal_core.models.accounts import Role, User, UserStatus
from portal_core.permissions import Capability, roles_with

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
