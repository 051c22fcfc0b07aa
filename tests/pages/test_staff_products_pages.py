"""Staff › Disputes and Staff › Reports (AppTest): every dispute with both organizations
named and its history, decided with a required reason; every report, removed with a reason;
partners refused."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.products import (
    CommunityReport,
    DisputeStatus,
    OwnershipDispute,
    ProfileStatus,
    ReportKind,
    WhoisProfile,
)
from portal_core.services import reports, whois
from portal_core.services.whois import ProfileForm
from tests.factories import actor_of, make_organization, make_staff, make_user
from tests.pages.conftest import NOT_YOUR_ROLE, Portal, make_member, plain, refused

DISPUTES = "pages/staff_disputes.py"
REPORTS = "pages/staff_reports.py"


def _staff(portal: Portal) -> User:
    with db.write_session(portal.engine) as session:
        return make_staff(session)


def _member_of(portal: Portal, name: str) -> User:
    with db.write_session(portal.engine) as session:
        return make_user(session, organization=make_organization(session, name=name))


def _register(portal: Portal, user: User, caller_name: str) -> WhoisProfile:
    with db.write_session(portal.engine) as session:
        return whois.register(
            session,
            actor_of(user),
            ProfileForm(number="+14169671111", caller_name=caller_name, line_type="fixed"),
        )


def _dispute(portal: Portal) -> OwnershipDispute:
    with db.read_session(portal.engine) as session:
        return session.exec(select(OwnershipDispute)).one()


def test_staff_decide_a_dispute_with_a_reason(portal: Portal) -> None:
    held = _register(portal, _member_of(portal, "Holder Org"), "Holder")
    claim = _register(portal, _member_of(portal, "Claimant Org"), "Claimant")
    dispute = _dispute(portal)
    app = portal.open(DISPUTES, as_user=_staff(portal), query_params={"dispute": dispute.id})
    assert not app.exception, app.exception
    [frame] = [f.value for f in app.dataframe]
    assert frame[["number", "holder", "claimant", "status"]].values.tolist() == [
        ["+1 416-967-1111", "Holder Org", "Claimant Org", "Open"]
    ]
    shown = plain(app)
    assert "Holder: Holder Org" in shown.replace("**", "")
    assert "registered while another organization holds it" in shown
    app = app.button(key="staff.disputes.for_claimant").click().run()
    app = app.button(key="staff.disputes.decide.confirm").click().run()
    assert any("Enter the reason" in str(error.value) for error in app.error)
    assert _dispute(portal).status == DisputeStatus.OPEN
    [reason] = [area for area in app.text_area if area.label == "Reason"]
    reason.input("Letter of authorization from the carrier")
    app = app.button(key="staff.disputes.decide.confirm").click().run()
    assert not app.exception, app.exception
    decided = _dispute(portal)
    assert decided.status == DisputeStatus.DECIDED
    assert decided.reason == "Letter of authorization from the carrier"
    assert "Decided: the claimant keeps +1 416-967-1111." in plain(app)
    with db.read_session(portal.engine) as session:
        assert session.get(WhoisProfile, held.id) is None
        assert session.get_one(WhoisProfile, claim.id).status == ProfileStatus.ACTIVE
    assert "staff.disputes.for_holder" not in {button.key for button in app.button}


def test_staff_remove_a_report_with_a_reason(portal: Portal) -> None:
    reporter = _member_of(portal, "Reporting Org")
    with db.write_session(portal.engine) as session:
        made = reports.report(
            session,
            actor_of(reporter),
            number="+14169671111",
            kind=ReportKind.SPAM,
            comment="Robocalls",
        )
    app = portal.open(REPORTS, as_user=_staff(portal), query_params={"report": made.id})
    assert not app.exception, app.exception
    [frame] = [f.value for f in app.dataframe]
    assert frame[["number", "kind", "organization", "state"]].values.tolist() == [
        ["+1 416-967-1111", "Spam", "Reporting Org", "Counting"]
    ]
    app = app.button(key="staff.reports.remove_button").click().run()
    [reason] = [area for area in app.text_area if area.label == "Reason"]
    reason.input("A competitor's campaign")
    app = app.button(key="staff.reports.remove.confirm").click().run()
    assert not app.exception, app.exception
    assert "The report of +1 416-967-1111 is removed." in plain(app)
    with db.read_session(portal.engine) as session:
        removed = session.get_one(CommunityReport, made.id)
    assert removed.removed_reason == "A competitor's campaign"
    assert "Removed: A competitor's campaign. It no longer counts." in plain(app)


@pytest.mark.parametrize("page", [DISPUTES, REPORTS])
@pytest.mark.parametrize("role", [Role.OWNER, Role.VIEWER], ids=str)
def test_partners_are_refused(portal: Portal, page: str, role: Role) -> None:
    app = portal.open(page, as_user=make_member(portal, role))
    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe
