"""Notices (AppTest): every partner role opens it with its organization's notices, staff with
the staff notices (and neither sees the other's); the list with its read state; the empty
state; opening a notice (from the bell's link, ``?notice=<id>``) shows it and marks it read;
another organization's notice is not found."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from sqlmodel import col, func, select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.notices import NoticeKind, NoticeRead
from portal_core.permissions import Capability
from portal_core.services import notices
from portal_core.ui import shell
from tests.factories import make_organization, make_staff, make_user
from tests.pages.conftest import Portal, plain, texts, unescaped

PAGE = "pages/notices.py"
PARTNER_ROLES = [Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER]
EMPTY = "No notices yet: low balances, failed payments and new invoices will appear here."


def make_member(portal: Portal, role: Role, organization: Organization | None = None) -> User:
    with db.write_session(portal.engine) as session:
        if role is Role.STAFF:
            return make_staff(session)
        return make_user(session, role=role, organization=organization)


def post(
    portal: Portal,
    organization_id: uuid.UUID | None,
    title: str,
    *,
    capability: Capability = Capability.USE_PORTAL,
    link_page_id: str | None = None,
) -> uuid.UUID:
    assert organization_id is not None
    with db.write_session(portal.engine) as session:
        return notices.post(
            session,
            organization_id=organization_id,
            kind=NoticeKind.PAYMENT_FAILED,
            title=title,
            body=f"{title}, in detail: Visa •••• 0002 was declined for $25.00.",
            dedupe_key=uuid.uuid4().hex,
            capability=capability,
            link_page_id=link_page_id,
        ).id


def open_notice(portal: Portal, user: User, notice_id: uuid.UUID | str) -> AppTest:
    """The Notices page as the bell's "Open" link opens it: with ``?notice=<id>``."""
    return portal.open(PAGE, as_user=user, query_params={shell.NOTICE_PARAM: notice_id})


def table_of(app: AppTest) -> pd.DataFrame:
    [frame] = app.dataframe
    return frame.value


def read_marks(portal: Portal, user: User) -> int:
    with db.read_session(portal.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(NoticeRead)
                .where(col(NoticeRead.user_id) == user.id)
            ).one()
        )


def bell_label(app: AppTest) -> str:
    return str(app.main.get_by_key(shell.BELL).proto.popover.label)


@pytest.mark.parametrize("role", PARTNER_ROLES, ids=str)
def test_every_partner_role_sees_its_notices_with_their_read_state(
    portal: Portal, role: Role
) -> None:
    member = make_member(portal, role)
    post(portal, member.organization_id, "A payment failed")

    app = portal.open(PAGE, as_user=member)

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Notices"]
    assert table_of(app)[["kind", "title", "state"]].values.tolist() == [
        ["Payment failed", "A payment failed", "Unread"]
    ]


def post_for_staff(portal: Portal, title: str) -> uuid.UUID:
    with db.write_session(portal.engine) as session:
        return notices.post_for_staff(
            session,
            kind=NoticeKind.MAIL_UNDELIVERABLE,
            title=title,
            body=f"{title}: “Your receipt” was tried 10 times and never accepted.",
            dedupe_key=uuid.uuid4().hex,
        ).id


