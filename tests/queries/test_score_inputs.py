"""The score's burst factor: how many organizations looked a number up within the burst
window, counted right (the asking organization once, lookups only, the window's edge), and
read at a cost that does not grow with how often the number was looked up: a call centre's
main line is looked up thousands of times an hour by the same few organizations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, event, insert

from portal_core import db
from portal_core.models.products import EventAction, EventProduct, ProductEvent
from portal_core.queries import score_inputs
from portal_core.rules import scoring
from tests.factories import make_organization

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
NUMBER = "+14169671111"
WINDOW = timedelta(minutes=scoring.BURST_WINDOW_MINUTES)


def _organizations(engine: Engine, count: int) -> list[uuid.UUID]:
    with db.write_session(engine) as session:
        return [make_organization(session).id for _ in range(count)]


def _events(
    engine: Engine,
    organization_id: uuid.UUID,
    count: int,
    *,
    at: datetime = NOW - timedelta(minutes=1),
    action: EventAction = EventAction.LOOKUP,
    number: str = NUMBER,
) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "created_at": at - timedelta(seconds=index % 50),
            "product": EventProduct.SMART_CNAM.value,
            "action": action.value,
            "number": number,
        }
        for index in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(ProductEvent), rows)


def _looking_up(engine: Engine, *, asking: uuid.UUID | None) -> int:
    with engine.connect() as connection:
        return score_inputs.organizations_looking_up(connection, NUMBER, NOW, asking=asking)


def test_the_organizations_in_the_window_are_counted_once_each(engine) -> None:
    first, second, third, asking = _organizations(engine, 4)
    _events(engine, first, 3)
    _events(engine, second, 1)
    _events(engine, third, 2, at=NOW - WINDOW - timedelta(minutes=1))  # before the window
    _events(engine, third, 2, action=EventAction.REGISTRATION)  # not a lookup
    _events(engine, third, 2, number="+14169672222")  # another number
    assert _looking_up(engine, asking=None) == 2
    assert _looking_up(engine, asking=asking) == 3  # the organization asking now counts
    _events(engine, asking, 4)
    assert _looking_up(engine, asking=asking) == 3  # ... once, whether it looked before
    assert _looking_up(engine, asking=first) == 3  # first, second and the one before


def test_a_burst_is_seen_whoever_asks(engine) -> None:
    organizations = _organizations(engine, scoring.BURST_ORGANIZATIONS + 1)
    for organization_id in organizations[:-1]:
        _events(engine, organization_id, 2)
    assert _looking_up(engine, asking=None) >= scoring.BURST_ORGANIZATIONS
    assert _looking_up(engine, asking=organizations[0]) >= scoring.BURST_ORGANIZATIONS
    assert _looking_up(engine, asking=organizations[-1]) >= scoring.BURST_ORGANIZATIONS
    for organization_id in organizations[: -scoring.BURST_ORGANIZATIONS]:
        _events(engine, organization_id, 1, number="+14169672222")
    one_short = organizations[-scoring.BURST_ORGANIZATIONS + 1 :]
    with engine.connect() as connection:
        counted = score_inputs.organizations_looking_up(
            connection, "+14169672222", NOW, asking=one_short[0]
        )
    assert counted == 2  # the one that looked it up and the one asking: no burst


@contextmanager
def _reads(connection: Connection, backend: str) -> Iterator[list[int]]:
    """What the statements run inside read: SQLite's virtual machine steps (each row visited
    is several), PostgreSQL's rows visited by the scans of each statement's plan, run
    again under EXPLAIN ANALYZE."""
    read = [0]
    if backend == "sqlite":
        raw = connection.connection.driver_connection

        def step() -> int:
            read[0] += 1
            return 0

        raw.set_progress_handler(step, 1)  # type: ignore[union-attr]
        try:
            yield read
        finally:
            raw.set_progress_handler(None, 1)  # type: ignore[union-attr]
        return
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        yield read
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    for statement, parameters in statements:
        plan = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
        ).scalar_one()
        read[0] += _rows_scanned(plan[0]["Plan"])


def _rows_scanned(node: dict[str, Any]) -> int:
    """The rows a plan's scans visited: those they returned and those their filters removed,
    times how often each ran."""
    own = 0
    if "Scan" in node["Node Type"]:
        rows = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        own = int(rows * node["Actual Loops"])
    return own + sum(_rows_scanned(child) for child in node.get("Plans", []))


def _reads_of_a_lookup(engine: Engine, backend: str, asking: uuid.UUID) -> int:
    with engine.connect() as connection, connection.begin():
        with _reads(connection, backend) as read:
            score_inputs.organizations_looking_up(connection, NUMBER, NOW, asking=asking)
        return read[0]


def test_a_hammered_numbers_burst_reads_no_more_as_its_lookups_grow(engine, backend: str) -> None:
    call_centre, others, asking = _organizations(engine, 3)
    _events(engine, others, 3)
    _events(engine, call_centre, 20)
    few = _reads_of_a_lookup(engine, backend, asking)
    _events(engine, call_centre, 2_000)
    many = _reads_of_a_lookup(engine, backend, asking)
    assert few > 0
    # A hundred times the lookups: what the count reads stays within a few rows of before.
    assert many <= few * 1.25, (few, many)
