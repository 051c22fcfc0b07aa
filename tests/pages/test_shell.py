"""The shell every page opens through: who may open what, the left pane, the login form.

Each page of the registry, the Staff pages included, is opened as each role, and anonymously,
the way a deep link opens it (Streamlit runs the page's script alone), and must be either
shown or refused with nothing of it drawn (docs/architecture.md, Pages and navigation;
docs/product.md, Account life cycle). The cases come from the registry itself, so a page added to
it is gated here without a line of test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.runtime import context as streamlit_context
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from portal_core import db
from portal_core.mail import outbox_messages
from portal_core.models.accounts import Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.permissions import GRANTS, Capability
from portal_core.queries import notices as notice_queries
from portal_core.services import notices, sessions
from portal_core.services.sessions import SessionView
from portal_core.terms import current_terms
from portal_core.ui import shell
from portal_core.ui.registry import PAGES, Audience, PageSpec, Section, page
from tests.factories import PASSWORD, make_organization, make_staff, make_user
from tests.pages.conftest import Portal, plain, texts

ROLES = [Role.OWNER, Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER, Role.STAFF]
PARTNER_ROLES = [role for role in ROLES if role is not Role.STAFF]
PROTECTED_PAGES = [spec for spec in PAGES if spec.audience is not Audience.PUBLIC]
NOT_YOUR_ROLE = "Your role does not give you access to this page."
WRONG_CREDENTIALS = "That e-mail and password do not match an account."


# --- Helpers -----------------------------------------------------------------------------


def make_member(portal: Portal, role: Role, **kwargs: object) -> User:
    """A verified user of ``role`` in an active organization (staff: in none)."""
    with db.write_session(portal.engine) as session:
        if role is Role.STAFF:
            return make_staff(session, **kwargs)
        return make_user(session, role=role, **kwargs)  # type: ignore[arg-type]


def make_user_of_inactive_organization(
    portal: Portal, role: Role, *, status: UserStatus = UserStatus.ACTIVE
) -> User:
    with db.write_session(portal.engine) as session:
        organization = make_organization(session, active=False)
        return make_user(session, role=role, organization=organization, status=status)


def may_open(spec: PageSpec, role: Role) -> bool:
    """What the registry says: public pages for all, activation for partners, else the role."""
    if spec.audience is Audience.PUBLIC:
        return True
    if spec.audience is Audience.ACTIVATION:
        return role is not Role.STAFF
    return spec.capability is None or spec.capability in GRANTS[role]


def shows_page(app: AppTest, spec: PageSpec, user: User | None) -> bool:
    """Whether the run drew the page itself: its own title, or the element only it draws."""
    titles = [str(title.value) for title in app.title]
    if spec.id == "dashboard":
        if user is not None and user.is_staff:
            return page("staff.organizations").title in titles  # the staff landing
        return any(title.startswith("Welcome, ") for title in titles)
    if spec.id == "public.terms":
        return f"Version {current_terms().version}" in texts(app)
    return spec.title in titles


def shows_login_form(app: AppTest) -> bool:
    labels = [field.label for field in app.text_input if field.form_id == "portal.login"]
    return labels == ["E-mail", "Password"]


def refused(app: AppTest) -> bool:
    return [str(title.value) for title in app.title] == ["No access"]


def button(app: AppTest, label: str) -> Button:
    matches = [widget for widget in app.button if widget.label == label]
    assert len(matches) == 1, f"expected one {label!r} button, found {len(matches)}"
    return matches[0]


def page_links(app: AppTest, where: str = "main") -> list[tuple[str, str]]:
    """(url path, label) of each page link drawn in the main area or the sidebar."""
    block = app.sidebar if where == "sidebar" else app.main
    return [(link.proto.page, link.proto.label) for link in block.get("page_link")]


def view_of(
    role: Role, *, status: UserStatus = UserStatus.ACTIVE, organization_active: bool = True
) -> SessionView:
    staff = role is Role.STAFF
    return SessionView(
        handle="handle",
        user_id=uuid.uuid4(),
        email=f"{role.value}@example.com",
        name=role.value.title(),
        role=role,
        user_status=status,
        organization_id=None if staff else uuid.uuid4(),
        organization_name=None if staff else "Acme Telecom",
        organization_active=organization_active and not staff,
        dark_mode=False,
        last_seen_at=utcnow(),
    )


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """What a real browser's connection gives ``st.context``: AppTest's own is a mock, whose
    IP address and headers the login's database writes cannot store."""
    client = SimpleNamespace(
        headers=[("User-Agent", "AppTest")], cookies={}, remote_ip="203.0.113.9"
    )
    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: client)
    yield