def test_staff_see_the_staff_notices_and_no_organizations(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    partner = make_member(portal, Role.OWNER)
    post(portal, partner.organization_id, "Their payment failed")
    post_for_staff(portal, "E-mail to a@example.com could not be sent")

    app = portal.open(PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Notices"]
    assert table_of(app)[["kind", "title", "state"]].values.tolist() == [
        ["E-mail not sent", "E-mail to a@example.com could not be sent", "Unread"]
    ]
    assert "Their payment failed" not in texts(app)
    assert bell_label(app) == "1"


def test_staff_open_a_staff_notice_and_it_is_marked_read(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    notice_id = post_for_staff(portal, "E-mail to b@example.com could not be sent")

    app = open_notice(portal, staff, notice_id)

    assert not app.exception, app.exception
    # The page escapes Markdown: read what it drew without the escapes.
    assert [unescaped(str(header.value)) for header in app.subheader] == [
        "E-mail to b@example.com could not be sent"
    ]
    assert "was tried 10 times and never accepted" in plain(app)
    assert read_marks(portal, staff) == 1
    assert bell_label(app) == ""


def test_staff_without_notices_are_told_what_will_appear(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, Role.STAFF))

    assert not app.exception
    assert [str(info.value) for info in app.info] == [
        "No notices yet: e-mails that could not be sent will appear here."
    ]


def test_staff_cannot_open_an_organizations_notice(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    partner = make_member(portal, Role.OWNER)
    theirs = post(portal, partner.organization_id, "Their payment failed")

    app = open_notice(portal, staff, theirs)

    assert not app.exception, app.exception
    assert [str(warning.value) for warning in app.warning] == ["That notice was not found."]
    assert "Their payment failed" not in texts(app)
    assert read_marks(portal, staff) == 0


@pytest.mark.parametrize("role", PARTNER_ROLES, ids=str)
def test_a_partner_neither_lists_nor_opens_a_staff_notice(portal: Portal, role: Role) -> None:
    member = make_member(portal, role)
    staff_only = post_for_staff(portal, "E-mail to c@example.com could not be sent")
    post(portal, member.organization_id, "A payment failed")

    listed = portal.open(PAGE, as_user=member)
    opened = open_notice(portal, member, staff_only)

    assert not listed.exception, listed.exception
    assert table_of(listed)["title"].tolist() == ["A payment failed"]
    assert bell_label(listed) == "1"
    assert [str(warning.value) for warning in opened.warning] == ["That notice was not found."]
    assert "could not be sent" not in texts(opened)


def test_a_member_without_notices_is_told_what_will_appear(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, Role.VIEWER))

    assert not app.exception
    assert [str(info.value) for info in app.info] == [EMPTY]


def test_another_organizations_notices_are_not_listed(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    with db.write_session(portal.engine) as session:
        elsewhere = make_organization(session)
    post(portal, elsewhere.id, "Their payment failed")

    app = portal.open(PAGE, as_user=member)

    assert not app.exception, app.exception
    assert [str(info.value) for info in app.info] == [EMPTY]
    assert "Their payment failed" not in texts(app)


def test_opening_a_notice_shows_it_and_marks_it_read(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    notice_id = post(portal, member.organization_id, "A payment failed")

    app = open_notice(portal, member, notice_id)

    assert not app.exception, app.exception
    assert [str(header.value) for header in app.subheader] == ["A payment failed"]
    shown = texts(app).replace("\\", "")
    assert "A payment failed, in detail: Visa •••• 0002 was declined for $25.00." in shown
    assert read_marks(portal, member) == 1
    assert table_of(app)["state"].tolist() == ["Read"]
    assert bell_label(app) == ""  # the bell counts it read in the same visit


def test_opening_a_read_notice_again_changes_nothing(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    notice_id = post(portal, member.organization_id, "A payment failed")
    open_notice(portal, member, notice_id)

    app = open_notice(portal, member, notice_id)

    assert [str(header.value) for header in app.subheader] == ["A payment failed"]
    assert read_marks(portal, member) == 1


@pytest.mark.parametrize("whose", ["another organization's", "not a notice"])
def test_a_notice_the_member_may_not_see_is_not_found(portal: Portal, whose: str) -> None:
    member = make_member(portal, Role.VIEWER)
    with db.write_session(portal.engine) as session:
        elsewhere = make_organization(session)
    theirs = post(portal, elsewhere.id, "Their payment failed")

    app = open_notice(portal, member, theirs if whose != "not a notice" else "not-a-uuid")

    assert not app.exception, app.exception
    assert [str(warning.value) for warning in app.warning] == ["That notice was not found."]
    assert "Their payment failed" not in texts(app)
    assert read_marks(portal, member) == 0


def test_an_opened_notice_links_to_its_page_only_when_the_role_may_open_it(
    portal: Portal,
) -> None:
    viewer = make_member(portal, Role.VIEWER)
    to_profile = post(
        portal, viewer.organization_id, "Check your profile", link_page_id="access.my_profile"
    )
    to_billing = post(
        portal, viewer.organization_id, "Funds are low", link_page_id="billing.overview"
    )

    linked = open_notice(portal, viewer, to_profile)
    unlinked = open_notice(portal, viewer, to_billing)

    main_links = [str(link.proto.label) for link in linked.main.get("page_link")]
    assert "Go to My Profile" in main_links
    assert not unlinked.exception, unlinked.exception
    assert [str(header.value) for header in unlinked.subheader] == ["Funds are low"]
    assert not any(
        str(link.proto.label).startswith("Go to") for link in unlinked.main.get("page_link")
    )


def test_closing_an_opened_notice_leaves_the_list(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    notice_id = post(portal, member.organization_id, "A payment failed")
    app = open_notice(portal, member, notice_id)

    [close] = [button for button in app.button if button.label == "Close"]
    close.click()
    app.run()

    assert not app.exception
    assert shell.NOTICE_PARAM not in app.query_params
    assert [str(header.value) for header in app.subheader] == []
    assert table_of(app)["title"].tolist() == ["A payment failed"]


def test_mark_all_as_read_marks_every_notice_of_the_list(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    post(portal, member.organization_id, "First")
    post(portal, member.organization_id, "Second")
    app = portal.open(PAGE, as_user=member)

    [mark_all] = [button for button in app.button if button.label == "Mark all as read"]
    assert not mark_all.disabled
    mark_all.click()
    app.run()

    assert not app.exception
    assert table_of(app)["state"].tolist() == ["Read", "Read"]
    assert read_marks(portal, member) == 2
    assert bell_label(app) == ""
    assert [str(toast.value) for toast in app.toast] == ["2 notices marked as read."]
    [mark_all] = [button for button in app.button if button.label == "Mark all as read"]
    assert mark_all.disabled
