"""The audit log: sign-ins, failures, security changes and every staff action."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from portal_core.models.base import created_at_field, uuid_pk


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        # The audit log, everyone's and one organization's: each sort and filter from an index.
        Index("ix_audit_events_action_at", "action", "created_at", "id"),
        Index("ix_audit_events_created", "created_at", "id"),
        Index("ix_audit_events_org_created", "organization_id", "created_at", "id"),
        Index("ix_audit_events_org_action", "organization_id", "action", "created_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    created_at: datetime = created_at_field()
    action: str = Field(max_length=60)
    actor_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", index=True)
    actor_email: str | None = Field(default=None, max_length=254)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organizations.id", index=True
    )
    subject: str | None = Field(default=None, max_length=254)
    ip_address: str | None = Field(default=None, max_length=45)
    detail: str | None = Field(default=None, max_length=500)
