"""What the management routes (Whois, community reports, Logs, Billing) share
(docs/product.md, The REST API's contract).

- Who may call them: a live token with the route's scope. A test token answers from fixed
  sample data and never bills, so it has nothing to read or change of the organization's
  real data: it may call Smart CNAM only, and is refused here with a 403 that says so.
- An object's id is taken as text and read here: an id that names none of the
  organization's objects (another organization's, unknown, or not a UUID at all) is a 404,
  never a 422, so an id tells nobody whether it exists elsewhere.
- Lists answer ``Page``: the portal's own listing (``queries.listing``) with the API's page
  sizes, 100 included, and times in UTC.
- Each route documents every status it may answer, as problem JSON.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Request, Security
from pydantic import BaseModel, Field

from portal_core.api.answers import PROBLEM
from portal_core.api.auth import Authorizer, basic_scheme, bearer_scheme
from portal_core.api.vocabulary import PAGE_SIZES, PageRequest
from portal_core.errors import NotFound, PermissionDenied
from portal_core.queries.listing import DateRange, FilterValue, ListQuery
from portal_core.rules.numbers import shown
from portal_core.services.api_tokens import Caller, Scope


class ShownNumber(BaseModel):
    """A number in E.164 and as the portal shows it."""

    e164: str = Field(description="The number in E.164: +14169671111.")
    shown: str = Field(description="As the portal shows it: +1 416-967-1111.")

    @classmethod
    def of(cls, e164: str) -> ShownNumber:
        return cls(e164=e164, shown=shown(e164))


TEST_TOKEN_REFUSED = (
    "A test token answers Smart CNAM lookups from sample data and never bills: it may not "
    "read or change your organization's data. Call this route with a live token."
)

_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

_DESCRIPTIONS: dict[int, str] = {
    400: "The file could not be read at all: nothing of it was written",
    401: "No API token, or a wrong, expired or revoked one",
    403: "The token lacks the route's scope, or is a test token",
    404: "No such object in your organization (an id that is not a UUID included)",
    409: "Refused by the portal's rules (the message says why)",
    413: "The file is larger than the import takes",
    422: "Invalid input: ``errors`` names each field",
    429: "Past the rate limit: see Retry-After",
}


def rate_headers(policy: str) -> dict[str, Any]:
    """The ``X-Rate-Limit-*`` headers a route limited by ``policy`` answers with."""
    return {
        name: {"schema": {"type": kind}, "description": description}
        for name, kind, description in (
            ("X-Rate-Limit-Policy", "string", f"{policy} (or auth, for a refused credential)"),
            ("X-Rate-Limit-Limit", "integer", "calls allowed in the window"),
            ("X-Rate-Limit-Remaining", "integer", "calls left in the window"),
            ("X-Rate-Limit-Window", "integer", "the window's length in seconds"),
        )
    }


def responses(policy: str, *statuses: int, ok: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's documented answers: its success with the rate-limit headers, then 401, 403,
    422, 429 and ``statuses``, each as problem JSON."""
    documented: dict[int | str, dict[str, Any]] = {
        ok: {"description": "Done", "headers": rate_headers(policy)}
    }
    for status in sorted({401, 403, 422, 429, *statuses}):
        documented[status] = {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM: {"schema": _PROBLEM_SCHEMA}},
        }
    return documented


def live_caller(authorizer: Authorizer, policy: str, scope: Scope) -> Callable[..., Caller]:
    """The dependency of a management route: ``Authorizer.authorize``, then test tokens
    refused."""

    def live(
        request: Request,
        _basic: Annotated[None, Security(basic_scheme)],
        _bearer: Annotated[None, Security(bearer_scheme)],
    ) -> Caller:
        caller = authorizer.authorize(request, policy, scope)
        if caller.test:
            raise PermissionDenied(TEST_TOKEN_REFUSED)
        return caller

    return live


def object_id(raw: str, noun: str) -> uuid.UUID:
    """The UUID ``raw`` names, or a 404: a malformed id names none of your objects."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No such {noun} in your organization.") from None


def list_query(
    paging: PageRequest,
    filters: dict[str, FilterValue],
    *,
    sort: str | None = None,
    descending: bool | None = None,
) -> ListQuery:
    """The listing's query for an API call: the API's page sizes, times in UTC."""
    return ListQuery(
        filters={key: value for key, value in filters.items() if value is not None},
        sort=sort,
        descending=descending,
        page=paging.page,
        page_size=paging.page_size,
        page_sizes=PAGE_SIZES,
    )


def date_range(start: date | None, end: date | None) -> DateRange | None:
    """``start``..``end`` (UTC days, both included) as a listing's date filter."""
    return None if start is None and end is None else DateRange(start, end)


def iso(moment: datetime | None) -> datetime | None:
    """A stored time as UTC (SQLite hands back naive times, which the portal stores in UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
