"""Closing an organization (docs/product.md, Pages › Users, Closing the organization)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import AuthenticationFailed, Conflict, PermissionDenied, ValidationFailed
from portal_core.models.access import Invitation
from portal_core.models.accounts import Organization, OrganizationStatus, Role, User, UserStatus
from portal_core.models.api_tokens import ApiToken
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import EntryKind, Invoice, InvoiceLine, LedgerEntry
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import (
    AutoRecharge,
    Payment,
    PaymentSource,
    Refund,
    RefundStatus,
)
from portal_core.models.products import DisputeStatus, OwnershipDispute, WhoisProfile
from portal_core.queries.billing import funds_of
from portal_core.services import (
    api_tokens,
    auto_recharge,
    closing,
    invoices,
    ledger,
    members,
    sessions,
)
from portal_core.services.payments import top_ups
from tests.factories import (
    PASSWORD,
    actor_of,
    fund,
    make_auto_recharge,
    make_card,
    make_starter_organization,
    make_user,
)
from tests.services import products_support
from tests.services.support import count, fetch, log_in, race

NOW = datetime(2026, 5, 15, 16, 0, tzinfo=UTC)
STARTER_WITH_HST_CENTS = 3_000 + 390  # Starter's $30.00 and Ontario's 13 % HST


def _starter(engine: Engine, top_up_cents: int) -> tuple[Organization, User]:
    with db.write_session(engine) as session:
        organization = make_starter_organization(session, top_up_cents=top_up_cents)
        owner = make_user(session, organization=organization, role=Role.OWNER)
    return organization, owner


def _close(engine: Engine, owner: User, name: str) -> closing.Closing:
    with db.write_session(engine) as session:
        return closing.close_organization(session, actor_of(owner), name, now=NOW)


def _state(engine: Engine, organization: Organization) -> tuple[str, int, int]:
    """The organization's status, its invoices and its ledger entries."""
    with db.read_session(engine) as session:
        stored = session.get_one(Organization, organization.id)
        status = stored.status
    return (
        status,
        count(engine, Invoice, col(Invoice.organization_id) == organization.id),
        count(engine, LedgerEntry, col(LedgerEntry.organization_id) == organization.id),
    )


def test_closing_is_refused_while_a_balance_is_owing_and_says_how_much(engine):
    organization, owner = _starter(engine, top_up_cents=0)
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=-4_250,
            idempotency_key="owing",
            memo="Owed",
        )
    before = _state(engine, organization)

    with pytest.raises(Conflict, match=r"owes \$42\.50"):
        _close(engine, owner, organization.name)

    assert _state(engine, organization) == before
    assert before[0] == OrganizationStatus.ACTIVE


def test_a_last_invoice_that_would_leave_a_balance_owing_refuses_and_writes_nothing(engine):
    organization, owner = _starter(engine, top_up_cents=1_000)  # less than the month's fee
    before = _state(engine, organization)

    with pytest.raises(Conflict, match="last invoice would leave"):
        _close(engine, owner, organization.name)

    assert _state(engine, organization) == before


def test_the_name_must_be_typed_exactly(engine):
    organization, owner = _starter(engine, top_up_cents=10_000)

    with pytest.raises(ValidationFailed) as refused:
        _close(engine, owner, organization.name + "x")

    assert list(refused.value.errors) == ["name"]
    assert _state(engine, organization)[0] == OrganizationStatus.ACTIVE


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_only_an_owner_closes(engine, role):
    organization, _owner = _starter(engine, top_up_cents=10_000)
    with db.write_session(engine) as session:
        other = make_user(session, organization=organization, role=role)

    with pytest.raises(PermissionDenied):
        _close(engine, other, organization.name)

    assert _state(engine, organization)[0] == OrganizationStatus.ACTIVE


