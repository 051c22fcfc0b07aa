"""The account life cycle through its pages: Get Started, verify e-mail, reset password and
the activation wizard (docs/product.md, Account life cycle), driven through AppTest end to end: the
links come from the e-mails the services really wrote to the outbox."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import func, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button, Error, TextInput

from portal_core import db
from portal_core.mail import outbox_messages
from portal_core.models.accounts import BrandDomain, Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingCycle, Subscription
from portal_core.models.payments import PaymentMethod
from portal_core.services import accounts, auth
from portal_core.services.passwords import verify_password
from portal_core.settings import ROOT, get_settings
from tests.factories import PASSWORD, make_organization, make_user
from tests.pages.conftest import Portal, texts
from tests.support.fake_stripe import SECRET_KEY, running

NEW_PASSWORD = "Quartz-Meadow-Violin-42"
REQUEST_SENT = (
    "If an account uses that address, we sent it a link to choose a new password. "
    "The link expires in one hour."
)


# --- Helpers -----------------------------------------------------------------------------


def open_with_token(script: str, token: str) -> AppTest:
    """Open ``script`` the way the e-mailed link does: a new tab with ``?token=``."""
    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    app.switch_page(script)
    app.query_params["token"] = token
    return app.run()


def token_in(message_body: str, page: str) -> str:
    match = re.search(rf"/{page}\?token=([A-Za-z0-9_-]+)", message_body)
    assert match, f"no {page} link in: {message_body}"
    return match.group(1)


def last_token(outbox_dir: Path, page: str) -> str:
    return token_in(outbox_messages(outbox_dir)[-1].get_content(), page)


def field(app: AppTest, form_id: str, label: str) -> TextInput:
    """The text input labelled ``label`` in form ``form_id``."""
    matches = [w for w in app.text_input if w.form_id == form_id and w.label == label]
    assert len(matches) == 1, f"expected one {label!r} in {form_id}, found {len(matches)}"
    return matches[0]


def button(app: AppTest, label: str) -> Button:
    matches = [widget for widget in app.button if widget.label == label]
    assert len(matches) == 1, f"expected one {label!r} button, found {len(matches)}"
    return matches[0]


def message_under(app: AppTest, label: str) -> str | None:
    """The error drawn right after the widget labelled ``label`` (its field's slot), if any."""
    for node in app.main:
        children = list(getattr(node, "children", {}).values())
        for index, child in enumerate(children):
            if getattr(child, "label", None) == label and index + 1 < len(children):
                following = children[index + 1]
                return str(following.value) if isinstance(following, Error) else None
    raise AssertionError(f"no widget labelled {label!r}")


def user_count(portal: Portal) -> int:
    with db.read_session(portal.engine) as session:
        return session.exec(select(func.count()).select_from(User)).one()


def load_user(portal: Portal, email: str) -> User:
    with db.read_session(portal.engine) as session:
        return session.exec(select(User).where(User.email == email)).one()


def sign_up(portal: Portal, *, now: datetime | None = None) -> None:
    """Ada Lovelace signs up through the service; her verification e-mail is in the outbox."""
    form = accounts.SignUp(
        name="Ada Lovelace",
        email="ada@lovelace.example",
        company="Analytical Engines",
        password=PASSWORD,
        accepted_terms=True,
    )
    with db.write_session(portal.engine) as session:
        accounts.sign_up(session, form, now=now)


# --- Get Started -------------------------------------------------------------------------


def fill_sign_up(
    app: AppTest,
    *,
    name: str = "Grace Hopper",
    email: str = "grace@cobol.example",
    company: str = "Compiler Works",
    password: str = PASSWORD,
    accept: bool = True,
) -> AppTest:
    field(app, "get_started", "Your name").input(name)
    field(app, "get_started", "Work e-mail").input(email)
    field(app, "get_started", "Company").input(company)
    field(app, "get_started", "Password").input(password)
    terms = app.checkbox[0]
    assert terms.label == "I agree to the Terms of Service"
    terms.check() if accept else terms.uncheck()
    button(app, "Create account").click()
    return app.run()


def test_sign_up_says_check_your_email_and_mails_the_verification_link(
    portal: Portal, outbox_dir: Path
) -> None:
    app = fill_sign_up(portal.open("pages/get_started.py"), email="Grace@COBOL.example")
    assert not app.exception
    [success] = [str(message.value) for message in app.success]
    assert success.startswith("Check your e-mail: we sent a link to `Grace@COBOL.example` ")
    [mail] = outbox_messages(outbox_dir)
    assert mail["To"] == "grace@cobol.example"
    assert token_in(mail.get_content(), "verify_email")
    user = load_user(portal, "grace@cobol.example")
    assert user.status == UserStatus.UNVERIFIED
    assert user.role == Role.OWNER


def test_sign_up_without_the_terms_ticked_shows_the_message_under_the_box(
    portal: Portal, outbox_dir: Path
) -> None:
    app = fill_sign_up(portal.open("pages/get_started.py"), accept=False)
    assert not app.exception
    assert message_under(app, "I agree to the Terms of Service") == (
        "Accept the Terms of Service to create an account."
    )
    assert not app.success
    assert user_count(portal) == 0
    assert not outbox_dir.exists() or outbox_messages(outbox_dir) == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("short1", "Use at least 8 characters."),
        ("password123", "Choose a harder password: "),
        (
            "grace hopper compiler works",
            "Choose a password that is not made of your name, e-mail or company.",
        ),
    ],
)
def test_sign_up_with_a_weak_password_shows_why_under_the_field(
    portal: Portal, password: str, expected: str
) -> None:
    app = fill_sign_up(portal.open("pages/get_started.py"), password=password)
    assert not app.exception
    message = message_under(app, "Password")
    assert message is not None and message.startswith(expected)
    assert message_under(app, "Your name") is None
    assert user_count(portal) == 0


