"""My Profile: e-mail change by link, password change, and the security e-mails they send."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import AuthenticationFailed, Throttled, ValidationFailed
from portal_core.models.access import EmailToken
from portal_core.models.audit import AuditEvent
from portal_core.services import accounts, sessions
from portal_core.services.accounts import VerifiedWhat
from tests import factories
from tests.factories import PASSWORD, actor_of, make_user
from tests.services.support import (
    OTHER_STRONG_PASSWORD,
    body_of,
    count,
    log_in,
    mail_to,
    outbox,
    reload_user,
    token_in,
)

OLD = "jo.ortiz@example.com"
NEW = "jo@northwind.example"


@pytest.fixture
def user(engine):
    with db.write_session(engine) as session:
        return make_user(session, email=OLD, name="Jo Ortiz")


def _request_change(engine, user, new_email=NEW, password=PASSWORD):
    with db.write_session(engine) as session:
        accounts.request_email_change(session, actor_of(user), new_email, password)


def _change_password(engine, user, *, current=PASSWORD, new=OTHER_STRONG_PASSWORD):
    with db.write_session(engine) as session:
        accounts.change_password(
            session,
            actor_of(user),
            current_password=current,
            new_password=new,
            keep_session_handle=None,
        )


def test_a_new_email_counts_only_after_its_link_is_used(engine, outbox_dir, user):
    _request_change(engine, user, new_email="  JO@Northwind.example ")

    (confirmation,) = mail_to(outbox_dir, NEW)
    assert reload_user(engine, user.id).email == OLD
    assert log_in(engine, OLD, PASSWORD).view.user_id == user.id
    with pytest.raises(AuthenticationFailed):
        log_in(engine, NEW, PASSWORD)

    with db.write_session(engine) as session:
        what = accounts.verify_email(session, token_in(confirmation))

    assert what == VerifiedWhat.NEW_EMAIL
    assert reload_user(engine, user.id).email == NEW
    assert log_in(engine, NEW, PASSWORD).view.user_id == user.id
    with pytest.raises(AuthenticationFailed):
        log_in(engine, OLD, PASSWORD)


def test_the_old_address_is_told_that_the_email_changed(engine, outbox_dir, user):
    _request_change(engine, user)
    assert mail_to(outbox_dir, OLD) == []

    with db.write_session(engine) as session:
        accounts.verify_email(session, token_in(mail_to(outbox_dir, NEW)[0]))

    (notice,) = mail_to(outbox_dir, OLD)
    assert notice["Subject"] == "Your SIPSTACK e-mail was changed"
    assert NEW in body_of(notice)


def test_a_wrong_current_password_refuses_the_email_change(engine, outbox_dir, user):
    with pytest.raises(ValidationFailed) as raised:
        _request_change(engine, user, password="Not-My-Password-4")

    assert set(raised.value.errors) == {"current_password"}
    assert outbox(outbox_dir) == []
    assert count(engine, EmailToken) == 0


@pytest.mark.parametrize(
    ("new_email", "words"),
    [("not an address", "valid e-mail"), (OLD.upper(), "already your e-mail")],
)
def test_a_bad_new_email_is_refused(engine, outbox_dir, user, new_email, words):
    with pytest.raises(ValidationFailed) as raised:
        _request_change(engine, user, new_email=new_email)

    assert words in raised.value.errors["email"]
    assert outbox(outbox_dir) == []


def test_an_address_taken_by_another_account_gets_the_same_answer(engine, outbox_dir, user):
    with db.write_session(engine) as session:
        other = make_user(session, email=NEW)

    _request_change(engine, user)

    assert count(engine, EmailToken) == 0
    (message,) = mail_to(outbox_dir, NEW)
    assert "?token=" not in body_of(message)
    assert reload_user(engine, user.id).email == OLD
    assert reload_user(engine, other.id).email == NEW


def test_a_password_change_sends_a_security_email(engine, outbox_dir, user):
    _change_password(engine, user)

    (message,) = outbox(outbox_dir)
    assert message["To"] == OLD
    assert message["Subject"] == "Your SIPSTACK password was changed"
    assert log_in(engine, OLD, OTHER_STRONG_PASSWORD).view.user_id == user.id
    with pytest.raises(AuthenticationFailed):
        log_in(engine, OLD, PASSWORD)


@pytest.mark.parametrize(
    ("current", "new", "field"),
    [
        ("Not-My-Password-4", OTHER_STRONG_PASSWORD, "current_password"),
        (PASSWORD, "password1", "new_password"),
        (PASSWORD, "Jo-Ortiz-Example", "new_password"),
        (PASSWORD, PASSWORD, "new_password"),
    ],
)
def test_a_refused_password_change_changes_nothing_and_sends_nothing(
    engine, outbox_dir, user, current, new, field
):
    with pytest.raises(ValidationFailed) as raised:
        _change_password(engine, user, current=current, new=new)

    assert set(raised.value.errors) == {field}
    assert outbox(outbox_dir) == []
    assert log_in(engine, OLD, PASSWORD).view.user_id == user.id


# --- The current password is throttled like a login ----------------------------------------

THIEF = "203.0.113.66"
HOME = "198.51.100.10"
WRONG = "Not-My-Password-4"


def _confirm_with_password(engine, user, form, password, *, handle, ip_address):
    """My Profile's form ``form`` ("email" or "password"), sent from ``ip_address`` in the
    session ``handle`` with ``password`` as the current password."""
    with db.write_session(engine) as session:
        if form == "email":
            accounts.request_email_change(
                session,
                actor_of(user),
                NEW,
                password,
                ip_address=ip_address,
                session_handle=handle,
            )
        else:
            accounts.change_password(
                session,
                actor_of(user),
                current_password=password,
                new_password=OTHER_STRONG_PASSWORD,
                keep_session_handle=handle,
                ip_address=ip_address,
            )


def _alive(engine, handle):
    with db.read_session(engine) as session:
        return sessions.resolve(session, handle) is not None


@pytest.mark.parametrize("form", ["email", "password"])
def test_five_wrong_current_passwords_end_the_session_and_lock_the_account_there(
    engine, outbox_dir, user, form
):
    handle = factories.log_in(engine, user, ip_address=THIEF)
    for _ in range(4):
        with pytest.raises(ValidationFailed):
            _confirm_with_password(engine, user, form, WRONG, handle=handle, ip_address=THIEF)
    assert _alive(engine, handle)

    with pytest.raises(AuthenticationFailed) as raised:
        _confirm_with_password(engine, user, form, WRONG, handle=handle, ip_address=THIEF)

    assert "logged out" in raised.value.message
    assert not _alive(engine, handle)
    with pytest.raises(Throttled):
        log_in(engine, OLD, PASSWORD, ip_address=THIEF)
    assert outbox(outbox_dir) == []
    assert log_in(engine, OLD, PASSWORD, ip_address=HOME).view.user_id == user.id


@pytest.mark.parametrize("form", ["email", "password"])
def test_failed_logins_and_wrong_current_passwords_count_together(engine, user, form):
    handle = factories.log_in(engine, user, ip_address=THIEF)
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            log_in(engine, OLD, WRONG, ip_address=THIEF)
    with pytest.raises(ValidationFailed):
        _confirm_with_password(engine, user, form, WRONG, handle=handle, ip_address=THIEF)

    with pytest.raises(AuthenticationFailed):
        _confirm_with_password(engine, user, form, WRONG, handle=handle, ip_address=THIEF)

    assert not _alive(engine, handle)


@pytest.mark.parametrize("form", ["email", "password"])
def test_past_the_limit_even_the_right_current_password_is_refused(engine, outbox_dir, user, form):
    handle = factories.log_in(engine, user, ip_address=THIEF)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            log_in(engine, OLD, WRONG, ip_address=THIEF)

    with pytest.raises(Throttled):
        _confirm_with_password(engine, user, form, PASSWORD, handle=handle, ip_address=THIEF)

    assert outbox(outbox_dir) == []
    assert log_in(engine, OLD, PASSWORD, ip_address=HOME).view.user_id == user.id


def test_a_wrong_current_password_is_audited(engine, user):
    handle = factories.log_in(engine, user, ip_address=THIEF)

    with pytest.raises(ValidationFailed):
        _confirm_with_password(engine, user, "password", WRONG, handle=handle, ip_address=THIEF)

    with db.read_session(engine) as session:
        actions = session.exec(
            select(AuditEvent.action, AuditEvent.ip_address).where(
                AuditEvent.action == "password.check_failed"
            )
        ).all()
    assert [tuple(row) for row in actions] == [("password.check_failed", THIEF)]
