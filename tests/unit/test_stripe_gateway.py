"""The Stripe gateway with the real ``stripe`` SDK against a local fake of Stripe's API
(tests/support/fake_stripe.py), and Stripe's webhook signatures made the way Stripe makes
them."""

from __future__ import annotations

import time
import uuid

import pytest

from portal_core.errors import PaymentGatewayUnavailable
from portal_core.payments.gateway import (
    CardSetupRequest,
    ChargeStatus,
    HostedPage,
    InvalidSignature,
    PaymentRequest,
)
from portal_core.payments.stripe_gateway import StripeGateway
from portal_core.payments.test_cards import AUTHENTICATION_REQUIRED, CARD_DECLINED
from tests.support.fake_stripe import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event_payload,
    signature_header,
)

ORGANIZATION = uuid.UUID("00000000-0000-4000-8000-000000000001")


def _request(
    customer: str, method: str, *, key: str = "key-1", amount: int = 5_000
) -> PaymentRequest:
    return PaymentRequest(
        organization_id=ORGANIZATION,
        payment_id=uuid.uuid4(),
        reference="PAY-TEST0001",
        customer_ref=customer,
        payment_method_ref=method,
        amount_cents=amount,
        fee_cents=148,
        fee_label="Card convenience fee (2.95 %)",
        idempotency_key=key,
        success_url="https://portal.test/billing_overview?payment=1",
        cancel_url="https://portal.test/billing_overview?payment=1&cancelled=1",
    )


def _saved_card(fake: FakeStripe, gateway: StripeGateway, customer: str, test_card: str) -> str:
    page = gateway.start_card_setup(
        CardSetupRequest(
            organization_id=ORGANIZATION,
            customer_ref=customer,
            test_card=None,
            success_url="https://portal.test/ok",
            cancel_url="https://portal.test/cancel",
            idempotency_key=f"setup-{test_card}",
        )
    )
    assert isinstance(page, HostedPage)
    completed = fake.complete_setup(page.ref, test_card)
    return gateway.card_from_setup_intent(completed["setup_intent"]).gateway_ref


def test_creating_a_customer_sends_the_idempotency_key_and_a_repeat_returns_the_same_customer(
    fake, gateway
):
    first = gateway.create_customer(
        organization_id=ORGANIZATION, name="Northwind", email="o@example.com", idempotency_key="c1"
    )
    again = gateway.create_customer(
        organization_id=ORGANIZATION, name="Northwind", email="o@example.com", idempotency_key="c1"
    )

    assert first == again
    assert [r.idempotency_key for r in fake.posts("/v1/customers")] == ["c1", "c1"]
    assert fake.objects[first]["metadata"] == {"organization_id": str(ORGANIZATION)}


def test_card_setup_is_checkout_in_setup_mode_and_the_card_is_read_from_its_setup_intent(
    fake, gateway
):
    customer = gateway.create_customer(
        organization_id=ORGANIZATION, name="N", email=None, idempotency_key="c"
    )
    page = gateway.start_card_setup(
        CardSetupRequest(
            organization_id=ORGANIZATION,
            customer_ref=customer,
            test_card=None,
            success_url="https://portal.test/ok",
            cancel_url="https://portal.test/cancel",
            idempotency_key="setup-1",
        )
    )

    assert isinstance(page, HostedPage)
    assert page.url.startswith("https://checkout.stripe.test/")
    sent = fake.posts("/v1/checkout/sessions")[0]
    assert sent.params["mode"] == "setup"
    assert sent.params["customer"] == customer
    assert sent.params["metadata"] == {"organization_id": str(ORGANIZATION)}
    assert sent.idempotency_key == "setup-1"

    completed = fake.complete_setup(page.ref, "pm_card_mastercard")
    card = gateway.card_from_setup_intent(completed["setup_intent"])

    assert (card.brand, card.last4, card.exp_month, card.exp_year) == (
        "mastercard",
        "4444",
        12,
        2034,
    )
    assert card.gateway_ref.startswith("pm_")


def test_a_top_up_is_checkout_in_payment_mode_with_the_amount_and_the_fee_as_two_lines(
    fake, gateway
):
    request = _request("cus_x", "pm_x", key="pay-1")

    page = gateway.start_payment(request)

    assert isinstance(page, HostedPage)
    sent = fake.posts("/v1/checkout/sessions")[0]
    assert sent.params["mode"] == "payment"
    assert sent.params["customer"] == "cus_x"
    assert [line["price_data"]["unit_amount"] for line in sent.params["line_items"]] == [
        "5000",
        "148",
    ]
    assert sent.params["metadata"]["payment_id"] == str(request.payment_id)
    assert sent.params["payment_intent_data"]["metadata"]["payment_id"] == str(request.payment_id)
    assert fake.objects[page.ref]["amount_total"] == request.total_cents
    assert gateway.start_payment(request) == page  # the same key: the same session


