"""Reading notices: a member sees their own and those for a capability their role holds, of
their organization, since they joined; the unread count; the bell's latest; the Notices
page's list with its filters. Staff see the staff notices, and only those; no partner sees
one (docs/product.md, The shell; docs/architecture.md, rule 3)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from portal_core import db
from portal_core.errors import NotFound
from portal_core.models.accounts import PARTNER_ROLES, Organization, Role, User
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.permissions import Capability
from portal_core.queries import notices as notice_queries
from portal_core.queries.listing import DateRange, ListQuery, fetch_page
from portal_core.services import notices
from tests.factories import actor_of, make_organization, make_staff, make_user


@pytest.fixture
def organization(engine) -> Organization:
    with db.write_session(engine) as session:
        return make_organization(session)


def _member(engine, organization: Organization, role: Role = Role.OWNER) -> User:
    with db.write_session(engine) as session:
        return make_user(
            session, organization=session.get(Organization, organization.id), role=role
        )


def _post(
    engine,
    organization: Organization,
    *,
    title: str = "Invoice 1 for October 2026",
    kind: NoticeKind = NoticeKind.INVOICE_ISSUED,
    capability: Capability | None = Capability.BILLING_READ,
    user: User | None = None,
    now: datetime | None = None,
) -> uuid.UUID:
    with db.write_session(engine) as session:
        return notices.post(
            session,
            organization_id=organization.id,
            kind=kind,
            title=title,
            body=f"{title}: the details.",
            dedupe_key=uuid.uuid4().hex,
            capability=None if user is not None else capability,
            user_id=user.id if user is not None else None,
            link_page_id="billing.invoices",
            now=now,
        ).id


def _titles(engine, user: User) -> list[str]:
    with db.read_session(engine) as session:
        return [item.title for item in notice_queries.latest(session, actor_of(user), limit=50)]


def _unread(engine, user: User) -> int:
    with db.read_session(engine) as session:
        return notice_queries.unread_count(session, actor_of(user))


def _listed(engine, user: User, **filters) -> list[str]:
    listing = notice_queries.notices(actor_of(user))
    with db.read_session(engine) as session:
        page = fetch_page(session, listing, ListQuery(filters=filters, page_size=50))
    return [row["title"] for row in page.rows]


# --- Who sees what -------------------------------------------------------------------------


def test_another_organizations_notices_never_show(engine, organization):
    owner = _member(engine, organization)
    with db.write_session(engine) as session:
        elsewhere = make_organization(session)
    _post(engine, elsewhere, title="Theirs")
    _post(engine, organization, title="Ours")

    assert _titles(engine, owner) == ["Ours"]
    assert _unread(engine, owner) == 1
    assert _listed(engine, owner) == ["Ours"]


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        (Role.OWNER, True),
        (Role.ADMIN, True),
        (Role.BILLING, True),
        (Role.DEVELOPER, False),
        (Role.VIEWER, False),
    ],
    ids=str,
)
def test_a_notice_for_a_capability_shows_only_to_roles_that_hold_it(
    engine, organization, role, sees
):
    member = _member(engine, organization, role)
    _post(engine, organization, title="Invoice", capability=Capability.BILLING_READ)
    _post(engine, organization, title="For everyone", capability=Capability.USE_PORTAL)

    expected = ["For everyone", "Invoice"] if sees else ["For everyone"]
    assert sorted(_titles(engine, member)) == expected
    assert _unread(engine, member) == len(expected)
    assert sorted(_listed(engine, member)) == expected


def test_a_personal_notice_shows_only_to_its_member(engine, organization):
    owner = _member(engine, organization)
    billing = _member(engine, organization, Role.BILLING)
    _post(engine, organization, title="Owner's low balance", user=owner)

    assert _titles(engine, owner) == ["Owner's low balance"]
    assert _titles(engine, billing) == []
    assert _unread(engine, billing) == 0


def test_notices_posted_before_a_member_joined_do_not_show(engine, organization):
    member = _member(engine, organization)
    _post(engine, organization, title="Last year", now=member.created_at - timedelta(days=1))
    _post(engine, organization, title="This week")

    assert _titles(engine, member) == ["This week"]
    assert _unread(engine, member) == 1


def _post_for_staff(engine, title: str, *, now: datetime | None = None) -> uuid.UUID:
    with db.write_session(engine) as session:
        return notices.post_for_staff(
            session,
            kind=NoticeKind.MAIL_UNDELIVERABLE,
            title=title,
            body=f"{title}: the details.",
            dedupe_key=uuid.uuid4().hex,
            now=now,
        ).id


def _staff(engine) -> User:
    with db.write_session(engine) as session:
        return make_staff(session)


def test_staff_see_the_staff_notices_and_no_organizations(engine, organization):
    staff = _staff(engine)
    _post(engine, organization, title="Their invoice", capability=Capability.USE_PORTAL)
    _post_for_staff(engine, "E-mail to a@example.com could not be sent")

    assert _titles(engine, staff) == ["E-mail to a@example.com could not be sent"]
    assert _listed(engine, staff) == ["E-mail to a@example.com could not be sent"]
    assert _unread(engine, staff) == 1


def test_every_staff_user_sees_a_staff_notice_and_reads_it_alone(engine):
    first, second = _staff(engine), _staff(engine)
    notice_id = _post_for_staff(engine, "E-mail to b@example.com could not be sent")

    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(first), notice_id)

    assert (_unread(engine, first), _unread(engine, second)) == (0, 1)
    with db.read_session(engine) as session:
        item = notice_queries.notice(session, actor_of(second), notice_id)
    assert (item.kind_label, item.unread) == ("E-mail not sent", True)


@pytest.mark.parametrize("role", sorted(PARTNER_ROLES), ids=str)
def test_no_partner_role_sees_a_staff_notice(engine, organization, role):
    member = _member(engine, organization, role)
    notice_id = _post_for_staff(engine, "E-mail to c@example.com could not be sent")
    _post(engine, organization, title="For everyone", capability=Capability.USE_PORTAL)

    assert _titles(engine, member) == ["For everyone"]
    assert _listed(engine, member) == ["For everyone"]
    assert _unread(engine, member) == 1
    with db.read_session(engine) as session, pytest.raises(NotFound):
        notice_queries.notice(session, actor_of(member), notice_id)


def test_staff_see_the_staff_notices_posted_since_they_joined(engine):
    staff = _staff(engine)
    _post_for_staff(engine, "Before they joined", now=staff.created_at - timedelta(days=1))
    _post_for_staff(engine, "Since")

    assert _titles(engine, staff) == ["Since"]


def test_an_empty_list_tells_staff_and_partners_what_will_appear(engine, organization):
    staff, viewer = _staff(engine), _member(engine, organization, Role.VIEWER)

    assert notice_queries.notices(actor_of(staff)).empty_message == (
        "No notices yet: e-mails that could not be sent will appear here."
    )
    assert notice_queries.notices(actor_of(viewer)).empty_message == (
        "No notices yet: low balances, failed payments and new invoices will appear here."
    )


# --- One notice, the count, the latest -----------------------------------------------------


def test_one_notice_reads_with_its_details_and_read_state(engine, organization):
    owner = _member(engine, organization)
    notice_id = _post(engine, organization, title="Invoice 7 for October 2026")

    with db.read_session(engine) as session:
        item = notice_queries.notice(session, actor_of(owner), notice_id)
    assert (item.title, item.body, item.kind_label, item.link_page_id, item.unread) == (
        "Invoice 7 for October 2026",
        "Invoice 7 for October 2026: the details.",
        "New invoice",
        "billing.invoices",
        True,
    )


@pytest.mark.parametrize("whose", ["another organization's", "another member's", "unknown"])
def test_a_notice_the_member_may_not_see_is_not_found(engine, organization, whose):
    owner = _member(engine, organization)
    other = _member(engine, organization, Role.ADMIN)
    with db.write_session(engine) as session:
        elsewhere = make_organization(session)
    notice_id = {
        "another organization's": lambda: _post(engine, elsewhere),
        "another member's": lambda: _post(engine, organization, user=other),
        "unknown": uuid.uuid4,
    }[whose]()

    with db.read_session(engine) as session, pytest.raises(NotFound):
        notice_queries.notice(session, actor_of(owner), notice_id)


def test_the_unread_count_falls_as_notices_are_read(engine, organization):
    owner = _member(engine, organization)
    first = _post(engine, organization, title="First")
    _post(engine, organization, title="Second")
    _post(engine, organization, title="Third")
    assert _unread(engine, owner) == 3

    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(owner), first)
    assert _unread(engine, owner) == 2

    with db.write_session(engine) as session:
        notices.mark_all_read(session, actor_of(owner))
    assert _unread(engine, owner) == 0


def test_one_members_reading_leaves_the_others_count_alone(engine, organization):
    owner = _member(engine, organization)
    admin = _member(engine, organization, Role.ADMIN)
    notice_id = _post(engine, organization)

    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(owner), notice_id)

    assert (_unread(engine, owner), _unread(engine, admin)) == (0, 1)


def test_the_bell_lists_the_newest_first_and_at_most_five(engine, organization):
    owner = _member(engine, organization)
    start = utcnow()
    for number in range(1, 8):
        _post(engine, organization, title=f"Notice {number}", now=start + timedelta(minutes=number))

    with db.read_session(engine) as session:
        latest = notice_queries.latest(session, actor_of(owner))

    assert [item.title for item in latest] == [f"Notice {n}" for n in (7, 6, 5, 4, 3)]


def test_the_bell_shows_which_notices_are_read(engine, organization):
    owner = _member(engine, organization)
    start = utcnow()
    read = _post(engine, organization, title="Read", now=start + timedelta(minutes=1))
    _post(engine, organization, title="Unread", now=start + timedelta(minutes=2))
    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(owner), read)

    with db.read_session(engine) as session:
        latest = notice_queries.latest(session, actor_of(owner))

    assert [(item.title, item.unread) for item in latest] == [("Unread", True), ("Read", False)]


# --- The Notices page's list ---------------------------------------------------------------


def test_the_list_filters_by_type_and_by_read_state(engine, organization):
    owner = _member(engine, organization)
    start = utcnow()
    invoice = _post(engine, organization, title="Invoice", now=start + timedelta(minutes=1))
    _post(
        engine,
        organization,
        title="Low balance",
        kind=NoticeKind.LOW_BALANCE,
        user=owner,
        now=start + timedelta(minutes=2),
    )
    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(owner), invoice)

    assert _listed(engine, owner) == ["Low balance", "Invoice"]
    assert _listed(engine, owner, type=NoticeKind.LOW_BALANCE.value) == ["Low balance"]
    assert _listed(engine, owner, state="unread") == ["Low balance"]
    assert _listed(engine, owner, state="read") == ["Invoice"]


def test_the_list_shows_each_notices_read_state_in_words(engine, organization):
    owner = _member(engine, organization)
    notice_id = _post(engine, organization)
    listing = notice_queries.notices(actor_of(owner))

    def states() -> list[str]:
        with db.read_session(engine) as session:
            page = fetch_page(session, listing, ListQuery())
        column = next(column for column in listing.columns if column.key == "state")
        return [column.shown(row["state"]) for row in page.rows]

    assert states() == ["Unread"]
    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(owner), notice_id)
    assert states() == ["Read"]


def test_the_list_filters_by_date(engine, organization):
    owner = _member(engine, organization)
    joined = owner.created_at
    _post(engine, organization, title="Today", now=joined + timedelta(minutes=1))
    _post(engine, organization, title="In ten days", now=joined + timedelta(days=10))

    later = (joined + timedelta(days=5)).date()
    assert _listed(engine, owner, created=DateRange(start=later)) == ["In ten days"]
    assert _listed(engine, owner, created=DateRange(end=later)) == ["Today"]
    assert _listed(engine, owner, created=DateRange(start=date(2000, 1, 1))) == [
        "In ten days",
        "Today",
    ]


def test_the_list_of_a_member_without_notices_is_empty(engine, organization):
    owner = _member(engine, organization)
    listing = notice_queries.notices(actor_of(owner))

    assert _listed(engine, owner) == []
    assert listing.empty_message is not None and listing.empty_message.startswith("No notices yet")
