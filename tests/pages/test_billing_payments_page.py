"""Billing › Payments (AppTest): who may open it; each payment's date, card, amount, fee, total
charged, status and reference; one opened by ``?payment=<id>`` with its receipt (PDF) when it
went through or the reason when it did not; another organization's payment, or a bad id, is
not found."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.errors import PaymentDeclined
from portal_core.models.accounts import Role, User
from portal_core.models.payments import Payment, PaymentMethod
from portal_core.services.payments import top_ups
from tests.factories import (
    actor_of,
    make_card,
    make_organization,
    make_staff,
    make_user,
    organization_of,
)
from tests.pages.conftest import (
    BILLING_ROLES,
    NOT_YOUR_ROLE,
    OTHER_ROLES,
    Downloads,
    Portal,
    plain,
    refused,
    texts,
)

PAGE = "pages/billing_payments.py"
EMPTY = "No payments yet: funds you add by card will appear here."
NOT_FOUND = (
    "That payment was not found. It may belong to another organization, or the link may be "
    "incomplete."
)


def make_member(portal: Portal, role: Role = Role.OWNER, colleague: User | None = None) -> User:
    """A member of ``role``: in ``colleague``'s organization if given, else in a new one."""
    with db.write_session(portal.engine) as session:
        organization = organization_of(session, colleague) if colleague else None
        return make_user(session, role=role, organization=organization)


def top_up(
    portal: Portal, user: User, amount_cents: int, test_card: str = "pm_card_visa"
) -> Payment:
    """Add funds through the service with a sandbox card (saved the first time it is used);
    a decline is kept as failed."""
    with db.write_session(portal.engine) as session:
        card = session.exec(
            select(PaymentMethod).where(
                PaymentMethod.organization_id == user.organization_id,
                PaymentMethod.gateway_ref == test_card,
            )
        ).first() or make_card(session, organization_of(session, user), test_card=test_card)
    try:
        with db.write_session(portal.engine) as session:
            return top_ups.add_funds(
                session,
                actor_of(user),
                payment_method_id=card.id,
                amount_cents=amount_cents,
                idempotency_key=uuid.uuid4().hex,
            )
    except PaymentDeclined as declined:
        with db.read_session(portal.engine) as session:
            failed = session.get(Payment, declined.payment_id)
            assert failed is not None
            return failed


def open_page(portal: Portal, user: User, **query: str) -> AppTest:
    return portal.open(PAGE, as_user=user, query_params=query)


def table_of(app: AppTest) -> pd.DataFrame:
    [frame] = app.dataframe
    return frame.value


# --- The list --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", BILLING_ROLES, ids=str)
def test_billing_roles_see_each_payment_with_card_amount_fee_total_status_and_reference(
    portal: Portal, role: Role
) -> None:
    user = make_member(portal, role)
    paid = top_up(portal, user, 10_000)
    declined = top_up(portal, user, 2_500, "pm_card_chargeDeclined")

    app = open_page(portal, user)

    assert not app.exception
    assert [str(title.value) for title in app.title] == ["Payments"]
    frame = table_of(app)
    columns = ["card_label", "amount_cents", "fee_cents", "total_cents", "status", "reference"]
    assert frame[columns].values.tolist() == [
        ["Visa •••• 0002", "$25.00", "$0.74", "$25.74", "Failed", declined.reference],
        ["Visa •••• 4242", "$100.00", "$2.95", "$102.95", "Succeeded", paid.reference],
    ]
    assert app.dataframe[0].proto.selection_mode  # a row can be selected to open it


def test_a_new_organization_is_told_what_will_appear(portal: Portal) -> None:
    app = open_page(portal, make_member(portal))

    assert not app.exception
    assert not app.dataframe
    assert EMPTY in [str(info.value) for info in app.info]


