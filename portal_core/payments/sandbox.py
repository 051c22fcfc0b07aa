"""The sandbox gateway: offline and instant, on Stripe's test cards chosen by name.

It is the default (no ``STRIPE_SECRET_KEY``): a development machine, the demo and the tests
add cards and funds without a network. A card is saved at once from the test card picked;
a charge succeeds or declines at once with Stripe's own messages (``test_cards.py``), so the
portal's handling of each outcome is exercised exactly as Stripe would drive it. Nothing
here is remembered between calls: the payments themselves are the portal's rows.
"""

from __future__ import annotations

import uuid

from portal_core.errors import ValidationFailed
from portal_core.models.payments import GatewayName
from portal_core.payments.gateway import (
    CardSetupRequest,
    ChargeOutcome,
    ChargeStatus,
    HostedPage,
    PaymentRequest,
    PaymentState,
    RefundInfo,
    RefundRequest,
    SavedCard,
)
from portal_core.payments.test_cards import TEST_CARDS, Decline, card_by_reference


class SandboxGateway:
    """See the module docstring; it satisfies ``gateway.Gateway``."""

    name = GatewayName.SANDBOX
    # Nothing leaves the process, so a successful charge is credited on the spot.
    credits_from_webhook = False

    def create_customer(
        self, *, organization_id: uuid.UUID, name: str, email: str | None, idempotency_key: str
    ) -> str:
        return f"cus_sandbox_{organization_id.hex}"

    def start_card_setup(self, request: CardSetupRequest) -> SavedCard | HostedPage:
        card = card_by_reference(request.test_card or "")
        if card is None:
            names = ", ".join(card.name for card in TEST_CARDS)
            raise ValidationFailed({"test_card": f"Choose one of the test cards: {names}."})
        return SavedCard(card.details())

    def start_payment(self, request: PaymentRequest) -> ChargeOutcome | HostedPage:
        return self._charge(request, on_session=True)

    def charge_off_session(self, request: PaymentRequest) -> ChargeOutcome:
        return self._charge(request, on_session=False)

    def refund(self, request: RefundRequest) -> RefundInfo:
        """A refund succeeds at once, as a test-mode refund to a test card does."""
        return RefundInfo(
            ref=f"re_sandbox_{request.refund_id.hex}",
            amount_cents=request.amount_cents,
            status="succeeded",
            refund_id=str(request.refund_id),
        )

    def payment_state(self, ref: str) -> PaymentState:
        """The sandbox answers every charge at once and keeps nothing: a payment it left
        pending never reached it (its process stopped first), so it stays open for staff."""
        return PaymentState("open")

    def _charge(self, request: PaymentRequest, *, on_session: bool) -> ChargeOutcome:
        ref = f"pi_sandbox_{request.payment_id.hex}"
        card = card_by_reference(request.payment_method_ref)
        if card is None:
            return ChargeOutcome(
                ChargeStatus.DECLINED, ref, "Your card was declined.", "card_declined"
            )
        decline: Decline | None = card.on_session if on_session else card.off_session
        if decline is None:
            return ChargeOutcome(ChargeStatus.SUCCEEDED, ref)
        status = (
            ChargeStatus.REQUIRES_ACTION
            if decline.code == "authentication_required"
            else ChargeStatus.DECLINED
        )
        return ChargeOutcome(status, ref, decline.message, decline.decline_code or decline.code)
