"""What SIPSTACK staff do across organizations; every action is audited
(docs/product.md, Who uses it).

Staff act through these services only (no impersonation): each checks the staff capability
itself, so a partner calling one directly gets "not allowed".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, select

from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.models.accounts import (
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
)
from portal_core.models.base import utcnow
from portal_core.permissions import Actor, Capability, require
from portal_core.services import audit, sessions
from portal_core.services.passwords import hash_password, password_problem
from portal_core.services.validation import email_problem, normalize_email, text_problem


def create_staff(
    session: Session, email: str, name: str, password: str, *, now: datetime | None = None
) -> uuid.UUID:
    """A SIPSTACK staff user (the ``create-staff`` command); staff belong to no organization."""
    now = now or utcnow()
    errors = {
        field: problem
        for field, problem in {
            "email": email_problem(email),
            "name": text_problem(name, label="a name", max_length=120),
            "password": password_problem(password, user_inputs=(email, name)),
        }.items()
        if problem
    }
    if errors:
        raise ValidationFailed(errors)
    normalized = normalize_email(email)
    if session.exec(select(User).where(User.email == normalized)).first() is not None:
        raise Conflict(f"{normalized} already has an account.")
    user = User(
        email=normalized,
        name=name.strip(),
        password_hash=hash_password(password),
        role=Role.STAFF,
        organization_id=None,
        status=UserStatus.ACTIVE,
        email_verified_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    audit.record(session, "staff.created", subject=normalized)
    session.flush()
    return user.id


def set_user_active(
    session: Session, actor: Actor, user_id: uuid.UUID, active: bool, *, reason: str
) -> None:
    """Deactivate (ending every session) or reactivate a partner user."""
    require(actor, Capability.STAFF)
    _require_reason(reason)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That user was not found.")
    if user.role == Role.STAFF:
        raise Conflict("Staff accounts are managed by SIPSTACK's administrators, not here.")
    now = utcnow()
    if active:
        user.status = UserStatus.ACTIVE if user.email_verified_at else UserStatus.UNVERIFIED
    else:
        user.status = UserStatus.DEACTIVATED
        sessions.end_user_sessions(session, user.id, reason="deactivated", now=now)
    user.updated_at = now
    session.add(user)
    audit.record(
        session,
        "user.reactivated" if active else "user.deactivated",
        actor=actor,
        organization_id=user.organization_id,
        subject=user.email,
        detail=reason.strip(),
    )


def set_organization_active(
    session: Session, actor: Actor, organization_id: uuid.UUID, active: bool, *, reason: str
) -> None:
    """Deactivate an organization (all its users' sessions end) or reactivate it."""
    require(actor, Capability.STAFF)
    _require_reason(reason)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("That organization was not found.")
    now = utcnow()
    organization.status = OrganizationStatus.ACTIVE if active else OrganizationStatus.DEACTIVATED
    organization.updated_at = now
    session.add(organization)
    if not active:
        members = session.exec(select(User.id).where(User.organization_id == organization.id))
        for member_id in members.all():
            sessions.end_user_sessions(
                session, member_id, reason="organization_deactivated", now=now
            )
    audit.record(
        session,
        "organization.reactivated" if active else "organization.deactivated",
        actor=actor,
        organization_id=organization.id,
        subject=organization.name,
        detail=reason.strip(),
    )


def _require_reason(reason: str) -> None:
    if problem := text_problem(reason, label="a reason", max_length=300):
        raise ValidationFailed({"reason": problem})
