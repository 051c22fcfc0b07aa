"""The registry of the portal's recurring jobs: what each calls, and when.

Adding a job is one entry of ``JOBS``: a name (its row in ``scheduled_jobs``; the command
that runs it by hand, where there is one), a title in words for Staff › Invoice runs, a
schedule, and a function ``(engine, now) -> JobReport`` that calls the service. The scheduler
(``services.scheduler``) runs every entry; nothing else is needed.

Schedules are read in the billing time zone (a platform setting): ``Monthly(day=1, hour=0,
minute=5)`` is five past midnight on the 1st there, and ``Daily(hour=2)`` two in the morning,
daylight saving time or not. ``Every(minutes=5)`` runs on the clock's multiples of five
minutes, the same instants in every portal copy, so the copies agree on which due time they
are running. A schedule's ``next_after`` is its due times; ``ScheduleTrigger`` wakes
APScheduler at exactly those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import Engine

from portal_core.money import format_cents
from portal_core.services import (
    api_tokens,
    auto_recharge,
    closing,
    company,
    invoices,
    log_retention,
    mail_queue,
    rate_limits,
    score_snapshot,
)
from portal_core.services.payments import reconciliation

# The instant every ``Every`` schedule counts from (a midnight UTC), so that its due times
# are whole multiples of its interval on the clock.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _at(day: date, hour: int, minute: int, time_zone: ZoneInfo) -> datetime:
    """``hour``:``minute`` of ``day`` on the wall clock of ``time_zone``, in UTC. A time that
    the spring-forward night skips is read with the offset before it (02:30 is 03:30 then); a
    time that the fall-back night repeats is its first occurrence (fold 0), so it runs once."""
    return datetime.combine(day, time(hour, minute), tzinfo=time_zone).astimezone(UTC)


@dataclass(frozen=True)
class Monthly:
    """On ``day`` (1 to 28, so every month has it) of each month at ``hour``:``minute``."""

    day: int
    hour: int = 0
    minute: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 28:
            raise ValueError("A monthly job runs on day 1 to 28, which every month has.")

    def next_after(self, after: datetime, time_zone: ZoneInfo) -> datetime:
        local = after.astimezone(time_zone)
        year, month = local.year, local.month
        while True:
            due = _at(date(year, month, self.day), self.hour, self.minute, time_zone)
            if due > after:
                return due
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)

    def describe(self) -> str:
        return f"On the {_ordinal(self.day)} of each month at {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Daily:
    """Every day at ``hour``:``minute``."""

    hour: int
    minute: int = 0

    def next_after(self, after: datetime, time_zone: ZoneInfo) -> datetime:
        day = after.astimezone(time_zone).date()
        while (due := _at(day, self.hour, self.minute, time_zone)) <= after:
            day += timedelta(days=1)
        return due

    def describe(self) -> str:
        return f"Every day at {self.hour:02d}:{self.minute:02d}"


@dataclass(frozen=True)
class Every:
    """Every ``minutes`` minutes, on the clock's multiples of it (choose a divisor of 60)."""

    minutes: int

    def next_after(self, after: datetime, time_zone: ZoneInfo) -> datetime:
        interval = timedelta(minutes=self.minutes)
        return _EPOCH + ((after - _EPOCH) // interval + 1) * interval

    def describe(self) -> str:
        return "Every minute" if self.minutes == 1 else f"Every {self.minutes} minutes"


Schedule = Monthly | Daily | Every


def next_due(schedule: Schedule, time_zone: ZoneInfo, after: datetime) -> datetime:
    """The schedule's first due time strictly after ``after``, in UTC."""
    return schedule.next_after(after, time_zone)


class ScheduleTrigger(BaseTrigger):
    """APScheduler's trigger for one of our schedules: it wakes at exactly the due times that
    ``next_due`` gives, so the wakes and the database's due times are one computation.

    APScheduler 3.11's own ``CronTrigger`` is not used: it moves from one day (or month) to
    the next by adding the wall clock's difference in UTC, so across the spring-forward night
    it lands an hour late and skips that due time (a monthly run at 00:05 in Toronto goes from
    1 March to 1 May), and it runs a time of the repeated fall-back hour twice.
    """

    def __init__(self, schedule: Schedule, time_zone: ZoneInfo) -> None:
        self.schedule = schedule
        self.time_zone = time_zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # After a fire time: the next one. Otherwise the first at or after now.
        after = previous_fire_time or now - timedelta(microseconds=1)
        return next_due(self.schedule, self.time_zone, after).astimezone(self.time_zone)

    def __str__(self) -> str:
        return f"{self.schedule.describe()} ({self.time_zone.key})"


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
    """Auto-recharge whoever is under their threshold and has no recharge today."""
    summary = auto_recharge.sweep(engine, now=now)
    return JobReport(
        f"{summary.recharged:,} recharged, {summary.pending:,} pending at the gateway, "
        f"{summary.failed:,} declined, {summary.errors:,} could not be tried.",
        succeeded=not summary.errors,
    )


def reconcile_payments(engine: Engine, now: datetime) -> JobReport:
    """Ask the gateway about the payments its webhook never settled; settle what it says."""
    summary = reconciliation.reconcile(engine, now=now)
    return JobReport(
        f"{summary.credited:,} credited, {summary.failed:,} failed or expired, "
        f"{summary.asked_again:,} asked again, {summary.still_open:,} still open, "
        f"{summary.reported:,} reported to staff, {summary.errors:,} could not be asked.",
        succeeded=not summary.errors,
    )


def send_mail(engine: Engine, now: datetime) -> JobReport:
    """Send the queued e-mail that is due (what could not be sent right after its commit)."""
    summary = mail_queue.send_queued(engine, now=now)
    return JobReport(
        f"{summary.sent:,} sent, {summary.failed:,} failed ({summary.gave_up:,} given up), "
        f"{summary.waiting:,} waiting.",
        succeeded=not summary.failed,
    )


def prune_logs(engine: Engine, now: datetime) -> JobReport:
    """Delete the product events past the log retention; their daily totals stay."""
    deleted = log_retention.prune(engine, now)
    return JobReport(
        f"{deleted:,} product event{'' if deleted == 1 else 's'} older than the log "
        "retention deleted."
    )


def snapshot_scores(engine: Engine, now: datetime) -> JobReport:
    """Every registered number's score afresh (reports leave their window), kept as the day's
    point of its history."""
    taken = score_snapshot.snapshot(engine, now=now)
    return JobReport(
        f"{taken.numbers:,} number{'' if taken.numbers == 1 else 's'} of "
        f"{taken.organizations:,} organization{'' if taken.organizations == 1 else 's'} scored; "
        f"{taken.fell:,} fell into the spam bands."
    )


def prune_rate_limits(engine: Engine, now: datetime) -> JobReport:
    """Delete the API's rate-limit windows that ended long ago (every copy counts in them)."""
    deleted = rate_limits.prune(engine, now=now)
    return JobReport(f"{deleted:,} ended rate-limit window{'' if deleted == 1 else 's'} deleted.")


def flush_token_use(engine: Engine, now: datetime) -> JobReport:
    """Write when each API token was last used, as this process's calls noted it."""
    written = api_tokens.flush_last_used(engine)
    return JobReport(f"{written:,} API token{'’s' if written == 1 else 's’'} last use written.")


def refund_closed_balances(engine: Engine, now: datetime) -> JobReport:
    """Give closed organizations' balances back to their cards where the attempt right after
    the closing died or the card processor failed; staff are told what cannot go back."""
    summary = closing.refund_closed_balances(engine, now=now)
    return JobReport(
        f"{summary.refunded:,} closed organizations' balances refunded, "
        f"{summary.retrying:,} to try again, {summary.handed_to_staff:,} handed to staff.",
        succeeded=not summary.retrying,
    )


def check_domains(engine: Engine, now: datetime) -> JobReport:
    """Ask DNS again about the brand domains that are due, a bounded batch a run. Hourly, so
    that a record published after its domain was added verifies it within the hour, while
    each verified domain is asked about once a day; the batch spreads that over the day."""
    done = company.recheck_domains(engine, now=now)
    return JobReport(
        f"{done.checked:,} brand domain{'' if done.checked == 1 else 's'} checked: "
        f"{done.verified:,} verified, {done.unverified:,} no longer verified (their owners "
        f"and admins told), {done.unanswered:,} without an answer from DNS (left as they "
        f"were), {done.skipped:,} changed meanwhile; {done.left:,} left for the next runs."
    )


# --- The registry ----------------------------------------------------------------------------

JOBS: tuple[Job, ...] = (
    Job("invoices.run", "Monthly invoices", Monthly(day=1, hour=0, minute=5), invoice_run),
    Job("billing.recharge", "Auto-recharge sweep", Every(minutes=5), recharge_sweep),
    Job("billing.reconcile", "Pending payments reconciled", Every(minutes=5), reconcile_payments),
    Job("mail.send", "Queued e-mail sent", Every(minutes=1), send_mail),
    Job("logs.prune", "Old product events pruned", Daily(hour=3), prune_logs),
    Job("scores.snapshot", "Numbers' scores snapshot", Daily(hour=2, minute=30), snapshot_scores),
    Job("rate_limits.prune", "API rate-limit windows pruned", Every(minutes=10), prune_rate_limits),
    Job("api_tokens.flush", "API tokens' last use written", Every(minutes=1), flush_token_use),
    Job("closing.refunds", "Closed balances refunded", Every(minutes=5), refund_closed_balances),
    Job("brand.domains_check", "Brand domains re-checked", Every(minutes=60), check_domains),
    # New jobs go here, one entry each (``Daily(hour=…, minute=…)``, ``Every(minutes=…)``…).
)
