"""Every table, imported here so that ``SQLModel.metadata`` knows them all (Alembic reads it)."""

from portal_core.models.access import EmailToken, LoginFailure, LoginSession, TokenPurpose
from portal_core.models.accounts import (
    PARTNER_ROLES,
    BrandDomain,
    NotificationPreferences,
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
    UserUpdate,
)
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry

__all__ = [
    "PARTNER_ROLES",
    "AuditEvent",
    "BillingAccount",
    "BrandDomain",
    "EmailToken",
    "EntryKind",
    "LedgerEntry",
    "LoginFailure",
    "LoginSession",
    "NotificationPreferences",
    "Organization",
    "OrganizationStatus",
    "Role",
    "TokenPurpose",
    "User",
    "UserStatus",
    "UserUpdate",
]
