"""Billing › Transactions (AppTest): who may open it, what each row shows, the empty state of a
new organization, and the Dashboard's "Billing history" shortcut to it."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.billing import EntryKind
from portal_core.money import format_cents
from portal_core.services import ledger
from tests.factories import make_organization, make_staff, make_user
from tests.pages.conftest import BILLING_ROLES, NOT_YOUR_ROLE, OTHER_ROLES, Portal, refused, texts

PAGE = "pages/billing_transactions.py"
EMPTY = "No transactions yet: payments, credits and invoices will appear here."


def make_member(portal: Portal, role: Role, organization: Organization | None = None) -> User:
    with db.write_session(portal.engine) as session:
        return make_user(session, role=role, organization=organization)


def post(portal: Portal, user: User, kind: EntryKind, cents: int, memo: str) -> None:
    assert user.organization_id is not None
    with db.write_session(portal.engine) as session:
        ledger.post_entry(
            session,
            organization_id=user.organization_id,
            kind=kind,
            amount_cents=cents,
            idempotency_key=f"page-{uuid.uuid4()}",
            memo=memo,
        )


def table_of(app: AppTest) -> pd.DataFrame:
    [frame] = app.dataframe
    return frame.value


def main_links(app: AppTest) -> list[str]:
    return [str(link.proto.label) for link in app.main.get("page_link")]


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_each_transaction_with_type_amount_and_new_balance(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    post(portal, user, EntryKind.PAYMENT, 10_000, "Top-up by Visa ending 4242")
    post(portal, user, EntryKind.INVOICE, -3_390, "Invoice 2026-10")

    app = portal.open(PAGE, as_user=user)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Transactions"]
    assert any("USD" in str(caption.value) for caption in app.caption)
    frame = table_of(app)
    assert frame[["kind", "memo", "amount_cents", "balance_after_cents"]].values.tolist() == [
        ["Invoice", "Invoice 2026-10", format_cents(-3_390), "$66.10"],
        ["Payment", "Top-up by Visa ending 4242", "$100.00", "$100.00"],
    ]


def test_a_new_organization_is_told_what_will_appear(portal: Portal) -> None:
    app = portal.open(PAGE, as_user=make_member(portal, Role.OWNER))

    assert not app.exception
    assert not app.dataframe
    assert EMPTY in [str(info.value) for info in app.info]


def test_another_organizations_transactions_are_not_shown(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session), role=Role.OWNER)
    post(portal, other, EntryKind.PAYMENT, 5_000, "Top-up of the other organization")

    app = portal.open(PAGE, as_user=make_member(portal, Role.BILLING))

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Transactions"]
    assert EMPTY in [str(info.value) for info in app.info]
    assert not app.dataframe
    assert "Top-up of the other organization" not in texts(app)


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    post(portal, user, EntryKind.PAYMENT, 10_000, "Top-up by Visa ending 4242")

    app = portal.open(PAGE, as_user=user)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe
    assert "Top-up" not in texts(app)


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = portal.open(PAGE, as_user=staff)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_dashboard_offers_billing_history_to_billing_roles(portal: Portal, role: Role) -> None:
    app = portal.open(as_user=make_member(portal, role))

    assert not app.exception
    assert "Billing history" in main_links(app)
    [link] = [link for link in app.main.get("page_link") if link.proto.label == "Billing history"]
    assert link.proto.page == "billing_transactions"


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_dashboard_offers_no_billing_history_to_other_roles(portal: Portal, role: Role) -> None:
    app = portal.open(as_user=make_member(portal, role))

    assert not app.exception
    assert "My Profile" in main_links(app)
    assert "Billing history" not in main_links(app)
