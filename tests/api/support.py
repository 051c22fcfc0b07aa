"""Set-ups the REST API's tests share: an app over the test's engine with a clock the test
moves, and tokens minted through the tokens service."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from portal_core import db
from portal_core.api import app as api_module
from portal_core.models.accounts import Role
from portal_core.services import api_tokens
from portal_core.services.api_tokens import NewToken
from tests.services.products_support import Member, member

NOW = datetime(2026, 11, 16, 15, 0, 0, 250_000, tzinfo=UTC)


@dataclass
class Clock:
    """The API's clock: a test moves it instead of sleeping."""

    at: datetime = field(default=NOW)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def api_over(engine: Engine, clock: Callable[[], datetime]) -> FastAPI:
    return api_module.create_app(lambda: engine, clock)


@dataclass(frozen=True)
class Token:
    new: NewToken
    owner: Member

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.new.bearer}"}

    @property
    def basic(self) -> dict[str, str]:
        pair = f"{self.new.key}:{self.new.secret}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


def mint(
    engine: Engine,
    owner: Member | None = None,
    *,
    scopes: tuple[str, ...] = ("lookups",),
    test: bool = False,
    expires_days: int | None = None,
    now: datetime = NOW,
    **member_options: object,
) -> Token:
    """A token of ``owner`` (default: the owner of a new organization on Starter, funded).

    A test token is minted with ``lookups`` alone, as the portal allows, then given the other
    ``scopes`` in the database: a token stored so must still be refused all but Smart CNAM."""
    owner = owner or member(engine, role=Role.OWNER, **member_options)  # type: ignore[arg-type]
    with db.write_session(engine) as session:
        new = api_tokens.create(
            session,
            owner.actor,
            name=f"Call flow {uuid.uuid4().hex[:8]}",
            scopes=("lookups",) if test else scopes,
            test=test,
            expires_days=expires_days,
            now=now,
        )
        if test and set(scopes) != {"lookups"}:
            new.token.scopes = ",".join(scopes)
            session.add(new.token)
    return Token(new, owner)


MANAGEMENT_SCOPES = ("whois:read", "whois:write", "logs:read", "billing:read", "reports:write")


def problem_of(response: Any, status: int) -> dict[str, Any]:
    """The problem JSON of an error answer, checked: its status, type and a detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body