def test_sign_up_with_a_bad_email_and_no_name_marks_both_fields(portal: Portal) -> None:
    app = fill_sign_up(portal.open("pages/get_started.py"), name=" ", email="not-an-address")
    assert message_under(app, "Your name") == "Enter your name."
    assert message_under(app, "Work e-mail") == (
        "Enter a valid e-mail address, such as name@company.com."
    )
    assert user_count(portal) == 0


# --- Verify e-mail -----------------------------------------------------------------------


def test_link_from_the_sign_up_email_verifies_the_address_once(
    portal: Portal, outbox_dir: Path
) -> None:
    sign_up(portal)
    app = open_with_token("pages/verify_email.py", last_token(outbox_dir, "verify_email"))
    assert not app.exception
    assert [str(message.value) for message in app.success] == ["Your e-mail is verified."]
    assert load_user(portal, "ada@lovelace.example").status == UserStatus.ACTIVE

    app.run()  # a rerun of the same tab does not spend the link again
    assert [str(message.value) for message in app.success] == ["Your e-mail is verified."]
    assert not app.error


def test_a_used_verification_link_says_so(portal: Portal, outbox_dir: Path) -> None:
    sign_up(portal)
    token = last_token(outbox_dir, "verify_email")
    open_with_token("pages/verify_email.py", token)
    app = open_with_token("pages/verify_email.py", token)  # another tab, later
    assert [str(error.value) for error in app.error] == ["This link has already been used."]
    assert not app.success


def test_an_expired_verification_link_says_so_and_verifies_nothing(
    portal: Portal, outbox_dir: Path
) -> None:
    sign_up(portal, now=utcnow() - accounts.VERIFY_LINK_LIFETIME - accounts.RESEND_MIN_INTERVAL)
    app = open_with_token("pages/verify_email.py", last_token(outbox_dir, "verify_email"))
    assert [str(error.value) for error in app.error] == [
        "This link has expired. Ask for a new one."
    ]
    assert load_user(portal, "ada@lovelace.example").status == UserStatus.UNVERIFIED


def test_a_bogus_verification_link_says_it_is_not_valid(portal: Portal) -> None:
    app = open_with_token("pages/verify_email.py", "not-a-real-token")
    assert [str(error.value) for error in app.error] == [
        "This link is not valid. Check that you copied all of it."
    ]


def test_verify_page_without_a_token_asks_for_the_link(portal: Portal) -> None:
    app = portal.open("pages/verify_email.py")
    assert not app.exception
    assert [str(warning.value) for warning in app.warning] == [
        "Open this page from the link in your verification e-mail."
    ]
    assert not app.success and not app.error


# --- Reset password ----------------------------------------------------------------------


def request_reset(portal: Portal, email: str) -> AppTest:
    app = portal.open("pages/reset_password.py")
    field(app, "reset_password.request", "E-mail").input(email)
    button(app, "Send me a link").click()
    return app.run()


