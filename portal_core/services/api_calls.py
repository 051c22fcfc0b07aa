"""API calls as lines of Logs (docs/product.md, Pages › Logs).

A call an API token makes is a line of its organization's Logs, with the token's name: the
product's own line when the call is a product action that records one (a Smart CNAM lookup,
priced or refused for want of funds), else a line of the ``API`` product, action ``Call``,
that says the method, the route, the answer's status and, for an error, what it said. Whois
and reports writes keep their product's line and get the call's too: one says what changed,
the other which call changed it.

Not recorded:

- a call refused by its rate limit: a client past its limit would write a line per refusal,
  and the answers' ``X-Rate-Limit-*`` headers already say it;
- a test token's call: test tokens write nothing;
- reading Logs itself: paging through Logs must not add the lines it pages through;
- a call without a valid token: it belongs to no organization;
- a lookup whose ``type`` or ``format`` is none of the API's words: the framework refuses it
  (422) before the lookup reads its token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from sqlalchemy import Engine

from portal_core import db
from portal_core.models.products import EventAction, EventProduct, EventStatus
from portal_core.services import product_events


@dataclass(frozen=True)
class Call:
    organization_id: uuid.UUID
    api_token_id: uuid.UUID
    method: str
    route: str  # the route's template as called: /api/v1/whois/profiles/{profile_id}
    status_code: int
    latency_ms: int
    detail: str | None = None  # what an error answer said

    @property
    def status(self) -> EventStatus:
        if self.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return EventStatus.FAILED
        return EventStatus.REFUSED if self.status_code >= HTTPStatus.BAD_REQUEST else EventStatus.OK

    @property
    def result(self) -> str:
        """``GET /api/v1/billing/balance → 200 OK``, with an error's detail after a colon."""
        try:
            phrase = HTTPStatus(self.status_code).phrase
        except ValueError:
            phrase = ""
        answered = f"{self.method} {self.route} → {self.status_code} {phrase}".rstrip()
        return f"{answered}: {self.detail}" if self.detail else answered


def record(engine: Engine, call: Call, *, now: datetime) -> uuid.UUID:
    """Write ``call`` as a line of Logs (and its day's roll-up); returns the event's id."""
    with db.write_connection(engine) as connection:
        return product_events.record(
            connection,
            product_events.Event(
                organization_id=call.organization_id,
                product=EventProduct.API,
                action=EventAction.CALL,
                api_token_id=call.api_token_id,
                result=call.result,
                latency_ms=call.latency_ms,
                status=call.status,
            ),
            now=now,
        )
