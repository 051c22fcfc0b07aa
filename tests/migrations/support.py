"""What the migration tests share: PostgreSQL's test database emptied for an upgrade from an
old revision, and put back as the session fixture made it (migrated, empty) afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from portal_core import db


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@contextmanager
def empty_postgres(url: str) -> Iterator[Engine]:
    """The database at ``url`` with nothing in it, for the test to migrate step by step."""
    engine = db.create_engine(url)
    _empty(engine)
    try:
        yield engine
    finally:
        _empty(engine)
        db.migrate(url)
        engine.dispose()
