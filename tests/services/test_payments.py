"""Cards and adding funds in the sandbox: the fee and its bounds, saving and removing cards,
charging (success credited once, each decline kept as a failed payment with Stripe's reason),
idempotency by key, expired cards, roles, and another organization's ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import (
    Conflict,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
    ValidationFailed,
)
from portal_core.models.accounts import Organization, Role
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry, PlatformSetting
from portal_core.models.notices import Notice, NoticeKind
from portal_core.models.payments import Payment, PaymentMethod, PaymentSource, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.payments.test_cards import CARD_DECLINED, EXPIRED_CARD, INSUFFICIENT_FUNDS
from portal_core.permissions import Capability
from portal_core.queries import dashboard as dashboard_queries
from portal_core.services import ledger
from portal_core.services.payments import cards, top_ups
from portal_core.services.payments.top_ups import AMOUNT_BOUNDS, fee_cents, parse_amount, quote_at
from tests.factories import actor_of, make_auto_recharge, make_card, make_user, organization_of
from tests.services.support import body_of, count, fetch, mail_to

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def _member(engine, role: Role = Role.OWNER, organization=None):
    with db.write_session(engine) as session:
        return make_user(session, role=role, organization=organization)


def _organization(engine, user) -> Organization:
    return fetch(engine, Organization, user.organization_id)


def _card(engine, user, test_card: str = "pm_card_visa", **kwargs):
    with db.write_session(engine) as session:
        organization = organization_of(session, user)
        return make_card(session, organization, test_card=test_card, **kwargs)


def _add_funds(engine, user, card_id, amount_cents=2_500, key=None):
    with db.write_session(engine) as session:
        return top_ups.add_funds(
            session,
            actor_of(user),
            payment_method_id=card_id,
            amount_cents=amount_cents,
            idempotency_key=key or uuid.uuid4().hex,
            now=NOW,
        )


def _balance_cents(engine, user) -> int:
    return fetch(engine, BillingAccount, user.organization_id).balance_micros // MICROS_PER_CENT


# --- The fee and the bounds --------------------------------------------------------------------


@given(
    amount=st.integers(min_value=1_000, max_value=1_000_000),
    rate=st.integers(min_value=0, max_value=10_000),
)
def test_the_fee_is_the_amount_times_the_rate_rounded_half_up_once(amount, rate):
    quote = quote_at(amount, rate)

    # amount × rate in hundred-thousandths of a cent, exactly; half-up means the fee is the
    # whole cent within half a cent of it, the upper half included.
    exact = amount * rate
    assert quote.fee_cents * 100_000 - 50_000 <= exact < quote.fee_cents * 100_000 + 50_000
    assert quote.total_cents == quote.amount_cents + quote.fee_cents
    assert all(
        type(figure) is int
        for figure in (
            quote.amount_cents,
            quote.fee_cents,
            quote.total_cents,
            quote.fee_millipercent,
        )
    )


def test_a_quote_shows_amount_fee_rate_and_total_at_the_platform_rate(engine):
    with db.read_session(engine) as session:
        quote = top_ups.quote(session, 10_000)

    assert (quote.amount_cents, quote.fee_millipercent, quote.fee_cents, quote.total_cents) == (
        10_000,
        2_950,
        295,
        10_295,
    )
    assert quote.fee_rate == "2.95 %"


def test_the_fee_rounds_half_up_to_the_cent_at_the_platform_rate(engine):
    with db.write_session(engine) as session:
        session.execute(
            update(PlatformSetting)
            .where(col(PlatformSetting.key) == "card_fee_millipercent")
            .values(value="2500")  # 2.5 %
        )
    with db.read_session(engine) as session:
        quote = top_ups.quote(session, 1_001)  # 2.5025 cents

    assert quote.fee_cents == 25
    assert fee_cents(1_020, 2_450) == 25  # 24.99 cents → 25
    assert fee_cents(1_010, 2_500) == 25  # 25.25 → 25
    assert fee_cents(1_020, 2_500) == 26  # 25.5 → 26 (half-up)


@pytest.mark.parametrize("text", ["9.99", "10000.01", "10.001", "ten", "-50"])
def test_amounts_outside_the_bounds_or_in_fractions_of_a_cent_are_refused(text):
    with pytest.raises(ValidationFailed) as refused:
        parse_amount(text)

    assert AMOUNT_BOUNDS in refused.value.errors["amount"]
    assert "$10.00 and $10,000.00" in refused.value.errors["amount"]


@pytest.mark.parametrize(
    ("text", "cents"), [("10", 1_000), ("$10,000.00", 1_000_000), ("25.5", 2_550)]
)
def test_amounts_within_the_bounds_are_accepted(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize("cents", [999, 1_000_001, 0, -1_000])
def test_a_quote_refuses_cents_outside_the_bounds(engine, cents):
    with db.read_session(engine) as session, pytest.raises(ValidationFailed, match=r"\$10\.00"):
        top_ups.quote(session, cents)


# --- Cards -----------------------------------------------------------------------------------


def test_the_first_card_saved_becomes_the_default_and_the_second_does_not(engine):
    owner = _member(engine)
    with db.write_session(engine) as session:
        first = cards.start_adding_card(session, actor_of(owner), test_card="pm_card_visa").card
        second = cards.start_adding_card(
            session, actor_of(owner), test_card="pm_card_mastercard"
        ).card

    assert first is not None and second is not None
    assert fetch(engine, PaymentMethod, first.id).is_default
    assert not fetch(engine, PaymentMethod, second.id).is_default
    assert (second.brand, second.last4) == ("mastercard", "4444")


def test_saving_the_same_test_card_twice_keeps_one_card(engine):
    owner = _member(engine)
    with db.write_session(engine) as session:
        first = cards.start_adding_card(session, actor_of(owner), test_card="pm_card_visa").card
        again = cards.start_adding_card(session, actor_of(owner), test_card="pm_card_visa").card

    assert first is not None and again is not None and first.id == again.id
    assert count(engine, PaymentMethod) == 1


def test_setting_the_default_moves_it_from_the_previous_card(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    mastercard = _card(engine, owner, "pm_card_mastercard")
    with db.write_session(engine) as session:
        cards.set_default_card(session, actor_of(owner), mastercard.id)

    assert fetch(engine, PaymentMethod, mastercard.id).is_default
    assert not fetch(engine, PaymentMethod, visa.id).is_default


def test_removing_the_default_card_makes_the_newest_remaining_card_the_default(engine):
    owner = _member(engine)
    visa = _card(engine, owner, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    amex = _card(engine, owner, "pm_card_amex", created_at=datetime(2026, 2, 1, tzinfo=UTC))
    mastercard = _card(
        engine, owner, "pm_card_mastercard", created_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    with db.write_session(engine) as session:
        new_default = cards.remove_card(session, actor_of(owner), visa.id)

    assert new_default is not None and new_default.id == mastercard.id
    assert fetch(engine, PaymentMethod, visa.id).removed_at is not None
    assert fetch(engine, PaymentMethod, mastercard.id).is_default
    assert not fetch(engine, PaymentMethod, amex.id).is_default


def test_an_expired_card_cannot_be_made_the_default(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    mastercard = _card(engine, owner, "pm_card_mastercard", exp_month=10, exp_year=2026)

    with (
        db.write_session(engine) as session,
        pytest.raises(ValidationFailed) as refused,
    ):
        cards.set_default_card(session, actor_of(owner), mastercard.id, now=NOW)

    # The same words as a charge to it (NOW is November 2026).
    assert refused.value.errors == {
        "payment_method_id": "Mastercard •••• 4444 expired at the end of 10/2026: choose "
        "another card, or add a new one in Billing › Payment Methods."
    }
    with pytest.raises(ValidationFailed) as charged:
        _add_funds(engine, owner, mastercard.id)
    assert charged.value.message == refused.value.message
    assert fetch(engine, PaymentMethod, visa.id).is_default
    assert not fetch(engine, PaymentMethod, mastercard.id).is_default


def test_a_card_can_be_made_the_default_through_its_expiry_month(engine):
    owner = _member(engine)
    _card(engine, owner)
    mastercard = _card(engine, owner, "pm_card_mastercard", exp_month=11, exp_year=2026)
    with db.write_session(engine) as session:
        cards.set_default_card(session, actor_of(owner), mastercard.id, now=NOW)

    assert fetch(engine, PaymentMethod, mastercard.id).is_default


def test_removing_the_default_card_passes_over_expired_cards(engine):
    owner = _member(engine)
    visa = _card(engine, owner, created_at=datetime(2026, 1, 1, tzinfo=UTC))
    amex = _card(engine, owner, "pm_card_amex", created_at=datetime(2026, 2, 1, tzinfo=UTC))
    expired = _card(
        engine,
        owner,
        "pm_card_mastercard",
        exp_month=10,
        exp_year=2026,
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    with db.write_session(engine) as session:
        new_default = cards.remove_card(session, actor_of(owner), visa.id, now=NOW)

    assert new_default is not None and new_default.id == amex.id
    assert not fetch(engine, PaymentMethod, expired.id).is_default


def test_removing_the_default_card_leaves_no_default_when_only_expired_cards_remain(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    expired = _card(engine, owner, "pm_card_mastercard", exp_month=10, exp_year=2026)
    with db.write_session(engine) as session:
        assert cards.remove_card(session, actor_of(owner), visa.id, now=NOW) is None

    assert not fetch(engine, PaymentMethod, expired.id).is_default
    with db.read_session(engine) as session:
        assert cards.default_card_of(session, owner.organization_id) is None


def test_removing_a_card_that_is_not_the_default_leaves_the_default_alone(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    amex = _card(engine, owner, "pm_card_amex")
    with db.write_session(engine) as session:
        assert cards.remove_card(session, actor_of(owner), amex.id) is None

    assert fetch(engine, PaymentMethod, visa.id).is_default


def test_the_default_card_cannot_be_removed_while_auto_recharge_uses_it(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    with db.write_session(engine) as session:
        make_auto_recharge(session, organization_of(session, owner))

    with (
        db.write_session(engine) as session,
        pytest.raises(Conflict, match="Visa •••• 4242 is the default card, which auto-recharge"),
    ):
        cards.remove_card(session, actor_of(owner), visa.id)

    assert fetch(engine, PaymentMethod, visa.id).removed_at is None


def test_a_removed_card_saved_again_comes_back(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    with db.write_session(engine) as session:
        cards.remove_card(session, actor_of(owner), visa.id)
    with db.write_session(engine) as session:
        again = cards.start_adding_card(session, actor_of(owner), test_card="pm_card_visa").card

    assert again is not None and again.id == visa.id
    stored = fetch(engine, PaymentMethod, visa.id)
    assert stored.removed_at is None and stored.is_default


def test_a_removed_card_cannot_be_charged_or_made_default(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    amex = _card(engine, owner, "pm_card_amex")
    with db.write_session(engine) as session:
        cards.remove_card(session, actor_of(owner), amex.id)

    with pytest.raises(NotFound):
        _add_funds(engine, owner, amex.id)
    with db.write_session(engine) as session, pytest.raises(NotFound):
        cards.set_default_card(session, actor_of(owner), amex.id)
    assert fetch(engine, PaymentMethod, visa.id).is_default


# --- Adding funds ------------------------------------------------------------------------------


def test_a_successful_top_up_credits_the_amount_not_the_fee_once(engine, outbox_dir):
    owner = _member(engine)
    visa = _card(engine, owner)

    payment = _add_funds(engine, owner, visa.id, amount_cents=2_500)

    assert payment.status == PaymentStatus.SUCCEEDED
    assert (payment.amount_cents, payment.fee_cents, payment.total_cents) == (2_500, 74, 2_574)
    assert payment.card_label == "Visa •••• 4242" and payment.card_last4 == "4242"
    assert payment.reference.startswith("PAY-") and len(payment.reference) == 12
    assert _balance_cents(engine, owner) == 2_500
    with db.read_session(engine) as session:
        entry = session.get(LedgerEntry, payment.ledger_entry_id)
        assert entry is not None
        assert (entry.kind, entry.amount_cents, entry.idempotency_key) == (
            EntryKind.PAYMENT,
            2_500,
            f"payment:{payment.id}",
        )
        assert ledger.balance_mismatches(session) == []
    [receipt] = mail_to(outbox_dir, owner.email)
    assert payment.reference in receipt["Subject"]
    assert "Total charged to the card: $25.74" in body_of(receipt)


def test_a_top_up_credited_at_a_given_time_is_dated_then_in_the_ledger(engine):
    owner = _member(engine)
    visa = _card(engine, owner)

    payment = _add_funds(engine, owner, visa.id)

    entry = fetch(engine, LedgerEntry, payment.ledger_entry_id)
    assert payment.settled_at == NOW
    assert entry.created_at == NOW  # the Transactions list orders the history by it


def test_the_same_key_twice_returns_the_same_payment_and_charges_once(engine):
    owner = _member(engine)
    visa = _card(engine, owner)

    first = _add_funds(engine, owner, visa.id, key="double-click")
    second = _add_funds(engine, owner, visa.id, key="double-click")

    assert first.id == second.id
    assert count(engine, Payment) == 1
    assert count(engine, LedgerEntry) == 1
    assert _balance_cents(engine, owner) == 2_500


def test_the_same_key_with_another_amount_is_a_conflict(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    _add_funds(engine, owner, visa.id, amount_cents=2_500, key="k")

    with pytest.raises(Conflict, match="another card or amount"):
        _add_funds(engine, owner, visa.id, amount_cents=5_000, key="k")
    assert _balance_cents(engine, owner) == 2_500


def test_two_organizations_may_use_the_same_key(engine):
    first, second = _member(engine), _member(engine)

    one = _add_funds(engine, first, _card(engine, first).id, key="same-key")
    two = _add_funds(engine, second, _card(engine, second).id, key="same-key")

    assert one.id != two.id
    assert _balance_cents(engine, first) == _balance_cents(engine, second) == 2_500


@pytest.mark.parametrize(
    ("test_card", "message"),
    [
        ("pm_card_chargeDeclined", CARD_DECLINED),
        ("pm_card_chargeDeclinedInsufficientFunds", INSUFFICIENT_FUNDS),
        ("pm_card_chargeDeclinedExpiredCard", EXPIRED_CARD),
    ],
)
def test_a_declined_card_keeps_a_failed_payment_with_its_reason_and_credits_nothing(
    engine, test_card, message
):
    owner = _member(engine)
    card = _card(engine, owner, test_card)

    with pytest.raises(PaymentDeclined, match=message) as declined:
        _add_funds(engine, owner, card.id, key="attempt-1")

    payment = fetch(engine, Payment, declined.value.payment_id)
    assert (payment.status, payment.failure_message) == (PaymentStatus.FAILED, message)
    assert payment.ledger_entry_id is None
    assert _balance_cents(engine, owner) == 0
    assert count(engine, LedgerEntry) == 0
    with db.read_session(engine) as session:
        [notice] = session.exec(select(Notice)).all()
    assert notice.kind == NoticeKind.PAYMENT_FAILED
    assert notice.capability == Capability.BILLING_READ.value
    assert notice.organization_id == owner.organization_id
    assert message in notice.body and payment.reference in notice.body


def test_retrying_a_declined_attempt_with_its_key_declines_again_without_a_second_payment(engine):
    owner = _member(engine)
    card = _card(engine, owner, "pm_card_chargeDeclined")
    with pytest.raises(PaymentDeclined):
        _add_funds(engine, owner, card.id, key="attempt-1")

    with pytest.raises(PaymentDeclined, match=CARD_DECLINED):
        _add_funds(engine, owner, card.id, key="attempt-1")

    assert count(engine, Payment) == 1
    assert count(engine, Notice) == 1


def test_a_retry_after_a_decline_with_a_new_key_and_another_card_succeeds(engine):
    owner = _member(engine)
    declined = _card(engine, owner, "pm_card_chargeDeclinedInsufficientFunds")
    visa = _card(engine, owner)
    with pytest.raises(PaymentDeclined):
        _add_funds(engine, owner, declined.id, key="attempt-1")

    payment = _add_funds(engine, owner, visa.id, key="attempt-2")

    assert payment.status == PaymentStatus.SUCCEEDED
    assert _balance_cents(engine, owner) == 2_500
    assert count(engine, Payment) == 2


def test_the_authentication_card_succeeds_when_the_partner_pays(engine):
    owner = _member(engine)
    card = _card(engine, owner, "pm_card_authenticationRequired")

    assert _add_funds(engine, owner, card.id).status == PaymentStatus.SUCCEEDED


def test_an_expired_card_cannot_be_charged(engine):
    owner = _member(engine)
    card = _card(engine, owner, exp_month=10, exp_year=2026)  # NOW is November 2026

    with pytest.raises(ValidationFailed, match="Visa •••• 4242 expired at the end of 10/2026"):
        _add_funds(engine, owner, card.id)
    assert count(engine, Payment) == 0


def test_a_card_is_good_through_its_expiry_month(engine):
    owner = _member(engine)
    card = _card(engine, owner, exp_month=11, exp_year=2026)

    assert _add_funds(engine, owner, card.id).status == PaymentStatus.SUCCEEDED


def test_on_the_first_in_utc_a_card_is_usable_everywhere_until_the_month_ends_in_billing_time(
    engine,
):
    owner = _member(engine)
    card = _card(engine, owner, exp_month=11, exp_year=2026)
    # 1 December 02:00 UTC is still 30 November in the billing time zone (America/Toronto).
    utc_first = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

    with db.read_session(engine) as session:
        checklist = {
            item.label: item.done
            for item in dashboard_queries.setup_checklist(session, actor_of(owner), now=utc_first)
        }
    with db.write_session(engine) as session:
        made_default = cards.set_default_card(session, actor_of(owner), card.id, now=utc_first)
        paid = top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=2_500,
            idempotency_key="first-of-the-month",
            now=utc_first,
        )

    assert checklist["Payment method"] is True
    assert made_default.is_default
    assert paid.status == PaymentStatus.SUCCEEDED


@pytest.mark.parametrize("amount", [999, 1_000_001])
def test_add_funds_refuses_amounts_out_of_bounds_and_records_nothing(engine, amount):
    owner = _member(engine)
    visa = _card(engine, owner)

    with pytest.raises(ValidationFailed, match=r"\$10\.00 and \$10,000\.00"):
        _add_funds(engine, owner, visa.id, amount_cents=amount)
    assert count(engine, Payment) == 0


@pytest.mark.parametrize("amount", [1_000, 1_000_000])
def test_add_funds_accepts_the_bounds_themselves(engine, amount):
    owner = _member(engine)
    visa = _card(engine, owner)

    assert _add_funds(engine, owner, visa.id, amount_cents=amount).amount_cents == amount


def test_a_top_up_is_recorded_as_a_portal_payment_by_its_maker(engine):
    billing = _member(engine, Role.BILLING)
    visa = _card(engine, billing)

    payment = _add_funds(engine, billing, visa.id)

    assert (payment.source, payment.created_by) == (PaymentSource.PORTAL, billing.id)


# --- Roles and tenancy --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_roles_without_billing_may_not_add_cards_or_funds(engine, role):
    owner = _member(engine)
    visa = _card(engine, owner)
    member = _member(engine, role, _organization(engine, owner))

    with db.write_session(engine) as session, pytest.raises(PermissionDenied):
        cards.start_adding_card(session, actor_of(member), test_card="pm_card_visa")
    with pytest.raises(PermissionDenied):
        _add_funds(engine, member, visa.id)
    with db.write_session(engine) as session, pytest.raises(PermissionDenied):
        cards.set_default_card(session, actor_of(member), visa.id)
    with db.write_session(engine) as session, pytest.raises(PermissionDenied):
        cards.remove_card(session, actor_of(member), visa.id)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING])
def test_admins_and_billing_members_may_add_funds(engine, role):
    owner = _member(engine)
    visa = _card(engine, owner)
    member = _member(engine, role, _organization(engine, owner))

    assert _add_funds(engine, member, visa.id).status == PaymentStatus.SUCCEEDED


def test_staff_may_not_add_funds_to_an_organization(engine):
    owner = _member(engine)
    visa = _card(engine, owner)
    staff = _member(engine, Role.STAFF)

    with pytest.raises(PermissionDenied):
        _add_funds(engine, staff, visa.id)


def test_another_organizations_card_is_not_found_for_every_card_action(engine):
    mine, theirs = _member(engine), _member(engine)
    their_card = _card(engine, theirs)
    _card(engine, mine)

    with pytest.raises(NotFound, match="That card was not found"):
        _add_funds(engine, mine, their_card.id)
    with db.write_session(engine) as session, pytest.raises(NotFound):
        cards.set_default_card(session, actor_of(mine), their_card.id)
    with db.write_session(engine) as session, pytest.raises(NotFound):
        cards.remove_card(session, actor_of(mine), their_card.id)
    stored = fetch(engine, PaymentMethod, their_card.id)
    assert stored.is_default and stored.removed_at is None
    assert count(engine, Payment) == 0


def test_an_unknown_card_id_is_not_found(engine):
    owner = _member(engine)

    with pytest.raises(NotFound):
        _add_funds(engine, owner, uuid.uuid4())


def test_a_quote_holds_its_fee_when_the_rate_changes_before_pay_now(engine):
    owner = _member(engine)
    card = _card(engine, owner)
    with db.read_session(engine) as session:
        shown = top_ups.quote(session, 10_000, organization_id=owner.organization_id, now=NOW)
    _set_card_fee(engine, "5000")  # staff raise the fee to 5 % meanwhile

    with db.write_session(engine) as session:
        paid = top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=10_000,
            idempotency_key="quoted",
            quote_token=shown.token,
            now=NOW,
        )

    assert (paid.fee_millipercent, paid.fee_cents, paid.total_cents) == (2_950, 295, 10_295)


@pytest.mark.parametrize("tampered", ["rate", "amount", "organization", "age"])
def test_a_quote_altered_reused_elsewhere_or_too_old_is_refused(engine, tampered):
    owner = _member(engine)
    other = _member(engine)
    card = _card(engine, owner)
    with db.read_session(engine) as session:
        shown = top_ups.quote(session, 10_000, organization_id=owner.organization_id, now=NOW)
    token, amount, payer, when = shown.token, 10_000, owner, NOW
    if tampered == "rate":
        stamp, _rate, signature = token.split(".")
        token = f"{stamp}.0.{signature}"
    elif tampered == "amount":
        amount = 20_000
    elif tampered == "organization":
        payer = other
        card = _card(engine, other)
    else:
        when = NOW + top_ups.QUOTE_LIFETIME + timedelta(seconds=1)

    with pytest.raises(ValidationFailed, match="fee"), db.write_session(engine) as session:
        top_ups.add_funds(
            session,
            actor_of(payer),
            payment_method_id=card.id,
            amount_cents=amount,
            idempotency_key=f"tampered-{tampered}",
            quote_token=token,
            now=when,
        )
    assert count(engine, Payment) == 0


def _set_card_fee(engine, value: str) -> None:
    from portal_core.services import platform
    from tests.factories import make_staff

    with db.write_session(engine) as session:
        staff = make_staff(session)
        platform.update_setting(session, actor_of(staff), platform.CARD_FEE, value)