def test_closing_invoices_releases_numbers_ends_sessions_and_keeps_the_books(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=10_000)
    with db.write_session(engine) as session:
        member = make_user(session, organization=organization, role=Role.DEVELOPER)
        members.invite(session, actor_of(owner), "later@example.com", Role.VIEWER, now=NOW)
    who = products_support.Member(actor_of(owner), organization.id)
    products_support.register(engine, who, "+14165550142", now=NOW)
    handles = [log_in(engine, user.email, PASSWORD).handle for user in (owner, member)]
    entries_before = _state(engine, organization)[2]

    done = _close(engine, owner, f"  {organization.name} ")

    assert done.invoice_total_cents == STARTER_WITH_HST_CENTS
    assert done.balance_left_cents == 10_000 - STARTER_WITH_HST_CENTS
    status, invoice_count, entries = _state(engine, organization)
    assert (status, invoice_count, entries) == (
        OrganizationStatus.DEACTIVATED,
        1,
        entries_before + 1,  # the invoice's entry: nothing of the ledger is removed
    )
    with db.read_session(engine) as session:
        stored = session.get_one(Organization, organization.id)
        assert stored.closed_at == NOW
        [invoice] = session.exec(
            select(Invoice).where(Invoice.organization_id == organization.id)
        ).all()
        assert invoice.period == "2026-05"
        assert funds_of(session, organization.id).balance_cents == done.balance_left_cents
        assert (
            session.exec(
                select(WhoisProfile).where(WhoisProfile.organization_id == organization.id)
            ).all()
            == []
        )
        for handle in handles:
            assert sessions.resolve(session, handle) is None
        statuses = session.exec(
            select(User.status).where(User.organization_id == organization.id)
        ).all()
        assert set(statuses) == {UserStatus.DEACTIVATED}
        [invitation] = session.exec(select(Invitation)).all()
        assert invitation.cancelled_at == NOW
        staff_notices = select(Notice).where(Notice.kind == NoticeKind.ORGANIZATION_CLOSED)
        assert session.exec(staff_notices).all() == []  # nothing for staff before the refund
        [closed] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "organization.closed")
        ).all()
    assert closed.detail is not None and "1 Whois profiles removed" in closed.detail


def test_a_member_of_a_closed_organization_is_told_so_at_the_login(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=10_000)
    _close(engine, owner, organization.name)

    with pytest.raises(AuthenticationFailed) as refused:
        log_in(engine, owner.email, PASSWORD)

    assert refused.value.message == (
        "Your organization's account was closed on 2026-05-15: its members can no longer log in."
    )


def test_a_closed_organization_is_left_out_of_later_invoice_runs(engine):
    organization, owner = _starter(engine, top_up_cents=10_000)
    _close(engine, owner, organization.name)

    may = invoices.run_invoices(engine, period="2026-05", now=datetime(2026, 6, 1, 5, tzinfo=UTC))
    june = invoices.run_invoices(engine, period="2026-06", now=datetime(2026, 7, 1, 5, tzinfo=UTC))

    assert may.created == 0 and june.created == 0
    assert count(engine, Invoice, col(Invoice.organization_id) == organization.id) == 1


def test_closing_withdraws_its_claims_and_leaves_its_held_numbers_to_claimants(engine):
    holder = products_support.member(engine)
    closing_one = products_support.member(engine)
    claimant = products_support.member(engine)
    products_support.register(engine, holder, "+14165550177")
    products_support.register(engine, closing_one, "+14165550177")  # its claim
    products_support.register(engine, closing_one, "+14165550188")  # held by it
    products_support.register(engine, claimant, "+14165550188")  # claimed from it
    with db.read_session(engine) as session:
        owner = session.get_one(User, closing_one.actor.user_id)

    with db.write_session(engine) as session:
        name = session.get_one(Organization, closing_one.organization_id).name
    _close(engine, owner, name)

    with db.read_session(engine) as session:
        disputes = {
            dispute.number: dispute for dispute in session.exec(select(OwnershipDispute)).all()
        }
        assert disputes["+14165550177"].status == DisputeStatus.WITHDRAWN
        assert disputes["+14165550177"].winner_organization_id == holder.organization_id
        assert disputes["+14165550188"].status == DisputeStatus.DECIDED
        assert disputes["+14165550188"].winner_organization_id == claimant.organization_id
        holders = {
            profile.number: profile.organization_id
            for profile in session.exec(select(WhoisProfile)).all()
        }
    assert closing_one.organization_id not in holders.values()
    assert fetch(engine, Organization, closing_one.organization_id).status == (
        OrganizationStatus.DEACTIVATED
    )


