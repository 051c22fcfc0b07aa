"""The sandbox gateway: Stripe's test cards by name, saved and charged offline, at once."""

from __future__ import annotations

import uuid

import pytest

from portal_core.errors import ValidationFailed
from portal_core.models.payments import GatewayName
from portal_core.payments import gateway_for, gateway_name, stripe_gateway_for
from portal_core.payments.gateway import (
    CardSetupRequest,
    ChargeStatus,
    PaymentRequest,
    SavedCard,
    card_label,
)
from portal_core.payments.sandbox import SandboxGateway
from portal_core.payments.stripe_gateway import StripeGateway
from portal_core.payments.test_cards import (
    AUTHENTICATION_REQUIRED,
    CARD_DECLINED,
    EXPIRED_CARD,
    INSUFFICIENT_FUNDS,
    TEST_CARDS,
)
from portal_core.settings import Settings


def _charge(test_card: str) -> PaymentRequest:
    return PaymentRequest(
        organization_id=uuid.uuid4(),
        payment_id=uuid.uuid4(),
        reference="PAY-TEST0001",
        customer_ref="cus_sandbox",
        payment_method_ref=test_card,
        amount_cents=1_000,
        fee_cents=30,
        fee_label="Card convenience fee (2.95 %)",
        idempotency_key="k",
    )


def test_the_catalogue_has_the_cards_the_issue_names_with_their_numbers():
    numbers = {card.gateway_ref: card.number for card in TEST_CARDS}

    assert numbers["pm_card_visa"] == "4242 4242 4242 4242"
    assert numbers["pm_card_chargeDeclined"] == "4000 0000 0000 0002"
    assert numbers["pm_card_chargeDeclinedInsufficientFunds"] == "4000 0000 0000 9995"
    assert numbers["pm_card_chargeDeclinedExpiredCard"] == "4000 0000 0000 0069"
    assert numbers["pm_card_authenticationRequired"] == "4000 0027 6000 3184"
    assert len({card.name for card in TEST_CARDS}) == len(TEST_CARDS)


def test_saving_a_test_card_keeps_its_brand_last_four_and_expiry_never_its_number():
    outcome = SandboxGateway().start_card_setup(
        CardSetupRequest(uuid.uuid4(), "cus", "pm_card_amex", "ok", "cancel", "k")
    )

    assert isinstance(outcome, SavedCard)
    assert (outcome.card.brand, outcome.card.last4) == ("amex", "0005")
    assert card_label(outcome.card.brand, outcome.card.last4) == "American Express •••• 0005"
    assert "3782" not in repr(outcome.card)


def test_an_unknown_test_card_is_refused_with_the_choices():
    with pytest.raises(ValidationFailed, match="Choose one of the test cards: Visa"):
        SandboxGateway().start_card_setup(
            CardSetupRequest(uuid.uuid4(), "cus", "4242424242424242", "ok", "cancel", "k")
        )


@pytest.mark.parametrize(
    ("test_card", "message"),
    [
        ("pm_card_chargeDeclined", CARD_DECLINED),
        ("pm_card_chargeDeclinedInsufficientFunds", INSUFFICIENT_FUNDS),
        ("pm_card_chargeDeclinedExpiredCard", EXPIRED_CARD),
    ],
)
def test_each_decline_card_declines_with_stripes_message(test_card, message):
    outcome = SandboxGateway().start_payment(_charge(test_card))

    assert outcome.status is ChargeStatus.DECLINED  # type: ignore[union-attr]
    assert outcome.message == message  # type: ignore[union-attr]


def test_the_authentication_card_succeeds_on_session_and_needs_authentication_off_session():
    sandbox = SandboxGateway()

    on_session = sandbox.start_payment(_charge("pm_card_authenticationRequired"))
    off_session = sandbox.charge_off_session(_charge("pm_card_authenticationRequired"))

    assert on_session.status is ChargeStatus.SUCCEEDED  # type: ignore[union-attr]
    assert off_session.status is ChargeStatus.REQUIRES_ACTION
    assert off_session.message == AUTHENTICATION_REQUIRED


def test_without_a_stripe_key_the_gateway_is_the_sandbox():
    settings = Settings(stripe_secret_key=None)

    assert isinstance(gateway_for(settings), SandboxGateway)
    assert gateway_name(settings) is GatewayName.SANDBOX
    assert stripe_gateway_for(settings) is None


def test_with_a_stripe_key_the_gateway_is_stripe():
    settings = Settings(stripe_secret_key="sk_test_x", stripe_webhook_secret="whsec_x")

    assert isinstance(gateway_for(settings), StripeGateway)
    assert gateway_name(settings) is GatewayName.STRIPE


def test_production_refuses_a_stripe_key_without_the_webhook_secret():
    with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
        Settings(
            portal_env="production",
            cookie_key="p9Vf2Qz7Lx4Nc8Rt1Hw6Jb3Ym5Ka0GdE",
            stripe_secret_key="sk_live_x",
        )
