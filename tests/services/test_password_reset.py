"""Forgotten passwords: an e-mailed link, single use, one hour; nothing told to strangers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal_core import db
from portal_core.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from portal_core.models.access import EmailToken, LoginFailure
from portal_core.services import auth, sessions
from portal_core.settings import get_settings
from tests.factories import PASSWORD, make_user
from tests.services.support import (
    OTHER_STRONG_PASSWORD,
    body_of,
    count,
    log_in,
    mail_to,
    outbox,
    token_in,
)

T0 = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def user(engine):
    with db.write_session(engine) as session:
        return make_user(session, email="riley.chen@example.com", name="Riley Chen")


def _request(engine, email, *, now=T0):
    with db.write_session(engine) as session:
        auth.request_password_reset(session, email, now=now)


def _reset(engine, secret, password, *, now=T0 + timedelta(minutes=5)):
    with db.write_session(engine) as session:
        auth.reset_password(session, secret, password, now=now)


def _requested_secret(engine, outbox_dir, user):
    _request(engine, user.email)
    (message,) = [m for m in mail_to(outbox_dir, user.email) if "Reset" in m["Subject"]]
    return token_in(message)


def test_an_unknown_email_sends_nothing_and_raises_nothing(engine, outbox_dir, user):
    _request(engine, "stranger@example.com")

    assert outbox(outbox_dir) == []
    assert count(engine, EmailToken) == 0


def test_a_known_email_gets_one_message_with_a_link(engine, outbox_dir, user):
    _request(engine, "  Riley.Chen@EXAMPLE.com ")

    (message,) = outbox(outbox_dir)
    assert message["To"] == user.email
    assert f"{get_settings().public_url.rstrip('/')}/reset_password?token=" in body_of(message)
    assert token_in(message)


def test_the_password_does_not_change_until_the_link_is_used(engine, outbox_dir, user):
    secret = _requested_secret(engine, outbox_dir, user)

    assert log_in(engine, user.email, PASSWORD, now=T0).view.user_id == user.id

    _reset(engine, secret, OTHER_STRONG_PASSWORD)
    with pytest.raises(AuthenticationFailed):
        log_in(engine, user.email, PASSWORD, now=T0 + timedelta(minutes=6))
    assert log_in(engine, user.email, OTHER_STRONG_PASSWORD, now=T0).view.user_id == user.id


def test_the_link_works_once(engine, outbox_dir, user):
    secret = _requested_secret(engine, outbox_dir, user)
    _reset(engine, secret, OTHER_STRONG_PASSWORD)

    with pytest.raises(Conflict, match="already been used"):
        _reset(engine, secret, "Harbor-Mosaic-Tundra-12")

    assert log_in(engine, user.email, OTHER_STRONG_PASSWORD, now=T0).view.user_id == user.id


def test_the_link_expires_after_one_hour(engine, outbox_dir, user):
    secret = _requested_secret(engine, outbox_dir, user)

    with pytest.raises(Conflict, match="expired"):
        _reset(engine, secret, OTHER_STRONG_PASSWORD, now=T0 + timedelta(hours=1))

    _reset(engine, secret, OTHER_STRONG_PASSWORD, now=T0 + timedelta(minutes=59))
    assert log_in(engine, user.email, OTHER_STRONG_PASSWORD, now=T0).view.user_id == user.id


def test_a_wrong_link_is_refused(engine, outbox_dir, user):
    with pytest.raises(NotFound):
        _reset(engine, "made-up-token", OTHER_STRONG_PASSWORD)


def test_a_weak_new_password_is_refused_and_the_same_link_then_works(engine, outbox_dir, user):
    secret = _requested_secret(engine, outbox_dir, user)

    for weak in ("password1", "short", "Riley-Chen-2026"):
        with pytest.raises(ValidationFailed) as raised:
            _reset(engine, secret, weak)
        assert set(raised.value.errors) == {"new_password"}
    assert log_in(engine, user.email, PASSWORD, now=T0).view.user_id == user.id

    _reset(engine, secret, OTHER_STRONG_PASSWORD)
    assert log_in(engine, user.email, OTHER_STRONG_PASSWORD, now=T0).view.user_id == user.id


def test_every_session_ends_after_a_reset(engine, outbox_dir, user):
    handles = [log_in(engine, user.email, PASSWORD, now=T0).handle for _ in range(2)]
    secret = _requested_secret(engine, outbox_dir, user)

    _reset(engine, secret, OTHER_STRONG_PASSWORD)

    with db.read_session(engine) as session:
        assert [sessions.resolve(session, h, now=T0 + timedelta(minutes=6)) for h in handles] == [
            None,
            None,
        ]


def test_a_reset_clears_the_throttle_and_says_so_by_email(engine, outbox_dir, user):
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            log_in(engine, user.email, "Wrong-Password-9", now=T0)
    secret = _requested_secret(engine, outbox_dir, user)

    _reset(engine, secret, OTHER_STRONG_PASSWORD)

    assert count(engine, LoginFailure) == 0
    assert log_in(engine, user.email, OTHER_STRONG_PASSWORD, now=T0).view.user_id == user.id
    subjects = [message["Subject"] for message in mail_to(outbox_dir, user.email)]
    assert "Your SIPSTACK password was changed" in subjects


def test_at_most_three_links_an_hour(engine, outbox_dir, user):
    for minutes in range(5):
        _request(engine, user.email, now=T0 + timedelta(minutes=minutes))

    assert len(outbox(outbox_dir)) == 3
    _request(engine, user.email, now=T0 + timedelta(hours=1, minutes=1))
    assert len(outbox(outbox_dir)) == 4
