"""The scheduler: runs the registry's jobs (``services.jobs``) by themselves.

It starts with the portal's ASGI app (``portal_core/ui/asgi.py``'s lifespan) unless
``SCHEDULER=off``, or alone with ``python -m portal_core scheduler``; never from a page or the
API app alone. APScheduler's ``BackgroundScheduler`` wakes it at each job's due times, in a
thread pool beside the server; the database decides whether a wake runs the job
(``services.scheduled_jobs``), so that:

- each job runs once per due time however many portal copies run a scheduler: the copy that
  takes the job's lease runs it; the others find it taken, or no longer due;
- a job missed while no scheduler ran (the portal was down on the 1st) runs at the next
  start: at start every job is tried once, and one whose last run is older than its most
  recent due time is due;
- a run lost with its process (its lease stops being renewed and expires) runs again: a copy
  that finds a job due but leased tries again when the lease ends.

Times follow the billing time zone (a platform setting), read when the scheduler schedules:
at start, and again within a minute of a change of the setting, when every job is
rescheduled in the new zone and tried at once (a due time that the change moved into the past
runs then).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.jobs import JobOutcome
from portal_core.services import platform, scheduled_jobs
from portal_core.services.jobs import JOBS, Job, JobReport, ScheduleTrigger, next_due

log = logging.getLogger(__name__)

# A holder renews its leases every RENEWAL while it lives; one that stops (its process died)
# loses them after LEASE, and the job it ran is run again.
LEASE = timedelta(minutes=2)
RENEWAL = timedelta(seconds=30)
# How often a running scheduler looks for a change of the billing time zone.
TIME_ZONE_CHECK = timedelta(minutes=1)

_HOUSEKEEPING = "housekeeping"
_RENEW_LEASES = "scheduler.renew-leases"
_FOLLOW_TIME_ZONE = "scheduler.follow-time-zone"


def _holder() -> str:
    """Names this scheduler in the leases it takes: host, process, and an instance of it."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """The registry's jobs on one engine. ``start``/``shutdown`` run them in the background;
    ``schedule``, ``attempt`` and ``run_due`` do the same work synchronously, at a given
    ``now`` (tests, and the background scheduler's own calls)."""

    def __init__(self, engine: Engine, jobs: Sequence[Job] = JOBS) -> None:
        self.engine = engine
        self.jobs = tuple(jobs)
        self.holder = _holder()
        self.time_zone: ZoneInfo | None = None  # as last scheduled
        self._background: BackgroundScheduler | None = None

    # --- The work, at a given time -------------------------------------------------------------

    def billing_time_zone(self) -> ZoneInfo:
        with db.read_session(self.engine) as session:
            return platform.billing_time_zone(session)

    def schedule(self, *, now: datetime | None = None) -> ZoneInfo:
        """Give every job its row and its next due time in the billing time zone as it is now
        (``scheduled_jobs.register``); returns that zone."""
        now = now or utcnow()
        time_zone = self.billing_time_zone()
        for job in self.jobs:
            scheduled_jobs.register(
                self.engine, job.name, partial(next_due, job.schedule, time_zone), now=now
            )
        self.time_zone = time_zone
        return time_zone

    def attempt(self, job: Job, *, now: datetime | None = None) -> bool:
        """Run ``job`` if it is due and no one holds it, and record how it went; whether it
        ran. A job due but held by another copy is tried again when that lease ends."""
        started = now or utcnow()
        if not scheduled_jobs.take_lease(
            self.engine, job.name, self.holder, now=started, lease=LEASE
        ):
            self._retry_after_lease(job, started)
            return False
        clock = time.monotonic()
        try:
            report = job.run(self.engine, started)
        except Exception as error:
            log.exception("The scheduled job %s failed", job.name)
            reason = str(error) or type(error).__name__
            report = JobReport(f"It stopped on an error: {reason}", succeeded=False)
        finished = started + timedelta(seconds=time.monotonic() - clock)
        time_zone = self.time_zone or self.billing_time_zone()
        recorded = scheduled_jobs.finish(
            self.engine,
            job.name,
            self.holder,
            outcome=JobOutcome.SUCCEEDED if report.succeeded else JobOutcome.FAILED,
            summary=report.summary,
            finished_at=finished,
            next_run_at=next_due(job.schedule, time_zone, started),
        )
        if recorded:
            log.info("Scheduled job %s: %s", job.name, report.summary)
        else:
            log.warning(
                "Scheduled job %s finished after its lease expired; another copy took it over",
                job.name,
            )
        return True

    def run_due(self, *, now: datetime | None = None) -> list[str]:
        """Schedule, then run every job that is due now, one after the other: what a start
        does. Returns the names of the jobs that ran."""
        now = now or utcnow()
        self.schedule(now=now)
        return [job.name for job in self.jobs if self.attempt(job, now=now)]

    def _retry_after_lease(self, job: Job, now: datetime) -> None:
        background = self._background
        if background is None or not background.running:
            return
        row = scheduled_jobs.job_row(self.engine, job.name)
        if (
            row is None
            or row.next_run_at > now
            or row.lease_expires_at is None
            or row.leased_by == self.holder  # its own run will record itself
        ):
            return
        background.add_job(
            self.attempt,
            DateTrigger(run_date=row.lease_expires_at + timedelta(seconds=1)),
            args=(job,),
            id=f"{job.name}.after-lease",
            replace_existing=True,
        )

    # --- In the background ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._background is not None and self._background.running

    def start(self) -> None:
        """Schedule every job, try each once now (a job missed while down runs), and wake at
        each due time from then on, in background threads."""
        time_zone = self.schedule()
        background = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(max_workers=max(4, 2 * len(self.jobs))),
                # Its own thread, so that leases are renewed however busy the jobs are.
                _HOUSEKEEPING: ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={
                # However late a wake comes (a busy machine), it still runs, once: the
                # database says whether the job is due.
                "misfire_grace_time": None,
                "coalesce": True,
                "max_instances": 1,
            },
            timezone=time_zone,
        )
        self._background = background
        self._add_jobs(time_zone)
        background.add_job(
            self._renew_leases,
            IntervalTrigger(seconds=RENEWAL.total_seconds()),
            id=_RENEW_LEASES,
            executor=_HOUSEKEEPING,
        )
        background.add_job(
            self.follow_time_zone,
            IntervalTrigger(seconds=TIME_ZONE_CHECK.total_seconds()),
            id=_FOLLOW_TIME_ZONE,
            executor=_HOUSEKEEPING,
        )
        background.start()
        log.info(
            "The scheduler runs %s in %s", ", ".join(job.name for job in self.jobs), time_zone.key
        )

    def shutdown(self) -> None:
        """Stop waking, and wait for the jobs running now to finish and record themselves."""
        if self._background is not None and self._background.running:
            self._background.shutdown(wait=True)
        self._background = None

    def _add_jobs(self, time_zone: ZoneInfo) -> None:
        assert self._background is not None
        for job in self.jobs:
            self._background.add_job(
                self.attempt,
                ScheduleTrigger(job.schedule, time_zone),
                args=(job,),
                id=job.name,
                name=job.title,
                replace_existing=True,
                next_run_time=datetime.now(time_zone),  # tried at once: it may be owed
            )

    def _renew_leases(self) -> None:
        scheduled_jobs.renew_leases(self.engine, self.holder, now=utcnow(), lease=LEASE)

    def follow_time_zone(self) -> None:
        """Reschedule every job if the billing time zone changed since the last scheduling
        (every minute while running)."""
        if self.billing_time_zone() == self.time_zone:
            return
        time_zone = self.schedule()
        log.info("The billing time zone is now %s: jobs rescheduled", time_zone.key)
        self._add_jobs(time_zone)
