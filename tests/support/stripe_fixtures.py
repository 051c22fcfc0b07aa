"""The fake Stripe's fixtures, for any test that asks for them (a plugin of tests/conftest.py):
``fake``, a running ``FakeStripe``, and ``gateway``, the portal's Stripe gateway talking to
it with the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal_core.payments.stripe_gateway import StripeGateway
from tests.support.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, running


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with running() as fake:
        yield fake


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(SECRET_KEY, webhook_secret=WEBHOOK_SECRET, api_base=fake.url)
