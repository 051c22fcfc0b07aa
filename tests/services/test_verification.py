"""Verification links: single use, 24 hours, wrong ones refused; resend is rate-limited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal_core import db
from portal_core.errors import Conflict, NotFound
from portal_core.models.accounts import UserStatus
from portal_core.services import accounts, auth
from portal_core.services.accounts import VerifiedWhat
from tests.factories import actor_of
from tests.services.support import (
    mail_to,
    outbox,
    reload_user,
    sign_up,
    token_in,
    verify,
)

SIGNED_UP_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _resend(engine, user, *, now):
    with db.write_session(engine) as session:
        accounts.resend_verification(session, actor_of(user), now=now)


def test_verifying_activates_the_user(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)
    secret = token_in(outbox(outbox_dir)[0])
    verified_at = SIGNED_UP_AT + timedelta(hours=2)

    with db.write_session(engine) as session:
        what = accounts.verify_email(session, secret, now=verified_at)

    assert what == VerifiedWhat.SIGN_UP
    user = reload_user(engine, user.id)
    assert user.status == UserStatus.ACTIVE
    assert user.email_verified_at == verified_at


def test_a_link_works_once(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)
    secret = token_in(outbox(outbox_dir)[0])
    verify(engine, secret, now=SIGNED_UP_AT + timedelta(minutes=5))

    with pytest.raises(Conflict, match="already been used"):
        verify(engine, secret, now=SIGNED_UP_AT + timedelta(minutes=6))

    assert reload_user(engine, user.id).email_verified_at == SIGNED_UP_AT + timedelta(minutes=5)


def test_a_link_works_until_24_hours_have_passed(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)
    secret = token_in(outbox(outbox_dir)[0])

    with pytest.raises(Conflict, match="expired"):
        verify(engine, secret, now=SIGNED_UP_AT + timedelta(hours=24))
    assert reload_user(engine, user.id).status == UserStatus.UNVERIFIED

    verify(engine, secret, now=SIGNED_UP_AT + timedelta(hours=23, minutes=59))
    assert reload_user(engine, user.id).status == UserStatus.ACTIVE


@pytest.mark.parametrize("secret", ["not-a-real-token", "", "x" * 43])
def test_a_wrong_link_is_refused(engine, outbox_dir, secret):
    user = sign_up(engine, now=SIGNED_UP_AT)

    with pytest.raises(NotFound, match="not valid"):
        verify(engine, secret, now=SIGNED_UP_AT)

    assert reload_user(engine, user.id).status == UserStatus.UNVERIFIED


def test_a_password_reset_link_does_not_verify_an_email(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)
    with db.write_session(engine) as session:
        auth.request_password_reset(session, user.email, now=SIGNED_UP_AT)
    reset_secret = token_in(outbox(outbox_dir)[-1])

    with pytest.raises(NotFound):
        verify(engine, reset_secret, now=SIGNED_UP_AT)

    assert reload_user(engine, user.id).status == UserStatus.UNVERIFIED


def test_resend_waits_a_minute_between_links(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)

    with pytest.raises(Conflict, match="Wait a minute"):
        _resend(engine, user, now=SIGNED_UP_AT + timedelta(seconds=59))
    assert len(outbox(outbox_dir)) == 1

    _resend(engine, user, now=SIGNED_UP_AT + timedelta(seconds=61))
    messages = mail_to(outbox_dir, user.email)
    assert len(messages) == 2
    verify(engine, token_in(messages[1]), now=SIGNED_UP_AT + timedelta(minutes=2))
    assert reload_user(engine, user.id).status == UserStatus.ACTIVE


def test_resend_sends_at_most_five_links_a_day(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)
    for minutes in (2, 4, 6, 8):
        _resend(engine, user, now=SIGNED_UP_AT + timedelta(minutes=minutes))
    assert len(outbox(outbox_dir)) == 5

    with pytest.raises(Conflict, match="five links today"):
        _resend(engine, user, now=SIGNED_UP_AT + timedelta(hours=3))
    assert len(outbox(outbox_dir)) == 5

    _resend(engine, user, now=SIGNED_UP_AT + timedelta(days=1, minutes=9))
    assert len(outbox(outbox_dir)) == 6


def test_resend_is_refused_once_verified(engine, outbox_dir):
    user = sign_up(engine, now=SIGNED_UP_AT)
    verify(engine, token_in(outbox(outbox_dir)[0]), now=SIGNED_UP_AT)

    with pytest.raises(Conflict, match="already verified"):
        _resend(engine, user, now=SIGNED_UP_AT + timedelta(hours=1))
