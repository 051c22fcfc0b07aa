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

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPBasic, HTTPBearer
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_core.api.call_log import keep_caller
from portal_core.errors import AuthenticationFailed, PermissionDenied, Throttled
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

    @staticmethod
    def schemes() -> Callable[..., Awaitable[None]]:
        """The dependency of a route that calls ``authorize`` itself, in the worker thread that
        does its work (Smart CNAM's: one thread hop per lookup, not two): it only declares the
        schemes for the OpenAPI document."""

        async def declared(
            _basic: Annotated[None, Security(basic_scheme)],
            _bearer: Annotated[None, Security(bearer_scheme)],
        ) -> None:
            return None

        return declared

    def authorize(self, request: Request, policy: str, scope: TokenScope) -> Caller:
        engine = self._engine()
        now = self._clock()
        address = client_address(request)
        in_url = CREDENTIAL_PARAMETERS.intersection(name.lower() for name in request.query_params)
        header = request.headers.get("authorization")
        if in_url or not header:
            # Nothing was checked, so nothing is counted; an address already past its limit
            # is still refused as such.
            with engine.connect() as connection:
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
            with engine.connect() as connection:
                caller = api_tokens.authenticate(connection, *credentials, now=now)
        except AuthenticationFailed:
            failed = rate_limits.count_failure(engine, address=address, now=now)
            _keep(request, failed)
            if not failed.allowed:
                raise _too_many_failures(failed) from None
            raise
        api_tokens.note_used(caller.token_id, now)
        keep_caller(request, caller)
        per_organization = rate_limits.policy(policy).counted_per == "organization"
        counted = rate_limits.count_call(
            engine,
            policy,
            caller.organization_id if per_organization else caller.token_id,
            address=address,
            now=now,
            organization_id=caller.organization_id,
            test=caller.test,
        )
        refusal = counted.refusal
        _keep(request, refusal or counted.call)
        if refusal is not None and refusal.policy == rate_limits.AUTH:
            raise _too_many_failures(refusal)
        if refusal is not None:
            raise Throttled(_over_limit(refusal), retry_after_seconds=refusal.retry_after_seconds)
        if scope not in caller.scopes:
            raise PermissionDenied(
                f"The token “{caller.token_name}” does not have the {scope.value} scope this "
                "route needs. Create a token with it in Organization › Access › API Tokens."
            )
        return caller


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