# --- The left pane -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_pane_offers_exactly_the_member_pages_the_role_may_open(role: Role) -> None:
    offered = [spec.id for spec in shell.visible_pages(view_of(role))]
    expected = [
        spec.id
        for spec in PAGES
        if spec.in_pane
        and spec.audience is Audience.MEMBER
        and may_open(spec, role)
        # Staff land on "/" but the pane links their landing page itself, not a second copy.
        and not (role is Role.STAFF and spec.id == "dashboard")
    ]
    assert sorted(offered) == sorted(expected)
    assert len(offered) == len(set(offered))


@pytest.mark.parametrize("role", PARTNER_ROLES, ids=str)
def test_pane_of_a_partner_has_dashboard_and_my_profile_and_no_staff_page(role: Role) -> None:
    offered = shell.visible_pages(view_of(role))
    assert {"dashboard", "access.my_profile"} <= {spec.id for spec in offered}
    assert all(spec.section is not Section.STAFF for spec in offered)


def test_pane_of_staff_has_every_staff_page_and_my_profile() -> None:
    offered = {spec.id for spec in shell.visible_pages(view_of(Role.STAFF))}
    staff_pages = {spec.id for spec in PAGES if spec.section is Section.STAFF}
    assert staff_pages and staff_pages <= offered
    assert "access.my_profile" in offered
    assert "dashboard" not in offered  # "/" is Staff › Organizations for them


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_pane_never_offers_public_or_activation_pages(role: Role) -> None:
    offered = shell.visible_pages(view_of(role))
    assert offered  # else the check below holds of nothing
    assert all(spec.audience is Audience.MEMBER for spec in offered)


@pytest.mark.parametrize("role", PARTNER_ROLES, ids=str)
def test_pane_of_an_unverified_user_is_empty(role: Role) -> None:
    view = view_of(role, status=UserStatus.UNVERIFIED, organization_active=False)
    assert shell.visible_pages(view) == []


def test_pane_of_a_verified_owner_of_an_inactive_organization_is_the_activation_page() -> None:
    view = view_of(Role.OWNER, organization_active=False)
    assert [spec.id for spec in shell.visible_pages(view)] == ["account.activate"]


