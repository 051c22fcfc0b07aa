"""The Dashboard ("/", Home.py) and the profile menu of the top bar it shares with every page:
the welcome, the funds, the setup checklist, this month's requests and spend, the charts,
the upgrade prompt at the Free plan's cap, dark mode and logging out
(docs/product.md, Pages › Dashboard; docs/product.md, The shell)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Expander

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import (
    BillingAccount,
    EntryKind,
    LedgerEntry,
    LookupType,
    Product,
    Subscription,
    UsageDaily,
)
from portal_core.models.products import EventAction, EventProduct, EventStatus, WhoisProfile
from portal_core.services import ledger, product_events, sessions, whois
from portal_core.services.product_events import Event
from portal_core.services.whois import ProfileForm
from tests.factories import (
    actor_of,
    make_card,
    make_organization,
    make_staff,
    make_user,
    organization_of,
)
from tests.pages.conftest import BILLING_ROLES, OTHER_ROLES, Portal, texts

# The products' tiles of an organization that has made no lookup and registered no number.
NO_PRODUCTS_YET = {
    "Lookups today": "0",
    "Lookups this month": "0",
    "Registered numbers": "0",
    "Carrier score": "Not scored yet",
}


def make_owner(portal: Portal, *, with_domain: bool = True) -> User:
    with db.write_session(portal.engine) as session:
        organization = make_organization(session, name="Acme Voice", with_domain=with_domain)
        return make_user(session, role=Role.OWNER, organization=organization, name="Ada Owner")


def metrics(app: AppTest) -> dict[str, str]:
    """The body's metrics by label (the top bar's "Available funds" is checked apart)."""
    return {str(metric.label): str(metric.value) for metric in app.metric[1:]}


def checklist(app: AppTest) -> Expander:
    [expander] = [e for e in app.expander if e.label.startswith("Setup checklist")]
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
    assert metrics(app) == {
        "Balance": "$0.00",
        "Available funds": "$0.00",
        "Credit limit": "$0.00",
        "Requests this month": "0 of 50",
        "Month-to-date spend": "$0.00",
        "Days of funds left": "—",
        **NO_PRODUCTS_YET,
    }
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
    assert checklist(app).label == "Setup checklist: 2 of 5 done"
    assert checklist(app).proto.expanded is True
    items = [str(item.value) for item in checklist(app).markdown]
    assert items == [
        ":material/check_circle: Company details",
        ":material/radio_button_unchecked: Brand domain",
        ":material/check_circle: Plan: Free",
        ":material/radio_button_unchecked: Payment method",
        ":material/radio_button_unchecked: First number registered",
    ]


def test_setup_checklist_links_a_missing_card_to_payment_methods_for_billing_roles(
    portal: Portal,
) -> None:
    owner = make_owner(portal)
    with db.write_session(portal.engine) as session:
        organization = session.get(Organization, owner.organization_id)
        developer = make_user(session, role=Role.DEVELOPER, organization=organization)

    def checklist_links(user: User) -> list[str]:
        return [link.proto.page for link in checklist(portal.open(as_user=user)).get("page_link")]

    assert checklist_links(owner) == ["billing_payment_methods", "whois_profiles"]
    assert checklist_links(developer) == ["whois_profiles"]


def test_setup_checklist_folds_away_when_everything_is_done(portal: Portal) -> None:
    owner = make_owner(portal)
    with db.write_session(portal.engine) as session:
        make_card(session, organization_of(session, owner))
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(owner),
            ProfileForm(number="+14169671111", caller_name="Acme", line_type="fixed"),
        )
    app = portal.open(as_user=owner)
    assert checklist(app).label == "Setup checklist: 5 of 5 done"
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


# --- This month's figures, the charts and the cap prompt ---------------------------------------

SPEND_FIGURES = ("Month-to-date spend", "Days of funds left")


def make_member(portal: Portal, role: Role, *, created_days_ago: int = 0) -> User:
    with db.write_session(portal.engine) as session:
        organization = make_organization(session)
        organization.created_at -= timedelta(days=created_days_ago)
        session.add(organization)
        return make_user(session, role=role, organization=organization)


def org(user: User) -> uuid.UUID:
    assert user.organization_id is not None
    return user.organization_id


def today_in_toronto() -> date:
    return datetime.now(ZoneInfo("America/Toronto")).date()


def credit(portal: Portal, user: User, cents: int) -> None:
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=org(user),
            kind=EntryKind.CREDIT,
            amount_cents=cents,
            idempotency_key=f"dashboard-page-{uuid.uuid4()}",
            memo="Credit",
        )


def count_requests(portal: Portal, user: User, used: int) -> None:
    """The meter's count for this billing month, as if ``used`` requests had been made."""
    today = today_in_toronto()
    with db.write_session(portal.engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == org(user))
            .values(period=f"{today:%Y-%m}", period_requests=used)
        )


