"""What Organization › Company and Organization › Brand show: the legal details, the
company's history of changes from the audit log, and the brand with its domains
(docs/product.md, Pages › Company; and docs/product.md, Pages › Brand)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import BrandDomain, Organization
from portal_core.models.audit import AuditEvent
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.rules.company import (
    COMPANY_FIELDS,
    COMPANY_UPDATED,
    missing_company_fields,
    verification_name,
    verification_value,
)

HISTORY_LIMIT = 20  # the latest changes; the audit log keeps them all


@dataclass(frozen=True)
class Company:
    details: dict[str, str | None]  # by field, in page order (``rules.company.COMPANY_FIELDS``)
    missing: tuple[str, ...]  # the required fields left empty
    updated_at: datetime


def company(session: Session, actor: Actor) -> Company:
    require(actor, Capability.COMPANY_READ)
    organization = _organization(session, actor)
    details = {name: getattr(organization, name) for name in COMPANY_FIELDS}
    return Company(details, tuple(missing_company_fields(details)), organization.updated_at)


@dataclass(frozen=True)
class CompanyChange:
    at: datetime
    by: str  # the member's e-mail ("" when nobody signed in made it)
    what: str  # field: "before" → "after"; …


def company_history(
    session: Session, actor: Actor, *, limit: int = HISTORY_LIMIT
) -> list[CompanyChange]:
    """The latest changes to the legal details, newest first: for those who may edit them."""
    require(actor, Capability.COMPANY_EDIT)
    rows = session.exec(
        select(AuditEvent)
        .where(
            col(AuditEvent.organization_id) == require_organization(actor),
            col(AuditEvent.action) == COMPANY_UPDATED,
        )
        .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
    ).all()
    return [CompanyChange(row.created_at, row.actor_email or "", row.detail or "") for row in rows]


@dataclass(frozen=True)
class Domain:
    id: uuid.UUID
    domain: str
    added_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    last_check: str | None
    record_name: str  # the TXT record that verifies it: where it is published …
    record_value: str  # … and what it must hold

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


@dataclass(frozen=True)
class Brand:
    name: str | None
    domains: tuple[Domain, ...]  # in the order they were added


def brand(session: Session, actor: Actor) -> Brand:
    require(actor, Capability.COMPANY_READ)
    organization = _organization(session, actor)
    rows = session.exec(
        select(BrandDomain)
        .where(col(BrandDomain.organization_id) == organization.id)
        .order_by(col(BrandDomain.created_at), col(BrandDomain.domain))
    ).all()
    return Brand(
        organization.brand_name,
        tuple(
            Domain(
                id=row.id,
                domain=row.domain,
                added_at=row.created_at,
                verified_at=row.verified_at,
                last_checked_at=row.last_checked_at,
                last_check=row.last_check,
                record_name=verification_name(row.domain),
                record_value=verification_value(row.verification_token),
            )
            for row in rows
        ),
    )


def _organization(session: Session, actor: Actor) -> Organization:
    organization = session.get(Organization, require_organization(actor))
    if organization is None:
        raise NotFound("Your organization was not found.")
    return organization