def test_reset_request_answers_the_same_for_known_and_unknown_addresses(
    portal: Portal, outbox_dir: Path
) -> None:
    with db.write_session(portal.engine) as session:
        known = make_user(session)
    for email in (known.email.upper(), "nobody@unknown.example"):
        app = request_reset(portal, email)
        assert not app.exception
        assert [str(message.value) for message in app.success] == [REQUEST_SENT]
    # Only the real account got a link.
    assert [mail["To"] for mail in outbox_messages(outbox_dir)] == [known.email]


def test_reset_request_with_a_malformed_address_says_so_under_the_field(portal: Portal) -> None:
    app = request_reset(portal, "not an address")
    assert message_under(app, "E-mail") == (
        "Enter a valid e-mail address, such as name@company.com."
    )
    assert not app.success


def _reset_link(portal: Portal, outbox_dir: Path) -> tuple[User, str]:
    with db.write_session(portal.engine) as session:
        user = make_user(session)
    with db.write_session(portal.engine) as session:
        auth.request_password_reset(session, user.email)
    return user, last_token(outbox_dir, "reset_password")


def choose_password(app: AppTest, new: str, repeat: str) -> AppTest:
    field(app, "reset_password.choose", "New password").input(new)
    field(app, "reset_password.choose", "Repeat it").input(repeat)
    button(app, "Set my new password").click()
    return app.run()


def test_reset_link_sets_the_new_password(portal: Portal, outbox_dir: Path) -> None:
    user, token = _reset_link(portal, outbox_dir)
    app = choose_password(open_with_token("pages/reset_password.py", token), *[NEW_PASSWORD] * 2)
    assert not app.exception
    assert [str(message.value) for message in app.success] == [
        "Your password is changed. Log in with it now."
    ]
    assert verify_password(NEW_PASSWORD, load_user(portal, user.email).password_hash)


def test_reset_with_two_different_passwords_changes_nothing(
    portal: Portal, outbox_dir: Path
) -> None:
    user, token = _reset_link(portal, outbox_dir)
    app = choose_password(
        open_with_token("pages/reset_password.py", token), NEW_PASSWORD, NEW_PASSWORD + "!"
    )
    assert message_under(app, "Repeat it") == "The two passwords differ."
    assert verify_password(PASSWORD, load_user(portal, user.email).password_hash)


def test_reset_with_a_weak_password_shows_why_and_keeps_the_link_usable(
    portal: Portal, outbox_dir: Path
) -> None:
    user, token = _reset_link(portal, outbox_dir)
    app = choose_password(open_with_token("pages/reset_password.py", token), "short", "short")
    assert message_under(app, "New password") == "Use at least 8 characters."
    assert verify_password(PASSWORD, load_user(portal, user.email).password_hash)

    app = choose_password(app, NEW_PASSWORD, NEW_PASSWORD)  # same link, now a good password
    assert [str(message.value) for message in app.success] == [
        "Your password is changed. Log in with it now."
    ]


def test_a_bogus_reset_link_is_refused(portal: Portal) -> None:
    app = choose_password(
        open_with_token("pages/reset_password.py", "made-up"), NEW_PASSWORD, NEW_PASSWORD
    )
    assert "This link is not valid. Check that you copied all of it." in texts(app)
    assert not app.success


# --- The activation wizard ---------------------------------------------------------------


@pytest.fixture
def new_owner(portal: Portal) -> User:
    """A verified owner whose organization has not finished the wizard."""
    with db.write_session(portal.engine) as session:
        organization = make_organization(session, name="Babbage Telecom", active=False)
        return make_user(session, role=Role.OWNER, organization=organization)


def fill_company(
    app: AppTest, *, address: str = "1 Front Street West", postal: str = "M5J 2X5"
) -> AppTest:
    assert app.selectbox(key="activate.country").value == "CA"
    [province] = [box for box in app.selectbox if box.label == "Province or state"]
    province.select("ON")
    field(app, "activate.company", "Street address").input(address)
    field(app, "activate.company", "City").input("Toronto")
    field(app, "activate.company", "Postal code").input(postal)
    button(app, "Save and continue").click()
    return app.run()


def organization_of(portal: Portal, user: User) -> Organization:
    with db.read_session(portal.engine) as session:
        organization = session.get(Organization, user.organization_id)
        assert organization is not None
        return organization


def test_wizard_company_step_shows_each_problem_under_its_field(
    portal: Portal, new_owner: User
) -> None:
    app = portal.open("pages/activate.py", as_user=new_owner)
    assert field(app, "activate.company", "Legal name").value == "Babbage Telecom"
    app = fill_company(app, address="", postal="12345")
    assert not app.exception
    assert message_under(app, "Street address") == "Enter the address."
    assert message_under(app, "Postal code") == ("Enter a Canadian postal code such as K1A 0B1.")
    assert organization_of(portal, new_owner).address_line is None


