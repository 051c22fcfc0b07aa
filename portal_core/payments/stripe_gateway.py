"""The Stripe gateway: Checkout for cards and top-ups, off-session PaymentIntents for
auto-recharge, and the webhook's signature check. The only module that imports ``stripe``.

- A card is saved on Checkout in ``setup`` mode; Stripe sends ``checkout.session.completed``
  and the webhook reads the card (brand, last four, expiry) from the session's SetupIntent.
- A partner's top-up is Checkout in ``payment`` mode for the organization's customer, with
  two lines (the amount, the convenience fee); 3-D Secure happens on Stripe's page. The
  session's metadata carries the payment's id, which the webhook settles.
- Auto-recharge confirms a PaymentIntent off-session with the default card. A bank asking
  for authentication (``authentication_required``) is ``REQUIRES_ACTION``; other card errors
  are declines with Stripe's message.
- Staff refund a payment through its PaymentIntent; reconciliation asks where a Checkout
  session or a PaymentIntent stands; the webhook lists a charge's refunds when its
  ``charge.refunded`` event does not carry them.
- Every request that creates something sends the caller's idempotency key: Stripe answers a
  repeated key with the first answer, so a retry never creates twice.

Stripe's answers are read as plain dicts (``to_dict()``), so nothing beyond this module
depends on the SDK's objects.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import stripe

from portal_core.errors import PaymentGatewayUnavailable, ValidationFailed
from portal_core.models.payments import GatewayName
from portal_core.payments.gateway import (
    CURRENCY,
    CardDetails,
    CardSetupRequest,
    ChargeOutcome,
    ChargeStatus,
    HostedPage,
    InvalidSignature,
    PaymentRequest,
    PaymentState,
    RefundInfo,
    RefundRequest,
    SavedCard,
    WebhookEvent,
)

CHECKOUT_LIFETIME_SECONDS = 31 * 60
# Stripe's own default: a signature older than five minutes is refused (replay protection).
WEBHOOK_TOLERANCE_SECONDS = 300
# Requests are retried on network errors with the same idempotency key, so a retry is safe.
NETWORK_RETRIES = 2
UNAVAILABLE = (
    "The card payment service could not be reached. Nothing was charged twice: try again in a "
    "moment."
)


class StripeGateway:
    """See the module docstring; it satisfies ``gateway.Gateway``."""

    name = GatewayName.STRIPE
    credits_from_webhook = True

    def __init__(
        self,
        secret_key: str,
        *,
        webhook_secret: str | None = None,
        api_base: str | None = None,
        webhook_tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
    ) -> None:
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=NETWORK_RETRIES,
        )
        self._webhook_secret = webhook_secret
        self._tolerance = webhook_tolerance_seconds

    # --- Customers and cards ------------------------------------------------------------

    def create_customer(
        self, *, organization_id: uuid.UUID, name: str, email: str | None, idempotency_key: str
    ) -> str:
        params: dict[str, Any] = {
            "name": name,
            "metadata": {"organization_id": str(organization_id)},
        }
        if email:
            params["email"] = email
        customer = self._call(
            lambda: self._client.v1.customers.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(customer["id"])

    def start_card_setup(self, request: CardSetupRequest) -> SavedCard | HostedPage:
        metadata = {"organization_id": str(request.organization_id)}
        params: dict[str, Any] = {
            "mode": "setup",
            "customer": request.customer_ref,
            "currency": CURRENCY,
            "payment_method_types": ["card"],
            "client_reference_id": str(request.organization_id),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
        }
        session = self._call(
            lambda: self._client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
        )
        return HostedPage(url=str(session["url"]), ref=str(session["id"]))

    def card_from_setup_intent(self, setup_intent_ref: str) -> CardDetails:
        """The card a completed Checkout setup saved (its SetupIntent's PaymentMethod)."""
        setup_intent = self._call(lambda: self._client.v1.setup_intents.retrieve(setup_intent_ref))
        method_ref = setup_intent.get("payment_method")
        if isinstance(method_ref, dict):
            method_ref = method_ref.get("id")
        if not method_ref:
            raise PaymentGatewayUnavailable(
                "Stripe has no card on that setup yet; it will be saved when Stripe confirms it."
            )
        method = self._call(lambda: self._client.v1.payment_methods.retrieve(str(method_ref)))
        card = method.get("card") or {}
        return CardDetails(
            gateway_ref=str(method["id"]),
            brand=str(card.get("brand") or "card"),
            last4=str(card.get("last4") or "0000"),
            exp_month=int(card.get("exp_month") or 1),
            exp_year=int(card.get("exp_year") or 2000),
        )

    # --- Payments ---------------------------------------------------------------------------

    def start_payment(self, request: PaymentRequest) -> ChargeOutcome | HostedPage:
        metadata = _metadata(request)
        params: dict[str, Any] = {
            "mode": "payment",
            "customer": request.customer_ref,
            "payment_method_types": ["card"],
            "client_reference_id": str(request.payment_id),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "metadata": metadata,
            "payment_intent_data": {
                "description": _description(request),
                "metadata": metadata,
            },
            "line_items": [
                _line("Funds for your SIPSTACK balance", request.amount_cents),
                _line(request.fee_label, request.fee_cents),
            ],
        }
        if request.fee_cents == 0:
            params["line_items"] = params["line_items"][:1]
        # A top-up's page lives 30 minutes, Stripe's shortest (counted from when Stripe gets
        # the request, hence the minute's margin): reconciliation fails it when it expires.
        params["expires_at"] = int(time.time()) + CHECKOUT_LIFETIME_SECONDS
        session = self._call(
            lambda: self._client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
        )
        return HostedPage(url=str(session["url"]), ref=str(session["id"]))

    def charge_off_session(self, request: PaymentRequest) -> ChargeOutcome:
        params: dict[str, Any] = {
            "amount": request.total_cents,
            "currency": CURRENCY,
            "customer": request.customer_ref,
            "payment_method": request.payment_method_ref,
            "off_session": True,
            "confirm": True,
            "description": _description(request),
            "metadata": _metadata(request),
        }
        try:
            intent = self._client.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            ).to_dict()
        except stripe.CardError as error:
            return _declined(error)
        except stripe.StripeError as error:
            raise PaymentGatewayUnavailable(UNAVAILABLE) from error
        status = {
            "succeeded": ChargeStatus.SUCCEEDED,
            "processing": ChargeStatus.PROCESSING,
            "requires_action": ChargeStatus.REQUIRES_ACTION,
            "requires_confirmation": ChargeStatus.REQUIRES_ACTION,
        }.get(str(intent.get("status")), ChargeStatus.DECLINED)
        last_error = intent.get("last_payment_error") or {}
        message = None if status is ChargeStatus.SUCCEEDED else last_error.get("message")
        return ChargeOutcome(status, str(intent["id"]), message, last_error.get("code"))

    # --- Refunds and reconciliation ----------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundInfo:
        params: dict[str, Any] = {
            "payment_intent": request.payment_intent_ref,
            "amount": request.amount_cents,
            "metadata": {
                "refund_id": str(request.refund_id),
                "payment_id": str(request.payment_id),
                "organization_id": str(request.organization_id),
            },
        }
        try:
            refund = self._client.v1.refunds.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            ).to_dict()
        except stripe.InvalidRequestError as error:
            # Stripe refuses what cannot be refunded (more than is left, a charge disputed):
            # its message says why, and nothing moved.
            raise ValidationFailed({"amount": str(error.user_message or error)}) from error
        except stripe.StripeError as error:
            raise PaymentGatewayUnavailable(UNAVAILABLE) from error
        return _refund_info(refund)

    def refunds_of_charge(self, charge_ref: str) -> list[RefundInfo]:
        """Every refund of a charge (``charge.refunded`` events do not always list them)."""
        listed = self._call(
            lambda: self._client.v1.refunds.list(params={"charge": charge_ref, "limit": 100})
        )
        return [_refund_info(refund) for refund in listed.get("data") or []]

    def payment_state(self, ref: str) -> PaymentState:
        if ref.startswith("cs_"):
            session = self._call(lambda: self._client.v1.checkout.sessions.retrieve(ref))
            intent = session.get("payment_intent")
            intent_ref = str(intent.get("id") if isinstance(intent, dict) else intent or "")
            if session.get("status") == "complete" and session.get("payment_status") in (
                "paid",
                "no_payment_required",
            ):
                return PaymentState("paid", intent_ref or None)
            if session.get("status") == "expired":
                return PaymentState("expired")
            return PaymentState("open", intent_ref or None)
        intent = self._call(lambda: self._client.v1.payment_intents.retrieve(ref))
        status = str(intent.get("status"))
        if status == "succeeded":
            return PaymentState("paid", str(intent["id"]))
        if status in ("canceled", "requires_payment_method"):
            error = intent.get("last_payment_error") or {}
            return PaymentState("failed", str(intent["id"]), error.get("message"))
        return PaymentState("open", str(intent["id"]))

    # --- Webhook ------------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """The event, once its ``Stripe-Signature`` verifies against the webhook secret within
        the tolerance; ``InvalidSignature`` otherwise (bad signature, stale timestamp, a body
        altered after signing, or something that is not an event at all)."""
        if not self._webhook_secret:
            raise InvalidSignature("No webhook secret is configured.")
        try:
            event = self._client.construct_event(
                payload, signature_header, self._webhook_secret, self._tolerance
            )
        except (stripe.SignatureVerificationError, ValueError, KeyError, IndexError) as error:
            raise InvalidSignature(str(error)) from error
        raw = event.to_dict()
        data = raw.get("data") or {}
        event_object = data.get("object") if isinstance(data, dict) else None
        if not raw.get("id") or not raw.get("type") or not isinstance(event_object, dict):
            raise InvalidSignature("The body is not a Stripe event.")
        return WebhookEvent(id=str(raw["id"]), type=str(raw["type"]), data=event_object)

    # --- Plumbing -----------------------------------------------------------------------

    def _call(self, request: Any) -> dict[str, Any]:
        try:
            answer = request()
        except stripe.StripeError as error:
            raise PaymentGatewayUnavailable(UNAVAILABLE) from error
        return dict(answer.to_dict())


def _refund_info(refund: dict[str, Any]) -> RefundInfo:
    metadata = refund.get("metadata") or {}
    return RefundInfo(
        ref=str(refund["id"]),
        amount_cents=int(refund.get("amount") or 0),
        status=str(refund.get("status") or "pending"),
        refund_id=metadata.get("refund_id"),
        message=refund.get("failure_reason"),
    )


def _metadata(request: PaymentRequest) -> dict[str, str]:
    return {
        "payment_id": str(request.payment_id),
        "organization_id": str(request.organization_id),
        "reference": request.reference,
    }


def _description(request: PaymentRequest) -> str:
    return f"SIPSTACK balance top-up {request.reference}"


def _line(name: str, cents: int) -> dict[str, Any]:
    return {
        "quantity": 1,
        "price_data": {"currency": CURRENCY, "unit_amount": cents, "product_data": {"name": name}},
    }


def _declined(error: stripe.CardError) -> ChargeOutcome:
    details = error.error
    intent = getattr(details, "payment_intent", None) if details is not None else None
    ref = str(intent["id"]) if intent is not None and "id" in intent else None
    code = error.code
    decline_code = getattr(details, "decline_code", None) if details is not None else None
    message = error.user_message or "Your card was declined."
    if code == "authentication_required":
        return ChargeOutcome(ChargeStatus.REQUIRES_ACTION, ref, message, code)
    return ChargeOutcome(ChargeStatus.DECLINED, ref, message, decline_code or code)
