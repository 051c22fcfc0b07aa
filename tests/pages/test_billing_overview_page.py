"""Billing › Overview (AppTest): who may open it; the account, its money, plan and requests;
the last payment; Add funds — the fee and total before paying, a success with the new
balance, a decline that credits nothing, a rerun while charging that charges once, Stripe's
hosted page and the status on return; a payment link of another organization; auto-recharge.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind, Subscription
from portal_core.models.payments import AutoRecharge, Payment, PaymentMethod, PaymentStatus
from portal_core.money import MICROS_PER_CENT
from portal_core.payments import stripe_gateway_for
from portal_core.services import ledger, platform
from portal_core.services.payments import cards, top_ups, webhook
from portal_core.settings import get_settings
from tests.factories import (
    actor_of,
    make_card,
    make_organization,
    make_staff,
    make_user,
    organization_of,
)
from tests.pages.conftest import (
    BILLING_ROLES,
    NOT_YOUR_ROLE,
    OTHER_ROLES,
    Portal,
    add_card,
    make_member,
    plain,
    refused,
    texts,
)
from tests.support.fake_stripe import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event_payload,
    running,
    signature_header,
)

PAGE = "pages/billing_overview.py"
AMOUNT = "overview.add_funds.amount"
ATTEMPT = "overview.add_funds.attempt"
CHARGING = "overview.add_funds.charging"
CARD = "overview.add_funds.card"
BOUNDS = "Add between $10.00 and $10,000.00, in whole cents."


# --- Helpers ---------------------------------------------------------------------------------


def open_page(portal: Portal, user: User, **query: str) -> AppTest:
    """The page as a deep link opens it, with ``query`` as its query parameters."""
    return portal.open(PAGE, as_user=user, query_params=query)


def organization_id_of(user: User) -> uuid.UUID:
    assert user.organization_id is not None
    return user.organization_id


def pay_buttons(app: AppTest) -> list[Button]:
    return [widget for widget in app.button if widget.label.startswith("Pay now")]


def enter_amount(app: AppTest, text: str) -> AppTest:
    app.text_input(key=AMOUNT).input(text)
    return app.run()


def pay(app: AppTest) -> AppTest:
    [button] = pay_buttons(app)
    button.click()
    return app.run()


def payments_of(portal: Portal, user: User) -> list[Payment]:
    with db.read_session(portal.engine) as session:
        return list(
            session.exec(
                select(Payment)
                .where(Payment.organization_id == user.organization_id)
                .order_by(col(Payment.created_at))
            ).all()
        )


def balance_cents(portal: Portal, user: User) -> int:
    with db.read_session(portal.engine) as session:
        account = session.get(BillingAccount, user.organization_id)
        assert account is not None
        return account.balance_micros // MICROS_PER_CENT


def metrics(app: AppTest) -> list[tuple[str, str]]:
    return [(str(metric.label), str(metric.value)) for metric in app.metric]


def links(app: AppTest) -> list[tuple[str, str, str]]:
    """(label, page, query) of each page link in the main area."""
    return [
        (link.proto.label, link.proto.page, link.proto.query_string)
        for link in app.main.get("page_link")
    ]


def error_texts(app: AppTest) -> list[str]:
    return [str(error.value) for error in app.error]


# --- Who may open it -----------------------------------------------------------------------


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_the_account_its_money_plan_and_requests(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    period = utcnow().astimezone(ZoneInfo("America/Toronto")).strftime("%Y-%m")
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization_id_of(user),
            kind=EntryKind.PAYMENT,
            amount_cents=15_000,
            idempotency_key=f"overview-{uuid.uuid4()}",
            memo="Top-up",
        )
        account = session.get(BillingAccount, user.organization_id)
        assert account is not None
        account.unbilled_micros = 1_234 * MICROS_PER_CENT
        account.period, account.period_requests = period, 17
        subscription = session.get(Subscription, user.organization_id)
        assert subscription is not None
        subscription.credit_limit_override_cents = 25_000
        session.add_all([account, subscription])
        organization = session.get(Organization, user.organization_id)
        assert organization is not None
        legal_name = organization.legal_name

    app = open_page(portal, user)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Overview"]
    assert metrics(app)[1:] == [
        ("Balance", "$150.00"),
        ("Unbilled usage", "$12.34"),
        ("Available funds", "$137.66"),
        ("Credit limit", "$250.00"),
    ]
    text = plain(app)
    assert f"**{legal_name}**" in text
    assert "Taxes by: Ontario, Canada" in text
    assert "Plan: **Free**, billed monthly" in text
    assert "This month: 17 of the 50 lookups included" in str(app.get("progress")[0].proto.text)
    assert ("Plans and pricing", "billing_pricing", "") in links(app)
    assert ("All transactions", "billing_transactions", "") in links(app)


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    add_card(portal, user)

    app = open_page(portal, user)

    assert not app.exception, app.exception
    assert refused(app)
    assert error_texts(app) == [NOT_YOUR_ROLE]
    assert not app.get("text_input")
    assert "Add funds" not in texts(app)


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = open_page(portal, staff)

    assert not app.exception, app.exception
    assert refused(app)
    assert error_texts(app) == [NOT_YOUR_ROLE]
    assert not pay_buttons(app)


# --- The last payment ----------------------------------------------------------------------


def test_the_last_payment_shows_with_its_status_and_a_link_to_it(portal: Portal) -> None:
    user = make_member(portal)
    card = add_card(portal, user)
    with db.write_session(portal.engine) as session:
        payment = top_ups.add_funds(
            session,
            actor_of(user),
            payment_method_id=card.id,
            amount_cents=4_200,
            idempotency_key="last-payment",
        )

    app = open_page(portal, user)

    text = plain(app)
    assert "**$42.00** on " in text
    assert f"Succeeded · Visa •••• 4242 · Reference {payment.reference}" in text
    assert ("Open in Payments", "billing_payments", f"payment={payment.id}") in links(app)


def test_a_new_organization_has_no_last_payment(portal: Portal) -> None:
    app = open_page(portal, make_member(portal))

    assert "No payments yet: funds you add by card appear here." in texts(app)


# --- Add funds: the card and the amount ----------------------------------------------------


def test_without_a_card_add_funds_sends_to_payment_methods_and_offers_no_pay_now(
    portal: Portal,
) -> None:
    app = open_page(portal, make_member(portal))

    assert not app.exception
    assert "You have no card to pay with yet: add one in Payment Methods" in texts(app)
    assert ("Add a card", "billing_payment_methods", "") in links(app)
    assert not [field for field in app.text_input if field.key == AMOUNT]
    assert not pay_buttons(app)


def test_an_expired_card_is_not_offered(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, exp_month=1, exp_year=2021)

    app = open_page(portal, user)

    assert "(your saved cards have expired)" in texts(app)
    assert not pay_buttons(app)


def test_the_default_card_is_preselected(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa", default=False)
    default = add_card(portal, user, "pm_card_mastercard", default=True)

    app = open_page(portal, user)

    picker = app.selectbox(key=CARD)
    assert picker.value == str(default.id)
    assert picker.options == [
        "Mastercard •••• 4444 · expires 12/2034 · default",
        "Visa •••• 4242 · expires 12/2034",
    ]


def test_the_fee_and_total_show_before_paying_and_nothing_is_charged_yet(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user)

    app = enter_amount(open_page(portal, user), "250")

    assert not app.exception
    text = plain(app)
    assert "| Amount added to your balance | $250.00 |" in text
    assert "| Card convenience fee (2.95 %) | $7.38 |" in text  # 7.375 rounds half-up
    assert "| **Total charged to your card** | **$257.38** |" in text
    assert [button.label for button in pay_buttons(app)] == ["Pay now $257.38"]
    assert payments_of(portal, user) == []


@pytest.mark.parametrize("typed", ["5", "10000.01", "12.345", "ten dollars"])
def test_a_bad_amount_shows_why_under_the_field_and_no_pay_now(portal: Portal, typed: str) -> None:
    user = make_member(portal)
    add_card(portal, user)

    app = enter_amount(open_page(portal, user), typed)

    assert not app.exception
    [message] = error_texts(app)
    assert BOUNDS in message
    assert not pay_buttons(app)


def test_a_decimal_comma_is_refused_not_read_as_thousands(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)

    app = enter_amount(open_page(portal, user), "10,50")

    assert not app.exception
    assert error_texts(app) == [
        "“10,50” is not an amount in dollars. Use a point for cents, as in 10.50; a comma may "
        f"only group thousands, as in 1,050.00. {BOUNDS}"
    ]
    assert "$1,050.00" not in plain(app)
    assert not pay_buttons(app)


def test_a_thousands_comma_is_quoted_as_thousands(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)

    app = enter_amount(open_page(portal, user), "1,050.00")

    assert not app.exception
    assert "| Amount added to your balance | $1,050.00 |" in plain(app)
    assert [button.label for button in pay_buttons(app)] == ["Pay now $1,080.98"]


# --- Add funds: paying ---------------------------------------------------------------------


def test_paying_credits_the_balance_and_shows_the_new_balance(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)
    app = enter_amount(open_page(portal, user), "100")

    app = pay(app)

    assert not app.exception
    [payment] = payments_of(portal, user)
    assert (payment.status, payment.amount_cents, payment.fee_cents, payment.total_cents) == (
        PaymentStatus.SUCCEEDED,
        10_000,
        295,
        10_295,
    )
    assert balance_cents(portal, user) == 10_000
    assert [str(toast.value) for toast in app.toast] == [
        "$100.00 added to your balance. New balance: $100.00."
    ]
    assert [str(message.value) for message in app.success] == [
        f"$100.00 added to your balance. New balance: $100.00. Reference {payment.reference}."
    ]
    assert ("Available funds", "$100.00") == metrics(app)[0]  # the top bar
    # The attempt is over: the amount is cleared, so no Pay Now is left to click again.
    assert app.text_input(key=AMOUNT).value == ""
    assert not pay_buttons(app)


def test_a_declined_card_says_why_and_credits_nothing(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_chargeDeclinedInsufficientFunds")
    app = enter_amount(open_page(portal, user), "100")
    key = app.session_state[ATTEMPT]

    app = pay(app)

    assert not app.exception
    assert error_texts(app) == [
        "Your card has insufficient funds. Nothing was added to your balance."
    ]
    assert balance_cents(portal, user) == 0
    [payment] = payments_of(portal, user)
    assert payment.status == PaymentStatus.FAILED
    assert not app.toast
    # Trying again is a new attempt, under a new key.
    assert app.session_state[ATTEMPT] != key
    assert len(pay_buttons(app)) == 1


def test_a_rerun_while_charging_charges_once(portal: Portal) -> None:
    user = make_member(portal)
    card = add_card(portal, user)
    app = enter_amount(open_page(portal, user), "100")
    key = app.session_state[ATTEMPT]
    app = pay(app)
    assert balance_cents(portal, user) == 10_000

    # The same charge again, as when a second click or a rerun interrupts the run that made
    # it before the attempt ended: it finds the payment already made under its key.
    app.session_state[CHARGING] = (key, str(card.id), 10_000, "")
    app.run()

    assert not app.exception
    assert len(payments_of(portal, user)) == 1
    assert balance_cents(portal, user) == 10_000
    # The rerun drew the outcome of the payment it found, not a blank or a second charge.
    [payment] = payments_of(portal, user)
    assert [str(message.value) for message in app.success] == [
        f"$100.00 added to your balance. New balance: $100.00. Reference {payment.reference}."
    ]
    assert app.session_state[CHARGING] is None


def test_the_fee_shown_is_the_fee_charged_when_staff_change_the_rate_before_pay_now(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user)
    app = enter_amount(open_page(portal, user), "100")
    assert [button.label for button in pay_buttons(app)] == ["Pay now $102.95"]
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
        platform.update_setting(session, actor_of(staff), platform.CARD_FEE, "5000")

    pay(app)

    [payment] = payments_of(portal, user)
    assert (payment.fee_cents, payment.total_cents) == (295, 10_295)


def test_a_click_on_the_pay_now_of_an_ended_attempt_charges_nothing(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)
    app = enter_amount(open_page(portal, user), "100")
    [button] = pay_buttons(app)

    # The attempt that drew this button ended meanwhile (its key was renewed); a late click
    # on the button as drawn carries the ended attempt's key, and records no charge.
    app.session_state[ATTEMPT] = uuid.uuid4().hex
    button.click()
    app.run()

    assert not app.exception
    assert payments_of(portal, user) == []
    assert balance_cents(portal, user) == 0
    # The page is still there, the amount and its Pay Now offered, and nothing was said.
    assert [str(title.value) for title in app.title] == ["Overview"]
    assert [button.label for button in pay_buttons(app)] == ["Pay now $102.95"]
    assert not app.success and not app.error


def test_a_second_payment_after_the_first_is_a_new_one(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)
    app = pay(enter_amount(open_page(portal, user), "100"))

    app = pay(enter_amount(app, "50"))

    assert not app.exception
    assert [payment.amount_cents for payment in payments_of(portal, user)] == [10_000, 5_000]
    assert balance_cents(portal, user) == 15_000


# --- A payment named by a link -------------------------------------------------------------


def test_a_payment_of_another_organization_by_link_is_not_found(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
        other_card = make_card(session, organization_of(session, other))
    with db.write_session(portal.engine) as session:
        theirs = top_ups.add_funds(
            session,
            actor_of(other),
            payment_method_id=other_card.id,
            amount_cents=7_700,
            idempotency_key="theirs",
        )

    app = open_page(portal, make_member(portal), payment=str(theirs.id))

    assert not app.exception
    assert "That payment was not found." in texts(app)
    assert theirs.reference not in texts(app)
    assert "$77.00" not in plain(app)


@pytest.mark.parametrize("raw", ["not-a-uuid", str(uuid.uuid4())])
def test_a_bad_payment_link_is_not_found(portal: Portal, raw: str) -> None:
    app = open_page(portal, make_member(portal), payment=raw)

    assert not app.exception
    assert "That payment was not found." in texts(app)


def test_a_declined_payment_by_link_says_why(portal: Portal) -> None:
    user = make_member(portal)
    card = add_card(portal, user, "pm_card_chargeDeclined")
    with pytest.raises(Exception, match="declined"), db.write_session(portal.engine) as session:
        top_ups.add_funds(
            session,
            actor_of(user),
            payment_method_id=card.id,
            amount_cents=2_000,
            idempotency_key="declined",
        )
    [payment] = payments_of(portal, user)

    app = open_page(portal, user, payment=str(payment.id))

    assert error_texts(app) == [
        f"Payment {payment.reference} of $20.00 did not go through: Your card was declined. "
        "Nothing was added to your balance."
    ]


# --- With Stripe ---------------------------------------------------------------------------


@pytest.fixture
def stripe(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """Stripe configured, pointed at the local fake."""
    with running() as fake:
        monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        monkeypatch.setenv("STRIPE_API_BASE", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def deliver(portal: Portal, event_type: str, data: dict[str, object]) -> None:
    payload = event_payload(event_type, data)
    gateway = stripe_gateway_for()
    assert gateway is not None
    webhook.receive_stripe_webhook(
        portal.engine, payload, signature_header(payload), gateway=gateway
    )


def stripe_card(portal: Portal, stripe: FakeStripe, user: User) -> PaymentMethod:
    with db.write_session(portal.engine) as session:
        setup = cards.start_adding_card(session, actor_of(user))
    assert setup.checkout_url is not None
    session_id = setup.checkout_url.rsplit("/", 1)[1]
    deliver(portal, "checkout.session.completed", stripe.complete_setup(session_id))
    with db.read_session(portal.engine) as session:
        return session.exec(
            select(PaymentMethod).where(PaymentMethod.organization_id == user.organization_id)
        ).one()


def test_with_stripe_pay_now_sends_to_the_secure_page_and_the_return_shows_the_status(
    portal: Portal, stripe: FakeStripe
) -> None:
    user = make_member(portal)
    stripe_card(portal, stripe, user)
    app = pay(enter_amount(open_page(portal, user), "100"))

    assert not app.exception
    [payment] = payments_of(portal, user)
    assert payment.status == PaymentStatus.PENDING and payment.checkout_url
    assert app.query_params["payment"] == str(payment.id)
    [link] = app.get("link_button")
    assert (link.proto.label, link.proto.url) == (
        "Continue to secure payment",
        payment.checkout_url,
    )
    assert f"Payment {payment.reference} of $100.00 is pending" in texts(app)
    assert balance_cents(portal, user) == 0  # a redirect credits nothing

    # Back from Stripe's page before its webhook: still pending.
    back = open_page(portal, user, payment=str(payment.id))
    assert f"Payment {payment.reference} of $100.00 is pending" in texts(back)

    session_id = payment.checkout_url.rsplit("/", 1)[1]
    deliver(portal, "checkout.session.completed", stripe.pay_checkout(session_id))
    back = open_page(portal, user, payment=str(payment.id))

    assert [str(message.value) for message in back.success] == [
        f"Payment {payment.reference} of $100.00 went through: it was added to your balance."
    ]
    assert not back.get("link_button")
    assert balance_cents(portal, user) == 10_000


def test_with_stripe_leaving_the_secure_page_says_nothing_was_charged(
    portal: Portal, stripe: FakeStripe
) -> None:
    user = make_member(portal)
    stripe_card(portal, stripe, user)
    pay(enter_amount(open_page(portal, user), "100"))
    [payment] = payments_of(portal, user)

    app = open_page(portal, user, payment=str(payment.id), cancelled="1")

    assert "you left the secure payment page without paying, so nothing was charged" in texts(app)
    [link] = app.get("link_button")
    assert link.proto.url == payment.checkout_url


# --- Auto-recharge -------------------------------------------------------------------------


def recharge_form(app: AppTest, *, on: bool, threshold: str, amount: str) -> AppTest:
    [toggle] = [widget for widget in app.toggle if widget.label == "Recharge automatically"]
    toggle.set_value(on)
    fields = {field.label: field for field in app.text_input if field.form_id}
    fields["When available funds fall below (USD)"].input(threshold)
    fields["Add this amount (USD)"].input(amount)
    [save] = [widget for widget in app.button if widget.label == "Save auto-recharge"]
    save.click()
    return app.run()


def saved_recharge(portal: Portal, user: User) -> AutoRecharge | None:
    with db.read_session(portal.engine) as session:
        return session.get(AutoRecharge, user.organization_id)


def test_auto_recharge_shows_the_card_it_charges_and_the_daily_limit(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_amex")

    app = open_page(portal, user)

    text = plain(app)
    assert "Charges **American Express •••• 0005** (your default card, expires 12/2034)." in text
    assert "at most 3 times a day" in text


def test_auto_recharge_is_saved_on_with_its_threshold_and_amount(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=organization_id_of(user),
            kind=EntryKind.PAYMENT,
            amount_cents=50_000,
            idempotency_key="funds",
            memo="Top-up",
        )

    app = recharge_form(open_page(portal, user), on=True, threshold="25", amount="75.50")

    assert not app.exception
    saved = saved_recharge(portal, user)
    assert saved is not None
    assert (saved.enabled, saved.threshold_cents, saved.amount_cents) == (True, 2_500, 7_550)
    assert [str(toast.value) for toast in app.toast] == ["Auto-recharge is on."]


def test_auto_recharge_without_a_card_says_so_under_the_switch(portal: Portal) -> None:
    user = make_member(portal)

    app = recharge_form(open_page(portal, user), on=True, threshold="20", amount="50")

    assert not app.exception
    assert error_texts(app) == [
        "Auto-recharge charges your default card: add a card in Billing › Payment Methods first."
    ]
    assert saved_recharge(portal, user) is None


def test_auto_recharge_bad_figures_show_under_their_fields(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)

    app = recharge_form(open_page(portal, user), on=True, threshold="-1", amount="5")

    assert not app.exception
    errors = error_texts(app)
    assert len(errors) == 2
    assert errors[0] == "Set a threshold from $0.00 up to $9,999.99, in whole cents."
    assert BOUNDS in errors[1]
    assert saved_recharge(portal, user) is None


def test_auto_recharge_refuses_a_decimal_comma_and_saves_nothing(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)

    app = recharge_form(open_page(portal, user), on=True, threshold="20", amount="10,50")

    assert not app.exception
    [message] = error_texts(app)
    assert message.startswith("“10,50” is not an amount in dollars. Use a point for cents")
    assert saved_recharge(portal, user) is None


def test_utc_is_not_assumed_for_the_last_payment_date(portal: Portal) -> None:
    # Late evening in Toronto is the next day in UTC: the date shown is Toronto's.
    user = make_member(portal)
    card = add_card(portal, user)
    late = datetime(2026, 11, 3, 3, 30, tzinfo=UTC)  # 22:30 on the 2nd in Toronto
    with db.write_session(portal.engine) as session:
        top_ups.add_funds(
            session,
            actor_of(user),
            payment_method_id=card.id,
            amount_cents=1_000,
            idempotency_key="late",
            now=late,
        )

    app = open_page(portal, user)

    assert "**$10.00** on 2026-11-02" in plain(app)