@pytest.mark.parametrize("role", ROLES, ids=str)
def test_sidebar_draws_a_link_to_each_offered_page_in_section_order(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    app = portal.open(as_user=user)
    assert not app.exception
    with db.read_session(portal.engine) as session:
        handle = app.session_state["portal.session_handle"]
        view = sessions.resolve(session, handle)
    assert view is not None
    expected = [(spec.url_path, spec.title) for spec in shell.visible_pages(view)]
    drawn = page_links(app, "sidebar")
    assert sorted(drawn) == sorted(expected)
    by_path = {spec.url_path: spec for spec in PAGES}
    sections = [list(Section).index(by_path[path].section) for path, _ in drawn]
    assert sections == sorted(sections), "the pane follows the order of its sections"


def test_sidebar_of_an_unverified_owner_has_no_links(portal: Portal) -> None:
    owner = make_user_of_inactive_organization(portal, Role.OWNER, status=UserStatus.UNVERIFIED)
    app = portal.open(as_user=owner)
    assert not app.exception
    assert [title.value for title in app.title] == ["Check your e-mail"]
    assert page_links(app, "sidebar") == []


def test_sidebar_of_an_owner_still_activating_links_only_the_wizard(portal: Portal) -> None:
    owner = make_user_of_inactive_organization(portal, Role.OWNER)
    app = portal.open(as_user=owner)
    activate = page("account.activate")
    assert page_links(app, "sidebar") == [(activate.url_path, activate.title)]


# --- Every page, every role --------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("spec", PAGES, ids=lambda spec: spec.id)
def test_page_is_shown_or_refused_as_the_registry_says(
    portal: Portal, spec: PageSpec, role: Role
) -> None:
    user = make_member(portal, role)
    app = portal.open(spec.script, as_user=user)
    assert not app.exception, app.exception
    if may_open(spec, role):
        assert shows_page(app, spec, user), texts(app)
        assert not refused(app)
    else:
        assert refused(app), texts(app)
        assert not shows_page(app, spec, user)
        expected = (
            "Activation is for partner accounts"
            if spec.audience is Audience.ACTIVATION
            else NOT_YOUR_ROLE
        )
        assert any(expected in str(error.value) for error in app.error)
        # The refusal is all the page drew: its one message and the way back, no content.
        assert len(app.error) == 1, texts(app)
        back = (
            (page("staff.organizations").url_path, "Back to Organizations")
            if role is Role.STAFF
            else ("", "Back to the Dashboard")
        )
        assert back in page_links(app)
        assert not app.dataframe and not app.subheader


REFUSALS = [
    pytest.param(spec, role, id=f"{spec.id}-{role}")
    for spec in PAGES
    for role in ROLES
    if spec.audience is not Audience.PUBLIC and not may_open(spec, role)
]


@pytest.mark.parametrize(("spec", "role"), REFUSALS)
def test_a_refusal_links_back_to_a_page_the_role_may_open(
    portal: Portal, spec: PageSpec, role: Role
) -> None:
    app = portal.open(spec.script, as_user=make_member(portal, role))

    assert refused(app), texts(app)
    back = [link for link in page_links(app) if link[1].startswith("Back to")]
    if role is Role.STAFF:
        organizations = page("staff.organizations")
        assert back == [(organizations.url_path, "Back to Organizations")]
    else:
        assert back == [("", "Back to the Dashboard")]


def test_the_registry_refuses_every_staff_page_to_partners_and_billing_to_staff() -> None:
    # The refused branch of the test above must really run for these pages: were
    # ``may_open`` to let everyone in, the gate would go untested.
    staff_pages = [spec for spec in PAGES if spec.section is Section.STAFF]
    billing_pages = [spec for spec in PAGES if spec.section is Section.BILLING]
    assert staff_pages and billing_pages
    for spec in staff_pages:
        assert [role for role in PARTNER_ROLES if may_open(spec, role)] == [], spec.id
        assert may_open(spec, Role.STAFF), spec.id
    for spec in billing_pages:
        assert not may_open(spec, Role.STAFF), spec.id
        assert not may_open(spec, Role.DEVELOPER) and not may_open(spec, Role.VIEWER), spec.id
    assert not may_open(page("account.activate"), Role.STAFF)


@pytest.mark.parametrize("spec", PAGES, ids=lambda spec: spec.id)
def test_anonymous_visitor_sees_public_pages_and_the_login_form_elsewhere(
    portal: Portal, spec: PageSpec
) -> None:
    app = portal.open(spec.script)
    assert not app.exception, app.exception
    if spec.audience is Audience.PUBLIC:
        assert shows_page(app, spec, None)
        assert not shows_login_form(app)
    else:
        assert shows_login_form(app)
        assert not shows_page(app, spec, None)
        assert not refused(app)
        assert page_links(app, "sidebar") == []


@pytest.mark.parametrize("role", ROLES, ids=str)
@pytest.mark.parametrize("capability", list(Capability), ids=str)
def test_gate_refuses_a_member_page_exactly_when_the_role_lacks_its_capability(
    role: Role, capability: Capability
) -> None:
    # Every capability, not only those of today's pages: a page added later is gated too.
    spec = PageSpec(
        id="example",
        script="pages/example.py",
        title="Example",
        icon=":material/star:",
        section=Section.BILLING,
        audience=Audience.MEMBER,
        capability=capability,
    )
    refusal = shell._refusal(spec, view_of(role))
    if capability in GRANTS[role]:
        assert refusal is None
    else:
        assert refusal is shell._not_your_role


# --- Life-cycle gates --------------------------------------------------------------------


@pytest.mark.parametrize("spec", PROTECTED_PAGES, ids=lambda spec: spec.id)
def test_unverified_owner_is_asked_to_check_their_email_on_every_protected_page(
    portal: Portal, spec: PageSpec
) -> None:
    owner = make_user_of_inactive_organization(portal, Role.OWNER, status=UserStatus.UNVERIFIED)
    app = portal.open(spec.script, as_user=owner)
    assert not app.exception
    assert [title.value for title in app.title] == ["Check your e-mail"]
    assert owner.email in texts(app).replace("\\", "")
    assert not shows_page(app, spec, owner)


def test_resend_sends_a_new_link_then_asks_to_wait_a_minute(
    portal: Portal, outbox_dir: Path
) -> None:
    owner = make_user_of_inactive_organization(portal, Role.OWNER, status=UserStatus.UNVERIFIED)
    app = portal.open(as_user=owner)

    button(app, "Send the link again").click()
    app.run()
    assert not app.exception
    assert any("Sent." in str(message.value) for message in app.success)
    sent = outbox_messages(outbox_dir)
    assert [message["To"] for message in sent] == [owner.email]
    assert "verify_email?token=" in sent[0].get_content()

    button(app, "Send the link again").click()
    app.run()
    assert [str(warning.value) for warning in app.warning] == [
        "We just sent a link. Wait a minute before asking for another."
    ]
    assert len(outbox_messages(outbox_dir)) == 1


@pytest.mark.parametrize("script", ["Home.py", "pages/my_profile.py"])
def test_verified_owner_of_an_inactive_organization_is_sent_to_the_activation_page(
    portal: Portal, script: str
) -> None:
    owner = make_user_of_inactive_organization(portal, Role.OWNER)
    app = portal.open(script, as_user=owner)
    assert not app.exception
    assert [title.value for title in app.title] == ["Finish activating your account"]
    assert ("activate", "Continue activation") in page_links(app)
    assert "My Profile" not in [title.value for title in app.title]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BILLING, Role.DEVELOPER, Role.VIEWER], ids=str)
