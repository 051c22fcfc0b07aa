"""The activation wizard: its step is derived from what is saved; each step's checks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import Conflict, ValidationFailed
from portal_core.models.accounts import BrandDomain, Organization
from portal_core.services import accounts
from portal_core.services.accounts import CompanyDetails, WizardStep
from tests.factories import actor_of, make_organization, make_user

CANADIAN = CompanyDetails(
    legal_name="Northwind Voice Inc.",
    country="CA",
    province="ON",
    address_line="1 Front Street West",
    city="Toronto",
    postal_code="M5J 2X2",
    tax_id="123456789RT0001",
)


@pytest.fixture
def owner(engine):
    """The owner of an organization that has just signed up (nothing filled in yet)."""
    with db.write_session(engine) as session:
        organization = make_organization(session, active=False)
        return make_user(session, organization=organization)


def _step(engine, user):
    with db.read_session(engine) as session:
        return accounts.wizard_step(session, actor_of(user))


def _save_company(engine, user, details=CANADIAN):
    with db.write_session(engine) as session:
        accounts.save_company(session, actor_of(user), details)


def _add_domain(engine, user, domain="northwind-voice.com", brand_name=""):
    with db.write_session(engine) as session:
        accounts.add_brand_domain(session, actor_of(user), domain, brand_name=brand_name)


def _activate(engine, user):
    with db.write_session(engine) as session:
        accounts.activate(session, actor_of(user))


def _organization(engine, user):
    with db.read_session(engine) as session:
        return session.get(Organization, user.organization_id)


def test_the_wizard_resumes_where_it_stopped(engine, owner):
    assert _step(engine, owner) == WizardStep.COMPANY

    _save_company(engine, owner)
    assert _step(engine, owner) == WizardStep.BRAND

    _add_domain(engine, owner, brand_name="Northwind")
    assert _step(engine, owner) == WizardStep.CONFIRM

    _activate(engine, owner)
    assert _step(engine, owner) == WizardStep.DONE
    assert _organization(engine, owner).activated_at is not None
    assert _organization(engine, owner).brand_name == "Northwind"


def test_activating_before_the_company_step_is_refused(engine, owner):
    with pytest.raises(Conflict, match="Finish the company and brand steps"):
        _activate(engine, owner)

    assert _organization(engine, owner).activated_at is None


def test_activating_before_the_brand_step_is_refused(engine, owner):
    _save_company(engine, owner)

    with pytest.raises(Conflict, match="Finish the company and brand steps"):
        _activate(engine, owner)

    assert _organization(engine, owner).activated_at is None


def test_activating_twice_keeps_the_first_date(engine, owner):
    _save_company(engine, owner)
    _add_domain(engine, owner)
    _activate(engine, owner)
    first = _organization(engine, owner).activated_at

    _activate(engine, owner)

    assert _organization(engine, owner).activated_at == first


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"country": ""}, "country"),
        ({"country": "XX"}, "country"),
        ({"province": ""}, "province"),
        ({"province": "ZZ"}, "province"),
        ({"province": "CA"}, "province"),  # California is not a Canadian province
        ({"postal_code": "12345"}, "postal_code"),
        ({"postal_code": ""}, "postal_code"),
        ({"country": "US", "province": "", "postal_code": "94105"}, "province"),
        ({"country": "US", "province": "ON", "postal_code": "94105"}, "province"),
        ({"country": "US", "province": "CA", "postal_code": "M5J 2X2"}, "postal_code"),
        ({"country": "US", "province": "CA", "postal_code": "9410"}, "postal_code"),
        ({"legal_name": " "}, "legal_name"),
        ({"address_line": ""}, "address_line"),
        ({"city": ""}, "city"),
        ({"legal_name": "L" * 201}, "legal_name"),
        ({"tax_id": "T" * 41}, "tax_id"),
    ],
)
def test_bad_company_details_are_refused_by_field(engine, owner, changes, field):
    with pytest.raises(ValidationFailed) as raised:
        _save_company(engine, owner, replace(CANADIAN, **changes))

    assert set(raised.value.errors) == {field}
    assert _organization(engine, owner).legal_name is None
    assert _step(engine, owner) == WizardStep.COMPANY


@pytest.mark.parametrize(
    ("changes", "province", "postal_code"),
    [
        ({"postal_code": "m5j2x2"}, "ON", "M5J2X2"),
        ({"province": "qc", "postal_code": "h2y 1c6"}, "QC", "H2Y 1C6"),
        ({"country": "us", "province": "ca", "postal_code": "94105"}, "CA", "94105"),
        ({"country": "US", "province": "NY", "postal_code": "10001-1234"}, "NY", "10001-1234"),
        ({"country": "GB", "province": "", "postal_code": "SW1A 1AA"}, None, "SW1A 1AA"),
        ({"country": "DE", "province": "BY", "postal_code": ""}, None, None),
    ],
)
def test_good_company_details_are_saved_normalized(engine, owner, changes, province, postal_code):
    details = replace(CANADIAN, **changes)

    _save_company(engine, owner, details)

    saved = _organization(engine, owner)
    assert saved.country == details.country.upper()
    assert (saved.province, saved.postal_code) == (province, postal_code)
    assert _step(engine, owner) == WizardStep.BRAND


def test_provinces_are_offered_for_canada_and_the_united_states_only():
    canada = dict(accounts.provinces("CA"))
    states = dict(accounts.provinces("US"))

    assert canada["ON"] == "Ontario"
    assert canada["YT"] == "Yukon"
    assert len(canada) == 13
    assert states["CA"] == "California"
    assert "DC" in states
    assert accounts.provinces("GB") == []


@pytest.mark.parametrize(
    "domain",
    [
        "https://northwind.com",
        "northwind.com/voice",
        "northwind.com:443",
        "northwind",
        "northwind.c0m",
        "northwind.c",
        "north wind.com",
        "-northwind.com",
        "*.northwind.com",
        "",
    ],
)
def test_a_bad_domain_is_refused(engine, owner, domain):
    _save_company(engine, owner)

    with pytest.raises(ValidationFailed) as raised:
        _add_domain(engine, owner, domain)

    assert set(raised.value.errors) == {"domain"}
    assert _step(engine, owner) == WizardStep.BRAND


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Northwind-Voice.COM", "northwind-voice.com"),
        ("voice.northwind.co.uk.", "voice.northwind.co.uk"),
        ("bücher.example", "bücher.example"),
        ("xn--bcher-kva.ch", "xn--bcher-kva.ch"),
    ],
)
def test_a_good_domain_is_stored_normalized(engine, owner, typed, stored):
    _add_domain(engine, owner, typed)

    with db.read_session(engine) as session:
        domains = session.exec(select(BrandDomain.domain)).all()
    assert domains == [stored]


def test_a_domain_registered_by_another_organization_is_refused(engine, owner):
    with db.write_session(engine) as session:
        rival = make_user(session)
    _add_domain(engine, rival, "northwind-voice.com")

    with pytest.raises(ValidationFailed, match="already registered"):
        _add_domain(engine, owner, "NORTHWIND-VOICE.com")

    with db.read_session(engine) as session:
        holders = session.exec(
            select(BrandDomain.organization_id).where(BrandDomain.domain == "northwind-voice.com")
        ).all()
    assert holders == [rival.organization_id]


def test_adding_the_same_domain_again_is_harmless(engine, owner):
    _add_domain(engine, owner, "northwind-voice.com")
    _add_domain(engine, owner, "Northwind-Voice.com")

    with db.read_session(engine) as session:
        assert session.exec(select(BrandDomain.domain)).all() == ["northwind-voice.com"]
