"""Logging in: e-mail in any case, the password exactly as typed, one answer for every miss."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import AuthenticationFailed
from portal_core.models.access import LoginFailure, LoginSession
from portal_core.models.audit import AuditEvent
from portal_core.services import staff
from tests.factories import PASSWORD, actor_of, make_staff, make_user
from tests.services.support import count, log_in, outbox, sign_up, sign_up_form, token_in, verify

SPACED_PASSWORD = "  Tidal Pocket Orbit 93  "


@pytest.fixture
def user(engine):
    with db.write_session(engine) as session:
        return make_user(session, email="dana.price@example.com")


@pytest.mark.parametrize(
    "typed", ["dana.price@example.com", "DANA.PRICE@EXAMPLE.COM", "  Dana.Price@Example.com  "]
)
def test_the_email_is_case_insensitive(engine, user, typed):
    logged_in = log_in(engine, typed, PASSWORD)

    assert logged_in.view.user_id == user.id
    assert logged_in.view.email == "dana.price@example.com"


def test_the_password_is_taken_exactly_as_typed(engine, outbox_dir):
    form = sign_up_form(email="spaces@example.com", password=SPACED_PASSWORD)
    sign_up(engine, form)
    verify(engine, token_in(outbox(outbox_dir)[0]))

    for near_miss in (SPACED_PASSWORD.strip(), SPACED_PASSWORD + " ", SPACED_PASSWORD.lower()):
        with pytest.raises(AuthenticationFailed):
            log_in(engine, "spaces@example.com", near_miss)

    assert log_in(engine, "spaces@example.com", SPACED_PASSWORD).view.email == form.email


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(engine, user):
    with pytest.raises(AuthenticationFailed) as wrong_password:
        log_in(engine, user.email, "Not-The-Password-1")
    with pytest.raises(AuthenticationFailed) as unknown_email:
        log_in(engine, "nobody.here@example.com", PASSWORD)

    assert str(unknown_email.value) == str(wrong_password.value)
    assert unknown_email.value.status == wrong_password.value.status == 401


def test_a_failed_login_is_remembered_although_the_unit_of_work_rolls_back(engine, user):
    with pytest.raises(AuthenticationFailed):
        log_in(engine, user.email, "Not-The-Password-1", ip_address="192.0.2.44")

    with db.read_session(engine) as session:
        failure = session.exec(select(LoginFailure)).one()
        audited = session.exec(select(AuditEvent.action, AuditEvent.ip_address)).all()
    assert (failure.email, failure.ip_address) == (user.email, "192.0.2.44")
    assert ("login.failed", "192.0.2.44") in audited


def test_a_deactivated_user_is_refused_even_with_the_right_password(engine, user):
    with db.write_session(engine) as session:
        staff.set_user_active(
            session, actor_of(make_staff(session)), user.id, False, reason="left the company"
        )

    with pytest.raises(AuthenticationFailed, match="deactivated"):
        log_in(engine, user.email, PASSWORD)


def test_a_member_of_a_deactivated_organization_is_refused(engine, user):
    with db.write_session(engine) as session:
        staff.set_organization_active(
            session,
            actor_of(make_staff(session)),
            user.organization_id,
            False,
            reason="unpaid invoices",
        )

    with pytest.raises(AuthenticationFailed, match="deactivated"):
        log_in(engine, user.email, PASSWORD)


def test_a_reactivated_user_can_log_in_again(engine, user):
    with db.write_session(engine) as session:
        actor = actor_of(make_staff(session))
        staff.set_user_active(session, actor, user.id, False, reason="on leave")
    with db.write_session(engine) as session:
        staff.set_user_active(session, actor, user.id, True, reason="back from leave")

    assert log_in(engine, user.email, PASSWORD).view.user_id == user.id


def test_a_successful_login_is_audited_and_opens_one_session(engine, user):
    log_in(engine, user.email, PASSWORD, ip_address="192.0.2.9")

    assert count(engine, AuditEvent, AuditEvent.action == "login") == 1
    with db.read_session(engine) as session:
        sessions = session.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all()
    assert [row.ip_address for row in sessions] == ["192.0.2.9"]
