"""What SIPSTACK staff read across organizations: the organizations, one of them, the audit log.

Each read checks the staff capability first (staff act across organizations, and
partners never see another organization), so an API route or a command gets the same answer
as the Staff pages. The lists are ``Listing``s for the table widget
(docs/architecture.md, rule 9).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import (
    BrandDomain,
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
)
from portal_core.models.audit import AuditEvent
from portal_core.permissions import Actor, Capability, require
from portal_core.queries.billing import Funds, funds_of
from portal_core.queries.listing import (
    Choice,
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRangeFilter,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    updated_sort,
)

# An organization's life cycle as staff see it: "setting up" until the owner finishes the
# activation wizard, then active, unless staff deactivated it.
ORGANIZATION_STATES: dict[str, str] = {
    "active": "Active",
    "setting_up": "Setting up",
    "deactivated": "Deactivated",
}

_ORGANIZATION_STATE = case(
    (col(Organization.status) == OrganizationStatus.DEACTIVATED.value, "deactivated"),
    (col(Organization.activated_at).is_(None), "setting_up"),
    else_="active",
)

# What both staff lists of organizations (Organizations, Billing accounts) search and filter by.
ORGANIZATION_SEARCH = TextFilter(
    "search",
    "Name or legal name",
    (col(Organization.name), col(Organization.legal_name)),
    placeholder="Part of a name",
)
ORGANIZATION_CREATED = DateRangeFilter("created", "Created", col(Organization.created_at))

_USER_COUNT = (
    select(func.count(col(User.id)))
    .where(col(User.organization_id) == col(Organization.id))
    .correlate(Organization)
    .scalar_subquery()
)


def organizations(actor: Actor) -> Listing:
    """Every partner organization: search, state, creation date; newest first."""
    require(actor, Capability.STAFF)
    active = col(Organization.status) == OrganizationStatus.ACTIVE.value
    return Listing(
        noun="organizations",
        select=select(col(Organization.id)).select_from(Organization),
        key=col(Organization.id),
        columns=(
            Column("name", "Name", col(Organization.name)),
            Column("legal_name", "Legal name", col(Organization.legal_name)),
            Column("country", "Country", col(Organization.country)),
            Column("province", "Province / state", col(Organization.province)),
            Column(
                "state",
                "Status",
                _ORGANIZATION_STATE,
                ColumnKind.STATUS,
                labels=ORGANIZATION_STATES,
            ),
            Column(
                "activated_at",
                "Activated",
                col(Organization.activated_at),
                ColumnKind.DATETIME,
                help="When the owner finished the activation wizard; empty until then.",
            ),
            Column("users", "Users", _USER_COUNT, ColumnKind.NUMBER),
            Column("created_at", "Created", col(Organization.created_at), ColumnKind.DATETIME),
            Column("updated_at", "Updated", col(Organization.updated_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(Organization.created_at)),
            updated_sort(col(Organization.updated_at)),
            Sort("name", "Name", col(Organization.name)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            ORGANIZATION_SEARCH,
            ChoiceFilter(
                "state",
                "Status",
                (
                    Choice(
                        "active",
                        ORGANIZATION_STATES["active"],
                        active & col(Organization.activated_at).is_not(None),
                    ),
                    Choice(
                        "setting_up",
                        ORGANIZATION_STATES["setting_up"],
                        active & col(Organization.activated_at).is_(None),
                    ),
                    Choice(
                        "deactivated",
                        ORGANIZATION_STATES["deactivated"],
                        col(Organization.status) == OrganizationStatus.DEACTIVATED.value,
                    ),
                ),
            ),
            ORGANIZATION_CREATED,
        ),
    )


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    email: str
    name: str
    role: Role
    status: UserStatus
    created_at: datetime
    two_factor_on: bool = False

    @property
    def deactivated(self) -> bool:
        return self.status is UserStatus.DEACTIVATED


@dataclass(frozen=True)
class BrandDomainState:
    """A brand domain as staff see it: verified or pending, and when it was last checked."""

    domain: str
    verified_at: datetime | None
    last_checked_at: datetime | None

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


@dataclass(frozen=True)
class OrganizationDetail:
    id: uuid.UUID
    name: str
    legal_name: str | None
    country: str | None
    province: str | None
    address_line: str | None
    city: str | None
    postal_code: str | None
    tax_id: str | None
    brand_name: str | None
    status: OrganizationStatus
    activated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    domains: list[BrandDomainState]  # by name
    members: list[Member]
    funds: Funds

    @property
    def deactivated(self) -> bool:
        return self.status is OrganizationStatus.DEACTIVATED

    @property
    def state_label(self) -> str:
        if self.deactivated:
            return ORGANIZATION_STATES["deactivated"]
        return ORGANIZATION_STATES["active" if self.activated_at else "setting_up"]


def organization_detail(
    session: Session, actor: Actor, organization_id: uuid.UUID
) -> OrganizationDetail:
    """One organization, its brand domains, its users (oldest first) and its funds."""
    require(actor, Capability.STAFF)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("That organization was not found.")
    domains = session.exec(
        select(BrandDomain)
        .where(col(BrandDomain.organization_id) == organization_id)
        .order_by(col(BrandDomain.domain))
    ).all()
    users = session.exec(
        select(User)
        .where(col(User.organization_id) == organization_id)
        .order_by(col(User.created_at), col(User.email))
    ).all()
    return OrganizationDetail(
        id=organization.id,
        name=organization.name,
        legal_name=organization.legal_name,
        country=organization.country,
        province=organization.province,
        address_line=organization.address_line,
        city=organization.city,
        postal_code=organization.postal_code,
        tax_id=organization.tax_id,
        brand_name=organization.brand_name,
        status=OrganizationStatus(organization.status),
        activated_at=organization.activated_at,
        created_at=organization.created_at,
        updated_at=organization.updated_at,
        domains=[
            BrandDomainState(domain.domain, domain.verified_at, domain.last_checked_at)
            for domain in domains
        ],
        members=[
            Member(
                id=user.id,
                email=user.email,
                name=user.name,
                role=Role(user.role),
                status=UserStatus(user.status),
                created_at=user.created_at,
                two_factor_on=user.two_factor_enabled_at is not None,
            )
            for user in users
        ],
        funds=funds_of(session, organization.id),
    )


# Kinds of audit events, for the log's filter. Each is a set of exact actions or a family of
# them (``password.`` covers every password event, including ones added later).
_AUDIT_KINDS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("sign_in", "Sign-ins", ("login",), ()),
    (
        "sign_in_failed",
        "Failed sign-ins",
        ("login.failed", "login.refused_deactivated", "login.code_failed"),
        (),
    ),
    ("sign_out", "Sign-outs", ("logout", "sessions.others_ended"), ()),
    ("password", "Password changes and resets", (), ("password.",)),
    ("email", "E-mail changes", (), ("email.",)),
    (
        "two_factor",
        "Two-factor sign-in",
        ("organization.two_factor_required", "organization.two_factor_optional"),
        ("two_factor.",),
    ),
    (
        "deactivation",
        "Deactivations and reactivations",
        (
            "user.deactivated",
            "user.reactivated",
            "organization.deactivated",
            "organization.reactivated",
            "member.deactivated",
            "member.reactivated",
            "organization.closed",
        ),
        (),
    ),
    (
        "members",
        "Invitations, joins and role changes",
        (
            "member.invited",
            "member.invitation_resent",
            "member.invitation_cancelled",
            "member.joined",
            "member.role_changed",
        ),
        (),
    ),
    ("signup", "Sign-ups and activations", ("signup", "organization.activated"), ("signup.",)),
    ("staff", "Staff accounts", (), ("staff.",)),
    (
        "billing",
        "Billing: credits, limits, contracts, plans, taxes, settings, invoice runs",
        (),
        ("billing.", "invoices.", "platform_setting."),
    ),
    (
        "plans_and_cards",
        "Plan changes, cards and auto-recharge",
        (),
        ("plan.", "payment_method.", "auto_recharge."),
    ),
)

AUDIT_KINDS: dict[str, str] = {value: label for value, label, _, _ in _AUDIT_KINDS}


def audit_log(actor: Actor, *, organization_id: uuid.UUID | None = None) -> Listing:
    """The audit log, newest first; of one organization when ``organization_id`` is given."""
    require(actor, Capability.STAFF)
    action = col(AuditEvent.action)
    # A column's subquery, not a join: counting the events then reads an index alone.
    organization_name = (
        select(col(Organization.name))
        .where(col(Organization.id) == col(AuditEvent.organization_id))
        .correlate(AuditEvent)
        .scalar_subquery()
    )
    base = select(col(AuditEvent.id)).select_from(AuditEvent)
    if organization_id is not None:
        base = base.where(col(AuditEvent.organization_id) == organization_id)
    return Listing(
        noun="audit events",
        select=base,
        key=col(AuditEvent.id),
        columns=(
            Column("created_at", "When", col(AuditEvent.created_at), ColumnKind.DATETIME),
            Column("action", "Event", action, ColumnKind.STATUS),
            Column("actor_email", "By", col(AuditEvent.actor_email)),
            Column("subject", "Subject", col(AuditEvent.subject)),
            Column("organization", "Organization", organization_name),
            Column("ip_address", "IP address", col(AuditEvent.ip_address)),
            Column("detail", "Detail", col(AuditEvent.detail)),
        ),
        sorts=(
            Sort("created", "Date", col(AuditEvent.created_at)),
            Sort("action", "Event", action, then=(col(AuditEvent.created_at),)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            ChoiceFilter(
                "kind",
                "Event",
                tuple(
                    Choice(
                        value,
                        label,
                        or_(
                            action.in_(exact),
                            *(action.startswith(prefix, autoescape=True) for prefix in prefixes),
                        ),
                    )
                    for value, label, exact, prefixes in _AUDIT_KINDS
                ),
            ),
            TextFilter(
                "search",
                "By or subject",
                (col(AuditEvent.actor_email), col(AuditEvent.subject)),
                placeholder="Part of an e-mail address",
            ),
            TextFilter("organization", "Organization", (organization_name,)),
            DateRangeFilter("created", "Date", col(AuditEvent.created_at)),
        ),
    )
