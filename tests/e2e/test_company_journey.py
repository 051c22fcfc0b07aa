"""An owner keeps the organization's identity in the browser (docs/product.md, Pages › Company;
and docs/product.md, Pages › Brand): changes the company's street address and finds the change
in the page's history, then adds a brand domain, reads the TXT record to publish, publishes it
(in the DNS server on loopback that the served portal asks), checks it now and sees it
verified, and removes it through the confirmation.

Other journeys share the served portal: the domain is one of this journey's own, and the
company's address is put back as it was found (through the page, or, should the journey fail
halfway, through the service), since invoices are taxed by it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.models.accounts import BrandDomain, Organization, User
from portal_core.services import company
from tests.e2e.conftest import ServedPortal
from tests.e2e.steps import goto, log_in, settled, shown, snapshot
from tests.factories import actor_of
from tests.support.dns_server import DnsServer

pytestmark = pytest.mark.e2e

OWNER_EMAIL = "owner@demo.sipstack.test"
OWNER_PASSWORD = "Demo-owner-Harbor-2026"


@pytest.fixture
def address_kept(served_portal: ServedPortal) -> Iterator[None]:
    """Whatever happens in the journey, Demo Telecom's details end as they began."""
    engine = db.create_engine(served_portal.database_url)
    try:
        with db.read_session(engine) as session:
            before = _details(session)
        yield
        with db.write_session(engine) as session:
            if _details(session) != before:
                owner = session.exec(select(User).where(col(User.email) == OWNER_EMAIL)).one()
                company.save_company(session, actor_of(owner), before)
    finally:
        engine.dispose()


def _details(session: Session) -> company.CompanyDetails:
    demo = session.exec(select(Organization).where(col(Organization.name) == "Demo Telecom")).one()
    return company.CompanyDetails(
        legal_name=demo.legal_name or "",
        country=demo.country or "",
        province=demo.province or "",
        address_line=demo.address_line or "",
        city=demo.city or "",
        postal_code=demo.postal_code or "",
        tax_id=demo.tax_id or "",
    )


def _company_form(page: Page) -> Locator:
    return page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Save changes"))


def _save_address(page: Page, address: str) -> None:
    form = _company_form(page)
    form.get_by_label("Street address").fill(address)
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved: street address.")).to_be_visible()
    settled(page)
    expect(_company_form(page).get_by_label("Street address")).to_have_value(address)


def _domain_card(page: Page, served_portal: ServedPortal, domain: str) -> Locator:
    """The bordered block of one domain (its name, status, record and buttons), by the key
    the page gives it: the blocks around it hold the other domains too."""
    engine = db.create_engine(served_portal.database_url)
    try:
        with db.read_session(engine) as session:
            found = session.exec(
                select(BrandDomain.id).where(col(BrandDomain.domain) == domain)
            ).one()
    finally:
        engine.dispose()
    return page.locator(f".st-key-organization-brand-domain-{found}")


def test_an_owner_edits_the_address_and_verifies_then_removes_a_domain(
    page: Page, served_portal: ServedPortal, dns_zone: DnsServer, address_kept: None
) -> None:
    suffix = secrets.token_hex(4)
    domain = f"journey-{suffix}.example"
    goto(page, "/company")
    log_in(page, OWNER_EMAIL, OWNER_PASSWORD)
    expect(shown(page).get_by_role("heading", name="Company", exact=True)).to_be_visible()

    # The address changed, and the change in the history; then put back as it was.
    found = _company_form(page).get_by_label("Street address").input_value()
    moved = f"200 Bay Street, Suite {suffix}"
    _save_address(page, moved)
    history = shown(page).get_by_test_id("stDataFrame")
    expect(history).to_contain_text(f'address_line: "{found}" → "{moved}"')
    expect(history).to_contain_text(OWNER_EMAIL)
    snapshot(page, "company-history")
    _save_address(page, found)
    expect(history).to_contain_text(f'address_line: "{moved}" → "{found}"')

    # A domain of its own, pending, with the record to publish.
    goto(page, "/brand")
    add = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Add domain"))
    add.get_by_label("Domain").fill(domain)
    add.get_by_role("button", name="Add domain").click()
    expect(shown(page).get_by_text(domain, exact=True)).to_be_visible()
    card = _domain_card(page, served_portal, domain)
    # The badge: its icon's name, then its word.
    expect(card.get_by_text(re.compile(r"Pending$"))).to_be_visible()
    expect(card.get_by_text("Publish this TXT record:")).to_be_visible()
    record = card.get_by_test_id("stCode")
    expect(record).to_have_count(2)
    expect(record.first).to_have_text(f"_sipstack-verify.{domain}")
    expect(record.last).to_contain_text("sipstack-verification=")
    name, value = record.first.inner_text().strip(), record.last.inner_text().strip()

    # Published where the portal asks, then checked now: verified.
    dns_zone.records[name] = [value]
    try:
        card.get_by_role("button", name="Check now").click()
        expect(page.get_by_text(f"{domain} is verified.")).to_be_visible()
        expect(card.get_by_text(re.compile(r"Verified$"))).to_be_visible()
        expect(card.get_by_text(f"Found the TXT record at {name}")).to_be_visible()
        snapshot(page, "brand-verified")

        # Removed, once confirmed.
        card.get_by_role("button", name="Remove").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading", name="Remove this domain?")).to_be_visible()
        expect(dialog.get_by_text("It is verified: removing it may lower")).to_be_visible()
        dialog.get_by_role("button", name="Remove domain").click()
        settled(page)
        expect(page.get_by_role("dialog")).to_have_count(0)
        expect(page.get_by_text(f"{domain} is removed.")).to_be_visible()
        expect(shown(page).get_by_text(domain, exact=True)).to_have_count(0)
    finally:
        dns_zone.records.pop(name, None)
