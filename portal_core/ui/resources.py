"""Process-wide resources: the engine, and read/write sessions on it.

Only the engine is kept (one per process, ``db.engine``); an organization's data is read fresh on
every run, because the API, webhooks and jobs write from other processes
(docs/architecture.md, rule 9).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session

from portal_core import db


def engine() -> Engine:
    """The process's engine (``db.engine``), shared with the API and the scheduler."""
    return db.engine()


@contextmanager
def reading() -> Iterator[Session]:
    with db.read_session(engine()) as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    with db.write_session(engine()) as session:
        yield session