def test_another_organizations_payments_are_not_listed(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    theirs = top_up(portal, other, 7_700)

    app = open_page(portal, make_member(portal, Role.BILLING))

    assert not app.exception, app.exception
    assert [str(title.value) for title in app.title] == ["Payments"]
    assert EMPTY in [str(info.value) for info in app.info]
    assert not app.dataframe
    assert theirs.reference not in texts(app)


@pytest.mark.parametrize("role", OTHER_ROLES, ids=str)
def test_roles_without_billing_are_refused_even_with_a_link(portal: Portal, role: Role) -> None:
    user = make_member(portal, role)
    payment = top_up(portal, make_member(portal, Role.OWNER, colleague=user), 10_000)

    app = open_page(portal, user, payment=str(payment.id))

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe
    assert payment.reference not in texts(app)
    assert not app.get("download_button")


def test_staff_are_refused(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)

    app = open_page(portal, staff)

    assert not app.exception, app.exception
    assert refused(app)
    assert [str(error.value) for error in app.error] == [NOT_YOUR_ROLE]
    assert not app.dataframe


# --- One payment -----------------------------------------------------------------------------


def test_a_succeeded_payment_opens_with_its_figures_and_its_receipt(
    portal: Portal, downloads: Downloads
) -> None:
    user = make_member(portal)
    payment = top_up(portal, user, 25_000)

    app = open_page(portal, user, payment=str(payment.id))

    assert not app.exception
    assert [str(header.value) for header in app.subheader] == [f"Payment {payment.reference}"]
    text = plain(app)
    assert "| Card | Visa •••• 4242 |" in text
    assert "| Amount added to your balance | $250.00 |" in text
    assert "| Card convenience fee (2.95 %) | $7.38 |" in text
    assert "| **Total charged to the card** | **$257.38** |" in text
    [button] = app.get("download_button")
    assert button.proto.label == "Download receipt (PDF)"
    file_name = f"SIPSTACK-receipt-{payment.reference}.pdf"
    assert list(downloads) == [file_name]
    receipt = downloads[file_name]()
    assert receipt.startswith(b"%PDF")


def test_a_failed_payment_says_why_and_has_no_receipt(portal: Portal) -> None:
    user = make_member(portal)
    payment = top_up(portal, user, 5_000, "pm_card_chargeDeclinedInsufficientFunds")

    app = open_page(portal, user, payment=str(payment.id))

    assert not app.exception
    assert [str(error.value) for error in app.error] == [
        "This payment did not go through: Your card has insufficient funds. Nothing was added "
        "to your balance."
    ]
    assert not app.get("download_button")


def test_all_payments_goes_back_to_the_list(portal: Portal) -> None:
    user = make_member(portal)
    payment = top_up(portal, user, 10_000)
    app = open_page(portal, user, payment=str(payment.id))

    [back] = [button for button in app.button if button.label == "All payments"]
    back.click()
    app.run()

    assert not app.exception, app.exception
    assert "payment" not in app.query_params
    assert len(table_of(app)) == 1


def test_another_organizations_payment_by_link_is_not_found(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        other = make_user(session, organization=make_organization(session))
    theirs = top_up(portal, other, 7_700)

    app = open_page(portal, make_member(portal), payment=str(theirs.id))

    assert not app.exception
    assert NOT_FOUND in [str(warning.value) for warning in app.warning]
    assert theirs.reference not in texts(app)
    assert "$77.00" not in plain(app)
    assert not app.get("download_button")


@pytest.mark.parametrize("raw", ["not-a-uuid", str(uuid.uuid4())])
def test_a_bad_payment_link_is_not_found(portal: Portal, raw: str) -> None:
    app = open_page(portal, make_member(portal), payment=raw)

    assert not app.exception
    assert NOT_FOUND in [str(warning.value) for warning in app.warning]
    assert not app.get("download_button")


def test_payments_are_listed_newest_first(portal: Portal) -> None:
    user = make_member(portal)
    first = top_up(portal, user, 1_000)
    second = top_up(portal, user, 2_000)

    app = open_page(portal, user)

    with db.read_session(portal.engine) as session:
        order = session.exec(
            select(Payment.reference).order_by(col(Payment.created_at).desc())
        ).all()
    assert order == [second.reference, first.reference]
    assert table_of(app)["reference"].tolist() == order
