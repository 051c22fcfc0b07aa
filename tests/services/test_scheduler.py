"""The scheduler's decisions, at given times: which job is due, missed runs at the next start,
failures, leases that live and leases that expire, and the billing time zone; then the
registry's two jobs doing their work (the invoice run, the auto-recharge sweep).

The clock is injected (``now=``); the scheduler's background wakes are tested in
test_scheduler_concurrency.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingCycle, Invoice
from portal_core.models.jobs import JobOutcome, ScheduledJob
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.services import platform, scheduled_jobs
from portal_core.services.jobs import JOBS, Every, Job, JobReport, Monthly
from portal_core.services.scheduler import LEASE, Scheduler
from tests.factories import (
    actor_of,
    fund,
    make_auto_recharge,
    make_card,
    make_organization,
    make_staff,
    make_user,
    organization_of,
    put_on_plan,
)
from tests.services.support import fetch

TORONTO = ZoneInfo("America/Toronto")
VANCOUVER = ZoneInfo("America/Vancouver")
MID_NOVEMBER = datetime(2026, 11, 15, 12, 0, tzinfo=TORONTO)
DECEMBER_1ST = datetime(2026, 12, 1, 0, 5, tzinfo=TORONTO)  # the monthly job's due time
DECEMBER_3RD = datetime(2026, 12, 3, 9, 30, tzinfo=TORONTO)
JANUARY_1ST = datetime(2027, 1, 1, 0, 5, tzinfo=TORONTO)


class Counting:
    """A job's work that remembers each ``now`` it ran at and reports (or raises) as told."""

    def __init__(self, report: JobReport | None = None, error: Exception | None = None) -> None:
        self.calls: list[datetime] = []
        self.report = report or JobReport("Did the work.")
        self.error = error

    def __call__(self, _engine: object, now: datetime) -> JobReport:
        self.calls.append(now)
        if self.error is not None:
            raise self.error
        return self.report


def monthly_job(work: Callable[[object, datetime], JobReport]) -> Job:
    return Job("test.monthly", "A monthly job", Monthly(day=1, hour=0, minute=5), work)


def row(engine, name: str = "test.monthly") -> ScheduledJob:
    return fetch(engine, ScheduledJob, name)


def set_time_zone(engine, zone: ZoneInfo) -> None:
    with db.write_session(engine) as session:
        staff = make_staff(session)
        platform.update_setting(session, actor_of(staff), platform.BILLING_TIME_ZONE, zone.key)


# --- Due or not --------------------------------------------------------------------------------


def test_a_fresh_install_schedules_each_job_for_its_next_due_time_and_runs_none(engine):
    work = Counting()
    job = monthly_job(work)

    ran = Scheduler(engine, [job]).run_due(now=MID_NOVEMBER)

    assert ran == []
    assert work.calls == []
    scheduled = row(engine)
    assert scheduled.next_run_at == DECEMBER_1ST
    assert (scheduled.last_started_at, scheduled.last_outcome) == (None, None)


def test_a_job_runs_at_its_due_time_once_and_records_how_it_went(engine):
    work = Counting(JobReport("Invoiced 3 organizations."))
    job = monthly_job(work)
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=MID_NOVEMBER)

    assert scheduler.attempt(job, now=DECEMBER_1ST - timedelta(seconds=1)) is False
    assert scheduler.attempt(job, now=DECEMBER_1ST) is True
    assert scheduler.attempt(job, now=DECEMBER_1ST + timedelta(minutes=1)) is False

    assert work.calls == [DECEMBER_1ST]
    done = row(engine)
    assert done.last_started_at == DECEMBER_1ST
    assert done.last_finished_at is not None and done.last_finished_at >= DECEMBER_1ST
    assert (done.last_outcome, done.last_summary) == (
        JobOutcome.SUCCEEDED,
        "Invoiced 3 organizations.",
    )
    assert done.next_run_at == JANUARY_1ST
    assert (done.leased_by, done.lease_expires_at) == (None, None)