def test_wizard_goes_from_company_to_brand_to_an_active_account(
    portal: Portal, new_owner: User
) -> None:
    app = fill_company(portal.open("pages/activate.py", as_user=new_owner))
    assert not app.exception
    assert [str(header.value) for header in app.subheader] == ["Your brand"]
    saved = organization_of(portal, new_owner)
    assert (saved.province, saved.city, saved.postal_code) == ("ON", "Toronto", "M5J 2X5")

    field(app, "activate.brand", "Domain").input("https://babbage.example/home")
    button(app, "Save and continue").click()
    app.run()
    assert message_under(app, "Domain") == (
        "Enter the domain alone, such as example.com (no https:// and no path)."
    )

    field(app, "activate.brand", "Domain").input("Babbage.example")
    button(app, "Save and continue").click()
    app.run()
    assert [str(header.value) for header in app.subheader] == ["Your plan"]
    with db.read_session(portal.engine) as session:
        domains = session.exec(select(BrandDomain.domain)).all()
    assert domains == ["babbage.example"]

    button(app, "Save and continue").click()  # Free, the first plan offered
    app.run()
    assert [str(header.value) for header in app.subheader] == ["Payment method"]

    button(app, "Skip for now").click()  # Free needs no card
    app.run()
    assert [str(header.value) for header in app.subheader] == ["All set"]
    assert "Card: none yet; add one any time in Billing › Payment Methods" in texts(app)
    assert organization_of(portal, new_owner).activated_at is None

    button(app, "Activate my account").click()
    app.run()
    assert not app.exception
    assert organization_of(portal, new_owner).activated_at is not None
    # The wizard hands over to the Dashboard, with a welcome.
    assert [str(title.value) for title in app.title] == [f"Welcome, {new_owner.name}"]
    assert [str(toast.value) for toast in app.toast] == [
        "Welcome to SIPSTACK: your account is active."
    ]

    reloaded = portal.open("pages/activate.py", as_user=new_owner)
    assert [str(message.value) for message in reloaded.success] == ["Your account is active."]
    assert "Activate my account" not in [widget.label for widget in reloaded.button]


def test_wizard_resumes_at_the_brand_step_on_a_new_visit(portal: Portal, new_owner: User) -> None:
    fill_company(portal.open("pages/activate.py", as_user=new_owner))
    app = portal.open("pages/activate.py", as_user=new_owner)  # another device, later
    assert [str(header.value) for header in app.subheader] == ["Your brand"]
    assert "Step 2 of 5" in str(app.get("progress")[0].proto.text)


def fill_brand(app: AppTest) -> AppTest:
    field(app, "activate.brand", "Domain").input("babbage.example")
    button(app, "Save and continue").click()
    return app.run()


def subscription_of(portal: Portal, user: User) -> Subscription:
    with db.read_session(portal.engine) as session:
        subscription = session.get(Subscription, user.organization_id)
        assert subscription is not None
        return subscription


def test_wizard_plan_step_offers_the_plans_with_prices_and_no_carrier_choice(
    portal: Portal, new_owner: User
) -> None:
    app = fill_brand(fill_company(portal.open("pages/activate.py", as_user=new_owner)))

    assert not app.exception
    assert "Step 3 of 5" in str(app.get("progress")[0].proto.text)
    plans = app.radio(key="activate.plan_code")
    assert plans.options == [
        "Free · $0.00 / month · 50 a month included, none beyond",
        "Starter · $30.00 / month · 10,000 a month included, then $0.0030 each",
        "Competitor · $700.00 / month · 250,000 a month included, then $0.0028 each",
        "Provider · $2,500.00 / month · 1,000,000 a month included, then $0.0025 each",
    ]
    assert "Carrier: priced by contract; contact SIPSTACK." in texts(app)
    assert "Prices in USD, taxes excluded." in texts(app)


def test_wizard_plan_step_saves_a_yearly_plan_on_the_subscription(
    portal: Portal, new_owner: User
) -> None:
    app = fill_brand(fill_company(portal.open("pages/activate.py", as_user=new_owner)))

    app.radio(key="activate.cycle").set_value("yearly").run()
    plans = app.radio(key="activate.plan_code")
    assert plans.options[0] == (
        "Starter · $24.00 / month ($288.00 a year) · 10,000 a month included, then $0.0030 each"
    )
    plans.set_value("competitor")
    button(app, "Save and continue").click()
    app.run()

    assert not app.exception
    assert [str(header.value) for header in app.subheader] == ["Payment method"]
    subscription = subscription_of(portal, new_owner)
    assert (subscription.plan_code, subscription.cycle) == ("competitor", BillingCycle.YEARLY)


