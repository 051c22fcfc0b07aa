"""What the Dashboard reads: the setup checklist of SPEC.md (the steps that exist so far)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from portal_core.models.accounts import BrandDomain, Organization
from portal_core.permissions import Actor, require_organization


@dataclass(frozen=True)
class ChecklistItem:
    label: str
    done: bool


def setup_checklist(session: Session, actor: Actor) -> list[ChecklistItem]:
    organization_id = require_organization(actor)
    organization = session.get(Organization, organization_id)
    domains = session.exec(
        select(func.count())
        .select_from(BrandDomain)
        .where(BrandDomain.organization_id == organization_id)
    ).one()
    company_done = bool(
        organization
        and organization.legal_name
        and organization.country
        and organization.address_line
    )
    return [
        ChecklistItem("Company details", company_done),
        ChecklistItem("Brand domain", domains > 0),
    ]
