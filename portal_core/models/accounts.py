"""Organizations, their brand domains, and the people who use the portal.

A partner user belongs to exactly one organization with one role; a SIPSTACK staff user
belongs to none (docs/product.md, Who uses it). An organization is *active* once its owner finishes
the activation wizard; until then ``activated_at`` is empty.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Index, String
from sqlmodel import Field, SQLModel

from portal_core.models.base import (
    created_at_field,
    optional_time_field,
    updated_at_field,
    uuid_pk,
)


class Role(StrEnum):
    """A partner's role in its organization (docs/product.md, Roles); staff is SIPSTACK's own."""

    OWNER = "owner"
    ADMIN = "admin"
    BILLING = "billing"
    DEVELOPER = "developer"
    VIEWER = "viewer"
    STAFF = "staff"


PARTNER_ROLES: frozenset[Role] = frozenset(
    {Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER}
)


class UserStatus(StrEnum):
    UNVERIFIED = "unverified"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class OrganizationStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"
    __table_args__ = (
        # Staff › Organizations and Billing accounts: each sort, and the Status filter.
        Index("ix_organizations_created", "created_at", "id"),
        Index("ix_organizations_updated", "updated_at", "id"),
        Index("ix_organizations_name_id", "name", "id"),
        # The Status filter in date order; activated_at last, so the count reads this alone.
        Index("ix_organizations_status_created", "status", "created_at", "id", "activated_at"),
    )

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=120, index=True)
    legal_name: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    province: str | None = Field(default=None, max_length=3)
    address_line: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    tax_id: str | None = Field(default=None, max_length=40)
    brand_name: str | None = Field(default=None, max_length=120)
    # The carrier score (0–5000 milli-points): kept by services.carrier_scores whenever one
    # of its inputs changes; an owner's score weighs on its numbers' scores.
    carrier_score_millis: int | None = None
    # The owner's rule that every member signs in with a second step (services.two_factor).
    require_two_factor: bool = False
    status: OrganizationStatus = Field(default=OrganizationStatus.ACTIVE, sa_type=String(20))
    activated_at: datetime | None = optional_time_field()
    # When its owner closed it (services.closing): deactivated for good, invoiced one last
    # time, and left out of every later invoice run.
    closed_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


def new_verification_token() -> str:
    """A brand domain's verification token: random, so that only who controls the domain's
    DNS can publish it (it is shown to the organization, and is no secret beyond that)."""
    return uuid.uuid4().hex


class BrandDomain(SQLModel, table=True):
    """A domain an organization registered with SIPSTACK, verified once a DNS TXT record
    holds its token (docs/product.md, Pages › Brand)."""

    __tablename__ = "brand_domains"

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", index=True)
    domain: str = Field(max_length=253, unique=True)
    verification_token: str = Field(default_factory=new_verification_token, max_length=64)
    verified_at: datetime | None = optional_time_field()
    # When it last became pending (added, or its record found gone); None while verified. The
    # scheduled re-check watches a pending domain for a week from then.
    pending_since: datetime | None = optional_time_field()
    last_checked_at: datetime | None = optional_time_field()
    # What the last check found, in the partner's words ("No TXT record at …").
    last_check: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at_field()


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role = 'staff' AND organization_id IS NULL) OR "
            "(role <> 'staff' AND organization_id IS NOT NULL)",
            name="ck_users_staff_have_no_organization",
        ),
        # An organization's active members (alert, receipt and invoice recipients): without
        # it SQLite picks ix_users_status and reads every active user of the platform.
        Index("ix_users_org_status", "organization_id", "status"),
        # Organization › Access › Users: its members by date joined and by name, and by role
        # (without it the role filter reads every member of the platform with that role).
        Index("ix_users_org_created", "organization_id", "created_at", "id"),
        Index("ix_users_org_name", "organization_id", "name", "id"),
        Index("ix_users_org_role", "organization_id", "role"),
    )

    id: uuid.UUID = uuid_pk()
    # Stored lower-cased: e-mail addresses are compared case-insensitively
    # (docs/product.md, Account life cycle).
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=120)
    password_hash: str = Field(max_length=100)
    role: Role = Field(sa_type=String(20), index=True)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organizations.id", index=True
    )
    status: UserStatus = Field(default=UserStatus.UNVERIFIED, sa_type=String(20), index=True)
    email_verified_at: datetime | None = optional_time_field()
    tos_version: str | None = Field(default=None, max_length=20)
    tos_accepted_at: datetime | None = optional_time_field()
    dark_mode: bool = False
    notify_low_balance: bool = True
    low_balance_threshold_cents: int = Field(default=2_000, ge=0)
    notify_invoices: bool = True
    notify_disputes: bool = True
    notify_product_news: bool = False
    # Reputation watch: a registered number's score fell into the spam bands.
    notify_reputation: bool = True
    password_changed_at: datetime | None = optional_time_field()
    # Two-factor sign-in (services.two_factor): the authenticator's secret, encrypted under
    # the portal's key; it counts only once confirmed (``two_factor_enabled_at``). The last
    # time step a code was accepted for, so no code is accepted twice.
    two_factor_secret: str | None = Field(default=None, max_length=200)
    two_factor_enabled_at: datetime | None = optional_time_field()
    two_factor_last_step: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()

    @property
    def is_staff(self) -> bool:
        return self.role == Role.STAFF


class UserUpdate(SQLModel):
    """What a user may change about themselves on My Profile › General."""

    name: str | None = Field(default=None, min_length=1, max_length=120)


class NotificationPreferences(SQLModel):
    """My Profile › Notifications (stored now; billing and disputes read them)."""

    notify_low_balance: bool
    low_balance_threshold_cents: int = Field(ge=0, le=100_000_000)
    notify_invoices: bool
    notify_disputes: bool
    notify_product_news: bool
    notify_reputation: bool = True


__all__ = [
    "BrandDomain",
    "NotificationPreferences",
    "Organization",
    "OrganizationStatus",
    "PARTNER_ROLES",
    "Role",
    "User",
    "UserStatus",
    "UserUpdate",
]
