"""Smart CNAM lookups over the API (docs/product.md, The REST API's contract).

- ``GET /v1/smart-cnam/{source}[/{destination}]?type=…`` answers JSON: the number in E.164
  and as shown, the score (``"3.750"`` and ``score_millis``), its band, the caller's name,
  the lookup type's answer, its cost in micro-dollars and the request's id. With
  ``format=text`` or ``Accept: text/plain`` it answers the text answer instead, for ``risk``
  and ``cnam`` (the others have no text answer: 406).
- ``GET /v1/b/partner/smart-cnam/phoneNumber/{source}[/{destination}]?type=…`` is SIPSTACK's
  own route, so a dialplan written for SIPSTACK works by changing the host: the text answer,
  ``text/plain``.

A text answer's errors keep their status with a few words of ``text/plain``
(``answers.short_text``); JSON's are problem JSON. A live token's lookup goes through
``services.lookups.look_up``, metered, billed and logged exactly as the portal's form is, and
shown in Logs with the token; a test token's comes from sample data and costs nothing
(``services.sample_lookups``). ``Idempotency-Key`` makes a retried request answer again
without charging twice.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from portal_core import group_commit
from portal_core.api.answers import PROBLEM, TEXT
from portal_core.api.auth import Admission, Authorizer
from portal_core.api.vocabulary import CURRENCY, ApiLookupType, LookupTypeQuery, word_key
from portal_core.errors import PortalError, ValidationFailed
from portal_core.rules.numbers import NumberFacts
from portal_core.services import lookups, rate_limits, sample_lookups
from portal_core.services.api_tokens import Caller, Scope
from portal_core.services.lookups import LookupResult
from portal_core.services.meter import MAX_REQUEST_KEY

PREFIX = "/v1/smart-cnam"
SIPSTACK_PREFIX = "/v1/b/partner/smart-cnam/phoneNumber"


Answer = TypeVar("Answer")

# On SQLite a process writes one transaction at a time (``db.WriteQueue``), and every lookup
# writes: run side by side, lookups would only contend for the interpreter lock. So they go
# through the engine's group commit: one thread does the lookups waiting, one after the other,
# and commits them together (``group_commit``; measured: bench/README.md). On PostgreSQL they
# run side by side in the default thread pool: they wait on the network, and each
# organization's only on its own billing account.


class NotAcceptable(PortalError):
    status = 406
    title = "Not acceptable"


class Problem(BaseModel):
    """An error (RFC 9457): ``detail`` says what to do; ``errors`` names each bad field."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: dict[str, str] | None = None


class Number(BaseModel):
    e164: str = Field(description="The number in E.164: +14169671111.")
    shown: str = Field(description="As the portal shows it: +1 416-967-1111.")
    valid: bool = Field(description="Allocated, per the numbering plan (else likely spoofed).")
    country: str | None = Field(description="ISO 3166 alpha-2, when known.")
    line_type: str


class LookupAnswer(BaseModel):
    request_id: str = Field(description="The Idempotency-Key sent, or a fresh one.")
    type: ApiLookupType
    source: Number
    destination: Number | None
    score: str = Field(description="0.000–5.000, as the text answer writes it.")
    score_millis: int = Field(ge=0, le=5000)
    band: str = Field(description="The score's remark: Blacklisted … Trusted.")
    spam: bool = Field(description="The score is in a spam band (under 2.500).")
    caller_name: str | None
    answer: dict[str, str] = Field(description="The lookup type's answer, field by field.")
    text: str = Field(description="The text answer: the score, then the name, ≤ 20 ASCII.")
    registered: bool
    cost_micros: int = Field(description="What this lookup cost, in micro-dollars.")
    included: bool = Field(description="Within the plan's monthly allowance.")
    currency: Literal["USD"] = CURRENCY
    replayed: bool = Field(description="The Idempotency-Key was seen before: not charged again.")
    test: bool = Field(description="A test token's sample answer: never billed.")
    looked_up_at: datetime


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            PROBLEM: {"schema": Problem.model_json_schema()},
            TEXT: {"schema": {"type": "string", "maxLength": 20}},
        },
    }


