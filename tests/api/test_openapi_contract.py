"""The API honours its own OpenAPI document (schemathesis): for the routes of the partners'
REST API, generated requests never get a 5xx, every status answered is one the document
declares, with the declared content type, headers and body schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from portal_core import db
from tests.api.support import MANAGEMENT_SCOPES, NOW, Token, api_over, mint
from tests.conftest import build_schema

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class _Ticking:
    """A clock ``step`` seconds further on each call: generated requests never meet the
    rate limit by accident (the limits have tests of their own)."""

    def __init__(self, step: float = 1) -> None:
        self.at = NOW
        self.step = timedelta(seconds=step)

    def __call__(self) -> datetime:
        self.at += self.step
        return self.at


@pytest.fixture(scope="module")
def database() -> Iterator[Engine]:
    engine = db.create_engine("sqlite://")
    build_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def token(database: Engine) -> Token:
    return mint(database, plan="provider", funds_cents=1_000_000)


@pytest.fixture(scope="module")
def api_schema(database: Engine) -> schemathesis.BaseSchema:
    app = api_over(database, _Ticking())
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="smart-cnam")


def test_the_smart_cnam_routes_honour_their_openapi_document(
    api_schema: schemathesis.BaseSchema, token: Token
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 4  # JSON and SIPSTACK's routes, each with and without a callee
    _honoured(operations, token)


@pytest.fixture(scope="module")
def management_token(database: Engine) -> Token:
    return mint(database, scopes=MANAGEMENT_SCOPES, funds_cents=1_000_000)


def test_the_management_routes_honour_their_openapi_document(
    database: Engine, management_token: Token
) -> None:
    """Whois Profiles, community reports, Logs and Billing: a minute passes between calls,
    so the light, medium and heavy limits never refuse a generated request."""
    app = api_over(database, _Ticking(step=61))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="/v1/(whois|reports|logs|billing)"
    )
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # Whois: list, register, get, change, delete, import; a report; Logs and its CSV;
    # the balance, transactions and invoices.
    assert len(operations) == 12
    _honoured(operations, management_token)


def _honoured(operations: list[Any], token: Token) -> None:
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def honoured(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=token.bearer, checks=CHECKS)

        honoured()
