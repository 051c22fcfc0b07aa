"""The REST API's tests: the app over the test's engine, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.support import Clock, api_over


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(engine: Engine, clock: Clock) -> Iterator[TestClient]:
    with TestClient(api_over(engine, clock), raise_server_exceptions=False) as client:
        yield client
