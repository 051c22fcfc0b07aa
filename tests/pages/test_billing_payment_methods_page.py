"""Billing › Payment Methods (AppTest): who may open it; the cards with brand, last four,
expiry, default and expired flags; the green + that adds a sandbox test card by name (or
sends to Stripe's page); making a card the default; removing one only after confirming, and
the refusal to remove the card auto-recharge charges; another organization's card never
reachable; and the journey on to Overview: add a card, make it the default, add funds with
the fee and total shown first, and see the new balance."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.billing import BillingAccount
from portal_core.models.payments import Payment, PaymentMethod
from portal_core.money import MICROS_PER_CENT
from portal_core.settings import ROOT, get_settings
from portal_core.ui import state
from tests.factories import (
    log_in,
    make_auto_recharge,
    make_card,
    make_organization,
    make_staff,
    make_user,
    organization_of,
)
from tests.pages.conftest import Portal, texts
from tests.support.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, running

PAGE = "pages/billing_payment_methods.py"
OVERVIEW = "pages/billing_overview.py"
BILLING_ROLES = [Role.OWNER, Role.ADMIN, Role.BILLING]
OTHER_ROLES = [Role.DEVELOPER, Role.VIEWER]
REMOVE_ASKED = "payment_methods.remove.asked"


def make_member(portal: Portal, role: Role = Role.OWNER) -> User:
    with db.write_session(portal.engine) as session:
        return make_user(session, role=role)


def add_card(
    portal: Portal,
    user: User,
    test_card: str = "pm_card_visa",
    *,
    default: bool | None = None,
    exp_month: int | None = None,
    exp_year: int | None = None,
) -> PaymentMethod:
    with db.write_session(portal.engine) as session:
        return make_card(
            session,
            organization_of(session, user),
            test_card=test_card,
            default=default,
            exp_month=exp_month,
            exp_year=exp_year,
        )


def open_page(portal: Portal, user: User, script: str = PAGE, **query: str) -> AppTest:
    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    app.session_state[state.SESSION_HANDLE] = log_in(portal.engine, user)
    app.switch_page(script)
    for name, value in query.items():
        app.query_params[name] = value
    return app.run()


def plain(app: AppTest) -> str:
    return re.sub(r"\\(.)", r"\1", texts(app))


def refused(app: AppTest) -> bool:
    return [str(title.value) for title in app.title] == ["No access"]


def button(app: AppTest, label: str) -> Button:
    matches = [widget for widget in app.button if widget.label == label]
    assert len(matches) == 1, f"expected one {label!r} button, found {len(matches)}"
    return matches[0]


def click(app: AppTest, label: str) -> AppTest:
    button(app, label).click()
    return app.run()


def cards_of(portal: Portal, user: User) -> list[tuple[str, str, bool, bool]]:
    """(brand, last four, default, removed) of each card the organization ever saved."""
    with db.read_session(portal.engine) as session:
        rows = session.exec(
            select(PaymentMethod)
            .where(PaymentMethod.organization_id == user.organization_id)
            .order_by(col(PaymentMethod.created_at))
        ).all()
        return [(row.brand, row.last4, row.is_default, row.removed_at is not None) for row in rows]


def card_rows(app: AppTest) -> list[str]:
    """The card lines drawn: "**Visa •••• 4242** :green-badge[…]"."""
    return [text for text in plain(app).splitlines() if "••••" in text]


# --- Who may open it -----------------------------------------------------------------------


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_their_cards_with_expiry_default_and_expired_flags(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_mastercard", exp_month=3, exp_year=2022)

    app = open_page(portal, user)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Payment Methods"]
    assert card_rows(app) == [
        "**Visa •••• 4242** :green-badge[:material/check: Default]",
        "**Mastercard •••• 4444** :red-badge[:material/event_busy: Expired]",
    ]
    captions = [str(caption.value) for caption in app.caption]
    assert "Expires 12/2034" in captions
    assert "Expired 03/2022" in captions
    # An expired card cannot become the default; it can be removed.
    assert [
        widget.label for widget in app.button if (widget.key or "").startswith("payment_methods.")
    ] == [
        "Add card",
        "Remove",
        "Remove",
    ]


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    add_card(portal, user)

    app = open_page(portal, user)

    assert refused(app)
    assert "••••" not in texts(app)
    assert "Add card" not in [widget.label for widget in app.button]


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = open_page(portal, staff)

    assert refused(app)


# --- Adding a card -------------------------------------------------------------------------


def test_with_no_card_the_page_says_so_and_offers_the_green_plus(portal: Portal) -> None:
    app = open_page(portal, make_member(portal))

    assert not app.exception
    assert any("No card saved yet" in str(info.value) for info in app.info)
    plus = button(app, "Add card")
    assert plus.proto.type == "primary"  # the theme's primary colour is green
    assert plus.proto.icon == ":material/add:"


def test_the_green_plus_adds_a_test_card_picked_by_name(portal: Portal) -> None:
    user = make_member(portal)
    app = click(open_page(portal, user), "Add card")

    [picker] = app.radio
    assert picker.label == "Test card"
    assert picker.options[:4] == [
        "Visa · 4242 4242 4242 4242 — Succeeds",
        "Mastercard · 5555 5555 5555 4444 — Succeeds",
        "American Express · 3782 822463 10005 — Succeeds",
        "Declined · 4000 0000 0000 0002 — Declines: “Your card was declined.”",
    ]
    assert not app.number_input and not [
        field for field in app.text_input if "number" in field.label.lower()
    ]
    picker.set_value("pm_card_amex")
    app = click(app.run(), "Save card")

    assert not app.exception
    assert cards_of(portal, user) == [("amex", "0005", True, False)]
    assert [str(toast.value) for toast in app.toast] == [
        "American Express •••• 0005 is saved. It is your default card."
    ]
    assert card_rows(app) == [
        "**American Express •••• 0005** :green-badge[:material/check: Default]"
    ]
    assert not app.radio  # the dialog closed


def test_cancelling_the_picker_saves_nothing(portal: Portal) -> None:
    user = make_member(portal)
    app = click(click(open_page(portal, user), "Add card"), "Cancel")

    assert not app.exception
    assert cards_of(portal, user) == []
    assert not app.radio


# --- The default ---------------------------------------------------------------------------


def test_another_card_can_be_made_the_default(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_mastercard")

    app = click(open_page(portal, user), "Make default")

    assert not app.exception
    assert cards_of(portal, user) == [
        ("visa", "4242", False, False),
        ("mastercard", "4444", True, False),
    ]
    assert [str(toast.value) for toast in app.toast] == [
        "Mastercard •••• 4444 is now your default card."
    ]
    assert card_rows(app)[0] == "**Mastercard •••• 4444** :green-badge[:material/check: Default]"


# --- Removing a card -----------------------------------------------------------------------


def remove_buttons(app: AppTest) -> list[Button]:
    return [widget for widget in app.button if widget.label == "Remove"]


def test_removing_a_card_asks_first_and_cancelling_keeps_it(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user)
    app = open_page(portal, user)

    [remove] = remove_buttons(app)
    remove.click()
    app.run()
    assert "Visa •••• 4242, expiring 12/2034, will no longer be offered for payments." in texts(app)
    assert cards_of(portal, user) == [("visa", "4242", True, False)]

    app = click(app, "Cancel")
    assert cards_of(portal, user) == [("visa", "4242", True, False)]
    assert "Remove card" not in [widget.label for widget in app.button]


def test_removing_the_default_card_after_confirming_makes_the_other_one_default(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_mastercard")
    app = open_page(portal, user)

    remove_buttons(app)[0].click()  # the default card is listed first
    app.run()
    app = click(app, "Remove card")

    assert not app.exception
    assert cards_of(portal, user) == [
        ("visa", "4242", False, True),
        ("mastercard", "4444", True, False),
    ]
    assert [str(toast.value) for toast in app.toast] == [
        "Visa •••• 4242 is removed. Mastercard •••• 4444 is now your default card."
    ]
    assert card_rows(app) == ["**Mastercard •••• 4444** :green-badge[:material/check: Default]"]


def test_the_card_auto_recharge_charges_cannot_be_removed_and_the_dialog_says_why(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user)
    with db.write_session(portal.engine) as session:
        make_auto_recharge(session, organization_of(session, user))
    app = open_page(portal, user)
    assert "auto-recharge charges this card" in plain(app)

    remove_buttons(app)[0].click()
    app.run()
    app = click(app, "Remove card")

    assert not app.exception
    assert [str(error.value) for error in app.error] == [
        "Visa •••• 4242 is the default card, which auto-recharge charges. Make another card "
        "the default, or turn auto-recharge off in Billing › Overview, then remove it."
    ]
    assert cards_of(portal, user) == [("visa", "4242", True, False)]


def test_another_organizations_card_cannot_be_asked_for_removal(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    theirs = add_card(portal, other)
    user = make_member(portal)
    add_card(portal, user)

    # A crafted request naming their card: the page knows only its own cards.
    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    app.session_state[state.SESSION_HANDLE] = log_in(portal.engine, user)
    app.session_state[REMOVE_ASKED] = str(theirs.id)
    app.switch_page(PAGE)
    app.run()

    assert not app.exception
    assert "Remove card" not in [widget.label for widget in app.button]
    assert cards_of(portal, other) == [("visa", "4242", True, False)]


# --- With Stripe ---------------------------------------------------------------------------


@pytest.fixture
def stripe(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with running() as fake:
        monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        monkeypatch.setenv("STRIPE_API_BASE", fake.url)
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def test_with_stripe_the_plus_links_to_stripes_secure_page(
    portal: Portal, stripe: FakeStripe
) -> None:
    user = make_member(portal)

    app = click(open_page(portal, user), "Add card")

    assert not app.exception
    assert not app.radio  # no test cards with Stripe
    [link] = app.get("link_button")
    assert link.proto.label == "Continue to secure card entry"
    [setup] = [obj for obj in stripe.objects.values() if obj["object"] == "checkout.session"]
    assert setup["mode"] == "setup"
    assert setup["success_url"].endswith("/billing_payment_methods?card_setup=done")
    assert link.proto.url == setup["url"]
    assert cards_of(portal, user) == []  # saved only when Stripe's webhook says so


def test_back_from_stripes_page_says_the_card_is_on_its_way(portal: Portal) -> None:
    app = open_page(portal, make_member(portal), card_setup="done")

    assert any("Stripe is confirming your card" in str(info.value) for info in app.info)
    app = click(app, "Dismiss")
    assert "card_setup" not in app.query_params


# --- The journey: a card, the default, funds -------------------------------------------------


def test_add_a_card_make_it_default_then_add_funds_with_the_fee_shown_first(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")

    app = click(open_page(portal, user), "Add card")
    app.radio[0].set_value("pm_card_mastercard")
    app = click(app.run(), "Save card")
    app = click(app, "Make default")
    assert card_rows(app)[0] == "**Mastercard •••• 4444** :green-badge[:material/check: Default]"

    overview = open_page(portal, user, OVERVIEW)
    assert (
        overview.selectbox(key="overview.add_funds.card")
        .format_func(overview.selectbox(key="overview.add_funds.card").value)
        .startswith("Mastercard •••• 4444")
    )
    overview.text_input(key="overview.add_funds.amount").input("40")
    overview.run()
    shown = plain(overview)
    assert "| Card convenience fee (2.95 %) | $1.18 |" in shown
    assert "| **Total charged to your card** | **$41.18** |" in shown
    with db.read_session(portal.engine) as session:
        assert session.exec(select(Payment)).all() == []  # nothing charged before Pay Now

    click(overview, "Pay now $41.18")

    assert not overview.exception
    assert "New balance: $40.00." in [str(toast.value) for toast in overview.toast][0]
    with db.read_session(portal.engine) as session:
        account = session.get(BillingAccount, user.organization_id)
        assert account is not None
        assert account.balance_micros == 4_000 * MICROS_PER_CENT
