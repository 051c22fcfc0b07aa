"""The FastAPI application: ``/api/healthz``, Stripe's webhook (``/api/stripe/webhook``) and
the partners' REST API (Smart CNAM lookups, Whois Profiles, community reports, Logs and
Billing; docs/product.md, The REST API's contract).

Errors are problem JSON (RFC 9457): a domain error keeps its status and message, input that
fails validation is a 422 listing each field, and anything unexpected is a 500 that reveals
nothing. A route whose answer a call flow reads as text answers its errors as a few words of
``text/plain`` instead (``answers.short_text``). Every 401 challenges for HTTP Basic.
Runnable alone (``uvicorn portal_core.api.app:app``, ``python -m portal_core api``) or mounted
in the portal's ASGI app (``portal_core.ui.asgi``). Run alone it has no scheduler, so it
writes the tokens' buffered last-used times itself, every ``LAST_USED_WRITE_SECONDS`` and when
it shuts down; mounted, the portal's scheduler and the API Tokens page write them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import Engine, text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from portal_core import db
from portal_core.api import billing, logs, reports, smart_cnam, webhooks, whois
from portal_core.api.answers import PROBLEM, problem, short_text
from portal_core.api.auth import RateLimitHeaders
from portal_core.api.call_log import CallLog, Unlogged, keep_detail
from portal_core.api.serving import settled_heap
from portal_core.errors import PortalError, Throttled, ValidationFailed
from portal_core.models.base import utcnow
from portal_core.services import api_tokens

__all__ = ["PROBLEM", "app", "create_app", "engine", "now", "problem"]

log = logging.getLogger(__name__)

# How often an API process served alone writes its tokens' last use (the scheduler's job runs
# each minute for the portal's own process).
LAST_USED_WRITE_SECONDS = 60.0


def engine() -> Engine:
    """The process's engine (``db.engine``): mounted in the portal, the pages' own."""
    return db.engine()


def now() -> datetime:
    """The API's clock (tests move it: rate-limit windows, expiry)."""
    return utcnow()


def create_app(
    engine_of: Callable[[], Engine] | None = None,
    clock: Callable[[], datetime] | None = None,
    *,
    settle_heap: bool = False,
) -> FastAPI:
    """The API over ``engine_of()`` (default: the process's engine) and ``clock``.
    ``settle_heap``: the app a server runs keeps what it started with out of the garbage
    collector's full passes while it serves (``serving.settled_heap``); an app a test makes
    does not (each start collects the test process's whole heap first)."""

    def current_engine() -> Engine:
        return engine_of() if engine_of is not None else engine()

    def current_time() -> datetime:
        return clock() if clock is not None else now()

    async def write_last_use() -> None:
        try:
            await run_in_threadpool(api_tokens.flush_last_used, current_engine())
        except Exception:
            # Kept in the buffer: the next write tries again.
            log.exception("The API tokens' last-used times could not be written")

    async def write_last_use_regularly() -> None:
        while True:
            await asyncio.sleep(LAST_USED_WRITE_SECONDS)
            await write_last_use()

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        writer = asyncio.create_task(write_last_use_regularly())
        try:
            with settled_heap() if settle_heap else nullcontext():
                yield
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await write_last_use()

    api = FastAPI(
        title="SIPSTACK Partner Portal API",
        version="1.0",
        description="Partners' systems use their API tokens here (Authorization: Bearer "
        "KEY.SECRET, or HTTP Basic KEY:SECRET); errors are problem JSON, or a few words of "
        "text on the text routes.",
        root_path_in_servers=False,
        lifespan=lifespan,
    )
    api.add_middleware(RateLimitHeaders)
    api.add_middleware(
        CallLog,
        engine=current_engine,
        clock=current_time,
        unlogged=(
            # Paging through Logs must not add the lines it pages through.
            Unlogged((logs.PREFIX,)),
            # A lookup answered, or refused for want of funds, is its own line of Logs.
            Unlogged((smart_cnam.PREFIX, smart_cnam.SIPSTACK_PREFIX), frozenset({200, 402})),
        ),
    )

    def answer_error(request: Request, status: int, error: Exception, body: Response) -> Response:
        return short_text(status, error) if smart_cnam.wants_text(request) else body

    @api.exception_handler(PortalError)
    async def portal_error(request: Request, error: PortalError) -> Response:
        extra: dict[str, Any] = {}
        if isinstance(error, ValidationFailed):
            extra["errors"] = error.errors
        keep_detail(request, _said(error.message, extra.get("errors")))
        response = answer_error(
            request, error.status, error, problem(error.status, error.title, error.message, **extra)
        )
        if isinstance(error, Throttled):
            response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        errors = {".".join(str(part) for part in e["loc"]): e["msg"] for e in error.errors()}
        keep_detail(request, _said("Some fields are not valid.", errors))
        return answer_error(
            request,
            422,
            error,
            problem(422, "Invalid input", "Some fields are not valid.", errors=errors),
        )

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        body = problem(error.status_code, str(error.detail), str(error.detail))
        keep_detail(request, str(error.detail))
        return answer_error(request, error.status_code, error, body)

    @api.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        body = problem(500, "Internal error", "Something went wrong on our side.")
        return answer_error(request, 500, error, body)

    api.include_router(webhooks.router(current_engine))
    api.include_router(smart_cnam.router(current_engine, current_time))
    for area in (whois, reports, logs, billing):
        api.include_router(area.router(current_engine, current_time))

    @api.get("/healthz", summary="Liveness and database check")
    def healthz() -> dict[str, str]:
        with current_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return api


def _said(message: str, errors: object) -> str:
    """An error answer's message with its fields' errors, as a line of Logs says it."""
    if not isinstance(errors, dict) or not errors:
        return message
    return f"{message} " + "; ".join(f"{field}: {said}" for field, said in errors.items())


app = create_app(settle_heap=True)
