"""Product events: what Logs lists (docs/product.md, Pages › Logs).

Every product action of an organization — a lookup (priced or refused), a registration, an
edit, a deletion, a verification, an import, a dispute's step, a community report — writes
one event in the unit of work that did it, and adds it to the day's roll-up
(``product_events_daily``, the billing time zone's day) with one UPSERT, so charts, the
Dashboard's tiles and Explore read the roll-up and pruning old events loses no history.
SQLAlchemy Core: lookups write one on the hot path (docs/architecture.md, The hot path).

An event's ``result`` is what the acting organization may see, written by the service that
knows it; never another organization's private details.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Insert, ScalarSelect, Select, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from portal_core.models.base import utcnow
from portal_core.models.billing import PlatformSetting
from portal_core.models.products import (
    TYPED_NUMBER_WIDTH,
    EventAction,
    EventProduct,
    EventStatus,
    ProductEvent,
    ProductEventDaily,
)
from portal_core.rules import platform

RESULT_WIDTH = 200


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_events = _table(ProductEvent)
_daily = _table(ProductEventDaily)
_settings = _table(PlatformSetting)


@dataclass(frozen=True)
class Event:
    organization_id: uuid.UUID
    product: EventProduct
    action: EventAction
    user_id: uuid.UUID | None = None
    lookup_type: str | None = None
    number: str | None = None
    destination: str | None = None
    result: str | None = None
    score_millis: int | None = None
    cost_micros: int = 0
    latency_ms: int | None = None
    status: EventStatus = EventStatus.OK
    api_token_id: uuid.UUID | None = None  # the token, when the organization acted by API


def record(
    connection: Connection, event: Event, *, now: datetime | None = None, day: date | None = None
) -> uuid.UUID:
    """Write ``event`` and count it in its day's roll-up; ``day`` is the billing time zone's
    day of ``now`` when the caller knows it (the meter does), else read here."""
    now = now or utcnow()
    if day is None:
        day = billing_day(connection, now)
    event_id = uuid.uuid4()
    connection.execute(
        _insert(),
        {
            "id": event_id,
            "organization_id": event.organization_id,
            # A call through an API token is the token's act, not its creator's: Logs names
            # the token, and the member filter finds only what members did in the portal.
            "user_id": None if event.api_token_id is not None else event.user_id,
            "api_token_id": event.api_token_id,
            "created_at": now,
            "product": event.product.value,
            "action": event.action.value,
            "lookup_type": event.lookup_type,
            "number": _cut(event.number, TYPED_NUMBER_WIDTH),
            "destination": _cut(event.destination, TYPED_NUMBER_WIDTH),
            "result": _cut(event.result, RESULT_WIDTH),
            "score_millis": event.score_millis,
            "cost_micros": event.cost_micros,
            "latency_ms": event.latency_ms,
            "status": event.status.value,
        },
    )
    connection.execute(
        _roll_up(connection.dialect.name),
        {
            "organization_id": event.organization_id,
            "day": day,
            "product": event.product.value,
            "action": event.action.value,
            "lookup_type": event.lookup_type or "",
            "status": event.status.value,
            "events": 1,
            "cost_micros": event.cost_micros,
            "latency_ms": event.latency_ms or 0,
        },
    )
    return event_id


def _cut(value: str | None, width: int) -> str | None:
    if value is None:
        return None
    return value if len(value) <= width else value[: width - 1] + "…"


def billing_day(connection: Connection, now: datetime) -> date:
    """The billing time zone's day of ``now`` (the day the roll-ups count it in)."""
    return day_in(connection.execute(_time_zone()).scalar(), now)


def day_in(stored_time_zone: str | None, now: datetime) -> date:
    """The day of ``now`` in the billing time zone as the platform setting stores it
    (``stored_time_zone()``; ``None`` when staff never set it): for a caller that reads the
    setting along with something else, in one query."""
    zone = ZoneInfo(stored_time_zone or platform.shipped_default(platform.BILLING_TIME_ZONE))
    return now.astimezone(zone).date()


@cache
def stored_time_zone() -> ScalarSelect[Any]:
    """The billing time zone setting as stored, a scalar subquery to read with other columns."""
    return (
        select(_settings.c.value)
        .where(_settings.c.key == platform.BILLING_TIME_ZONE)
        .scalar_subquery()
    )


# Statements built once, so that each event reuses SQLAlchemy's compiled form without
# building and hashing the statement again.
@cache
def _time_zone() -> Select[Any]:
    return select(stored_time_zone())


@cache
def _insert() -> Insert:
    return _events.insert()


@cache
def _roll_up(dialect: str) -> Insert:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(_daily)
    return cast(
        Insert,
        upsert.on_conflict_do_update(
            index_elements=["organization_id", "day", "product", "action", "lookup_type", "status"],
            set_={
                "events": _daily.c.events + upsert.excluded.events,
                "cost_micros": _daily.c.cost_micros + upsert.excluded.cost_micros,
                "latency_ms": _daily.c.latency_ms + upsert.excluded.latency_ms,
            },
        ),
    )
