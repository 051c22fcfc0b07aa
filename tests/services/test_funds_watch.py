"""The funds watcher: a low-balance alert (an e-mail and a personal notice) exactly when
available funds cross under a member's threshold, and the drop handed to auto-recharge; from
each place funds drop: the meter, a negative ledger entry, the invoice run
(docs/product.md, Pages › My Profile)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, insert, update
from sqlmodel import col, select

from portal_core import db, facts
from portal_core.facts import FundsDropped
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.billing import (
    BillingAccount,
    EntryKind,
    LookupType,
    Product,
    Subscription,
    UsageRecord,
)
from portal_core.models.notices import Notice, NoticeKind
from portal_core.money import MICROS_PER_CENT
from portal_core.services import auto_recharge, funds_watch, invoices, ledger
from portal_core.settings import get_settings
from tests.factories import change_subscription, fund, make_metered_organization, make_user
from tests.services.support import body_of, count, meter_one, outbox
from tests.support.served import free_port

PRICE = 3_000  # µ$ a request: Starter's $0.0030
NOVEMBER_1ST = datetime(2026, 11, 1, 11, 0, tzinfo=UTC)


# --- Helpers -------------------------------------------------------------------------------


def _organization(engine, *, funds_cents: int, price: int = PRICE) -> Organization:
    """A Starter organization whose every request costs ``price`` (no allowance)."""
    with db.write_session(engine) as session:
        return make_metered_organization(session, price_micros=price, funds_cents=funds_cents)


def _credit(session, organization, cents: int, key: str) -> None:
    fund(session, organization, cents, memo="top-up", idempotency_key=key)


def _member(
    engine,
    organization,
    threshold_cents: int,
    *,
    role: Role = Role.OWNER,
    alert: bool = True,
    status: UserStatus = UserStatus.ACTIVE,
) -> User:
    with db.write_session(engine) as session:
        stored = session.get(Organization, organization.id)
        user = make_user(session, organization=stored, role=role, status=status)
        user.low_balance_threshold_cents = threshold_cents
        user.notify_low_balance = alert
        session.add(user)
    return user


def _meter(engine, organization, *, times: int = 1) -> None:
    for _ in range(times):
        meter_one(engine, organization.id)


def _debit(engine, organization, cents: int, key: str | None = None) -> None:
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization.id,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=-cents,
            idempotency_key=key or uuid.uuid4().hex,
            memo="staff adjustment",
        )


def _drop(engine, organization_id, before_micros: int, after_micros: int) -> None:
    with db.write_connection(engine) as connection:
        db.publish(
            connection,
            FundsDropped(
                organization_id,
                before_available_micros=before_micros,
                after_available_micros=after_micros,
                cause=f"test:{uuid.uuid4()}",
            ),
        )


def _alerts(engine, user: User) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(Notice).where(
                    Notice.user_id == user.id, Notice.kind == NoticeKind.LOW_BALANCE
                )
            ).all()
        )


def _mail_to(outbox_dir, user: User) -> list[Any]:
    return [message for message in outbox(outbox_dir) if message["To"] == user.email]


def _available_micros(engine, organization) -> int:
    with db.read_session(engine) as session:
        account = session.get(BillingAccount, organization.id)
        assert account is not None
        return account.balance_micros - account.unbilled_micros


@pytest.fixture
def dropped(monkeypatch) -> list[tuple[uuid.UUID, int, int]]:
    """What auto-recharge is told: (organization, before, after) of each drop."""
    calls: list[tuple[uuid.UUID, int, int]] = []

    def record(connection, fact: FundsDropped) -> None:
        calls.append(
            (fact.organization_id, fact.before_available_micros, fact.after_available_micros)
        )

    # In auto-recharge's place among the reactions to a drop (services/reactions.py).
    monkeypatch.setitem(facts._reactions, FundsDropped, (funds_watch.alert_low_balance, record))
    return calls


# --- Who is alerted, and when --------------------------------------------------------------


def test_a_crossing_alerts_once_each_member_whose_threshold_it_crossed(engine, outbox_dir):
    # $20.01 of funds; three requests of $0.0030 take them to $20.001, then under $20.00.
    organization = _organization(engine, funds_cents=2_001)
    at_twenty = _member(engine, organization, 2_000)
    at_twenty_and_a_cent = _member(engine, organization, 2_001, role=Role.BILLING)
    at_ten = _member(engine, organization, 1_000, role=Role.ADMIN)

    _meter(engine, organization, times=4)

    assert [len(_alerts(engine, user)) for user in (at_twenty, at_twenty_and_a_cent, at_ten)] == [
        1,
        1,
        0,
    ]
    assert [len(_mail_to(outbox_dir, user)) for user in (at_twenty, at_twenty_and_a_cent)] == [
        1,
        1,
    ]
    assert _mail_to(outbox_dir, at_ten) == []


def test_no_alert_while_funds_stay_above_the_threshold(engine, outbox_dir):
    organization = _organization(engine, funds_cents=5_000)
    owner = _member(engine, organization, 2_000)

    _meter(engine, organization, times=20)
    _debit(engine, organization, 2_990)  # $50.00 − $0.06 − $29.90 = $20.04: still over $20

    assert _available_micros(engine, organization) >= 2_000 * MICROS_PER_CENT
    assert _alerts(engine, owner) == []
    assert outbox(outbox_dir) == []


def test_no_alert_when_funds_were_already_under_the_threshold(engine, outbox_dir):
    organization = _organization(engine, funds_cents=1_500)
    owner = _member(engine, organization, 2_000)

    _meter(engine, organization, times=5)
    _debit(engine, organization, 500)

    assert _alerts(engine, owner) == []
    assert outbox(outbox_dir) == []


def test_going_back_up_then_down_again_alerts_again(engine, outbox_dir):
    organization = _organization(engine, funds_cents=2_500)
    owner = _member(engine, organization, 2_000)

    _debit(engine, organization, 1_000)  # $25 → $15: crossed
    with db.write_session(engine) as session:
        _credit(session, organization, 1_000, "payment-back-up")  # $15 → $25
    _debit(engine, organization, 1_000)  # $25 → $15: crossed again
    _debit(engine, organization, 100)  # $15 → $14: still under, no new crossing

    assert len(_alerts(engine, owner)) == 2
    assert len(_mail_to(outbox_dir, owner)) == 2


def test_members_who_turned_the_alert_off_or_are_not_active_get_nothing(engine, outbox_dir):
    organization = _organization(engine, funds_cents=2_500)
    opted_out = _member(engine, organization, 2_000, alert=False)
    deactivated = _member(engine, organization, 2_000, status=UserStatus.DEACTIVATED)
    unverified = _member(engine, organization, 2_000, status=UserStatus.UNVERIFIED)
    with db.write_session(engine) as session:
        stranger = make_user(session)  # another organization's, same threshold
        stranger.low_balance_threshold_cents = 2_000
        session.add(stranger)

    _debit(engine, organization, 1_000)

    # The funds did cross every member's $20.00 (from $25.00 to $15.00): nobody was alerted
    # because of who they are, not because nothing crossed.
    assert _available_micros(engine, organization) == 1_500 * MICROS_PER_CENT
    for user in (opted_out, deactivated, unverified, stranger):
        assert _alerts(engine, user) == []
    assert outbox(outbox_dir) == []


@pytest.mark.parametrize(
    ("before", "after", "alerted"),
    [
        (20_000_000, 19_999_999, True),  # one micro-dollar under $20.00 crosses it
        (20_000_000, 20_000_000, False),  # no drop
        (20_000_001, 20_000_000, False),  # down to exactly $20.00: not under it
        (19_999_999, 19_000_000, False),  # already under
        (25_000_000, -5_000_000, True),  # straight through, into the credit limit
    ],
)
def test_the_threshold_is_crossed_when_after_is_under_it_and_before_was_not(
    engine, before, after, alerted
):
    organization = _organization(engine, funds_cents=0)
    owner = _member(engine, organization, 2_000)

    _drop(engine, organization.id, before, after)

    assert len(_alerts(engine, owner)) == (1 if alerted else 0)


def test_a_threshold_of_zero_alerts_when_funds_go_negative(engine):
    organization = _organization(engine, funds_cents=0)
    owner = _member(engine, organization, 0)

    _drop(engine, organization.id, 10_000, 0)
    assert _alerts(engine, owner) == []
    _drop(engine, organization.id, 0, -1)
    assert len(_alerts(engine, owner)) == 1


def test_a_rolled_back_drop_alerts_nobody(engine, outbox_dir):
    organization = _organization(engine, funds_cents=2_500)
    owner = _member(engine, organization, 2_000)

    with pytest.raises(RuntimeError), db.write_connection(engine) as connection:
        db.publish(
            connection,
            FundsDropped(
                organization.id,
                before_available_micros=25_000_000,
                after_available_micros=15_000_000,
                cause="rolled-back",
            ),
        )
        raise RuntimeError("the request failed after metering")

    assert _alerts(engine, owner) == []
    assert outbox(outbox_dir) == []


# --- What the alert says -------------------------------------------------------------------


def test_the_email_gives_the_funds_the_threshold_and_where_to_act(engine, outbox_dir):
    organization = _organization(engine, funds_cents=2_500)
    owner = _member(engine, organization, 2_000)

    _debit(engine, organization, 1_234)

    [message] = _mail_to(outbox_dir, owner)
    body = body_of(message)
    assert message["Subject"] == "SIPSTACK available funds are under $20.00"
    assert "Your organization's available funds are now $12.66" in body
    assert "under the $20.00 threshold" in body
    assert "http://localhost:8501/billing_overview" in body
    assert "My Profile › Notifications" in body


def test_the_notice_links_to_billing_only_for_roles_that_may_read_it(engine):
    organization = _organization(engine, funds_cents=2_500)
    billing = _member(engine, organization, 2_000, role=Role.BILLING)
    developer = _member(engine, organization, 2_000, role=Role.DEVELOPER)

    _debit(engine, organization, 1_000)

    [for_billing] = _alerts(engine, billing)
    [for_developer] = _alerts(engine, developer)
    assert for_billing.link_page_id == "billing.overview"
    assert for_billing.title == "Available funds under $20.00"
    assert "$15.00" in for_billing.body
    assert for_developer.link_page_id is None
    assert (for_billing.organization_id, for_billing.capability) == (organization.id, None)


def test_the_email_to_a_role_without_billing_says_who_can_add_funds(engine, outbox_dir):
    organization = _organization(engine, funds_cents=2_500)
    viewer = _member(engine, organization, 2_000, role=Role.VIEWER)

    _debit(engine, organization, 1_000)

    body = body_of(_mail_to(outbox_dir, viewer)[0])
    assert "An owner, admin or billing member of your organization can add funds" in body
    assert "billing_overview" not in body


def test_a_mail_server_failure_does_not_fail_the_request_that_crossed(
    engine, outbox_dir, monkeypatch
):
    organization = _organization(engine, funds_cents=2_001)
    owner = _member(engine, organization, 2_000)
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(free_port()))  # nothing listens there
    get_settings.cache_clear()

    _meter(engine, organization, times=4)

    assert count(engine, UsageRecord) == 4
    assert len(_alerts(engine, owner)) == 1  # the bell still says it
    from portal_core.models.mail import QueuedMail

    with db.read_session(engine) as session:
        queued = session.exec(select(QueuedMail)).one()
    assert queued.sent_at is None  # kept for the mail queue to try again


# --- The hooks -----------------------------------------------------------------------------


def test_a_metered_request_hands_its_drop_to_auto_recharge(engine, dropped):
    organization = _organization(engine, funds_cents=1_000)

    _meter(engine, organization)

    assert dropped == [(organization.id, 10_000_000, 10_000_000 - PRICE)]


def test_a_drop_within_one_cent_crosses_no_threshold_and_reads_nothing(engine):
    organization = _organization(engine, funds_cents=1_000)
    _member(engine, organization, 1_000)
    # $9.997000 → $9.994000: still 999 whole cents, so no whole-cent threshold lies between.
    within_a_cent = FundsDropped(organization.id, 9_997_000, 9_994_000, "test:within")
    statements: list[str] = []

    def counted(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with db.write_connection(engine) as connection:
        event.listen(engine, "before_cursor_execute", counted)
        try:
            funds_watch.alert_low_balance(connection, within_a_cent)
            auto_recharge.on_funds_dropped(connection, within_a_cent)
        finally:
            event.remove(engine, "before_cursor_execute", counted)

    assert statements == []


def test_an_included_request_costs_nothing_and_tells_nobody(engine, dropped):
    organization = _organization(engine, funds_cents=1_000)
    with db.write_session(engine) as session:
        session.execute(
            update(Subscription)
            .where(col(Subscription.organization_id) == organization.id)
            .values(contract_included_requests=10)
        )

    _meter(engine, organization)

    assert count(engine, UsageRecord, col(UsageRecord.included).is_(True)) == 1  # it was metered
    assert dropped == []


def test_a_negative_ledger_entry_hands_its_drop_to_auto_recharge(engine, dropped):
    organization = _organization(engine, funds_cents=1_000)

    _debit(engine, organization, 250)

    assert dropped == [(organization.id, 10_000_000, 7_500_000)]


def test_a_payment_or_a_replayed_entry_tells_nobody(engine, dropped):
    organization = _organization(engine, funds_cents=1_000)
    _debit(engine, organization, 250, key="adjustment-1")
    dropped.clear()

    _debit(engine, organization, 250, key="adjustment-1")  # the same key: posted once
    with db.write_session(engine) as session:
        _credit(session, organization, 500, "payment-2")

    assert dropped == []


def test_the_meter_alerts_from_the_request_that_crossed(engine, outbox_dir):
    organization = _organization(engine, funds_cents=2_001)
    owner = _member(engine, organization, 2_000)

    _meter(engine, organization, times=3)  # $20.01 − 3 × $0.003 = $20.001
    assert _alerts(engine, owner) == []
    _meter(engine, organization)  # $19.998

    assert len(_alerts(engine, owner)) == 1
    assert len(_mail_to(outbox_dir, owner)) == 1


def _october_usage(engine, organization, requests: int) -> None:
    """``requests`` October records as the meter leaves them, cost added to unbilled usage."""
    made = datetime(2026, 10, 15, tzinfo=UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": organization.id,
            "product": Product.SMART_CNAM.value,
            "lookup_type": LookupType.CALLER_ID.value,
            "period": "2026-10",
            "included": False,
            "cost_micros": PRICE,
            "request_key": uuid.uuid4().hex,
            "created_at": made,
        }
        for _ in range(requests)
    ]
    with db.write_session(engine) as session:
        session.execute(insert(UsageRecord), rows)
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == organization.id)
            .values(unbilled_micros=BillingAccount.unbilled_micros + PRICE * requests)
        )


def test_an_invoice_run_tells_the_watcher_once_of_its_whole_change(engine, outbox_dir, dropped):
    # Balance $60.00, October's usage $3.00 → available $57.00. The invoice (Ontario):
    # Starter $30.00 + usage $3.00, HST 13 % $4.29 = $37.29. After it: balance $22.71 and
    # no unbilled usage, so available $22.71. The ledger's step alone (to $19.71) would
    # wrongly alert a $20.00 threshold: the watcher hears one drop, $57.00 → $22.71.
    organization = _organization(engine, funds_cents=6_000)
    _october_usage(engine, organization, 1_000)
    with db.write_session(engine) as session:
        change_subscription(
            session,
            organization,
            term_started_at=datetime(2026, 9, 1, tzinfo=UTC),
            contract_included_requests=None,
            contract_additional_request_micros=None,
        )
    crossed = _member(engine, organization, 2_500)
    at_twenty = _member(engine, organization, 2_000)
    just_under = _member(engine, organization, 2_271)  # $22.71 is not under $22.71
    just_above = _member(engine, organization, 2_272)
    dropped.clear()

    summary = invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    assert summary.created == 1 and summary.invoiced_cents == 3_729
    assert dropped == [(organization.id, 57_000_000, 22_710_000)]
    assert [
        len(_alerts(engine, user)) for user in (crossed, at_twenty, just_under, just_above)
    ] == [
        1,
        0,
        0,
        1,
    ]
    assert len(_mail_to(outbox_dir, crossed)) == 2  # the invoice e-mail and the alert
    assert len(_mail_to(outbox_dir, at_twenty)) == 1  # the invoice e-mail only


def test_a_second_invoice_run_alerts_nobody_again(engine, outbox_dir):
    organization = _organization(engine, funds_cents=4_000)
    with db.write_session(engine) as session:
        change_subscription(session, organization, term_started_at=datetime(2026, 9, 1, tzinfo=UTC))
    owner = _member(engine, organization, 2_000)
    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)  # $40.00 → $6.10

    invoices.run_invoices(engine, period="2026-10", now=NOVEMBER_1ST)

    assert len(_alerts(engine, owner)) == 1
    assert [message["Subject"] for message in _mail_to(outbox_dir, owner)].count(
        "SIPSTACK available funds are under $20.00"
    ) == 1
