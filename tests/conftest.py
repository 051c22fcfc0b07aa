"""Fixtures shared by every layer of tests.

``engine`` is an in-memory SQLite database (``StaticPool``) for unit and service tests; the
tests under ``services/``, ``queries/`` and ``api/`` run a second time on PostgreSQL
(docs/architecture.md, Tests). ``concurrent_engine`` is a file-based SQLite in WAL mode, and
PostgreSQL, for the tests that race threads: one shared in-memory connection proves nothing
about concurrency. Settings point at a temporary outbox, bcrypt runs at its cheapest cost, and
the scheduler of the recurring jobs is off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

os.environ["PORTAL_ENV"] = "test"
os.environ["BCRYPT_ROUNDS"] = "4"
os.environ["COOKIE_KEY"] = "test-only-cookie-key-0123456789abcdefghijklmnop"
os.environ["TOKEN_KEYS"] = "test-only-token-key-0123456789abcdefghijklmnopq"
os.environ["SEALING_KEYS"] = "test-only-sealing-key-0123456789abcdefghijklmno"
os.environ.pop("SMTP_HOST", None)
# No test starts the jobs' scheduler by accident; the tests of the scheduler turn it on.
os.environ["SCHEDULER"] = "off"

import portal_core.models  # noqa: E402,F401  (every table on the metadata)
from portal_core import db, reference  # noqa: E402
from portal_core.__main__ import main  # noqa: E402
from portal_core.settings import get_settings  # noqa: E402
from tests.support.dns_server import DnsServer, running_dns_server  # noqa: E402
from tests.support.postgres import PostgresUnavailable, temporary_server  # noqa: E402
from tests.support.smtp import Collector, running_smtp_server  # noqa: E402

# The fake Stripe's fixtures (``fake``, ``gateway``), for the tests that ask for them.
pytest_plugins = ("tests.support.stripe_fixtures",)

TESTS = Path(__file__).parent
TWO_BACKENDS = {"services", "queries", "api"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    top = Path(str(metafunc.definition.path)).relative_to(TESTS).parts[0]
    backends = ["sqlite"]
    if top in TWO_BACKENDS or "concurrent_engine" in metafunc.fixturenames:
        backends.append("postgres")
    metafunc.parametrize(
        "backend",
        [
            pytest.param(name, marks=[pytest.mark.postgres] if name == "postgres" else [])
            for name in backends
        ],
    )


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    db.dispose_engines()  # the process's engines of this test's databases


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An empty SQLite file that the commands (``python -m portal_core``) use through
    DATABASE_URL, migrated by the command; the engine the test reads it with."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    db.dispose_engines()
    assert main(["migrate"]) == 0
    engine = db.create_engine(url)
    yield engine
    engine.dispose()
    db.dispose_engines()


@pytest.fixture
def outbox_dir(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    """Mail goes by SMTP, to a real server on loopback that keeps what it accepts."""
    with running_smtp_server() as (collector, port):
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(port))
        monkeypatch.setenv("SMTP_STARTTLS", "false")
        get_settings.cache_clear()
        try:
            yield collector
        finally:
            get_settings.cache_clear()


@pytest.fixture
def dns_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[DnsServer]:
    """Brand domains are checked against a DNS server on loopback, which waits at most half
    a second for an answer it never gets."""
    with running_dns_server() as server:
        monkeypatch.setenv("DNS_NAMESERVERS", "127.0.0.1")
        monkeypatch.setenv("DNS_PORT", str(server.port))
        monkeypatch.setenv("DNS_TIMEOUT_SECONDS", "0.5")
        get_settings.cache_clear()
        try:
            yield server
        finally:
            get_settings.cache_clear()


# --- PostgreSQL ----------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    try:
        with temporary_server() as url:
            yield url
    except PostgresUnavailable as error:
        _unavailable(str(error))


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """The test database, emptied and migrated from nothing once per run (so the
    migrations are tested on PostgreSQL too)."""
    engine = db.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    db.migrate(postgres_url)
    yield engine
    engine.dispose()


def reset_database(engine: Engine) -> None:
    """Empty every table, then put the reference data (plans, taxes, settings) back."""
    names = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
        reference.install(connection)


def build_schema(engine: Engine) -> None:
    """The models' schema and the reference data, for databases the tests build directly."""
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        reference.install(connection)


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    if backend == "postgres":
        engine = request.getfixturevalue("postgres_engine")
        reset_database(engine)
        yield engine
        return
    engine = db.create_engine("sqlite://")
    build_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def concurrent_engine(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Engine]:
    """A database that several threads can really race on: file SQLite (WAL), PostgreSQL."""
    if backend == "postgres":
        engine = request.getfixturevalue("postgres_engine")
        reset_database(engine)
        yield engine
        return
    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    db.migrate(url)
    engine = db.create_engine(url)
    yield engine
    engine.dispose()
