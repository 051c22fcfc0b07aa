"""Who an API call acts for, and how much it may call
(docs/product.md, The REST API's contract).

A partner's system sends its token in the ``Authorization`` header, as ``Bearer KEY.SECRET``
or as HTTP Basic with the key as user and the secret as password (what curl's ``--user`` and
a dialplan's ``https://KEY:SECRET@…`` send). A token in the URL is never accepted, even a
right one: URLs end up in proxies' and servers' logs. A missing, wrong, expired or revoked
token is a 401 that challenges for Basic (so curl and Asterisk answer it); a token without
the route's scope is a 403.

Then the call is counted against the route's rate limit (``services.rate_limits``): what
each answer's ``X-Rate-Limit-*`` headers say is kept on the request for ``RateLimitHeaders``
to add, the errors included. A failed credential check counts against the client address's
``auth`` limit, and an address past it is refused with 429 whatever it sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPBasic, HTTPBearer
from sqlalchemy import Connection, Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_core import db
from portal_core.api.call_log import keep_caller
from portal_core.errors import AuthenticationFailed, PermissionDenied, PortalError, Throttled
from portal_core.services import api_tokens, rate_limits
from portal_core.services.api_tokens import Caller
from portal_core.services.api_tokens import Scope as TokenScope

# Query parameters a token is sometimes put in: refused by name, with the way to send it.
CREDENTIAL_PARAMETERS = frozenset(
    {"token", "api_key", "apikey", "api_token", "access_token", "key", "secret", "password"}
)
UNKNOWN_ADDRESS = "unknown"
_STATE = "rate_limit"

_SEND_IT = (
    "Send your API token in the Authorization header: 'Bearer KEY.SECRET', or HTTP Basic "
    "with the key as user and the secret as password (curl --user KEY:SECRET)."
)


class _DocumentedBasic(HTTPBasic):
    """HTTP Basic in the OpenAPI document; the credentials are read by ``Authorizer``."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DocumentedBearer(HTTPBearer):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


basic_scheme = _DocumentedBasic(
    scheme_name="basic", description="The token's key as user, its secret as password."
)
bearer_scheme = _DocumentedBearer(
    scheme_name="bearer", description="The token as KEY.SECRET.", auto_error=False
)