def test_a_run_missed_while_the_portal_was_down_runs_at_the_next_start(engine):
    work = Counting()
    job = monthly_job(work)
    Scheduler(engine, [job]).run_due(now=MID_NOVEMBER)  # the first start
    # The portal was down over the 1st; it starts again on the 3rd.

    ran = Scheduler(engine, [job]).run_due(now=DECEMBER_3RD)

    assert ran == ["test.monthly"]
    assert work.calls == [DECEMBER_3RD]
    assert row(engine).next_run_at == JANUARY_1ST
    # Started again the next day: nothing is owed any more.
    assert Scheduler(engine, [job]).run_due(now=DECEMBER_3RD + timedelta(days=1)) == []
    assert work.calls == [DECEMBER_3RD]


def test_a_job_whose_last_run_is_before_its_most_recent_due_time_runs_at_start(engine):
    work = Counting()
    job = monthly_job(work)
    november_1st = datetime(2026, 11, 1, 0, 5, tzinfo=TORONTO)
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=november_1st - timedelta(days=3))
    assert scheduler.attempt(job, now=november_1st) is True  # November's run happened

    ran = Scheduler(engine, [job]).run_due(now=DECEMBER_3RD)  # December's did not

    assert ran == ["test.monthly"]
    assert work.calls == [november_1st, DECEMBER_3RD]


def test_a_failing_job_is_recorded_as_failed_and_waits_for_its_next_due_time(engine):
    work = Counting(error=RuntimeError("the gateway did not answer"))
    job = monthly_job(work)
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=MID_NOVEMBER)

    assert scheduler.attempt(job, now=DECEMBER_1ST) is True

    failed = row(engine)
    assert failed.last_outcome == JobOutcome.FAILED
    assert failed.last_summary == "It stopped on an error: the gateway did not answer"
    assert failed.next_run_at == JANUARY_1ST
    assert failed.leased_by is None  # free for the next due time
    assert scheduler.attempt(job, now=DECEMBER_1ST + timedelta(minutes=5)) is False


def test_an_error_without_a_message_is_named_by_its_kind(engine):
    job = monthly_job(Counting(error=ZeroDivisionError()))
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=MID_NOVEMBER)

    scheduler.attempt(job, now=DECEMBER_1ST)

    assert row(engine).last_summary == "It stopped on an error: ZeroDivisionError"


def test_a_job_that_reports_work_left_undone_is_recorded_as_failed(engine):
    job = monthly_job(Counting(JobReport("2 organizations could not be invoiced.", False)))
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=MID_NOVEMBER)

    scheduler.attempt(job, now=DECEMBER_1ST)

    assert (row(engine).last_outcome, row(engine).last_summary) == (
        JobOutcome.FAILED,
        "2 organizations could not be invoiced.",
    )


def test_a_long_summary_is_cut_to_the_columns_width(engine):
    job = monthly_job(Counting(JobReport("x" * 600)))
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=MID_NOVEMBER)

    scheduler.attempt(job, now=DECEMBER_1ST)

    summary = row(engine).last_summary
    assert summary is not None and len(summary) == 500 and summary.endswith("…")


# --- Leases ------------------------------------------------------------------------------------


def test_a_held_lease_keeps_other_copies_out_until_it_expires(engine):
    work = Counting()
    job = monthly_job(work)
    first, second = Scheduler(engine, [job]), Scheduler(engine, [job])
    first.schedule(now=MID_NOVEMBER)
    # The first copy takes the job at its due time, then its process dies mid-run.
    assert scheduled_jobs.take_lease(engine, job.name, first.holder, now=DECEMBER_1ST, lease=LEASE)

    assert second.attempt(job, now=DECEMBER_1ST + LEASE - timedelta(seconds=1)) is False
    assert work.calls == []

    assert second.attempt(job, now=DECEMBER_1ST + LEASE) is True
    assert work.calls == [DECEMBER_1ST + LEASE]
    assert row(engine).next_run_at == JANUARY_1ST


