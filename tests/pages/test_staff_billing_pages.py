"""Staff › Billing accounts, Invoice runs, and Plans, taxes & settings (AppTest): staff see and
use each page; every partner role is refused them; a credit staff post shows in the
organization's own Transactions with its reason."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, update
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import PARTNER_ROLES, Organization, Role, User
from portal_core.models.audit import AuditEvent
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    EntryKind,
    Invoice,
    LedgerEntry,
    Plan,
    PlatformSetting,
    Subscription,
    TaxRate,
    TaxRateChange,
)
from portal_core.models.payments import Payment, Refund
from portal_core.money import MICROS_PER_CENT
from portal_core.services import closing, invoices, ledger
from portal_core.services.payments import top_ups
from tests.factories import (
    actor_of,
    change_subscription,
    make_card,
    make_organization,
    make_staff,
    make_user,
)
from tests.pages.conftest import Portal, RefundsUnanswered, plain, texts

ACCOUNTS_PAGE = "pages/staff_billing_accounts.py"
INVOICING_PAGE = "pages/staff_invoicing.py"
PRICING_PAGE = "pages/staff_pricing.py"
TRANSACTIONS_PAGE = "pages/billing_transactions.py"
PENDING = "staff.billing.pending"


def make_staff_user(portal: Portal) -> User:
    with db.write_session(portal.engine) as session:
        return make_staff(session, name="Sam Staff")


def make_org(portal: Portal, name: str, *, plan: str = "starter") -> tuple[Organization, User]:
    """An organization on ``plan`` since three months ago, and its owner."""
    started = utcnow() - timedelta(days=92)
    with db.write_session(portal.engine) as session:
        organization = make_organization(session, name=name)
        owner = make_user(session, organization=organization, role=Role.OWNER)
        change_subscription(
            session, organization, plan_code=plan, term_started_at=started, updated_at=started
        )
    return organization, owner


def open_account(portal: Portal, viewer: User, organization_id: uuid.UUID) -> AppTest:
    """Staff › Billing accounts opened from a link naming the organization."""
    return portal.open(
        ACCOUNTS_PAGE, as_user=viewer, query_params={"organization": organization_id}
    )


def save_edit(app: AppTest, tab: str, row: str, field: str, typed: str) -> AppTest:
    """On Plans, taxes & settings: choose ``row`` in the ``tab``'s "Edit the …" box (a plan's
    code, a tax rate's id, a setting's key), type ``typed`` into its ``field``, and save."""
    app.selectbox(key=f"staff.pricing.{tab}").set_value(row).run()
    app.text_input(key=f"staff.pricing.{tab}.{row}.{field}").input(typed)
    return app.button(key=f"staff.pricing.{tab}.{row}.save").click().run()


def key(organization: Organization, part: str) -> str:
    return f"staff.billing.{organization.id}.{part}"


def titles(app: AppTest) -> list[str]:
    return [str(title.value) for title in app.title]


def entries(portal: Portal, organization: Organization) -> list[LedgerEntry]:
    with db.read_session(portal.engine) as session:
        return list(
            session.exec(
                select(LedgerEntry).where(LedgerEntry.organization_id == organization.id)
            ).all()
        )


def stored(portal: Portal, model: type, ident: object) -> Any:
    with db.read_session(portal.engine) as session:
        row = session.get(model, ident)
        assert row is not None
        return row


# --- Who may open them -------------------------------------------------------------------------


@pytest.mark.parametrize("script", [ACCOUNTS_PAGE, INVOICING_PAGE, PRICING_PAGE])
@pytest.mark.parametrize("role", sorted(PARTNER_ROLES))
def test_every_partner_role_is_refused_the_staff_billing_pages(
    portal: Portal, role: Role, script: str
) -> None:
    with db.write_session(portal.engine) as session:
        make_organization(session, name="Secret Telecom")
        partner = make_user(session, role=role)

    app = portal.open(script, as_user=partner)

    assert not app.exception, app.exception
    assert titles(app) == ["No access"]
    assert "Your role does not give you access to this page." in texts(app)
    assert "Secret Telecom" not in texts(app)
    assert len(app.dataframe) == 0


# --- Billing accounts ----------------------------------------------------------------------------


def test_staff_see_every_organizations_plan_and_balance(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    make_org(portal, "Maple Free", plan="free")
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=north.id,
            kind=EntryKind.PAYMENT,
            amount_cents=12_345,
            idempotency_key="pay-1",
            memo="Top-up",
        )

    app = portal.open(ACCOUNTS_PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert titles(app) == ["Billing accounts"]
    frame = app.dataframe[0].value
    rows = frame.set_index("name")[["plan", "balance_cents"]].to_dict("index")
    assert rows == {
        "Northwind Voice": {"plan": "Starter", "balance_cents": "$123.45"},
        "Maple Free": {"plan": "Free", "balance_cents": "$0.00"},
    }


def test_an_account_opens_with_its_funds_plan_and_transactions(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=north.id,
            kind=EntryKind.PAYMENT,
            amount_cents=5_000,
            idempotency_key="pay-1",
            memo="Top-up by Visa ending 4242",
        )

    app = open_account(portal, staff, north.id)

    assert not app.exception, app.exception
    assert "Northwind Voice" in [str(header.value) for header in app.subheader]
    shown = plain(app)
    assert "Balance $50.00" in shown
    assert "Credit limit $0.00" in shown
    assert "Starter plan, monthly" in shown
    ledger_frame = app.dataframe[1].value
    assert list(ledger_frame["memo"]) == ["Top-up by Visa ending 4242"]


def test_a_link_to_an_unknown_organization_says_it_was_not_found(portal: Portal) -> None:
    staff = make_staff_user(portal)

    app = open_account(portal, staff, uuid.uuid4())

    assert not app.exception, app.exception
    assert "That organization was not found." in texts(app)


def test_a_credit_confirmed_with_a_reason_shows_in_the_organizations_transactions(
    portal: Portal,
) -> None:
    staff = make_staff_user(portal)
    north, owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "post.amount")).input("75.00")
    app.button(key=key(north, "post.review")).click().run()
    assert "Post a credit of **\\$75\\.00** to **Northwind Voice**" in texts(app)
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Goodwill for the October outage")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert "Posted $75.00 to Northwind Voice; its balance is now $75.00." in plain(app)
    assert [(entry.kind, entry.amount_cents) for entry in entries(portal, north)] == [
        (EntryKind.CREDIT, 7_500)
    ]
    partner_view = portal.open(TRANSACTIONS_PAGE, as_user=owner)
    frame = partner_view.dataframe[0].value
    assert frame[["kind", "memo", "amount_cents"]].values.tolist() == [
        ["Credit", "Goodwill for the October outage", "$75.00"]
    ]


def test_an_adjustment_may_take_money_away(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.radio(key=key(north, "post.kind")).set_value(EntryKind.ADJUSTMENT)
    app.text_input(key=key(north, "post.amount")).input("-20")
    app.button(key=key(north, "post.review")).click().run()
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Duplicate credit reversed")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert [(entry.kind, entry.amount_cents) for entry in entries(portal, north)] == [
        (EntryKind.ADJUSTMENT, -2_000)
    ]


def test_a_bad_amount_is_shown_under_its_field_and_asks_nothing(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "post.amount")).input("-5")
    app.button(key=key(north, "post.review")).click().run()

    assert not app.exception, app.exception
    assert "A credit adds to the balance: enter a positive amount" in texts(app)
    assert f"{PENDING}.confirm" not in [button.key for button in app.button]


def test_confirming_without_a_reason_says_so_and_posts_nothing(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "post.amount")).input("10")
    app.button(key=key(north, "post.review")).click().run()
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert "Enter a reason." in texts(app)
    assert entries(portal, north) == []


def test_cancel_closes_the_dialog_without_posting(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "post.amount")).input("10")
    app.button(key=key(north, "post.review")).click().run()
    app.button(key=f"{PENDING}.cancel").click().run()

    assert not app.exception, app.exception
    assert f"{PENDING}.confirm" not in [button.key for button in app.button]
    assert entries(portal, north) == []


def _paid(portal: Portal, organization: Organization, owner: User, cents: int) -> Payment:
    """A sandbox top-up of ``cents`` (plus the 2.95 % fee) by the organization's owner."""
    with db.write_session(portal.engine) as session:
        card = make_card(session, organization)
        return top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=cents,
            idempotency_key=uuid.uuid4().hex,
        )


