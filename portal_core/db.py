"""Engines, transactions and migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on; a
write transaction starts with ``BEGIN IMMEDIATE`` so it takes SQLite's write lock up front
instead of failing half-way with "database is locked", and writers inside one process queue
on a lock of ours rather than sleeping in SQLite's busy handler
(docs/architecture.md, The hot path). The queue is first come, first served (``WriteQueue``):
under a burst of API lookups a plain lock let some writers in again and again while others
waited, which is what the slowest answers were made of. PostgreSQL, via ``DATABASE_URL``,
needs none of that.

``write_session`` is the unit of work: it commits when the block ends, rolls back when it
raises, and only after a commit runs what was deferred (mail, for one) with ``after_commit``.
Each deferred action runs even when one before it raised: the money already moved, so a
failure there is logged, never raised into the caller and never a reason to skip the rest.
``write_connection`` is the same unit of work for SQLAlchemy Core statements, without the ORM,
for the hot path (the meter), where an ORM session costs several times the statements' work.
``after_commit`` takes either: the session, the connection of ``write_connection``, or the
connection of a ``write_session`` (``session.connection()``), so Core code called from both
(the funds watcher) defers its mail the same way.

``write_batch`` is one SQLite write transaction that the units of work of the thread holding
it join, committed once for all of them (``group_commit``: the API's lookups under load). A
unit that fails after it wrote and would have rolled back *spoils* the batch: the batch rolls
back whole and its owner does each unit again alone.

``engine()`` is the process's one engine for a database URL: the pages, the API, the
scheduler and the commands running in one process share it, hence its connection pool and
its write lock (two engines on one SQLite file would each let a writer in, and one of them
would sleep in SQLite's busy handler).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from portal_core.errors import PortalError
from portal_core.facts import react
from portal_core.settings import ROOT, get_settings

_WRITE_OPTION = "portal_write"
_AFTER_COMMIT = "portal_after_commit"
_FACTS = "portal_facts"

Deferred = list[Callable[[], None]]

log = logging.getLogger(__name__)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class WriteQueue:
    """A lock that lets its waiters in in the order they came (``threading.Lock`` picks any of
    them): the one releasing it hands it straight to the longest waiter. Not reentrant."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by ``release``, which hands the lock over held

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of a write queue nobody holds")
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False

    def locked(self) -> bool:
        return self._held

    def waiting(self) -> int:
        """How many wait for their turn."""
        return len(self._waiters)


def engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default: the settings' ``DATABASE_URL``), made once."""
    url = url or get_settings().database_url
    with _engines_lock:
        found = _engines.get(url)
        if found is None:
            found = _engines[url] = create_engine(url)
        return found


def dispose_engines() -> None:
    """Close and forget every engine ``engine()`` made (tests that switch databases)."""
    with _engines_lock:
        for made in _engines.values():
            made.dispose()
        _engines.clear()