def test_a_live_holder_renews_its_lease_so_a_long_run_is_not_run_twice(engine):
    work = Counting()
    job = monthly_job(work)
    first, second = Scheduler(engine, [job]), Scheduler(engine, [job])
    first.schedule(now=MID_NOVEMBER)
    assert scheduled_jobs.take_lease(engine, job.name, first.holder, now=DECEMBER_1ST, lease=LEASE)
    renewed_at = DECEMBER_1ST + LEASE - timedelta(seconds=10)

    assert scheduled_jobs.renew_leases(engine, first.holder, now=renewed_at, lease=LEASE) == 1
    assert second.attempt(job, now=DECEMBER_1ST + LEASE + timedelta(seconds=1)) is False
    assert work.calls == []
    assert row(engine).lease_expires_at == renewed_at + LEASE


def test_a_copy_that_lost_its_lease_does_not_overwrite_the_run_that_took_over(engine):
    job = monthly_job(Counting(JobReport("The second copy's run.")))
    first, second = Scheduler(engine, [job]), Scheduler(engine, [job])
    first.schedule(now=MID_NOVEMBER)
    assert scheduled_jobs.take_lease(engine, job.name, first.holder, now=DECEMBER_1ST, lease=LEASE)
    assert second.attempt(job, now=DECEMBER_1ST + LEASE) is True

    recorded = scheduled_jobs.finish(
        engine,
        job.name,
        first.holder,
        outcome=JobOutcome.SUCCEEDED,
        summary="The first copy's run, too late.",
        finished_at=DECEMBER_1ST + LEASE + timedelta(minutes=1),
        next_run_at=JANUARY_1ST,
    )

    assert recorded is False
    assert row(engine).last_summary == "The second copy's run."


def test_a_restart_while_a_run_was_lost_keeps_it_owed(engine):
    work = Counting()
    job = monthly_job(work)
    first = Scheduler(engine, [job])
    first.schedule(now=MID_NOVEMBER)
    assert scheduled_jobs.take_lease(engine, job.name, first.holder, now=DECEMBER_1ST, lease=LEASE)
    # The process died mid-run; a new one starts at once, while the lease still lives.
    restarted = Scheduler(engine, [job])

    assert restarted.run_due(now=DECEMBER_1ST + timedelta(seconds=20)) == []
    assert row(engine).next_run_at == DECEMBER_1ST  # still owed

    assert restarted.run_due(now=DECEMBER_1ST + LEASE) == ["test.monthly"]
    assert work.calls == [DECEMBER_1ST + LEASE]


# --- The billing time zone ---------------------------------------------------------------------


def test_a_change_of_billing_time_zone_moves_the_due_time_at_the_next_scheduling(engine):
    job = monthly_job(Counting())
    scheduler = Scheduler(engine, [job])
    assert scheduler.schedule(now=MID_NOVEMBER) == TORONTO

    set_time_zone(engine, VANCOUVER)
    assert scheduler.schedule(now=MID_NOVEMBER + timedelta(hours=1)) == VANCOUVER

    assert row(engine).next_run_at == datetime(2026, 12, 1, 0, 5, tzinfo=VANCOUVER)


def test_a_due_time_that_a_change_of_time_zone_moved_into_the_past_runs_at_once(engine):
    work = Counting()
    job = monthly_job(work)
    set_time_zone(engine, VANCOUVER)
    Scheduler(engine, [job]).run_due(now=MID_NOVEMBER)
    one_am_in_toronto = datetime(2026, 12, 1, 1, 0, tzinfo=TORONTO)  # 22:00 in Vancouver
    assert Scheduler(engine, [job]).run_due(now=one_am_in_toronto) == []

    set_time_zone(engine, TORONTO)

    assert Scheduler(engine, [job]).run_due(now=one_am_in_toronto) == ["test.monthly"]