def test_staff_refund_part_of_a_payment_confirmed_with_a_reason(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, owner = make_org(portal, "Northwind Voice")
    payment = _paid(portal, north, owner, 10_000)  # $102.95 charged
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "refund.amount")).input("20.59")
    app.button(key=key(north, "refund.review")).click().run()
    assert "Refund **\\$20\\.59** of" in texts(app)
    assert "**\\$20\\.00** leaves **Northwind Voice**'s balance" in texts(app)
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Charged twice by mistake")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert "Refunded $20.59 to the card; $20.00 left Northwind Voice's balance." in texts(app)
    assert sorted((e.kind, e.amount_cents) for e in entries(portal, north)) == [
        (EntryKind.PAYMENT, 10_000),
        (EntryKind.REFUND, -2_000),
    ]
    partner = portal.open("pages/billing_payments.py", as_user=owner)
    assert partner.dataframe[0].value["status"].tolist() == ["Partially refunded"]
    assert stored(portal, Payment, payment.id).refunded_cents == 2_059


def test_a_refund_beyond_what_is_left_is_shown_under_its_field(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, owner = make_org(portal, "Northwind Voice")
    _paid(portal, north, owner, 10_000)
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "refund.amount")).input("500")
    app.button(key=key(north, "refund.review")).click().run()

    assert not app.exception, app.exception
    assert "Refund from $0.01 up to $102.95, what is left." in texts(app)
    assert f"{PENDING}.confirm" not in [button.key for button in app.button]


