"""Auto-recharge in the sandbox: a crossing charges once after the caller commits, the daily
limit, a failing card and a bank asking for authentication notify the right people, a failed
card is not hammered, the sweep, the settings' rules, and the trigger's cost.

Funds drop here as the meter drops them (``unbilled_micros`` goes up in a Core write
transaction, then hands the drop to ``on_funds_dropped`` as its reaction would), so these
tests do not depend on how the meter prices a request; one test crosses with a real negative
ledger entry instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import Conflict, PermissionDenied, ValidationFailed
from portal_core.facts import FundsDropped
from portal_core.models.accounts import Role
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry, PlatformSetting
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import AutoRecharge, Payment, PaymentSource, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.payments.test_cards import AUTHENTICATION_REQUIRED, CARD_DECLINED, EXPIRED_CARD
from portal_core.permissions import Capability
from portal_core.services import auto_recharge, ledger, platform
from portal_core.services.auto_recharge import on_funds_dropped, recharge, save_settings, sweep
from portal_core.services.payments import cards
from tests.factories import (
    actor_of,
    fund,
    make_auto_recharge,
    make_card,
    make_user,
    organization_of,
)
from tests.services.support import count, fetch, mail_to

CENT = MICROS_PER_CENT


class Team:
    """An organization with an owner, a billing member, an admin and a developer."""

    def __init__(self, engine, *, test_card: str | None = "pm_card_visa", funds_cents=3_000):
        with db.write_session(engine) as session:
            self.owner = make_user(session)
            organization = organization_of(session, self.owner)
            assert organization is not None
            self.organization = organization
            self.billing = make_user(session, organization=organization, role=Role.BILLING)
            self.admin = make_user(session, organization=organization, role=Role.ADMIN)
            self.developer = make_user(session, organization=organization, role=Role.DEVELOPER)
            self.card = make_card(session, organization, test_card=test_card) if test_card else None
            if funds_cents:
                fund(session, organization, funds_cents, memo="Opening funds")
        self.id = self.organization.id


def _enable(engine, team, *, threshold_cents=2_000, amount_cents=5_000, enabled=True, **kwargs):
    with db.write_session(engine) as session:
        make_auto_recharge(
            session,
            team.organization,
            threshold_cents=threshold_cents,
            amount_cents=amount_cents,
            enabled=enabled,
            **kwargs,
        )


def _available_cents(engine, team) -> int:
    account = fetch(engine, BillingAccount, team.id)
    return (account.balance_micros - account.unbilled_micros) // CENT


def _spend(engine, team, cents: int, *, fail_after: bool = False) -> None:
    """Spend ``cents`` of usage the way the meter does, telling the trigger of the drop."""
    with db.write_connection(engine) as connection:
        balance, unbilled = connection.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == team.id)
            .values(unbilled_micros=BillingAccount.unbilled_micros + cents * CENT)
            .returning(col(BillingAccount.balance_micros), col(BillingAccount.unbilled_micros))
        ).one()
        after = balance - unbilled
        on_funds_dropped(
            connection,
            FundsDropped(team.id, after + cents * CENT, after, "test-drop"),
        )
        if fail_after:
            raise RuntimeError("the caller's work failed after the drop")


def _set_daily_limit(engine, times: int) -> None:
    with db.write_session(engine) as session:
        session.execute(
            update(PlatformSetting)
            .where(col(PlatformSetting.key) == platform.AUTO_RECHARGE_MAX_PER_DAY)
            .values(value=str(times))
        )


def _auto_payments(engine, team) -> list[Payment]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(Payment)
                .where(
                    Payment.organization_id == team.id,
                    Payment.source == PaymentSource.AUTO_RECHARGE,
                )
                .order_by(col(Payment.created_at))
            ).all()
        )


def _notices(engine, team) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(session.exec(select(Notice).where(Notice.organization_id == team.id)).all())


# --- The trigger ----------------------------------------------------------------------------


def test_a_crossing_charges_the_default_card_once_after_the_caller_commits(engine, outbox_dir):
    team = Team(engine, funds_cents=3_000)
    _enable(engine, team, threshold_cents=2_000, amount_cents=5_000)

    _spend(engine, team, 1_500)  # $30 → $15 available: under $20

    [payment] = _auto_payments(engine, team)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert (payment.amount_cents, payment.fee_cents, payment.total_cents) == (5_000, 148, 5_148)
    assert team.card is not None and payment.payment_method_id == team.card.id
    assert _available_cents(engine, team) == 6_500
    assert count(engine, LedgerEntry, LedgerEntry.idempotency_key == f"payment:{payment.id}") == 1
    receipts = [m["To"] for m in mail_to(outbox_dir, team.owner.email)] + [
        m["To"] for m in mail_to(outbox_dir, team.billing.email)
    ]
    assert receipts == [team.owner.email, team.billing.email]
    assert mail_to(outbox_dir, team.developer.email) == []


def test_funds_staying_above_the_threshold_charge_nothing(engine):
    team = Team(engine, funds_cents=3_000)
    _enable(engine, team, threshold_cents=2_000)

    _spend(engine, team, 1_000)  # $30 → $20: not under $20

    assert _auto_payments(engine, team) == []


def test_funds_already_under_the_threshold_do_not_cross_again(engine):
    team = Team(engine, funds_cents=1_500)
    _enable(engine, team, threshold_cents=2_000)

    _spend(engine, team, 500)  # $15 → $10: no crossing, the sweep's business

    assert _auto_payments(engine, team) == []


def test_a_disabled_auto_recharge_charges_nothing(engine):
    team = Team(engine, funds_cents=3_000)
    _enable(engine, team, enabled=False)

    _spend(engine, team, 2_000)

    assert _auto_payments(engine, team) == []


def test_nothing_is_charged_when_the_callers_transaction_rolls_back(engine):
    team = Team(engine, funds_cents=3_000)
    _enable(engine, team)

    with pytest.raises(RuntimeError):
        _spend(engine, team, 2_000, fail_after=True)

    assert _auto_payments(engine, team) == []
    assert _available_cents(engine, team) == 3_000


def test_the_trigger_reads_nothing_when_funds_do_not_drop_and_one_row_when_they_do(engine):
    team = Team(engine)
    _enable(engine, team, threshold_cents=100)  # far under: no crossing, no recharge
    statements: list[str] = []

    def counted(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    with db.write_connection(engine) as connection:
        event.listen(engine, "before_cursor_execute", counted)
        try:
            on_funds_dropped(
                connection,
                FundsDropped(team.id, 5 * CENT, 5 * CENT, "test-drop"),
            )
            on_funds_dropped(
                connection,
                FundsDropped(team.id, 5 * CENT, 9 * CENT, "test-drop"),
            )
            assert statements == []
            on_funds_dropped(
                connection,
                FundsDropped(team.id, 3_000 * CENT, 2_000 * CENT, "test-drop"),
            )
        finally:
            event.remove(engine, "before_cursor_execute", counted)

    assert len(statements) == 1
    assert "auto_recharges" in statements[0]


def test_a_negative_ledger_entry_that_crosses_recharges(engine):
    team = Team(engine, funds_cents=3_000)
    _enable(engine, team, threshold_cents=2_000, amount_cents=1_000)

    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=team.id,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=-2_000,
            idempotency_key="adjustment-1",
            memo="Correction",
        )

    [payment] = _auto_payments(engine, team)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert _available_cents(engine, team) == 2_000


# --- The daily limit ----------------------------------------------------------------------------


def test_the_daily_limit_holds_and_says_so(engine):
    team = Team(engine, funds_cents=3_000)
    _enable(engine, team, threshold_cents=2_000, amount_cents=1_000)
    _set_daily_limit(engine, 2)

    for _crossing in range(3):
        _spend(engine, team, 1_100)  # each time from ≥ $20 to under $20

    payments_made = _auto_payments(engine, team)
    assert [p.status for p in payments_made] == [PaymentStatus.SUCCEEDED] * 2
    [limit] = [n for n in _notices(engine, team) if "daily limit" in n.title]
    assert limit.kind == NoticeKind.AUTO_RECHARGE_FAILED
    assert "2 times today" in limit.body


def test_the_daily_limit_counts_days_in_the_billing_time_zone(engine):
    team = Team(engine, funds_cents=0)
    _enable(engine, team, threshold_cents=2_000, amount_cents=1_000)
    _set_daily_limit(engine, 1)
    # 23:30 in Toronto on the 16th, then 00:30 on the 17th (UTC-5 in November).
    late = datetime(2026, 11, 17, 4, 30, tzinfo=UTC)

    first = recharge(engine, team.id, now=late)
    _spend(engine, team, 1_000)  # back under the threshold, same local day
    same_day = recharge(engine, team.id, now=late + timedelta(minutes=20))
    next_day = recharge(engine, team.id, now=late + timedelta(hours=1))

    assert first is not None and first.status == PaymentStatus.SUCCEEDED
    assert same_day is None
    assert next_day is not None and next_day.status == PaymentStatus.SUCCEEDED
    assert next_day.idempotency_key.endswith(":2026-11-17:1")


# --- Failures -------------------------------------------------------------------------------


def test_a_declined_card_fails_the_recharge_and_tells_owners_and_billing(engine, outbox_dir):
    team = Team(engine, test_card="pm_card_chargeDeclined", funds_cents=3_000)
    _enable(engine, team)

    _spend(engine, team, 2_000)

    [payment] = _auto_payments(engine, team)
    assert (payment.status, payment.failure_message) == (PaymentStatus.FAILED, CARD_DECLINED)
    assert _available_cents(engine, team) == 1_000
    [notice] = _notices(engine, team)
    assert notice.kind == NoticeKind.AUTO_RECHARGE_FAILED
    assert notice.capability == Capability.BILLING_READ.value
    assert CARD_DECLINED in notice.body
    for user in (team.owner, team.billing):
        [mail] = mail_to(outbox_dir, user.email)
        assert "auto-recharge failed" in mail["Subject"]
    assert mail_to(outbox_dir, team.developer.email) == []
    assert mail_to(outbox_dir, team.admin.email) == []


def test_a_bank_asking_for_authentication_tells_the_owner(engine, outbox_dir):
    team = Team(engine, test_card="pm_card_authenticationRequired", funds_cents=3_000)
    _enable(engine, team)

    _spend(engine, team, 2_000)

    [payment] = _auto_payments(engine, team)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment.failure_message == AUTHENTICATION_REQUIRED
    [notice] = _notices(engine, team)
    assert (notice.kind, notice.user_id) == (NoticeKind.PAYMENT_NEEDS_AUTHENTICATION, team.owner.id)
    assert len(mail_to(outbox_dir, team.owner.email)) == 1
    assert mail_to(outbox_dir, team.billing.email) == []


def test_an_expired_default_card_fails_without_calling_the_gateway(engine):
    team = Team(engine, test_card=None, funds_cents=3_000)
    with db.write_session(engine) as session:
        make_card(session, team.organization, exp_month=1, exp_year=2020)
    _enable(engine, team)

    _spend(engine, team, 2_000)

    [payment] = _auto_payments(engine, team)
    assert (payment.status, payment.failure_message) == (PaymentStatus.FAILED, EXPIRED_CARD)
    assert payment.gateway_ref is None


def test_without_a_default_card_nothing_is_charged_and_the_organization_is_told(engine):
    team = Team(engine, test_card=None, funds_cents=3_000)
    _enable(engine, team)

    _spend(engine, team, 2_000)

    assert _auto_payments(engine, team) == []
    [notice] = _notices(engine, team)
    assert notice.title == "Auto-recharge has no card to charge"


def test_a_failed_card_is_not_tried_again_the_same_day_until_the_card_changes(engine):
    team = Team(engine, test_card="pm_card_chargeDeclined", funds_cents=3_000)
    _enable(engine, team, threshold_cents=2_000, amount_cents=5_000)
    _spend(engine, team, 2_000)  # declined
    with db.write_session(engine) as session:
        ledger.post_entry(
            session,
            organization_id=team.id,
            kind=EntryKind.CREDIT,
            amount_cents=1_500,
            idempotency_key="goodwill",
            memo="Back above the threshold",
        )

    _spend(engine, team, 1_500)  # a second crossing, same card
    assert len(_auto_payments(engine, team)) == 1

    with db.write_session(engine) as session:
        visa = make_card(session, team.organization, test_card="pm_card_visa", default=False)
    with db.write_session(engine) as session:
        cards.set_default_card(session, actor_of(team.owner), visa.id)
    assert recharge(engine, team.id) is not None

    statuses = [p.status for p in _auto_payments(engine, team)]
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]


# --- The sweep -----------------------------------------------------------------------------------


def test_the_sweep_recharges_organizations_under_their_threshold_not_recharged_today(engine):
    due = Team(engine, funds_cents=1_000)
    _enable(engine, due, threshold_cents=2_000, amount_cents=5_000)
    above = Team(engine, funds_cents=9_000)
    _enable(engine, above, threshold_cents=2_000)
    off = Team(engine, funds_cents=1_000)
    _enable(engine, off, enabled=False)
    tried = Team(engine, test_card="pm_card_chargeDeclined", funds_cents=1_000)
    _enable(engine, tried)
    failed = recharge(engine, tried.id)
    assert failed is not None and failed.status == PaymentStatus.FAILED

    summary = sweep(engine)

    assert (summary.recharged, summary.failed, summary.errors) == (1, 0, 0)
    assert [p.status for p in _auto_payments(engine, due)] == [PaymentStatus.SUCCEEDED]
    assert _available_cents(engine, due) == 6_000
    assert _auto_payments(engine, above) == [] and _auto_payments(engine, off) == []
    assert len(_auto_payments(engine, tried)) == 1
    assert sweep(engine).recharged == 0  # run again: nothing more


def test_the_sweep_tries_a_failed_organization_again_the_next_day(engine):
    team = Team(engine, test_card="pm_card_chargeDeclined", funds_cents=1_000)
    _enable(engine, team)
    today = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
    recharge(engine, team.id, now=today)

    summary = sweep(engine, now=today + timedelta(days=1))

    assert summary.failed == 1
    assert len(_auto_payments(engine, team)) == 2


# --- Settings ---------------------------------------------------------------------------------


def _save(engine, user, **values):
    fields = {"enabled": True, "threshold_cents": 2_000, "amount_cents": 5_000, **values}
    with db.write_session(engine) as session:
        return save_settings(session, actor_of(user), **fields)


def test_settings_read_as_off_with_defaults_until_saved(engine):
    team = Team(engine)
    with db.read_session(engine) as session:
        settings = auto_recharge.settings_of(session, team.id)

    assert (settings.enabled, settings.threshold_cents, settings.amount_cents) == (
        False,
        2_000,
        5_000,
    )


def test_saving_settings_keeps_them(engine):
    team = Team(engine, funds_cents=9_000)

    _save(engine, team.billing, threshold_cents=0, amount_cents=1_000_000)

    stored = fetch(engine, AutoRecharge, team.id)
    assert (stored.enabled, stored.threshold_cents, stored.amount_cents) == (True, 0, 1_000_000)
    assert stored.updated_by == team.billing.id


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"amount_cents": 999}, "amount"),
        ({"amount_cents": 1_000_001}, "amount"),
        ({"threshold_cents": -1}, "threshold"),
        ({"threshold_cents": 1_000_000}, "threshold"),
    ],
)
def test_settings_out_of_bounds_are_refused_by_field(engine, values, field):
    team = Team(engine)

    with pytest.raises(ValidationFailed) as refused:
        _save(engine, team.owner, **values)

    assert list(refused.value.errors) == [field]
    assert count(engine, AutoRecharge) == 0


def test_turning_it_on_needs_a_default_card(engine):
    team = Team(engine, test_card=None)

    with pytest.raises(ValidationFailed, match="add a card in Billing › Payment Methods"):
        _save(engine, team.owner)
    _save(engine, team.owner, enabled=False)  # saving it off needs no card
    assert not fetch(engine, AutoRecharge, team.id).enabled


def test_turning_it_on_refuses_an_expired_default_card(engine):
    team = Team(engine, test_card=None)
    with db.write_session(engine) as session:
        make_card(session, team.organization, exp_month=1, exp_year=2020)

    with pytest.raises(ValidationFailed, match="expired at the end of 01/2020"):
        _save(engine, team.owner)


def test_turning_it_on_under_the_threshold_recharges_at_once(engine):
    team = Team(engine, funds_cents=1_000)

    _save(engine, team.owner, threshold_cents=2_000, amount_cents=5_000)

    [payment] = _auto_payments(engine, team)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert _available_cents(engine, team) == 6_000


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_roles_without_billing_may_not_change_auto_recharge(engine, role):
    team = Team(engine)
    with db.write_session(engine) as session:
        member = make_user(session, organization=team.organization, role=role)

    with pytest.raises(PermissionDenied):
        _save(engine, member)


def test_the_default_card_can_be_removed_once_auto_recharge_is_off(engine):
    team = Team(engine)
    assert team.card is not None
    _save(engine, team.owner)
    with db.write_session(engine) as session, pytest.raises(Conflict):
        cards.remove_card(session, actor_of(team.owner), team.card.id)

    _save(engine, team.owner, enabled=False)
    with db.write_session(engine) as session:
        cards.remove_card(session, actor_of(team.owner), team.card.id)


@pytest.mark.parametrize(
    ("value", "ok"), [("1", True), ("24", True), ("0", False), ("25", False), ("2.5", False)]
)
def test_the_daily_limit_setting_is_a_whole_number_from_1_to_24(engine, value, ok):
    with db.write_session(engine) as session:
        staff = make_user(session, role=Role.STAFF)
    with db.write_session(engine) as session:
        if ok:
            platform.update_setting(
                session, actor_of(staff), platform.AUTO_RECHARGE_MAX_PER_DAY, value
            )
        else:
            with pytest.raises(ValidationFailed, match="1 to 24 times a day"):
                platform.update_setting(
                    session, actor_of(staff), platform.AUTO_RECHARGE_MAX_PER_DAY, value
                )
    with db.read_session(engine) as session:
        assert platform.auto_recharge_max_per_day(session) == (int(value) if ok else 3)


# --- The command ------------------------------------------------------------------------------


def test_the_recharge_command_sweeps_and_prints_a_summary(tmp_path, monkeypatch, capsys):
    from portal_core.__main__ import main
    from portal_core.settings import get_settings

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    assert main(["migrate"]) == 0
    engine = db.create_engine(url)
    try:
        team = Team(engine, funds_cents=1_000)
        _enable(engine, team, threshold_cents=2_000, amount_cents=5_000)
        capsys.readouterr()

        assert main(["billing", "recharge"]) == 0

        assert "Auto-recharge: 1 recharged" in capsys.readouterr().out
        assert [p.status for p in _auto_payments(engine, team)] == [PaymentStatus.SUCCEEDED]
    finally:
        engine.dispose()
