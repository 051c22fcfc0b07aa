"""The Dashboard ("/", Home.py) and the profile menu of the top bar it shares with every page:
the welcome, the funds, the setup checklist, dark mode and logging out (SPEC.md, Dashboard;
The shell)."""

from __future__ import annotations

from sqlmodel import func, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Expander

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.billing import EntryKind, LedgerEntry
from portal_core.services import ledger, sessions
from tests.factories import make_organization, make_user
from tests.pages.conftest import Portal


def make_owner(portal: Portal, *, with_domain: bool = True) -> User:
    with db.write_session(portal.engine) as session:
        organization = make_organization(session, name="Acme Voice", with_domain=with_domain)
        return make_user(session, role=Role.OWNER, organization=organization, name="Ada Owner")


def metrics(app: AppTest) -> dict[str, str]:
    """The body's metrics by label (the top bar's "Available funds" is checked apart)."""
    return {str(metric.label): str(metric.value) for metric in app.metric[1:]}


def checklist(app: AppTest) -> Expander:
    [expander] = app.expander
    return expander


def dark_mode_saved(portal: Portal, user: User) -> bool:
    with db.read_session(portal.engine) as session:
        fresh = session.get(User, user.id)
        assert fresh is not None
        return fresh.dark_mode


def test_dashboard_welcomes_the_user_by_name_with_organization_and_role(portal: Portal) -> None:
    owner = make_owner(portal)
    app = portal.open(as_user=owner)
    assert not app.exception
    assert [title.value for title in app.title] == ["Welcome, Ada Owner"]
    assert "Acme Voice · Owner" in [caption.value for caption in app.caption]


def test_a_new_organization_with_an_empty_ledger_has_zero_funds(portal: Portal) -> None:
    owner = make_owner(portal)
    with db.read_session(portal.engine) as session:
        assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == 0
    app = portal.open(as_user=owner)
    assert metrics(app) == {"Balance": "$0.00", "Credit limit": "$0.00"}
    top_bar = app.metric[0]
    assert (top_bar.label, top_bar.value) == ("Available funds", "$0.00")


def test_funds_follow_the_ledger(portal: Portal) -> None:
    owner = make_owner(portal)
    with db.write_session(portal.engine) as session:
        assert owner.organization_id is not None
        ledger.post_entry(
            session,
            organization_id=owner.organization_id,
            kind=EntryKind.CREDIT,
            amount_cents=1_234_56,
            idempotency_key="test-credit-1",
            memo="Welcome credit",
        )
    app = portal.open(as_user=owner)
    assert metrics(app)["Balance"] == "$1,234.56"
    top_bar = app.metric[0]
    assert (top_bar.label, top_bar.value) == ("Available funds", "$1,234.56")


def test_setup_checklist_counts_what_is_done_and_stays_open_until_done(portal: Portal) -> None:
    owner = make_owner(portal, with_domain=False)
    app = portal.open(as_user=owner)
    assert checklist(app).label == "Setup checklist: 1 of 2 done"
    assert checklist(app).proto.expanded is True
    items = [str(item.value) for item in checklist(app).markdown]
    assert items == [
        ":material/check_circle: Company details",
        ":material/radio_button_unchecked: Brand domain",
    ]


def test_setup_checklist_folds_away_when_everything_is_done(portal: Portal) -> None:
    app = portal.open(as_user=make_owner(portal))
    assert checklist(app).label == "Setup checklist: 2 of 2 done"
    assert checklist(app).proto.expanded is False


def test_dashboard_links_to_my_profile(portal: Portal) -> None:
    app = portal.open(as_user=make_owner(portal))
    links = [(link.proto.page, link.proto.label) for link in app.main.get("page_link")]
    assert ("my_profile", "My Profile") in links


def test_dark_mode_toggle_is_saved_for_the_user(portal: Portal) -> None:
    owner = make_owner(portal)
    app = portal.open(as_user=owner)
    assert app.toggle(key="portal.dark_mode").value is False

    app.toggle(key="portal.dark_mode").set_value(True)
    app.run()
    assert not app.exception
    assert dark_mode_saved(portal, owner) is True

    fresh = portal.open(as_user=owner)  # another tab reads it from the database
    assert fresh.toggle(key="portal.dark_mode").value is True
    assert '"Dark"' in str(fresh.get("html")[0].proto.body)

    fresh.toggle(key="portal.dark_mode").set_value(False)
    fresh.run()
    assert dark_mode_saved(portal, owner) is False


def test_log_out_ends_the_server_session_and_shows_the_login_form(portal: Portal) -> None:
    app = portal.open(as_user=make_owner(portal))
    handle = app.session_state["portal.session_handle"]

    app.button(key="portal.logout").click()
    app.run()
    assert not app.exception
    with db.read_session(portal.engine) as session:
        assert sessions.resolve(session, handle) is None
    fields = [field.label for field in app.text_input if field.form_id == "portal.login"]
    assert fields == ["E-mail", "Password"]
    assert not any(str(title.value).startswith("Welcome") for title in app.title)

    app.run()  # and it stays logged out
    assert [field.label for field in app.text_input] == ["E-mail", "Password"]
    assert not app.title