def create_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``, with the SQLite behaviour described above when it is SQLite."""
    if not url.startswith("sqlite"):
        return sa_create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    in_memory = url in ("sqlite://", "sqlite:///:memory:")
    if not in_memory:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa_create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, so writes can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    engine.info_write_lock = WriteQueue()  # type: ignore[attr-defined]
    return engine


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """The unit of work: commit at the end of the block, roll back on any exception (but a
    refusal that ``keeps_writes``: see ``errors.PortalError``). Published facts meet their
    reactions just before the commit; what ``after_commit`` deferred runs once committed."""
    batch = _joined_batch(engine)
    if batch is not None:
        # The ORM's session does not join a batch: the batch's owner does this work again
        # alone, where it has a transaction of its own.
        batch.spoiled = True
        raise RuntimeError("an ORM unit of work cannot join a write batch")
    lock: WriteQueue | None = getattr(engine, "info_write_lock", None)
    if lock is not None:
        lock.acquire()
    deferred: Deferred = []
    facts: list[object] = []
    committed = False
    try:
        with Session(engine, expire_on_commit=False) as session:
            # The same lists on the session's connection, for Core code handed
            # ``session.connection()`` (the meter, notices on the hot path).
            connection = session.connection(
                execution_options={_WRITE_OPTION: True, _AFTER_COMMIT: deferred, _FACTS: facts}
            )
            session.info[_AFTER_COMMIT] = deferred
            session.info[_FACTS] = facts
            try:
                yield session
            except BaseException as error:
                if not (isinstance(error, PortalError) and error.keeps_writes):
                    session.rollback()
                    raise
                session.flush()
                _react(connection, facts)
                session.commit()
                committed = True
                raise
            session.flush()  # the reactions' Core statements see the session's writes
            _react(connection, facts)
            session.commit()
            committed = True
    finally:
        if lock is not None:
            lock.release()
        if committed:
            run_deferred(deferred)


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection in one write transaction: the same process write lock, ``BEGIN
    IMMEDIATE``, facts and refusals as ``write_session``; commit at the end, roll back on any
    other exception. What ``after_commit`` deferred runs after the commit, never after a
    rollback. In a thread that holds a ``write_batch`` of ``engine``, it joins the batch."""
    batch = _joined_batch(engine)
    if batch is not None:
        with batch.unit() as joined:
            yield joined
        return
    lock: WriteQueue | None = getattr(engine, "info_write_lock", None)
    if lock is not None:
        lock.acquire()
    deferred: Deferred = []
    facts: list[object] = []
    committed = False
    try:
        with engine.connect() as connection:
            connection.execution_options(
                **{_WRITE_OPTION: True, _AFTER_COMMIT: deferred, _FACTS: facts}
            )
            transaction = connection.begin()
            try:
                yield connection
            except BaseException as error:
                if not (isinstance(error, PortalError) and error.keeps_writes):
                    transaction.rollback()
                    raise
                _react(connection, facts)
                transaction.commit()
                committed = True
                raise
            _react(connection, facts)
            transaction.commit()
            committed = True
    finally:
        if lock is not None:
            lock.release()
        if committed:
            run_deferred(deferred)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads: the thread's write batch's when it holds one (so the reads see
    the batch's writes, and cost no checkout), else one from the pool."""
    batch = _joined_batch(engine)
    if batch is not None:
        yield batch.connection
        return
    with engine.connect() as connection:
        yield connection


_batches = threading.local()


class WriteBatch:
    """One write transaction of a SQLite engine that the units of work of the thread holding
    it join (``write_connection``): each unit's facts meet their reactions when it ends, as
    before a commit of its own, and the batch commits once for all of them.

    There are no savepoints (one around each unit costs what the batch saves): a unit that
    raises is undone only when it wrote nothing, which SQLite's count of changed rows tells.
    A unit that wrote and raises without keeping its writes (``errors.PortalError``) *spoils*
    the batch, as does an ORM unit of work (``write_session``): its owner rolls it back and
    does each unit again alone. ``deferred`` collects what the units' ``after_commit``
    deferred; the owner runs it once the batch committed."""

    def __init__(
        self, engine: Engine, connection: Connection, deferred: Deferred, facts: list[object]
    ) -> None:
        self.engine = engine
        self.connection = connection
        self.deferred = deferred
        self.facts = facts
        self.spoiled = False
        self.committed = False

    def changes(self) -> int:
        """Rows this connection has inserted, updated or deleted since it opened."""
        return int(self.connection.connection.dbapi_connection.total_changes)  # type: ignore[union-attr]

    @contextmanager
    def unit(self) -> Iterator[Connection]:
        changes, deferred, facts = self.changes(), len(self.deferred), len(self.facts)
        try:
            yield self.connection
            _react(self.connection, self.facts)
        except BaseException as error:
            if isinstance(error, PortalError) and error.keeps_writes:
                try:
                    _react(self.connection, self.facts)
                except BaseException:
                    self.spoiled = True
                    raise
                raise
            if self.changes() != changes:
                self.spoiled = True
            del self.deferred[deferred:]
            del self.facts[facts:]
            raise


def _joined_batch(engine: Engine) -> WriteBatch | None:
    batch: WriteBatch | None = getattr(_batches, "batch", None)
    return batch if batch is not None and batch.engine is engine else None


@contextmanager
def write_batch(engine: Engine) -> Iterator[WriteBatch]:
    """One write transaction (SQLite's, under the process's write lock) that this thread's
    units of work join until the block ends (see ``WriteBatch``). At the end it commits,
    unless a unit spoiled it or the commit failed: then it rolls back and ``committed`` stays
    False. It never runs the deferred actions: the caller does, once committed."""
    if getattr(_batches, "batch", None) is not None:
        raise RuntimeError("this thread already holds a write batch")
    lock: WriteQueue = engine.info_write_lock  # type: ignore[attr-defined]
    lock.acquire()
    try:
        with engine.connect() as connection:
            deferred: Deferred = []
            facts: list[object] = []
            connection.execution_options(
                **{_WRITE_OPTION: True, _AFTER_COMMIT: deferred, _FACTS: facts}
            )
            transaction = connection.begin()
            batch = WriteBatch(engine, connection, deferred, facts)
            _batches.batch = batch
            try:
                yield batch
            finally:
                _batches.batch = None
            if batch.spoiled:
                transaction.rollback()
                return
            try:
                transaction.commit()
            except Exception:
                log.exception("A write batch failed to commit; its units are done again alone")
                batch.spoiled = True
                return
            batch.committed = True
    finally:
        lock.release()


def run_deferred(deferred: Deferred) -> None:
    """Run what a committed unit of work deferred (``after_commit``), each action even when
    one before it raised."""
    # Outside the write lock: a slow mail server must not hold up the other writers. The unit
    # of work has committed: whatever fails now must neither undo what the caller sees as done
    # (a top-up that succeeded) nor rob the actions after it of their turn.
    for action in deferred:
        try:
            action()
        except Exception:
            log.exception("An action deferred until after the commit failed; the commit stands")


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads; nothing is committed. Closing it (not rolling back) keeps the
    loaded objects readable after the block."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def publish(target: Session | Connection, fact: object) -> None:
    """Publish ``fact`` (``portal_core.facts``) to the unit of work of ``target`` (as for
    ``after_commit``): its reactions run in this transaction, just before it commits."""
    pending = _pending(target, _FACTS)
    pending.append(fact)


def _react(connection: Connection, facts: list[object]) -> None:
    # A reaction may publish more facts: handle them until none is left.
    while facts:
        react(connection, facts.pop(0))


def _pending(target: Session | Connection, key: str) -> list[Any]:
    if isinstance(target, Connection):
        pending = target.get_execution_options().get(key)
    else:
        pending = target.info.get(key)
    if pending is None:
        raise RuntimeError(
            "A unit of work is needed: a session from write_session() or a connection from "
            "write_connection()"
        )
    return cast(list[Any], pending)


def after_commit(target: Session | Connection, action: Callable[[], None]) -> None:
    """Run ``action`` once the unit of work commits; never if it rolls back.

    ``target`` is a session from ``write_session``, its ``session.connection()``, or a
    connection from ``write_connection``. A connection keeps the list in its execution
    options, which live as long as that checkout (``Connection.info`` would outlive it: it
    belongs to the pooled DBAPI connection, which another thread takes next).
    """
    _pending(target, _AFTER_COMMIT).append(action)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str | None = None) -> None:
    """Upgrade the database at ``url`` (default: the settings') to the newest migration, then
    refresh the query planner's statistics (``analyze``)."""
    from alembic import command

    url = url or get_settings().database_url
    command.upgrade(alembic_config(url), "head")
    analyze(engine(url))


# Rows ANALYZE reads per index on SQLite: enough to tell a selective index from one that is
# not, in milliseconds whatever the size of the table (SQLite's own advice for start-up).
_ANALYSIS_LIMIT = 1_000


def analyze(target: Engine) -> None:
    """Refresh the planner's statistics of every table. Without them SQLite chooses between
    indexes of equal apparent cost by rule of thumb, and a list's plan can drift to a full
    read of the organization's rows; a table still empty gets none, and keeps the rule."""
    with write_connection(target) as connection:
        if target.dialect.name == "sqlite":
            connection.exec_driver_sql(f"PRAGMA analysis_limit={_ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")
