"""Staff › Organizations (also staff's "/") and Staff › Audit log, through AppTest.

They cover the table widget on a real list too: the count line, the pager, the gear's page
size, the filter form, and the empty state with its way back.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import (
    PARTNER_ROLES,
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
)
from portal_core.models.audit import AuditEvent
from portal_core.models.base import utcnow
from portal_core.services import sessions
from tests.factories import log_in, make_organization, make_staff, make_user
from tests.pages.conftest import Portal, texts

ORGANIZATIONS_PAGE = "pages/staff_organizations.py"
AUDIT_PAGE = "pages/staff_audit_log.py"
TABLE = "staff.organizations"


def make_staff_user(portal: Portal) -> User:
    with db.write_session(portal.engine) as session:
        return make_staff(session, name="Sam Staff")


def make_organizations(portal: Portal, count: int) -> list[Organization]:
    """``count`` organizations named "Org 01", "Org 02"…, created a minute apart."""
    start = utcnow() - timedelta(days=1)
    made = []
    with db.write_session(portal.engine) as session:
        for number in range(1, count + 1):
            organization = make_organization(session, name=f"Org {number:02d}")
            organization.created_at = start + timedelta(minutes=number)
            made.append(organization)
    return made


def listed_names(app: AppTest) -> list[str]:
    return list(app.dataframe[0].value["name"])


def open_organization(portal: Portal, viewer: User, organization_id: uuid.UUID) -> AppTest:
    """Staff › Organizations opened from a link naming the organization (?organization=…)."""
    return portal.open(
        ORGANIZATIONS_PAGE, as_user=viewer, query_params={"organization": organization_id}
    )


def stored_user(portal: Portal, user_id: uuid.UUID) -> User:
    with db.read_session(portal.engine) as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


# --- Who sees the Staff pages ----------------------------------------------------------------


@pytest.mark.parametrize("script", ["Home.py", ORGANIZATIONS_PAGE])
def test_staff_see_the_organizations_list(portal: Portal, script: str) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind Voice")
        make_user(session, organization=north, role=Role.OWNER)

    app = portal.open(script, as_user=staff)

    assert not app.exception, app.exception
    assert [title.value for title in app.title] == ["Organizations"]
    frame = app.dataframe[0].value
    assert list(frame["name"]) == ["Northwind Voice"]
    assert list(frame["users"]) == [1]
    assert list(frame["state"]) == ["Active"]
    assert "Showing 1–1 of 1 organizations" in texts(app)


@pytest.mark.parametrize("script", [ORGANIZATIONS_PAGE, AUDIT_PAGE])
@pytest.mark.parametrize("role", sorted(PARTNER_ROLES))
def test_every_partner_role_is_refused_the_staff_pages_and_sees_nothing_of_them(
    portal: Portal, role: Role, script: str
) -> None:
    with db.write_session(portal.engine) as session:
        make_organization(session, name="Secret Telecom")
        partner = make_user(session, role=role)

    app = portal.open(script, as_user=partner)

    assert not app.exception, app.exception
    assert "Your role does not give you access to this page." in texts(app)
    assert len(app.dataframe) == 0
    assert "Secret Telecom" not in texts(app)
    assert "Organizations" not in [title.value for title in app.title]
    assert "Audit log" not in [title.value for title in app.title]


def test_audit_log_shows_a_sign_in(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        owner = make_user(session, role=Role.OWNER, email="ada@northwind.example")
    log_in(portal.engine, owner, ip_address="198.51.100.4")

    app = portal.open(AUDIT_PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert [title.value for title in app.title] == ["Audit log"]
    frame = app.dataframe[0].value
    sign_ins = frame[frame["subject"] == "ada@northwind.example"]
    assert list(sign_ins["action"]) == ["login"]
    assert list(sign_ins["ip_address"]) == ["198.51.100.4"]


# --- The table widget on the organizations list ----------------------------------------------


def test_list_pages_twenty_at_a_time_and_the_pager_moves_on(portal: Portal) -> None:
    staff = make_staff_user(portal)
    make_organizations(portal, 25)

    app = portal.open(ORGANIZATIONS_PAGE, as_user=staff)
    assert "Showing 1–20 of 25 organizations" in texts(app)
    assert listed_names(app)[:2] == ["Org 25", "Org 24"]  # newest first
    assert "Page 1 of 2" in texts(app)

    app.button(key=f"{TABLE}.next").click().run()

    assert not app.exception, app.exception
    assert "Showing 21–25 of 25 organizations" in texts(app)
    assert listed_names(app) == ["Org 05", "Org 04", "Org 03", "Org 02", "Org 01"]
    assert app.button(key=f"{TABLE}.next").disabled

    app.button(key=f"{TABLE}.previous").click().run()
    assert "Showing 1–20 of 25 organizations" in texts(app)


def test_gear_changes_page_size_and_sort(portal: Portal) -> None:
    staff = make_staff_user(portal)
    make_organizations(portal, 12)
    app = portal.open(ORGANIZATIONS_PAGE, as_user=staff)

    app.button_group(key=f"{TABLE}.page_size").set_value(10).run()
    assert "Showing 1–10 of 12 organizations" in texts(app)

    app.selectbox(key=f"{TABLE}.sort").set_value("name").run()
    app.button_group(key=f"{TABLE}.order").set_value("asc").run()

    assert not app.exception, app.exception
    assert listed_names(app) == [f"Org {number:02d}" for number in range(1, 11)]


def test_filter_form_applies_the_search_and_clear_brings_everything_back(
    portal: Portal,
) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind")
        north.legal_name = "Maple Leaf Telecom Inc."
        make_organization(session, name="Southwind")
    app = portal.open(ORGANIZATIONS_PAGE, as_user=staff)

    app.text_input(key=f"{TABLE}.filter.search").input("maple leaf")
    app.button(key=f"{TABLE}.apply_filters").click().run()

    assert listed_names(app) == ["Northwind"]
    assert "Showing 1–1 of 1 organizations" in texts(app)

    app.button(key=f"{TABLE}.clear_filters").click().run()

    assert sorted(listed_names(app)) == ["Northwind", "Southwind"]


def test_no_match_says_so_and_offers_to_clear_the_filters(portal: Portal) -> None:
    staff = make_staff_user(portal)
    make_organizations(portal, 2)
    app = portal.open(ORGANIZATIONS_PAGE, as_user=staff)

    app.text_input(key=f"{TABLE}.filter.search").input("nothing like this")
    app.button(key=f"{TABLE}.apply_filters").click().run()

    assert "No organizations match these filters." in texts(app)
    assert len(app.dataframe) == 0

    app.button(key=f"{TABLE}.clear_when_empty").click().run()

    assert sorted(listed_names(app)) == ["Org 01", "Org 02"]
    assert app.text_input(key=f"{TABLE}.filter.search").value == ""


def test_a_backwards_date_range_is_refused_with_its_message(portal: Portal) -> None:
    staff = make_staff_user(portal)
    make_organizations(portal, 1)
    app = portal.open(ORGANIZATIONS_PAGE, as_user=staff)
    today = utcnow().date()

    app.date_input(key=f"{TABLE}.filter.created.from").set_value(today)
    app.date_input(key=f"{TABLE}.filter.created.to").set_value(today - timedelta(days=1))
    app.button(key=f"{TABLE}.apply_filters").click().run()

    assert not app.exception, app.exception
    assert f"Created ends before it starts: choose an end date on or after {today}." in texts(app)
    assert len(app.dataframe) == 0


# --- One organization, and acting on it ------------------------------------------------------


def test_a_link_with_the_organization_opens_it_below_the_list(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind")
        make_user(session, organization=north, role=Role.OWNER, email="ada@northwind.example")
        make_user(session, role=Role.OWNER, email="bob@elsewhere.example")

    app = open_organization(portal, staff, north.id)

    assert not app.exception, app.exception
    assert "Northwind" in [subheader.value for subheader in app.subheader]
    assert "ada@northwind" in texts(app)
    assert "bob@elsewhere" not in texts(app)


def test_a_link_to_an_unknown_organization_says_it_was_not_found(portal: Portal) -> None:
    staff = make_staff_user(portal)

    app = open_organization(portal, staff, uuid.uuid4())

    assert not app.exception, app.exception
    assert "That organization was not found." in texts(app)


def test_deactivating_a_user_asks_a_reason_then_ends_their_sessions(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind")
        make_user(session, organization=north, role=Role.OWNER)
        member = make_user(session, organization=north, role=Role.DEVELOPER, name="Dev Member")
    handle = log_in(portal.engine, member)
    app = open_organization(portal, staff, north.id)

    app.button(key=f"staff.user.{member.id}.toggle").click().run()
    app.text_area(key=f"staff.change.user.{member.id}.deactivate.reason").input("Left the company")
    app.button(key="staff.change.confirm").click().run()

    assert not app.exception, app.exception
    assert stored_user(portal, member.id).status == UserStatus.DEACTIVATED
    with db.read_session(portal.engine) as session:
        assert sessions.resolve(session, handle) is None
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "user.deactivated")
        ).one()
    assert event.detail == "Left the company"
    assert f"Dev Member (`{member.email}`) is deactivated; their sessions have ended." in texts(app)
    assert app.button(key=f"staff.user.{member.id}.toggle").label == "Reactivate"


def test_confirming_without_a_reason_shows_the_services_message_and_changes_nothing(
    portal: Portal,
) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind")
        member = make_user(session, organization=north, role=Role.VIEWER)
    app = open_organization(portal, staff, north.id)

    app.button(key=f"staff.user.{member.id}.toggle").click().run()
    app.button(key="staff.change.confirm").click().run()

    assert not app.exception, app.exception
    assert "Enter a reason." in texts(app)
    assert stored_user(portal, member.id).status == UserStatus.ACTIVE


def test_cancel_closes_the_confirmation_without_a_change(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind")
        member = make_user(session, organization=north, role=Role.VIEWER)
    app = open_organization(portal, staff, north.id)

    app.button(key=f"staff.user.{member.id}.toggle").click().run()
    app.button(key="staff.change.cancel").click().run()

    assert not app.exception, app.exception
    assert "staff.change.confirm" not in [button.key for button in app.button]
    assert stored_user(portal, member.id).status == UserStatus.ACTIVE
    # The organization is still open, its user still offered for deactivation.
    assert "Northwind" in [subheader.value for subheader in app.subheader]
    assert app.button(key=f"staff.user.{member.id}.toggle").label == "Deactivate"


def test_deactivating_and_reactivating_the_organization(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        north = make_organization(session, name="Northwind")
        owner = make_user(session, organization=north, role=Role.OWNER)
    handle = log_in(portal.engine, owner)
    app = open_organization(portal, staff, north.id)

    app.button(key="staff.organization.toggle").click().run()
    app.text_area(key=f"staff.change.organization.{north.id}.deactivate.reason").input(
        "Unpaid invoices"
    )
    app.button(key="staff.change.confirm").click().run()

    assert not app.exception, app.exception
    with db.read_session(portal.engine) as session:
        assert session.get(Organization, north.id).status == OrganizationStatus.DEACTIVATED  # type: ignore[union-attr]
        assert sessions.resolve(session, handle) is None
    assert "This organization is deactivated: none of its users can sign in." in texts(app)

    app.button(key="staff.organization.toggle").click().run()
    app.text_area(key=f"staff.change.organization.{north.id}.reactivate.reason").input("Paid")
    app.button(key="staff.change.confirm").click().run()

    with db.read_session(portal.engine) as session:
        assert session.get(Organization, north.id).status == OrganizationStatus.ACTIVE  # type: ignore[union-attr]
    assert "Northwind is reactivated." in texts(app)
