"""Internationalised e-mail addresses: one account whatever the Unicode form typed, and mail
that names the address validly (RFC 6531/6532: UTF-8 headers, the domain's A-label)."""

from __future__ import annotations

import socket
import unicodedata
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from portal_core import db
from portal_core.errors import Conflict, ValidationFailed
from portal_core.models.accounts import User
from portal_core.services import accounts, staff
from portal_core.settings import get_settings
from tests.factories import PASSWORD, actor_of, make_user
from tests.services.support import STRONG_PASSWORD, count, log_in, outbox, sign_up, sign_up_form

COMPOSED = unicodedata.normalize("NFC", "josé.müller@example.com")
DECOMPOSED = unicodedata.normalize("NFD", "josé.müller@example.com")


def test_the_two_unicode_forms_differ_as_typed():
    assert COMPOSED != DECOMPOSED


def test_signing_up_in_the_other_form_makes_no_second_account(engine, outbox_dir):
    sign_up(engine, sign_up_form(email=COMPOSED))

    with db.write_session(engine) as session:
        accounts.sign_up(session, sign_up_form(email=DECOMPOSED))

    assert count(engine, User) == 1
    with db.read_session(engine) as session:
        (user,) = session.exec(select(User)).all()
    assert user.email == COMPOSED
    attempt = outbox(outbox_dir)[-1]
    assert attempt["Subject"] == "Someone tried to sign up with your e-mail"


@pytest.mark.parametrize("stored", [COMPOSED, DECOMPOSED], ids=["composed", "decomposed"])
def test_the_address_is_stored_composed(engine, stored):
    sign_up(engine, sign_up_form(email=stored.upper()))

    with db.read_session(engine) as session:
        (email,) = session.exec(select(User.email)).all()
    assert email == COMPOSED


@pytest.mark.parametrize("typed", [COMPOSED, DECOMPOSED], ids=["composed", "decomposed"])
def test_either_form_logs_in(engine, typed):
    with db.write_session(engine) as session:
        user = make_user(session, email=COMPOSED)

    assert log_in(engine, typed, PASSWORD).view.user_id == user.id


def test_changing_to_the_other_form_of_ones_own_address_is_refused(engine, outbox_dir):
    with db.write_session(engine) as session:
        user = make_user(session, email=COMPOSED)

    with pytest.raises(ValidationFailed) as raised, db.write_session(engine) as session:
        accounts.request_email_change(session, actor_of(user), DECOMPOSED, PASSWORD)

    assert raised.value.errors == {"email": "That is already your e-mail address."}
    assert outbox(outbox_dir) == []


def test_a_staff_user_in_the_other_form_is_refused_as_existing(engine):
    with db.write_session(engine) as session:
        staff.create_staff(session, COMPOSED, "José", STRONG_PASSWORD)

    with pytest.raises(Conflict), db.write_session(engine) as session:
        staff.create_staff(session, DECOMPOSED, "José", STRONG_PASSWORD)

    assert count(engine, User) == 1


# --- The mail sent to such an address --------------------------------------------------------


def _raw_header(raw: bytes, name: str) -> bytes:
    (line,) = [line for line in raw.split(b"\n") if line.startswith(name.encode() + b":")]
    return line.rstrip(b"\r")


def test_the_outbox_names_a_non_ascii_recipient_in_utf8_not_in_encoded_words(engine, outbox_dir):
    sign_up(engine, sign_up_form(email=DECOMPOSED))

    (path,) = outbox_dir.glob("*.eml")
    raw = path.read_bytes()
    assert _raw_header(raw, "To") == f"To: {COMPOSED}".encode()
    (message,) = outbox(outbox_dir)
    assert message["To"] == COMPOSED


def test_an_internationalised_domain_is_written_as_its_a_label(engine, outbox_dir):
    sign_up(engine, sign_up_form(email="ana@bücher.example.com"))

    (path,) = outbox_dir.glob("*.eml")
    assert _raw_header(path.read_bytes(), "To") == b"To: ana@xn--bcher-kva.example.com"


def test_an_ascii_address_is_written_as_before(engine, outbox_dir):
    sign_up(engine, sign_up_form(email="plain@example.com"))

    (path,) = outbox_dir.glob("*.eml")
    raw = path.read_bytes()
    assert _raw_header(raw, "To") == b"To: plain@example.com"
    assert raw.isascii()


class _Collector:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.SMTPUTF8)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def utf8_smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Collector]:
    collector = _Collector()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(collector, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    get_settings.cache_clear()
    try:
        yield collector
    finally:
        controller.stop()
        get_settings.cache_clear()


def test_smtp_delivers_to_a_non_ascii_address_with_smtputf8(engine, utf8_smtp_server):
    sign_up(engine, sign_up_form(email=DECOMPOSED))

    ((recipients, message),) = utf8_smtp_server.received
    assert recipients == [COMPOSED]
    assert str(message["To"]) == COMPOSED
