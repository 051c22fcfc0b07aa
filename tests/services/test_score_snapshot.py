"""The daily snapshot of scores: a report that left its window stops counting, every active
number gets today's point of history (once, however often it runs), batches add up to the
whole, the owners' carrier scores are taken afresh, and a fall into the spam bands alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select, update

from portal_core import db
from portal_core.models.accounts import Organization
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.products import NumberScore, ReportKind, WhoisProfile
from portal_core.services import reports, score_snapshot
from portal_core.services.jobs import JOBS
from tests.services.products_support import member, register
from tests.services.support import count, fetch

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=91)


def _report(engine, number: str, *, now: datetime) -> None:
    reporter = member(engine)
    with db.write_session(engine) as session:
        reports.report(session, reporter.actor, number=number, kind=ReportKind.SPAM, now=now)


def test_a_report_that_left_its_window_stops_counting(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW)
    clean = fetch(engine, WhoisProfile, profile.id).score_millis
    _report(engine, "+14169671111", now=NOW)
    reported = fetch(engine, WhoisProfile, profile.id).score_millis
    assert clean is not None and reported is not None and reported < clean
    taken = score_snapshot.snapshot(engine, now=LATER)
    assert (taken.organizations, taken.numbers) == (1, 1)
    assert fetch(engine, WhoisProfile, profile.id).score_millis == clean
    assert fetch(engine, Organization, owner.organization_id).carrier_score_millis == 2500
    with db.read_session(engine) as session:
        days = session.exec(
            select(col(NumberScore.day), col(NumberScore.score_millis)).order_by(
                col(NumberScore.day)
            )
        ).all()
    assert [(day.isoformat(), millis) for day, millis in days] == [
        ("2026-11-16", reported),
        ("2027-02-15", clean),
    ]


def test_batches_score_every_number_once_a_day(engine) -> None:
    owners = [member(engine) for _ in range(3)]
    numbers = ["+14169671111", "+14169671112", "+14169671113", "+14169671114", "+14169671115"]
    for index, number in enumerate(numbers):
        register(engine, owners[index % 3], number, now=NOW)
    first = score_snapshot.snapshot(engine, now=LATER, batch=2)
    again = score_snapshot.snapshot(engine, now=LATER + timedelta(hours=1), batch=2)
    assert (first.numbers, first.organizations) == (5, 3)
    assert again.numbers == 5
    later_day = (LATER.date(),)
    with db.read_session(engine) as session:
        points = session.exec(select(NumberScore).where(col(NumberScore.day) == later_day[0])).all()
    assert sorted(point.number for point in points) == numbers
    assert count(engine, NumberScore) == 10  # registration day and the snapshot's, one each


def test_a_fall_into_the_spam_bands_alerts_the_watchers(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW)
    for _ in range(3):
        _report(engine, "+14169671111", now=LATER)
    # As if the stored score had not followed (a score stored before the model changed).
    with db.write_session(engine) as session:
        session.execute(update(WhoisProfile).values(score_millis=3000))
        session.execute(update(Notice).values(kind=NoticeKind.PAYMENT_FAILED))
    taken = score_snapshot.snapshot(engine, now=LATER + timedelta(minutes=5))
    assert taken.fell == 1
    assert (fetch(engine, WhoisProfile, profile.id).score_millis or 0) < 2500
    with db.read_session(engine) as session:
        alerts = session.exec(
            select(Notice).where(col(Notice.kind) == NoticeKind.REPUTATION_ALERT)
        ).all()
    assert [notice.user_id for notice in alerts] == [owner.actor.user_id]


def test_nothing_registered_scores_nothing(engine) -> None:
    assert score_snapshot.snapshot(engine, now=NOW) == score_snapshot.Snapshot(0, 0, 0)


def test_the_snapshot_is_a_daily_job() -> None:
    [job] = [job for job in JOBS if job.name == "scores.snapshot"]
    assert job.title == "Numbers' scores snapshot"
