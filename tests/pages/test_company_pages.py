"""Organization › Company and Organization › Brand (AppTest): every role opens both; owners
and admins edit (the others read, told who may edit); what saving changed, or that nothing
did; the history of changes; domains added, already added, refused, checked against a DNS
server on loopback, removed after a confirmation; and the carrier score's new factors on
Whois Profiles and the Dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select
from streamlit.testing.v1 import AppTest

from portal_core import db
from portal_core.models.accounts import BrandDomain, Organization, Role, User
from portal_core.models.audit import AuditEvent
from portal_core.models.base import utcnow
from portal_core.rules.company import verification_name, verification_value
from portal_core.services import company, whois
from portal_core.services.company import CompanyDetails
from portal_core.services.whois import ProfileForm
from portal_core.ui.brand_views import RECHECKS
from portal_core.ui.company_views import NOTHING_CHANGED, TAX_NOTE, WHO_MAY_EDIT
from tests.factories import actor_of, make_organization, make_staff, make_user, organization_of
from tests.pages.conftest import Portal, make_member, plain, refused
from tests.support.dns_server import DnsServer

COMPANY = "pages/company.py"
BRAND = "pages/brand.py"
FORM = "organization.company.form"
ADD = "organization.brand.add"
EDITORS = [Role.OWNER, Role.ADMIN]
READERS = [Role.BILLING, Role.DEVELOPER, Role.VIEWER]

DETAILS = CompanyDetails(
    legal_name="Babbage Telecom Inc.",
    country="CA",
    province="ON",
    address_line="1 Front Street West",
    city="Toronto",
    postal_code="M5J 2X5",
    tax_id="",
)


def member_with_details(portal: Portal, role: Role = Role.OWNER) -> User:
    """A member of ``role`` whose organization's owner saved complete details."""
    with db.write_session(portal.engine) as session:
        owner = make_user(session)
        company.save_company(session, actor_of(owner), DETAILS)
        if role is Role.OWNER:
            return owner
        return make_user(session, role=role, organization=organization_of(session, owner))


def text_input(app: AppTest, form_id: str, label: str):  # noqa: ANN201 (AppTest's widget)
    [found] = [w for w in app.text_input if w.form_id == form_id and w.label == label]
    return found


def submit(app: AppTest, form_id: str) -> AppTest:
    [button] = [b for b in app.button if b.form_id == form_id]
    button.click()
    return app.run()


def toasts(app: AppTest) -> list[str]:
    return [str(toast.value) for toast in app.toast]


def organization(portal: Portal, user: User) -> Organization:
    with db.read_session(portal.engine) as session:
        return session.get_one(Organization, user.organization_id)


def audited(portal: Portal, user: User, action: str) -> list[AuditEvent]:
    with db.read_session(portal.engine) as session:
        return list(
            session.exec(
                select(AuditEvent).where(
                    col(AuditEvent.organization_id) == user.organization_id,
                    col(AuditEvent.action) == action,
                )
            ).all()
        )


# --- Company ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", EDITORS, ids=str)
def test_owners_and_admins_see_the_form_the_tax_note_and_the_history(
    portal: Portal, role: Role
) -> None:
    user = member_with_details(portal, role)
    app = portal.open(COMPANY, as_user=user)
    assert not app.exception, app.exception
    assert text_input(app, FORM, "Legal name").value == "Babbage Telecom Inc."
    assert text_input(app, FORM, "Postal code").value == "M5J 2X5"
    assert app.selectbox(key="organization.company.country").value == "CA"
    shown = plain(app)
    assert TAX_NOTE in shown
    assert "History of changes" in shown
    [history] = [frame.value for frame in app.dataframe]
    assert list(history["Changes"])[0].startswith('legal_name: "')


@pytest.mark.parametrize("role", READERS, ids=str)
def test_the_other_roles_read_the_details_and_are_told_who_may_edit(
    portal: Portal, role: Role
) -> None:
    user = member_with_details(portal, role)
    app = portal.open(COMPANY, as_user=user)
    assert not app.exception, app.exception
    shown = plain(app)
    assert "**Legal name**: Babbage Telecom Inc." in shown
    assert "**Province or state**: Ontario" in shown
    assert "**Postal code**: M5J 2X5" in shown
    assert WHO_MAY_EDIT in shown and TAX_NOTE in shown
    assert [w for w in app.text_input if w.form_id == FORM] == []
    assert "History of changes" not in shown


