"""Stripe's webhook: ``POST /api/stripe/webhook`` (docs/architecture.md, rule 6).

The body is verified against ``STRIPE_WEBHOOK_SECRET`` exactly as Stripe signs it (the
``Stripe-Signature`` header, five minutes' tolerance); anything that does not verify is a
400 problem and changes nothing. A verified event is applied once (``services.payments``):
a replay answers 200 and changes nothing, so Stripe stops retrying.

Without Stripe configured the route answers **404**: the sandbox has no webhook, so the
resource does not exist, and Stripe (if pointed here by mistake) should not keep retrying a
portal that will never take its events. With ``STRIPE_SECRET_KEY`` set but no webhook secret
it answers **503**: the events are real and must not be lost, so Stripe keeps retrying (for
up to three days) until the secret is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from portal_core.errors import NotFound, PaymentGatewayUnavailable
from portal_core.payments import stripe_gateway_for
from portal_core.services.payments import webhook
from portal_core.settings import get_settings


def router(engine: Callable[[], Engine]) -> APIRouter:
    """The webhook's route, writing through the engine ``engine()`` returns."""
    routes = APIRouter(tags=["Stripe"])

    @routes.post(
        "/stripe/webhook",
        summary="Stripe's webhook (signature-verified; replays are ignored)",
        responses={400: {"description": "The signature did not verify"}},
    )
    async def stripe_webhook(request: Request) -> dict[str, Any]:
        settings = get_settings()
        gateway = stripe_gateway_for(settings)
        if gateway is None:
            raise NotFound("This portal does not use Stripe, so it has no Stripe webhook.")
        if not settings.stripe_webhook_secret:
            raise PaymentGatewayUnavailable(
                "The Stripe webhook is not configured yet (STRIPE_WEBHOOK_SECRET): try again later."
            )
        payload = await request.body()
        result = await run_in_threadpool(
            webhook.receive_stripe_webhook,
            engine(),
            payload,
            request.headers.get("Stripe-Signature"),
            gateway=gateway,
        )
        return {
            "received": True,
            "event": result.event_id,
            "type": result.event_type,
            "outcome": result.outcome,
            "replayed": result.replayed,
        }

    return routes
