"""What every table shares: UUID keys and timezone-aware UTC timestamps.

SQLite keeps no time zone, so ``UTCDateTime`` stores naive UTC and hands back aware UTC on
both databases; code never sees a naive datetime.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


def updated_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


def optional_time_field(**kwargs: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, **kwargs)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


__all__ = ["SQLModel", "UTCDateTime", "utcnow", "uuid_pk"]