def test_staff_are_refused_company_and_brand(portal: Portal) -> None:
    with db.write_session(portal.engine) as session:
        staff = make_staff(session)
    for page in (COMPANY, BRAND):
        app = portal.open(page, as_user=staff)
        assert refused(app), page


def test_a_change_is_saved_said_and_shown_in_the_history(portal: Portal) -> None:
    owner = member_with_details(portal)
    app = portal.open(COMPANY, as_user=owner)
    text_input(app, FORM, "City").input("Ottawa")
    text_input(app, FORM, "Postal code").input("K1A 0B1")
    app = submit(app, FORM)
    assert not app.exception, app.exception
    assert toasts(app) == ["Saved: city, postal code."]
    saved = organization(portal, owner)
    assert (saved.city, saved.postal_code) == ("Ottawa", "K1A 0B1")
    [frame] = [frame.value for frame in portal.open(COMPANY, as_user=owner).dataframe]
    assert list(frame["Changes"])[0] == (
        'city: "Toronto" → "Ottawa"; postal_code: "M5J 2X5" → "K1A 0B1"'
    )
    assert list(frame["By"])[0] == owner.email


def test_saving_unchanged_details_says_so_and_writes_nothing(portal: Portal) -> None:
    owner = member_with_details(portal)
    before = len(audited(portal, owner, "company.updated"))
    app = submit(portal.open(COMPANY, as_user=owner), FORM)
    assert not app.exception, app.exception
    assert NOTHING_CHANGED in plain(app)
    assert toasts(app) == []
    assert len(audited(portal, owner, "company.updated")) == before


def test_a_bad_field_is_said_under_it_and_nothing_is_saved(portal: Portal) -> None:
    owner = member_with_details(portal)
    app = portal.open(COMPANY, as_user=owner)
    text_input(app, FORM, "Postal code").input("12345")
    app = submit(app, FORM)
    assert "Enter a Canadian postal code such as K1A 0B1." in plain(app)
    assert organization(portal, owner).postal_code == "M5J 2X5"


def test_incomplete_details_are_named(portal: Portal) -> None:
    owner = make_member(portal)  # the factory's details lack a postal code
    app = portal.open(COMPANY, as_user=owner)
    assert "Your company details are incomplete (postal code missing)." in plain(app)


# --- Brand -----------------------------------------------------------------------------------


def add_domain(portal: Portal, user: User, domain: str) -> BrandDomain:
    with db.write_session(portal.engine) as session:
        added = company.add_domain(session, actor_of(user), domain)
        return session.get_one(BrandDomain, added.domain_id)


@pytest.mark.parametrize("role", [*EDITORS, *READERS], ids=str)
def test_every_role_sees_the_domains_with_their_status_and_record(
    portal: Portal, role: Role
) -> None:
    owner = member_with_details(portal)
    domain = add_domain(portal, owner, "babbage.example")
    user = owner
    if role is not Role.OWNER:
        with db.write_session(portal.engine) as session:
            user = make_user(session, role=role, organization=organization_of(session, owner))
    app = portal.open(BRAND, as_user=user)
    assert not app.exception, app.exception
    shown = plain(app)
    assert "babbage.example" in shown and "Pending" in shown
    codes = [str(code.value) for code in app.code]
    assert verification_name("babbage.example") in codes
    assert verification_value(domain.verification_token) in codes
    keys = {button.key for button in app.button}
    may_edit = role in EDITORS
    assert (f"organization.brand.check.{domain.id}" in keys) is may_edit
    assert (f"organization.brand.remove.{domain.id}" in keys) is may_edit
    assert any(w.form_id == ADD for w in app.text_input) is may_edit
    assert ("Only the owners and admins of your organization" in shown) is not may_edit


