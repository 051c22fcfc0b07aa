"""The registry of the portal's recurring jobs: what each calls, and when.

Adding a job is one entry of ``JOBS``: a name (its row in ``scheduled_jobs``; the command
that runs it by hand, where there is one), a title in words for Staff › Invoice runs, a
schedule, and a function ``(engine, now) -> JobReport`` that calls the service. The scheduler
(``portal_core.scheduler``) runs every entry; nothing else is needed.

Schedules are read in the billing time zone (a platform setting): ``Monthly(day=1, hour=0,
minute=5)`` is five past midnight on the 1st there. ``Every(minutes=5)`` runs on the clock's
multiples of five minutes, the same instants in every portal copy, so the copies agree on
which due time they are running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from portal_core.money import format_cents
from portal_core.services import auto_recharge, invoices

# The instant every ``Every`` schedule counts from (a midnight UTC), so that its due times
# are whole multiples of its interval on the clock.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Monthly:
    """On ``day`` of each month at ``hour``:``minute``, billing time zone."""

    day: int
    hour: int = 0
    minute: int = 0

    def trigger(self, time_zone: ZoneInfo) -> BaseTrigger:
        return CronTrigger(day=self.day, hour=self.hour, minute=self.minute, timezone=time_zone)

    def describe(self) -> str:
        return f"On the {_ordinal(self.day)} of each month at {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Daily:
    """Every day at ``hour``:``minute``, billing time zone."""

    hour: int
    minute: int = 0

    def trigger(self, time_zone: ZoneInfo) -> BaseTrigger:
        return CronTrigger(hour=self.hour, minute=self.minute, timezone=time_zone)

    def describe(self) -> str:
        return f"Every day at {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Every:
    """Every ``minutes`` minutes, on the clock's multiples of it (choose a divisor of 60)."""

    minutes: int

    def trigger(self, time_zone: ZoneInfo) -> BaseTrigger:
        return IntervalTrigger(minutes=self.minutes, start_date=_EPOCH, timezone=time_zone)

    def describe(self) -> str:
        return "Every minute" if self.minutes == 1 else f"Every {self.minutes} minutes"


Schedule = Monthly | Daily | Every


def next_due(schedule: Schedule, time_zone: ZoneInfo, after: datetime) -> datetime:
    """The schedule's first due time strictly after ``after`` (UTC): the same computation
    the scheduler's triggers wake by."""
    found = schedule.trigger(time_zone).get_next_fire_time(None, after + timedelta(microseconds=1))
    if found is None:  # the triggers above never end
        raise ValueError(f"{schedule} has no due time after {after.isoformat()}")
    return found.astimezone(UTC)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


@dataclass(frozen=True)
class JobReport:
    """What a run did, in a sentence for staff, and whether it did all it had to."""

    summary: str
    succeeded: bool = True


@dataclass(frozen=True)
class Job:
    name: str
    title: str
    schedule: Schedule
    run: Callable[[Engine, datetime], JobReport]


# --- What each job calls ---------------------------------------------------------------------


def invoice_run(engine: Engine, now: datetime) -> JobReport:
    """Last month's invoices (billing time zone); a second run invoices nobody twice."""
    summary = invoices.run_invoices(engine, now=now)
    failed = len(summary.failures)
    return JobReport(
        f"Invoices for {summary.period}: {summary.created:,} created, "
        f"{summary.already_invoiced:,} already invoiced, "
        f"{summary.nothing_to_invoice:,} with nothing to invoice, {failed:,} failed; "
        f"{format_cents(summary.invoiced_cents)} invoiced."
        + (" Run the month again from this page once fixed." if failed else ""),
        succeeded=not failed,
    )


def recharge_sweep(engine: Engine, now: datetime) -> JobReport:
    """Auto-recharge whoever is under their threshold, and ask again about stalled ones."""
    summary = auto_recharge.sweep(engine, now=now)
    return JobReport(
        f"{summary.recharged:,} recharged, {summary.pending:,} pending at the gateway, "
        f"{summary.failed:,} declined, {summary.resumed:,} stalled asked again, "
        f"{summary.errors:,} could not be tried.",
        succeeded=not summary.errors,
    )


# --- The registry ----------------------------------------------------------------------------

JOBS: tuple[Job, ...] = (
    Job("invoices.run", "Monthly invoices", Monthly(day=1, hour=0, minute=5), invoice_run),
    Job("billing.recharge", "Auto-recharge sweep", Every(minutes=5), recharge_sweep),
    # New jobs go here, one entry each: the reconciliation of pending payments
    # (``billing reconcile``, every few minutes), the mail queue (``mail send``, every
    # minute), the products' daily roll-ups (``Daily(hour=…, minute=…)``).
)


def job_named(name: str, jobs: tuple[Job, ...] = JOBS) -> Job:
    for job in jobs:
        if job.name == name:
            return job
    raise KeyError(name)
