"""What staff read of the scheduled jobs: last run, how long it took, running, overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal_core import db
from portal_core.errors import PermissionDenied
from portal_core.models.jobs import JobOutcome
from portal_core.queries.scheduled_jobs import OVERDUE_AFTER, JobRun, scheduled_jobs
from portal_core.services import scheduled_jobs as jobs_service
from portal_core.services.jobs import Job, JobReport, Monthly
from portal_core.services.scheduler import LEASE, Scheduler
from tests.factories import actor_of, make_staff, make_user

NOVEMBER_15TH = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 1, 5, 5, tzinfo=UTC)  # 00:05 in Toronto
NAME = "test.monthly"


def _job() -> Job:
    return Job(NAME, "A monthly job", Monthly(day=1, hour=0, minute=5), _work)


def _work(_engine: object, _now: datetime) -> JobReport:
    return JobReport("Did the work.")


def _read(engine, *, now: datetime, names: tuple[str, ...] = (NAME,)) -> list[JobRun]:
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    with db.read_session(engine) as session:
        return scheduled_jobs(session, staff, names=names, now=now)


def test_only_staff_read_the_scheduled_jobs(engine):
    with db.write_session(engine) as session:
        owner = actor_of(make_user(session))

    with db.read_session(engine) as session, pytest.raises(PermissionDenied):
        scheduled_jobs(session, owner, names=[NAME])


def test_a_job_no_scheduler_has_scheduled_yet_reads_as_not_scheduled(engine):
    assert _read(engine, now=NOVEMBER_15TH, names=("test.unknown",)) == [JobRun("test.unknown")]


def test_a_finished_run_reads_with_its_outcome_duration_and_next_run(engine):
    scheduler = Scheduler(engine, [_job()])
    scheduler.schedule(now=NOVEMBER_15TH)
    assert jobs_service.take_lease(engine, NAME, scheduler.holder, now=DUE, lease=LEASE)
    jobs_service.finish(
        engine,
        NAME,
        scheduler.holder,
        outcome=JobOutcome.FAILED,
        summary="1 organization could not be invoiced.",
        finished_at=DUE + timedelta(seconds=42),
        next_run_at=datetime(2027, 1, 1, 5, 5, tzinfo=UTC),
    )

    [run] = _read(engine, now=DUE + timedelta(minutes=1))

    assert run == JobRun(
        name=NAME,
        next_run_at=datetime(2027, 1, 1, 5, 5, tzinfo=UTC),
        last_started_at=DUE,
        last_finished_at=DUE + timedelta(seconds=42),
        last_outcome=JobOutcome.FAILED,
        last_summary="1 organization could not be invoiced.",
    )
    assert run.last_duration == timedelta(seconds=42)


def test_a_job_held_by_a_scheduler_reads_as_running(engine):
    scheduler = Scheduler(engine, [_job()])
    scheduler.schedule(now=NOVEMBER_15TH)
    assert jobs_service.take_lease(engine, NAME, scheduler.holder, now=DUE, lease=LEASE)

    [running] = _read(engine, now=DUE + timedelta(seconds=30))
    [lost] = _read(engine, now=DUE + LEASE + OVERDUE_AFTER + timedelta(seconds=1))

    assert (running.running, running.overdue, running.last_duration) == (True, False, None)
    assert (lost.running, lost.overdue) == (False, True)


def test_a_job_due_for_a_while_and_not_running_reads_as_overdue(engine):
    Scheduler(engine, [_job()]).schedule(now=NOVEMBER_15TH)

    [just_due] = _read(engine, now=DUE + OVERDUE_AFTER)
    [overdue] = _read(engine, now=DUE + OVERDUE_AFTER + timedelta(seconds=1))

    assert just_due.overdue is False
    assert overdue.overdue is True
