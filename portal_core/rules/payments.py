"""What can still be done with a card payment, as both staff's page and the refund service
read it."""

from __future__ import annotations

from portal_core.models.payments import SETTLED_STATUSES, Payment, PaymentStatus

# While the cardholder's bank disputes a payment it holds the money: it cannot be refunded.
REFUNDABLE_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)


def refundable_cents(payment: Payment) -> int:
    """What is left to refund of the payment's total charged (0 when it cannot be)."""
    if payment.status not in REFUNDABLE_STATUSES:
        return 0
    return max(payment.total_cents - payment.refunded_cents, 0)


def balance_share(amount_cents: int, total_cents: int, charged_cents: int) -> int:
    """The share of a payment's credited ``amount_cents`` in ``charged_cents`` of its
    ``total_cents`` charged, rounded half-up: what a refund or a dispute of ``charged_cents``
    takes from the balance (the convenience fee never reached it)."""
    if total_cents <= 0:
        return 0
    return (2 * charged_cents * amount_cents + total_cents) // (2 * total_cents)


def refund_share(
    amount_cents: int, total_cents: int, refunded_before_cents: int, refund_cents: int
) -> int:
    """What refunding ``refund_cents`` more takes from the balance: the difference of the
    shares of the running totals, so that the parts of a payment refunded in pieces add up
    to exactly its amount."""
    return balance_share(
        amount_cents, total_cents, refunded_before_cents + refund_cents
    ) - balance_share(amount_cents, total_cents, refunded_before_cents)


__all__ = [
    "REFUNDABLE_STATUSES",
    "SETTLED_STATUSES",
    "balance_share",
    "refund_share",
    "refundable_cents",
]
