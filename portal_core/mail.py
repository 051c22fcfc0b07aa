"""Sending e-mail: by SMTP when ``SMTP_HOST`` is set, else into a local outbox; and the mail
queue that every e-mail of the portal goes through.

Services never send inside a transaction: they queue the message with ``queue_mail`` (the
same function as ``send_after_commit``), a row of ``mail_queue`` written in their own unit of
work, so a rolled-back sign-up queues nothing and a committed top-up cannot lose its receipt.
Right after the commit, the process that queued a mail tries to send it (a verification
link never waits for a scheduler); what fails stays queued with its error and is retried,
further apart each time, by ``services.mail_queue.send_queued`` (``python -m portal_core mail
send`` and the scheduler), until ``MAX_ATTEMPTS``. A failure to send is never raised into
the caller: the money already moved, and the partner must not see an error for it.

Every attempt first claims the mail with one UPDATE that moves it a lease ahead, so two
senders (two portal processes, or the portal and ``mail send``) never send one mail twice;
a sender that dies mid-send leaves it to be claimed again when the lease is over. Once sent,
the body (which may hold a single-use link) is erased; the address and the subject stay.

The outbox is a folder of ``.eml`` files under ``data/outbox`` (a developer reads it with
``python -m portal_core outbox``): where mail lands without SMTP, the queue still in front of it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import cast

import idna
from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, update
from sqlmodel import Session

from portal_core import db
from portal_core.models.base import utcnow
from portal_core.models.mail import QueuedMail
from portal_core.settings import Settings, get_settings

log = logging.getLogger(__name__)

# Ten attempts, the first right after the commit, then 1, 2, 4 … minutes apart and at most
# four hours: about eight hours, enough to ride out a mail server's bad night.
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=4)
# Longer than an SMTP conversation can last (20 s a step, a handful of steps), so a lease only
# runs out on a sender that died or hangs.
LEASE = timedelta(minutes=10)

_queue = cast(Table, QueuedMail.__table__)  # type: ignore[attr-defined]


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


def queue_mail(target: Session | Connection, mail: Mail) -> None:
    """Queue ``mail`` in the caller's unit of work, and try to send it once that commits.

    ``target`` is a session from ``db.write_session``, its ``session.connection()``, or a
    connection from ``db.write_connection`` (one Core INSERT: the meter's path can afford it).
    Nothing is queued if the unit of work rolls back. The attempt after the commit never
    raises: what it cannot send stays queued for ``send_queued``.
    """
    mail_id = uuid.uuid4()
    now = utcnow()
    db.after_commit(target, partial(_send_after_commit, _engine_of(target), mail_id))
    target.execute(
        _queue.insert(),
        {
            "id": mail_id,
            "to_address": mail.to,
            "subject": mail.subject,
            "body": mail.body,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        },
    )


send_after_commit = queue_mail


def _engine_of(target: Session | Connection) -> Engine:
    bind = target.engine if isinstance(target, Connection) else target.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _send_after_commit(engine: Engine, mail_id: uuid.UUID) -> None:
    deliver(engine, mail_id)


class Delivery(StrEnum):
    """What one attempt at a queued mail came to."""

    SENT = "sent"
    FAILED = "failed"  # queued again, for after its back-off
    GAVE_UP = "gave_up"  # that was the last attempt
    NOT_DUE = "not_due"  # sent, given up, being sent by another sender, or not due yet


GiveUp = Callable[[Session, QueuedMail], None]


@dataclass(frozen=True)
class _Claim:
    mail_id: uuid.UUID
    attempt: int
    mail: Mail


def retry_delay(attempts: int) -> timedelta:
    """How long a mail waits after its ``attempts``-th failed attempt (see ``MAX_ATTEMPTS``)."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def deliver(
    engine: Engine,
    mail_id: uuid.UUID,
    *,
    now: datetime | None = None,
    on_give_up: GiveUp | None = None,
) -> Delivery:
    """One attempt at the queued mail ``mail_id``, if it is due at ``now`` and no other sender
    has it: claim, send, record. A failure is recorded (and logged), not raised.

    The attempt that reaches ``MAX_ATTEMPTS`` gives the mail up only when ``on_give_up`` is
    given: it runs in the transaction that marks the mail failed (``send_queued`` tells staff
    there). Without it the mail simply waits again.
    """
    now = now or utcnow()
    claim = _claim(engine, mail_id, now)
    if claim is None:
        return Delivery.NOT_DUE
    try:
        send(claim.mail)
    except Exception as error:
        return _record_failure(engine, claim, error, now, on_give_up)
    _record_sent(engine, claim, now)
    return Delivery.SENT


def _claim(engine: Engine, mail_id: uuid.UUID, now: datetime) -> _Claim | None:
    # One statement decides: on PostgreSQL a second claimant waits for the first one's row lock
    # and then finds the row no longer due; SQLite lets one writer in at a time.
    with db.write_connection(engine) as connection:
        row = connection.execute(
            update(_queue)
            .where(_queue.c.id == mail_id, _queue.c.next_attempt_at <= now)
            .values(next_attempt_at=now + LEASE, attempts=_queue.c.attempts + 1)
            .returning(_queue.c.to_address, _queue.c.subject, _queue.c.body, _queue.c.attempts)
        ).first()
    if row is None:
        return None
    to, subject, body, attempt = row
    return _Claim(mail_id, int(attempt), Mail(to=to, subject=subject, body=body or ""))


def _this_claim(claim: _Claim) -> ColumnElement[bool]:
    # Whoever claimed the mail since (our lease ran out) owns it now: leave their row alone.
    return and_(_queue.c.id == claim.mail_id, _queue.c.attempts == claim.attempt)


def _record_sent(engine: Engine, claim: _Claim, now: datetime) -> None:
    with db.write_connection(engine) as connection:
        connection.execute(
            update(_queue)
            .where(_this_claim(claim))
            .values(sent_at=now, body=None, next_attempt_at=None, last_error=None)
        )


def _record_failure(
    engine: Engine, claim: _Claim, error: Exception, now: datetime, on_give_up: GiveUp | None
) -> Delivery:
    reason = f"{type(error).__name__}: {error}".strip()[:500]
    last = claim.attempt >= MAX_ATTEMPTS and on_give_up is not None
    log.warning(
        "Sending e-mail %s to %s failed (attempt %d of %d%s): %s",
        claim.mail_id,
        claim.mail.to,
        claim.attempt,
        MAX_ATTEMPTS,
        ", given up" if last else "",
        reason,
    )
    changes: dict[str, object] = {"last_error": reason}
    if last:
        changes.update(next_attempt_at=None, failed_at=now)
    else:
        changes.update(next_attempt_at=now + retry_delay(claim.attempt))
    with db.write_session(engine) as session:
        result = session.execute(
            update(_queue)
            .where(_this_claim(claim))
            .values(**changes)
            .execution_options(preserve_rowcount=True)
        )
        recorded = int(getattr(result, "rowcount", 0) or 0) == 1
        if last and recorded and on_give_up is not None:
            row = session.get(QueuedMail, claim.mail_id)
            assert row is not None
            on_give_up(session, row)
    return Delivery.GAVE_UP if last and recorded else Delivery.FAILED


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
