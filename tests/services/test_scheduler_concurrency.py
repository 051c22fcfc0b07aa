"""Several portal copies running the scheduler: two engines on one database (file SQLite in WAL
mode, and PostgreSQL), one thread each, released together. Each due time runs once; starting
together makes one row per job; and the background scheduler really wakes and runs a job
owed at its start, then stops cleanly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from portal_core import db
from portal_core.models.jobs import JobOutcome, ScheduledJob
from portal_core.services import platform, scheduled_jobs
from portal_core.services.jobs import Every, Job, JobReport, Monthly
from portal_core.services.scheduler import Scheduler
from tests.factories import actor_of, make_staff
from tests.services.support import count, fetch, race

TORONTO = ZoneInfo("America/Toronto")
VANCOUVER = ZoneInfo("America/Vancouver")
MID_NOVEMBER = datetime(2026, 11, 15, 12, 0, tzinfo=TORONTO)
WAIT_S = 60.0  # generous: two busy cores; the waits end as soon as the row says so


@pytest.fixture
def two_engines(concurrent_engine: Engine) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database, as two portal processes have (each its own pool and, on
    SQLite, its own write lock)."""
    second = db.create_engine(concurrent_engine.url.render_as_string(hide_password=False))
    yield concurrent_engine, second
    second.dispose()


class Counting:
    def __init__(self) -> None:
        self.calls: list[datetime] = []
        self._lock = threading.Lock()

    def __call__(self, _engine: object, now: datetime) -> JobReport:
        with self._lock:
            self.calls.append(now)
        return JobReport("Did the work.")


def test_two_copies_waking_at_the_same_due_time_run_the_job_once(two_engines):
    work = Counting()
    job = Job("test.monthly", "A monthly job", Monthly(day=1, hour=0, minute=5), work)
    copies = [Scheduler(engine, [job]) for engine in two_engines]
    copies[0].schedule(now=MID_NOVEMBER)
    ran_per_month: list[list[bool]] = []

    for month in (12, 1, 2, 3, 4):
        due = datetime(2026 if month == 12 else 2027, month, 1, 0, 5, tzinfo=TORONTO)
        ran_per_month.append(
            race([partial(copy.attempt, job, now=due) for copy in copies], threads=2)
        )

    assert [sorted(ran) for ran in ran_per_month] == [[False, True]] * 5
    assert len(work.calls) == 5
    assert fetch(two_engines[0], ScheduledJob, job.name).leased_by is None


def test_two_copies_starting_together_make_one_row_per_job(two_engines):
    jobs = [
        Job("test.monthly", "A monthly job", Monthly(day=1), Counting()),
        Job("test.often", "An often job", Every(minutes=5), Counting()),
    ]
    copies = [Scheduler(engine, jobs) for engine in two_engines]

    race([partial(copy.run_due, now=MID_NOVEMBER) for copy in copies], threads=2)

    assert count(two_engines[0], ScheduledJob) == 2


def test_the_background_scheduler_runs_a_job_owed_at_its_start_then_stops_cleanly(
    concurrent_engine,
):
    work = Counting()
    job = Job("test.monthly", "A monthly job", Monthly(day=1), work)
    now = datetime.now(TORONTO)
    # It last ran two months ago: this month's run is owed.
    Scheduler(concurrent_engine, [job]).schedule(now=now - timedelta(days=62))
    scheduler = Scheduler(concurrent_engine, [job])

    scheduler.start()
    try:
        assert scheduler.running
        deadline = time.monotonic() + WAIT_S
        while fetch(concurrent_engine, ScheduledJob, job.name).last_finished_at is None:
            assert time.monotonic() < deadline, "the owed job did not run"
            time.sleep(0.05)
    finally:
        scheduler.shutdown()

    assert not scheduler.running
    assert len(work.calls) == 1
    done = fetch(concurrent_engine, ScheduledJob, job.name)
    assert done.last_outcome == JobOutcome.SUCCEEDED
    assert done.next_run_at > now
    assert done.leased_by is None
    assert not [thread for thread in threading.enumerate() if thread.name == "APScheduler"]


def test_a_run_lost_with_its_process_runs_again_when_its_lease_expires(concurrent_engine):
    work = Counting()
    job = Job("test.monthly", "A monthly job", Monthly(day=1), work)
    now = datetime.now(TORONTO)
    Scheduler(concurrent_engine, [job]).schedule(now=now - timedelta(days=62))
    # Another copy took the owed run a moment ago and died: its lease ends in two seconds.
    assert scheduled_jobs.take_lease(
        concurrent_engine, job.name, "a-copy-that-died", now=now, lease=timedelta(seconds=2)
    )
    scheduler = Scheduler(concurrent_engine, [job])

    scheduler.start()  # finds the job owed but held, so tries again when the lease ends
    try:
        deadline = time.monotonic() + WAIT_S
        while fetch(concurrent_engine, ScheduledJob, job.name).last_finished_at is None:
            assert time.monotonic() < deadline, "the lost run was not run again"
            time.sleep(0.05)
    finally:
        scheduler.shutdown()

    assert len(work.calls) == 1
    assert work.calls[0] >= now + timedelta(seconds=2)
    assert fetch(concurrent_engine, ScheduledJob, job.name).leased_by is None


def test_a_running_scheduler_follows_a_change_of_the_billing_time_zone(concurrent_engine):
    job = Job("test.monthly", "A monthly job", Monthly(day=1, hour=0, minute=5), Counting())
    scheduler = Scheduler(concurrent_engine, [job])
    scheduler.start()
    try:
        with db.write_session(concurrent_engine) as session:
            platform.update_setting(
                session, actor_of(make_staff(session)), platform.BILLING_TIME_ZONE, VANCOUVER.key
            )
        scheduler.follow_time_zone()  # what it does every minute
    finally:
        scheduler.shutdown()

    assert scheduler.time_zone == VANCOUVER
    due = fetch(concurrent_engine, ScheduledJob, job.name).next_run_at.astimezone(VANCOUVER)
    assert (due.day, due.hour, due.minute) == (1, 0, 5)
