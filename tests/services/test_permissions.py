"""Roles: GRANTS is the matrix of docs/product.md, Roles; the services refuse what a role may
not do."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import Conflict, PermissionDenied, ValidationFailed
from portal_core.models.accounts import (
    PARTNER_ROLES,
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
)
from portal_core.models.audit import AuditEvent
from portal_core.permissions import GRANTS, Capability
from portal_core.services import company, staff
from portal_core.services.company import CompanyDetails
from tests.factories import actor_of, make_organization, make_staff, make_user
from tests.services.support import fetch

OWNER, ADMIN, BILLING, DEVELOPER, VIEWER = (
    Role.OWNER,
    Role.ADMIN,
    Role.BILLING,
    Role.DEVELOPER,
    Role.VIEWER,
)
EVERY_PARTNER = {OWNER, ADMIN, BILLING, DEVELOPER, VIEWER}

# docs/product.md, Roles, row by row (a ✓ per role), written out again here on purpose: the test
# compares two transcriptions of the matrix, not the code with itself.
SPEC_MATRIX: dict[Capability, set[Role]] = {
    # Dashboard, Logs, My Profile, top-bar funds
    Capability.USE_PORTAL: EVERY_PARTNER,
    Capability.MY_PROFILE: EVERY_PARTNER | {Role.STAFF},
    # Smart CNAM lookups; Whois add / edit / import
    Capability.LOOKUP: {OWNER, ADMIN, DEVELOPER},
    Capability.WHOIS_WRITE: {OWNER, ADMIN, DEVELOPER},
    # Whois Profiles (read)
    Capability.WHOIS_READ: {OWNER, ADMIN, DEVELOPER, VIEWER},
    # Company, Brand: edit for owner and admin, read for the others
    Capability.COMPANY_READ: EVERY_PARTNER,
    Capability.COMPANY_EDIT: {OWNER, ADMIN},
    # Users: invite (owner, admin) / deactivate and change roles (owner only)
    Capability.USERS_INVITE: {OWNER, ADMIN},
    Capability.USERS_MANAGE: {OWNER},
    # API tokens
    Capability.API_TOKENS: {OWNER, ADMIN, DEVELOPER},
    # Billing pages (read) / add funds, cards, plan
    Capability.BILLING_READ: {OWNER, ADMIN, BILLING},
    Capability.BILLING_MANAGE: {OWNER, ADMIN, BILLING},
    # Explore: owner, admin, billing; staff explore across organizations
    # (docs/product.md, Who uses it)
    Capability.EXPLORE: {OWNER, ADMIN, BILLING, Role.STAFF},
    Capability.STAFF: {Role.STAFF},
}

VALID_COMPANY = CompanyDetails(
    legal_name="Northwind Voice Inc.",
    country="CA",
    province="ON",
    address_line="1 Front Street",
    city="Toronto",
    postal_code="M5J 2X2",
    tax_id="",
)


def _organization_id(user: User) -> uuid.UUID:
    assert user.organization_id is not None
    return user.organization_id


def test_every_capability_is_in_the_matrix():
    assert set(SPEC_MATRIX) == set(Capability)


@pytest.mark.parametrize("capability", list(Capability))
def test_grants_match_the_spec_matrix(capability):
    granted = {role for role, capabilities in GRANTS.items() if capability in capabilities}

    assert granted == SPEC_MATRIX[capability]


def test_every_role_has_grants():
    assert set(GRANTS) == set(Role)


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_a_role_without_company_edit_may_not_save_the_company(engine, role):
    with db.write_session(engine) as session:
        user = make_user(session, role=role)
    before = fetch(engine, Organization, user.organization_id).legal_name

    with pytest.raises(PermissionDenied):
        with db.write_session(engine) as session:
            company.save_company(session, actor_of(user), VALID_COMPANY)

    assert fetch(engine, Organization, user.organization_id).legal_name == before


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owners_and_admins_may_save_the_company(engine, role):
    with db.write_session(engine) as session:
        user = make_user(session, role=role)

    with db.write_session(engine) as session:
        company.save_company(session, actor_of(user), VALID_COMPANY)

    saved = fetch(engine, Organization, user.organization_id)
    assert (saved.legal_name, saved.postal_code) == ("Northwind Voice Inc.", "M5J 2X2")


@pytest.mark.parametrize("role", [Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_a_role_without_company_edit_may_not_add_a_domain(engine, role):
    with db.write_session(engine) as session:
        user = make_user(session, role=role)

    with pytest.raises(PermissionDenied):
        with db.write_session(engine) as session:
            company.add_brand_domain(session, actor_of(user), "brand.example.com")


@pytest.mark.parametrize("role", sorted(PARTNER_ROLES))
def test_staff_services_are_refused_to_every_partner_role(engine, role):
    with db.write_session(engine) as session:
        partner = make_user(session, role=role)
        victim = make_user(session)

    with pytest.raises(PermissionDenied):
        with db.write_session(engine) as session:
            staff.set_user_active(session, actor_of(partner), victim.id, False, reason="because")
    with pytest.raises(PermissionDenied):
        with db.write_session(engine) as session:
            staff.set_organization_active(
                session, actor_of(partner), _organization_id(victim), False, reason="because"
            )

    assert fetch(engine, User, victim.id).status == UserStatus.ACTIVE
    assert fetch(engine, Organization, victim.organization_id).status == OrganizationStatus.ACTIVE


def test_staff_cannot_deactivate_themselves(engine):
    with db.write_session(engine) as session:
        member = make_staff(session)

    with pytest.raises(Conflict, match="Staff accounts are managed by SIPSTACK"):
        with db.write_session(engine) as session:
            staff.set_user_active(session, actor_of(member), member.id, False, reason="testing")

    assert fetch(engine, User, member.id).status == UserStatus.ACTIVE


def test_staff_cannot_deactivate_another_staff_account(engine):
    with db.write_session(engine) as session:
        actor = actor_of(make_staff(session))
        colleague = make_staff(session)

    with pytest.raises(Conflict, match="Staff accounts are managed by SIPSTACK"):
        with db.write_session(engine) as session:
            staff.set_user_active(session, actor, colleague.id, False, reason="testing")

    assert fetch(engine, User, colleague.id).status == UserStatus.ACTIVE


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_staff_action_needs_a_reason(engine, reason):
    with db.write_session(engine) as session:
        actor = actor_of(make_staff(session))
        user = make_user(session)

    with pytest.raises(ValidationFailed) as raised:
        with db.write_session(engine) as session:
            staff.set_user_active(session, actor, user.id, False, reason=reason)
    assert set(raised.value.errors) == {"reason"}
    with pytest.raises(ValidationFailed):
        with db.write_session(engine) as session:
            staff.set_organization_active(
                session, actor, _organization_id(user), False, reason=reason
            )

    assert fetch(engine, User, user.id).status == UserStatus.ACTIVE


def test_a_staff_member_may_deactivate_an_organization_and_it_is_audited(engine):
    with db.write_session(engine) as session:
        member = make_staff(session)
        organization = make_organization(session)

    with db.write_session(engine) as session:
        staff.set_organization_active(
            session, actor_of(member), organization.id, False, reason="  chargebacks  "
        )

    assert fetch(engine, Organization, organization.id).status == OrganizationStatus.DEACTIVATED
    with db.read_session(engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "organization.deactivated")
        ).one()
    assert (event.actor_user_id, event.organization_id, event.detail) == (
        member.id,
        organization.id,
        "chargebacks",
    )
