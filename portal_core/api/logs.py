"""Logs over the API (docs/product.md, The REST API's contract): the organization's product
events as Analytics › Logs lists them (``queries.logs``), filtered by UTC days, product,
action, lookup type (the API's names: risk, cnam…), status and API token, and the same
events as the page's CSV, streamed. Reading Logs writes no event of its own.
"""

import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from portal_core import db
from portal_core.api.auth import Authorizer
from portal_core.api.management import (
    ShownNumber,
    date_range,
    iso,
    list_query,
    live_caller,
    responses,
)
from portal_core.api.vocabulary import CURRENCY, ApiLookupType, Page, PageRequest, page_request
from portal_core.errors import ValidationFailed
from portal_core.models.billing import LookupType
from portal_core.models.products import EventAction, EventProduct, EventStatus
from portal_core.queries import logs
from portal_core.queries.listing import ListQuery, check, csv_chunks, csv_file_name, fetch_page
from portal_core.rules.scoring import format_score
from portal_core.services import rate_limits
from portal_core.services.api_tokens import Caller, Scope

PREFIX = "/v1/logs"
Day = Annotated[date | None, Query(description="A UTC day, YYYY-MM-DD (both ends included).")]


class Event(BaseModel):
    id: uuid.UUID
    created_at: datetime
    by: str | None = Field(description="The member, or the API token with “(API token)”.")
    product: EventProduct
    action: EventAction
    type: ApiLookupType | None = Field(description="A lookup's type.")
    number: ShownNumber | None = Field(
        description="The number (a refused lookup's is kept as it was typed)."
    )
    destination: ShownNumber | None = Field(description="The number a lookup was for.")
    result: str | None
    score: str | None = Field(description="0.000–5.000.")
    score_millis: int | None
    cost_micros: int | None
    currency: Literal["USD"] = CURRENCY
    latency_ms: int | None
    status: EventStatus


def _event(key: uuid.UUID, row: dict[str, Any]) -> dict[str, Any]:
    numbers = (row["numbers"] or "").split(logs.NUMBERS_ARROW)
    lookup_type = row["lookup_type"]
    score = row["score"]
    return {
        "id": key,
        "created_at": iso(row["created_at"]),
        "by": row["user"],
        "product": row["product"],
        "action": row["action"],
        "type": ApiLookupType.of(LookupType(lookup_type)).value if lookup_type else None,
        "number": ShownNumber.of(numbers[0]) if numbers[0] else None,
        "destination": ShownNumber.of(numbers[1]) if len(numbers) > 1 else None,
        "result": row["result"],
        "score": format_score(score) if score is not None else None,
        "score_millis": score,
        "cost_micros": row["cost"],
        "latency_ms": row["latency_ms"],
        "status": row["status"],
    }


def _token_choice(token_id: str | None, tokens: list[logs.EventToken]) -> str | None:
    """The Logs filter's choice for ``token_id``: one of the organization's tokens."""
    if token_id is None or token_id == "":
        return None
    if token_id not in {str(token.id) for token in tokens}:
        raise ValidationFailed(
            {"token_id": f"“{token_id}” is not the id of one of your API tokens."}
        )
    return token_id


def router(engine: Callable[[], Engine], clock: Callable[[], datetime]) -> APIRouter:
    routes = APIRouter(tags=["Logs"])
    authorizer = Authorizer(engine, clock)
    reader = live_caller(authorizer, rate_limits.LIGHT, Scope.LOGS_READ)
    exporter = live_caller(authorizer, rate_limits.HEAVY, Scope.LOGS_READ)

    def events_query(
        paging: PageRequest,
        start: date | None,
        end: date | None,
        product: EventProduct | None,
        action: EventAction | None,
        lookup_type: ApiLookupType | None,
        status: EventStatus | None,
        token: str | None,
    ) -> ListQuery:
        return list_query(
            paging,
            {
                "created": date_range(start, end),
                "product": product.value if product else None,
                "action": action.value if action else None,
                "lookup_type": lookup_type.lookup_type.value if lookup_type else None,
                "status": status.value if status else None,
                "token": token,
            },
        )

    # Not ``token``: a token's name in the URL is refused as a credential sent there.
    TokenId = Annotated[
        str | None, Query(description="One of your API tokens' id: the events it made.")
    ]
    TypeFilter = Annotated[
        ApiLookupType | None,
        Query(alias="type", description="A lookup's type: risk, cnam, regional, telco, profile."),
    ]

    @routes.get(
        PREFIX,
        summary="The organization's product events, newest first",
        response_model=Page[Event],
        responses=responses(rate_limits.LIGHT),
    )
    def events(
        caller: Annotated[Caller, Depends(reader)],
        paging: Annotated[PageRequest, Depends(page_request)],
        start: Day = None,
        end: Day = None,
        product: EventProduct | None = None,
        action: EventAction | None = None,
        lookup_type: TypeFilter = None,
        status: EventStatus | None = None,
        token_id: TokenId = None,
    ) -> dict[str, Any]:
        with db.read_session(engine()) as session:
            tokens = logs.event_tokens(session, caller.actor)
            token = _token_choice(token_id, tokens)
            query = events_query(paging, start, end, product, action, lookup_type, status, token)
            listing = logs.events(caller.actor, tokens=tokens)
            page = fetch_page(session, listing, query)
        return {
            "items": [_event(key, row) for key, row in zip(page.keys, page.rows, strict=True)],
            "total": page.total,
            "page": page.page,
            "page_size": page.page_size,
        }

    @routes.get(
        f"{PREFIX}.csv",
        summary="The organization's product events as the Logs page's CSV (every row)",
        response_class=StreamingResponse,
        responses={
            **responses(rate_limits.HEAVY),
            200: {
                "description": "UTF-8 CSV with a byte-order mark, times in UTC",
                "content": {"text/csv": {"schema": {"type": "string"}}},
                "headers": responses(rate_limits.HEAVY)[200]["headers"],
            },
        },
    )
    def events_csv(
        caller: Annotated[Caller, Depends(exporter)],
        start: Day = None,
        end: Day = None,
        product: EventProduct | None = None,
        action: EventAction | None = None,
        lookup_type: TypeFilter = None,
        status: EventStatus | None = None,
        token_id: TokenId = None,
    ) -> StreamingResponse:
        with db.read_session(engine()) as session:
            tokens = logs.event_tokens(session, caller.actor)
        token = _token_choice(token_id, tokens)
        everything = PageRequest()
        query = events_query(everything, start, end, product, action, lookup_type, status, token)
        listing = logs.events(caller.actor, tokens=tokens)
        check(listing, query)  # a bad filter is a 422 before the answer starts

        def rows() -> Iterator[bytes]:
            with db.read_session(engine()) as session:
                yield from csv_chunks(session, listing, query)

        name = csv_file_name(listing, clock().date())
        return StreamingResponse(
            rows(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return routes
