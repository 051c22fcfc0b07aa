"""Card processors: the ``Gateway`` protocol, the offline sandbox and Stripe
(docs/architecture.md, rule 6).

``gateway_for(settings)`` picks the one the settings ask for: Stripe when
``STRIPE_SECRET_KEY`` is set, else the sandbox on Stripe's test cards. Stripe's SDK is
imported only when Stripe is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal_core.models.payments import GatewayName
from portal_core.payments.gateway import Gateway
from portal_core.payments.sandbox import SandboxGateway
from portal_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from portal_core.payments.stripe_gateway import StripeGateway

__all__ = ["Gateway", "gateway_for", "gateway_name", "stripe_gateway_for"]


def gateway_for(settings: Settings | None = None) -> Gateway:
    """The gateway the settings configure (see the module docstring)."""
    settings = settings or get_settings()
    stripe_gateway = stripe_gateway_for(settings)
    return stripe_gateway if stripe_gateway is not None else SandboxGateway()


def stripe_gateway_for(settings: Settings | None = None) -> StripeGateway | None:
    """The Stripe gateway, or ``None`` when Stripe is not configured (the webhook's 404)."""
    settings = settings or get_settings()
    if not settings.stripe_secret_key:
        return None
    from portal_core.payments.stripe_gateway import StripeGateway

    return StripeGateway(
        settings.stripe_secret_key,
        webhook_secret=settings.stripe_webhook_secret,
        api_base=settings.stripe_api_base,
    )


def gateway_name(settings: Settings | None = None) -> GatewayName:
    """Which gateway is in use, without building it: pages choose their flow by it."""
    settings = settings or get_settings()
    return GatewayName.STRIPE if settings.uses_stripe else GatewayName.SANDBOX
