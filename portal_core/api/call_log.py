"""Writes each API call a token makes as a line of Logs, once its answer is sent
(``services.api_calls`` says which calls and why).

``Authorizer`` keeps the authenticated caller on the request (``keep_caller``), the error
handlers keep what an error answer said (``keep_detail``); this middleware reads both with the
answer's status after the route has answered, so the client never waits for the line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_core.services import api_calls
from portal_core.services.api_tokens import Caller

log = logging.getLogger(__name__)

_CALLER = "api_caller"
_DETAIL = "api_call_detail"


@dataclass(frozen=True)
class Unlogged:
    """Routes (by their path's prefix) whose calls write no call line: ``statuses`` those
    answers (the route's own product line records them), or every answer when None."""

    prefixes: tuple[str, ...]
    statuses: frozenset[int] | None = None

    def covers(self, route: str, status: int) -> bool:
        return route.startswith(self.prefixes) and (
            self.statuses is None or status in self.statuses
        )


def keep_caller(request: Request, caller: Caller) -> None:
    setattr(request.state, _CALLER, caller)


def keep_detail(request: Request, detail: str) -> None:
    setattr(request.state, _DETAIL, detail)


class CallLog:
    def __init__(
        self,
        app: ASGIApp,
        engine: Callable[[], Engine],
        clock: Callable[[], datetime],
        unlogged: tuple[Unlogged, ...] = (),
    ) -> None:
        self.app = app
        self.engine = engine
        self.clock = clock
        self.unlogged = unlogged

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = {"status": 500}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            call = self._call(scope, answered["status"], started)
            if call is not None:
                await self._record(call)

    async def _record(self, call: api_calls.Call) -> None:
        try:
            await run_in_threadpool(api_calls.record, self.engine(), call, now=self.clock())
        except Exception:
            # The call was answered: a line that cannot be written must not turn it into an
            # error (the server log keeps it).
            log.exception("The API call %s could not be written to Logs", call.result)

    def _call(self, scope: Scope, status: int, started: float) -> api_calls.Call | None:
        state = scope.get("state", {})
        caller = state.get(_CALLER)
        if not isinstance(caller, Caller) or caller.test or status == HTTPStatus.TOO_MANY_REQUESTS:
            return None
        route = str(getattr(scope.get("route"), "path", "") or scope.get("path", ""))
        if any(rule.covers(route, status) for rule in self.unlogged):
            return None
        return api_calls.Call(
            organization_id=caller.organization_id,
            api_token_id=caller.token_id,
            method=str(scope.get("method", "")),
            route=f"{scope.get('root_path', '')}{route}",
            status_code=status,
            latency_ms=round((time.perf_counter() - started) * 1000),
            detail=state.get(_DETAIL),
        )
