"""Domain errors, each with a message fit for a partner's eyes.

Services raise them inside a transaction that then rolls back; pages show ``str(error)``;
the API turns them into problem JSON with ``status``.
"""

from __future__ import annotations

import uuid


class PortalError(Exception):
    """Base of every error a partner may see; ``status`` is its HTTP meaning."""

    status: int = 400
    title: str = "Bad request"
    # A refusal that must leave a record (a declined card's failed payment, a failed login):
    # the unit of work commits what was written before it was raised, then lets it through.
    # Every other error rolls the unit of work back. No service commits by itself.
    keeps_writes: bool = False

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(PortalError):
    """Input that breaks a rule; ``errors`` maps each field to its message."""

    status = 422
    title = "Invalid input"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class NotFound(PortalError):
    status = 404
    title = "Not found"


class PermissionDenied(PortalError):
    status = 403
    title = "Forbidden"


class AuthenticationFailed(PortalError):
    status = 401
    title = "Unauthorized"


class SignInRefused(AuthenticationFailed):
    """A password that did not match (or an account that may not sign in): the failure's
    throttle row and audit event are kept, or the throttle would never count it."""

    keeps_writes = True


class CurrentPasswordWrong(ValidationFailed):
    """My Profile's current password did not match: the miss is kept, like a failed login."""

    keeps_writes = True


class Throttled(PortalError):
    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Conflict(PortalError):
    status = 409
    title = "Conflict"


class InsufficientFunds(PortalError):
    """A billable request that the available funds plus the credit limit cannot cover."""

    status = 402
    title = "Payment required"


class PlanCapReached(PortalError):
    """A request past the allowance of a plan that has no price per additional request."""

    status = 402
    title = "Plan allowance used"


class LookupRefused(PortalError):
    """A lookup that the funds or the plan's cap could not cover (``cause``, the meter's
    refusal): it charged nothing, and its refused event is kept for Logs."""

    status = 402
    title = "Payment required"
    keeps_writes = True

    def __init__(self, cause: InsufficientFunds | PlanCapReached) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.title = cause.title


class PaymentDeclined(PortalError):
    """A card payment the card's bank (or the gateway) refused. The failed payment is kept,
    already committed, under ``payment_id``; the message is the gateway's reason."""

    status = 402
    title = "Payment declined"
    keeps_writes = True  # the failed payment and its notice are kept

    def __init__(self, message: str, *, payment_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.payment_id = payment_id


class PaymentGatewayUnavailable(PortalError):
    """The card processor could not be reached or answered with an error of its own. Nothing
    was charged that will not be settled: trying again with the same key is safe."""

    status = 503
    title = "Payment service unavailable"
