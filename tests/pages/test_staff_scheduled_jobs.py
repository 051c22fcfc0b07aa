"""Staff › Invoice runs shows each scheduled job: its name and schedule in words, its last run
(when, how long, how it went, what it did) and its next run, in the billing time zone; and a
page never starts the scheduler."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.jobs import JobOutcome
from portal_core.services import platform, scheduled_jobs
from portal_core.services.jobs import JOBS
from portal_core.services.scheduler import LEASE, Scheduler
from tests.factories import actor_of, make_staff
from tests.pages.conftest import Portal, plain, texts

PAGE = "pages/staff_invoicing.py"
DECEMBER_1ST = datetime(2026, 12, 1, 5, 5, tzinfo=UTC)  # 00:05 in Toronto
JANUARY_1ST = datetime(2027, 1, 1, 5, 5, tzinfo=UTC)


def _staff(portal: Portal):
    with db.write_session(portal.engine) as session:
        return make_staff(session, name="Sam Staff")


def _ran(
    portal: Portal,
    name: str,
    *,
    started: datetime,
    took: timedelta,
    outcome: JobOutcome,
    summary: str,
    next_run_at: datetime,
) -> None:
    """The job's last run recorded as a scheduler records it."""
    scheduler = Scheduler(portal.engine)
    assert scheduled_jobs.take_lease(
        portal.engine, name, scheduler.holder, now=started, lease=LEASE
    )
    scheduled_jobs.finish(
        portal.engine,
        name,
        scheduler.holder,
        outcome=outcome,
        summary=summary,
        finished_at=started + took,
        next_run_at=next_run_at,
    )


def test_staff_see_each_job_with_its_last_and_next_run_in_the_billing_time_zone(portal):
    staff = _staff(portal)
    shown_jobs = [job for job in JOBS if job.name in ("invoices.run", "billing.recharge")]
    Scheduler(portal.engine, shown_jobs).schedule(now=DECEMBER_1ST - timedelta(days=10))
    _ran(
        portal,
        "invoices.run",
        started=DECEMBER_1ST,
        took=timedelta(seconds=83),
        outcome=JobOutcome.SUCCEEDED,
        summary="Invoices for 2026-11: 12 created, 0 already invoiced.",
        next_run_at=JANUARY_1ST,
    )
    _ran(
        portal,
        "billing.recharge",
        started=DECEMBER_1ST + timedelta(minutes=5),
        took=timedelta(seconds=2),
        outcome=JobOutcome.FAILED,
        summary="0 recharged, 1 could not be tried.",
        next_run_at=utcnow() + timedelta(minutes=3),
    )

    app = portal.open(PAGE, as_user=staff)

    assert not app.exception, app.exception
    shown = texts(app)
    assert "Scheduled jobs" in shown
    assert "America/Toronto, the billing time zone" in shown
    assert "**Monthly invoices** · On the 1st of each month at 00:05" in shown
    assert "Last run: 2026-12-01 00:05, took 1 min 23 s, :green[succeeded]" in shown
    assert "Next run: 2027-01-01 00:05" in shown
    assert "Invoices for 2026-11: 12 created, 0 already invoiced." in plain(app)
    assert "**Auto\\-recharge sweep** · Every 5 minutes" in shown
    assert "Last run: 2026-12-01 00:10, took 2 s, :red[failed]" in shown
    assert "0 recharged, 1 could not be tried." in plain(app)
    assert not app.warning  # both are scheduled ahead: a scheduler runs them


def test_times_follow_a_change_of_the_billing_time_zone(portal):
    staff = _staff(portal)
    Scheduler(portal.engine).schedule(now=DECEMBER_1ST - timedelta(days=10))
    _ran(
        portal,
        "invoices.run",
        started=DECEMBER_1ST,
        took=timedelta(milliseconds=300),
        outcome=JobOutcome.SUCCEEDED,
        summary="Invoices for 2026-11: 0 created.",
        next_run_at=JANUARY_1ST,
    )
    with db.write_session(portal.engine) as session:
        platform.update_setting(
            session, actor_of(staff), platform.BILLING_TIME_ZONE, "America/Vancouver"
        )

    shown = texts(portal.open(PAGE, as_user=staff))

    assert "America/Vancouver, the billing time zone" in shown
    assert "Last run: 2026-11-30 21:05, took under a second, :green[succeeded]" in shown
    assert "Next run: 2026-12-31 21:05" in shown


def test_jobs_no_scheduler_has_run_read_as_not_scheduled(portal):
    app = portal.open(PAGE, as_user=_staff(portal))

    assert not app.exception, app.exception
    shown = texts(app)
    assert shown.count("Last run: not yet") == len(JOBS)
    assert shown.count("Next run: not scheduled yet") == len(JOBS)


def test_a_job_overdue_says_that_no_scheduler_seems_to_run(portal):
    staff = _staff(portal)
    Scheduler(portal.engine).schedule(now=utcnow() - timedelta(days=40))  # down since

    app = portal.open(PAGE, as_user=staff)

    assert not app.exception, app.exception
    [warning, *_others] = app.warning
    assert "no scheduler seems to be running" in str(warning.value)
    assert "Next run: :orange[due since]" in texts(app)


def test_a_running_job_shows_since_when(portal):
    staff = _staff(portal)
    scheduler = Scheduler(portal.engine)
    now = utcnow()
    scheduler.schedule(now=now - timedelta(minutes=10))
    assert scheduled_jobs.take_lease(
        portal.engine, "billing.recharge", scheduler.holder, now=now, lease=LEASE
    )

    shown = texts(portal.open(PAGE, as_user=staff))

    assert "Last run: :blue[running] since" in shown
    assert "Next run: set when this run finishes" in shown


def test_a_page_never_starts_the_scheduler(portal, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCHEDULER", "on")

    app = portal.open(PAGE, as_user=_staff(portal))

    assert not app.exception, app.exception
    assert "Scheduled jobs" in texts(app)
    assert [thread for thread in threading.enumerate() if thread.name == "APScheduler"] == []
    assert "Next run: not scheduled yet" in texts(app)  # nothing scheduled the jobs
