"""Two-factor sign-in through AppTest (docs/product.md, Account life cycle; My Profile): turning
it on in My Profile › Advanced, the login's second step, and an organization's requirement."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace

import pyotp
import pytest
from sqlmodel import col, select
from streamlit.runtime import context as streamlit_context
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Button, TextInput

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.audit import AuditEvent
from portal_core.models.base import utcnow
from portal_core.services import auth, sessions, two_factor
from portal_core.settings import ROOT, get_settings
from portal_core.ui import shell, state
from portal_core.ui.two_factor_views import SETUP
from tests.factories import PASSWORD, actor_of, log_in, make_staff, make_user
from tests.pages.conftest import Downloads, Portal, make_member, plain, texts


@pytest.fixture(autouse=True)
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A browser's connection for ``st.context`` (the login stores its address and agent)."""
    client = SimpleNamespace(
        headers=[("User-Agent", "AppTest")], cookies={}, remote_ip="203.0.113.9"
    )
    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: client)
    yield


def field(app: AppTest, form_id: str, label: str) -> TextInput:
    [match] = [w for w in app.text_input if w.form_id == form_id and w.label == label]
    return match


def submit(app: AppTest, form_id: str) -> AppTest:
    [button] = [widget for widget in app.button if widget.form_id == form_id]
    button.click()
    return app.run()


def button(app: AppTest, label: str) -> Button:
    [match] = [widget for widget in app.button if widget.label == label]
    return match


def wrong_code(secret: str) -> str:
    """A six-digit code that is none of those accepted now."""
    right = {
        pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=two_factor.STEP_SECONDS * steps))
        for steps in (-1, 0, 1, 2)
    }
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in right)


def next_code(secret: str) -> str:
    """The app's code of the next step: accepted (one step of drift) and never one already
    used at the step of now."""
    return pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=two_factor.STEP_SECONDS))


def turn_on(portal: Portal, user: User) -> tuple[str, list[str]]:
    """Two-factor sign-in on for ``user``, through the services; the secret and the codes."""
    with db.write_session(portal.engine) as session:
        setup = two_factor.begin(
            session, actor_of(user), PASSWORD, ip_address=None, session_handle=None
        )
    with db.write_session(portal.engine) as session:
        codes = two_factor.confirm(
            session,
            actor_of(user),
            setup,
            pyotp.TOTP(setup.secret).now(),
            session_handle=None,
            now=utcnow(),
        )
    return setup.secret, codes


def setup_of(app: AppTest) -> two_factor.Setup:
    """The setup My Profile keeps for this tab until a code confirms it."""
    _, setup = app.session_state[SETUP]
    assert isinstance(setup, two_factor.Setup)
    return setup


def stored_secret(portal: Portal, user: User) -> str | None:
    with db.read_session(portal.engine) as session:
        return session.get_one(User, user.id).two_factor_secret


def open_signed_in(portal: Portal, script: str, user: User) -> AppTest:
    """``script`` as ``user``, in a session opened directly (whatever the steps it took)."""
    with db.write_session(portal.engine) as session:
        handle = sessions.start_session(session, user.id, ip_address=None, user_agent=None)
    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30)
    app.session_state[state.SESSION_HANDLE] = handle
    if script != "Home.py":
        app.switch_page(script)
    return app.run()


def enabled_at(portal: Portal, user: User) -> datetime | None:
    with db.read_session(portal.engine) as session:
        fresh = session.get(User, user.id)
        assert fresh is not None
        return fresh.two_factor_enabled_at


# --- My Profile › Advanced: turning it on --------------------------------------------------


