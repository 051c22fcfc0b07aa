"""What staff read of the scheduled jobs: each one's last run (when, how long, how it went) and
next run, for Staff › Invoice runs. Staff only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from portal_core.models.base import utcnow
from portal_core.models.jobs import JobOutcome, ScheduledJob
from portal_core.permissions import Actor, Capability, require

# A job due longer ago than this, and not running, says that no scheduler runs it: every
# scheduler wakes at the due time itself, and at its start for what it missed.
OVERDUE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class JobRun:
    """One job as the scheduler left it. ``next_run_at`` is None until a scheduler first
    scheduled it."""

    name: str
    next_run_at: datetime | None = None
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: JobOutcome | None = None
    last_summary: str | None = None
    running: bool = False  # a scheduler holds it now
    overdue: bool = False

    @property
    def last_duration(self) -> timedelta | None:
        """How long the last finished run took."""
        started, finished = self.last_started_at, self.last_finished_at
        if started is None or finished is None or finished < started:
            return None
        return finished - started


def scheduled_jobs(
    session: Session, actor: Actor, *, names: Sequence[str], now: datetime | None = None
) -> list[JobRun]:
    """The jobs named (the scheduler's registry), in that order."""
    require(actor, Capability.STAFF)
    now = now or utcnow()
    rows = {
        job.name: job
        for job in session.exec(select(ScheduledJob).where(col(ScheduledJob.name).in_(names))).all()
    }
    runs = []
    for name in names:
        job = rows.get(name)
        if job is None:
            runs.append(JobRun(name))
            continue
        running = job.lease_expires_at is not None and job.lease_expires_at > now
        runs.append(
            JobRun(
                name=name,
                next_run_at=job.next_run_at,
                last_started_at=job.last_started_at,
                last_finished_at=job.last_finished_at,
                last_outcome=JobOutcome(job.last_outcome) if job.last_outcome else None,
                last_summary=job.last_summary,
                running=running,
                overdue=not running and job.next_run_at < now - OVERDUE_AFTER,
            )
        )
    return runs
