"""Pruning Logs' product events past the log retention: only the old events go, in batches of
their own transactions; the daily roll-up, the usage records and the usage roll-up stay; the
setting decides; a second run deletes nothing; the command and the nightly job run it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlmodel import col

from portal_core import db
from portal_core.models.billing import UsageDaily, UsageRecord
from portal_core.models.products import (
    EventAction,
    EventProduct,
    ProductEvent,
    ProductEventDaily,
)
from portal_core.services import log_retention, platform, product_events
from portal_core.services.jobs import JOBS, Daily
from tests.factories import actor_of, make_organization, make_staff, record_usage

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def record_events(engine: Engine, organization_id: uuid.UUID, ages: list[timedelta]) -> None:
    with db.write_connection(engine) as connection:
        for age in ages:
            product_events.record(
                connection,
                product_events.Event(
                    organization_id=organization_id,
                    product=EventProduct.SMART_CNAM,
                    action=EventAction.LOOKUP,
                    result=f"{age.days} days old",
                ),
                now=NOW - age,
            )


def count(engine: Engine, model: object) -> int:
    with db.read_session(engine) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())  # type: ignore[arg-type]


def kept(engine: Engine) -> list[str]:
    with db.read_session(engine) as session:
        return sorted(
            str(result) for result in session.execute(select(col(ProductEvent.result))).scalars()
        )


@pytest.fixture
def organization_id(engine: Engine) -> uuid.UUID:
    with db.write_session(engine) as session:
        organization = make_organization(session)
        record_usage(session, organization.id, "2024-11", 7, made_at=NOW - timedelta(days=560))
        session.add(
            UsageDaily(
                organization_id=organization.id,
                day=date(2024, 11, 18),
                product="smart_cnam",
                lookup_type="caller_id",
                requests=7,
                billable_requests=7,
                cost_micros=21_000,
            )
        )
        return organization.id


def test_only_events_older_than_400_days_go_and_the_totals_and_usage_stay(
    engine: Engine, organization_id: uuid.UUID
) -> None:
    ages = [timedelta(days=days) for days in (1, 100, 399)]
    ages += [timedelta(days=400) - timedelta(seconds=1), timedelta(days=400, seconds=1)]
    ages += [timedelta(days=401), timedelta(days=900)]
    record_events(engine, organization_id, ages)
    roll_up = count(engine, ProductEventDaily)

    deleted = log_retention.prune(engine, NOW)

    assert deleted == 3
    assert kept(engine) == ["1 days old", "100 days old", "399 days old", "399 days old"]
    assert count(engine, ProductEventDaily) == roll_up == 6  # a row a day: two share one
    with db.read_session(engine) as session:
        assert session.execute(select(func.sum(ProductEventDaily.events))).scalar_one() == 7
    assert count(engine, UsageRecord) == 7
    assert count(engine, UsageDaily) == 1


def test_events_go_in_batches_each_its_own_transaction(
    engine: Engine, organization_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_events(engine, organization_id, [timedelta(days=500 + day) for day in range(10)])
    record_events(engine, organization_id, [timedelta(days=10)])
    transactions: list[int] = []
    original = db.write_connection

    @contextmanager
    def counted(target: Engine) -> Iterator[Connection]:
        with original(target) as connection:
            yield connection
        transactions.append(1)

    monkeypatch.setattr(db, "write_connection", counted)

    assert log_retention.prune(engine, NOW, batch_size=3) == 10

    assert len(transactions) == 4  # 3 + 3 + 3 + 1
    assert kept(engine) == ["10 days old"]


def test_the_oldest_go_first(engine: Engine, organization_id: uuid.UUID) -> None:
    record_events(engine, organization_id, [timedelta(days=500 + day) for day in range(4)])
    transactions = []
    original = db.write_connection

    @contextmanager
    def one_batch_only(target: Engine) -> Iterator[Connection]:
        with original(target) as connection:
            yield connection
        transactions.append(1)
        raise RuntimeError("the process stopped after its first batch")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "write_connection", one_batch_only)
        with pytest.raises(RuntimeError):
            log_retention.prune(engine, NOW, batch_size=2)

    assert kept(engine) == ["500 days old", "501 days old"]


def test_the_retention_is_the_platform_setting(engine: Engine, organization_id: uuid.UUID) -> None:
    record_events(engine, organization_id, [timedelta(days=days) for days in (10, 45, 120)])
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
        platform.update_setting(session, staff, platform.LOG_RETENTION_DAYS, "30")

    assert log_retention.prune(engine, NOW) == 2
    assert kept(engine) == ["10 days old"]


def test_a_second_run_deletes_nothing(engine: Engine, organization_id: uuid.UUID) -> None:
    record_events(engine, organization_id, [timedelta(days=700), timedelta(days=1)])

    assert log_retention.prune(engine, NOW) == 1
    assert log_retention.prune(engine, NOW) == 0
    assert kept(engine) == ["1 days old"]


def test_a_batch_takes_at_least_one_event(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least one"):
        log_retention.prune(engine, NOW, batch_size=0)


def test_the_nightly_job_prunes_at_three_and_says_how_many(
    engine: Engine, organization_id: uuid.UUID
) -> None:
    [job] = [job for job in JOBS if job.name == "logs.prune"]
    record_events(engine, organization_id, [timedelta(days=401), timedelta(days=402)])

    report = job.run(engine, NOW)

    assert job.schedule == Daily(hour=3)
    assert job.title == "Old product events pruned"
    assert (report.summary, report.succeeded) == (
        "2 product events older than the log retention deleted.",
        True,
    )
    assert kept(engine) == []
