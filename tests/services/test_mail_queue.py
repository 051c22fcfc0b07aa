"""The mail queue: e-mail is queued in the unit of work that causes it, tried right after the
commit by the process that queued it, retried with a back-off by ``send_queued`` (``mail
send`` and the scheduler), erased once sent, claimed so two senders never send one mail twice,
and after the last attempt kept as failed with a notice to staff. A mail server's trouble
never turns a committed action (a top-up) into an error."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import col, select

from portal_core import db, emails, mail
from portal_core.mail import MAX_ATTEMPTS, Mail, queue_mail, send_after_commit
from portal_core.models.accounts import User
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount
from portal_core.models.mail import QueuedMail
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import Payment, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.queries import notices as notice_queries
from portal_core.services import accounts
from portal_core.services.mail_queue import SendSummary, send_queued
from portal_core.services.payments import top_ups
from tests.factories import actor_of, make_card, make_staff, make_user, organization_of
from tests.services.support import (
    body_of,
    count,
    fetch,
    outbox,
    race,
    sign_up,
    sign_up_form,
    token_in,
    verify,
)


def queued(engine) -> list[QueuedMail]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(QueuedMail).order_by(col(QueuedMail.created_at), col(QueuedMail.to_address))
            ).all()
        )


def queue(engine, *mails: Mail) -> None:
    with db.write_session(engine) as session:
        for each in mails:
            queue_mail(session, each)


def a_mail(number: int = 1) -> Mail:
    return Mail(
        to=f"partner{number}@example.com",
        subject=f"Message {number}",
        body=f"Follow https://portal.example/reset?token=secret{number} within the hour.",
    )


# --- After the money moved, nothing may show an error ------------------------------------------


def test_an_smtp_failure_after_a_top_up_leaves_it_credited_and_its_receipt_queued(
    engine, smtp_server
):
    with db.write_session(engine) as session:
        owner = make_user(session)
        card = make_card(session, organization_of(session, owner))
    smtp_server.refusing = True

    with db.write_session(engine) as session:
        payment = top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=2_500,
            idempotency_key=uuid.uuid4().hex,
        )

    assert fetch(engine, Payment, payment.id).status == PaymentStatus.SUCCEEDED
    account = fetch(engine, BillingAccount, owner.organization_id)
    assert account.balance_micros == 2_500 * MICROS_PER_CENT
    assert smtp_server.received == []
    (receipt,) = queued(engine)
    assert receipt.to_address == owner.email
    assert receipt.sent_at is None and receipt.failed_at is None
    assert receipt.attempts == 1  # tried once, right after the commit
    assert receipt.last_error is not None and "451" in receipt.last_error
    assert receipt.next_attempt_at is not None and receipt.next_attempt_at > utcnow()
    assert receipt.body is not None and "$25.00" in receipt.body  # kept for the retry


def test_mail_send_retries_the_receipt_then_erases_its_body(engine, smtp_server):
    with db.write_session(engine) as session:
        owner = make_user(session)
        card = make_card(session, organization_of(session, owner))
    smtp_server.refusing = True
    with db.write_session(engine) as session:
        top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=2_500,
            idempotency_key=uuid.uuid4().hex,
        )
    smtp_server.refusing = False

    summary = send_queued(engine, now=utcnow() + timedelta(hours=1))

    assert summary == SendSummary(sent=1, failed=0, waiting=0)
    ((_sender, recipients, message),) = smtp_server.received
    assert recipients == [owner.email]
    assert "$25.00" in body_of(message)
    (receipt,) = queued(engine)
    assert receipt.sent_at is not None and receipt.attempts == 2
    assert receipt.body is None  # erased once sent
    assert receipt.next_attempt_at is None  # never due again
    assert send_queued(engine, now=utcnow() + timedelta(hours=2)) == SendSummary(0, 0, 0)
    assert len(smtp_server.received) == 1


# --- Sent right after the commit, without the scheduler ----------------------------------------


def test_the_verification_email_is_sent_as_soon_as_sign_up_commits(engine, smtp_server):
    user = sign_up(engine, sign_up_form(email="right.away@example.com"))

    ((_sender, recipients, message),) = smtp_server.received
    assert recipients == ["right.away@example.com"]
    (sent,) = queued(engine)
    assert sent.sent_at is not None and sent.attempts == 1
    assert sent.body is None  # the single-use link is gone from the database
    assert sent.subject == "Verify your e-mail for the SIPSTACK Partner Portal"
    verify(engine, token_in(message))
    assert fetch(engine, User, user.id).email_verified_at is not None


def test_without_smtp_the_queued_mail_lands_in_the_outbox_at_once(engine, outbox_dir):
    user = sign_up(engine)

    (message,) = outbox(outbox_dir)
    assert message["To"] == user.email
    (sent,) = queued(engine)
    assert sent.sent_at is not None and sent.body is None


def test_each_mail_of_one_unit_of_work_is_sent_even_when_another_fails(
    engine, smtp_server, monkeypatch
):
    real_send = mail.send

    def refuse_the_first(message: Mail, settings=None) -> None:
        if message.to == "partner1@example.com":
            raise ConnectionResetError("the server hung up")
        real_send(message, settings)

    monkeypatch.setattr(mail, "send", refuse_the_first)

    queue(engine, a_mail(1), a_mail(2), a_mail(3))

    assert sorted(recipients[0] for _s, recipients, _m in smtp_server.received) == [
        "partner2@example.com",
        "partner3@example.com",
    ]
    first, second, third = queued(engine)
    assert first.sent_at is None and first.last_error == "ConnectionResetError: the server hung up"
    assert second.sent_at is not None and third.sent_at is not None


def test_nothing_is_queued_when_the_unit_of_work_rolls_back(engine, smtp_server):
    with pytest.raises(RuntimeError), db.write_session(engine) as session:
        accounts.sign_up(session, sign_up_form())
        send_after_commit(session, emails.password_changed("someone@example.com"))
        raise RuntimeError("something failed after the mail was queued")

    assert queued(engine) == []
    assert smtp_server.received == []


def test_mail_queued_on_a_core_write_connection_is_sent_after_its_commit(engine, smtp_server):
    with db.write_connection(engine) as connection:
        queue_mail(connection, a_mail(7))
        assert smtp_server.received == []

    ((_sender, recipients, _message),) = smtp_server.received
    assert recipients == ["partner7@example.com"]
    (sent,) = queued(engine)
    assert sent.sent_at is not None


def test_mail_queued_on_a_write_sessions_connection_is_sent_after_its_commit(engine, smtp_server):
    with db.write_session(engine) as session:
        queue_mail(session.connection(), a_mail(8))

    assert [recipients for _s, recipients, _m in smtp_server.received] == [["partner8@example.com"]]


# --- Retries, back-off, giving up ---------------------------------------------------------------


def test_a_failed_mail_waits_for_its_back_off_before_the_next_attempt(engine, smtp_server):
    smtp_server.refusing = True
    queue(engine, a_mail())
    (row,) = queued(engine)
    assert row.next_attempt_at is not None
    smtp_server.refusing = False

    early = send_queued(engine, now=row.next_attempt_at - timedelta(seconds=1))
    due = send_queued(engine, now=row.next_attempt_at)

    assert early == SendSummary(sent=0, failed=0, waiting=1)
    assert due == SendSummary(sent=1, failed=0, waiting=0)
    assert len(smtp_server.received) == 1


def test_each_failure_waits_longer_than_the_one_before(engine, smtp_server):
    smtp_server.refusing = True
    queue(engine, a_mail())
    waits: list[timedelta] = []
    for _attempt in range(4):
        (row,) = queued(engine)
        assert row.next_attempt_at is not None
        moment = row.next_attempt_at
        assert send_queued(engine, now=moment) == SendSummary(sent=0, failed=1, waiting=1)
        (row,) = queued(engine)
        assert row.next_attempt_at is not None
        waits.append(row.next_attempt_at - moment)

    assert waits == sorted(waits) and len(set(waits)) == len(waits)
    assert queued(engine)[0].attempts == 5


def test_after_the_last_attempt_the_mail_is_kept_as_failed_and_staff_are_told(engine, smtp_server):
    with db.write_session(engine) as session:
        staff = make_staff(session)
        partner = make_user(session)
    smtp_server.refusing = True
    queue(engine, a_mail(3))
    summaries = []
    for _attempt in range(MAX_ATTEMPTS - 1):
        (row,) = queued(engine)
        assert row.next_attempt_at is not None
        summaries.append(send_queued(engine, now=row.next_attempt_at))

    assert summaries[-1] == SendSummary(sent=0, failed=1, waiting=0, gave_up=1)
    (row,) = queued(engine)
    assert row.attempts == MAX_ATTEMPTS
    assert row.failed_at is not None and row.sent_at is None and row.next_attempt_at is None
    assert row.body is not None  # kept: staff may want to know what it said
    smtp_server.refusing = False
    later = utcnow() + timedelta(days=30)
    assert send_queued(engine, now=later) == SendSummary(sent=0, failed=0, waiting=0)
    assert smtp_server.received == []
    with db.read_session(engine) as session:
        (notice,) = notice_queries.latest(session, actor_of(staff))
        assert notice_queries.latest(session, actor_of(partner)) == []
    assert notice.kind == NoticeKind.MAIL_UNDELIVERABLE
    assert notice.title == (
        f"E-mail to partner3@example.com could not be sent after {MAX_ATTEMPTS} attempts"
    )
    assert "Message 3" in notice.body and "451" in notice.body
    assert "secret3" not in notice.body  # the link stays out of the notice
    assert count(engine, Notice) == 1


def test_a_mail_whose_sender_died_mid_send_is_tried_again_after_its_lease(
    engine, smtp_server, monkeypatch
):
    smtp_server.refusing = True
    queue(engine, a_mail())
    (row,) = queued(engine)
    assert row.next_attempt_at is not None
    due = row.next_attempt_at

    def die(_message: Mail, _settings=None) -> None:
        raise SystemExit("the process was stopped while sending")

    monkeypatch.setattr(mail, "send", die)
    with pytest.raises(SystemExit):
        send_queued(engine, now=due)
    monkeypatch.undo()
    smtp_server.refusing = False

    # Claimed by the process that died: nobody sends it until its lease is over.
    assert send_queued(engine, now=due + mail.LEASE - timedelta(seconds=1)) == SendSummary(
        sent=0, failed=0, waiting=1
    )
    assert send_queued(engine, now=due + mail.LEASE) == SendSummary(sent=1, failed=0, waiting=0)
    assert len(smtp_server.received) == 1


def test_send_queued_sends_at_most_its_limit_oldest_first(engine, smtp_server):
    smtp_server.refusing = True
    queue(engine, a_mail(1))
    queue(engine, a_mail(2))
    queue(engine, a_mail(3))
    smtp_server.refusing = False
    later = utcnow() + timedelta(hours=1)

    assert send_queued(engine, now=later, limit=2) == SendSummary(sent=2, failed=0, waiting=1)
    assert [recipients for _s, recipients, _m in smtp_server.received] == [
        ["partner1@example.com"],
        ["partner2@example.com"],
    ]


def test_a_sender_whose_lease_ran_out_cannot_undo_what_the_next_one_did(
    engine, smtp_server, monkeypatch
):
    smtp_server.refusing = True
    queue(engine, a_mail())
    (row,) = queued(engine)
    assert row.next_attempt_at is not None
    due = row.next_attempt_at
    smtp_server.refusing = False
    real_send = mail.send
    meanwhile: list[SendSummary] = []

    def hang_then_fail(message: Mail, settings=None) -> None:
        # This sender hangs past its lease; another claims the mail and sends it.
        monkeypatch.setattr(mail, "send", real_send)
        meanwhile.append(send_queued(engine, now=due + mail.LEASE))
        raise TimeoutError("timed out")

    monkeypatch.setattr(mail, "send", hang_then_fail)
    late = send_queued(engine, now=due)

    assert meanwhile == [SendSummary(sent=1, failed=0, waiting=0)]
    assert late.failed == 1
    (after,) = queued(engine)
    assert after.attempts == 3
    assert after.sent_at is not None and after.body is None and after.next_attempt_at is None
    assert after.last_error is None
    assert len(smtp_server.received) == 1


# --- Two senders at once ------------------------------------------------------------------------


def test_two_senders_at_once_never_send_one_mail_twice(concurrent_engine, smtp_server):
    smtp_server.refusing = True
    queue(concurrent_engine, *(a_mail(number) for number in range(30)))
    assert count(concurrent_engine, QueuedMail, col(QueuedMail.sent_at).is_(None)) == 30
    smtp_server.refusing = False
    later = utcnow() + timedelta(hours=1)

    summaries = race([lambda: send_queued(concurrent_engine, now=later)] * 2, threads=2)

    assert sum(summary.sent for summary in summaries) == 30
    assert sum(summary.failed for summary in summaries) == 0
    recipients = sorted(rcpt[0] for _s, rcpt, _m in smtp_server.received)
    assert recipients == sorted(f"partner{number}@example.com" for number in range(30))
    assert count(concurrent_engine, QueuedMail, col(QueuedMail.sent_at).is_(None)) == 0
