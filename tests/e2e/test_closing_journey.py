"""An owner closes an organization of its own in Chromium (docs/product.md, Pages › Users,
Closing the organization): reads what will happen, the last invoice in figures among it;
types the name; confirms; reads the outcome with the balance refunded to the card; is logged
out, and the login then says the organization closed. The refund is checked in the database.

The organization is made for the journey through the services, on the served portal's own
database (a Starter organization with a card and funds paid by it): the demo organization the
other journeys share is never closed.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import col, select

from portal_core import db
from portal_core.models.accounts import Organization, OrganizationStatus, Role, User, UserStatus
from portal_core.models.billing import Invoice
from portal_core.models.payments import ClosingRefund, ClosingRefundStatus, Refund, RefundStatus
from portal_core.queries.billing import funds_of
from portal_core.services.payments import top_ups
from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import fill_login, goto, log_in, login_form, settled, shown, snapshot
from tests.factories import (
    PASSWORD,
    actor_of,
    change_subscription,
    make_card,
    make_organization,
    make_user,
)

pytestmark = pytest.mark.e2e

PAID_CENTS = 8_000  # more than Starter's month and its taxes: the closing is not refused


@dataclass(frozen=True)
class OwnOrganization:
    id: uuid.UUID
    name: str
    owner_email: str


@pytest.fixture
def served_engine(served_portal: ServedPortal) -> Iterator[Engine]:
    engine = db.create_engine(served_portal.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _organization_of_its_own(engine: Engine) -> OwnOrganization:
    """A Starter organization whose owner paid $80.00 by card (the sandbox's Visa)."""
    suffix = secrets.token_hex(4)
    with db.write_session(engine) as session:
        organization = make_organization(session, name=f"Closing Journey {suffix}")
        owner = make_user(
            session,
            organization=organization,
            role=Role.OWNER,
            email=f"owner.{suffix}@closing.example.com",
            name=f"Olive Owner {suffix}",
        )
        change_subscription(session, organization, plan_code="starter")
        card = make_card(session, organization)
    with db.write_session(engine) as session:
        top_ups.add_funds(
            session,
            actor_of(owner),
            payment_method_id=card.id,
            amount_cents=PAID_CENTS,
            idempotency_key=f"closing-journey-{suffix}",
        )
    return OwnOrganization(organization.id, organization.name, owner.email)


def test_an_owner_closes_the_organization_and_its_balance_goes_back_to_the_card(
    page: Page, served_portal: ServedPortal, served_engine: Engine
) -> None:
    own = _organization_of_its_own(served_engine)

    goto(page, "/access_users")
    log_in(page, own.owner_email, PASSWORD)
    expect(shown(page).get_by_role("heading", name="Danger zone")).to_be_visible()
    page.get_by_test_id("stExpander").filter(has_text="Close the organization").click()

    # What will happen, before anything does: the last invoice in figures among it.
    expect(shown(page).get_by_text(f"Closing {own.name} cannot be undone.")).to_be_visible()
    expect(
        shown(page).get_by_text("the month's subscription fee in full, $30.00: it is not prorated")
    ).to_be_visible()
    expect(shown(page).get_by_text("a balance of $80.00", exact=False)).to_be_visible()
    snapshot(page, "closing-preview")

    confirm = shown(page).get_by_label("Type the organization's name to confirm")
    confirm.fill(f"{own.name} (not quite)")
    shown(page).get_by_role("button", name="Close the organization").click()
    settled(page)
    expect(
        shown(page).get_by_text("Type your organization's name exactly as it is shown to confirm.")
    ).to_be_visible()
    assert _status(served_engine, own) == OrganizationStatus.ACTIVE  # a wrong name changes nothing

    confirm.fill(own.name)
    shown(page).get_by_role("button", name="Close the organization").click()
    settled(page)
    outcome = shown(page).get_by_test_id("stAlertContentSuccess")
    expect(outcome).to_contain_text(f"{own.name} is closed:")
    expect(outcome).to_contain_text("refunded to your cards")
    expect(outcome).to_contain_text("You are logged out.")
    snapshot(page, "closing-done")

    # Logged out: the next page is the login form, and the login says the organization closed.
    shown(page).get_by_role("link", name="Done").click()
    settled(page)
    fill_login(page, own.owner_email, PASSWORD)
    expect(
        page.get_by_text("Your organization's account was closed on", exact=False)
    ).to_be_visible()
    expect(login_form(page)).to_be_visible()

    # The refund, followed in the database: what the last invoice left is back on the card.
    with db.read_session(served_engine) as session:
        stored = session.get_one(Organization, own.id)
        assert stored.status == OrganizationStatus.DEACTIVATED
        assert funds_of(session, own.id).balance_cents == 0
        [invoice] = session.exec(select(Invoice).where(Invoice.organization_id == own.id)).all()
        [refund] = session.exec(select(Refund).where(Refund.organization_id == own.id)).all()
        task = session.get_one(ClosingRefund, own.id)
        statuses = session.exec(
            select(col(User.status)).where(User.organization_id == own.id)
        ).all()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.balance_cents == PAID_CENTS - invoice.total_cents
    assert task.status == ClosingRefundStatus.REFUNDED
    assert set(statuses) == {UserStatus.DEACTIVATED}


def _status(engine: Engine, own: OwnOrganization) -> str:
    with db.read_session(engine) as session:
        return session.get_one(Organization, own.id).status
