"""Who is signed in, and the single-use links sent by e-mail.

A browser's session is a row here (docs/architecture.md, rule 7): the cookie carries a random
handle, the table keeps only its SHA-256, and a session is alive while the row says so. Logging
out, changing the password or deactivating the user ends rows, so a copied cookie stops working.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, String
from sqlmodel import Field, SQLModel

from portal_core.models.base import (
    UTCDateTime,
    created_at_field,
    optional_time_field,
    utcnow,
    uuid_pk,
)


class LoginSession(SQLModel, table=True):
    __tablename__ = "sessions"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    handle_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = optional_time_field()
    ended_reason: str | None = Field(default=None, max_length=40)
    ip_address: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=300)


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    CHANGE_EMAIL = "change_email"


class EmailToken(SQLModel, table=True):
    """A single-use, expiring link; only the SHA-256 of its secret is stored."""

    __tablename__ = "email_tokens"
    __table_args__ = (Index("ix_email_tokens_user_purpose", "user_id", "purpose", "created_at"),)

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="users.id")
    purpose: TokenPurpose = Field(sa_type=String(20))
    token_hash: str = Field(max_length=64, unique=True)
    new_email: str | None = Field(default=None, max_length=254)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = optional_time_field()


class LoginFailure(SQLModel, table=True):
    """One failed sign-in; the throttle counts recent rows per e-mail and per address."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_at", "email", "at"),
        Index("ix_login_failures_ip_at", "ip_address", "at"),
    )

    id: uuid.UUID = uuid_pk()
    email: str = Field(max_length=254)
    ip_address: str = Field(max_length=45)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class RecoveryCode(SQLModel, table=True):
    """One of a member's single-use two-factor recovery codes, kept only as a keyed digest."""

    __tablename__ = "recovery_codes"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    code_digest: str = Field(max_length=64)
    # The fingerprint of the token key the digest was made under (``secrets``): what tells
    # whether an older key may leave ``TOKEN_KEYS``. None for codes made before it was kept.
    digest_key: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = optional_time_field()


class Invitation(SQLModel, table=True):
    """An e-mailed invitation to join an organization with a role (Organization › Access ›
    Users): a single-use link, kept only as the SHA-256 of its secret, that expires.

    It is *pending* until it is accepted, cancelled or replaced (a resend, or a new invitation
    to the same address, cancels it and makes a new one: the old link is dead)."""

    __tablename__ = "invitations"
    __table_args__ = (
        # The Users page's pending invitations, newest first; the address's own, to replace.
        Index("ix_invitations_org_created", "organization_id", "created_at", "id"),
        Index("ix_invitations_org_email", "organization_id", "email"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    # Stored normalized, as users.email is: an account's address is compared the same way.
    email: str = Field(max_length=254)
    role: str = Field(sa_type=String(20))
    token_hash: str = Field(max_length=64, unique=True)
    invited_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    accepted_at: datetime | None = optional_time_field()
    cancelled_at: datetime | None = optional_time_field()
