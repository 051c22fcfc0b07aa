"""Community reports: one per organization per number per 30 days, not of one's own numbers;
each moves the number's stored score and its owner's carrier score at once; staff remove one
with a reason and both move back; a number falling into the spam bands alerts those who
watch its reputation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select, update

from portal_core import db
from portal_core.errors import Conflict, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.products import CommunityReport, ReportKind, WhoisProfile
from portal_core.services import reports
from tests.factories import actor_of, make_staff
from tests.services.products_support import look_up, member, register
from tests.services.support import count, fetch, outbox

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def _report(engine, who, number: str, kind: ReportKind = ReportKind.SPAM, *, now=NOW, comment=""):
    with db.write_session(engine) as session:
        return reports.report(
            session, who.actor, number=number, kind=kind, comment=comment, now=now
        )


def test_a_report_counts_in_the_score_of_a_number_nobody_registered(engine) -> None:
    reporter = member(engine)
    _report(engine, reporter, "+1 416 967 1111")
    caller = member(engine)
    result = look_up(engine, caller, "+14169671111", now=NOW + timedelta(minutes=1))
    assert result.score.millis == 2500 - 250
    assert any(
        factor.key == "reports" and factor.effect_millis == -250 for factor in result.score.factors
    )


def test_one_report_per_organization_per_number_every_30_days(engine) -> None:
    reporter = member(engine)
    _report(engine, reporter, "+14169671111")
    with pytest.raises(Conflict) as again:
        _report(engine, reporter, "416-967-1111", ReportKind.SAFE, now=NOW + timedelta(days=29))
    assert "one report per number every 30 days" in again.value.message
    assert "December 16, 2026" in again.value.message
    _report(engine, reporter, "+14169671111", now=NOW + timedelta(days=30, seconds=1))
    colleague = member(engine, organization_id=reporter.organization_id)
    with pytest.raises(Conflict):
        _report(engine, colleague, "+14169671111", now=NOW + timedelta(days=31))
    assert count(engine, CommunityReport) == 2


def test_an_organization_cannot_report_its_own_number(engine) -> None:
    owner = member(engine)
    register(engine, owner, "+14169671111")
    with pytest.raises(Conflict):
        _report(engine, owner, "+14169671111")
    assert count(engine, CommunityReport) == 0


def test_bad_input_is_refused_and_nothing_is_written(engine) -> None:
    reporter = member(engine)
    with pytest.raises(ValidationFailed):
        _report(engine, reporter, "not a number")
    with pytest.raises(ValidationFailed) as long_comment:
        _report(engine, reporter, "+14169671111", comment="x" * 301)
    assert "comment" in long_comment.value.errors
    viewer = member(engine, role=Role.VIEWER, organization_id=reporter.organization_id)
    with pytest.raises(PermissionDenied):
        _report(engine, viewer, "+14169671111")
    assert count(engine, CommunityReport) == 0


def test_a_report_moves_the_stored_score_and_the_owners_carrier_score(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW)
    before = fetch(engine, WhoisProfile, profile.id).score_millis
    carrier_before = fetch(engine, Organization, owner.organization_id).carrier_score_millis
    _report(engine, member(engine), "+14169671111")
    after = fetch(engine, WhoisProfile, profile.id).score_millis
    carrier_after = fetch(engine, Organization, owner.organization_id).carrier_score_millis
    assert carrier_before == 2500 and carrier_after == 2400  # −0.100 per net spam report
    # −0.250 for the report, and 0.3 × (2.4 − 2.5) / 2.5 = −0.012 through the carrier score.
    assert before is not None and after == before - 250 - 12


def test_staff_remove_a_report_with_a_reason_and_the_scores_move_back(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW)
    before = fetch(engine, WhoisProfile, profile.id).score_millis
    made = _report(engine, member(engine), "+14169671111")
    with db.write_session(engine) as session:
        staff = actor_of(make_staff(session))
    with pytest.raises(ValidationFailed):
        with db.write_session(engine) as session:
            reports.remove(session, staff, made.id, reason="  ")
    with db.write_session(engine) as session:
        reports.remove(session, staff, made.id, reason="A competitor's campaign", now=NOW)
    removed = fetch(engine, CommunityReport, made.id)
    assert removed.removed_reason == "A competitor's campaign"
    assert fetch(engine, WhoisProfile, profile.id).score_millis == before
    with pytest.raises(Conflict):
        with db.write_session(engine) as session:
            reports.remove(session, staff, made.id, reason="again", now=NOW)
    with pytest.raises(PermissionDenied):
        with db.write_session(engine) as session:
            reports.remove(session, owner.actor, made.id, reason="mine")


def test_a_number_falling_into_the_spam_bands_alerts_its_watchers_once(engine, outbox_dir) -> None:
    owner = member(engine)
    watcher = member(engine, role=Role.VIEWER, organization_id=owner.organization_id)
    quiet = member(engine, role=Role.DEVELOPER, organization_id=owner.organization_id)
    billing = member(engine, role=Role.BILLING, organization_id=owner.organization_id)
    with db.write_session(engine) as session:
        session.execute(
            update(User).where(col(User.id) == quiet.actor.user_id).values(notify_reputation=False)
        )
    profile = register(engine, owner, "+14169671111", now=NOW)
    assert fetch(engine, WhoisProfile, profile.id).score_millis == 2900
    reporters = [member(engine) for _ in range(3)]

    def alerts() -> list[Notice]:
        with db.read_session(engine) as session:
            kind = col(Notice.kind) == NoticeKind.REPUTATION_ALERT
            return list(session.exec(select(Notice).where(kind)))

    # One report: 2.900 − 0.250 − 0.012 (the carrier score's share) = 2.638, still above.
    _report(engine, reporters[0], "+14169671111")
    assert fetch(engine, WhoisProfile, profile.id).score_millis == 2638
    assert alerts() == []
    # Two: 2.900 − 0.500 − 0.024 = 2.376, in the spam bands: the watchers hear it at once.
    _report(engine, reporters[1], "+14169671111")
    assert fetch(engine, WhoisProfile, profile.id).score_millis == 2376
    alerted = {notice.user_id for notice in alerts()}
    assert alerted == {owner.actor.user_id, watcher.actor.user_id}
    assert billing.actor.user_id not in alerted and quiet.actor.user_id not in alerted
    assert all("2.376 (Spam Likely)" in notice.title for notice in alerts())
    subjects = [message["Subject"] for message in outbox(outbox_dir)]
    assert sum("reputation alert" in subject for subject in subjects) == 2
    # A third falls further within the spam bands: no new alert.
    _report(engine, reporters[2], "+14169671111")
    assert len(alerts()) == 2
