"""Writing to the audit log (reading it is ``queries.audit``)."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from portal_core.models.audit import AuditEvent
from portal_core.models.base import utcnow
from portal_core.permissions import Actor


def record(
    session: Session,
    action: str,
    *,
    actor: Actor | None = None,
    organization_id: uuid.UUID | None = None,
    subject: str | None = None,
    ip_address: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            created_at=utcnow(),
            action=action,
            actor_user_id=actor.user_id if actor else None,
            actor_email=actor.email if actor else None,
            organization_id=organization_id
            if organization_id
            else (actor.organization_id if actor else None),
            subject=subject,
            ip_address=ip_address,
            detail=detail[:500] if detail else None,
        )
    )
