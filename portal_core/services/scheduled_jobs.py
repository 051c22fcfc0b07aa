"""The scheduled jobs' rows: registering a job, taking and renewing its lease, recording a run.

The scheduler (``services.scheduler``) wakes when a job's schedule says so, in every portal
copy that runs it; this module decides, in the database, which copy runs the job, so that it
runs once:

- ``take_lease`` is one atomic UPDATE: it succeeds only while the job is due
  (``next_run_at`` at or before now) and its lease is free or expired. Two copies racing for
  the same due time both send it; the database lets exactly one change the row (SQLite takes
  its write lock up front, PostgreSQL re-checks the condition after the other's commit).
- ``finish`` records the outcome, frees the lease and moves ``next_run_at`` to the next due
  time after the run's start, so a copy that wakes a moment later finds nothing due.
- A run whose process died leaves its lease to expire (the holder renews it while alive:
  ``renew_leases``) and ``next_run_at`` where it was, so the job is still due and the next
  copy to try after the expiry runs it.

Due times are computed by the caller from the job's schedule and the billing time zone
(``next_due``), so this module knows nothing of schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, Insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal_core import db
from portal_core.models.jobs import JobOutcome, ScheduledJob

SUMMARY_LENGTH = 500  # the column's width

NextDue = Callable[[datetime], datetime]  # the first due time strictly after the given instant

_TABLE = ScheduledJob.__table__  # type: ignore[attr-defined]


def register(engine: Engine, name: str, next_due: NextDue, *, now: datetime) -> ScheduledJob:
    """Make sure the job has its row, with ``next_run_at`` following the schedule as it is now.

    A new job is first due at its first due time after now: a fresh install does not run
    every job at its first start. A known job is due at its first due time after its last
    start (after its row's creation if it never ran): when that time passed while no
    scheduler ran, ``next_run_at`` is in the past and the job is owed. A run in progress, or
    one whose holder died before finishing, keeps its ``next_run_at``, which is still due.
    Called whenever the scheduler (re)schedules, so a change of schedule or of billing time
    zone moves the due time then.
    """
    with db.write_connection(engine) as connection:
        connection.execute(
            _insert_if_missing(connection.dialect.name).values(
                name=name, created_at=now, next_run_at=next_due(now)
            )
        )
        row = connection.execute(
            select(_TABLE).where(_TABLE.c.name == name).with_for_update()
        ).one()
        job = ScheduledJob.model_validate(dict(row._mapping))
        if _in_progress_or_lost(job, now):
            return job
        anchor = job.last_started_at or job.created_at
        due = next_due(anchor)
        if due != job.next_run_at:
            connection.execute(update(_TABLE).where(_TABLE.c.name == name).values(next_run_at=due))
            job.next_run_at = due
        return job


def _insert_if_missing(dialect: str) -> Insert:
    # Two copies starting at once both insert; the second's row is simply not needed.
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(_TABLE).on_conflict_do_nothing(index_elements=["name"])


def _in_progress_or_lost(job: ScheduledJob, now: datetime) -> bool:
    if job.lease_expires_at is not None and job.lease_expires_at > now:
        return True  # someone runs it now
    if job.last_started_at is None:
        return False
    return job.last_finished_at is None or job.last_finished_at < job.last_started_at


def take_lease(engine: Engine, name: str, holder: str, *, now: datetime, lease: timedelta) -> bool:
    """Take the job to run it now, if it is due and nobody holds it; whether it was taken."""
    with db.write_connection(engine) as connection:
        taken = connection.execute(
            update(_TABLE)
            .where(
                _TABLE.c.name == name,
                _TABLE.c.next_run_at <= now,
                or_(_TABLE.c.lease_expires_at.is_(None), _TABLE.c.lease_expires_at <= now),
            )
            .values(leased_by=holder, lease_expires_at=now + lease, last_started_at=now)
        )
        return taken.rowcount == 1


def renew_leases(engine: Engine, holder: str, *, now: datetime, lease: timedelta) -> int:
    """Extend every lease ``holder`` holds (its jobs still running); how many."""
    with db.write_connection(engine) as connection:
        renewed = connection.execute(
            update(_TABLE).where(_TABLE.c.leased_by == holder).values(lease_expires_at=now + lease)
        )
        return renewed.rowcount


def finish(
    engine: Engine,
    name: str,
    holder: str,
    *,
    outcome: JobOutcome,
    summary: str,
    finished_at: datetime,
    next_run_at: datetime,
) -> bool:
    """Record a run's outcome and free the lease; False when ``holder`` no longer held it (its
    lease expired and another copy took the job over: that copy records its own run)."""
    if len(summary) > SUMMARY_LENGTH:
        summary = summary[: SUMMARY_LENGTH - 1] + "…"
    with db.write_connection(engine) as connection:
        done = connection.execute(
            update(_TABLE)
            .where(_TABLE.c.name == name, _TABLE.c.leased_by == holder)
            .values(
                leased_by=None,
                lease_expires_at=None,
                last_finished_at=finished_at,
                last_outcome=outcome.value,
                last_summary=summary,
                next_run_at=next_run_at,
            )
        )
        return done.rowcount == 1


def job_row(engine: Engine, name: str) -> ScheduledJob | None:
    """The job's row as stored, or None before it was first scheduled."""
    with db.read_session(engine) as session:
        return session.get(ScheduledJob, name)
