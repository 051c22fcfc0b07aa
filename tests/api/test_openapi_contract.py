"""The API honours its own OpenAPI document (schemathesis): for the routes of the partners'
REST API, generated requests never get a 5xx, every status answered is one the document
declares, with the declared content type, headers and body schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

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
from tests.api.support import NOW, Token, api_over, mint
from tests.conftest import build_schema

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class _Ticking:
    """A clock a second further on each call: generated requests never meet the rate limit
    by accident (the limits have tests of their own)."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
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
