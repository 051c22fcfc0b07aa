"""API tokens: how a program calls the REST API for an organization
(docs/product.md, Pages › API tokens).

A token belongs to its organization, not to the member who created it, so a call flow keeps
working when that member leaves. The secret is never stored: only its HMAC under the
portal's key (``secret_digest``), so a leaked table gives no caller away. A name is unique
within the organization among its unrevoked tokens (a partial UNIQUE index), so a revoked
token's name can be given again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from portal_core.models.base import UTCDateTime, optional_time_field, uuid_pk

KEY_WIDTH = 25  # "ssk_live_" and 16 characters
NAME_WIDTH = 60


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (
        Index(
            "ux_api_tokens_live_name",
            "organization_id",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        # The page's list, newest first.
        Index("ix_api_tokens_org_created", "organization_id", "created_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    created_by_user_id: uuid.UUID = Field(foreign_key="users.id")
    name: str = Field(max_length=NAME_WIDTH)
    key: str = Field(max_length=KEY_WIDTH, unique=True)
    secret_digest: str = Field(max_length=64)
    # The fingerprint of the token key the digest was made under
    # (``secrets.token_key_fingerprints``); None for a token minted before the portal kept it,
    # until its next use moves it under the newest key.
    digest_key: str | None = Field(default=None, max_length=16)
    scopes: str = Field(max_length=200)  # Scope values, comma-joined
    test: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = optional_time_field()
    last_used_at: datetime | None = optional_time_field()
    revoked_at: datetime | None = optional_time_field()
    revoked_by_user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
