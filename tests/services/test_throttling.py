"""Login throttling: locks by e-mail and address, by e-mail, by address; every lock expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col

from portal_core import db
from portal_core.errors import AuthenticationFailed, Throttled
from portal_core.models.access import LoginFailure
from portal_core.services import auth
from tests.factories import PASSWORD, make_user
from tests.services.support import count, log_in

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
HOME = "198.51.100.10"
WRONG = "Not-The-Password-1"


@pytest.fixture
def user(engine):
    with db.write_session(engine) as session:
        return make_user(session, email="sam.okafor@example.com")


def _fail(engine, email, *, ip_address, now=T0, times=1):
    for _ in range(times):
        with pytest.raises(AuthenticationFailed):
            log_in(engine, email, WRONG, ip_address=ip_address, now=now)


def test_five_failures_lock_the_email_and_address_even_for_the_right_password(engine, user):
    _fail(engine, user.email, ip_address=HOME, times=5)

    with pytest.raises(Throttled) as raised:
        log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0)

    assert str(raised.value) == (
        "Too many failed attempts. Try again in 15 minutes, or reset your password."
    )
    assert raised.value.retry_after_seconds == 15 * 60
    assert raised.value.status == 429


def test_four_failures_do_not_lock(engine, user):
    _fail(engine, user.email, ip_address=HOME, times=4)

    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0).view.user_id == user.id


def test_the_wait_shrinks_as_the_window_passes(engine, user):
    _fail(engine, user.email, ip_address=HOME, times=5)

    with pytest.raises(Throttled) as raised:
        log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0 + timedelta(minutes=14))

    assert "Try again in 1 minute," in str(raised.value)
    assert 0 < raised.value.retry_after_seconds <= 60


def test_the_lock_expires_when_the_window_passes(engine, user):
    _fail(engine, user.email, ip_address=HOME, times=5)

    later = T0 + timedelta(minutes=16)
    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=later).view.user_id == user.id


def test_a_throttled_attempt_is_not_counted_as_another_failure(engine, user):
    _fail(engine, user.email, ip_address=HOME, times=5)
    for minutes in range(1, 15):
        with pytest.raises(Throttled):
            log_in(engine, user.email, WRONG, ip_address=HOME, now=T0 + timedelta(minutes=minutes))

    assert count(engine, LoginFailure) == 5
    later = T0 + timedelta(minutes=15, seconds=1)
    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=later).handle


def test_failures_from_another_address_do_not_lock_the_user_out_of_their_own(engine, user):
    _fail(engine, user.email, ip_address="203.0.113.66", times=5)

    with pytest.raises(Throttled):
        log_in(engine, user.email, PASSWORD, ip_address="203.0.113.66", now=T0)
    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0).view.user_id == user.id


def test_fifty_failures_from_many_addresses_lock_the_account_everywhere_for_a_while(engine, user):
    for attacker in range(10):
        _fail(engine, user.email, ip_address=f"203.0.113.{attacker}", times=5)

    with pytest.raises(Throttled):
        log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0)
    later = T0 + timedelta(minutes=16)
    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=later).view.user_id == user.id


def test_forty_nine_failures_from_elsewhere_leave_the_users_own_address_open(engine, user):
    for attacker in range(10):
        _fail(engine, user.email, ip_address=f"203.0.113.{attacker}", times=5 if attacker else 4)

    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0).view.user_id == user.id


def test_twenty_failures_from_one_address_lock_that_address_for_every_email(engine, user):
    attacker = "203.0.113.200"
    for guess in range(20):
        _fail(engine, f"someone{guess}@example.com", ip_address=attacker)

    with pytest.raises(Throttled):
        log_in(engine, user.email, PASSWORD, ip_address=attacker, now=T0)
    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0).view.user_id == user.id


def test_an_unknown_email_is_throttled_like_a_known_one(engine):
    _fail(engine, "nobody@example.com", ip_address=HOME, times=5)

    with pytest.raises(Throttled):
        log_in(engine, "nobody@example.com", WRONG, ip_address=HOME, now=T0)


def test_a_success_clears_the_failures_made_from_its_own_address(engine, user):
    _fail(engine, user.email, ip_address=HOME, times=4)

    log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0)

    assert count(engine, LoginFailure, col(LoginFailure.email) == user.email) == 0
    _fail(engine, user.email, ip_address=HOME, times=4)
    assert log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0).view.user_id == user.id


def test_a_success_leaves_the_failures_made_from_other_addresses(engine, user):
    attacker = "203.0.113.5"
    _fail(engine, user.email, ip_address=attacker, times=4)

    log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0)

    assert count(engine, LoginFailure, col(LoginFailure.ip_address) == attacker) == 4
    _fail(engine, user.email, ip_address=attacker)
    with pytest.raises(Throttled):
        log_in(engine, user.email, WRONG, ip_address=attacker, now=T0)


def test_the_owners_success_does_not_reset_the_count_toward_the_account_wide_lock(engine, user):
    for attacker in range(9):
        _fail(engine, user.email, ip_address=f"203.0.113.{attacker}", times=5)
    _fail(engine, user.email, ip_address="203.0.113.99", times=4)

    log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0)
    _fail(engine, user.email, ip_address="203.0.113.100")

    with pytest.raises(Throttled):
        log_in(engine, user.email, PASSWORD, ip_address=HOME, now=T0)


# --- Without an address (a direct connection on the loopback, or a proxy not trusted) -----


def _fail_unseen(engine, email, *, times=1, now=T0):
    for _ in range(times):
        with pytest.raises(AuthenticationFailed), db.write_session(engine) as session:
            auth.log_in(session, email, WRONG, ip_address=None, now=now)


def _log_in_unseen(engine, email, password=PASSWORD, *, now=T0):
    with db.write_session(engine) as session:
        return auth.log_in(session, email, password, ip_address=None, now=now)


def test_without_an_address_made_up_emails_lock_no_other_account(engine, user):
    for guess in range(25):
        _fail_unseen(engine, f"someone{guess}@example.com")

    assert _log_in_unseen(engine, user.email).view.user_id == user.id


def test_without_an_address_the_account_is_still_locked_after_five_failures(engine, user):
    _fail_unseen(engine, user.email, times=5)

    with pytest.raises(Throttled):
        _log_in_unseen(engine, user.email)


def test_without_an_address_a_success_clears_no_failure(engine, user):
    # Every client without an address looks the same: a success cannot tell whose
    # failures are whose, so it keeps them all.
    _fail_unseen(engine, user.email, times=4)

    _log_in_unseen(engine, user.email)
    _fail_unseen(engine, user.email)

    with pytest.raises(Throttled):
        _log_in_unseen(engine, user.email)


def test_forget_expired_failures_deletes_only_those_outside_the_window(engine, user):
    _fail(engine, user.email, ip_address=HOME, now=T0, times=3)
    _fail(engine, user.email, ip_address=HOME, now=T0 + timedelta(minutes=10), times=2)

    with db.write_session(engine) as session:
        forgotten = auth.forget_expired_failures(session, now=T0 + timedelta(minutes=16))

    assert forgotten == 3
    assert count(engine, LoginFailure) == 2
