"""Get Started: validation by field, what a valid sign-up creates, and no account enumeration."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import ValidationFailed
from portal_core.models.access import EmailToken, TokenPurpose
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.billing import BillingAccount
from portal_core.services import accounts
from portal_core.services.secrets import digest
from portal_core.settings import get_settings
from portal_core.terms import current_terms
from tests.services.support import (
    STRONG_PASSWORD,
    body_of,
    count,
    log_in,
    mail_to,
    outbox,
    sign_up,
    sign_up_form,
    token_in,
)


def _nothing_created(engine: Any, outbox_dir: Any) -> None:
    assert count(engine, Organization) == 0
    assert count(engine, User) == 0
    assert count(engine, BillingAccount) == 0
    assert count(engine, EmailToken) == 0
    assert outbox(outbox_dir) == []


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"email": "not-an-email"}, "email", "valid e-mail address"),
        ({"email": "name@"}, "email", "valid e-mail address"),
        ({"email": "   "}, "email", "Enter your e-mail address"),
        ({"email": "a" * 250 + "@example.com"}, "email", "too long"),
        ({"password": "password1"}, "password", "harder password"),
        ({"password": "qwertyuiop"}, "password", "harder password"),
        ({"password": "Tq9!zr"}, "password", "at least 8 characters"),
        ({"password": "Zebra-Quilt-Mosaic-42-" * 12}, "password", "at most 256 characters"),
        ({"password": "Okonkwo-Marguerite-1"}, "password", "your name, e-mail or company"),
        ({"password": "Northwind.Voice.2026"}, "password", "your name, e-mail or company"),
        ({"accepted_terms": False}, "accepted_terms", "Terms of Service"),
        ({"name": "  "}, "name", "Enter your name"),
        ({"company": ""}, "company", "Enter your company's name"),
        ({"name": "N" * 121}, "name", "at most 120 characters"),
        ({"company": "C" * 121}, "company", "at most 120 characters"),
        ({"name": "Bad\x00Name"}, "name", "not allowed"),
    ],
)
def test_each_bad_field_gets_its_message_and_nothing_is_created(
    engine, outbox_dir, changes, field, words
):
    with pytest.raises(ValidationFailed) as raised:
        with db.write_session(engine) as session:
            accounts.sign_up(session, sign_up_form(**changes))

    assert set(raised.value.errors) == {field}
    assert words in raised.value.errors[field]
    _nothing_created(engine, outbox_dir)


def test_every_bad_field_is_reported_at_once(engine, outbox_dir):
    form = sign_up_form(name="", email="nope", company="", password="short", accepted_terms=False)

    with pytest.raises(ValidationFailed) as raised:
        with db.write_session(engine) as session:
            accounts.sign_up(session, form)

    assert set(raised.value.errors) == {"name", "email", "company", "password", "accepted_terms"}
    _nothing_created(engine, outbox_dir)


def test_a_valid_sign_up_makes_an_unverified_owner_an_organization_and_a_billing_account(
    engine, outbox_dir
):
    form = sign_up_form(email="  Marguerite.Okonkwo@Example.COM ", company="  Northwind Voice ")

    user = sign_up(engine, form)

    assert user.email == "marguerite.okonkwo@example.com"
    assert user.name == "Marguerite Okonkwo"
    assert user.role == Role.OWNER
    assert user.status == UserStatus.UNVERIFIED
    assert user.email_verified_at is None
    assert user.tos_version == current_terms().version
    assert user.password_hash != STRONG_PASSWORD
    with db.read_session(engine) as session:
        organization = session.get(Organization, user.organization_id)
        assert organization is not None
        assert organization.name == "Northwind Voice"
        assert organization.activated_at is None
        account = session.get(BillingAccount, organization.id)
        assert account is not None
        assert account.balance_micros == 0
    assert count(engine, Organization) == 1
    assert count(engine, User) == 1


def test_a_valid_sign_up_sends_one_email_with_a_working_verification_link(engine, outbox_dir):
    user = sign_up(engine)

    messages = outbox(outbox_dir)
    assert len(messages) == 1
    assert messages[0]["To"] == user.email
    assert "Verify your e-mail" in messages[0]["Subject"]
    link_prefix = f"{get_settings().public_url.rstrip('/')}/verify_email?token="
    assert link_prefix in body_of(messages[0])
    secret = token_in(messages[0])
    with db.read_session(engine) as session:
        token = session.exec(select(EmailToken).where(EmailToken.user_id == user.id)).one()
    assert token.purpose == TokenPurpose.VERIFY_EMAIL
    assert token.token_hash == digest(secret)
    assert secret not in token.token_hash


def test_an_already_registered_email_gets_the_same_answer_and_creates_nothing(engine, outbox_dir):
    first = sign_up(engine, sign_up_form(email="owner@example.com"))
    again = sign_up_form(
        email="  OWNER@Example.com ", company="Someone Else Ltd", password=STRONG_PASSWORD
    )

    with db.write_session(engine) as session:
        accounts.sign_up(session, again)  # no exception: the same answer as for a new address

    assert count(engine, Organization) == 1
    assert count(engine, User) == 1
    assert count(engine, BillingAccount) == 1
    assert count(engine, EmailToken) == 1
    messages = mail_to(outbox_dir, "owner@example.com")
    assert [message["Subject"] for message in messages] == [
        "Verify your e-mail for the SIPSTACK Partner Portal",
        "Someone tried to sign up with your e-mail",
    ]
    assert "?token=" not in body_of(messages[1])
    assert log_in(engine, "owner@example.com", STRONG_PASSWORD).view.user_id == first.id


def test_a_second_sign_up_does_not_change_the_existing_password(engine, outbox_dir):
    sign_up(engine, sign_up_form(email="owner@example.com"))

    with db.write_session(engine) as session:
        accounts.sign_up(
            session, sign_up_form(email="owner@example.com", password="Saffron-Trellis-Nimbus-58")
        )

    assert log_in(engine, "owner@example.com", STRONG_PASSWORD).handle
