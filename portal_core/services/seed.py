"""The demo organization that ``make run`` seeds on an empty development database.

"Demo Telecom" (Ontario, active) with one user of each role, and a SIPSTACK staff user; the
passwords are printed in README.md. With the sandbox gateway (no Stripe keys) the owner has
also saved the sandbox's Visa test card and added $250.00 with it, so Billing has something
to show. Never seeded outside development.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from portal_core.errors import Conflict
from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.payments import GatewayName
from portal_core.payments import gateway_name
from portal_core.permissions import Actor
from portal_core.services import audit, in_force, subscriptions
from portal_core.services.passwords import hash_password
from portal_core.services.payments import cards, top_ups
from portal_core.services.staff import create_staff
from portal_core.settings import get_settings
from portal_core.terms import current_terms

DEMO_DOMAIN = "demo.sipstack.test"
DEMO_ROLES = (Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER)


def demo_email(role: Role) -> str:
    return f"{role.value}@{DEMO_DOMAIN}"


def demo_password(role: Role) -> str:
    return f"Demo-{role.value}-Harbor-2026"


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(User)).one() == 0


def seed_demo(session: Session) -> bool:
    """Seed the demo on an empty development database; False when there was nothing to do."""
    if not get_settings().is_development:
        raise Conflict("The demo is seeded only in development (PORTAL_ENV=development).")
    if not is_empty(session):
        return False
    now = utcnow()
    organization = Organization(
        name="Demo Telecom",
        legal_name="Demo Telecom Inc.",
        country="CA",
        province="ON",
        address_line="100 King Street West",
        city="Toronto",
        postal_code="M5X 1A9",
        tax_id="123456789RT0001",
        brand_name="Demo Telecom",
        activated_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(organization)
    session.flush()
    session.add(BrandDomain(organization_id=organization.id, domain=DEMO_DOMAIN, created_at=now))
    subscriptions.open_billing(session, organization.id, now=now)
    in_force.record_billing_details(session, organization, at=now)
    users: dict[Role, User] = {}
    for role in DEMO_ROLES:
        users[role] = User(
            email=demo_email(role),
            name=f"Demo {role.value.title()}",
            password_hash=hash_password(demo_password(role)),
            role=role,
            organization_id=organization.id,
            status=UserStatus.ACTIVE,
            email_verified_at=now,
            tos_version=current_terms().version,
            tos_accepted_at=now,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(users[role])
    session.flush()
    if gateway_name() == GatewayName.SANDBOX:
        _first_payment(session, users[Role.OWNER])
    create_staff(session, demo_email(Role.STAFF), "Demo Staff", demo_password(Role.STAFF), now=now)
    audit.record(session, "demo.seeded", organization_id=organization.id, subject="Demo Telecom")
    return True


DEMO_TEST_CARD = "pm_card_visa"
DEMO_FUNDS_CENTS = 250_00


def _first_payment(session: Session, owner: User) -> None:
    actor = Actor(
        user_id=owner.id, email=owner.email, role=Role.OWNER, organization_id=owner.organization_id
    )
    card = cards.start_adding_card(session, actor, test_card=DEMO_TEST_CARD).card
    if card is None:
        raise Conflict("The sandbox gateway should have saved the demo's test card at once.")
    top_ups.add_funds(
        session,
        actor,
        payment_method_id=card.id,
        amount_cents=DEMO_FUNDS_CENTS,
        idempotency_key="demo-seed-first-payment",
    )