_RATE_HEADERS = {
    name: {"schema": {"type": kind}, "description": description}
    for name, kind, description in (
        ("X-Rate-Limit-Policy", "string", "lookups (or auth, for a refused credential)"),
        ("X-Rate-Limit-Limit", "integer", "calls allowed in the window"),
        ("X-Rate-Limit-Remaining", "integer", "calls left in the window"),
        ("X-Rate-Limit-Window", "integer", "the window's length in seconds"),
    )
}

ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("No API token, or a wrong, expired or revoked one"),
    402: _error("The funds or the plan's cap cannot cover the lookup"),
    403: _error("The token lacks the lookups scope"),
    406: _error("No text answer for this lookup type"),
    409: _error("The Idempotency-Key was used for another request"),
    422: _error("Not a phone number, or a bad parameter"),
    429: _error("Past the rate limit: see Retry-After"),
}


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Your id of this request (1–120 characters): a retry with the same "
        "key answers again and is not charged twice.",
    ),
]
Format = Annotated[
    Literal["json", "text"] | None,
    Query(description="text: the text answer (risk and cnam only), as Accept: text/plain."),
]


def wants_text(request: Request) -> bool:
    """Whether this request's answers, errors included, are text: SIPSTACK's route always;
    the JSON route when the text answer was asked for a type that has one."""
    route = getattr(request.scope.get("route"), "path", "")
    if route.startswith(SIPSTACK_PREFIX):
        return True
    if not route.startswith(PREFIX):
        return False
    try:
        lookup_type = ApiLookupType(request.query_params.get("type", ApiLookupType.CNAM.value))
    except ValueError:
        return False
    return lookup_type.has_text_answer and _text_asked(request)


def _text_asked(request: Request) -> bool:
    asked = request.query_params.get("format")
    if asked is not None:
        return asked == "text"
    accept = request.headers.get("accept", "")
    return TEXT in accept and "application/json" not in accept and "+json" not in accept


