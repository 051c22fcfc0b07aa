"""Staff reads: only staff may make them; organizations, one organization, the audit log."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied
from portal_core.models.accounts import PARTNER_ROLES, OrganizationStatus, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.permissions import Actor
from portal_core.queries import staff
from portal_core.queries.listing import DateRange, Listing, ListQuery, fetch_page
from portal_core.services import audit, members
from tests.factories import (
    actor_of,
    log_in,
    make_organization,
    make_staff,
    make_user,
    organization_of,
)


@pytest.fixture
def staff_actor(engine: Engine) -> Actor:
    with db.write_session(engine) as session:
        return actor_of(make_staff(session))


def rows(engine: Engine, listing: Listing, query: ListQuery | None = None) -> list[dict]:
    with db.read_session(engine) as session:
        return fetch_page(session, listing, query or ListQuery()).rows


@pytest.mark.parametrize("role", sorted(PARTNER_ROLES))
def test_a_partner_of_every_role_is_refused_every_staff_read(engine: Engine, role: Role) -> None:
    with db.write_session(engine) as session:
        partner = make_user(session, role=role)
    actor = actor_of(partner)
    assert partner.organization_id is not None

    with pytest.raises(PermissionDenied):
        staff.organizations(actor)
    with pytest.raises(PermissionDenied):
        staff.audit_log(actor)
    with db.read_session(engine) as session, pytest.raises(PermissionDenied):
        staff.organization_detail(session, actor, partner.organization_id)


def test_search_finds_an_organization_by_legal_name_in_any_case(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        maple = make_organization(session, name="Northwind")
        maple.legal_name = "Maple Leaf Telecom Inc."
        make_organization(session, name="Southwind")

    found = rows(
        engine, staff.organizations(staff_actor), ListQuery(filters={"search": "LEAF tel"})
    )

    assert [row["name"] for row in found] == ["Northwind"]
    assert found[0]["legal_name"] == "Maple Leaf Telecom Inc."


def test_search_finds_an_organization_by_name(engine: Engine, staff_actor: Actor) -> None:
    with db.write_session(engine) as session:
        make_organization(session, name="Northwind Voice")
        make_organization(session, name="Southwind")

    found = rows(engine, staff.organizations(staff_actor), ListQuery(filters={"search": "voice"}))

    assert [row["name"] for row in found] == ["Northwind Voice"]


def test_status_filter_tells_active_setting_up_and_deactivated_apart(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        make_organization(session, name="Running")
        make_organization(session, name="Wizard", active=False)
        stopped = make_organization(session, name="Stopped")
        stopped.status = OrganizationStatus.DEACTIVATED
    listing = staff.organizations(staff_actor)

    def named(state: str) -> list[str]:
        return [row["name"] for row in rows(engine, listing, ListQuery(filters={"state": state}))]

    assert named("active") == ["Running"]
    assert named("setting_up") == ["Wizard"]
    assert named("deactivated") == ["Stopped"]
    assert {row["name"]: row["state"] for row in rows(engine, listing)} == {
        "Running": "active",
        "Wizard": "setting_up",
        "Stopped": "deactivated",
    }


def test_organizations_list_counts_each_organizations_users(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        busy = make_organization(session, name="Busy")
        make_organization(session, name="Empty")
        for role in (Role.OWNER, Role.ADMIN, Role.VIEWER):
            make_user(session, organization=busy, role=role)

    listed = rows(engine, staff.organizations(staff_actor), ListQuery(sort="name"))

    assert [(row["name"], row["users"]) for row in listed] == [("Empty", 0), ("Busy", 3)]


def test_organizations_created_range_filters_by_creation_day(
    engine: Engine, staff_actor: Actor
) -> None:
    today = utcnow().date()
    with db.write_session(engine) as session:
        old = make_organization(session, name="Old")
        old.created_at = utcnow() - timedelta(days=40)
        make_organization(session, name="New")

    recent = ListQuery(filters={"created": DateRange(today - timedelta(days=7), today)})

    assert [row["name"] for row in rows(engine, staff.organizations(staff_actor), recent)] == [
        "New"
    ]


def test_detail_lists_the_users_of_that_organization_only(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        organization = make_organization(session, name="Northwind")
        owner = make_user(session, organization=organization, role=Role.OWNER, name="Ada Owner")
        viewer = make_user(
            session,
            organization=organization,
            role=Role.VIEWER,
            status=UserStatus.DEACTIVATED,
            name="Vic Viewer",
        )
        viewer.created_at = owner.created_at + timedelta(seconds=1)
        make_user(session, role=Role.OWNER, name="Someone Elsewhere")

    with db.read_session(engine) as session:
        detail = staff.organization_detail(session, staff_actor, organization.id)

    assert detail.name == "Northwind"
    assert detail.state_label == "Active"
    assert [(m.name, m.email, m.role, m.status) for m in detail.members] == [
        ("Ada Owner", owner.email, Role.OWNER, UserStatus.ACTIVE),
        ("Vic Viewer", viewer.email, Role.VIEWER, UserStatus.DEACTIVATED),
    ]
    assert detail.members[1].deactivated
    assert len(detail.domains) == 1


def test_detail_of_an_unknown_organization_is_not_found(engine: Engine, staff_actor: Actor) -> None:
    with db.read_session(engine) as session, pytest.raises(NotFound):
        staff.organization_detail(session, staff_actor, uuid.uuid4())


def test_audit_log_shows_sign_ins_newest_first_and_filters_by_kind(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        user: User = make_user(session, role=Role.OWNER, name="Ada Owner")
    log_in(engine, user)
    with db.write_session(engine) as session:
        audit.record(session, "password.changed", subject=user.email)

    listing = staff.audit_log(staff_actor)
    everything = rows(engine, listing)
    sign_ins = rows(engine, listing, ListQuery(filters={"kind": "sign_in"}))
    passwords = rows(engine, listing, ListQuery(filters={"kind": "password"}))

    assert [row["action"] for row in everything] == ["password.changed", "login"]
    assert [(row["action"], row["subject"]) for row in sign_ins] == [("login", user.email)]
    assert sign_ins[0]["ip_address"] == "203.0.113.7"
    assert [row["action"] for row in passwords] == ["password.changed"]


def test_audit_log_files_the_users_pages_events_under_their_kinds(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        owner: User = make_user(session, role=Role.OWNER)
        members.invite(session, actor_of(owner), "new.member@example.com", Role.VIEWER)
        viewer = make_user(session, role=Role.VIEWER, organization=organization_of(session, owner))
    with db.write_session(engine) as session:
        members.set_active(session, actor_of(owner), viewer.id, False)

    listing = staff.audit_log(staff_actor)
    joins = rows(engine, listing, ListQuery(filters={"kind": "members"}))
    deactivations = rows(engine, listing, ListQuery(filters={"kind": "deactivation"}))

    assert [row["action"] for row in joins] == ["member.invited"]
    assert [(row["action"], row["subject"]) for row in deactivations] == [
        ("member.deactivated", viewer.email)
    ]


def test_audit_log_searches_subjects_and_organization_names(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        north = make_organization(session, name="Northwind")
        south = make_organization(session, name="Southwind")
        audit.record(session, "login", organization_id=north.id, subject="ada@north.example")
        audit.record(session, "login", organization_id=south.id, subject="bob@south.example")
    listing = staff.audit_log(staff_actor)

    by_subject = rows(engine, listing, ListQuery(filters={"search": "ADA@"}))
    by_organization = rows(engine, listing, ListQuery(filters={"organization": "south"}))

    assert [row["subject"] for row in by_subject] == ["ada@north.example"]
    assert [(row["subject"], row["organization"]) for row in by_organization] == [
        ("bob@south.example", "Southwind")
    ]


def test_audit_log_of_one_organization_has_only_its_events(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        north = make_organization(session, name="Northwind")
        south = make_organization(session, name="Southwind")
        audit.record(session, "login", organization_id=north.id, subject="ada@north.example")
        audit.record(session, "login", organization_id=south.id, subject="bob@south.example")

    listed = rows(engine, staff.audit_log(staff_actor, organization_id=north.id))

    assert [row["subject"] for row in listed] == ["ada@north.example"]


def test_audit_log_filters_billing_actions_and_partners_plan_and_card_changes(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        for action in (
            "billing.credit_posted",
            "invoices.run",
            "platform_setting.updated",
            "plan.upgraded",
            "payment_method.removed",
            "auto_recharge.updated",
            "login",
        ):
            audit.record(session, action, subject=action)
    listing = staff.audit_log(staff_actor)

    billing = rows(engine, listing, ListQuery(filters={"kind": "billing"}))
    partners = rows(engine, listing, ListQuery(filters={"kind": "plans_and_cards"}))

    assert sorted(row["action"] for row in billing) == [
        "billing.credit_posted",
        "invoices.run",
        "platform_setting.updated",
    ]
    assert sorted(row["action"] for row in partners) == [
        "auto_recharge.updated",
        "payment_method.removed",
        "plan.upgraded",
    ]


def test_audit_log_filters_two_factor_changes_and_counts_wrong_codes_as_failed_sign_ins(
    engine: Engine, staff_actor: Actor
) -> None:
    with db.write_session(engine) as session:
        for action in (
            "two_factor.enabled",
            "two_factor.recovery_code_used",
            "organization.two_factor_required",
            "login.code_failed",
            "login.failed",
            "login",
        ):
            audit.record(session, action, subject=action)
    listing = staff.audit_log(staff_actor)

    two_factor = rows(engine, listing, ListQuery(filters={"kind": "two_factor"}))
    failed = rows(engine, listing, ListQuery(filters={"kind": "sign_in_failed"}))

    assert sorted(row["action"] for row in two_factor) == [
        "organization.two_factor_required",
        "two_factor.enabled",
        "two_factor.recovery_code_used",
    ]
    assert sorted(row["action"] for row in failed) == ["login.code_failed", "login.failed"]