@pytest.mark.parametrize("script", ["Home.py", "pages/activate.py", "pages/my_profile.py"])
def test_non_owner_of_an_inactive_organization_waits_for_the_owner(
    portal: Portal, role: Role, script: str
) -> None:
    member = make_user_of_inactive_organization(portal, role)
    app = portal.open(script, as_user=member)
    assert not app.exception
    assert [title.value for title in app.title] == ["Your organization is being set up"]
    assert not app.get("form")


def test_staff_are_refused_the_activation_page(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    app = portal.open("pages/activate.py", as_user=staff)
    assert not app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [
        "Activation is for partner accounts; staff accounts are ready to use."
    ]
    assert not app.selectbox


# --- Logging in through the form ---------------------------------------------------------


def log_in_with(app: AppTest, email: str, password: str) -> AppTest:
    fields = {field.label: field for field in app.text_input if field.form_id == "portal.login"}
    fields["E-mail"].input(email)
    fields["Password"].input(password)
    button(app, "Log in").click()
    return app.run()


@pytest.mark.usefixtures("browser")
@pytest.mark.parametrize("typed", ["Demo.Owner@Sipstack.test", "DEMO.OWNER@SIPSTACK.TEST"])
def test_logging_in_with_the_email_in_any_case_shows_the_page_in_the_same_run(
    portal: Portal, typed: str
) -> None:
    make_member(portal, Role.OWNER, email="demo.owner@sipstack.test", name="Demo Owner")
    app = log_in_with(portal.open(), typed, PASSWORD)
    assert not app.exception
    assert [title.value for title in app.title] == ["Welcome, Demo Owner"]
    assert not shows_login_form(app)
    assert app.session_state["portal.session_handle"]


@pytest.mark.usefixtures("browser")
def test_logging_in_on_a_deep_link_shows_that_page(portal: Portal) -> None:
    make_member(portal, Role.VIEWER, email="viewer@sipstack.test")
    app = log_in_with(portal.open("pages/my_profile.py"), "viewer@sipstack.test", PASSWORD)
    assert not app.exception
    assert [title.value for title in app.title] == ["My Profile"]


@pytest.mark.usefixtures("browser")
def test_wrong_password_shows_the_error_and_no_page(portal: Portal) -> None:
    make_member(portal, Role.OWNER, email="demo.owner@sipstack.test")
    app = log_in_with(portal.open(), "demo.owner@sipstack.test", PASSWORD + "x")
    assert not app.exception
    assert [str(error.value) for error in app.error] == [WRONG_CREDENTIALS]
    assert shows_login_form(app)
    assert not shows_page(app, page("dashboard"), None)
    assert not app.session_state["portal.session_handle"]


@pytest.mark.usefixtures("browser")
def test_unknown_email_is_answered_like_a_wrong_password(portal: Portal) -> None:
    app = log_in_with(portal.open(), "nobody@sipstack.test", PASSWORD)
    assert [str(error.value) for error in app.error] == [WRONG_CREDENTIALS]


@pytest.mark.usefixtures("browser")
def test_five_wrong_passwords_then_even_the_right_one_is_throttled(portal: Portal) -> None:
    make_member(portal, Role.OWNER, email="demo.owner@sipstack.test")
    app = portal.open()
    for _ in range(5):
        app = log_in_with(app, "demo.owner@sipstack.test", "Wrong-Guess-Number-9")
        assert [str(error.value) for error in app.error] == [WRONG_CREDENTIALS]
    app = log_in_with(app, "demo.owner@sipstack.test", PASSWORD)
    assert not app.exception
    [message] = [str(error.value) for error in app.error]
    assert message.startswith("Too many failed attempts. Try again in ")
    assert shows_login_form(app)
    assert not shows_page(app, page("dashboard"), None)


@pytest.mark.usefixtures("browser")
@pytest.mark.parametrize(("email", "password"), [("", ""), ("demo@sipstack.test", ""), (" ", "x")])
def test_an_incomplete_login_asks_for_both_fields(
    portal: Portal, email: str, password: str
) -> None:
    app = log_in_with(portal.open(), email, password)
    assert not app.exception
    assert [str(error.value) for error in app.error] == ["Enter your e-mail and your password."]
    assert shows_login_form(app)


# --- The notices bell --------------------------------------------------------------------


def post_notice(
    portal: Portal,
    user: User,
    title: str,
    *,
    capability: Capability = Capability.USE_PORTAL,
    link_page_id: str | None = None,
) -> uuid.UUID:
    assert user.organization_id is not None
    with db.write_session(portal.engine) as session:
        return notices.post(
            session,
            organization_id=user.organization_id,
            kind=NoticeKind.PAYMENT_FAILED,
            title=title,
            body=f"{title}: the details.",
            dedupe_key=uuid.uuid4().hex,
            capability=capability,
            link_page_id=link_page_id,
        ).id


def bell_label(app: AppTest) -> str:
    return str(app.main.get_by_key(shell.BELL).proto.popover.label)


def open_bell(portal: Portal, user: User) -> AppTest:
    """The Dashboard with the bell clicked open (it reads its notices only when open)."""
    app = portal.open(as_user=user)
    app.session_state[shell.BELL] = True
    return app.run()


@pytest.mark.parametrize("role", PARTNER_ROLES, ids=str)
def test_the_bell_shows_how_many_notices_are_unread(portal: Portal, role: Role) -> None:
    member = make_member(portal, role)
    for number in range(3):
        post_notice(portal, member, f"Notice {number}")

    app = portal.open(as_user=member)

    assert not app.exception, app.exception
    assert bell_label(app) == "3"


def test_the_bell_shows_no_count_when_nothing_is_unread(portal: Portal) -> None:
    app = portal.open(as_user=make_member(portal, Role.VIEWER))

    assert not app.exception
    assert bell_label(app) == ""


def test_the_bell_counts_only_notices_the_role_may_see(portal: Portal) -> None:
    developer = make_member(portal, Role.DEVELOPER)
    post_notice(portal, developer, "An invoice", capability=Capability.BILLING_READ)
    post_notice(portal, developer, "For everyone")

    assert bell_label(portal.open(as_user=developer)) == "1"


def post_staff_notice(portal: Portal, title: str) -> uuid.UUID:
    with db.write_session(portal.engine) as session:
        return notices.post_for_staff(
            session,
            kind=NoticeKind.MAIL_UNDELIVERABLE,
            title=title,
            body=f"{title}: the details.",
            dedupe_key=uuid.uuid4().hex,
        ).id


def test_staff_have_a_bell_that_counts_the_staff_notices_alone(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    partner = make_member(portal, Role.OWNER)
    post_notice(portal, partner, "Their payment failed")
    post_staff_notice(portal, "E-mail to a@example.com could not be sent")
    post_staff_notice(portal, "E-mail to b@example.com could not be sent")

    app = portal.open(as_user=staff)

    assert not app.exception, app.exception
    assert bell_label(app) == "2"


def test_the_open_staff_bell_lists_the_staff_notices(portal: Portal) -> None:
    staff = make_member(portal, Role.STAFF)
    partner = make_member(portal, Role.OWNER)
    post_notice(portal, partner, "Their payment failed")
    notice_id = post_staff_notice(portal, "E-mail to a@example.com could not be sent")

    app = open_bell(portal, staff)

    assert not app.exception, app.exception
    shown = plain(app)  # as it reads, without the Markdown escapes
    assert "E-mail to a@example.com could not be sent" in shown
    assert "Their payment failed" not in shown
    queries = [link.proto.query_string for link in app.main.get("page_link")]
    assert f"notice={notice_id}" in queries
    assert ("notices", "All notices") in page_links(app)


def test_the_staff_bell_says_what_will_appear_when_empty(portal: Portal) -> None:
    app = open_bell(portal, make_member(portal, Role.STAFF))

    assert not app.exception, app.exception
    assert bell_label(app) == ""
    assert "No notices yet: e-mails that could not be sent will appear here." in texts(app)


def test_a_partners_bell_does_not_count_a_staff_notice(portal: Portal) -> None:
    member = make_member(portal, Role.OWNER)
    post_staff_notice(portal, "E-mail to a@example.com could not be sent")
    post_notice(portal, member, "A payment failed")

    app = open_bell(portal, member)

    assert not app.exception, app.exception
    assert bell_label(app) == "1"
    assert "could not be sent" not in texts(app)


def test_a_closed_bell_reads_no_notices(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    post_notice(portal, member, "A payment failed")

    app = portal.open(as_user=member)

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == [f"Welcome, {member.name}"]
    assert bell_label(app) == "1"  # the notice is there, counted but not read out
    assert "A payment failed" not in texts(app)


def test_the_open_bell_lists_the_latest_notices_with_their_links(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    oldest = post_notice(portal, member, "Oldest notice")
    for number in range(1, 6):
        post_notice(portal, member, f"Notice {number}", link_page_id="access.my_profile")
    billing_only = post_notice(portal, member, "Funds are low", link_page_id="billing.overview")

    closed = portal.open(as_user=member)
    app = open_bell(portal, member)

    assert not app.exception, app.exception
    shown = texts(app)
    assert "Funds are low" in shown and "Notice 5" in shown
    assert "Oldest notice" not in shown  # the bell lists the latest five
    links = page_links(app)
    opens = [link for link in links if link[1] == "Open"]
    assert len(opens) == 5
    assert ("notices", "All notices") in links
    to_profile = ("my_profile", "My Profile")
    assert links.count(to_profile) - page_links(closed).count(to_profile) == 4  # Notices 2–5
    assert ("billing_overview", "Overview") not in links  # a viewer may not open Billing
    queries = [link.proto.query_string for link in app.main.get("page_link")]
    assert f"notice={billing_only}" in queries
    assert f"notice={oldest}" not in queries


def test_mark_all_as_read_clears_the_count(portal: Portal) -> None:
    member = make_member(portal, Role.VIEWER)
    post_notice(portal, member, "First")
    post_notice(portal, member, "Second")
    app = open_bell(portal, member)
    assert bell_label(app) == "2"

    button(app, "Mark all as read").click()
    app.run()

    assert not app.exception
    assert bell_label(app) == ""
    with db.read_session(portal.engine) as session:
        handle = app.session_state["portal.session_handle"]
        view = sessions.resolve(session, handle)
        assert view is not None
        assert notice_queries.unread_count(session, view.actor) == 0


@pytest.mark.parametrize(
    ("ago", "said"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=5, seconds=10), "5 min ago"),
        (timedelta(hours=3, minutes=59), "3 h ago"),
        (timedelta(days=1, hours=2), "1 day ago"),
        (timedelta(days=6), "6 days ago"),
    ],
)
def test_the_bell_says_how_long_ago_a_notice_came(ago: timedelta, said: str) -> None:
    now = utcnow()
    assert shell.time_ago(now - ago, now) == said


def test_the_bell_dates_a_notice_older_than_a_week() -> None:
    now = utcnow()
    assert (
        shell.time_ago(now - timedelta(days=8), now) == (now - timedelta(days=8)).date().isoformat()
    )