def test_turning_it_on_shows_the_qr_code_and_key_then_the_recovery_codes_once(
    portal: Portal, downloads: Downloads
) -> None:
    member = make_member(portal, Role.DEVELOPER)
    app = portal.open("pages/my_profile.py", as_user=member)
    assert "Two-factor sign-in" in [str(header.value) for header in app.subheader]

    field(app, "profile.two_factor.begin", "Current password").input(PASSWORD)
    app = submit(app, "profile.two_factor.begin")

    assert not app.exception
    setup = setup_of(app)
    assert stored_secret(portal, member) is None  # nothing is kept before the code confirms it
    # The key is shown as text, in groups of four, beside the QR code.
    assert [str(code.value).replace(" ", "") for code in app.code] == [setup.secret]
    assert len(app.get("image")) == 1
    assert enabled_at(portal, member) is None

    field(app, "profile.two_factor.confirm", "Code from the app").input(
        pyotp.TOTP(setup.secret).now()
    )
    app = submit(app, "profile.two_factor.confirm")

    assert not app.exception
    assert enabled_at(portal, member) is not None
    assert "Your recovery codes" in [str(header.value) for header in app.subheader]
    [shown] = [str(code.value) for code in app.code]
    codes = shown.split("\n")
    assert len(codes) == 10
    assert list(downloads) == ["sipstack-recovery-codes.txt"]
    assert downloads["sipstack-recovery-codes.txt"]().decode().split("\n")[3:13] == codes
    assert "10 unused recovery codes left." in plain(app)

    button(app, "I have saved them").click()
    app = app.run()
    assert "Your recovery codes" not in [str(header.value) for header in app.subheader]
    assert not app.exception
    assert not [shown for shown in app.code if codes[0] in str(shown.value)]
    assert "10 unused recovery codes left." in plain(app)


def test_turning_it_on_signs_the_member_out_everywhere_else_but_here(portal: Portal) -> None:
    member = make_member(portal, Role.DEVELOPER)
    elsewhere = log_in(portal.engine, member)
    app = portal.open("pages/my_profile.py", as_user=member)
    field(app, "profile.two_factor.begin", "Current password").input(PASSWORD)
    app = submit(app, "profile.two_factor.begin")
    field(app, "profile.two_factor.confirm", "Code from the app").input(
        pyotp.TOTP(setup_of(app).secret).now()
    )
    app = submit(app, "profile.two_factor.confirm")

    assert not app.exception
    assert [str(toast.value) for toast in app.toast] == [
        "Two-factor sign-in is on: you are signed out everywhere else."
    ]
    with db.read_session(portal.engine) as session:
        assert sessions.resolve(session, elsewhere) is None
        assert sessions.resolve(session, app.session_state[state.SESSION_HANDLE]) is not None
    assert "Your recovery codes" in [str(header.value) for header in app.subheader]


