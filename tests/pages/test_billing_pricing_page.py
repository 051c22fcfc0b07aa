"""Billing › Pricing (AppTest): who may open it, the plans with the current one marked, the cap
banner of a Free organization that used its allowance, and changing plan through the
confirmation that states what happens: an upgrade at once, a downgrade scheduled and
cancelled, a refusal that says where to add a card or funds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlmodel import col
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.billing import BillingAccount, BillingCycle, Subscription
from portal_core.permissions import GRANTS, Capability
from portal_core.services import platform
from tests.factories import change_subscription, make_card, make_organization, make_staff, make_user
from tests.pages.conftest import BILLING_ROLES, NOT_YOUR_ROLE, OTHER_ROLES, Portal, refused, texts

PAGE = "pages/billing_pricing.py"
CHANGE = "pricing.change.asked"
CANCEL = "pricing.cancel.asked"


def make_member(
    portal: Portal,
    role: Role = Role.OWNER,
    *,
    card: bool = True,
    **subscription_changes: object,
) -> User:
    with db.write_session(portal.engine) as session:
        organization = make_organization(session)
        change_subscription(session, organization, **subscription_changes)
        if card:
            make_card(session, organization, default=True, exp_month=12, exp_year=2099)
        return make_user(session, role=role, organization=organization)


def use_allowance(portal: Portal, user: User, requests: int) -> None:
    """Leave the meter's counter at ``requests`` for this month (billing time zone)."""
    with db.write_session(portal.engine) as session:
        local = datetime.now(UTC).astimezone(platform.billing_time_zone(session))
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == user.organization_id)
            .values(period=f"{local.year:04d}-{local.month:02d}", period_requests=requests)
        )


def plan_of(portal: Portal, user: User) -> tuple[str, str, str | None]:
    with db.read_session(portal.engine) as session:
        subscription = session.get(Subscription, user.organization_id)
        assert subscription is not None
        return subscription.plan_code, subscription.cycle, subscription.next_plan_code


def credit_limit_cents(portal: Portal, user: User) -> int:
    with db.read_session(portal.engine) as session:
        account = session.get(BillingAccount, user.organization_id)
        assert account is not None
        return account.credit_limit_micros // 10_000


def labels(app: AppTest) -> list[str]:
    """The page's own buttons (not the top bar's), in order."""
    return [
        str(button.label) for button in app.main.button if str(button.key).startswith("pricing.")
    ]


def choose(app: AppTest, plan: str, cycle: str = "monthly") -> AppTest:
    return app.button(key=f"pricing.choose.{plan}.{cycle}").click().run()


# --- Who sees what -------------------------------------------------------------------------


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_the_plans_and_may_choose_one(portal: Portal, role: Role) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, role))

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Pricing"]
    shown = texts(app)
    assert "Prices in USD, taxes excluded." in shown
    for figure in ("$30.00 / month", "$0.0030", "10,000 a month included", "By contract"):
        assert figure in shown
    assert "Your plan: Free, billed monthly" in shown
    assert labels(app) == ["Choose monthly", "Choose yearly"] * 3


