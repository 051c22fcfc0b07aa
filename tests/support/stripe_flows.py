"""What a partner does with Stripe, end to end against the fake: a card saved on Checkout and
its webhook, a top-up paid on Checkout and its webhook, a webhook delivery signed as Stripe
signs it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from portal_core import db
from portal_core.models.accounts import User
from portal_core.models.payments import Payment, PaymentMethod
from portal_core.payments.stripe_gateway import StripeGateway
from portal_core.services.payments import cards, top_ups, webhook
from tests.factories import actor_of
from tests.support.fake_stripe import FakeStripe, event_payload, signature_header


def deliver(
    engine: Engine,
    gateway: StripeGateway,
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
) -> webhook.WebhookResult:
    payload = event_payload(event_type, data, event_id=event_id)
    return webhook.receive_stripe_webhook(
        engine, payload, signature_header(payload), gateway=gateway
    )


def stripe_card(
    engine: Engine,
    fake: FakeStripe,
    gateway: StripeGateway,
    owner: User,
    test_card: str = "pm_card_visa",
) -> PaymentMethod:
    """A card saved the Stripe way: Checkout in setup mode, then the webhook."""
    with db.write_session(engine) as session:
        setup = cards.start_adding_card(session, actor_of(owner), gateway=gateway)
    assert setup.checkout_url is not None
    session_id = setup.checkout_url.rsplit("/", 1)[1]
    deliver(
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


def start_top_up(
    engine: Engine,
    gateway: StripeGateway,
    owner: User,
    card: PaymentMethod,
    *,
    amount_cents: int = 10_000,
    key: str = "attempt-1",
) -> Payment:
    """A top-up sent to Checkout: pending, its page's session in ``gateway_ref``."""
    with db.write_session(engine) as session:
        return top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=amount_cents,
            idempotency_key=key,
            gateway=gateway,
        )


def paid_top_up(
    engine: Engine,
    fake: FakeStripe,
    gateway: StripeGateway,
    owner: User,
    card: PaymentMethod,
    *,
    amount_cents: int = 10_000,
    key: str = "attempt-1",
) -> tuple[Payment, str]:
    """A top-up paid on Checkout and credited by its webhook; with its PaymentIntent."""
    payment = start_top_up(engine, gateway, owner, card, amount_cents=amount_cents, key=key)
    assert payment.gateway_ref is not None
    session = fake.pay_checkout(payment.gateway_ref)
    deliver(engine, gateway, "checkout.session.completed", session)
    return payment, str(session["payment_intent"])