def test_a_domain_is_added_and_shown_pending(portal: Portal) -> None:
    owner = make_member(portal)
    app = portal.open(BRAND, as_user=owner)
    text_input(app, ADD, "Domain").input("Babbage.Example")
    app = submit(app, ADD)
    assert not app.exception, app.exception
    assert toasts(app) == ["babbage\\.example is added: publish its TXT record, then check it."]
    assert verification_name("babbage.example") in [str(code.value) for code in app.code]


def test_adding_ones_own_domain_again_says_already_added(portal: Portal) -> None:
    owner = make_member(portal)
    add_domain(portal, owner, "babbage.example")
    app = portal.open(BRAND, as_user=owner)
    text_input(app, ADD, "Domain").input("BABBAGE.example")
    app = submit(app, ADD)
    assert "babbage.example is already added." in plain(app)
    assert len(audited(portal, owner, "brand.domain_added")) == 1


def test_another_organizations_domain_is_refused_without_naming_it(portal: Portal) -> None:
    holder = make_member(portal)
    add_domain(portal, holder, "babbage.example")
    owner = make_member(portal)
    app = portal.open(BRAND, as_user=owner)
    text_input(app, ADD, "Domain").input("babbage.example")
    app = submit(app, ADD)
    shown = plain(app)
    assert "That domain is already registered with SIPSTACK." in shown
    assert organization(portal, holder).name not in shown


def test_check_now_verifies_a_published_record(portal: Portal, dns_server: DnsServer) -> None:
    owner = make_member(portal)
    domain = add_domain(portal, owner, "babbage.example")
    dns_server.records[verification_name("babbage.example")] = [
        verification_value(domain.verification_token)
    ]
    app = portal.open(BRAND, as_user=owner)
    app.button(key=f"organization.brand.check.{domain.id}").click()
    app = app.run()
    assert not app.exception, app.exception
    assert toasts(app) == ["babbage\\.example is verified."]
    shown = plain(app)
    assert "Verified" in shown
    assert "Found the TXT record at _sipstack-verify.babbage.example" in shown


def test_check_now_says_what_it_found_when_nothing_is_published(
    portal: Portal, dns_server: DnsServer
) -> None:
    owner = make_member(portal)
    domain = add_domain(portal, owner, "babbage.example")
    app = portal.open(BRAND, as_user=owner)
    app.button(key=f"organization.brand.check.{domain.id}").click()
    app = app.run()
    assert toasts(app) == ["babbage\\.example is still pending: see what the check found."]
    assert "Nothing is published at _sipstack-verify.babbage.example yet" in plain(app)


def test_the_page_says_when_domains_are_checked_again(portal: Portal) -> None:
    owner = make_member(portal)
    add_domain(portal, owner, "babbage.example")
    app = portal.open(BRAND, as_user=owner)
    assert not app.exception, app.exception
    assert RECHECKS in plain(app)
    assert "each pending domain for 7 days after it is added or loses its record" in RECHECKS


def test_a_scheduled_check_that_finds_the_record_gone_shows_pending_and_a_notice(
    portal: Portal, dns_server: DnsServer
) -> None:
    owner = make_member(portal)
    domain = add_domain(portal, owner, "babbage.example")
    name = verification_name("babbage.example")
    dns_server.records[name] = [verification_value(domain.verification_token)]
    company.check_domain(portal.engine, actor_of(owner), domain.id)
    dns_server.records.clear()

    company.recheck_domains(portal.engine, now=utcnow() + timedelta(days=1, minutes=1))

    shown = plain(portal.open(BRAND, as_user=owner))
    assert "**babbage.example** :orange-badge[:material/hourglass_top: Pending]" in shown
    assert f"Last check: Nothing is published at {name} yet" in shown
    [listed] = [frame.value for frame in portal.open("pages/notices.py", as_user=owner).dataframe]
    assert listed[["kind", "title"]].values.tolist() == [
        ["Domain no longer verified", "babbage.example is no longer verified"]
    ]


