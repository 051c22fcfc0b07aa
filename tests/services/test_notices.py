"""Posting notices (once per event), reading them (per member, scoped to what the member may
see), and the notice each new invoice posts (docs/product.md, Pages › Notices)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import NotFound
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import EntryKind, Invoice
from portal_core.models.notices import Notice, NoticeKind, NoticeRead
from portal_core.permissions import Capability
from portal_core.services import invoices, ledger, notices
from tests.factories import actor_of, change_subscription, make_organization, make_staff, make_user
from tests.services.support import count

NOVEMBER_1ST = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)


@pytest.fixture
def organization(engine) -> Organization:
    with db.write_session(engine) as session:
        return make_organization(session)


def _member(engine, organization: Organization, role: Role = Role.OWNER) -> User:
    with db.write_session(engine) as session:
        return make_user(
            session, organization=session.get(Organization, organization.id), role=role
        )


def _post(engine, organization: Organization, *, key: str | None = None, **audience) -> uuid.UUID:
    audience = audience or {"capability": Capability.BILLING_READ}
    with db.write_session(engine) as session:
        return notices.post(
            session,
            organization_id=organization.id,
            kind=NoticeKind.PAYMENT_FAILED,
            title="A payment failed",
            body="Visa •••• 0002 was declined.",
            dedupe_key=key or uuid.uuid4().hex,
            **audience,
        ).id


def _reads(engine, user: User) -> int:
    return count(engine, NoticeRead, col(NoticeRead.user_id) == user.id)


# --- Posting -------------------------------------------------------------------------------


def test_posting_the_same_event_twice_posts_one_notice(engine, organization):
    first = _post(engine, organization, key="payment-failed:42")
    again = _post(engine, organization, key="payment-failed:42")

    assert again == first
    assert count(engine, Notice) == 1


@pytest.mark.parametrize("both", [False, True], ids=["neither", "both"])
def test_a_notice_is_for_one_member_or_for_a_capability(engine, organization, both):
    owner = _member(engine, organization)
    with db.write_session(engine) as session, pytest.raises(ValueError):
        notices.post(
            session,
            organization_id=organization.id,
            kind=NoticeKind.PAYMENT_FAILED,
            title="t",
            body="b",
            dedupe_key="k",
            capability=Capability.BILLING_READ if both else None,
            user_id=owner.id if both else None,
        )


def test_a_personal_notice_posted_on_a_connection_is_posted_once(engine, organization):
    owner = _member(engine, organization)
    for _ in range(2):
        with db.write_connection(engine) as connection:
            notices.post_for_user(
                connection,
                organization_id=organization.id,
                user_id=owner.id,
                kind=NoticeKind.LOW_BALANCE,
                title="Available funds under $20.00",
                body="…",
                dedupe_key="low-balance:once",
                link_page_id="billing.overview",
            )

    with db.read_session(engine) as session:
        [notice] = session.exec(select(Notice)).all()
    assert (notice.user_id, notice.capability, notice.kind) == (
        owner.id,
        None,
        NoticeKind.LOW_BALANCE,
    )


# --- Reading -------------------------------------------------------------------------------


def test_reading_a_notice_twice_records_it_once(engine, organization):
    owner = _member(engine, organization)
    notice_id = _post(engine, organization)

    for _ in range(2):
        with db.write_session(engine) as session:
            notices.mark_read(session, actor_of(owner), notice_id)

    assert _reads(engine, owner) == 1


def test_reading_another_organizations_notice_is_not_found(engine, organization):
    with db.write_session(engine) as session:
        stranger = make_user(session, role=Role.OWNER)
    notice_id = _post(engine, organization)

    with db.write_session(engine) as session, pytest.raises(NotFound):
        notices.mark_read(session, actor_of(stranger), notice_id)
    assert _reads(engine, stranger) == 0


def test_reading_a_notice_for_a_capability_the_role_lacks_is_not_found(engine, organization):
    developer = _member(engine, organization, Role.DEVELOPER)
    notice_id = _post(engine, organization, capability=Capability.BILLING_READ)

    with db.write_session(engine) as session, pytest.raises(NotFound):
        notices.mark_read(session, actor_of(developer), notice_id)


def test_reading_another_members_personal_notice_is_not_found(engine, organization):
    owner = _member(engine, organization)
    admin = _member(engine, organization, Role.ADMIN)
    notice_id = _post(engine, organization, user_id=owner.id)

    with db.write_session(engine) as session, pytest.raises(NotFound):
        notices.mark_read(session, actor_of(admin), notice_id)


def test_staff_cannot_read_an_organizations_notice(engine, organization):
    notice_id = _post(engine, organization, capability=Capability.USE_PORTAL)
    with db.write_session(engine) as session:
        staff = make_staff(session)

    with db.write_session(engine) as session, pytest.raises(NotFound):
        notices.mark_read(session, actor_of(staff), notice_id)
    with db.write_session(engine) as session:
        assert notices.mark_all_read(session, actor_of(staff)) == 0
    assert _reads(engine, staff) == 0


def _post_for_staff(engine, *, key: str | None = None) -> uuid.UUID:
    with db.write_session(engine) as session:
        return notices.post_for_staff(
            session,
            kind=NoticeKind.MAIL_UNDELIVERABLE,
            title="E-mail to a@example.com could not be sent after 10 attempts",
            body="“Your receipt”, queued 2026-11-01 11:00 UTC, was tried 10 times.",
            dedupe_key=key or uuid.uuid4().hex,
        ).id


def test_a_staff_notice_belongs_to_no_organization_and_is_for_staff(engine):
    notice_id = _post_for_staff(engine)

    with db.read_session(engine) as session:
        notice = session.get(Notice, notice_id)
    assert notice is not None
    assert (notice.organization_id, notice.user_id, notice.capability) == (None, None, "staff")


def test_posting_the_same_staff_event_twice_posts_one_notice(engine):
    first = _post_for_staff(engine, key="mail-undeliverable:1")

    assert _post_for_staff(engine, key="mail-undeliverable:1") == first
    assert count(engine, Notice) == 1


def test_an_organizations_notice_cannot_be_meant_for_staff(engine, organization):
    with db.write_session(engine) as session, pytest.raises(ValueError):
        notices.post(
            session,
            organization_id=organization.id,
            kind=NoticeKind.PAYMENT_FAILED,
            title="Nobody would see this",
            body="Staff see no organization's notices.",
            dedupe_key=uuid.uuid4().hex,
            capability=Capability.STAFF,
        )
    assert count(engine, Notice) == 0


def test_staff_mark_the_staff_notices_read_and_partners_cannot(engine, organization):
    owner = _member(engine, organization)
    with db.write_session(engine) as session:
        staff = make_staff(session)
    notice_id = _post_for_staff(engine)

    with db.write_session(engine) as session:
        assert notices.mark_all_read(session, actor_of(staff)) == 1
    with db.write_session(engine) as session, pytest.raises(NotFound):
        notices.mark_read(session, actor_of(owner), notice_id)
    with db.write_session(engine) as session:
        assert notices.mark_all_read(session, actor_of(owner)) == 0
    assert (_reads(engine, staff), _reads(engine, owner)) == (1, 0)


def test_mark_all_read_marks_only_what_the_member_may_see(engine, organization):
    developer = _member(engine, organization, Role.DEVELOPER)
    owner = _member(engine, organization)
    with db.write_session(engine) as session:
        elsewhere = make_organization(session)
    _post(engine, organization, capability=Capability.USE_PORTAL)
    _post(engine, organization, user_id=developer.id)
    _post(engine, organization, capability=Capability.BILLING_READ)  # not a developer's
    _post(engine, organization, user_id=owner.id)  # another member's
    _post(engine, elsewhere, capability=Capability.USE_PORTAL)  # another organization's

    with db.write_session(engine) as session:
        marked = notices.mark_all_read(session, actor_of(developer))

    assert marked == 2
    assert _reads(engine, developer) == 2


def test_mark_all_read_again_marks_nothing_more(engine, organization):
    owner = _member(engine, organization)
    first = _post(engine, organization)
    _post(engine, organization)
    with db.write_session(engine) as session:
        notices.mark_read(session, actor_of(owner), first)

    with db.write_session(engine) as session:
        assert notices.mark_all_read(session, actor_of(owner)) == 1
    with db.write_session(engine) as session:
        assert notices.mark_all_read(session, actor_of(owner)) == 0
    assert _reads(engine, owner) == 2


# --- The invoice run's notice --------------------------------------------------------------


def _starter_since_september(engine, organization: Organization) -> None:
    with db.write_session(engine) as session:
        change_subscription(
            session,
            organization,
            plan_code="starter",
            term_started_at=datetime(2026, 9, 1, tzinfo=UTC),
        )


def test_each_invoice_issued_posts_a_notice_for_those_who_read_billing(engine, organization):
    _starter_since_september(engine, organization)

    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    with db.read_session(engine) as session:
        invoice = session.exec(select(Invoice)).one()
        [notice] = session.exec(select(Notice)).all()
    assert (notice.organization_id, notice.kind, notice.capability, notice.user_id) == (
        organization.id,
        NoticeKind.INVOICE_ISSUED,
        Capability.BILLING_READ.value,
        None,
    )
    assert notice.dedupe_key == f"invoice:{invoice.id}"
    assert notice.link_page_id == "billing.invoices"
    assert notice.title == f"Invoice {invoice.number} for October 2026"
    # Starter $30.00 + 13 % HST; no funds, so it is due.
    assert notice.body == (
        f"Invoice {invoice.number} for October 2026: $33.90, taxes included. "
        "Due: your balance did not cover it; add funds in Billing › Overview."
    )
    assert notice.created_at == NOVEMBER_1ST


def test_a_second_invoice_run_posts_no_second_notice(engine, organization):
    _starter_since_september(engine, organization)
    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    assert count(engine, Notice) == 1


def test_the_notice_of_an_invoice_the_balance_covered_says_it_is_paid(engine, organization):
    _starter_since_september(engine, organization)
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.PAYMENT,
            amount_cents=10_000,
            idempotency_key="top-up",
            memo="top-up",
        )

    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    with db.read_session(engine) as session:
        [notice] = session.exec(select(Notice)).all()
    assert notice.body.endswith(": $33.90, taxes included. Paid from your prepaid balance.")
