"""Stripe's test cards, offered by name in the sandbox (no card number is ever typed).

Each is one of Stripe's published test PaymentMethods (docs.stripe.com/testing: "Test card
numbers", "Declined payments", "Authentication and setup") with the behaviour Stripe gives
it and Stripe's own decline messages, so the sandbox behaves like Stripe in test mode. The
expiry is a date in the future, as Stripe's test cards take any future expiry; "Expired
card" declines with ``expired_card`` whatever its date, exactly as Stripe's does.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal_core.payments.gateway import CardDetails, card_label

TEST_CARD_EXP_MONTH = 12
TEST_CARD_EXP_YEAR = 2034

CARD_DECLINED = "Your card was declined."
INSUFFICIENT_FUNDS = "Your card has insufficient funds."
EXPIRED_CARD = "Your card has expired."
AUTHENTICATION_REQUIRED = "Your card was declined. This transaction requires authentication."


@dataclass(frozen=True)
class Decline:
    code: str  # Stripe's error code
    decline_code: str | None
    message: str  # Stripe's message, shown to the partner as it is


@dataclass(frozen=True)
class TestCard:
    """One test card: its name in the picker, the number it stands for (shown, never typed),
    and what charging it does on-session (the partner paying) and off-session (auto-recharge).
    ``None`` means the charge succeeds."""

    __test__ = False  # a catalogue entry, not a pytest class

    name: str
    gateway_ref: str  # Stripe's test PaymentMethod
    number: str  # for the picker's description only
    brand: str
    on_session: Decline | None = None
    off_session: Decline | None = None

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def label(self) -> str:
        return card_label(self.brand, self.last4)

    @property
    def outcome(self) -> str:
        """What the card does, in a partner's words, for the picker."""
        if self.on_session is not None:
            return f"Declines: “{self.on_session.message}”"
        if self.off_session is not None:
            return "Succeeds when you pay; auto-recharge needs authentication"
        return "Succeeds"

    def details(self) -> CardDetails:
        return CardDetails(
            gateway_ref=self.gateway_ref,
            brand=self.brand,
            last4=self.last4,
            exp_month=TEST_CARD_EXP_MONTH,
            exp_year=TEST_CARD_EXP_YEAR,
        )


_GENERIC_DECLINE = Decline("card_declined", "generic_decline", CARD_DECLINED)
_INSUFFICIENT = Decline("card_declined", "insufficient_funds", INSUFFICIENT_FUNDS)
_EXPIRED = Decline("expired_card", None, EXPIRED_CARD)
_AUTHENTICATION = Decline("authentication_required", None, AUTHENTICATION_REQUIRED)

TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("Visa", "pm_card_visa", "4242 4242 4242 4242", "visa"),
    TestCard("Mastercard", "pm_card_mastercard", "5555 5555 5555 4444", "mastercard"),
    TestCard("American Express", "pm_card_amex", "3782 822463 10005", "amex"),
    TestCard(
        "Declined",
        "pm_card_chargeDeclined",
        "4000 0000 0000 0002",
        "visa",
        on_session=_GENERIC_DECLINE,
        off_session=_GENERIC_DECLINE,
    ),
    TestCard(
        "Insufficient funds",
        "pm_card_chargeDeclinedInsufficientFunds",
        "4000 0000 0000 9995",
        "visa",
        on_session=_INSUFFICIENT,
        off_session=_INSUFFICIENT,
    ),
    TestCard(
        "Expired card",
        "pm_card_chargeDeclinedExpiredCard",
        "4000 0000 0000 0069",
        "visa",
        on_session=_EXPIRED,
        off_session=_EXPIRED,
    ),
    TestCard(
        "Authentication required",
        "pm_card_authenticationRequired",
        "4000 0027 6000 3184",
        "visa",
        off_session=_AUTHENTICATION,
    ),
)


def card_by_reference(gateway_ref: str) -> TestCard | None:
    """The test card saved under ``gateway_ref`` (pm_card_visa…), if it is one."""
    return next((card for card in TEST_CARDS if card.gateway_ref == gateway_ref), None)
