"""Factories: valid objects with random defaults, saved through the given session.

They write rows directly (not through services) so a test states only what it is about;
passwords all share one precomputed hash, since bcrypt is slow by design.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Engine
from sqlmodel import Session

from portal_core import db
from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.payments import AutoRecharge, GatewayName, PaymentMethod
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


def make_card(
    session: Session,
    organization: Organization,
    *,
    test_card: str = "pm_card_visa",
    default: bool | None = None,
    exp_month: int | None = None,
    exp_year: int | None = None,
    created_at: datetime | None = None,
) -> PaymentMethod:
    """A saved sandbox card of ``organization`` (one of Stripe's test cards, by reference).

    ``default`` None: the default when the organization has none yet, as the service does.
    ``exp_month``/``exp_year`` override the test card's future expiry (an expired card).
    """
    from portal_core.payments.test_cards import card_by_reference
    from portal_core.services.payments import default_card_of

    card = card_by_reference(test_card)
    assert card is not None, f"{test_card} is not a sandbox test card"
    details = card.details()
    now = created_at or utcnow()
    if default is None:
        default = default_card_of(session, organization.id) is None
    method = PaymentMethod(
        organization_id=organization.id,
        gateway=GatewayName.SANDBOX,
        gateway_ref=details.gateway_ref,
        brand=details.brand,
        last4=details.last4,
        exp_month=exp_month or details.exp_month,
        exp_year=exp_year or details.exp_year,
        is_default=default,
        created_at=now,
        updated_at=now,
    )
    session.add(method)
    session.flush()
    return method


def make_auto_recharge(
    session: Session,
    organization: Organization,
    *,
    threshold_cents: int = 2_000,
    amount_cents: int = 5_000,
    enabled: bool = True,
    updated_at: datetime | None = None,
) -> AutoRecharge:
    """Auto-recharge settings saved directly (the service checks the card; tests choose)."""
    settings = AutoRecharge(
        organization_id=organization.id,
        enabled=enabled,
        threshold_cents=threshold_cents,
        amount_cents=amount_cents,
        updated_at=updated_at or utcnow(),
    )
    session.add(settings)
    session.flush()
    return settings


def organization_of(session: Session, member: User | Actor) -> Organization:
    """The organization of a partner user (or actor), as stored."""
    organization = session.get(Organization, member.organization_id)
    assert organization is not None, f"{member.email} belongs to no organization"
    return organization
