"""Mail: by SMTP when configured (a real SMTP server on loopback), else into the outbox; and
never for a unit of work that rolls back."""

from __future__ import annotations

import pytest

from portal_core import db, emails
from portal_core.errors import ValidationFailed
from portal_core.mail import send_after_commit
from portal_core.models.accounts import User
from portal_core.services import accounts
from portal_core.settings import get_settings
from tests.services.support import count, fetch, outbox, sign_up, sign_up_form, token_in, verify


def test_with_smtp_settings_the_verification_email_goes_to_the_smtp_server(
    engine, smtp_server, outbox_dir
):
    user = sign_up(engine, sign_up_form(email="smtp.owner@example.com"))

    ((mail_from, recipients, message),) = smtp_server.received
    assert recipients == ["smtp.owner@example.com"]
    assert mail_from == "no-reply@sipstack.test"
    assert message["Subject"] == "Verify your e-mail for the SIPSTACK Partner Portal"
    assert outbox(outbox_dir) == []
    verify(engine, token_in(message))
    assert fetch(engine, User, user.id).email_verified_at is not None


def test_without_smtp_settings_mail_lands_in_the_outbox(engine, outbox_dir):
    assert not get_settings().uses_smtp

    user = sign_up(engine)

    (message,) = outbox(outbox_dir)
    assert message["To"] == user.email
    assert message["From"] == get_settings().mail_from
    assert message["Message-ID"]
    assert message["Date"]


def test_nothing_is_sent_when_the_unit_of_work_rolls_back(engine, outbox_dir):
    with pytest.raises(RuntimeError):
        with db.write_session(engine) as session:
            accounts.sign_up(session, sign_up_form())
            send_after_commit(session, emails.password_changed("someone@example.com"))
            raise RuntimeError("something failed after the mail was queued")

    assert outbox(outbox_dir) == []
    assert count(engine, User) == 0


def test_nothing_is_sent_by_smtp_when_the_unit_of_work_rolls_back(engine, smtp_server):
    with pytest.raises(ValidationFailed):
        with db.write_session(engine) as session:
            accounts.sign_up(session, sign_up_form())
            # A second, invalid sign-up in the same unit of work fails it all.
            accounts.sign_up(session, sign_up_form(email="not-an-address"))

    assert smtp_server.received == []
    assert count(engine, User) == 0
