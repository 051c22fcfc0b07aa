"""Refunds and disputes of card payments: posted to the ledger once each, at the amount's
share of the total charged, even below zero; the payment marked; the organization's billing
readers and SIPSTACK's staff told. Staff refunds go through the gateway (the sandbox, and
Stripe's fake); Stripe's ``charge.refunded`` and ``charge.dispute.*`` events are applied once.
On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import (
    Dispute,
    DisputeStatus,
    GatewayEvent,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.services import ledger
from portal_core.services.payments import refunds, top_ups
from tests.factories import actor_of, make_card, make_user, organization_of
from tests.services.support import count, fetch, mail_to
from tests.support.stripe_flows import deliver, paid_top_up, stripe_card

AMOUNT = 10_000  # $100.00 credited
TOTAL = 10_295  # charged with the 2.95 % fee


class Organization:
    """An owner, a billing member and a viewer; a staff user beside them."""

    def __init__(self, engine) -> None:
        with db.write_session(engine) as session:
            self.owner = make_user(session)
            organization = organization_of(session, self.owner)
            assert organization is not None
            self.id = organization.id
            self.billing = make_user(session, organization=organization, role=Role.BILLING)
            self.viewer = make_user(session, organization=organization, role=Role.VIEWER)
            self.staff = make_user(session, role=Role.STAFF)
            self.card = make_card(session, organization)


@pytest.fixture
def team(engine) -> Organization:
    return Organization(engine)


def _sandbox_top_up(engine, team: Organization, cents: int = AMOUNT) -> Payment:
    with db.write_session(engine) as session:
        return top_ups.add_funds(
            session,
            actor_of(team.owner),
            payment_method_id=team.card.id,
            amount_cents=cents,
            idempotency_key=uuid.uuid4().hex,
        )


def _refund(engine, team, payment, amount="", reason="Customer asked", key=None, **kwargs):
    return refunds.refund_payment(
        engine,
        actor_of(kwargs.pop("by", team.staff)),
        organization_id=team.id,
        payment_id=payment.id,
        amount=amount,
        reason=reason,
        idempotency_key=key or uuid.uuid4().hex,
        **kwargs,
    )


def _balance(engine, organization_id) -> int:
    return fetch(engine, BillingAccount, organization_id).balance_micros // MICROS_PER_CENT


def _entries(engine, organization_id, kind: EntryKind) -> list[int]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(LedgerEntry.amount_cents)
                .where(LedgerEntry.organization_id == organization_id, LedgerEntry.kind == kind)
                .order_by(col(LedgerEntry.created_at))
            ).all()
        )


def _notices(engine, kind: NoticeKind) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(session.exec(select(Notice).where(Notice.kind == kind)).all())


def _mismatches(engine) -> list:
    with db.read_session(engine) as session:
        return ledger.balance_mismatches(session)


# --- Staff refunds (sandbox) ------------------------------------------------------------------


def test_a_full_refund_takes_the_amount_not_the_fee_and_tells_billing_and_staff(
    engine, team, outbox_dir
):
    payment = _sandbox_top_up(engine, team)
    assert _balance(engine, team.id) == AMOUNT

    refund = _refund(engine, team, payment)

    assert (refund.status, refund.amount_cents, refund.balance_cents) == (
        RefundStatus.SUCCEEDED,
        TOTAL,
        AMOUNT,
    )
    assert _balance(engine, team.id) == 0
    assert _entries(engine, team.id, EntryKind.REFUND) == [-AMOUNT]
    stored = fetch(engine, Payment, payment.id)
    assert (stored.status, stored.refunded_cents) == (PaymentStatus.REFUNDED, TOTAL)
    partner_notice = [n for n in _notices(engine, NoticeKind.PAYMENT_REFUNDED) if n.organization_id]
    staff_notice = [
        n for n in _notices(engine, NoticeKind.PAYMENT_REFUNDED) if not n.organization_id
    ]
    assert [n.capability for n in partner_notice] == ["billing_read"]
    assert len(staff_notice) == 1
    for member in (team.owner, team.billing):
        assert any("refunded" in m["Subject"] for m in mail_to(outbox_dir, member.email))
    assert not any("refunded" in m["Subject"] for m in mail_to(outbox_dir, team.viewer.email))
    assert _mismatches(engine) == []


def test_partial_refunds_add_up_to_exactly_the_amount_credited(engine, team):
    payment = _sandbox_top_up(engine, team)

    first = _refund(engine, team, payment, amount="50.00")
    stored = fetch(engine, Payment, payment.id)
    assert stored.status == PaymentStatus.PARTIALLY_REFUNDED
    second = _refund(engine, team, payment)  # what is left: $52.95

    # 5,000 × 10,000 ÷ 10,295 = 4,856.7 → $48.57; the rest of the $100.00 is the second's.
    assert (first.balance_cents, second.balance_cents) == (4_857, 5_143)
    assert second.amount_cents == TOTAL - 5_000
    assert _balance(engine, team.id) == 0
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.REFUNDED


def test_a_refund_posts_even_when_it_takes_the_balance_below_zero(engine, team):
    payment = _sandbox_top_up(engine, team)
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=team.id,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=-9_000,
            idempotency_key="spent",
            memo="Spent",
        )

    _refund(engine, team, payment)

    assert _balance(engine, team.id) == -9_000


def test_a_double_click_refunds_once(engine, team):
    payment = _sandbox_top_up(engine, team)

    first = _refund(engine, team, payment, amount="10.00", key="click")
    again = _refund(engine, team, payment, amount="10.00", key="click")

    assert first.id == again.id
    assert count(engine, Refund) == 1
    assert len(_entries(engine, team.id, EntryKind.REFUND)) == 1


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [
        ("103.00", "Too much", "amount"),
        ("0", "Nothing", "amount"),
        ("10,5", "A decimal comma", "amount"),
        ("10.00", "   ", "reason"),
    ],
)
def test_a_refund_out_of_bounds_or_without_a_reason_is_refused_and_changes_nothing(
    engine, team, amount, reason, field
):
    payment = _sandbox_top_up(engine, team)

    with pytest.raises(ValidationFailed) as refused:
        _refund(engine, team, payment, amount=amount, reason=reason)

    assert field in refused.value.errors
    assert count(engine, Refund) == 0
    assert _balance(engine, team.id) == AMOUNT


def test_only_staff_refund_and_only_the_named_organizations_payments(engine, team):
    payment = _sandbox_top_up(engine, team)
    other = Organization(engine)

    with pytest.raises(PermissionDenied):
        _refund(engine, team, payment, by=team.owner)
    with pytest.raises(NotFound):
        refunds.refund_payment(
            engine,
            actor_of(team.staff),
            organization_id=other.id,
            payment_id=payment.id,
            amount="",
            reason="Wrong organization",
            idempotency_key="other",
        )
    assert count(engine, Refund) == 0


def test_a_payment_refunded_in_full_or_never_settled_cannot_be_refunded(engine, team):
    payment = _sandbox_top_up(engine, team)
    _refund(engine, team, payment)

    with pytest.raises(Conflict, match="already refunded in full"):
        _refund(engine, team, payment)
    assert count(engine, Refund) == 1


# --- Stripe: staff refunds, and what its webhook reports -------------------------------------


def _stripe_payment(engine, fake, gateway, team) -> tuple[Payment, str]:
    card = stripe_card(engine, fake, gateway, team.owner)
    return paid_top_up(engine, fake, gateway, team.owner, card)


def test_a_staff_refund_goes_through_stripe_and_its_webhook_changes_nothing_more(
    engine, team, fake, gateway
):
    payment, intent = _stripe_payment(engine, fake, gateway, team)
    assert _balance(engine, team.id) == AMOUNT

    refund = _refund(engine, team, payment, amount="20.59", gateway=gateway)

    assert refund.gateway_ref is not None and refund.gateway_ref.startswith("re_")
    [sent] = fake.posts("/v1/refunds")
    assert (sent.params["payment_intent"], sent.params["amount"]) == (intent, "2059")
    assert sent.params["metadata"]["refund_id"] == str(refund.id)
    assert _balance(engine, team.id) == AMOUNT - 2_000

    result = deliver(engine, gateway, "charge.refunded", fake.charge_of(intent))

    assert result.outcome == "0 refunds posted"
    assert _balance(engine, team.id) == AMOUNT - 2_000
    assert count(engine, Refund) == 1


def test_a_refund_made_in_stripes_dashboard_is_posted_once_from_its_event(
    engine, team, fake, gateway
):
    payment, intent = _stripe_payment(engine, fake, gateway, team)
    fake.refund_in_dashboard(intent, TOTAL)
    event = fake.charge_of(intent)

    first = deliver(engine, gateway, "charge.refunded", event, event_id="evt_refund_1")
    replay = deliver(engine, gateway, "charge.refunded", event, event_id="evt_refund_1")
    again = deliver(engine, gateway, "charge.refunded", event, event_id="evt_refund_2")

    assert (first.outcome, replay.replayed, again.outcome) == (
        "1 refund posted",
        True,
        "0 refunds posted",
    )
    assert _entries(engine, team.id, EntryKind.REFUND) == [-AMOUNT]
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.REFUNDED


def test_refunds_are_read_from_stripe_when_the_event_does_not_list_them(
    engine, team, fake, gateway
):
    payment, intent = _stripe_payment(engine, fake, gateway, team)
    fake.refund_in_dashboard(intent, 5_000)
    deliver(engine, gateway, "charge.refunded", fake.charge_of(intent, with_refunds=False))
    fake.refund_in_dashboard(intent, TOTAL - 5_000)

    deliver(engine, gateway, "charge.refunded", fake.charge_of(intent, with_refunds=False))

    assert _entries(engine, team.id, EntryKind.REFUND) == [-4_857, -5_143]
    assert _balance(engine, team.id) == 0


# --- Disputes -----------------------------------------------------------------------------------


def _dispute(intent: str, status: str, *, amount: int = TOTAL, ref: str = "dp_fake1") -> dict:
    return {
        "id": ref,
        "object": "dispute",
        "amount": amount,
        "payment_intent": intent,
        "charge": "ch_unknown",
        "status": status,
        "reason": "fraudulent",
        # Stripe's own dispute fee: never the partner's.
        "balance_transactions": [{"amount": -TOTAL, "fee": 1_500}],
    }


def test_a_dispute_holds_back_the_amount_and_a_won_one_gives_it_back(engine, team, fake, gateway):
    payment, intent = _stripe_payment(engine, fake, gateway, team)

    deliver(engine, gateway, "charge.dispute.created", _dispute(intent, "needs_response"))

    assert _balance(engine, team.id) == 0
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.DISPUTED
    assert len(_notices(engine, NoticeKind.PAYMENT_DISPUTED)) == 2  # the partner's, staff's

    deliver(engine, gateway, "charge.dispute.closed", _dispute(intent, "won"))

    assert _balance(engine, team.id) == AMOUNT
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.SUCCEEDED
    assert _entries(engine, team.id, EntryKind.CHARGEBACK) == [-AMOUNT]
    assert _entries(engine, team.id, EntryKind.CHARGEBACK_REVERSAL) == [AMOUNT]
    assert _mismatches(engine) == []


def test_a_lost_dispute_stays_charged_back_and_the_balance_may_go_below_zero(
    engine, team, fake, gateway
):
    payment, intent = _stripe_payment(engine, fake, gateway, team)
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=team.id,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=-AMOUNT,
            idempotency_key="spent-it-all",
            memo="Spent",
        )

    deliver(engine, gateway, "charge.dispute.created", _dispute(intent, "needs_response"))
    deliver(engine, gateway, "charge.dispute.closed", _dispute(intent, "lost"))

    assert _balance(engine, team.id) == -AMOUNT
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.CHARGED_BACK
    with db.read_session(engine) as session:
        dispute = session.exec(select(Dispute)).one()
    assert (dispute.status, dispute.closed_at is not None) == (DisputeStatus.LOST, True)


def test_an_inquiry_holds_nothing_back(engine, team, fake, gateway):
    _payment, intent = _stripe_payment(engine, fake, gateway, team)

    deliver(engine, gateway, "charge.dispute.created", _dispute(intent, "warning_needs_response"))
    deliver(engine, gateway, "charge.dispute.closed", _dispute(intent, "warning_closed"))

    assert _balance(engine, team.id) == AMOUNT
    assert _entries(engine, team.id, EntryKind.CHARGEBACK) == []


def test_a_lost_dispute_whose_opening_never_arrived_is_charged_back_once(
    engine, team, fake, gateway
):
    _payment, intent = _stripe_payment(engine, fake, gateway, team)

    deliver(engine, gateway, "charge.dispute.closed", _dispute(intent, "lost"), event_id="evt_a")
    deliver(engine, gateway, "charge.dispute.closed", _dispute(intent, "lost"), event_id="evt_b")

    assert _entries(engine, team.id, EntryKind.CHARGEBACK) == [-AMOUNT]


def test_an_event_of_a_type_the_portal_does_not_use_is_not_recorded_as_handled(
    engine, fake, gateway
):
    result = deliver(engine, gateway, "customer.updated", {"id": "cus_x"}, event_id="evt_other")

    assert result.outcome.startswith("ignored")
    assert count(engine, GatewayEvent) == 0
