"""Access › My Profile through AppTest: every form of its three tabs, end to end, checked
against the database and the outbox (docs/product.md, Pages › My Profile)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Error, TextInput, Toggle

from portal_core import db
from portal_core.mail import outbox_messages
from portal_core.models.accounts import Role, User
from portal_core.services import sessions
from portal_core.services.passwords import verify_password
from portal_core.settings import ROOT
from tests.factories import PASSWORD, log_in, make_user
from tests.pages.conftest import Portal, make_member

NEW_PASSWORD = "Quartz-Meadow-Violin-42"
THRESHOLD_FIELD = "Alert me when available funds fall below (USD)"


# --- Helpers -----------------------------------------------------------------------------


def form(app: AppTest, form_id: str) -> Block:
    matches = [node for node in app.main if isinstance(node, Block) and node.key == form_id]
    assert len(matches) == 1, f"expected one form {form_id!r}"
    return matches[0]


def field(app: AppTest, form_id: str, label: str) -> TextInput:
    matches = [w for w in app.text_input if w.form_id == form_id and w.label == label]
    assert len(matches) == 1, f"expected one {label!r} in {form_id}, found {len(matches)}"
    return matches[0]


def toggle(app: AppTest, label: str) -> Toggle:
    [match] = [widget for widget in app.toggle if widget.label == label]
    return match


def submit(app: AppTest, form_id: str) -> AppTest:
    [button] = [widget for widget in app.button if widget.form_id == form_id]
    button.click()
    return app.run()


def message_under(app: AppTest, form_id: str, label: str) -> str | None:
    """The error drawn right after the field ``label`` of form ``form_id``, if any."""
    children = list(form(app, form_id).children.values())
    for index, child in enumerate(children):
        if getattr(child, "label", None) == label:
            following = children[index + 1] if index + 1 < len(children) else None
            return str(following.value) if isinstance(following, Error) else None
    raise AssertionError(f"no field {label!r} in {form_id}")


def successes(app: AppTest) -> list[str]:
    return [str(message.value) for message in app.success]


def reload(portal: Portal, user: User) -> User:
    with db.read_session(portal.engine) as session:
        fresh = session.get(User, user.id)
        assert fresh is not None
        return fresh


def alive(portal: Portal, handle: str) -> bool:
    with db.read_session(portal.engine) as session:
        return sessions.resolve(session, handle) is not None


@pytest.fixture
def member(portal: Portal) -> User:
    with db.write_session(portal.engine) as session:
        return make_user(session, role=Role.DEVELOPER, name="Linus Dev")


@pytest.fixture
def profile(portal: Portal, member: User) -> AppTest:
    app = portal.open("pages/my_profile.py", as_user=member)
    assert not app.exception
    assert [title.value for title in app.title] == ["My Profile"]
    return app


# --- General -----------------------------------------------------------------------------


def test_rename_saves_the_new_name_and_says_so(
    portal: Portal, member: User, profile: AppTest
) -> None:
    field(profile, "profile.name", "Name").input("  Linus Torvalds ")
    app = submit(profile, "profile.name")
    assert not app.exception
    assert [str(toast.value) for toast in app.toast] == ["Your name is saved."]
    assert reload(portal, member).name == "Linus Torvalds"
    assert field(app, "profile.name", "Name").value == "Linus Torvalds"


def test_rename_to_nothing_shows_the_message_and_keeps_the_name(
    portal: Portal, member: User, profile: AppTest
) -> None:
    field(profile, "profile.name", "Name").input("   ")
    app = submit(profile, "profile.name")
    assert message_under(app, "profile.name", "Name") == "Enter your name."
    assert reload(portal, member).name == "Linus Dev"


def test_email_change_mails_a_link_to_the_new_address_which_then_applies(
    portal: Portal, member: User, profile: AppTest, outbox_dir: Path
) -> None:
    field(profile, "profile.email", "New e-mail").input("linus@kernel.example")
    field(profile, "profile.email", "Current password").input(PASSWORD)
    app = submit(profile, "profile.email")
    assert not app.exception
    assert successes(app) == [
        "We sent a confirmation link to `linus@kernel.example`. Your e-mail changes when you "
        "follow it."
    ]
    [mail] = outbox_messages(outbox_dir)
    assert mail["To"] == "linus@kernel.example"
    assert reload(portal, member).email == member.email  # not until the link is followed

    token = re.search(r"verify_email\?token=([A-Za-z0-9_-]+)", mail.get_content())
    assert token
    link = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    link.switch_page("pages/verify_email.py")
    link.query_params["token"] = token.group(1)
    link.run()
    assert successes(link) == ["Your new e-mail address is confirmed."]
    assert reload(portal, member).email == "linus@kernel.example"


def test_email_change_with_a_wrong_password_sends_nothing(
    portal: Portal, member: User, profile: AppTest, outbox_dir: Path
) -> None:
    field(profile, "profile.email", "New e-mail").input("linus@kernel.example")
    field(profile, "profile.email", "Current password").input("not-my-password")
    app = submit(profile, "profile.email")
    assert message_under(app, "profile.email", "Current password") == (
        "Your current password is not right."
    )
    assert not successes(app)
    assert not outbox_dir.exists() or outbox_messages(outbox_dir) == []


def test_five_wrong_passwords_in_the_email_form_log_this_session_out(
    portal: Portal, member: User, profile: AppTest, outbox_dir: Path
) -> None:
    handle = profile.session_state["portal.session_handle"]
    app = profile
    for _ in range(5):
        field(app, "profile.email", "New e-mail").input("linus@kernel.example")
        field(app, "profile.email", "Current password").input("not-my-password")
        app = submit(app, "profile.email")

    assert [str(error.value) for error in app.error] == [
        "Too many wrong passwords: you are logged out. Log in again, or reset your password."
    ]
    assert not alive(portal, handle)
    assert not outbox_dir.exists() or outbox_messages(outbox_dir) == []


# --- Advanced ----------------------------------------------------------------------------


def change_password(app: AppTest, current: str, new: str, repeat: str | None = None) -> AppTest:
    field(app, "profile.password", "Current password").input(current)
    field(app, "profile.password", "New password").input(new)
    field(app, "profile.password", "Repeat the new password").input(
        new if repeat is None else repeat
    )
    return submit(app, "profile.password")


def test_password_change_with_a_wrong_current_password_is_refused(
    portal: Portal, member: User, profile: AppTest
) -> None:
    elsewhere = log_in(portal.engine, member)
    app = change_password(profile, "Not-The-Password-1", NEW_PASSWORD)
    assert not app.exception
    assert message_under(app, "profile.password", "Current password") == (
        "Your current password is not right."
    )
    assert not successes(app)
    assert verify_password(PASSWORD, reload(portal, member).password_hash)
    assert alive(portal, elsewhere)


def test_five_wrong_current_passwords_log_this_session_out(
    portal: Portal, member: User, profile: AppTest
) -> None:
    handle = profile.session_state["portal.session_handle"]
    app = profile
    for _ in range(4):
        app = change_password(app, "Not-The-Password-1", NEW_PASSWORD)
        assert message_under(app, "profile.password", "Current password") == (
            "Your current password is not right."
        )
    assert alive(portal, handle)

    app = change_password(app, "Not-The-Password-1", NEW_PASSWORD)

    assert not app.exception
    assert [str(error.value) for error in app.error] == [
        "Too many wrong passwords: you are logged out. Log in again, or reset your password."
    ]
    assert not alive(portal, handle)
    assert verify_password(PASSWORD, reload(portal, member).password_hash)
    app.run()
    assert [str(header.value) for header in app.subheader] == [
        "Log in to the SIPSTACK Partner Portal"
    ]
    assert not [title.value for title in app.title]


def test_password_change_ends_other_sessions_and_keeps_this_one(
    portal: Portal, member: User, profile: AppTest, outbox_dir: Path
) -> None:
    elsewhere = log_in(portal.engine, member)
    app = change_password(profile, PASSWORD, NEW_PASSWORD)
    assert not app.exception
    assert successes(app) == ["Your password is changed. Your other sessions were logged out."]
    assert verify_password(NEW_PASSWORD, reload(portal, member).password_hash)
    assert not alive(portal, elsewhere)
    assert alive(portal, app.session_state["portal.session_handle"])
    assert [mail["Subject"] for mail in outbox_messages(outbox_dir)] == [
        "Your SIPSTACK password was changed"
    ]
    app.run()  # this tab carries on, signed in
    assert [title.value for title in app.title] == ["My Profile"]


def test_password_change_with_different_repeats_changes_nothing(
    portal: Portal, member: User, profile: AppTest
) -> None:
    app = change_password(profile, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "?")
    assert message_under(app, "profile.password", "Repeat the new password") == (
        "The two new passwords differ."
    )
    assert verify_password(PASSWORD, reload(portal, member).password_hash)


def test_password_change_to_a_weak_password_says_why(
    portal: Portal, member: User, profile: AppTest
) -> None:
    app = change_password(profile, PASSWORD, "short")
    assert message_under(app, "profile.password", "New password") == ("Use at least 8 characters.")
    assert verify_password(PASSWORD, reload(portal, member).password_hash)


def test_log_out_other_sessions_ends_them_all_but_this_one(
    portal: Portal, member: User, profile: AppTest
) -> None:
    others = [log_in(portal.engine, member), log_in(portal.engine, member)]
    asking = profile.button(key="profile.log_out_others").click().run()
    assert all(alive(portal, handle) for handle in others)  # nothing ends before confirming
    app = asking.button(key="profile.log_out_others.asked.confirm").click().run()
    assert not app.exception
    assert [toast.value for toast in app.toast] == ["Logged out 2 other sessions."]
    assert not any(alive(portal, handle) for handle in others)
    assert alive(portal, app.session_state["portal.session_handle"])


def test_cancelling_log_out_other_sessions_ends_none(
    portal: Portal, member: User, profile: AppTest
) -> None:
    other = log_in(portal.engine, member)
    asking = profile.button(key="profile.log_out_others").click().run()
    app = asking.button(key="profile.log_out_others.asked.cancel").click().run()
    assert not app.exception
    assert alive(portal, other)
    assert [title.value for title in app.title] == ["My Profile"]
    assert app.button(key="profile.log_out_others").label.startswith("Log out")
    assert "profile.log_out_others.asked.confirm" not in [button.key for button in app.button]


# --- Notifications -----------------------------------------------------------------------


def test_notifications_are_saved(portal: Portal, member: User, profile: AppTest) -> None:
    before = reload(portal, member)
    assert before.notify_product_news is False
    toggle(profile, "Product news").set_value(True)
    toggle(profile, "E-mail me each invoice").set_value(False)
    field(profile, "profile.notifications", THRESHOLD_FIELD).input("1,250.50")
    app = submit(profile, "profile.notifications")
    assert not app.exception
    assert successes(app) == ["Your notification preferences are saved."]
    after = reload(portal, member)
    assert after.notify_product_news is True
    assert after.notify_invoices is False
    assert after.low_balance_threshold_cents == 125_050


def test_reputation_alerts_are_turned_off_and_on(
    portal: Portal, member: User, profile: AppTest
) -> None:
    assert reload(portal, member).notify_reputation is True
    toggle(profile, "Reputation alerts").set_value(False)
    app = submit(profile, "profile.notifications")
    assert successes(app) == ["Your notification preferences are saved."]
    assert reload(portal, member).notify_reputation is False
    again = portal.open("pages/my_profile.py", as_user=member)
    assert toggle(again, "Reputation alerts").value is False
    toggle(again, "Reputation alerts").set_value(True)
    submit(again, "profile.notifications")
    assert reload(portal, member).notify_reputation is True


def test_a_billing_member_is_not_offered_reputation_alerts_and_keeps_the_setting(
    portal: Portal,
) -> None:
    billing = make_member(portal, Role.BILLING)
    app = portal.open("pages/my_profile.py", as_user=billing)
    assert "Reputation alerts" not in [widget.label for widget in app.toggle]
    toggle(app, "Product news").set_value(True)
    submit(app, "profile.notifications")
    after = reload(portal, billing)
    assert after.notify_product_news is True and after.notify_reputation is True


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("-5", "The alert threshold must be between $0 and $1,000,000."),
        ("twenty", "“twenty” is not an amount in dollars, such as 25.00."),
        ("10.005", "Amounts are in whole cents: use at most two decimals."),
    ],
)
def test_a_bad_threshold_shows_why_and_saves_nothing(
    portal: Portal, member: User, profile: AppTest, typed: str, expected: str
) -> None:
    toggle(profile, "Product news").set_value(True)
    field(profile, "profile.notifications", THRESHOLD_FIELD).input(typed)
    app = submit(profile, "profile.notifications")
    assert not app.exception
    assert message_under(app, "profile.notifications", THRESHOLD_FIELD) == expected
    assert not successes(app)
    after = reload(portal, member)
    assert after.notify_product_news is False
    assert after.low_balance_threshold_cents == 2_000


def test_the_threshold_field_shows_the_saved_amount_in_dollars(
    portal: Portal, member: User
) -> None:
    with db.write_session(portal.engine) as session:
        user = session.exec(select(User).where(User.id == member.id)).one()
        user.low_balance_threshold_cents = 123_456
        session.add(user)
    app = portal.open("pages/my_profile.py", as_user=member)
    assert field(app, "profile.notifications", THRESHOLD_FIELD).value == "1,234.56"
