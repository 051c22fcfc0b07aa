"""The payment services with the Stripe gateway: the real ``stripe`` SDK against the local
fake (tests/support/fake_stripe.py), and webhook deliveries signed as Stripe signs them.

Cards are saved on Checkout (setup mode) and arrive by the webhook; a top-up is Checkout in
payment mode and stays pending until the webhook credits it; auto-recharge confirms a
PaymentIntent off-session, saved before the call, and is credited by the webhook too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import ValidationFailed
from portal_core.models.accounts import Role
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import (
    GatewayCustomer,
    GatewayEvent,
    GatewayName,
    Payment,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
)
from portal_core.money import MICROS_PER_CENT
from portal_core.services import ledger
from portal_core.services.auto_recharge import recharge, sweep
from portal_core.services.payments import cards, top_ups, webhook
from portal_core.services.payments.reconciliation import ASK_AFTER, NO_ANSWER, reconcile
from tests.factories import actor_of, make_auto_recharge, make_card, make_user, organization_of
from tests.services.support import count, fetch, mail_to
from tests.support.fake_stripe import (
    event_payload,
    signature_header,
)


def _owner(engine):
    with db.write_session(engine) as session:
        return make_user(session)


def _deliver(engine, gateway, event_type, data, *, event_id=None):
    payload = event_payload(event_type, data, event_id=event_id)
    return webhook.receive_stripe_webhook(
        engine, payload, signature_header(payload), gateway=gateway
    )


def _stripe_card(engine, fake, gateway, owner, test_card="pm_card_visa") -> PaymentMethod:
    """A card saved the Stripe way: Checkout in setup mode, then the webhook."""
    with db.write_session(engine) as session:
        setup = cards.start_adding_card(session, actor_of(owner), gateway=gateway)
    assert setup.card is None and setup.checkout_url is not None
    session_id = setup.checkout_url.rsplit("/", 1)[1]
    _deliver(
        engine, gateway, "checkout.session.completed", fake.complete_setup(session_id, test_card)
    )
    with db.read_session(engine) as session:
        card = session.exec(
            select(PaymentMethod)
            .where(PaymentMethod.organization_id == owner.organization_id)
            .order_by(col(PaymentMethod.created_at).desc())
        ).first()
    assert card is not None
    return card


def _balance_cents(engine, owner) -> int:
    return fetch(engine, BillingAccount, owner.organization_id).balance_micros // MICROS_PER_CENT


def _top_up(engine, gateway, owner, card, key="attempt-1", amount_cents=5_000) -> Payment:
    with db.write_session(engine) as session:
        return top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=amount_cents,
            idempotency_key=key,
            gateway=gateway,
        )


# --- Cards ---------------------------------------------------------------------------------------


def test_a_card_is_saved_from_checkout_in_setup_mode_when_the_webhook_arrives(
    engine, fake, gateway
):
    owner = _owner(engine)

    card = _stripe_card(engine, fake, gateway, owner, "pm_card_mastercard")

    assert card is not None
    assert (card.gateway, card.brand, card.last4, card.is_default) == (
        GatewayName.STRIPE,
        "mastercard",
        "4444",
        True,
    )
    assert card.gateway_ref.startswith("pm_")
    with db.read_session(engine) as session:
        customer = session.get(GatewayCustomer, (owner.organization_id, GatewayName.STRIPE))
    assert customer is not None
    assert fake.posts("/v1/checkout/sessions")[0].params["customer"] == customer.customer_ref


def test_the_customer_is_created_once_per_organization(engine, fake, gateway):
    owner = _owner(engine)

    for _ in range(2):
        with db.write_session(engine) as session:
            cards.start_adding_card(session, actor_of(owner), gateway=gateway)

    assert len(fake.posts("/v1/customers")) == 1
    assert count(engine, GatewayCustomer) == 1


def test_a_setup_for_another_organizations_customer_saves_no_card(engine, fake, gateway):
    mine, theirs = _owner(engine), _owner(engine)
    with db.write_session(engine) as session:
        setup = cards.start_adding_card(session, actor_of(mine), gateway=gateway)
    assert setup.checkout_url is not None
    completed = fake.complete_setup(setup.checkout_url.rsplit("/", 1)[1])
    completed["metadata"]["organization_id"] = str(theirs.organization_id)

    result = _deliver(engine, gateway, "checkout.session.completed", completed)

    assert result.outcome.startswith("ignored")
    assert count(engine, PaymentMethod) == 0


# --- Top-ups on Checkout --------------------------------------------------------------------------


def test_a_top_up_is_pending_on_checkout_until_the_webhook_credits_it_once(engine, fake, gateway):
    owner = _owner(engine)
    card = _stripe_card(engine, fake, gateway, owner)

    payment = _top_up(engine, gateway, owner, card)

    assert payment.status == PaymentStatus.PENDING
    assert payment.checkout_url and payment.checkout_url.startswith("https://checkout.stripe.test/")
    assert payment.gateway_ref and payment.gateway_ref.startswith("cs_test_")
    assert _balance_cents(engine, owner) == 0
    sent = fake.posts("/v1/checkout/sessions")[-1]
    assert sent.idempotency_key == f"{payment.idempotency_key}:{payment.id.hex}"
    assert sent.params["success_url"].endswith(f"?payment={payment.id}")

    paid = fake.pay_checkout(payment.gateway_ref)
    first = _deliver(engine, gateway, "checkout.session.completed", paid, event_id="evt_paid")
    again = _deliver(engine, gateway, "checkout.session.completed", paid, event_id="evt_paid")
    late = _deliver(engine, gateway, "checkout.session.async_payment_succeeded", paid)

    assert (first.outcome, again.replayed, late.outcome) == ("credited", True, "already credited")
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.SUCCEEDED
    assert _balance_cents(engine, owner) == 5_000
    assert count(engine, LedgerEntry) == 1


def test_the_same_key_returns_the_same_checkout_without_asking_stripe_again(engine, fake, gateway):
    owner = _owner(engine)
    card = _stripe_card(engine, fake, gateway, owner)

    first = _top_up(engine, gateway, owner, card, key="double-click")
    second = _top_up(engine, gateway, owner, card, key="double-click")

    assert (first.id, first.checkout_url) == (second.id, second.checkout_url)
    assert (
        len([r for r in fake.posts("/v1/checkout/sessions") if r.params["mode"] == "payment"]) == 1
    )


def test_an_unpaid_completed_checkout_stays_pending(engine, fake, gateway):
    owner = _owner(engine)
    payment = _top_up(engine, gateway, owner, _stripe_card(engine, fake, gateway, owner))
    unpaid = dict(fake.objects[payment.gateway_ref], status="complete")

    result = _deliver(engine, gateway, "checkout.session.completed", unpaid)

    assert result.outcome == "awaiting payment"
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.PENDING


def test_an_expired_checkout_fails_the_payment_quietly(engine, fake, gateway):
    owner = _owner(engine)
    payment = _top_up(engine, gateway, owner, _stripe_card(engine, fake, gateway, owner))

    _deliver(engine, gateway, "checkout.session.expired", fake.expire_checkout(payment.gateway_ref))

    stored = fetch(engine, Payment, payment.id)
    assert (stored.status, stored.failure_message) == (
        PaymentStatus.FAILED,
        webhook.CHECKOUT_EXPIRED_MESSAGE,
    )
    assert count(engine, Notice) == 0
    assert _balance_cents(engine, owner) == 0


def test_a_failed_bank_payment_fails_the_payment_and_tells_its_maker(
    engine, fake, gateway, outbox_dir
):
    owner = _owner(engine)
    payment = _top_up(engine, gateway, owner, _stripe_card(engine, fake, gateway, owner))

    _deliver(
        engine, gateway, "checkout.session.async_payment_failed", fake.objects[payment.gateway_ref]
    )

    assert fetch(engine, Payment, payment.id).status == PaymentStatus.FAILED
    [notice] = [n for n in _all(engine, Notice)]
    assert notice.kind == NoticeKind.PAYMENT_FAILED
    [mail] = mail_to(outbox_dir, owner.email)
    assert "did not go through" in mail["Subject"]


def test_a_checkout_event_whose_total_differs_from_the_payment_credits_nothing(
    engine, fake, gateway
):
    owner = _owner(engine)
    payment = _top_up(engine, gateway, owner, _stripe_card(engine, fake, gateway, owner))
    paid = fake.pay_checkout(payment.gateway_ref)
    paid["amount_total"] = 1

    result = _deliver(engine, gateway, "checkout.session.completed", paid)

    assert result.outcome.startswith("ignored")
    assert _balance_cents(engine, owner) == 0


def test_an_unknown_event_type_is_ignored_and_not_recorded_as_handled(engine, gateway):
    result = _deliver(engine, gateway, "customer.updated", {"id": "cus_x"}, event_id="evt_other")

    assert result.outcome == "ignored: not an event the portal uses"
    assert count(engine, GatewayEvent) == 0


def _all(engine, model):
    with db.read_session(engine) as session:
        return list(session.exec(select(model)).all())


# --- Auto-recharge off-session ----------------------------------------------------------------


def _team_under_threshold(engine, fake, gateway, test_card="pm_card_visa"):
    owner = _owner(engine)
    card = _stripe_card(engine, fake, gateway, owner, test_card)
    with db.write_session(engine) as session:
        organization = organization_of(session, owner)
        billing = make_user(session, organization=organization, role=Role.BILLING)
        make_auto_recharge(session, organization, threshold_cents=2_000, amount_cents=5_000)
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.CREDIT,
            amount_cents=1_000,
            idempotency_key=f"credit:{organization.id}",
            memo="Under the threshold",
        )
    return owner, billing, card


def test_auto_recharge_confirms_a_payment_intent_off_session_and_the_webhook_credits_it(
    engine, fake, gateway
):
    owner, _billing, card = _team_under_threshold(engine, fake, gateway)

    payment = recharge(engine, owner.organization_id, gateway=gateway)

    assert payment is not None and payment.status == PaymentStatus.PENDING
    assert payment.gateway_ref and payment.gateway_ref.startswith("pi_")
    sent = fake.posts("/v1/payment_intents")[0]
    assert sent.idempotency_key == f"{payment.idempotency_key}:{payment.id.hex}"
    assert (sent.params["payment_method"], sent.params["amount"]) == (card.gateway_ref, "5148")
    assert _balance_cents(engine, owner) == 1_000  # not before the webhook

    result = _deliver(
        engine, gateway, "payment_intent.succeeded", fake.objects[payment.gateway_ref]
    )

    assert result.outcome == "credited"
    assert fetch(engine, Payment, payment.id).status == PaymentStatus.SUCCEEDED
    assert _balance_cents(engine, owner) == 6_000


def test_no_second_recharge_starts_while_one_awaits_the_webhook(engine, fake, gateway):
    owner, _billing, _card = _team_under_threshold(engine, fake, gateway)

    recharge(engine, owner.organization_id, gateway=gateway)

    assert recharge(engine, owner.organization_id, gateway=gateway) is None
    assert len(fake.posts("/v1/payment_intents")) == 1


def test_the_webhook_may_arrive_before_the_charge_answer_is_recorded(engine, fake, gateway):
    owner, _billing, _card = _team_under_threshold(engine, fake, gateway)
    fake.fail_next_posts(1)  # the answer is lost: the payment stays pending without its intent
    payment = recharge(engine, owner.organization_id, gateway=gateway)
    assert payment is not None and payment.gateway_ref is None
    intent = {
        "id": "pi_from_stripe",
        "object": "payment_intent",
        "amount": payment.total_cents,
        "status": "succeeded",
        "metadata": {
            "payment_id": str(payment.id),
            "organization_id": str(owner.organization_id),
        },
    }

    _deliver(engine, gateway, "payment_intent.succeeded", intent)

    stored = fetch(engine, Payment, payment.id)
    assert (stored.status, stored.gateway_ref) == (PaymentStatus.SUCCEEDED, "pi_from_stripe")
    assert _balance_cents(engine, owner) == 6_000


def test_a_bank_asking_for_authentication_off_session_notifies_the_owner(engine, fake, gateway):
    owner, billing, _card = _team_under_threshold(
        engine, fake, gateway, "pm_card_authenticationRequired"
    )

    payment = recharge(engine, owner.organization_id, gateway=gateway)

    assert payment is not None and payment.status == PaymentStatus.REQUIRES_ACTION
    [notice] = _all(engine, Notice)
    assert (notice.kind, notice.user_id) == (NoticeKind.PAYMENT_NEEDS_AUTHENTICATION, owner.id)
    replay = _deliver(
        engine,
        gateway,
        "payment_intent.payment_failed",
        {
            **fake.objects[payment.gateway_ref],
            "last_payment_error": {"code": "authentication_required", "message": "x"},
        },
    )
    assert replay.outcome == "unchanged"
    assert count(engine, Notice) == 1


def test_a_declined_off_session_charge_fails_with_stripes_message(
    engine, fake, gateway, outbox_dir
):
    owner, billing, _card = _team_under_threshold(engine, fake, gateway, "pm_card_chargeDeclined")

    payment = recharge(engine, owner.organization_id, gateway=gateway)

    assert payment is not None
    assert (payment.status, payment.failure_message) == (
        PaymentStatus.FAILED,
        "Your card was declined.",
    )
    assert [n.kind for n in _all(engine, Notice)] == [NoticeKind.AUTO_RECHARGE_FAILED]
    assert len(mail_to(outbox_dir, billing.email)) == 1


def test_reconciliation_asks_stripe_again_about_a_stalled_recharge_with_the_same_key(
    engine, fake, gateway
):
    owner, _billing, _card = _team_under_threshold(engine, fake, gateway)
    fake.fail_next_posts(1)
    stalled = recharge(engine, owner.organization_id, gateway=gateway)
    assert stalled is not None and stalled.gateway_ref is None

    summary = reconcile(engine, gateway=gateway, now=utcnow() + ASK_AFTER + timedelta(minutes=1))

    assert summary.asked_again == 1
    keys = [r.idempotency_key for r in fake.posts("/v1/payment_intents")]
    expected = f"{stalled.idempotency_key}:{stalled.id.hex}"
    assert keys == [expected, expected]
    resumed = fetch(engine, Payment, stalled.id)
    assert resumed.gateway_ref is not None and resumed.status == PaymentStatus.PENDING
    assert count(engine, Payment, Payment.source == PaymentSource.AUTO_RECHARGE) == 1


def test_a_recharge_stripe_never_answered_is_failed_after_a_day(engine, fake, gateway):
    owner, _billing, _card = _team_under_threshold(engine, fake, gateway)
    fake.fail_next_posts(1)
    stalled = recharge(engine, owner.organization_id, gateway=gateway)
    assert stalled is not None
    a_day_later = utcnow() + timedelta(days=1, minutes=1)

    reconcile(engine, gateway=gateway, now=a_day_later)
    sweep(engine, gateway=gateway, now=a_day_later)

    failed = fetch(engine, Payment, stalled.id)
    assert (failed.status, failed.failure_message) == (PaymentStatus.FAILED, NO_ANSWER)
    assert [n.kind for n in _all(engine, Notice) if n.organization_id] == [
        NoticeKind.AUTO_RECHARGE_FAILED
    ]
    # The stalled key is not sent again; the new day's recharge is a new payment.
    keys = [r.idempotency_key for r in fake.posts("/v1/payment_intents")]
    assert keys[0] == f"{stalled.idempotency_key}:{stalled.id.hex}"
    assert keys[1:] and keys[0] not in keys[1:]


def test_a_sandbox_card_cannot_be_charged_through_stripe(engine, gateway):
    owner = _owner(engine)
    with db.write_session(engine) as session:
        sandbox_card = make_card(session, organization_of(session, owner))

    with pytest.raises(ValidationFailed, match="saved for another payment service"):
        _top_up(engine, gateway, owner, sandbox_card)
    assert count(engine, Payment) == 0
