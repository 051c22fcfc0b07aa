"""API tokens: minting, revoking, and who an API call acts for
(docs/product.md, Pages › API tokens).

``create`` mints a token for the actor's organization with the scopes the actor's role may
grant, and shows its secret once: the database keeps only the secret's HMAC under the newest
token key (``secrets.keyed_digest``), never the secret; a token minted under an older key
still listed in ``TOKEN_KEYS`` keeps working, and is moved under the newest key when next used
(written with its last use; ``key_standing`` counts the live tokens under each key).
``authenticate`` runs on every
API call, so it is one indexed read by key in SQLAlchemy Core and writes nothing; the time a
token was last used is buffered in the process (``note_used``) and written by the scheduler's
``api_tokens.flush`` (``flush_last_used``), at most once a minute per token.

A token belongs to its organization: the member who created it may leave and its call flows
keep working. A revoked token is refused from the next call on.
"""

from __future__ import annotations

import base64
import binascii
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Engine, Select, Table, Update, bindparam, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import db, emails
from portal_core.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from portal_core.mail import send_after_commit
from portal_core.models.accounts import Organization, OrganizationStatus, Role, User, UserStatus
from portal_core.models.api_tokens import NAME_WIDTH, ApiToken
from portal_core.models.base import utcnow
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.members import members_who_may
from portal_core.rules import api_tokens as rules
from portal_core.rules.api_tokens import Scope
from portal_core.services import audit
from portal_core.services.secrets import (
    KeyStanding,
    keyed_digest,
    keyed_digest_key,
    matches_keyed_digest,
    token_key_fingerprints,
)
from portal_core.services.validation import normalize_email, text_problem

__all__ = [
    "Caller",
    "NewToken",
    "Scope",
    "authenticate",
    "create",
    "create_for_member",
    "flush_last_used",
    "key_standing",
    "note_used",
    "revoke",
    "revoke_by_key",
    "split_credentials",
]

MAX_EXPIRY_DAYS = 3650
# The secret's digest is bound to this use of the portal's key, apart from any other.
_DIGEST_CONTEXT = "api-token"
_REFUSED = "Unknown API key or wrong secret."
_TOKEN_CHARACTERS = frozenset(rules.BASE62 + "_")