def test_the_preview_says_what_closing_will_do(engine):
    organization, owner = _starter(engine, top_up_cents=0)
    with db.write_session(engine) as session:
        fund(session, organization, 2_500)
        make_user(session, organization=organization, role=Role.VIEWER)

    with db.read_session(engine) as session:
        shown = closing.preview(session, actor_of(owner))

    assert shown.organization_name == organization.name
    assert (shown.balance_cents, shown.owing_cents, shown.members) == (2_500, 0, 2)
    assert shown.steps == tuple(step.title for step in closing.CLOSING_STEPS)


def test_the_preview_names_the_whole_months_fee_the_last_invoice_bills(engine):
    organization, owner = _starter(engine, top_up_cents=10_000)

    with db.read_session(engine) as session:
        shown = closing.preview(session, actor_of(owner), now=NOW)
    done = _close(engine, owner, organization.name)
    with db.read_session(engine) as session:
        [line] = session.exec(
            select(InvoiceLine)
            .join(Invoice, col(Invoice.id) == col(InvoiceLine.invoice_id))
            .where(Invoice.organization_id == organization.id)
        ).all()

    assert (shown.last_invoice_period, shown.last_invoice_fee_cents) == ("May 2026", 3_000)
    assert line.amount_cents == shown.last_invoice_fee_cents  # what the invoice then billed
    assert done.invoice_total_cents == STARTER_WITH_HST_CENTS


# --- The balance left, back to the cards ------------------------------------------------------


def _paid_by_card(engine: Engine, organization: Organization, owner: User, *amounts: int) -> None:
    with db.write_session(engine) as session:
        card = make_card(session, organization)
    for amount in amounts:
        with db.write_session(engine) as session:
            top_ups.add_funds(
                session,
                actor_of(owner),
                payment_method_id=card.id,
                amount_cents=amount,
                idempotency_key=f"top-up-{uuid.uuid4()}",
            )


def _refunds(engine: Engine, organization: Organization) -> list[tuple[int, int, str]]:
    """Each refund's amount of the total charged, its share of the balance, its status."""
    with db.read_session(engine) as session:
        rows = session.exec(
            select(Refund)
            .where(Refund.organization_id == organization.id)
            .order_by(col(Refund.created_at))
        ).all()
    return [(row.amount_cents, row.balance_cents, row.status) for row in rows]


def _balance(engine: Engine, organization: Organization) -> int:
    with db.read_session(engine) as session:
        return funds_of(session, organization.id).balance_cents


def test_the_balance_left_goes_back_to_the_cards_newest_payment_first(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=0)
    _paid_by_card(engine, organization, owner, 5_000, 2_000)  # $70.00 in, fees on top
    _close(engine, owner, organization.name)
    left = 7_000 - STARTER_WITH_HST_CENTS
    assert _balance(engine, organization) == left

    done = closing.refund_balance(engine, organization.id, now=NOW)

    assert (done.refunded_cents, done.left_cents) == (left, 0)
    assert _balance(engine, organization) == 0
    newest_whole, older_part = _refunds(engine, organization)
    assert newest_whole[1] == 2_000 and newest_whole[2] == RefundStatus.SUCCEEDED
    assert older_part[1] == left - 2_000 and older_part[2] == RefundStatus.SUCCEEDED
    with db.read_session(engine) as session:
        staff_notices = select(Notice).where(Notice.kind == NoticeKind.ORGANIZATION_CLOSED)
        assert session.exec(staff_notices).all() == []
        refunded = session.exec(
            select(AuditEvent.detail).where(AuditEvent.action == "organization.balance_refunded")
        ).all()
    assert refunded == [f"${left // 100}.{left % 100:02d} to its cards; $0.00 left"]