def add_usage(portal: Portal, user: User, day: date, lookup_type: LookupType, micros: int) -> None:
    with db.write_session(portal.engine) as session:
        session.add(
            UsageDaily(
                organization_id=org(user),
                day=day,
                product=Product.SMART_CNAM.value,
                lookup_type=lookup_type.value,
                requests=100,
                billable_requests=100,
                cost_micros=micros,
            )
        )


def upgrade_to_starter(portal: Portal, user: User) -> None:
    with db.write_session(portal.engine) as session:
        session.execute(
            update(Subscription)
            .where(col(Subscription.organization_id) == org(user))
            .values(plan_code="starter")
        )


def charts(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def chart_notes(chart: dict) -> list[str]:
    return [note["text"] for note in chart["layout"].get("annotations", [])]


def warnings(app: AppTest) -> list[str]:
    return [str(warning.value) for warning in app.warning]


def main_links(app: AppTest) -> list[tuple[str, str]]:
    return [(link.proto.page, link.proto.label) for link in app.main.get("page_link")]


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_this_months_spend_days_left_and_both_charts(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role, created_days_ago=60)
    upgrade_to_starter(portal, user)
    credit(portal, user, 9_000)  # $90.00
    count_requests(portal, user, 10_300)
    # $30.00 of usage in the last 30 days, $1.00 a day: $90.00 lasts 90 days.
    add_usage(portal, user, today_in_toronto(), LookupType.CALLER_ID, 30_000_000)

    app = portal.open(as_user=user)

    assert not app.exception
    shown = metrics(app)
    assert shown["Balance"] == "$90.00"
    assert shown["Requests this month"] == "10,300 of 10,000"
    assert shown["Month-to-date spend"] == "$60.00"  # $30.00 usage + Starter's $30.00 fee
    assert shown["Days of funds left"] == "90"
    text = texts(app)
    assert "$30.00 of usage beyond the allowance + $30.00, the Starter plan's monthly fee." in text
    assert "Taxes excluded." in text
    assert "At $1.00 a day, the average over the last 30 days." in text
    [progress] = app.get("progress")
    assert progress.proto.value == 100
    assert progress.proto.text == "Allowance used; 300 more billed per request."
    spend, balance = charts(app)
    assert [(trace["name"], trace["y"][-1]) for trace in spend["data"]] == [("Caller ID", 30.0)]
    assert len(spend["data"][0]["x"]) == 12
    assert balance["data"][0]["y"][-1] == 90.0
    assert len(balance["data"][0]["x"]) == 90


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_other_roles_see_funds_and_requests_but_no_spend(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    credit(portal, user, 9_000)
    count_requests(portal, user, 12)
    add_usage(portal, user, today_in_toronto(), LookupType.CALLER_ID, 30_000_000)

    app = portal.open(as_user=user)

    assert not app.exception
    assert metrics(app) == {
        "Balance": "$90.00",
        "Available funds": "$90.00",
        "Credit limit": "$0.00",
        "Requests this month": "12 of 50",
        **NO_PRODUCTS_YET,
    }
    [progress] = app.get("progress")
    assert (progress.proto.value, progress.proto.text) == (24, "24% of the allowance used.")
    assert not app.get("plotly_chart")
    text = texts(app)
    assert not any(figure in text for figure in SPEND_FIGURES)
    assert "$30.00" not in text
    assert "Billing history" not in [label for _, label in main_links(app)]


def test_a_new_organizations_charts_say_there_is_nothing_to_draw_yet(portal: Portal) -> None:
    app = portal.open(as_user=make_owner(portal))

    spend, balance = charts(app)

    assert not spend["data"] and not balance["data"]
    assert chart_notes(spend) == [
        "No usage cost in the last 12 months: requests within your plan's allowance cost nothing."
    ]
    assert chart_notes(balance)[0].startswith("No transactions yet")
    assert (
        "No usage cost today: requests within your plan's allowance cost nothing, so your "
        "funds are not running down."
    ) in texts(app)


def test_funds_below_zero_leave_no_days(portal: Portal) -> None:
    owner = make_owner(portal)
    credit(portal, owner, -2_500)

    app = portal.open(as_user=owner)

    assert metrics(app)["Days of funds left"] == "0"
    assert "Your available funds are below zero" in texts(app)
    month = f"{today_in_toronto():%B}"
    assert (
        f"Since {month} 1: $0.00 of usage beyond the allowance (the Free plan has no monthly "
        "fee). Taxes excluded."
    ) in texts(app)
    [balance_line] = charts(app)[1]["data"]
    assert balance_line["y"][-1] == -25.0


def test_a_free_organization_at_its_cap_is_offered_the_upgrade(portal: Portal) -> None:
    owner = make_owner(portal)
    count_requests(portal, owner, 50)

    app = portal.open(as_user=owner)

    assert not app.exception
    [warning] = warnings(app)
    assert warning.startswith("This month's 50 requests of your Free plan are used")
    assert "Upgrade to keep going now." in warning
    assert ("billing_pricing", "Upgrade your plan") in main_links(app)


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_a_role_that_cannot_change_the_plan_is_told_who_can(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    count_requests(portal, user, 50)

    app = portal.open(as_user=user)

    [warning] = warnings(app)
    assert "An owner, admin or billing member of your organization can upgrade" in warning
    assert "Upgrade your plan" not in [label for _, label in main_links(app)]


def test_below_the_cap_there_is_no_upgrade_prompt(portal: Portal) -> None:
    owner = make_owner(portal)
    count_requests(portal, owner, 49)

    app = portal.open(as_user=owner)

    assert not app.exception, app.exception
    assert metrics(app)["Requests this month"] == "49 of 50"
    assert not warnings(app)
    assert "Upgrade your plan" not in [label for _, label in main_links(app)]


def test_a_paid_plan_past_its_allowance_is_not_capped(portal: Portal) -> None:
    owner = make_owner(portal)
    upgrade_to_starter(portal, owner)
    count_requests(portal, owner, 10_001)

    app = portal.open(as_user=owner)

    assert not app.exception, app.exception
    assert metrics(app)["Requests this month"] == "10,001 of 10,000"
    assert not warnings(app)


def test_staff_land_on_organizations_without_an_organizations_figures(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = portal.open(as_user=staff)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Organizations"]
    assert not app.get("plotly_chart")
    assert "Requests this month" not in texts(app)


# --- The products' tiles ------------------------------------------------------------------------


def record_lookup(
    portal: Portal, user: User, at: datetime, status: EventStatus = EventStatus.OK
) -> None:
    assert user.organization_id is not None
    with db.write_connection(portal.engine) as connection:
        product_events.record(
            connection,
            Event(
                organization_id=user.organization_id,
                product=EventProduct.SMART_CNAM,
                action=EventAction.LOOKUP,
                user_id=user.id,
                lookup_type=LookupType.CALLER_ID.value,
                status=status,
            ),
            now=at,
        )


@pytest.mark.parametrize("role", [*BILLING_ROLES, *OTHER_ROLES], ids=str)
def test_every_role_sees_lookups_registered_numbers_and_the_carrier_score(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    now = datetime.now(ZoneInfo("America/Toronto"))
    first_of_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(3):
        record_lookup(portal, user, now)
    record_lookup(portal, user, now, EventStatus.REFUSED)  # refused: not counted
    if now.day > 1:
        record_lookup(portal, user, first_of_month)  # this month, not today
    record_lookup(portal, user, first_of_month - timedelta(minutes=1))  # last month
    with db.write_session(portal.engine) as session:
        for number in ("+14165550101", "+14165550102"):
            session.add(
                WhoisProfile(
                    organization_id=organization_of(session, user).id,
                    number=number,
                    caller_name="Acme",
                    line_type="fixed",
                )
            )
        session.execute(
            update(Organization)
            .where(col(Organization.id) == user.organization_id)
            .values(carrier_score_millis=3_075)
        )

    app = portal.open(as_user=user)

    assert not app.exception, app.exception
    shown = metrics(app)
    assert {key: shown[key] for key in NO_PRODUCTS_YET} == {
        "Lookups today": "3",
        "Lookups this month": "4" if now.day > 1 else "3",
        "Registered numbers": "2",
        "Carrier score": "3.075",
    }


def test_another_organizations_lookups_and_numbers_are_not_counted(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
        session.add(
            WhoisProfile(
                organization_id=organization_of(session, other).id,
                number="+14165550103",
                caller_name="Other",
                line_type="fixed",
            )
        )
    record_lookup(portal, other, datetime.now(ZoneInfo("America/Toronto")))

    app = portal.open(as_user=make_owner(portal))

    assert not app.exception, app.exception
    shown = metrics(app)
    assert {key: shown[key] for key in NO_PRODUCTS_YET} == NO_PRODUCTS_YET


def test_the_carrier_score_is_explained_under_the_tiles(portal: Portal) -> None:
    owner = make_owner(portal)
    app = portal.open(as_user=owner)
    assert "Your carrier score: why, and what would raise it" not in [e.label for e in app.expander]
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(owner),
            ProfileForm(number="+14169671111", caller_name="Acme", line_type="fixed"),
        )
    app = portal.open(as_user=owner)
    [why] = [
        e for e in app.expander if e.label == "Your carrier score: why, and what would raise it"
    ]
    said = "\n".join(str(item.value) for item in why.markdown)
    assert "Verify your unverified numbers (1): up to +1.000" in said
    assert metrics(app)["Carrier score"] == "2.500"