def test_an_organization_without_a_refundable_payment_says_so(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")

    app = open_account(portal, staff, north.id)

    assert not app.exception, app.exception
    assert "No card payment of this organization can be refunded" in texts(app)


def test_staff_set_a_credit_limit_then_return_to_the_plans(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "limit.amount")).input("1,500")
    app.button(key=key(north, "limit.review")).click().run()
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Pays by wire")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert "Northwind Voice's credit limit is now $1,500.00." in plain(app)
    assert "Credit limit $1,500.00" in texts(app)
    assert stored(portal, Subscription, north.id).credit_limit_override_cents == 150_000

    app.text_input(key=key(north, "limit.amount")).input("")
    app.button(key=key(north, "limit.review")).click().run()
    assert "returns to its plan's" in texts(app)
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Back to normal terms")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert stored(portal, Subscription, north.id).credit_limit_override_cents is None
    assert stored(portal, BillingAccount, north.id).credit_limit_micros == (6_000 * MICROS_PER_CENT)


def test_staff_start_a_carrier_contract_then_end_it(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    for part, value in (
        ("contract.monthly_fee", "9,500"),
        ("contract.included_requests", "2,000,000"),
        ("contract.price", "0.0021"),
        ("contract.lookups_per_second", "300"),
        ("contract.credit_limit", "20000"),
    ):
        app.text_input(key=key(north, part)).input(value)
    app.button(key=key(north, "contract.review")).click().run()
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Signed contract C-1042")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert "Northwind Voice is on its Carrier contract." in plain(app)
    assert "Carrier contract, since" in texts(app)
    subscription = stored(portal, Subscription, north.id)
    assert (subscription.plan_code, subscription.contract_monthly_cents) == ("carrier", 950_000)

    app.selectbox(key=key(north, "end.plan")).set_value("competitor")
    app.button(key=key(north, "end.review")).click().run()
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Contract ended")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert "contract ended; it is on the Competitor plan." in plain(app)
    assert stored(portal, Subscription, north.id).plan_code == "competitor"


def test_a_bad_contract_figure_is_shown_under_its_field(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "contract.lookups_per_second")).input("0")
    app.button(key=key(north, "contract.review")).click().run()

    assert not app.exception, app.exception
    assert "Enter a number from 1 to 100,000." in texts(app)
    assert stored(portal, Subscription, north.id).plan_code == "starter"


# --- Invoice runs --------------------------------------------------------------------------------