# --- The wizard's payment-method step ------------------------------------------------------


def to_card_step(portal: Portal, owner: User, plan_code: str = "free") -> AppTest:
    """Company, brand and ``plan_code`` (monthly) done: the wizard shows its card step."""
    app = fill_brand(fill_company(portal.open("pages/activate.py", as_user=owner)))
    app.radio(key="activate.plan_code").set_value(plan_code)
    button(app, "Save and continue").click()
    app.run()
    assert [str(header.value) for header in app.subheader] == ["Payment method"]
    assert "Step 4 of 5" in str(app.get("progress")[0].proto.text)
    return app


def saved_cards(portal: Portal, owner: User) -> list[tuple[str, str, bool]]:
    with db.read_session(portal.engine) as session:
        rows = session.exec(
            select(PaymentMethod).where(PaymentMethod.organization_id == owner.organization_id)
        ).all()
        return [(row.brand, row.last4, row.is_default) for row in rows]


def test_wizard_card_step_on_a_paid_plan_asks_for_a_card_and_offers_no_skip(
    portal: Portal, new_owner: User
) -> None:
    app = to_card_step(portal, new_owner, "starter")

    assert not app.exception
    assert "Save a card to activate your account" in texts(app)
    labels = [widget.label for widget in app.button]
    assert "Skip for now" not in labels
    assert "Start on Free instead" in labels
    assert app.radio[0].label == "Test card"
    assert app.radio[0].options[0] == "Visa · 4242 4242 4242 4242 — Succeeds"


def test_wizard_card_step_saves_the_chosen_test_card_and_moves_on(
    portal: Portal, new_owner: User
) -> None:
    app = to_card_step(portal, new_owner, "starter")

    app.radio[0].set_value("pm_card_mastercard")
    button(app, "Save card and continue").click()
    app.run()

    assert not app.exception
    assert [str(header.value) for header in app.subheader] == ["All set"]
    assert "Card: **Mastercard •••• 4444** (expires 12/2034)" in texts(app)
    assert saved_cards(portal, new_owner) == [("mastercard", "4444", True)]

    button(app, "Activate my account").click()
    app.run()
    assert organization_of(portal, new_owner).activated_at is not None


def test_wizard_card_step_lets_a_paid_plan_start_on_free_instead_then_skip(
    portal: Portal, new_owner: User
) -> None:
    app = to_card_step(portal, new_owner, "competitor")

    button(app, "Start on Free instead").click()
    app.run()
    assert [str(header.value) for header in app.subheader] == ["Payment method"]
    assert subscription_of(portal, new_owner).plan_code == "free"
    assert "On Free a card is optional" in texts(app)

    button(app, "Skip for now").click()
    app.run()
    assert [str(header.value) for header in app.subheader] == ["All set"]
    assert saved_cards(portal, new_owner) == []


def test_wizard_card_step_on_free_can_save_a_card_too(portal: Portal, new_owner: User) -> None:
    app = to_card_step(portal, new_owner, "free")

    button(app, "Save card and continue").click()  # Visa, preselected
    app.run()

    assert [str(header.value) for header in app.subheader] == ["All set"]
    assert saved_cards(portal, new_owner) == [("visa", "4242", True)]


def test_wizard_card_step_with_stripe_links_to_its_secure_page_and_back_here(
    portal: Portal, new_owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running() as stripe:
        monkeypatch.setenv("STRIPE_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("STRIPE_API_BASE", stripe.url)
        get_settings.cache_clear()
        app = to_card_step(portal, new_owner, "starter")
        assert not app.radio  # no test cards with Stripe

        button(app, "Enter a card on Stripe's secure page").click()
        app.run()

        assert not app.exception
        [setup] = [obj for obj in stripe.objects.values() if obj["object"] == "checkout.session"]
        assert setup["mode"] == "setup"
        assert setup["success_url"].endswith("/activate?card_setup=done")
        [link] = app.get("link_button")
        assert (link.proto.label, link.proto.url) == ("Continue to secure card entry", setup["url"])
        assert saved_cards(portal, new_owner) == []  # saved when Stripe's webhook says so
