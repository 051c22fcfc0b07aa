"""Pruning product events past the log retention (docs/product.md, Pages › Logs).

Logs keeps each product event for the platform's log retention (``log_retention_days``, 400
days unless staff set another); each night the scheduler deletes the older ones. What the
portal must keep for good lives elsewhere and is never touched here: the daily roll-up
``product_events_daily`` (the volume chart, the Dashboard's tiles, Explore), and the usage
records and their roll-up, which invoices bill.

The oldest events go first, ``batch_size`` at a time, each batch its own short transaction
read through ``ix_product_events_created``: the lookups that write events on the hot path
wait for one batch at most, never for the whole night's pruning. Running it twice, or in two
portal copies at once, deletes nothing twice: a batch that finds fewer old events than it
may take is the last.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Engine, Table, delete, select

from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.products import ProductEvent
from portal_core.rules import platform

BATCH_SIZE = 5_000

_events = cast(Table, ProductEvent.__table__)  # type: ignore[attr-defined]


def cutoff(engine: Engine, now: datetime) -> datetime:
    """The moment before which events are past the retention."""
    with db.read_session(engine) as session:
        days = platform.log_retention_days(session)
    return now - timedelta(days=days)


def prune(engine: Engine, now: datetime | None = None, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete the product events older than the log retention at ``now``; how many went."""
    if batch_size < 1:
        raise ValueError("A batch deletes at least one event.")
    before = cutoff(engine, now or utcnow())
    oldest = (
        select(_events.c.id)
        .where(_events.c.created_at < before)
        .order_by(_events.c.created_at)
        .limit(batch_size)
    )
    deleted = 0
    while True:
        with db.write_connection(engine) as connection:
            batch = connection.execute(
                delete(_events).where(_events.c.id.in_(oldest.scalar_subquery()))
            ).rowcount
        deleted += batch
        if batch < batch_size:
            return deleted