def test_staff_run_last_months_invoices_and_see_the_summary(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    make_org(portal, "Maple Free", plan="free")
    app = portal.open(INVOICING_PAGE, as_user=staff)
    assert titles(app) == ["Invoice runs"]

    app.button(key="staff.invoicing.start").click().run()
    app.button(key="staff.invoicing.asked.confirm").click().run()

    assert not app.exception, app.exception
    metrics = {str(metric.label): str(metric.value) for metric in app.metric}
    assert metrics["Invoices issued"] == "1"
    assert metrics["Nothing to invoice"] == "1"
    assert metrics["Failed"] == "0"
    with db.read_session(portal.engine) as session:
        [invoice] = session.exec(select(Invoice)).all()
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "invoices.run")).all()
    assert invoice.organization_id == north.id
    assert event.actor_user_id == staff.id

    app.button(key="staff.invoicing.start").click().run()
    app.button(key="staff.invoicing.asked.confirm").click().run()

    metrics = {str(metric.label): str(metric.value) for metric in app.metric}
    assert (metrics["Invoices issued"], metrics["Already invoiced"]) == ("0", "1")


def test_a_failed_organization_is_named_with_its_message(portal: Portal) -> None:
    staff = make_staff_user(portal)
    make_org(portal, "Nowhere Telecom")
    with db.write_session(portal.engine) as session:
        session.execute(delete(TaxRate).where(col(TaxRate.province) == "ON"))
        session.execute(delete(TaxRateChange).where(col(TaxRateChange.province) == "ON"))

    app = portal.open(INVOICING_PAGE, as_user=staff)
    app.button(key="staff.invoicing.start").click().run()
    app.button(key="staff.invoicing.asked.confirm").click().run()

    assert not app.exception, app.exception
    assert "Nowhere Telecom" in texts(app)
    assert "has no sales taxes on file" in texts(app)


def test_the_balance_check_says_all_match(portal: Portal) -> None:
    staff = make_staff_user(portal)
    make_org(portal, "Northwind Voice")
    app = portal.open(INVOICING_PAGE, as_user=staff)

    app.button(key="staff.invoicing.run_check").click().run()

    assert not app.exception, app.exception
    assert "All cached balances match the ledger." in texts(app)