def router(engine: Callable[[], Engine], clock: Callable[[], datetime]) -> APIRouter:
    routes = APIRouter(tags=["Smart CNAM"])
    authorizer = Authorizer(engine, clock)
    # A lookup is authorized, counted and looked up in one worker thread, not by a dependency
    # in a thread of its own: on the hot path a second hand-over between the event loop and
    # the thread pool cost a quarter of the request's CPU. And it is counted against its rate
    # limit in its own write transaction (``Admission``): one commit per lookup, not two.
    security = {"security": Authorizer.SECURITY}

    async def in_lane(work: Callable[..., Answer], *args: Any) -> Answer:
        bound = partial(work, *args)
        current = engine()
        if current.dialect.name == "sqlite":
            return await to_thread.run_sync(group_commit.of(current).run, bound)
        return await to_thread.run_sync(bound)

    def identified(request: Request) -> tuple[Caller, Admission]:
        caller = authorizer.identify(request)
        return caller, authorizer.admission(request, rate_limits.LOOKUPS, Scope.LOOKUPS, caller)

    def look_up(
        caller: Caller,
        admission: Admission,
        source: str,
        destination: str,
        lookup_type: ApiLookupType,
        idempotency_key: str | None,
    ) -> tuple[LookupResult, str]:
        request_key = _request_key(idempotency_key)
        if caller.test:
            result = sample_lookups.look_up_sample(
                engine(),
                caller.actor,
                source=source,
                destination=destination,
                lookup_type=lookup_type.lookup_type,
                now=clock(),
            )
        else:
            result = lookups.look_up(
                engine(),
                caller.actor,
                source=source,
                destination=destination,
                lookup_type=lookup_type.lookup_type,
                request_key=request_key,
                now=clock(),
                admit=admission,
            )
        return result, request_key

    def answer(
        request: Request,
        source: str,
        destination: str,
        lookup_type: ApiLookupType,
        idempotency_key: str | None,
    ) -> LookupAnswer | PlainTextResponse:
        caller, admission = identified(request)
        text = _text_asked(request)
        with admission.settled():
            if text and not lookup_type.has_text_answer:
                raise NotAcceptable(
                    f"The {lookup_type.value} lookup has no text answer: only risk and cnam do. "
                    "Ask for JSON (format=json, Accept: application/json)."
                )
            result, request_key = look_up(
                caller, admission, source, destination, lookup_type, idempotency_key
            )
        if text:
            return PlainTextResponse(result.text)
        return _answer(result, request_key, caller)

    json_doc: dict[str, Any] = {
        "openapi_extra": security,
        "response_model": LookupAnswer,
        "responses": {
            200: {
                "content": {TEXT: {"schema": {"type": "string", "maxLength": 20}}},
                "headers": _RATE_HEADERS,
            },
            **ERRORS,
        },
    }

    @routes.get(
        f"{PREFIX}/{{source}}", summary="Look a caller's number up (JSON or text)", **json_doc
    )
    async def smart_cnam(
        request: Request,
        source: str,
        lookup_type: LookupTypeQuery = ApiLookupType.CNAM,
        format: Format = None,
        idempotency_key: IdempotencyKey = None,
    ) -> LookupAnswer | PlainTextResponse:
        return await in_lane(answer, request, source, "", lookup_type, idempotency_key)

    @routes.get(
        f"{PREFIX}/{{source}}/{{destination}}",
        summary="Look a call from a number to another up (JSON or text)",
        **json_doc,
    )
    async def smart_cnam_call(
        request: Request,
        source: str,
        destination: str,
        lookup_type: LookupTypeQuery = ApiLookupType.CNAM,
        format: Format = None,
        idempotency_key: IdempotencyKey = None,
    ) -> LookupAnswer | PlainTextResponse:
        return await in_lane(answer, request, source, destination, lookup_type, idempotency_key)

    text_doc: dict[str, Any] = {
        "openapi_extra": security,
        "response_class": PlainTextResponse,
        "responses": {
            200: {
                "description": "The text answer: the score as d.ddd, then the caller's name "
                "cut to 15 characters, ASCII (3.750Cafe Ltee)",
                "content": {TEXT: {"schema": {"type": "string", "maxLength": 20}}},
                "headers": _RATE_HEADERS,
            },
            **ERRORS,
        },
        "tags": ["SIPSTACK-compatible"],
    }

    def text_answer(
        request: Request,
        source: str,
        destination: str,
        lookup_type: ApiLookupType,
        idempotency_key: str | None,
    ) -> PlainTextResponse:
        caller, admission = identified(request)
        with admission.settled():
            if not lookup_type.has_text_answer:
                raise NotAcceptable(
                    f"The {lookup_type.value} lookup has no text answer: use type=cnam or "
                    "type=risk."
                )
            result, _key = look_up(
                caller, admission, source, destination, lookup_type, idempotency_key
            )
        return PlainTextResponse(result.text)

    @routes.get(
        f"{SIPSTACK_PREFIX}/{{source}}",
        summary="SIPSTACK's route: the text answer for a caller's number",
        **text_doc,
    )
    async def sipstack(
        request: Request,
        source: str,
        lookup_type: LookupTypeQuery = ApiLookupType.CNAM,
        idempotency_key: IdempotencyKey = None,
    ) -> PlainTextResponse:
        return await in_lane(text_answer, request, source, "", lookup_type, idempotency_key)

    @routes.get(
        f"{SIPSTACK_PREFIX}/{{source}}/{{destination}}",
        summary="SIPSTACK's route: the text answer for a call to a number",
        **text_doc,
    )
    async def sipstack_call(
        request: Request,
        source: str,
        destination: str,
        lookup_type: LookupTypeQuery = ApiLookupType.CNAM,
        idempotency_key: IdempotencyKey = None,
    ) -> PlainTextResponse:
        return await in_lane(
            text_answer, request, source, destination, lookup_type, idempotency_key
        )

    return routes


def _request_key(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return uuid.uuid4().hex
    if not 1 <= len(idempotency_key) <= MAX_REQUEST_KEY or not idempotency_key.isprintable():
        raise ValidationFailed(
            {
                "Idempotency-Key": f"An Idempotency-Key of 1–{MAX_REQUEST_KEY} printable "
                "characters (a UUID does), or none."
            }
        )
    return idempotency_key


def _number(facts: NumberFacts) -> Number:
    return Number(
        e164=facts.e164,
        shown=facts.international,
        valid=facts.valid,
        country=facts.country,
        line_type=facts.line_type.value,
    )


def _answer(result: LookupResult, request_key: str, caller: Caller) -> LookupAnswer:
    return LookupAnswer(
        request_id=request_key,
        type=ApiLookupType.of(result.lookup_type),
        source=_number(result.source),
        destination=_number(result.destination) if result.destination else None,
        score=result.score.text,
        score_millis=result.score.millis,
        band=result.score.band.remark,
        spam=result.score.band.spam,
        caller_name=result.caller_name,
        answer={word_key(detail.label): detail.value for detail in result.details},
        text=result.text,
        registered=result.registered,
        cost_micros=result.cost_micros,
        included=result.included,
        replayed=result.replayed,
        test=caller.test,
        looked_up_at=result.at,
    )
