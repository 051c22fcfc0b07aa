"""Sending e-mail: by SMTP when ``SMTP_HOST`` is set, else into a local outbox.

The outbox is a folder of ``.eml`` files under ``data/outbox`` (a developer reads it with
``python -m portal_core outbox``). Services never send inside a transaction: they hand the
message to ``send_after_commit`` so a rolled-back sign-up sends nothing.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import idna
from sqlmodel import Session

from portal_core.db import after_commit
from portal_core.models.base import utcnow
from portal_core.settings import Settings, get_settings


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


def build_message(mail: Mail, settings: Settings) -> EmailMessage:
    to = _wire_address(mail.to)
    # A non-ASCII local part can only be written in UTF-8 (RFC 6532; smtplib then asks the
    # server for SMTPUTF8): the default policy would put encoded-words inside the address,
    # which is no address at all.
    message = EmailMessage(policy=policy.default if to.isascii() else policy.SMTPUTF8)
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="portal.sipstack.test")
    message.set_content(mail.body)
    return message


def _wire_address(address: str) -> str:
    """``address`` as mail carries it: its domain as the ASCII A-label every server accepts
    (bücher.example → xn--bcher-kva.example), the local part as it is."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address


def send(mail: Mail, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    message = build_message(mail, settings)
    if settings.uses_smtp:
        _send_smtp(message, settings)
    else:
        write_to_outbox(message, settings.outbox_dir)


def send_after_commit(session: Session, mail: Mail) -> None:
    after_commit(session, lambda: send(mail))


def _send_smtp(message: EmailMessage, settings: Settings) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)


def write_to_outbox(message: EmailMessage, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
    message_id = str(message["Message-ID"]).strip("<>").split("@")[0]
    path = folder / f"{stamp}-{message_id}.eml"
    path.write_bytes(bytes(message))
    return path


def outbox_messages(folder: Path) -> list[EmailMessage]:
    """The outbox, oldest first."""
    from email import policy
    from email.parser import BytesParser

    parser = BytesParser(policy=policy.default)
    messages = []
    for path in sorted(folder.glob("*.eml")):
        parsed = parser.parsebytes(path.read_bytes())
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages
