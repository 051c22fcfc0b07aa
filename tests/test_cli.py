"""The command line, run in-process against a SQLite file: ``python -m portal_core …``."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, inspect, update
from sqlmodel import col, select

from portal_core import db, mail
from portal_core.__main__ import main
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry
from portal_core.models.mail import QueuedMail
from portal_core.models.payments import Payment, PaymentMethod, PaymentStatus
from portal_core.models.products import EventAction, EventProduct, ProductEvent
from portal_core.services import auth, ledger, product_events
from portal_core.services.seed import (
    DEMO_ROLES,
    NORTHWIND,
    NORTHWIND_OWNER_EMAIL,
    demo_email,
    demo_password,
)
from portal_core.settings import get_settings
from tests.factories import make_organization
from tests.support.smtp import Collector

STAFF_PASSWORD = "Quarry-Velvet-Comet-31"


@pytest.fixture
def development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENV", "development")
    get_settings.cache_clear()


def _users(engine: Engine) -> list[User]:
    with db.read_session(engine) as session:
        return list(session.exec(select(User).order_by(col(User.email))).all())


def _create_staff(monkeypatch: pytest.MonkeyPatch, email: str, password: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["create-staff", email, "--name", "Olu Adeyemi", "--password-stdin"])


def test_migrate_builds_the_schema_and_running_it_again_is_harmless(database, capsys):
    assert {"users", "organizations", "ledger_entries", "sessions"} <= set(
        inspect(database).get_table_names()
    )

    assert main(["migrate"]) == 0
    assert "Database is at the newest schema." in capsys.readouterr().out


def test_seed_creates_the_demo_once(database, development, capsys):
    assert main(["seed"]) == 0
    assert "Seeded the demo organization." in capsys.readouterr().out
    seeded = [(user.email, user.role) for user in _users(database)]

    assert main(["seed"]) == 0
    assert "not seeding" in capsys.readouterr().out
    assert [(user.email, user.role) for user in _users(database)] == seeded
    assert sorted(seeded) == sorted(
        [(demo_email(role), role) for role in (*DEMO_ROLES, Role.STAFF)]
        + [(NORTHWIND_OWNER_EMAIL, Role.OWNER)]
    )
    with db.read_session(database) as session:
        names = session.exec(select(Organization.name).order_by(col(Organization.name))).all()
    assert names == ["Demo Telecom", NORTHWIND]


def test_seeded_demo_has_a_default_test_card_and_its_first_payment(database, development):
    main(["seed"])

    with db.read_session(database) as session:
        cards = session.exec(select(PaymentMethod)).all()
        paid = session.exec(select(Payment)).all()
        demo = session.exec(select(Organization).where(Organization.name == "Demo Telecom")).one()
        credited = session.exec(
            select(func.sum(LedgerEntry.amount_cents)).where(
                LedgerEntry.organization_id == demo.id, LedgerEntry.kind == EntryKind.PAYMENT
            )
        ).one()
        mismatches = ledger.balance_mismatches(session)
    assert [(card.brand, card.last4, card.is_default) for card in cards] == [("visa", "4242", True)]
    assert [(payment.amount_cents, payment.status) for payment in paid] == [
        (25_000, PaymentStatus.SUCCEEDED)
    ]
    assert {card.organization_id for card in cards} == {demo.id}
    assert credited == 25_000  # its invoices were paid from it since (tests/services/test_seed.py)
    assert mismatches == []


def test_the_seeded_demo_users_can_log_in(database, development):
    main(["seed"])

    for role in (*DEMO_ROLES, Role.STAFF):
        with db.write_session(database) as session:
            logged_in = auth.log_in(
                session, demo_email(role), demo_password(role), ip_address="127.0.0.1"
            )
        assert logged_in.view.role == role


def test_seed_refuses_outside_development(database, capsys):
    assert get_settings().portal_env == "test"

    assert main(["seed"]) == 2

    assert "only in development" in capsys.readouterr().err
    assert _users(database) == []


def test_create_staff_reads_the_password_from_stdin(database, monkeypatch, capsys):
    assert _create_staff(monkeypatch, "  Olu@SIPSTACK.example ", STAFF_PASSWORD) == 0

    assert "Created SIPSTACK staff user olu@sipstack.example." in capsys.readouterr().out
    (user,) = _users(database)
    assert (user.email, user.name, user.role, user.organization_id) == (
        "olu@sipstack.example",
        "Olu Adeyemi",
        Role.STAFF,
        None,
    )
    with db.write_session(database) as session:
        view = auth.log_in(session, "olu@sipstack.example", STAFF_PASSWORD, ip_address=None).view
    assert view.is_staff


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("olu@sipstack.example", "password1", "password: Choose a harder password"),
        ("olu@sipstack.example", "short", "password: Use at least 8 characters."),
        ("olu@sipstack.example", "Olu-Adeyemi-2026", "password: Choose a password that is not"),
        ("not-an-address", STAFF_PASSWORD, "email: Enter a valid e-mail address"),
    ],
)
def test_create_staff_refuses_bad_input_with_status_2(
    database, monkeypatch, capsys, email, password, message
):
    assert _create_staff(monkeypatch, email, password) == 2

    assert message in capsys.readouterr().err
    assert _users(database) == []


def test_create_staff_refuses_an_address_that_has_an_account(database, monkeypatch, capsys):
    _create_staff(monkeypatch, "olu@sipstack.example", STAFF_PASSWORD)

    assert _create_staff(monkeypatch, "OLU@sipstack.example", "Saffron-Trellis-Nimbus-58") == 2

    assert "already has an account" in capsys.readouterr().err
    assert len(_users(database)) == 1


def test_create_staff_asks_twice_and_refuses_two_different_passwords(database, monkeypatch, capsys):
    answers = iter([STAFF_PASSWORD, STAFF_PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    assert main(["create-staff", "olu@sipstack.example"]) == 2

    assert "differ" in capsys.readouterr().err
    assert _users(database) == []


def test_outbox_prints_the_newest_messages(database, capsys):
    for number in (1, 2, 3):
        mail.send(mail.Mail(to=f"r{number}@example.com", subject=f"Message {number}", body="Hi"))

    assert main(["outbox", "--last", "2"]) == 0

    printed = capsys.readouterr().out
    assert "Subject: Message 1" not in printed
    assert printed.index("Subject: Message 2") < printed.index("Subject: Message 3")
    assert "To: r3@example.com" in printed


def test_outbox_says_when_it_is_empty(database, capsys):
    assert main(["outbox"]) == 0

    assert "is empty" in capsys.readouterr().out


def _queue_while_the_server_refuses(engine: Engine, smtp_server: Collector) -> None:
    """A password-reset-like mail whose first attempt failed, and whose back-off is over."""
    smtp_server.refusing = True
    with db.write_session(engine) as session:
        mail.queue_mail(
            session,
            mail.Mail(
                to="partner@example.com",
                subject="Reset your password",
                body="https://portal.example/reset?token=single-use-secret",
            ),
        )
    with db.write_session(engine) as session:
        session.execute(update(QueuedMail).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    smtp_server.refusing = False


def _queued(engine: Engine) -> QueuedMail:
    with db.read_session(engine) as session:
        return session.exec(select(QueuedMail)).one()


def test_mail_send_sends_what_is_due_erases_its_body_and_exits_0(database, smtp_server, capsys):
    _queue_while_the_server_refuses(database, smtp_server)

    assert main(["mail", "send"]) == 0

    assert capsys.readouterr().out.strip() == (
        "Mail: 1 sent, 0 failed (0 given up), 0 waiting in the queue."
    )
    ((_sender, recipients, message),) = smtp_server.received
    assert recipients == ["partner@example.com"]
    assert "single-use-secret" in str(message.get_body())
    sent = _queued(database)
    assert sent.sent_at is not None and sent.body is None and sent.attempts == 2


def test_mail_send_exits_1_when_a_mail_fails_again_and_keeps_it(database, smtp_server, capsys):
    _queue_while_the_server_refuses(database, smtp_server)
    smtp_server.refusing = True

    assert main(["mail", "send"]) == 1

    assert capsys.readouterr().out.strip() == (
        "Mail: 0 sent, 1 failed (0 given up), 1 waiting in the queue."
    )
    kept = _queued(database)
    assert kept.sent_at is None and kept.body is not None and kept.attempts == 2
    assert kept.last_error is not None and "451" in kept.last_error


def test_mail_send_with_nothing_due_sends_nothing(database, smtp_server, capsys):
    assert main(["mail", "send"]) == 0

    assert capsys.readouterr().out.strip() == (
        "Mail: 0 sent, 0 failed (0 given up), 0 waiting in the queue."
    )
    assert smtp_server.received == []


def test_check_balances_exits_0_when_every_balance_matches_the_ledger(database, capsys):
    with db.write_session(database) as session:
        organization = make_organization(session)
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.PAYMENT,
            amount_cents=4_200,
            idempotency_key="cli-check",
            memo="top-up",
        )

    assert main(["check-balances"]) == 0

    assert "0 organization(s)" in capsys.readouterr().out


def test_check_balances_exits_1_and_names_an_organization_that_drifted(database, capsys):
    with db.write_session(database) as session:
        organization = make_organization(session)
    with db.write_session(database) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(balance_micros=123)
        )

    assert main(["check-balances"]) == 1

    printed = capsys.readouterr().out
    assert str(organization.id) in printed
    assert "1 organization(s)" in printed


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])

    assert exited.value.code == 2


def test_logs_prune_deletes_the_events_past_the_retention_and_says_how_many(database, capsys):
    with db.write_session(database) as session:
        organization = make_organization(session)
    with db.write_connection(database) as connection:
        for days in (401, 500, 3):
            product_events.record(
                connection,
                product_events.Event(organization.id, EventProduct.WHOIS, EventAction.EDIT),
                now=utcnow() - timedelta(days=days),
            )

    assert main(["logs", "prune"]) == 0
    assert (
        "Logs: 2 product event(s) older than the log retention deleted." in capsys.readouterr().out
    )
    assert main(["logs", "prune"]) == 0
    assert "Logs: 0 product event(s)" in capsys.readouterr().out
    with db.read_session(database) as session:
        assert session.exec(select(func.count()).select_from(ProductEvent)).one() == 1
