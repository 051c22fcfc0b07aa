"""My Profile: e-mail change by link, password change, and the security e-mails they send."""

from __future__ import annotations

import pytest

from portal_core import db
from portal_core.errors import AuthenticationFailed, ValidationFailed
from portal_core.models.access import EmailToken
from portal_core.services import accounts
from portal_core.services.accounts import VerifiedWhat
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
