"""Factories: valid objects with random defaults, saved through the given session.

They write rows directly (not through services) so a test states only what it is about;
passwords all share one precomputed hash, since bcrypt is slow by design.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from sqlalchemy import Engine
from sqlmodel import Session

from portal_core import db
from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.permissions import Actor
from portal_core.services import auth, subscriptions

PASSWORD = "Factory-Lantern-Harbor-77"


@lru_cache(maxsize=1)
def password_hash() -> str:
    from portal_core.services.passwords import hash_password

    return hash_password(PASSWORD)


def random_suffix() -> str:
    return uuid.uuid4().hex[:10]


def make_organization(
    session: Session,
    *,
    name: str | None = None,
    active: bool = True,
    country: str = "CA",
    province: str | None = "ON",
    with_domain: bool = True,
) -> Organization:
    now = utcnow()
    suffix = random_suffix()
    organization = Organization(
        name=name or f"Org {suffix}",
        legal_name=f"Org {suffix} Inc." if active else None,
        country=country if active else None,
        province=province if active else None,
        address_line="1 Main Street" if active else None,
        city="Toronto" if active else None,
        activated_at=now if active else None,
        created_at=now,
        updated_at=now,
    )
    session.add(organization)
    session.flush()
    subscriptions.open_billing(session, organization.id, now=now)
    if active and with_domain:
        session.add(
            BrandDomain(
                organization_id=organization.id, domain=f"{suffix}.example.com", created_at=now
            )
        )
    session.flush()
    return organization


def make_user(
    session: Session,
    *,
    organization: Organization | None = None,
    role: Role = Role.OWNER,
    status: UserStatus = UserStatus.ACTIVE,
    email: str | None = None,
    name: str | None = None,
) -> User:
    now = utcnow()
    if role is not Role.STAFF and organization is None:
        organization = make_organization(session)
    suffix = random_suffix()
    user = User(
        email=(email or f"{role.value}-{suffix}@example.com").lower(),
        name=name or f"{role.value.title()} {suffix}",
        password_hash=password_hash(),
        role=role,
        organization_id=None if role is Role.STAFF else organization.id,  # type: ignore[union-attr]
        status=status,
        email_verified_at=now if status is not UserStatus.UNVERIFIED else None,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def make_staff(session: Session, **kwargs: object) -> User:
    return make_user(session, role=Role.STAFF, **kwargs)  # type: ignore[arg-type]


def actor_of(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        email=user.email,
        role=Role(user.role),
        organization_id=user.organization_id,
    )


def log_in(engine: Engine, user: User, *, ip_address: str = "203.0.113.7") -> str:
    """Open a real session for ``user`` (as the login form would) and return its handle."""
    with db.write_session(engine) as session:
        return auth.log_in(session, user.email, PASSWORD, ip_address=ip_address).handle