def test_start_again_forgets_the_setup_and_asks_the_password_again(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    app = portal.open("pages/my_profile.py", as_user=member)
    field(app, "profile.two_factor.begin", "Current password").input(PASSWORD)
    app = submit(app, "profile.two_factor.begin")
    assert len(app.get("image")) == 1

    app = button(app, "Start again").click().run()

    assert not app.exception
    assert app.get("image") == []
    assert field(app, "profile.two_factor.begin", "Current password")
    assert stored_secret(portal, member) is None


def test_a_setup_left_in_the_tab_is_not_shown_to_the_next_member(portal: Portal) -> None:
    first = make_member(portal, Role.VIEWER)
    app = portal.open("pages/my_profile.py", as_user=first)
    field(app, "profile.two_factor.begin", "Current password").input(PASSWORD)
    app = submit(app, "profile.two_factor.begin")
    secret = setup_of(app).secret
    second = make_member(portal, Role.VIEWER)

    app.session_state[state.SESSION_HANDLE] = log_in(portal.engine, second)
    app = app.run()

    assert not app.exception
    assert app.get("image") == []
    assert not [code for code in app.code if secret in str(code.value).replace(" ", "")]
    assert field(app, "profile.two_factor.begin", "Current password")


def test_a_wrong_confirmation_code_says_so_under_the_field_and_turns_nothing_on(
    portal: Portal,
) -> None:
    member = make_member(portal, Role.VIEWER)
    app = portal.open("pages/my_profile.py", as_user=member)
    field(app, "profile.two_factor.begin", "Current password").input(PASSWORD)
    app = submit(app, "profile.two_factor.begin")
    setup = setup_of(app)
    field(app, "profile.two_factor.confirm", "Code from the app").input(wrong_code(setup.secret))
    app = submit(app, "profile.two_factor.confirm")

    assert not app.exception
    assert [str(error.value) for error in app.error] == [two_factor.CODE_WRONG]
    assert enabled_at(portal, member) is None
    assert "Your recovery codes" not in [str(header.value) for header in app.subheader]


def test_a_wrong_password_begins_nothing(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    app = portal.open("pages/my_profile.py", as_user=member)
    field(app, "profile.two_factor.begin", "Current password").input("Not-The-Password-1")
    app = submit(app, "profile.two_factor.begin")

    assert [str(error.value) for error in app.error] == ["Your current password is not right."]
    assert SETUP not in app.session_state
    assert stored_secret(portal, member) is None
    assert app.get("image") == []


def test_turning_it_off_asks_for_the_password_and_a_code(portal: Portal) -> None:
    member = make_member(portal, Role.DEVELOPER)
    secret, _ = turn_on(portal, member)
    app = open_signed_in(portal, "pages/my_profile.py", member)
    assert "10 unused recovery codes left." in plain(app)

    field(app, "profile.two_factor.disable", "Current password").input(PASSWORD)
    field(app, "profile.two_factor.disable", "Code").input(next_code(secret))
    app = submit(app, "profile.two_factor.disable")

    assert not app.exception
    assert enabled_at(portal, member) is None
    assert [str(toast.value) for toast in app.toast] == ["Two-factor sign-in is off."]
    assert field(app, "profile.two_factor.begin", "Current password")


def test_a_wrong_code_leaves_it_on_and_says_so_under_the_field(portal: Portal) -> None:
    member = make_member(portal, Role.DEVELOPER)
    secret, _ = turn_on(portal, member)
    app = open_signed_in(portal, "pages/my_profile.py", member)

    field(app, "profile.two_factor.disable", "Current password").input(PASSWORD)
    field(app, "profile.two_factor.disable", "Code").input(wrong_code(secret))
    app = submit(app, "profile.two_factor.disable")

    assert [str(error.value) for error in app.error] == [two_factor.CODE_OR_RECOVERY_WRONG]
    assert enabled_at(portal, member) is not None


# --- The login's second step ---------------------------------------------------------------


def log_in_with(app: AppTest, email: str, password: str) -> AppTest:
    field(app, "portal.login", "E-mail").input(email)
    field(app, "portal.login", "Password").input(password)
    button(app, "Log in").click()
    return app.run()


def enter_code(app: AppTest, code: str) -> AppTest:
    field(app, "portal.login_code", "Code").input(code)
    button(app, "Verify").click()
    return app.run()


def shows_code_form(app: AppTest) -> bool:
    return [w.label for w in app.text_input if w.form_id == "portal.login_code"] == ["Code"]


def test_the_password_leads_to_the_code_and_the_code_to_the_page(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        member = make_user(session, role=Role.OWNER, name="Ada Owner")
    secret, _ = turn_on(portal, member)

    app = log_in_with(portal.open(), member.email, PASSWORD)

    assert not app.exception
    assert shows_code_form(app)
    assert "Two-factor sign-in" in [str(header.value) for header in app.subheader]
    assert not app.session_state[state.SESSION_HANDLE]
    assert not any(str(title.value).startswith("Welcome") for title in app.title)

    app = enter_code(app, next_code(secret))

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Welcome, Ada Owner"]
    assert app.session_state[state.SESSION_HANDLE]
    assert not shows_code_form(app)


def test_a_wrong_code_says_so_and_opens_nothing(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    secret, _ = turn_on(portal, member)
    app = log_in_with(portal.open(), member.email, PASSWORD)

    app = enter_code(app, wrong_code(secret))

    assert not app.exception
    assert [str(error.value) for error in app.error] == [two_factor.CODE_OR_RECOVERY_WRONG]
    assert shows_code_form(app)
    assert not app.session_state[state.SESSION_HANDLE]


def test_wrong_codes_meet_the_password_limit_then_even_the_right_code_waits(
    portal: Portal,
) -> None:
    member = make_member(portal, Role.VIEWER)
    secret, _ = turn_on(portal, member)
    app = log_in_with(portal.open(), member.email, PASSWORD)
    for _ in range(get_settings().login_failures_per_account):
        app = enter_code(app, wrong_code(secret))
        assert [str(error.value) for error in app.error] == [two_factor.CODE_OR_RECOVERY_WRONG]

    app = enter_code(app, next_code(secret))

    assert not app.exception
    [message] = [str(error.value) for error in app.error]
    assert message.startswith("Too many failed attempts. Try again in ")
    assert shows_code_form(app)
    assert not app.session_state[state.SESSION_HANDLE]


def test_a_recovery_code_signs_in_once(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        member = make_user(session, role=Role.VIEWER, name="Vera Viewer")
    _, codes = turn_on(portal, member)

    app = enter_code(log_in_with(portal.open(), member.email, PASSWORD), codes[0])

    assert [str(title.value) for title in app.title] == ["Welcome, Vera Viewer"]
    again = enter_code(log_in_with(portal.open(), member.email, PASSWORD), codes[0])
    assert [str(error.value) for error in again.error] == [two_factor.CODE_OR_RECOVERY_WRONG]


def test_another_account_goes_back_to_the_password(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    turn_on(portal, member)
    app = log_in_with(portal.open(), member.email, PASSWORD)

    button(app, "Use another account").click()
    app = app.run()

    assert [w.label for w in app.text_input if w.form_id == "portal.login"] == [
        "E-mail",
        "Password",
    ]
    assert not shows_code_form(app)


def test_an_expired_second_step_asks_for_the_password_again(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    turn_on(portal, member)
    app = log_in_with(portal.open(), member.email, PASSWORD)
    pending = app.session_state[state.PENDING_SIGN_IN]
    app.session_state[state.PENDING_SIGN_IN] = replace(
        pending, expires_at=utcnow() - timedelta(seconds=1)
    )

    app = app.run()

    assert not shows_code_form(app)
    assert [str(warning.value) for warning in app.warning] == [auth.SECOND_STEP_EXPIRED]
    assert not app.session_state[state.SESSION_HANDLE]


def test_a_password_changed_between_the_steps_asks_for_the_password_again(
    portal: Portal,
) -> None:
    member = make_member(portal, Role.VIEWER)
    secret, _ = turn_on(portal, member)
    app = log_in_with(portal.open(), member.email, PASSWORD)
    with db.write_session(portal.engine) as session:
        user = session.get(User, member.id)
        assert user is not None
        user.password_changed_at = utcnow() + timedelta(seconds=1)  # reset meanwhile
        session.add(user)

    app = enter_code(app, next_code(secret))

    assert not app.exception
    assert not shows_code_form(app)
    assert [str(warning.value) for warning in app.warning] == [auth.SECOND_STEP_EXPIRED]
    assert [w.label for w in app.text_input if w.form_id == "portal.login"] == [
        "E-mail",
        "Password",
    ]
    assert not app.session_state[state.SESSION_HANDLE]


# --- The organization's requirement ----------------------------------------------------------


def organization_with_requirement(portal: Portal) -> tuple[User, User]:
    """An owner with two-factor sign-in who requires it, and a viewer without it."""
    with db.write_session(portal.engine) as session:
        owner = make_user(session, role=Role.OWNER)
        viewer = make_user(
            session,
            role=Role.VIEWER,
            organization=session.get(Organization, owner.organization_id),
            name="Vic Viewer",
        )
    turn_on(portal, owner)
    with db.write_session(portal.engine) as session:
        two_factor.set_organization_requirement(session, actor_of(owner), True)
    return owner, viewer


def test_a_member_without_it_is_sent_to_my_profile_from_every_other_page(
    portal: Portal,
) -> None:
    _, viewer = organization_with_requirement(portal)

    app = portal.open(as_user=viewer)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Turn on two-factor sign-in"]
    assert shell.TWO_FACTOR_REQUIRED in [str(warning.value) for warning in app.warning]
    # The refusal's link, and the profile menu's: My Profile is all the pages offered.
    links = [(link.proto.page, link.proto.label) for link in app.main.get("page_link")]
    assert ("my_profile", "Turn it on in My Profile") in links
    assert {page for page, _ in links} == {"my_profile"}
    assert [link.proto.label for link in app.sidebar.get("page_link")] == ["My Profile"]
    assert "Welcome" not in texts(app)
    assert not [metric for metric in app.metric if metric.label == "Available funds"]


def test_my_profile_opens_on_advanced_with_the_banner_and_lets_them_turn_it_on(
    portal: Portal,
) -> None:
    _, viewer = organization_with_requirement(portal)

    app = portal.open("pages/my_profile.py", as_user=viewer)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["My Profile"]
    assert shell.TWO_FACTOR_REQUIRED in [str(warning.value) for warning in app.warning]
    assert [tab.label for tab in app.tabs] == ["General", "Advanced", "Notifications"]
    [tabs] = [node for node in app.main if isinstance(node, Block) and node.type == "tab_container"]
    assert tabs.proto.tab_container.default_tab_index == 1  # Advanced
    assert field(app, "profile.two_factor.begin", "Current password")

    turn_on(portal, viewer)
    app = open_signed_in(portal, "Home.py", viewer)
    assert shell.TWO_FACTOR_REQUIRED not in [str(warning.value) for warning in app.warning]
    assert [str(title.value) for title in app.title] == ["Welcome, Vic Viewer"]


def test_while_it_is_required_my_profile_offers_no_way_to_turn_it_off(portal: Portal) -> None:
    owner, _ = organization_with_requirement(portal)

    app = open_signed_in(portal, "pages/my_profile.py", owner)

    assert not app.exception
    assert "Your organization requires two-factor sign-in, so it stays on." in texts(app)
    assert not [
        widget for widget in app.text_input if widget.form_id == "profile.two_factor.disable"
    ]
    assert field(app, "profile.two_factor.recovery", "Code from the app")


def test_an_owner_without_it_cannot_require_it(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    app = portal.open("pages/my_profile.py", as_user=owner)
    assert "Organization security" in [str(header.value) for header in app.subheader]

    [switch] = [t for t in app.toggle if t.label == "Require two-factor sign-in for every member"]
    switch.set_value(True)
    app = submit(app, "profile.require_two_factor")

    assert [str(error.value) for error in app.error] == [two_factor.OWNER_NEEDS_IT_FIRST]
    with db.read_session(portal.engine) as session:
        organization = session.get(Organization, owner.organization_id)
        assert organization is not None and not organization.require_two_factor


def test_an_owner_with_it_requires_it(portal: Portal) -> None:
    owner = make_member(portal, Role.OWNER)
    turn_on(portal, owner)
    app = open_signed_in(portal, "pages/my_profile.py", owner)

    [switch] = [t for t in app.toggle if t.label == "Require two-factor sign-in for every member"]
    switch.set_value(True)
    app = submit(app, "profile.require_two_factor")

    assert not app.exception
    assert [str(toast.value) for toast in app.toast] == ["Every member now signs in with a code."]
    with db.read_session(portal.engine) as session:
        organization = session.get(Organization, owner.organization_id)
        assert organization is not None and organization.require_two_factor


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER])
def test_only_owners_see_organization_security(portal: Portal, role: Role) -> None:
    app = portal.open("pages/my_profile.py", as_user=make_member(portal, role))
    headers = [str(header.value) for header in app.subheader]
    assert "Two-factor sign-in" in headers
    assert "Organization security" not in headers


def test_staff_turn_it_on_in_my_profile_too(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    app = portal.open("pages/my_profile.py", as_user=staff)
    assert "Organization security" not in [str(header.value) for header in app.subheader]
    field(app, "profile.two_factor.begin", "Current password").input(PASSWORD)
    app = submit(app, "profile.two_factor.begin")
    setup = setup_of(app)
    field(app, "profile.two_factor.confirm", "Code from the app").input(
        pyotp.TOTP(setup.secret).now()
    )
    app = submit(app, "profile.two_factor.confirm")
    assert not app.exception
    assert enabled_at(portal, staff) is not None


# --- Staff › Organizations: resetting it ------------------------------------------------------


def open_organization(portal: Portal, staff: User, organization_id: object) -> AppTest:
    return portal.open(
        "pages/staff_organizations.py",
        as_user=staff,
        query_params={"organization": organization_id},
    )


def reset_button_keys(app: AppTest) -> list[str]:
    return [str(b.key) for b in app.button if str(b.key).endswith(".two_factor_reset")]


def test_staff_reset_a_members_two_factor_sign_in_with_a_reason(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session, name="Sam Staff")
        owner = make_user(session, role=Role.OWNER, name="Olive Owner")
        organization = session.get_one(Organization, owner.organization_id)
        member = make_user(session, role=Role.DEVELOPER, organization=organization, name="Dev")
    turn_on(portal, member)
    with db.write_session(portal.engine) as session:
        handle = sessions.start_session(session, member.id, ip_address=None, user_agent=None)
    app = open_organization(portal, staff, organization.id)
    # Offered for the member with it on, not for the owner without it.
    assert reset_button_keys(app) == [f"staff.user.{member.id}.two_factor_reset"]

    app = app.button(key=f"staff.user.{member.id}.two_factor_reset").click().run()
    assert [
        str(markdown.value)
        for markdown in app.markdown
        if "is turned off for" in str(markdown.value)
    ] == [
        f"Two-factor sign-in is turned off for **Dev (`{member.email}`)**: their authenticator "
        "app and recovery codes stop working, every session of theirs ends, and they are "
        "e-mailed. If their organization requires it, they must set it up again before "
        "anything but My Profile."
    ]
    app.text_area(key=f"staff.change.two_factor.{member.id}.reset.reason").input(
        "Lost phone; identity checked by call"
    )
    app = app.button(key="staff.change.confirm").click().run()

    assert not app.exception, app.exception
    assert enabled_at(portal, member) is None
    assert stored_secret(portal, member) is None
    with db.read_session(portal.engine) as session:
        assert sessions.resolve(session, handle) is None
        event = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "two_factor.reset")
        ).one()
    assert (event.actor_email, event.detail) == (
        staff.email,
        "Lost phone; identity checked by call",
    )
    assert (
        f"Two-factor sign-in is off for Dev (`{member.email}`); their sessions have ended."
        in texts(app)
    )
    assert reset_button_keys(app) == []


def test_a_reset_without_a_reason_says_so_and_changes_nothing(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
        member = make_user(session, role=Role.DEVELOPER)
    turn_on(portal, member)
    app = open_organization(portal, staff, member.organization_id)

    app = app.button(key=f"staff.user.{member.id}.two_factor_reset").click().run()
    app = app.button(key="staff.change.confirm").click().run()

    assert not app.exception, app.exception
    assert "Enter a reason." in texts(app)
    assert enabled_at(portal, member) is not None
    assert reset_button_keys(app) == [f"staff.user.{member.id}.two_factor_reset"]


def test_after_a_reset_a_required_second_step_confines_the_member_to_my_profile(
    portal: Portal,
) -> None:
    owner, viewer = organization_with_requirement(portal)
    turn_on(portal, viewer)
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
    app = open_organization(portal, staff, owner.organization_id)
    app = app.button(key=f"staff.user.{viewer.id}.two_factor_reset").click().run()
    app.text_area(key=f"staff.change.two_factor.{viewer.id}.reset.reason").input("Lost phone")
    app = app.button(key="staff.change.confirm").click().run()
    assert not app.exception, app.exception

    app = portal.open("pages/billing_overview.py", as_user=viewer)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Turn on two-factor sign-in"]
    assert shell.TWO_FACTOR_REQUIRED in [str(warning.value) for warning in app.warning]
    assert [link.proto.label for link in app.sidebar.get("page_link")] == ["My Profile"]
    app = portal.open("pages/my_profile.py", as_user=viewer)
    assert [str(title.value) for title in app.title] == ["My Profile"]
    assert field(app, "profile.two_factor.begin", "Current password")