def client_address(request: Request) -> str:
    """The caller's address (uvicorn takes it from ``X-Forwarded-For`` when a trusted proxy
    sends it: ``FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client and request.client.host else UNKNOWN_ADDRESS


class Authorizer:
    """Builds each route's dependency: authenticate, count, check the scope."""

    def __init__(self, engine: Callable[[], Engine], clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def caller(self, policy: str, scope: TokenScope) -> Callable[..., Caller]:
        """The dependency of a route limited by ``policy`` that needs ``scope``."""

        def authorized(
            request: Request,
            _basic: Annotated[None, Security(basic_scheme)],
            _bearer: Annotated[None, Security(bearer_scheme)],
        ) -> Caller:
            return self.authorize(request, policy, scope)

        return authorized

    # The security of a route that calls ``identify`` itself, in the worker thread that does
    # its work (Smart CNAM's: one thread hop per lookup, not two), for the OpenAPI document:
    # declared, not resolved on each request as the ``caller`` dependency's schemes are.
    SECURITY: list[dict[str, list[str]]] = [
        {basic_scheme.scheme_name: []},
        {bearer_scheme.scheme_name: []},
    ]

    def authorize(self, request: Request, policy: str, scope: TokenScope) -> Caller:
        """The caller of a route that counts its call on its own: identified, counted, its
        scope checked."""
        caller = self.identify(request)
        self.admission(request, policy, scope, caller).on_its_own()
        return caller

    def identify(self, request: Request) -> Caller:
        """Who calls: the token the ``Authorization`` header names, its failures counted
        against the client address (401, or 429 past the address's limit)."""
        engine = self._engine()
        now = self._clock()
        address = client_address(request)
        in_url = CREDENTIAL_PARAMETERS.intersection(name.lower() for name in request.query_params)
        header = request.headers.get("authorization")
        if in_url or not header:
            # Nothing was checked, so nothing is counted; an address already past its limit
            # is still refused as such.
            with db.read_connection(engine) as connection:
                standing = rate_limits.failures(connection, address=address, now=now)
            _keep(request, standing)
            if not standing.allowed:
                raise _too_many_failures(standing)
            if in_url:
                raise AuthenticationFailed(
                    f"An API token is never accepted in the URL ({', '.join(sorted(in_url))}): "
                    f"remove it from the URL, and revoke that token if the URL was shared. "
                    f"{_SEND_IT}"
                )
            raise AuthenticationFailed(f"This route needs an API token. {_SEND_IT}")
        credentials = api_tokens.split_credentials(header)
        try:
            if credentials is None:
                raise AuthenticationFailed(
                    f"The Authorization header could not be read as an API token. {_SEND_IT}"
                )
            with db.read_connection(engine) as connection:
                caller = api_tokens.authenticate(connection, *credentials, now=now)
        except AuthenticationFailed:
            failed = rate_limits.count_failure(engine, address=address, now=now)
            _keep(request, failed)
            if not failed.allowed:
                raise _too_many_failures(failed) from None
            raise
        api_tokens.note_used(caller.token_id, now)
        keep_caller(request, caller)
        return caller

    def admission(
        self, request: Request, policy: str, scope: TokenScope, caller: Caller
    ) -> Admission:
        """What lets ``caller``'s call in (see ``Admission``)."""
        return Admission(
            self._engine(),
            request,
            policy,
            scope,
            caller,
            address=client_address(request),
            now=self._clock(),
        )


class Admission:
    """Lets one identified call in: counts it against its rate limit (keeping the verdict for
    the ``X-Rate-Limit-*`` headers), then checks the token's scope. A refusal (429, 403) is
    raised with its count kept: a client that keeps calling keeps being refused.

    A route with no writes of its own counts ``on_its_own``. A lookup hands the admission to
    ``services.lookups.look_up``, which calls it in the lookup's own write transaction, just
    before the writes: one commit per lookup, not two. ``settled`` wraps such a call and
    counts it on its own when that transaction did not keep the count (the call failed before
    it was counted, or rolled back after): every call counts, whatever its answer, and a
    refusal answers before any other error, as when the count comes first."""

    def __init__(
        self,
        engine: Engine,
        request: Request,
        policy: str,
        scope: TokenScope,
        caller: Caller,
        *,
        address: str,
        now: datetime,
    ) -> None:
        self._engine = engine
        self._request = request
        self._policy = policy
        self._scope = scope
        self._caller = caller
        self._address = address
        self._now = now
        self._counted = False

    def __call__(self, connection: Connection) -> None:
        """Count the call in ``connection``'s write transaction; raise its refusal, if any,
        marked to keep the count."""
        caller = self._caller
        per_organization = rate_limits.policy(self._policy).counted_per == "organization"
        counted = rate_limits.count_in(
            connection,
            self._policy,
            caller.organization_id if per_organization else caller.token_id,
            address=self._address,
            now=self._now,
            organization_id=caller.organization_id,
            test=caller.test,
        )
        self._counted = True
        refusal = counted.refusal
        _keep(self._request, refusal or counted.call)
        error: PortalError | None = None
        if refusal is not None and refusal.policy == rate_limits.AUTH:
            error = _too_many_failures(refusal)
        elif refusal is not None:
            error = Throttled(_over_limit(refusal), retry_after_seconds=refusal.retry_after_seconds)
        elif self._scope not in caller.scopes:
            error = PermissionDenied(
                f"The token “{caller.token_name}” does not have the {self._scope.value} scope "
                "this route needs. Create a token with it in Organization › Access › API Tokens."
            )
        if error is not None:
            error.keeps_writes = True
            raise error

    def on_its_own(self) -> None:
        """Count the call in a unit of work of its own."""
        with db.write_connection(self._engine) as connection:
            self(connection)

    @contextmanager
    def settled(self) -> Iterator[None]:
        """Around work that may call the admission in its own transaction: counts the call on
        its own unless that transaction committed the count."""
        try:
            yield
        except BaseException as error:
            kept = isinstance(error, PortalError) and error.keeps_writes
            if not (self._counted and kept):
                self._counted = False
                self.on_its_own()
            raise
        if not self._counted:
            self.on_its_own()


def _keep(request: Request, verdict: rate_limits.Verdict) -> None:
    request.state.rate_limit = verdict


def _too_many_failures(verdict: rate_limits.Verdict) -> Throttled:
    return Throttled(
        f"Too many failed credential checks from your address ({verdict.limit} a minute): "
        f"try again in {verdict.retry_after_seconds} seconds, with the right token.",
        retry_after_seconds=verdict.retry_after_seconds,
    )


def _over_limit(verdict: rate_limits.Verdict) -> str:
    if verdict.policy == rate_limits.LOOKUPS:
        return (
            f"Your plan allows {verdict.limit:,} lookups a second: try again in "
            f"{verdict.retry_after_seconds} second(s), or move to a larger plan in "
            "Billing › Pricing."
        )
    return (
        f"This token may make {verdict.limit:,} {verdict.policy} calls a minute: try again in "
        f"{verdict.retry_after_seconds} seconds."
    )


class RateLimitHeaders:
    """Adds the ``X-Rate-Limit-*`` headers (and ``Retry-After``) of the verdict a route's
    dependency kept on the request to its answer, whatever the answer is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                verdict = scope.get("state", {}).get(_STATE)
                if isinstance(verdict, rate_limits.Verdict):
                    headers = list(message.get("headers", []))
                    present = {name.lower() for name, _value in headers}
                    for name, value in verdict.headers().items():
                        if name.lower().encode() not in present:
                            headers.append((name.lower().encode(), value.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