def test_a_scheduled_check_without_an_answer_keeps_verified_and_says_so(
    portal: Portal, dns_server: DnsServer
) -> None:
    owner = make_member(portal)
    domain = add_domain(portal, owner, "babbage.example")
    name = verification_name("babbage.example")
    dns_server.records[name] = [verification_value(domain.verification_token)]
    company.check_domain(portal.engine, actor_of(owner), domain.id)
    dns_server.failing.add(name)

    company.recheck_domains(portal.engine, now=utcnow() + timedelta(days=1, minutes=1))

    shown = plain(portal.open(BRAND, as_user=owner))
    assert "**babbage.example** :green-badge[:material/verified: Verified]" in shown
    assert (
        "Last check: The domain's DNS servers refused or failed to answer. Check that its DNS "
        "is working, then check again. It stays verified until a check that gets an answer no "
        "longer finds the record."
    ) in shown


def test_a_domain_is_removed_only_once_confirmed(portal: Portal) -> None:
    owner = make_member(portal)
    domain = add_domain(portal, owner, "babbage.example")
    app = portal.open(BRAND, as_user=owner)
    app.button(key=f"organization.brand.remove.{domain.id}").click()
    app = app.run()
    assert "babbage.example will no longer be one of your brand's domains" in plain(app)
    app.button(key="organization.brand.remove.cancel").click()
    app = app.run()
    with db.read_session(portal.engine) as session:
        assert session.get(BrandDomain, domain.id) is not None
    app.button(key=f"organization.brand.remove.{domain.id}").click()
    app = app.run()
    app.button(key="organization.brand.remove.confirm").click()
    app = app.run()
    assert not app.exception, app.exception
    assert toasts(app) == ["babbage\\.example is removed."]
    with db.read_session(portal.engine) as session:
        assert session.get(BrandDomain, domain.id) is None
    assert "babbage.example" not in plain(app)


def test_the_brand_is_renamed(portal: Portal) -> None:
    owner = make_member(portal)
    app = portal.open(BRAND, as_user=owner)
    text_input(app, "organization.brand.name", "Brand name").input("Babbage")
    app = submit(app, "organization.brand.name")
    assert toasts(app) == ["Brand name saved."]
    assert organization(portal, owner).brand_name == "Babbage"


# --- The carrier score's new factors on the pages that explain it -----------------------------


def test_whois_profiles_and_the_dashboard_show_the_company_and_brand_factors(
    portal: Portal,
) -> None:
    owner = member_with_details(portal)
    with db.write_session(portal.engine) as session:
        whois.register(
            session,
            actor_of(owner),
            ProfileForm(number="+14169671111", caller_name="Acme", line_type="fixed"),
        )
    for page in ("pages/whois_profiles.py", "Home.py"):
        app = portal.open(page, as_user=owner)
        assert not app.exception, app.exception
        factors = [frame.value for frame in app.dataframe if "Factor" in frame.value.columns]
        assert factors, page
        table = dict(zip(factors[0]["Factor"], factors[0]["Effect"], strict=True))
        assert table["Company details complete"] == "+0.250", page
        assert table["Brand domains verified: 0"] == "+0.000", page
        assert "Verify a brand domain with its DNS record (Organization › Brand): +0.250" in (
            plain(app)
        ), page
        assert {str(m.label): str(m.value) for m in app.metric}["Carrier score"] == "2.750", page


def test_the_wizards_brand_step_says_the_domain_is_verified_later_on_brand(
    portal: Portal,
) -> None:
    with db.write_session(portal.engine) as session:
        new = make_organization(session, name="Babbage Telecom", active=False)
        owner = make_user(session, organization=new)
        company.save_company(session, actor_of(owner), DETAILS)
    app = portal.open("pages/activate.py", as_user=owner)
    assert not app.exception, app.exception
    assert "Your brand" in plain(app)
    assert "Brand, where each domain is verified by a DNS record." in plain(app)
    text_input(app, "activate.brand", "Domain").input("babbage.example")
    app = submit(app, "activate.brand")
    assert "Your plan" in plain(app)  # the next step
    assert [event.subject for event in audited(portal, owner, "brand.domain_added")] == [
        "babbage.example"
    ]