def test_the_current_plan_is_marked_and_offers_only_the_other_cycle(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, plan_code="competitor"))

    assert not app.exception
    marked = [str(header.value) for header in app.subheader if "badge" in str(header.value)]
    assert marked == ["Competitor :green-badge[:material/check: Current]"]
    assert ":material/check_circle: Your plan, billed monthly" in texts(app)
    assert "pricing.choose.competitor.yearly" in [button.key for button in app.main.button]
    assert "pricing.choose.competitor.monthly" not in [button.key for button in app.main.button]


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused(portal: Portal, role: Role) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, role))

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert "$30.00 / month" not in texts(app)


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = portal.open(PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert labels(app) == []


def test_a_billing_reader_without_manage_sees_the_plans_without_buttons(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No role reads Billing without managing it today (docs/product.md, Roles); the page must still
    # offer nothing to one that could only read.
    monkeypatch.setitem(
        GRANTS, Role.BILLING, frozenset(GRANTS[Role.BILLING] - {Capability.BILLING_MANAGE})
    )
    member = make_member(portal, Role.BILLING)
    use_allowance(portal, member, 50)

    app = portal.open(PAGE, as_user=member)

    assert not app.exception
    assert "$30.00 / month" in texts(app)
    assert labels(app) == []
    assert "Ask an owner, admin or billing member of your organization to upgrade." in texts(app)


def test_an_organization_on_a_contract_is_told_sipstack_changes_it(portal: Portal) -> None:
    member = make_member(portal, plan_code="carrier", contract_monthly_cents=900_000)

    app = portal.open(PAGE, as_user=member)

    assert not app.exception
    assert "Your Carrier contract is managed by SIPSTACK: contact us to change it." in texts(app)
    assert labels(app) == []


# --- The cap banner ------------------------------------------------------------------------


def test_a_free_organization_at_its_cap_is_offered_the_upgrade_at_the_top(
    portal: Portal,
) -> None:
    owner = make_member(portal)
    use_allowance(portal, owner, 50)

    app = portal.open(PAGE, as_user=owner)

    assert not app.exception
    [banner] = app.warning
    assert str(banner.value).startswith(
        "You've used all 50 free lookups this month, so lookups are refused until "
    )
    assert "Upgrade to Starter to keep going now" in str(banner.value)
    assert labels(app)[0] == "Upgrade to Starter"
    assert "This month: 50 of the 50 lookups included" in str(app.get("progress")[0].proto.text)

    app = app.button(key="pricing.cap.upgrade").click().run()
    assert "**Starter, billed monthly** starts now." in texts(app)
    app = app.button(key=f"{CHANGE}.confirm").click().run()

    assert not app.exception
    assert plan_of(portal, owner) == ("starter", BillingCycle.MONTHLY, None)
    assert [str(toast.value) for toast in app.toast] == ["You are on Starter, billed monthly now."]
    assert not app.warning  # Starter prices lookups beyond its allowance: no cap
    assert "Your plan: Starter, billed monthly" in texts(app)


def test_a_free_organization_below_its_cap_sees_no_banner(portal: Portal) -> None:
    owner = make_member(portal)
    use_allowance(portal, owner, 49)

    app = portal.open(PAGE, as_user=owner)

    assert not app.exception, app.exception
    assert "This month: 49 of the 50 lookups included" in str(app.get("progress")[0].proto.text)
    assert labels(app) == ["Choose monthly", "Choose yearly"] * 3
    assert not app.warning
    assert "Upgrade to Starter" not in labels(app)


# --- Changing plan -------------------------------------------------------------------------


def test_an_upgrade_is_confirmed_with_its_fee_and_credit_limit_then_made(portal: Portal) -> None:
    owner = make_member(portal)
    app = choose(portal.open(PAGE, as_user=owner), "competitor")

    assert not app.exception
    summary = texts(app)
    assert "**Competitor, billed monthly** starts now." in summary
    assert "fee of $700.00 instead of Free's" in summary
    assert "Your credit limit becomes $1,400.00." in summary
    assert plan_of(portal, owner) == ("free", BillingCycle.MONTHLY, None)  # not before confirming

    app = app.button(key=f"{CHANGE}.confirm").click().run()

    assert not app.exception
    assert plan_of(portal, owner) == ("competitor", BillingCycle.MONTHLY, None)
    assert credit_limit_cents(portal, owner) == 140_000
    assert "Your plan: Competitor, billed monthly" in texts(app)


def test_cancelling_the_confirmation_changes_nothing(portal: Portal) -> None:
    owner = make_member(portal)
    app = choose(portal.open(PAGE, as_user=owner), "starter", "yearly")
    assert "12 months at $24.00 = $288.00" in texts(app)

    app = app.button(key=f"{CHANGE}.cancel").click().run()

    assert not app.exception
    assert plan_of(portal, owner) == ("free", BillingCycle.MONTHLY, None)
    # The confirmation is gone and the plans are offered again, the current one unchanged.
    assert "Your plan: Free, billed monthly" in texts(app)
    assert "12 months at $24.00 = $288.00" not in texts(app)
    assert labels(app) == ["Choose monthly", "Choose yearly"] * 3


def test_an_upgrade_without_a_card_or_funds_says_where_to_add_them(portal: Portal) -> None:
    owner = make_member(portal, card=False)

    app = choose(portal.open(PAGE, as_user=owner), "starter")

    assert not app.exception
    [error] = app.error
    assert "adds $30.00 to this month's invoice" in str(error.value)
    links = {str(link.proto.label): link.proto.page for link in app.main.get("page_link")}
    assert links["Save a card in Payment Methods"] == "billing_payment_methods"
    assert links["Add funds in Overview"] == "billing_overview"
    assert not [button for button in app.button if button.key == f"{CHANGE}.confirm"]
    assert plan_of(portal, owner) == ("free", BillingCycle.MONTHLY, None)


def test_a_downgrade_is_scheduled_shown_and_can_be_cancelled(portal: Portal) -> None:
    owner = make_member(portal, plan_code="provider")
    app = choose(portal.open(PAGE, as_user=owner), "starter")
    assert "your plan becomes **Starter, billed monthly**, at $30.00 a month" in texts(app)

    app = app.button(key=f"{CHANGE}.confirm").click().run()

    assert not app.exception
    assert plan_of(portal, owner) == ("provider", BillingCycle.MONTHLY, "starter")
    assert "Scheduled: your plan changes to **Starter, billed monthly** on" in texts(app)
    assert ":material/event: Scheduled, billed monthly" in texts(app)

    app = app.button(key="pricing.cancel").click().run()
    assert "nothing changes on" in texts(app)
    app = app.button(key=f"{CANCEL}.confirm").click().run()

    assert not app.exception
    assert plan_of(portal, owner) == ("provider", BillingCycle.MONTHLY, None)
    assert [str(toast.value) for toast in app.toast] == [
        "The change is cancelled: you stay on Provider."
    ]
    assert "Scheduled:" not in texts(app)
