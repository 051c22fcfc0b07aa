"""The FastAPI application: ``/api/healthz`` and Stripe's webhook (``/api/stripe/webhook``).

Errors are problem JSON (RFC 9457): a domain error keeps its status and message, input that
fails validation is a 422 listing each field, and anything unexpected is a 500 that reveals
nothing. Runnable alone (``uvicorn portal_core.api.app:app``) or mounted in the portal's
ASGI app (``portal_core.ui.asgi``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException

from portal_core import db
from portal_core.api import webhooks
from portal_core.errors import PortalError, Throttled, ValidationFailed

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def engine() -> Engine:
    """The process's engine (``db.engine``): mounted in the portal, the pages' own."""
    return db.engine()


def create_app() -> FastAPI:
    api = FastAPI(
        title="SIPSTACK Partner Portal API",
        version="1.0",
        description="Partners' systems use their API tokens here; errors are problem JSON.",
        root_path_in_servers=False,
    )

    @api.exception_handler(PortalError)
    async def portal_error(_request: Request, error: PortalError) -> JSONResponse:
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if isinstance(error, ValidationFailed):
            extra["errors"] = error.errors
        response = problem(error.status, error.title, error.message, **extra)
        if isinstance(error, Throttled):
            headers["Retry-After"] = str(error.retry_after_seconds)
        response.headers.update(headers)
        return response

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = {".".join(str(part) for part in e["loc"]): e["msg"] for e in error.errors()}
        return problem(422, "Invalid input", "Some fields are not valid.", errors=errors)

    @api.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), str(error.detail))

    @api.exception_handler(Exception)
    async def unexpected(_request: Request, _error: Exception) -> JSONResponse:
        return problem(500, "Internal error", "Something went wrong on our side.")

    api.include_router(webhooks.router(lambda: engine()))

    @api.get("/healthz", summary="Liveness and database check")
    def healthz() -> dict[str, str]:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    return api


app = create_app()