def test_refunding_the_balance_again_refunds_nothing_twice(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=0)
    _paid_by_card(engine, organization, owner, 5_000)
    _close(engine, owner, organization.name)
    closing.refund_balance(engine, organization.id, now=NOW)
    first = _refunds(engine, organization)

    again = closing.refund_balance(engine, organization.id, now=NOW)

    assert (again.refunded_cents, again.left_cents) == (0, 0)
    assert _refunds(engine, organization) == first
    assert _balance(engine, organization) == 0


def test_refunding_the_balance_twice_at_once_refunds_it_once(concurrent_engine, outbox_dir):
    engine = concurrent_engine
    organization, owner = _starter(engine, top_up_cents=0)
    _paid_by_card(engine, organization, owner, 5_000)
    _close(engine, owner, organization.name)
    left = 5_000 - STARTER_WITH_HST_CENTS

    race([lambda: closing.refund_balance(engine, organization.id, now=NOW)] * 2, threads=2)

    [(_charged, share, status)] = _refunds(engine, organization)
    assert (share, status) == (left, RefundStatus.SUCCEEDED)
    assert _balance(engine, organization) == 0


def test_what_no_card_paid_is_left_for_staff_with_a_notice(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=10_000)  # a payment entry, no card
    _close(engine, owner, organization.name)

    done = closing.refund_balance(engine, organization.id, now=NOW)

    assert (done.refunded_cents, done.left_cents) == (0, 10_000 - STARTER_WITH_HST_CENTS)
    with db.read_session(engine) as session:
        [notice] = session.exec(
            select(Notice).where(Notice.kind == NoticeKind.ORGANIZATION_CLOSED)
        ).all()
    assert "refund $66.10" in notice.title


def test_an_open_organizations_balance_is_not_refunded_this_way(engine):
    organization, _owner = _starter(engine, top_up_cents=10_000)

    with pytest.raises(Conflict, match="closed"):
        closing.refund_balance(engine, organization.id, now=NOW)

    assert _balance(engine, organization) == 10_000


def test_closing_turns_auto_recharge_off_so_the_last_invoice_charges_no_card(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=0)
    _paid_by_card(engine, organization, owner, 6_000)
    with db.write_session(engine) as session:
        # The last invoice takes available funds from $60.00 to $26.10: under the threshold.
        make_auto_recharge(session, organization, threshold_cents=3_000, amount_cents=5_000)

    _close(engine, owner, organization.name)
    auto_recharge.sweep(engine, now=NOW)

    with db.read_session(engine) as session:
        sources = session.exec(
            select(Payment.source).where(Payment.organization_id == organization.id)
        ).all()
        settings = session.get_one(AutoRecharge, organization.id)
    assert sources == [PaymentSource.PORTAL]
    assert not settings.enabled
    assert _balance(engine, organization) == 6_000 - STARTER_WITH_HST_CENTS


def test_closing_revokes_every_api_token_so_call_flows_are_refused_at_once(engine, outbox_dir):
    organization, owner = _starter(engine, top_up_cents=10_000)
    with db.write_session(engine) as session:
        minted = [
            api_tokens.create(session, actor_of(owner), name=name, scopes=["lookups"], now=NOW)
            for name in ("Asterisk", "CRM")
        ]
        api_tokens.revoke(session, actor_of(owner), minted[1].token.id, now=NOW)

    done = _close(engine, owner, organization.name)

    with db.read_session(engine) as session:
        tokens = session.exec(
            select(ApiToken).where(ApiToken.organization_id == organization.id)
        ).all()
        assert {token.name: token.revoked_at for token in tokens} == {"Asterisk": NOW, "CRM": NOW}
        revoked = session.exec(
            select(AuditEvent).where(AuditEvent.action == "api_token.revoked")
        ).all()
        assert sorted(event.detail or "" for event in revoked) == ["Asterisk", "CRM"]
        with pytest.raises(AuthenticationFailed):
            api_tokens.authenticate(session, minted[0].key, minted[0].secret, now=NOW)
    assert "1 API tokens revoked" in done.done  # the one still live; CRM was revoked before