_tokens = cast(Table, ApiToken.__table__)  # type: ignore[attr-defined]
_organizations = cast(Table, Organization.__table__)  # type: ignore[attr-defined]
_users = cast(Table, User.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Caller:
    """Who an API call acts for: a token of an organization, and what it may do."""

    token_id: uuid.UUID
    token_name: str
    key: str
    organization_id: uuid.UUID
    scopes: frozenset[Scope]
    test: bool
    actor: Actor


@dataclass(frozen=True)
class NewToken:
    """A token just minted; ``secret`` exists only here, shown once."""

    token: ApiToken
    secret: str

    @property
    def key(self) -> str:
        return self.token.key

    @property
    def bearer(self) -> str:
        return f"{self.token.key}.{self.secret}"


def secret_digest(secret: str) -> str:
    return keyed_digest(secret, context=_DIGEST_CONTEXT)


def secret_matches(stored_digest: str, secret: str) -> bool:
    """Whether ``secret`` is the one whose digest was stored, under any token key."""
    return matches_keyed_digest(stored_digest, secret, context=_DIGEST_CONTEXT)


# --- Who calls ------------------------------------------------------------------------------


def split_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(key, secret)`` from an Authorization header, ``Bearer KEY.SECRET`` or
    ``Basic base64(KEY:SECRET)``; ``None`` when it is absent or garbled."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        key, dot, secret = value.partition(".")
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            return None
        key, dot, secret = decoded.partition(":")
    else:
        return None
    if not dot or not _token_text(key) or not _token_text(secret):
        return None
    return key, secret


def _token_text(text: str) -> bool:
    return (
        bool(text)
        and len(text) <= 64
        and all(c.isascii() and (c.isalnum() or c == "_") for c in text)
    )


def authenticate(target: Connection | Session, key: str, secret: str, *, now: datetime) -> Caller:
    """The caller that ``key`` and ``secret`` prove, or ``AuthenticationFailed``: an unknown
    key and a wrong secret get one message (a key is no secret, but its existence is not
    confirmed to whoever lacks the secret); a revoked or expired token, or a deactivated
    organization, get theirs once the secret is right. One read by the unique key, no write."""
    if not rules.looks_like_key(key):
        raise AuthenticationFailed(_REFUSED)
    row = target.execute(_by_key(), {"key": key}).first()
    under = (
        None
        if row is None
        else keyed_digest_key(row.secret_digest, secret, context=_DIGEST_CONTEXT)
    )
    if row is None or under is None:
        raise AuthenticationFailed(_REFUSED)
    if row.revoked_at is not None:
        raise AuthenticationFailed("This API token was revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationFailed("This API token has expired.")
    if row.organization_status != OrganizationStatus.ACTIVE.value:
        raise AuthenticationFailed("This organization is deactivated.")
    newest = token_key_fingerprints()[0]
    if under != 0 or row.digest_key != newest:
        _note_rekey(row.id, _Rekey(row.secret_digest, secret_digest(secret), newest))
    scopes = rules.parsed(row.scopes)
    return Caller(
        token_id=row.id,
        token_name=row.name,
        key=key,
        organization_id=row.organization_id,
        scopes=scopes,
        test=row.test,
        actor=Actor(
            user_id=row.created_by_user_id,
            email=row.creator_email,
            role=Role(row.creator_role),
            organization_id=row.organization_id,
            api_token_id=row.id,
            grants=rules.grants(scopes),
        ),
    )


# Built once: each call reuses SQLAlchemy's compiled form (docs/architecture.md, The hot path).
@cache
def _by_key() -> Select[Any]:
    tokens = _tokens.c
    return (
        core_select(
            tokens.id,
            tokens.name,
            tokens.organization_id,
            tokens.created_by_user_id,
            tokens.secret_digest,
            tokens.digest_key,
            tokens.scopes,
            tokens.test,
            tokens.expires_at,
            tokens.revoked_at,
            _organizations.c.status.label("organization_status"),
            _users.c.email.label("creator_email"),
            _users.c.role.label("creator_role"),
        )
        .join(_organizations, _organizations.c.id == tokens.organization_id)
        .join(_users, _users.c.id == tokens.created_by_user_id)
        .where(tokens.key == bindparam("key"))
    )


# --- Last used, and the newest key -----------------------------------------------------------

_last_used: dict[uuid.UUID, datetime] = {}
_last_used_lock = threading.Lock()


@dataclass(frozen=True)
class _Rekey:
    """A token's digest made anew under the newest token key, to replace ``old_digest``."""

    old_digest: str
    new_digest: str
    key: str  # the newest key's fingerprint


# Tokens that authenticated under an older token key (or before their key was kept): a digest
# can only be made again from the secret, which only a call brings, so ``flush_last_used``
# writes them with the last-used times, off the hot path.
_rekeys: dict[uuid.UUID, _Rekey] = {}


def note_used(token_id: uuid.UUID, at: datetime) -> None:
    """Remember that ``token_id`` was used at ``at``; ``flush_last_used`` writes it."""
    with _last_used_lock:
        known = _last_used.get(token_id)
        if known is None or at > known:
            _last_used[token_id] = at


def _note_rekey(token_id: uuid.UUID, rekey: _Rekey) -> None:
    with _last_used_lock:
        _rekeys[token_id] = rekey


def flush_last_used(engine: Engine) -> int:
    """Write the buffered last-used times (never moving one back), and move the tokens used
    under an older key under the newest; the number of last-used times written. What could
    not be written stays buffered for the next flush."""
    with _last_used_lock:
        pending = dict(_last_used)
        rekeys = dict(_rekeys)
        _last_used.clear()
        _rekeys.clear()
    if not pending and not rekeys:
        return 0
    try:
        written = 0
        with db.write_connection(engine) as connection:
            for token_id, at in pending.items():
                written += connection.execute(_touch(), {"token_id": token_id, "at": at}).rowcount
            for token_id, rekey in rekeys.items():
                # Only the digest it replaces: a token revoked or re-made meanwhile is left.
                connection.execute(
                    _rekey(),
                    {
                        "token_id": token_id,
                        "old_digest": rekey.old_digest,
                        "new_digest": rekey.new_digest,
                        "new_key": rekey.key,
                    },
                )
    except Exception:
        for token_id, at in pending.items():
            note_used(token_id, at)
        with _last_used_lock:
            for token_id, rekey in rekeys.items():
                _rekeys.setdefault(token_id, rekey)
        raise
    return written


@cache
def _rekey() -> Update:
    tokens = _tokens.c
    return (
        update(_tokens)
        .where(tokens.id == bindparam("token_id"), tokens.secret_digest == bindparam("old_digest"))
        .values(secret_digest=bindparam("new_digest"), digest_key=bindparam("new_key"))
    )


def key_standing(session: Session, *, now: datetime | None = None) -> KeyStanding:
    """How many live API tokens (neither revoked nor expired) depend on each token key."""
    now = now or utcnow()
    counts = dict(
        session.exec(
            select(ApiToken.digest_key, func.count())
            .where(
                col(ApiToken.revoked_at).is_(None),
                or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now),
            )
            .group_by(col(ApiToken.digest_key))
        ).all()
    )
    return KeyStanding.of(counts)


@cache
def _touch() -> Update:
    tokens = _tokens.c
    return (
        update(_tokens)
        .where(
            tokens.id == bindparam("token_id"),
            or_(tokens.last_used_at.is_(None), tokens.last_used_at < bindparam("at")),
        )
        .values(last_used_at=bindparam("at"))
    )


# --- Minting and revoking -------------------------------------------------------------------


TEST_TOKEN_SCOPES = (
    "A test token makes Smart CNAM lookups only: choose lookups alone, or make a live token."
)


def create(
    session: Session,
    actor: Actor,
    *,
    name: str,
    scopes: list[str] | tuple[str, ...] | frozenset[Scope],
    test: bool = False,
    expires_days: int | None = None,
    now: datetime | None = None,
) -> NewToken:
    """Mint a token for the actor's organization; ``ValidationFailed`` (nothing written) for
    a missing or taken name, no scope, a scope the actor's role may not grant, or an expiry
    out of bounds. Audited; the organization's owners are told by e-mail."""
    require(actor, Capability.API_TOKENS)
    organization_id = require_organization(actor)
    now = now or utcnow()
    problems: dict[str, str] = {}
    clean_name = name.strip()
    problem = text_problem(name, label="a name", max_length=NAME_WIDTH)
    if problem:
        problems["name"] = problem
    elif _live_name_taken(session, organization_id, clean_name):
        problems["name"] = f"A token named “{clean_name}” already exists. Choose another name."
    chosen, scope_problem = _checked_scopes(actor, scopes)
    if scope_problem:
        problems["scopes"] = scope_problem
    elif test and chosen != {Scope.LOOKUPS}:
        # The API refuses a test token everything but Smart CNAM (docs/product.md, API tokens).
        problems["scopes"] = TEST_TOKEN_SCOPES
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        problems["expires_days"] = (
            f"The expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or none."
        )
    if problems:
        raise ValidationFailed(problems)
    secret = rules.new_secret()
    token = ApiToken(
        organization_id=organization_id,
        created_by_user_id=actor.user_id,
        name=clean_name,
        key=rules.new_key(test=test),
        secret_digest=secret_digest(secret),
        digest_key=token_key_fingerprints()[0],
        scopes=rules.joined(chosen),
        test=test,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days is not None else None,
    )
    session.add(token)
    try:
        session.flush()
    except IntegrityError:
        # Another tab took the name in the meantime (the partial UNIQUE index).
        raise ValidationFailed(
            {"name": f"A token named “{clean_name}” already exists. Choose another name."}
        ) from None
    audit.record(
        session,
        "api_token.created",
        actor=actor,
        subject=token.key,
        detail=f"{clean_name}; {'test' if test else 'live'}; {token.scopes}",
    )
    for owner in members_who_may(
        session, organization_id, Capability.USERS_MANAGE, among=(Role.OWNER,)
    ):
        send_after_commit(
            session,
            emails.api_token_created(
                owner.email,
                owner.name,
                token_name=clean_name,
                key=token.key,
                creator=actor.email,
                scopes=token.scopes,
            ),
        )
    return NewToken(token=token, secret=secret)


def create_for_member(
    session: Session,
    email: str,
    *,
    name: str,
    scopes: list[str] | tuple[str, ...],
    test: bool = False,
    expires_days: int | None = None,
    now: datetime | None = None,
) -> NewToken:
    """``create`` for the member with ``email``, by the same rules (that member's role
    limits the scopes): the command line's way, for an operator setting up a call flow."""
    user = session.exec(select(User).where(col(User.email) == normalize_email(email))).first()
    if user is None or user.organization_id is None:
        raise NotFound(f"No member of an organization has the e-mail {email.strip()!r}.")
    if user.status != UserStatus.ACTIVE:
        raise PermissionDenied(f"{user.email} is not an active member.")
    organization = session.get_one(Organization, user.organization_id)
    if organization.status != OrganizationStatus.ACTIVE:
        raise PermissionDenied(f"The organization of {user.email} is deactivated.")
    actor = Actor(
        user_id=user.id,
        email=user.email,
        role=Role(user.role),
        organization_id=user.organization_id,
    )
    return create(
        session,
        actor,
        name=name,
        scopes=scopes,
        test=test,
        expires_days=expires_days,
        now=now,
    )


def _live_name_taken(session: Session, organization_id: uuid.UUID, name: str) -> bool:
    return (
        session.exec(
            select(ApiToken.id).where(
                col(ApiToken.organization_id) == organization_id,
                col(ApiToken.name) == name,
                col(ApiToken.revoked_at).is_(None),
            )
        ).first()
        is not None
    )


def _checked_scopes(
    actor: Actor, scopes: list[str] | tuple[str, ...] | frozenset[Scope]
) -> tuple[frozenset[Scope], str | None]:
    known = {scope.value: scope for scope in Scope}
    wanted = [str(scope).strip() for scope in scopes if str(scope).strip()]
    if not wanted:
        return frozenset(), "Choose at least one scope."
    unknown = [scope for scope in wanted if scope not in known]
    if unknown:
        return frozenset(), (
            f"Unknown scope {', '.join(unknown)}: choose among {', '.join(known)}."
        )
    chosen = frozenset(known[scope] for scope in wanted)
    refused = [
        scope.value for scope in Scope if scope in chosen and not actor.can(rules.CAPABILITY[scope])
    ]
    if refused:
        return frozenset(), f"Your role can't grant {', '.join(refused)}."
    return chosen, None


def revoke(
    session: Session, actor: Actor, token_id: uuid.UUID, *, now: datetime | None = None
) -> ApiToken:
    """Revoke one of the organization's tokens: refused from its next call on."""
    require(actor, Capability.API_TOKENS)
    organization_id = require_organization(actor)
    token = session.exec(
        select(ApiToken)
        .where(col(ApiToken.id) == token_id, col(ApiToken.organization_id) == organization_id)
        .with_for_update()
    ).first()
    if token is None:
        raise NotFound("This API token does not exist.")
    return _revoke(session, token, actor=actor, now=now or utcnow())


def revoke_by_key(session: Session, key: str, *, now: datetime | None = None) -> ApiToken:
    """Revoke a token by its key, from the command line (an operator, not a member)."""
    token = session.exec(
        select(ApiToken).where(col(ApiToken.key) == key.strip()).with_for_update()
    ).first()
    if token is None:
        raise NotFound(f"No API token has the key {key.strip()!r}.")
    return _revoke(session, token, actor=None, now=now or utcnow())


def revoke_all(
    session: Session, organization_id: uuid.UUID, *, actor: Actor | None, now: datetime
) -> int:
    """Revoke every live token of the organization (it is closing); returns how many."""
    tokens = session.exec(
        select(ApiToken)
        .where(
            col(ApiToken.organization_id) == organization_id,
            col(ApiToken.revoked_at).is_(None),
        )
        .with_for_update()
    ).all()
    for token in tokens:
        _revoke(session, token, actor=actor, now=now)
    return len(tokens)


def _revoke(session: Session, token: ApiToken, *, actor: Actor | None, now: datetime) -> ApiToken:
    if token.revoked_at is not None:
        raise Conflict(f"The token “{token.name}” was already revoked.")
    token.revoked_at = now
    token.revoked_by_user_id = actor.user_id if actor else None
    session.add(token)
    audit.record(
        session,
        "api_token.revoked",
        actor=actor,
        organization_id=token.organization_id,
        subject=token.key,
        detail=token.name,
    )
    session.flush()
    return token
