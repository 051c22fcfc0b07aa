"""Set-ups the products' tests share: organizations with members, registered numbers, lookups."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from portal_core import db
from portal_core.models.accounts import Organization, Role
from portal_core.models.billing import LookupType
from portal_core.models.products import WhoisProfile
from portal_core.permissions import Actor
from portal_core.services import lookups, whois
from portal_core.services.lookups import LookupResult
from portal_core.services.whois import ProfileForm
from tests.factories import actor_of, change_subscription, fund, make_organization, make_user

COMPLETE: dict[str, Any] = {
    "business_name": "Acme Widgets Ltd.",
    "call_purpose": "customer_service",
    "address_line": "1 King Street West",
    "city": "Toronto",
    "province": "ON",
    "postal_code": "M5H 1A1",
    "country": "CA",
    "website": "https://acme.example.com",
    "email": "calls@acme.example.com",
    "description": "Our customer service line.",
    "social_links": "https://social.example.com/acme",
    "monthly_call_volume": "12,000",
}


@dataclass(frozen=True)
class Member:
    actor: Actor
    organization_id: uuid.UUID


def member(
    engine: Engine,
    *,
    role: Role = Role.OWNER,
    plan: str = "starter",
    funds_cents: int = 10_000,
    organization_id: uuid.UUID | None = None,
    name: str | None = None,
    **subscription: Any,
) -> Member:
    """A member of a new organization (or of ``organization_id``) on ``plan``, with funds."""
    with db.write_session(engine) as session:
        if organization_id is None:
            organization = make_organization(session, name=name)
            change_subscription(session, organization, plan_code=plan, **subscription)
            if funds_cents:
                fund(session, organization, funds_cents)
        else:
            organization = session.get_one(Organization, organization_id)
        user = make_user(session, organization=organization, role=role)
        return Member(actor_of(user), organization.id)


def form(number: str, caller_name: str = "Acme Support", **fields: Any) -> ProfileForm:
    return ProfileForm(number=number, caller_name=caller_name, line_type="fixed", **fields)


def register(
    engine: Engine, who: Member, number: str, *, now: datetime | None = None, **fields: Any
) -> WhoisProfile:
    with db.write_session(engine) as session:
        return whois.register(session, who.actor, form(number, **fields), now=now)


def look_up(
    engine: Engine,
    who: Member,
    source: str,
    *,
    lookup_type: LookupType = LookupType.CALLER_ID,
    destination: str = "",
    now: datetime | None = None,
    request_key: str | None = None,
) -> LookupResult:
    return lookups.look_up(
        engine,
        who.actor,
        source=source,
        destination=destination,
        lookup_type=lookup_type,
        request_key=request_key or uuid.uuid4().hex,
        now=now,
    )
