"""Sending what the mail queue holds: the retries behind ``python -m portal_core mail send``
and the scheduler.

Each mail is tried right after the unit of work that queued it commits (``mail.queue_mail``);
what that attempt could not send waits here, further apart each time (``mail.retry_delay``),
until it is sent or its last attempt (``mail.MAX_ATTEMPTS``) fails. Then it stays in the
queue, marked failed, and every SIPSTACK staff user gets a notice naming the address, the
subject and the last error (never the body, which may hold a single-use link).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.mail import Delivery, deliver
from portal_core.models.base import utcnow
from portal_core.models.mail import QueuedMail
from portal_core.models.notices import NoticeKind
from portal_core.services import notices

SEND_LIMIT = 200  # a run's share: the next run (a minute later) takes the rest


@dataclass(frozen=True)
class SendSummary:
    """One run: mail sent; attempts that failed (retried later, or given up: ``gave_up``);
    and mail still waiting in the queue afterwards (for its back-off, or with another
    sender)."""

    sent: int
    failed: int
    waiting: int
    gave_up: int = 0


def send_queued(
    engine: Engine, *, now: datetime | None = None, limit: int = SEND_LIMIT
) -> SendSummary:
    """Try each mail due at ``now`` (oldest first, at most ``limit``), each claimed so that
    another sender running at the same time never sends it too."""
    now = now or utcnow()
    with db.read_session(engine) as session:
        due = session.exec(
            select(QueuedMail.id)
            .where(col(QueuedMail.next_attempt_at) <= now)
            .order_by(col(QueuedMail.next_attempt_at), col(QueuedMail.created_at))
            .limit(limit)
        ).all()
    outcomes = Counter(deliver(engine, mail_id, now=now, on_give_up=_tell_staff) for mail_id in due)
    with db.read_session(engine) as session:
        waiting = session.exec(
            select(func.count())
            .select_from(QueuedMail)
            .where(col(QueuedMail.next_attempt_at).is_not(None))
        ).one()
    return SendSummary(
        sent=outcomes[Delivery.SENT],
        failed=outcomes[Delivery.FAILED] + outcomes[Delivery.GAVE_UP],
        waiting=int(waiting),
        gave_up=outcomes[Delivery.GAVE_UP],
    )


def _tell_staff(session: Session, mail: QueuedMail) -> None:
    queued_at = mail.created_at.strftime("%Y-%m-%d %H:%M UTC")
    notices.post_for_staff(
        session,
        kind=NoticeKind.MAIL_UNDELIVERABLE,
        title=f"E-mail to {mail.to_address} could not be sent after {mail.attempts} attempts",
        body=(
            f"“{mail.subject}”, queued {queued_at}, was tried {mail.attempts} times and never "
            f"accepted; it will not be tried again. The last error: {mail.last_error}"
        ),
        dedupe_key=f"mail-undeliverable:{mail.id}",
        now=mail.failed_at,
    )