def test_the_balance_check_lists_a_mismatch_with_the_organization_name(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    with db.write_session(portal.engine) as session:
        session.execute(
            update(BillingAccount)
            .where(col(BillingAccount.organization_id) == north.id)
            .values(balance_micros=1_000_000)
        )
    app = portal.open(INVOICING_PAGE, as_user=staff)

    app.button(key="staff.invoicing.run_check").click().run()

    assert not app.exception, app.exception
    shown = plain(app)
    assert "Cached figures that differ from what they are recomputed from: 1." in shown
    assert "Northwind Voice" in shown
    assert "1,000,000 µ" in shown  # the difference, in micro-dollars


# --- Plans, taxes and settings -------------------------------------------------------------------


def test_staff_see_the_plans_the_taxes_and_the_settings(portal: Portal) -> None:
    staff = make_staff_user(portal)

    app = portal.open(PRICING_PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert titles(app) == ["Plans, taxes & settings"]
    plans, taxes, settings = (frame.value for frame in app.dataframe)
    assert list(plans["Plan"]) == ["Free", "Starter", "Competitor", "Provider", "Carrier"]
    assert list(plans["Additional request"])[:2] == ["none (capped)", "$0.0030"]
    assert ["ON", "HST", "13 %"] in taxes[["Province", "Tax", "Rate"]].values.tolist()
    assert "Card convenience fee" in list(settings["Setting"])


def test_staff_edit_a_plan_and_the_new_price_is_stored(portal: Portal) -> None:
    staff = make_staff_user(portal)
    app = portal.open(PRICING_PAGE, as_user=staff)

    save_edit(app, "plan", "starter", "monthly", "35")

    assert not app.exception, app.exception
    assert "Starter saved: monthly price: $30.00 → $35.00." in texts(app)
    assert stored(portal, Plan, "starter").monthly_cents == 3_500
    assert "$35.00" in list(app.dataframe[0].value["Monthly"])


def test_a_bad_plan_figure_is_shown_under_its_field(portal: Portal) -> None:
    staff = make_staff_user(portal)
    app = portal.open(PRICING_PAGE, as_user=staff)

    save_edit(app, "plan", "starter", "price", "0.0000001")

    assert not app.exception, app.exception
    assert "at most six decimals" in texts(app)
    assert stored(portal, Plan, "starter").additional_request_micros == 3_000


def test_staff_edit_a_tax_rate(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.read_session(portal.engine) as session:
        hst = session.exec(
            select(TaxRate).where(TaxRate.province == "ON", TaxRate.tax == "HST")
        ).one()
    app = portal.open(PRICING_PAGE, as_user=staff)

    save_edit(app, "tax", str(hst.id), "rate", "13.5")

    assert not app.exception, app.exception
    assert "ON HST is now 13.5 %." in texts(app)
    assert stored(portal, TaxRate, hst.id).rate_millipercent == 13_500


def test_staff_change_the_card_fee_and_a_bad_time_zone_is_refused(portal: Portal) -> None:
    staff = make_staff_user(portal)
    app = portal.open(PRICING_PAGE, as_user=staff)

    save_edit(app, "setting", "card_fee_millipercent", "value", "3100")

    assert not app.exception, app.exception
    assert "Card convenience fee saved." in texts(app)
    assert stored(portal, PlatformSetting, "card_fee_millipercent").value == "3100"

    save_edit(app, "setting", "billing_time_zone", "value", "Mars/Olympus")

    assert "“Mars/Olympus” is not a time zone" in texts(app)
    assert stored(portal, PlatformSetting, "billing_time_zone").value == "America/Toronto"


def test_staff_credit_part_of_an_invoice_with_its_taxes(portal: Portal) -> None:
    staff = make_staff_user(portal)
    north, owner = make_org(portal, "Northwind Voice")
    invoices.run_invoices(portal.engine, period=_last_month())  # Starter: $30.00 + 13 % HST
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "credit_note.amount")).input("10.00")
    app.button(key=key(north, "credit_note.review")).click().run()
    assert "Credit **\\$10\\.00** before tax against Invoice 1" in texts(app)
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]
    reason_box.input("Outage on the 12th")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    assert (
        "Credit note CN-1 issued: $11.30, taxes included, credited to Northwind Voice's balance."
        in texts(app)
    )
    partner = portal.open("pages/billing_invoices.py", as_user=owner)
    _invoices, notes = partner.dataframe
    assert notes.value[["number", "reason", "total_cents"]].values.tolist() == [
        ["CN-1", "Outage on the 12th", "$11.30"]
    ]


def test_crediting_more_than_an_invoice_has_left_is_shown_under_its_field(
    portal: Portal,
) -> None:
    staff = make_staff_user(portal)
    north, _owner = make_org(portal, "Northwind Voice")
    invoices.run_invoices(portal.engine, period=_last_month())
    app = open_account(portal, staff, north.id)

    app.text_input(key=key(north, "credit_note.amount")).input("31")
    app.button(key=key(north, "credit_note.review")).click().run()

    assert not app.exception, app.exception
    assert "Credit from $0.01 up to $30.00 before tax." in texts(app)
    assert f"{PENDING}.confirm" not in [button.key for button in app.button]


def _last_month() -> str:
    today = utcnow().astimezone(ZoneInfo("America/Toronto"))
    year, month = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
    return f"{year:04d}-{month:02d}"


def test_staff_set_the_log_retention_and_a_number_out_of_range_is_refused(portal: Portal) -> None:
    staff = make_staff_user(portal)
    with db.write_session(portal.engine) as session:
        # A database seeded before the setting existed: it reads as its shipped default.
        session.delete(session.get(PlatformSetting, "log_retention_days"))
    app = portal.open(PRICING_PAGE, as_user=staff)
    settings = app.dataframe[2].value
    assert list(settings.loc[settings["Setting"] == "Log retention (days)", "Value"]) == [
        "(the shipped default)"
    ]
    app.selectbox(key="staff.pricing.setting").set_value("log_retention_days").run()
    assert app.text_input(key="staff.pricing.setting.log_retention_days.value").value == "400"

    save_edit(app, "setting", "log_retention_days", "value", "20")

    assert not app.exception, app.exception
    assert "Keep product events 30 to 3,650 days: enter a whole number of days." in texts(app)
    with db.read_session(portal.engine) as session:
        assert session.get(PlatformSetting, "log_retention_days") is None

    save_edit(app, "setting", "log_retention_days", "value", "90")

    assert not app.exception, app.exception
    assert "Log retention (days) saved." in texts(app)
    assert stored(portal, PlatformSetting, "log_retention_days").value == "90"


