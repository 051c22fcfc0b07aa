"""Server-side sessions (docs/architecture.md, rule 7): the database decides whether a session
is alive.

A session is a random handle given to the browser (inside the login cookie) and kept here
only as its SHA-256. It is alive while it has not ended, has not expired, its user is not
deactivated and the user's organization is not deactivated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from portal_core.models.access import LoginSession
from portal_core.models.accounts import (
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
)
from portal_core.models.base import utcnow
from portal_core.permissions import Actor
from portal_core.services.secrets import digest, new_secret
from portal_core.settings import get_settings

LAST_SEEN_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class SessionView:
    """What a page needs to know about who is signed in, read once per run."""

    handle: str
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    user_status: UserStatus
    organization_id: uuid.UUID | None
    organization_name: str | None
    organization_active: bool
    dark_mode: bool
    last_seen_at: datetime
    two_factor_enabled: bool = False
    # The organization requires two-factor sign-in (docs/product.md, Account life cycle).
    two_factor_required: bool = False

    @property
    def two_factor_missing(self) -> bool:
        """Whether the organization requires a second step that this member has not set up."""
        return self.two_factor_required and not self.two_factor_enabled

    @property
    def actor(self) -> Actor:
        return Actor(
            user_id=self.user_id,
            email=self.email,
            role=self.role,
            organization_id=self.organization_id,
        )

    @property
    def is_staff(self) -> bool:
        return self.role == Role.STAFF

    @property
    def verified(self) -> bool:
        return self.user_status == UserStatus.ACTIVE

    def seen_long_ago(self, now: datetime | None = None) -> bool:
        """Whether ``touch`` should record activity (at most every few minutes)."""
        return self.last_seen_at + LAST_SEEN_RESOLUTION <= (now or utcnow())


def start_session(
    session: Session,
    user_id: uuid.UUID,
    *,
    ip_address: str | None,
    user_agent: str | None,
    now: datetime | None = None,
) -> str:
    """Open a session and return its handle (shown to the browser once, never stored)."""
    now = now or utcnow()
    handle = new_secret()
    session.add(
        LoginSession(
            user_id=user_id,
            handle_hash=digest(handle),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=get_settings().cookie_expiry_days),
            ip_address=(ip_address or "")[:45] or None,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return handle


def resolve(session: Session, handle: str, *, now: datetime | None = None) -> SessionView | None:
    """The live session behind ``handle``, or None if it ended, expired or was never ours."""
    now = now or utcnow()
    row = session.exec(
        select(LoginSession, User, Organization)
        .join(User, col(User.id) == LoginSession.user_id)
        .outerjoin(Organization, col(Organization.id) == User.organization_id)
        .where(LoginSession.handle_hash == digest(handle))
    ).first()
    if row is None:
        return None
    login, user, organization = row
    idle_limit = timedelta(days=get_settings().session_idle_days)
    if (
        login.ended_at is not None
        or login.expires_at <= now
        or login.last_seen_at + idle_limit <= now
        or user.status == UserStatus.DEACTIVATED
        or (organization is not None and organization.status == OrganizationStatus.DEACTIVATED)
    ):
        return None
    return SessionView(
        handle=handle,
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        user_status=UserStatus(user.status),
        organization_id=user.organization_id,
        organization_name=organization.name if organization else None,
        organization_active=organization is not None and organization.activated_at is not None,
        dark_mode=user.dark_mode,
        last_seen_at=login.last_seen_at,
        two_factor_enabled=user.two_factor_enabled_at is not None,
        two_factor_required=organization is not None and organization.require_two_factor,
    )


def touch(session: Session, handle: str, *, now: datetime | None = None) -> None:
    """Record activity, at most every few minutes (the idle limit reads it)."""
    now = now or utcnow()
    session.execute(
        update(LoginSession)
        .where(col(LoginSession.handle_hash) == digest(handle))
        .where(col(LoginSession.last_seen_at) <= now - LAST_SEEN_RESOLUTION)
        .values(last_seen_at=now)
    )


def end_session(
    session: Session, handle: str, *, reason: str = "logout", now: datetime | None = None
) -> None:
    session.execute(
        update(LoginSession)
        .where(col(LoginSession.handle_hash) == digest(handle))
        .where(col(LoginSession.ended_at).is_(None))
        .values(ended_at=now or utcnow(), ended_reason=reason)
    )


def end_user_sessions(
    session: Session,
    user_id: uuid.UUID,
    *,
    reason: str,
    now: datetime | None = None,
    except_handle: str | None = None,
) -> int:
    """End every live session of a user (but one, if given); returns how many ended."""
    statement = (
        update(LoginSession)
        .where(col(LoginSession.user_id) == user_id)
        .where(col(LoginSession.ended_at).is_(None))
        .values(ended_at=now or utcnow(), ended_reason=reason)
    )
    if except_handle is not None:
        statement = statement.where(col(LoginSession.handle_hash) != digest(except_handle))
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def live_session_count(session: Session, user_id: uuid.UUID, *, now: datetime | None = None) -> int:
    now = now or utcnow()
    rows = session.exec(
        select(LoginSession.id)
        .where(LoginSession.user_id == user_id)
        .where(col(LoginSession.ended_at).is_(None))
        .where(LoginSession.expires_at > now)
    ).all()
    return len(rows)
