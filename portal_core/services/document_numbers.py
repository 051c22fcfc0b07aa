"""Gapless numbering of the portal's documents: invoices (1, 2, …) and credit notes (CN-1, …).

A series is a row of ``document_counters``; a number is taken by one atomic ``UPDATE …
RETURNING`` in the document's own transaction, so the row stays locked until that transaction
ends: overlapping runs take turns and both succeed, a rollback gives its number back, and no
number is ever skipped or used twice.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from portal_core.errors import NotFound
from portal_core.models.billing import DocumentCounter


def next_number(session: Session, series: str) -> int:
    """The next number of a gapless series (``DocumentCounter``): taken in the caller's
    transaction, so a rollback gives it back and concurrent takers wait for one another."""
    counters = DocumentCounter.__table__.c  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    start = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(DocumentCounter)
    # A series starts at its first document; the insert waits on, then skips, a concurrent one.
    session.execute(
        start.values(series=series, last_number=0).on_conflict_do_nothing(index_elements=["series"])
    )
    taken = session.execute(
        update(DocumentCounter)
        .where(counters.series == series)
        .values(last_number=counters.last_number + 1)
        .returning(counters.last_number)
    ).first()
    if taken is None:
        raise NotFound(f"The numbering of {series} documents is missing: run the migrations.")
    return int(taken[0])
