"""The jobs' registry: schedules in the billing time zone, their due times and their words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal_core.models.jobs import ScheduledJob
from portal_core.services.jobs import JOBS, Daily, Every, Monthly, ScheduleTrigger, next_due

TORONTO = ZoneInfo("America/Toronto")
VANCOUVER = ZoneInfo("America/Vancouver")
FIRST_AT_0005 = Monthly(day=1, hour=0, minute=5)


def test_the_monthly_run_is_due_on_the_1st_at_0005_in_the_billing_time_zone() -> None:
    mid_november = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

    assert next_due(FIRST_AT_0005, TORONTO, mid_november) == datetime(
        2026, 12, 1, 0, 5, tzinfo=TORONTO
    )
    assert next_due(FIRST_AT_0005, VANCOUVER, mid_november) == datetime(
        2026, 12, 1, 0, 5, tzinfo=VANCOUVER
    )


def test_a_due_time_is_strictly_after_the_instant_given() -> None:
    due = datetime(2026, 12, 1, 0, 5, tzinfo=TORONTO)

    assert next_due(FIRST_AT_0005, TORONTO, due) == datetime(2027, 1, 1, 0, 5, tzinfo=TORONTO)
    assert next_due(FIRST_AT_0005, TORONTO, due - timedelta(microseconds=1)) == due


def test_due_times_follow_daylight_saving_time() -> None:
    # Toronto is UTC-4 in summer and UTC-5 in winter: 00:05 local moves in UTC.
    summer = next_due(FIRST_AT_0005, TORONTO, datetime(2026, 7, 15, tzinfo=UTC))
    winter = next_due(FIRST_AT_0005, TORONTO, datetime(2026, 12, 15, tzinfo=UTC))

    assert (summer.hour, winter.hour) == (4, 5)
    assert summer.tzinfo == UTC


def test_the_month_after_the_spring_forward_night_keeps_its_due_time() -> None:
    # Toronto springs forward on 2027-03-14: a month (or a day) that crosses that night is an
    # hour shorter in UTC, and the due time after it is still 00:05 local, not skipped.
    march_1st = datetime(2027, 3, 1, 0, 5, tzinfo=TORONTO)

    assert next_due(FIRST_AT_0005, TORONTO, march_1st) == datetime(2027, 4, 1, 0, 5, tzinfo=TORONTO)
    assert next_due(FIRST_AT_0005, TORONTO, datetime(2027, 3, 2, tzinfo=TORONTO)) == datetime(
        2027, 4, 1, 0, 5, tzinfo=TORONTO
    )


def test_the_day_after_the_spring_forward_night_keeps_its_due_time() -> None:
    daily = Daily(hour=0, minute=5)
    spring_forward_day = datetime(2027, 3, 14, 0, 5, tzinfo=TORONTO)

    assert next_due(daily, TORONTO, spring_forward_day) == datetime(
        2027, 3, 15, 0, 5, tzinfo=TORONTO
    )


def test_a_daily_time_in_the_hour_that_does_not_exist_runs_once_that_day() -> None:
    # 02:30 does not exist in Toronto on 2027-03-14 (02:00 becomes 03:00): it runs at 03:30.
    daily = Daily(hour=2, minute=30)

    assert next_due(daily, TORONTO, datetime(2027, 3, 13, 12, tzinfo=TORONTO)) == datetime(
        2027, 3, 14, 7, 30, tzinfo=UTC
    )
    assert next_due(daily, TORONTO, datetime(2027, 3, 14, 7, 30, tzinfo=UTC)) == datetime(
        2027, 3, 15, 2, 30, tzinfo=TORONTO
    )


def test_a_daily_time_in_the_hour_that_repeats_runs_once_that_day() -> None:
    # 01:30 happens twice in Toronto on 2026-11-01 (02:00 becomes 01:00 again).
    daily = Daily(hour=1, minute=30)

    first = next_due(daily, TORONTO, datetime(2026, 10, 31, 12, tzinfo=TORONTO))
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first one
    assert next_due(daily, TORONTO, first) == datetime(2026, 11, 2, 1, 30, tzinfo=TORONTO)


def test_every_five_minutes_falls_on_the_clocks_multiples_of_five() -> None:
    every = Every(minutes=5)

    assert next_due(every, TORONTO, datetime(2026, 11, 15, 12, 3, 20, tzinfo=UTC)) == datetime(
        2026, 11, 15, 12, 5, tzinfo=UTC
    )
    assert next_due(every, TORONTO, datetime(2026, 11, 15, 12, 5, tzinfo=UTC)) == datetime(
        2026, 11, 15, 12, 10, tzinfo=UTC
    )


def test_daily_is_due_at_its_time_each_day() -> None:
    assert next_due(Daily(hour=2, minute=30), TORONTO, datetime(2026, 11, 15, 8, tzinfo=UTC)) == (
        datetime(2026, 11, 16, 2, 30, tzinfo=TORONTO)
    )


def test_the_trigger_wakes_at_a_due_time_that_is_now_and_then_at_the_next() -> None:
    trigger = ScheduleTrigger(FIRST_AT_0005, TORONTO)
    due = datetime(2026, 12, 1, 0, 5, tzinfo=TORONTO)

    assert trigger.get_next_fire_time(None, due) == due
    assert trigger.get_next_fire_time(None, due + timedelta(seconds=1)) == datetime(
        2027, 1, 1, 0, 5, tzinfo=TORONTO
    )
    assert trigger.get_next_fire_time(due, due + timedelta(days=40)) == datetime(
        2027, 1, 1, 0, 5, tzinfo=TORONTO
    )
    assert str(trigger) == "On the 1st of each month at 00:05 (America/Toronto)"


def test_a_monthly_day_that_some_months_lack_is_refused() -> None:
    with pytest.raises(ValueError, match="day 1 to 28"):
        Monthly(day=31)


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (FIRST_AT_0005, "On the 1st of each month at 00:05"),
        (Monthly(day=2, hour=6), "On the 2nd of each month at 06:00"),
        (Monthly(day=3), "On the 3rd of each month at 00:00"),
        (Monthly(day=11, hour=23, minute=59), "On the 11th of each month at 23:59"),
        (Monthly(day=22), "On the 22nd of each month at 00:00"),
        (Daily(hour=2, minute=30), "Every day at 02:30"),
        (Every(minutes=1), "Every minute"),
        (Every(minutes=5), "Every 5 minutes"),
    ],
)
def test_schedules_read_in_words(schedule: Monthly | Daily | Every, words: str) -> None:
    assert schedule.describe() == words


def test_the_registry_has_the_invoice_run_the_sweep_reconciliation_the_mail_queue_and_pruning() -> (
    None
):
    by_name = {job.name: job for job in JOBS}

    assert len(by_name) == len(JOBS)
    assert by_name["invoices.run"].schedule == FIRST_AT_0005
    assert by_name["billing.recharge"].schedule == Every(minutes=5)
    assert by_name["billing.reconcile"].schedule == Every(minutes=5)
    assert by_name["mail.send"].schedule == Every(minutes=1)
    assert by_name["logs.prune"].schedule == Daily(hour=3)
    assert by_name["api_tokens.flush"].schedule == Every(minutes=1)
    width = ScheduledJob.model_fields["name"].metadata[0].max_length
    assert all(len(name) <= width for name in by_name)
