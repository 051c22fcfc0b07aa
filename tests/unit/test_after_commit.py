"""``db.after_commit``: what a unit of work defers runs once it has committed, never after a
rollback, whether it was deferred on a ``write_session``, on that session's connection, or on
a Core ``write_connection`` (the meter's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from portal_core import db


class Failed(Exception):
    pass


@pytest.fixture
def file_engine(tmp_path: Path):
    """A file database with a real pool, where a connection goes back to be reused."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'after_commit.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE marks (name TEXT)"))
    yield engine
    engine.dispose()


def _marks(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT name FROM marks"))]


def test_an_action_deferred_on_a_write_connection_runs_after_its_commit(file_engine):
    seen: list[list[str]] = []

    with db.write_connection(file_engine) as connection:
        connection.execute(text("INSERT INTO marks VALUES ('metered')"))
        db.after_commit(connection, lambda: seen.append(_marks(file_engine)))
        assert seen == []

    assert seen == [["metered"]]  # it ran, and saw the committed row


def test_an_action_deferred_on_a_write_connection_never_runs_after_a_rollback(file_engine):
    ran: list[str] = []

    with pytest.raises(Failed), db.write_connection(file_engine) as connection:
        connection.execute(text("INSERT INTO marks VALUES ('metered')"))
        db.after_commit(connection, lambda: ran.append("mail"))
        raise Failed

    assert ran == []
    assert _marks(file_engine) == []


def test_a_write_sessions_connection_defers_into_the_sessions_own_list(file_engine):
    order: list[str] = []

    with db.write_session(file_engine) as session:
        db.after_commit(session, lambda: order.append("session"))
        db.after_commit(session.connection(), lambda: order.append("connection"))

    assert order == ["session", "connection"]


def test_a_write_sessions_connection_defers_nothing_after_a_rollback(file_engine):
    ran: list[str] = []

    with pytest.raises(Failed), db.write_session(file_engine) as session:
        db.after_commit(session.connection(), lambda: ran.append("mail"))
        raise Failed

    assert ran == []


def test_actions_run_after_the_write_lock_is_released(file_engine):
    held: list[bool] = []
    lock = file_engine.info_write_lock

    with db.write_connection(file_engine) as connection:
        db.after_commit(connection, lambda: held.append(lock.locked()))
    with db.write_session(file_engine) as session:
        db.after_commit(session.connection(), lambda: held.append(lock.locked()))

    assert held == [False, False]


def test_a_connection_back_in_the_pool_keeps_no_deferred_actions(file_engine):
    ran: list[str] = []
    with db.write_connection(file_engine) as connection:
        db.after_commit(connection, lambda: ran.append("first"))

    # The same pooled connection, checked out again outside any unit of work.
    with file_engine.connect() as connection, pytest.raises(RuntimeError):
        db.after_commit(connection, lambda: ran.append("stray"))
    with db.write_connection(file_engine) as connection:
        pass

    assert ran == ["first"]


def test_a_plain_session_cannot_defer(engine):
    with Session(engine) as session, pytest.raises(RuntimeError):
        db.after_commit(session, lambda: None)


@pytest.mark.parametrize("unit_of_work", ["session", "connection"])
def test_a_failing_action_does_not_skip_the_ones_after_it(file_engine, unit_of_work, caplog):
    ran: list[str] = []

    def receipt() -> None:
        raise ConnectionRefusedError("the mail server is down")

    opened = db.write_session if unit_of_work == "session" else db.write_connection
    with opened(file_engine) as target:
        db.after_commit(target, lambda: ran.append("before"))
        db.after_commit(target, receipt)
        db.after_commit(target, lambda: ran.append("after"))
    # The commit stood and the caller heard nothing: the failure is logged instead.

    assert ran == ["before", "after"]
    assert "the mail server is down" in caplog.text