def test_every_n_minutes_runs_at_each_multiple_and_skips_those_a_long_run_overran(engine):
    work = Counting()
    job = Job("test.often", "An often job", Every(minutes=5), work)
    scheduler = Scheduler(engine, [job])
    noon = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    scheduler.schedule(now=noon - timedelta(minutes=1))

    assert scheduler.attempt(job, now=noon) is True
    assert row(engine, "test.often").next_run_at == noon + timedelta(minutes=5)
    assert scheduler.attempt(job, now=noon + timedelta(minutes=4)) is False
    assert scheduler.attempt(job, now=noon + timedelta(minutes=5)) is True
    assert work.calls == [noon, noon + timedelta(minutes=5)]


# --- The registry's jobs -----------------------------------------------------------------------


def registered(name: str) -> Job:
    [job] = [job for job in JOBS if job.name == name]
    return job


def test_the_invoice_run_on_the_1st_invoices_last_month_and_nothing_twice(engine):
    with db.write_session(engine) as session:
        organization = make_organization(session, country="CA", province="ON")
        put_on_plan(
            session,
            organization,
            "starter",
            cycle=BillingCycle.MONTHLY,
            since=datetime(2026, 9, 1, tzinfo=TORONTO),
        )
    job = registered("invoices.run")
    scheduler = Scheduler(engine, [job])
    scheduler.run_due(now=MID_NOVEMBER)

    assert scheduler.attempt(job, now=DECEMBER_1ST) is True

    done = row(engine, "invoices.run")
    assert done.last_outcome == JobOutcome.SUCCEEDED
    assert done.last_summary is not None
    assert done.last_summary.startswith("Invoices for 2026-11: 1 created, 0 already invoiced")
    with db.read_session(engine) as session:
        [invoice] = session.exec(select(Invoice)).all()
    assert (invoice.organization_id, invoice.period) == (organization.id, "2026-11")
    # Run again by hand the same month (a second copy, staff): nobody is invoiced twice.
    again = job.run(engine, DECEMBER_3RD)
    assert again.summary.startswith("Invoices for 2026-11: 0 created, 1 already invoiced")
    with db.read_session(engine) as session:
        assert len(session.exec(select(Invoice)).all()) == 1


def test_the_recharge_sweep_recharges_an_organization_under_its_threshold(engine):
    with db.write_session(engine) as session:
        owner = make_user(session)
        organization = organization_of(session, owner)
        make_card(session, organization)
        fund(session, organization, 1_000, memo="Opening funds")
        make_auto_recharge(session, organization, threshold_cents=2_000, amount_cents=5_000)
    job = registered("billing.recharge")
    now = utcnow()
    scheduler = Scheduler(engine, [job])
    scheduler.schedule(now=now - timedelta(minutes=10))

    assert scheduler.run_due(now=now) == ["billing.recharge"]

    done = row(engine, "billing.recharge")
    assert (done.last_outcome, done.last_summary) == (
        JobOutcome.SUCCEEDED,
        "1 recharged, 0 pending at the gateway, 0 declined, 0 could not be tried.",
    )
    with db.read_session(engine) as session:
        [payment] = session.exec(
            select(Payment).where(Payment.organization_id == organization.id)
        ).all()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_the_reconciliation_and_mail_jobs_run_their_services(engine):
    scheduler = Scheduler(
        engine, [job for job in JOBS if job.name in ("billing.reconcile", "mail.send")]
    )
    now = utcnow()
    scheduler.schedule(now=now - timedelta(minutes=10))

    assert sorted(scheduler.run_due(now=now)) == ["billing.reconcile", "mail.send"]

    assert row(engine, "billing.reconcile").last_summary == (
        "0 credited, 0 failed or expired, 0 asked again, 0 still open, 0 reported to staff, "
        "0 could not be asked."
    )
    assert row(engine, "mail.send").last_summary == "0 sent, 0 failed (0 given up), 0 waiting."
