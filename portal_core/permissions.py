"""Who may do what: the role matrix (docs/product.md, Roles) as data, checked by pages and
again by services.

Pages use it to decide what to offer and to refuse a deep link; services call ``require`` so
that an API route or a command gets the same answer (docs/architecture.md, rule 3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from portal_core.errors import PermissionDenied
from portal_core.models.accounts import Role


class Capability(StrEnum):
    USE_PORTAL = "use_portal"  # Dashboard, Logs, top-bar funds
    MY_PROFILE = "my_profile"
    LOOKUP = "lookup"  # Smart CNAM lookups
    WHOIS_READ = "whois_read"
    WHOIS_WRITE = "whois_write"
    COMPANY_READ = "company_read"
    COMPANY_EDIT = "company_edit"
    USERS_INVITE = "users_invite"
    USERS_MANAGE = "users_manage"  # deactivate, change roles
    API_TOKENS = "api_tokens"
    BILLING_READ = "billing_read"
    BILLING_MANAGE = "billing_manage"  # add funds, cards, plan
    EXPLORE = "explore"
    STAFF = "staff"


_EVERY_PARTNER = {Capability.USE_PORTAL, Capability.MY_PROFILE, Capability.COMPANY_READ}
_PRODUCTS = {
    Capability.LOOKUP,
    Capability.WHOIS_READ,
    Capability.WHOIS_WRITE,
    Capability.API_TOKENS,
}
_MONEY = {Capability.BILLING_READ, Capability.BILLING_MANAGE, Capability.EXPLORE}
# An admin runs everything but other members' roles and deactivation (docs/product.md, Roles).
_ADMIN = _EVERY_PARTNER | _PRODUCTS | _MONEY | {Capability.COMPANY_EDIT, Capability.USERS_INVITE}

GRANTS: dict[Role, frozenset[Capability]] = {
    Role.OWNER: frozenset(_ADMIN | {Capability.USERS_MANAGE}),
    Role.ADMIN: frozenset(_ADMIN),
    Role.BILLING: frozenset(_EVERY_PARTNER | _MONEY),
    Role.DEVELOPER: frozenset(_EVERY_PARTNER | _PRODUCTS),
    Role.VIEWER: frozenset(_EVERY_PARTNER | {Capability.WHOIS_READ}),
    Role.STAFF: frozenset({Capability.STAFF, Capability.MY_PROFILE, Capability.EXPLORE}),
}


def roles_with(capability: Capability) -> tuple[Role, ...]:
    """The roles that hold ``capability``: who of an organization may see what it grants
    (an e-mail or a notice about money goes only to those who may read Billing)."""
    return tuple(role for role, granted in GRANTS.items() if capability in granted)


@dataclass(frozen=True)
class Actor:
    """The signed-in person a service acts for; rebuilt from the database on each request.

    A call through the REST API acts for its token's organization: ``api_token_id`` names
    the token, the user is the member who created it, and ``grants`` (from the token's
    scopes) replace the role's capabilities, so a token never does more than it was given.
    """

    user_id: uuid.UUID
    email: str
    role: Role
    organization_id: uuid.UUID | None
    api_token_id: uuid.UUID | None = None
    grants: frozenset[Capability] | None = None

    @property
    def is_staff(self) -> bool:
        return self.role == Role.STAFF

    def can(self, capability: Capability) -> bool:
        granted = GRANTS[self.role] if self.grants is None else self.grants
        return capability in granted


# The partner roles in the order the portal lists them, most powerful first.
PARTNER_ROLE_ORDER: tuple[Role, ...] = (
    Role.OWNER,
    Role.ADMIN,
    Role.BILLING,
    Role.DEVELOPER,
    Role.VIEWER,
)


def role_label(role: Role | str) -> str:
    """A role as the portal names it ("Owner", "Billing")."""
    return Role(role).value.title()


def invitable_roles(actor: Actor) -> tuple[Role, ...]:
    """The roles ``actor`` may invite someone with: an owner any partner role, an admin any
    but owner (docs/product.md, Roles); nobody else invites."""
    if not actor.can(Capability.USERS_INVITE):
        return ()
    if actor.can(Capability.USERS_MANAGE):
        return PARTNER_ROLE_ORDER
    return tuple(role for role in PARTNER_ROLE_ORDER if role is not Role.OWNER)


def require(actor: Actor, capability: Capability) -> None:
    """Refuse, with a message a partner understands, what the actor's role does not allow."""
    if not actor.can(capability):
        if actor.grants is not None:
            raise PermissionDenied("This API token's scopes do not allow this.")
        raise PermissionDenied("Your role does not allow this. Ask an owner of your organization.")


def require_organization(actor: Actor) -> uuid.UUID:
    """The actor's organization, for services that scope every read and write by it."""
    if actor.organization_id is None:
        raise PermissionDenied("This needs a partner organization.")
    return actor.organization_id