def test_an_off_session_charge_confirms_a_payment_intent_for_the_total(fake, gateway):
    customer = gateway.create_customer(
        organization_id=ORGANIZATION, name="N", email=None, idempotency_key="c"
    )
    method = _saved_card(fake, gateway, customer, "pm_card_visa")

    outcome = gateway.charge_off_session(_request(customer, method, key="auto-1"))

    assert outcome.status is ChargeStatus.SUCCEEDED
    sent = fake.posts("/v1/payment_intents")[0]
    assert (sent.params["amount"], sent.params["off_session"], sent.params["confirm"]) == (
        "5148",
        "true",
        "true",
    )
    assert sent.idempotency_key == "auto-1"
    assert fake.objects[outcome.ref]["status"] == "succeeded"


def test_repeating_an_off_session_charge_with_its_key_charges_once(fake, gateway):
    customer = gateway.create_customer(
        organization_id=ORGANIZATION, name="N", email=None, idempotency_key="c"
    )
    method = _saved_card(fake, gateway, customer, "pm_card_visa")
    request = _request(customer, method, key="auto-same")

    first = gateway.charge_off_session(request)
    second = gateway.charge_off_session(request)

    assert first.ref == second.ref
    assert len([o for o in fake.objects.values() if o["object"] == "payment_intent"]) == 1


def test_a_bank_asking_for_authentication_off_session_is_requires_action(fake, gateway):
    customer = gateway.create_customer(
        organization_id=ORGANIZATION, name="N", email=None, idempotency_key="c"
    )
    method = _saved_card(fake, gateway, customer, "pm_card_authenticationRequired")

    outcome = gateway.charge_off_session(_request(customer, method))

    assert outcome.status is ChargeStatus.REQUIRES_ACTION
    assert outcome.message == AUTHENTICATION_REQUIRED
    assert outcome.ref is not None and outcome.ref.startswith("pi_")


def test_a_declined_card_off_session_is_declined_with_stripes_message(fake, gateway):
    customer = gateway.create_customer(
        organization_id=ORGANIZATION, name="N", email=None, idempotency_key="c"
    )
    method = _saved_card(fake, gateway, customer, "pm_card_chargeDeclined")

    outcome = gateway.charge_off_session(_request(customer, method))

    assert outcome.status is ChargeStatus.DECLINED
    assert outcome.message == CARD_DECLINED
    assert outcome.code == "generic_decline"


def test_stripe_unreachable_is_a_gateway_error_not_a_decline(fake, gateway):
    fake.fail_next_posts(1)

    with pytest.raises(PaymentGatewayUnavailable, match="could not be reached"):
        gateway.charge_off_session(_request("cus_x", "pm_card_visa"))


def test_a_webhook_signed_the_way_stripe_signs_verifies():
    gateway = StripeGateway(SECRET_KEY, webhook_secret=WEBHOOK_SECRET)
    payload = event_payload("checkout.session.completed", {"id": "cs_1"}, event_id="evt_1")

    event = gateway.verify_event(payload, signature_header(payload))

    assert (event.id, event.type, event.data["id"]) == (
        "evt_1",
        "checkout.session.completed",
        "cs_1",
    )


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "stale timestamp", "altered body", "no header", "not an event"],
)
def test_a_webhook_that_does_not_verify_is_refused(tamper):
    gateway = StripeGateway(SECRET_KEY, webhook_secret=WEBHOOK_SECRET)
    payload = event_payload("checkout.session.completed", {"id": "cs_1"})
    header: str | None = signature_header(payload)
    if tamper == "wrong secret":
        header = signature_header(payload, secret="whsec_someone_else")
    elif tamper == "stale timestamp":
        header = signature_header(payload, timestamp=int(time.time()) - 301)
    elif tamper == "altered body":
        payload = payload.replace(b"cs_1", b"cs_2")
    elif tamper == "no header":
        header = None
    else:
        payload = b'{"hello": "world"}'
        header = signature_header(payload)

    with pytest.raises(InvalidSignature):
        gateway.verify_event(payload, header)
