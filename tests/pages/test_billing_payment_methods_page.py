"""Billing › Payment Methods (AppTest): who may open it; the cards in the portal's table (card,
brand, last four, expiry, default, Active or Expired; filter, gear and CSV); the green + that
adds a sandbox test card by name (or sends to Stripe's page); selecting a card for its
actions: making it the default (never an expired one; the service's refusal shown), removing
it only after confirming, and the refusal to remove the card auto-recharge charges; another
organization's card never listed nor reachable; and the journey on to Overview: add a card,
make it the default, add funds with the fee and total shown first, and see the new balance."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.billing import BillingAccount
from portal_core.models.payments import Payment, PaymentMethod
from portal_core.money import MICROS_PER_CENT
from portal_core.payments.gateway import card_label
from portal_core.services.payments import cards
from portal_core.settings import ROOT, get_settings
from portal_core.ui import state
from tests.factories import (
    actor_of,
    log_in,
    make_auto_recharge,
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
    texts,
)
from tests.support.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe, running

PAGE = "pages/billing_payment_methods.py"
OVERVIEW = "pages/billing_overview.py"
REMOVE_ASKED = "payment_methods.remove.asked"
TABLE = "payment_methods.cards"
SELECTED = "payment_methods.selected"


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


def table_of(app: AppTest) -> pd.DataFrame:
    [frame] = app.dataframe
    return frame.value


def table_rows(app: AppTest) -> list[tuple[str, str, str, str]]:
    """(card, expires, default, status) of each row of the table, top to bottom."""
    frame = table_of(app)
    return list(zip(frame["card"], frame["expiry"], frame["default"], frame["status"], strict=True))


def select_card(app: AppTest, card: PaymentMethod) -> AppTest:
    """Select ``card``'s row as a click on it does: the grid's selection, and the page's
    record of the card clicked (what the table's ``on_select`` keeps)."""
    [frame] = app.dataframe
    assert frame.key is not None  # the table keys its grid
    row = list(frame.value["card"]).index(card_label(card.brand, card.last4))
    app.session_state[frame.key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    app.session_state[SELECTED] = card.id
    return app.run()


def saved_card(portal: Portal, user: User, last4: str) -> PaymentMethod:
    with db.read_session(portal.engine) as session:
        return session.exec(
            select(PaymentMethod).where(
                PaymentMethod.organization_id == user.organization_id,
                PaymentMethod.last4 == last4,
            )
        ).one()


def selected_card(app: AppTest) -> list[str]:
    """The selected card's heading: "**Visa •••• 4242** :green-badge[…]" (none selected: [])."""
    return [text for text in plain(app).splitlines() if text.startswith("**") and "••••" in text]


def card_actions(app: AppTest) -> list[str]:
    return [widget.label for widget in app.button if widget.label in ("Make default", "Remove")]


# --- Who may open it -----------------------------------------------------------------------


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_their_cards_with_expiry_default_and_expired_flags(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    visa = add_card(portal, user, "pm_card_visa")
    mastercard = add_card(portal, user, "pm_card_mastercard", exp_month=3, exp_year=2022)

    app = open_page(portal, user)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Payment Methods"]
    assert table_rows(app) == [
        ("Mastercard •••• 4444", "03/2022", "No", "Expired"),
        ("Visa •••• 4242", "12/2034", "Yes", "Active"),
    ]
    assert list(table_of(app)["brand"]) == ["Mastercard", "Visa"]
    assert list(table_of(app)["last4"]) == ["4444", "4242"]
    assert app.dataframe[0].proto.selection_mode  # a row can be selected for its actions
    assert card_actions(app) == []  # until a card is selected

    app = select_card(app, mastercard)
    assert selected_card(app) == [
        "**Mastercard •••• 4444** :red-badge[:material/event_busy: Expired]"
    ]
    assert "Expired 03/2022 · an expired card cannot be charged or made the default" in [
        str(caption.value) for caption in app.caption
    ]
    # An expired card cannot become the default; it can be removed.
    assert card_actions(app) == ["Remove"]

    app = select_card(app, visa)
    assert selected_card(app) == ["**Visa •••• 4242** :green-badge[:material/check: Default]"]
    assert "Expires 12/2034" in [str(caption.value) for caption in app.caption]
    assert card_actions(app) == ["Remove"]  # already the default


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    add_card(portal, user)

    app = open_page(portal, user)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert "••••" not in texts(app)
    assert "Add card" not in [widget.label for widget in app.button]


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = open_page(portal, staff)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe


# --- The table -----------------------------------------------------------------------------


def test_the_table_has_the_filter_the_gear_and_a_csv_of_the_cards(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_amex")

    app = open_page(portal, user)

    assert "Showing 1–2 of 2 cards" in texts(app)
    assert app.text_input(key=f"{TABLE}.filter.name").label == "Card"
    assert app.text_input(key=f"{TABLE}.filter.last4").label == "Card number's last four"
    assert app.selectbox(key=f"{TABLE}.filter.status").options == ["Any", "Active", "Expired"]
    assert app.selectbox(key=f"{TABLE}.sort").options == ["Date created", "Last updated", "Expiry"]
    [csv] = app.get("download_button")
    assert csv.proto.label == "CSV"


def test_the_status_filter_shows_the_expired_cards_and_clear_brings_all_back(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_mastercard", exp_month=3, exp_year=2022)
    app = open_page(portal, user)

    app.selectbox(key=f"{TABLE}.filter.status").set_value("expired")
    app.button(key=f"{TABLE}.apply_filters").click().run()

    assert not app.exception
    assert table_rows(app) == [("Mastercard •••• 4444", "03/2022", "No", "Expired")]

    app.button(key=f"{TABLE}.clear_filters").click().run()
    assert [row[0] for row in table_rows(app)] == ["Mastercard •••• 4444", "Visa •••• 4242"]


def test_a_filter_that_matches_no_card_says_so_and_keeps_the_green_plus(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    app = open_page(portal, user)

    app.text_input(key=f"{TABLE}.filter.name").input("discover")
    app.button(key=f"{TABLE}.apply_filters").click().run()

    assert not app.exception
    assert not app.dataframe
    assert "No cards match these filters." in texts(app)
    assert button(app, "Add card").proto.type == "primary"


def test_another_organizations_cards_are_never_in_the_table(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    add_card(portal, other, "pm_card_amex")
    user = make_member(portal, Role.BILLING)
    add_card(portal, user, "pm_card_visa")

    app = open_page(portal, user)

    assert [row[0] for row in table_rows(app)] == ["Visa •••• 4242"]
    assert "0005" not in texts(app)


def test_a_card_added_meanwhile_does_not_slide_another_card_under_the_selection(
    portal: Portal,
) -> None:
    user = make_member(portal)
    visa = add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_mastercard")
    app = select_card(open_page(portal, user), visa)  # the second row, newest first
    assert selected_card(app) == ["**Visa •••• 4242** :green-badge[:material/check: Default]"]

    add_card(portal, user, "pm_card_amex")  # by a colleague: now the first row
    app.run()

    assert not app.exception
    assert [row[0] for row in table_rows(app)] == [
        "American Express •••• 0005",
        "Mastercard •••• 4444",
        "Visa •••• 4242",
    ]
    # The second row is now the Mastercard, which was not clicked: nothing is selected.
    assert selected_card(app) == [] and card_actions(app) == []


def test_a_selected_card_removed_by_a_colleague_offers_nothing_more(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    mastercard = add_card(portal, user, "pm_card_mastercard")
    app = select_card(open_page(portal, user), mastercard)
    with db.write_session(portal.engine) as session:
        cards.remove_card(session, actor_of(user), mastercard.id)

    app.run()

    assert not app.exception
    assert table_rows(app) == [("Visa •••• 4242", "12/2034", "Yes", "Active")]
    assert selected_card(app) == [] and card_actions(app) == []


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
    # Nowhere to type a card number (the table's filter searches the last four only).
    assert not app.number_input and not [
        field
        for field in app.text_input
        if "number" in field.label.lower() and not (field.key or "").startswith(f"{TABLE}.filter.")
    ]
    picker.set_value("pm_card_amex")
    app = click(app.run(), "Save card")

    assert not app.exception
    assert cards_of(portal, user) == [("amex", "0005", True, False)]
    assert [str(toast.value) for toast in app.toast] == [
        "American Express •••• 0005 is saved. It is your default card."
    ]
    assert table_rows(app) == [("American Express •••• 0005", "12/2034", "Yes", "Active")]
    assert not app.radio  # the dialog closed


def test_cancelling_the_picker_saves_nothing(portal: Portal) -> None:
    user = make_member(portal)
    app = click(click(open_page(portal, user), "Add card"), "Cancel")

    assert not app.exception
    assert cards_of(portal, user) == []
    assert not app.radio
    assert [str(title.value) for title in app.title] == ["Payment Methods"]
    assert any("No card saved yet" in str(info.value) for info in app.info)
    assert button(app, "Add card").proto.type == "primary"


# --- The default ---------------------------------------------------------------------------


def test_another_card_can_be_made_the_default(portal: Portal) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    mastercard = add_card(portal, user, "pm_card_mastercard")
    app = select_card(open_page(portal, user), mastercard)
    assert card_actions(app) == ["Make default", "Remove"]

    app = click(app, "Make default")

    assert not app.exception
    assert cards_of(portal, user) == [
        ("visa", "4242", False, False),
        ("mastercard", "4444", True, False),
    ]
    assert [str(toast.value) for toast in app.toast] == [
        "Mastercard •••• 4444 is now your default card."
    ]
    assert table_rows(app) == [
        ("Mastercard •••• 4444", "12/2034", "Yes", "Active"),
        ("Visa •••• 4242", "12/2034", "No", "Active"),
    ]
    assert selected_card(app) == [] and card_actions(app) == []  # the selection is cleared


def test_a_card_that_expired_since_it_was_selected_is_refused_with_the_services_words(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")
    mastercard = add_card(portal, user, "pm_card_mastercard")
    app = select_card(open_page(portal, user), mastercard)
    with db.write_session(portal.engine) as session:
        stored = session.get(PaymentMethod, mastercard.id)
        assert stored is not None
        stored.exp_month, stored.exp_year = 3, 2022

    app = click(app, "Make default")

    assert not app.exception
    assert [str(error.value) for error in app.error] == [
        "Mastercard •••• 4444 expired at the end of 03/2022: choose another card, or add a new "
        "one in Billing › Payment Methods."
    ]
    assert cards_of(portal, user) == [
        ("visa", "4242", True, False),
        ("mastercard", "4444", False, False),
    ]


# --- Removing a card -----------------------------------------------------------------------


def remove_buttons(app: AppTest) -> list[Button]:
    return [widget for widget in app.button if widget.label == "Remove"]


def test_removing_a_card_asks_first_and_cancelling_keeps_it(portal: Portal) -> None:
    user = make_member(portal)
    visa = add_card(portal, user)
    app = select_card(open_page(portal, user), visa)

    [remove] = remove_buttons(app)
    remove.click()
    app.run()
    assert "Visa •••• 4242, expiring 12/2034, will no longer be offered for payments." in texts(app)
    assert cards_of(portal, user) == [("visa", "4242", True, False)]

    app = click(app, "Cancel")
    assert not app.exception
    assert cards_of(portal, user) == [("visa", "4242", True, False)]
    assert "Remove card" not in [widget.label for widget in app.button]
    assert table_rows(app) == [("Visa •••• 4242", "12/2034", "Yes", "Active")]


def test_removing_the_default_card_after_confirming_makes_the_other_one_default(
    portal: Portal,
) -> None:
    user = make_member(portal)
    visa = add_card(portal, user, "pm_card_visa")
    add_card(portal, user, "pm_card_mastercard")
    app = select_card(open_page(portal, user), visa)

    [remove] = remove_buttons(app)
    remove.click()
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
    assert table_rows(app) == [("Mastercard •••• 4444", "12/2034", "Yes", "Active")]
    assert selected_card(app) == []  # the removed card's row is gone, and so is the selection


def test_the_card_auto_recharge_charges_cannot_be_removed_and_the_dialog_says_why(
    portal: Portal,
) -> None:
    user = make_member(portal)
    visa = add_card(portal, user)
    with db.write_session(portal.engine) as session:
        make_auto_recharge(session, organization_of(session, user))
    app = select_card(open_page(portal, user), visa)
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
    # The page drew its own card, and only that.
    assert [str(title.value) for title in app.title] == ["Payment Methods"]
    assert table_rows(app) == [("Visa •••• 4242", "12/2034", "Yes", "Active")]


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
    assert not app.exception
    assert "card_setup" not in app.query_params
    assert [str(title.value) for title in app.title] == ["Payment Methods"]
    assert not any("Stripe is confirming your card" in str(info.value) for info in app.info)


# --- The journey: a card, the default, funds -------------------------------------------------


def test_add_a_card_make_it_default_then_add_funds_with_the_fee_shown_first(
    portal: Portal,
) -> None:
    user = make_member(portal)
    add_card(portal, user, "pm_card_visa")

    app = click(open_page(portal, user), "Add card")
    app.radio[0].set_value("pm_card_mastercard")
    app = click(app.run(), "Save card")
    app = click(select_card(app, saved_card(portal, user, "4444")), "Make default")
    assert table_rows(app)[0] == ("Mastercard •••• 4444", "12/2034", "Yes", "Active")

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
