"""Server-side sessions (docs/architecture.md, rule 7): the database decides whether a session
lives."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from portal_core import db
from portal_core.errors import AuthenticationFailed
from portal_core.models.access import LoginSession
from portal_core.models.accounts import Role
from portal_core.services import accounts, auth, sessions, staff
from portal_core.settings import get_settings
from tests.factories import PASSWORD, actor_of, make_organization, make_staff, make_user
from tests.services.support import OTHER_STRONG_PASSWORD, log_in

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def user(engine):
    with db.write_session(engine) as session:
        return make_user(session, role=Role.ADMIN)


def _open(engine, user, *, now=T0):
    return log_in(engine, user.email, PASSWORD, now=now).handle


def _resolve(engine, handle, *, now=T0 + timedelta(minutes=1)):
    with db.read_session(engine) as session:
        return sessions.resolve(session, handle, now=now)


def _staff_actor(engine):
    with db.write_session(engine) as session:
        return actor_of(make_staff(session))


def test_a_live_handle_resolves_to_its_user(engine, user):
    handle = _open(engine, user)

    view = _resolve(engine, handle, now=T0 + timedelta(hours=1))

    assert view is not None
    assert (view.user_id, view.email, view.role) == (user.id, user.email, Role.ADMIN)
    assert view.organization_id == user.organization_id
    assert view.actor == actor_of(user)


def test_after_log_out_the_same_handle_is_refused(engine, user):
    handle = _open(engine, user)
    other = _open(engine, user)

    with db.write_session(engine) as session:
        auth.log_out(session, handle, now=T0 + timedelta(minutes=1))

    assert _resolve(engine, handle, now=T0 + timedelta(minutes=2)) is None
    assert _resolve(engine, other, now=T0 + timedelta(minutes=2)) is not None


def test_a_password_change_ends_every_other_session_but_keeps_this_one(engine, user):
    current, laptop, phone = (_open(engine, user) for _ in range(3))

    with db.write_session(engine) as session:
        accounts.change_password(
            session,
            actor_of(user),
            current_password=PASSWORD,
            new_password=OTHER_STRONG_PASSWORD,
            keep_session_handle=current,
            now=T0 + timedelta(minutes=1),
        )

    later = T0 + timedelta(minutes=2)
    assert _resolve(engine, current, now=later) is not None
    assert _resolve(engine, laptop, now=later) is None
    assert _resolve(engine, phone, now=later) is None


def test_log_out_other_sessions_ends_all_but_the_current_one(engine, user):
    current, laptop, phone = (_open(engine, user) for _ in range(3))
    with db.write_session(engine) as session:
        someone_else = make_user(session)
    theirs = _open(engine, someone_else)

    with db.write_session(engine) as session:
        ended = auth.log_out_other_sessions(session, current, now=T0 + timedelta(minutes=1))

    assert ended == 2
    later = T0 + timedelta(minutes=2)
    assert _resolve(engine, current, now=later) is not None
    assert _resolve(engine, laptop, now=later) is None
    assert _resolve(engine, phone, now=later) is None
    assert _resolve(engine, theirs, now=later) is not None


def test_log_out_other_sessions_needs_a_live_session(engine, user):
    handle = _open(engine, user)
    with db.write_session(engine) as session:
        auth.log_out(session, handle, now=T0)

    with pytest.raises(AuthenticationFailed):
        with db.write_session(engine) as session:
            auth.log_out_other_sessions(session, handle, now=T0)


def test_deactivating_a_user_ends_their_sessions_for_good(engine, user):
    handles = [_open(engine, user) for _ in range(2)]
    actor = _staff_actor(engine)

    with db.write_session(engine) as session:
        staff.set_user_active(session, actor, user.id, False, reason="left the company")
    with db.write_session(engine) as session:
        staff.set_user_active(session, actor, user.id, True, reason="rehired")

    # Reactivation does not revive the old sessions: they ended, not just paused.
    assert [_resolve(engine, handle) for handle in handles] == [None, None]
    with db.read_session(engine) as session:
        reasons = session.exec(
            select(LoginSession.ended_reason).where(LoginSession.user_id == user.id)
        ).all()
    assert reasons == ["deactivated", "deactivated"]


def test_deactivating_an_organization_ends_every_members_sessions(engine):
    with db.write_session(engine) as session:
        organization = make_organization(session)
        members = [
            make_user(session, organization=organization, role=role)
            for role in (Role.OWNER, Role.DEVELOPER, Role.VIEWER)
        ]
        outsider = make_user(session)
    member_handles = [_open(engine, member) for member in members]
    outsider_handle = _open(engine, outsider)
    actor = _staff_actor(engine)

    with db.write_session(engine) as session:
        staff.set_organization_active(session, actor, organization.id, False, reason="fraud")
    with db.write_session(engine) as session:
        staff.set_organization_active(session, actor, organization.id, True, reason="cleared")

    assert [_resolve(engine, handle) for handle in member_handles] == [None, None, None]
    assert _resolve(engine, outsider_handle) is not None


def test_an_expired_session_is_refused(engine, user):
    handle = _open(engine, user, now=T0)
    lifetime = timedelta(days=get_settings().cookie_expiry_days)
    with db.write_session(engine) as session:
        # Kept busy, so only the expiry can end it.
        sessions.touch(session, handle, now=T0 + lifetime - timedelta(days=1))

    assert _resolve(engine, handle, now=T0 + lifetime - timedelta(seconds=1)) is not None
    assert _resolve(engine, handle, now=T0 + lifetime) is None


def test_an_idle_session_is_refused_and_activity_keeps_one_alive(engine, user, monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_DAYS", "1")
    get_settings.cache_clear()
    idle = _open(engine, user, now=T0)
    busy = _open(engine, user, now=T0)
    with db.write_session(engine) as session:
        sessions.touch(session, busy, now=T0 + timedelta(hours=12))

    a_day_later = T0 + timedelta(days=1, seconds=1)
    assert _resolve(engine, idle, now=a_day_later) is None
    assert _resolve(engine, busy, now=a_day_later) is not None


def test_touch_records_activity_at_most_every_few_minutes(engine, user):
    handle = _open(engine, user, now=T0)

    with db.write_session(engine) as session:
        sessions.touch(session, handle, now=T0 + timedelta(minutes=1))
    assert _resolve(engine, handle, now=T0 + timedelta(minutes=2)).last_seen_at == T0

    with db.write_session(engine) as session:
        sessions.touch(session, handle, now=T0 + timedelta(minutes=6))
    seen = _resolve(engine, handle, now=T0 + timedelta(minutes=7)).last_seen_at
    assert seen == T0 + timedelta(minutes=6)


def test_a_random_handle_is_refused(engine, user):
    _open(engine, user)

    assert _resolve(engine, secrets.token_urlsafe(32)) is None
    assert _resolve(engine, "") is None


def test_the_database_keeps_only_the_sha256_of_a_handle(engine, user):
    handle = _open(engine, user)

    with db.read_session(engine) as session:
        stored = session.exec(select(LoginSession.handle_hash)).one()
        every_value = [
            str(value)
            for table in SQLModel.metadata.sorted_tables
            for row in session.execute(sa_select(table)).all()
            for value in row
        ]
    assert stored == hashlib.sha256(handle.encode()).hexdigest()
    assert not [value for value in every_value if handle in value]


def test_live_session_count_counts_only_live_sessions(engine, user):
    kept, ended = _open(engine, user), _open(engine, user)
    with db.write_session(engine) as session:
        auth.log_out(session, ended, now=T0)

    with db.read_session(engine) as session:
        assert sessions.live_session_count(session, user.id, now=T0) == 1
        live = session.exec(
            select(LoginSession.id).where(col(LoginSession.ended_at).is_(None))
        ).all()
    assert len(live) == 1
    assert kept
