"""The examples in ``examples/`` work as written: the API served alone by
``python -m portal_core api`` (uvicorn, a temporary SQLite database), a token minted through
the tokens service, then the curl script (Basic, SIPSTACK's route) and the Python script
(httpx, Bearer, JSON) run against it. At shutdown the API writes the token's last use."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.models.api_tokens import ApiToken
from portal_core.settings import ROOT
from tests.api.support import Token, mint
from tests.services.support import fetch
from tests.support.served import ServedPortal, ServeFailed, serve_api

EXAMPLES = ROOT / "examples"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPortal]:
    try:
        with serve_api(tmp_path, {"PORTAL_ENV": "test", "SCHEDULER": "off"}) as api:
            yield api
    except ServeFailed as failure:
        pytest.fail(str(failure))


@pytest.fixture
def database(served: ServedPortal) -> Iterator[Engine]:
    engine = db.create_engine(served.environment["DATABASE_URL"])
    yield engine
    engine.dispose()


def _run(served: ServedPortal, token: Token, *command: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **served.environment,
        "SIPSTACK_API": served.url,
        "SIPSTACK_KEY": token.new.key,
        "SIPSTACK_SECRET": token.new.secret,
    }
    return subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_curl_and_python_examples_answer_against_a_served_api(served, database) -> None:
    assert shutil.which("curl"), "the curl example needs curl (.ci/run installs it)"
    token = mint(database)

    curl = _run(served, token, "bash", str(EXAMPLES / "lookup.sh"), "+14169671111")
    assert (curl.returncode, curl.stdout) == (0, "2.500Toronto ON\n"), curl.stderr

    python = _run(served, token, sys.executable, str(EXAMPLES / "lookup.py"), "+14169671111")
    assert python.returncode == 0, python.stderr
    assert python.stdout.splitlines() == [
        "+1 416-967-1111: 2.500 Spam Possible/Recovering",
        "Caller name: Toronto ON",
        "Text answer: 2.500Toronto ON",
        "Cost: 0.0000 USD",
    ]


def test_the_examples_say_what_went_wrong(served, database) -> None:
    token = mint(database)
    wrong = Token(
        new=type(token.new)(token.new.token, "x" * len(token.new.secret)), owner=token.owner
    )

    curl = _run(served, wrong, "bash", str(EXAMPLES / "lookup.sh"), "+14169671111")
    assert curl.returncode != 0 and curl.stdout.startswith("Unauthorized")

    python = _run(served, token, sys.executable, str(EXAMPLES / "lookup.py"), "hello")
    assert python.returncode == 1
    assert python.stderr.startswith("422 Invalid input: “hello” is not a phone number")


def test_the_api_writes_the_tokens_last_use_when_it_stops(tmp_path: Path) -> None:
    with serve_api(tmp_path, {"PORTAL_ENV": "test", "SCHEDULER": "off"}) as served:
        engine = db.create_engine(served.environment["DATABASE_URL"])
        token = mint(engine)
        assert (
            _run(served, token, "bash", str(EXAMPLES / "lookup.sh"), "+14169671111").returncode == 0
        )
        assert fetch(engine, ApiToken, token.new.token.id).last_used_at is None  # buffered
    assert fetch(engine, ApiToken, token.new.token.id).last_used_at is not None
    engine.dispose()