# --- A closed organization's refund --------------------------------------------------------


def test_a_closed_organization_whose_refund_is_pending_is_shown_to_staff(portal: Portal) -> None:
    staff = make_staff_user(portal)
    organization, owner = make_org(portal, "Closing Co", plan="free")
    _open_org, _open_owner = make_org(portal, "Still Open", plan="free")
    with db.write_session(portal.engine) as session:
        card = make_card(session, organization)
    with db.write_session(portal.engine) as session:
        top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=4_000,
            idempotency_key="before-closing",
        )
    with db.write_session(portal.engine) as session:
        closing.close_organization(session, actor_of(owner), "Closing Co")
    closing.refund_balance(portal.engine, organization.id, gateway=RefundsUnanswered())

    listed = portal.open(ACCOUNTS_PAGE, as_user=staff)
    opened = open_account(portal, staff, organization.id)

    assert not listed.exception, listed.exception
    frame = listed.dataframe[0].value
    closed = frame.set_index("name")["closing"]
    assert closed["Closing Co"] == "Closed, refund pending"
    assert closed.isna()["Still Open"]  # an open organization: the cell is empty
    said = plain(opened)
    assert "**refund pending:** its balance goes back to its cards" in said
    assert "1 attempt so far, the next at" in said
    assert "Do not refund it by hand meanwhile." in said


def test_the_refund_form_waits_while_a_closings_refund_is_pending(portal: Portal) -> None:
    staff = make_staff_user(portal)
    organization, owner = make_org(portal, "Closing Co")
    _paid(portal, organization, owner, 10_000)
    with db.write_session(portal.engine) as session:
        closing.close_organization(session, actor_of(owner), "Closing Co")
    closing.refund_balance(portal.engine, organization.id, gateway=RefundsUnanswered())

    app = open_account(portal, staff, organization.id)

    assert not app.exception, app.exception
    said = plain(app)
    assert "its balance is going back to its cards by itself" in said
    assert "The form returns when that refund ends" in said
    assert "Amount to refund (USD)" not in [box.label for box in app.text_input]
    assert key(organization, "refund.review") not in [str(button.key) for button in app.button]


def test_a_refund_by_hand_asked_before_the_closing_is_refused_after_it(portal: Portal) -> None:
    """A page opened before the organization closed still offers the form: the service
    refuses the refund once the closing's own is under way."""
    staff = make_staff_user(portal)
    organization, owner = make_org(portal, "Closing Co")
    _paid(portal, organization, owner, 10_000)
    app = open_account(portal, staff, organization.id)
    app.text_input(key=key(organization, "refund.amount")).input("10.00")
    app.button(key=key(organization, "refund.review")).click().run()
    [reason_box] = [area for area in app.text_area if str(area.key).startswith(PENDING)]

    with db.write_session(portal.engine) as session:
        closing.close_organization(session, actor_of(owner), "Closing Co")
    closing.refund_balance(portal.engine, organization.id, gateway=RefundsUnanswered())
    with db.read_session(portal.engine) as session:
        before = session.exec(select(Refund).where(Refund.organization_id == organization.id))
        asked = [(refund.id, refund.status) for refund in before]
    reason_box.input("The partner asked for it back")
    app.button(key=f"{PENDING}.confirm").click().run()

    assert not app.exception, app.exception
    said = plain(app)
    assert "This organization closed and its balance is being refunded to its cards" in said
    assert "Let it finish" in said
    with db.read_session(portal.engine) as session:
        after = session.exec(select(Refund).where(Refund.organization_id == organization.id))
        assert [(refund.id, refund.status) for refund in after] == asked
