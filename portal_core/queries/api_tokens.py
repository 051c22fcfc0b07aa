"""Organization › Access › API Tokens' read side: the organization's tokens in the portal's
table, and one token opened (docs/product.md, Pages › API tokens).

A token's status is read at ``now``: revoked, else expired once its expiry has passed, else
active. Only the roles that manage tokens read them (``API_TOKENS``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, literal
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import User
from portal_core.models.api_tokens import ApiToken
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import Column, ColumnKind, Listing, created_sort
from portal_core.rules.api_tokens import Scope, parsed

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
STATUSES = {ACTIVE: "Active", EXPIRED: "Expired", REVOKED: "Revoked"}
KINDS = {"live": "Live", "test": "Test"}


def scopes_shown(stored: str) -> str:
    return ", ".join(scope.value for scope in Scope if scope in parsed(stored))


def status_of(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    if revoked_at is not None:
        return REVOKED
    if expires_at is not None and expires_at <= now:
        return EXPIRED
    return ACTIVE


def tokens_listing(actor: Actor, *, now: datetime) -> Listing:
    """The organization's tokens, newest first, revoked ones too."""
    require(actor, Capability.API_TOKENS)
    organization_id = require_organization(actor)
    created = col(ApiToken.created_at)
    expires = col(ApiToken.expires_at)
    creator = (
        select(col(User.name))
        .where(col(User.id) == col(ApiToken.created_by_user_id))
        .correlate(ApiToken)
        .scalar_subquery()
    )
    status = case(
        (col(ApiToken.revoked_at).is_not(None), literal(REVOKED)),
        (expires.is_not(None) & (expires <= now), literal(EXPIRED)),
        else_=literal(ACTIVE),
    )
    return Listing(
        noun="API tokens",
        select=select(col(ApiToken.id))
        .select_from(ApiToken)
        .where(col(ApiToken.organization_id) == organization_id),
        key=col(ApiToken.id),
        columns=(
            Column("name", "Name", col(ApiToken.name)),
            Column("key", "Key", col(ApiToken.key), help="Names the token; never the secret."),
            Column("creator", "Created by", creator),
            Column("scopes", "Scopes", col(ApiToken.scopes), formatter=scopes_shown),
            Column(
                "kind",
                "Live or test",
                case((col(ApiToken.test), literal("test")), else_=literal("live")),
                labels=KINDS,
                help="A test token is answered from sample data and never billed.",
            ),
            Column("created_at", "Created", created, ColumnKind.DATETIME),
            Column(
                "last_used_at",
                "Last used",
                col(ApiToken.last_used_at),
                ColumnKind.DATETIME,
                help="Kept to the minute.",
            ),
            Column("expires_at", "Expires", expires, ColumnKind.DATETIME),
            Column("status", "Status", status, ColumnKind.STATUS, labels=STATUSES),
        ),
        sorts=(created_sort(created),),
        default_sort="created",
        default_descending=True,
        empty_message="No API tokens yet.",
    )


@dataclass(frozen=True)
class TokenView:
    id: uuid.UUID
    name: str
    key: str
    creator_name: str | None
    scopes: str
    test: bool
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str


def token(session: Session, actor: Actor, token_id: uuid.UUID, *, now: datetime) -> TokenView:
    """One token of the organization; another organization's is not found."""
    require(actor, Capability.API_TOKENS)
    organization_id = require_organization(actor)
    row = session.execute(
        sa_select(ApiToken, col(User.name))
        .outerjoin(User, col(User.id) == col(ApiToken.created_by_user_id))
        .where(col(ApiToken.id) == token_id, col(ApiToken.organization_id) == organization_id)
    ).first()
    if row is None:
        raise NotFound("That API token was not found.")
    found: ApiToken = row[0]
    return TokenView(
        id=found.id,
        name=found.name,
        key=found.key,
        creator_name=row[1],
        scopes=scopes_shown(found.scopes),
        test=found.test,
        created_at=found.created_at,
        last_used_at=found.last_used_at,
        expires_at=found.expires_at,
        revoked_at=found.revoked_at,
        status=status_of(found.revoked_at, found.expires_at, now),
    )


def has_tokens(session: Session, actor: Actor) -> bool:
    require(actor, Capability.API_TOKENS)
    organization_id = require_organization(actor)
    return (
        session.execute(
            sa_select(col(ApiToken.id))
            .where(col(ApiToken.organization_id) == organization_id)
            .limit(1)
        ).first()
        is not None
    )
