"""The activation wizard: its step is derived from what is saved; each step's checks,
including the plan step (stored on the subscription; Free is a valid choice) and the
payment-method step (a usable card; Free may skip it, and the skip is recorded)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import BrandDomain, Organization, Role
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import BillingAccount, BillingCycle, Subscription
from portal_core.models.payments import PaymentMethod
from portal_core.money import MICROS_PER_CENT
from portal_core.services import accounts, company
from portal_core.services.accounts import WizardStep
from portal_core.services.company import CompanyDetails
from portal_core.services.payments import cards
from tests.factories import actor_of, make_card, make_organization, make_user, organization_of
from tests.services.support import count, fetch

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
        company.save_company(session, actor_of(user), details)


def _add_domain(engine, user, domain="northwind-voice.com", brand_name=""):
    with db.write_session(engine) as session:
        company.add_brand_domain(session, actor_of(user), domain, brand_name=brand_name)


def _choose_plan(engine, user, plan_code="free", cycle=BillingCycle.MONTHLY, now=None):
    with db.write_session(engine) as session:
        accounts.choose_plan(session, actor_of(user), plan_code=plan_code, cycle=cycle, now=now)


def _activate(engine, user, now=None):
    with db.write_session(engine) as session:
        accounts.activate(session, actor_of(user), now=now)


def _skip_card(engine, user):
    with db.write_session(engine) as session:
        accounts.skip_payment_method(session, actor_of(user))


def _add_card(engine, user, test_card="pm_card_visa"):
    with db.write_session(engine) as session:
        cards.start_adding_card(session, actor_of(user), test_card=test_card)


def _ready_for_plan(engine, user):
    _save_company(engine, user)
    _add_domain(engine, user)


def _organization(engine, user):
    with db.read_session(engine) as session:
        return session.get(Organization, user.organization_id)


def test_the_wizard_resumes_where_it_stopped(engine, owner):
    assert _step(engine, owner) == WizardStep.COMPANY

    _save_company(engine, owner)
    assert _step(engine, owner) == WizardStep.BRAND

    _add_domain(engine, owner, brand_name="Northwind")
    assert _step(engine, owner) == WizardStep.PLAN

    _choose_plan(engine, owner, "free")
    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD

    _skip_card(engine, owner)
    assert _step(engine, owner) == WizardStep.CONFIRM

    _activate(engine, owner)
    assert _step(engine, owner) == WizardStep.DONE
    assert _organization(engine, owner).activated_at is not None
    assert _organization(engine, owner).brand_name == "Northwind"


def test_activating_before_the_company_step_is_refused(engine, owner):
    with pytest.raises(Conflict, match="Finish the company step first"):
        _activate(engine, owner)

    assert _organization(engine, owner).activated_at is None


def test_activating_before_the_brand_step_is_refused(engine, owner):
    _save_company(engine, owner)

    with pytest.raises(Conflict, match="Finish the brand step first"):
        _activate(engine, owner)

    assert _organization(engine, owner).activated_at is None


def test_activating_before_the_plan_step_is_refused(engine, owner):
    _ready_for_plan(engine, owner)

    with pytest.raises(Conflict, match="Finish the plan step first"):
        _activate(engine, owner)

    assert _organization(engine, owner).activated_at is None


def test_activating_twice_keeps_the_first_date(engine, owner):
    _ready_for_plan(engine, owner)
    _choose_plan(engine, owner)
    _skip_card(engine, owner)
    _activate(engine, owner)
    first = _organization(engine, owner).activated_at

    _activate(engine, owner)

    assert _organization(engine, owner).activated_at == first


# --- The plan step -------------------------------------------------------------------------

SIGNED_UP = datetime(2026, 10, 20, 15, 0, tzinfo=UTC)


def test_choosing_free_completes_the_plan_step_and_keeps_free(engine, owner):
    _ready_for_plan(engine, owner)

    _choose_plan(engine, owner, "free")

    subscription = fetch(engine, Subscription, owner.organization_id)
    assert (subscription.plan_code, subscription.cycle) == ("free", BillingCycle.MONTHLY)
    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD
    assert count(engine, AuditEvent, AuditEvent.action == "plan.chosen") == 1


def test_choosing_a_paid_plan_stores_it_with_its_credit_limit_and_needs_no_card_yet(engine, owner):
    _ready_for_plan(engine, owner)

    _choose_plan(engine, owner, "starter", BillingCycle.YEARLY)

    subscription = fetch(engine, Subscription, owner.organization_id)
    assert (subscription.plan_code, subscription.cycle) == ("starter", BillingCycle.YEARLY)
    account = fetch(engine, BillingAccount, owner.organization_id)
    assert account.credit_limit_micros == 6_000 * MICROS_PER_CENT  # Starter's $60 (plans.csv)
    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD


def test_the_plan_can_be_chosen_again_before_activation(engine, owner):
    _ready_for_plan(engine, owner)
    _choose_plan(engine, owner, "competitor")

    _choose_plan(engine, owner, "free")

    assert fetch(engine, Subscription, owner.organization_id).plan_code == "free"
    assert fetch(engine, BillingAccount, owner.organization_id).credit_limit_micros == 0


def test_activation_starts_the_plans_term_so_the_wizard_time_is_not_billed(engine, owner):
    _ready_for_plan(engine, owner)
    _choose_plan(engine, owner, "starter", now=SIGNED_UP)
    _add_card(engine, owner)
    activated = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    _activate(engine, owner, now=activated)

    assert fetch(engine, Subscription, owner.organization_id).term_started_at == activated


@pytest.mark.parametrize(
    ("plan_code", "cycle", "error", "message"),
    [
        ("carrier", BillingCycle.MONTHLY, ValidationFailed, "priced by contract"),
        ("free", BillingCycle.YEARLY, ValidationFailed, "Free is billed monthly only"),
        ("platinum", BillingCycle.MONTHLY, NotFound, "That plan was not found"),
    ],
)
def test_a_plan_a_partner_cannot_pick_is_refused_and_the_step_stays(
    engine, owner, plan_code, cycle, error, message
):
    _ready_for_plan(engine, owner)

    with pytest.raises(error, match=message):
        _choose_plan(engine, owner, plan_code, cycle)

    assert fetch(engine, Subscription, owner.organization_id).plan_code == "free"
    assert _step(engine, owner) == WizardStep.PLAN


def test_an_active_organization_changes_plan_on_pricing_not_in_the_wizard(engine):
    with db.write_session(engine) as session:
        active_owner = make_user(session, organization=make_organization(session))

    with pytest.raises(Conflict, match="Billing › Pricing"):
        _choose_plan(engine, active_owner, "starter")

    assert fetch(engine, Subscription, active_owner.organization_id).plan_code == "free"


def test_a_role_without_billing_cannot_choose_the_plan(engine, owner):
    with db.write_session(engine) as session:
        organization = session.get(Organization, owner.organization_id)
        developer = make_user(session, organization=organization, role=Role.DEVELOPER)

    with pytest.raises(PermissionDenied):
        _choose_plan(engine, developer, "starter")

    assert fetch(engine, Subscription, owner.organization_id).plan_code == "free"


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
    canada = dict(company.provinces("CA"))
    states = dict(company.provinces("US"))

    assert canada["ON"] == "Ontario"
    assert canada["YT"] == "Yukon"
    assert len(canada) == 13
    assert states["CA"] == "California"
    assert "DC" in states
    assert company.provinces("GB") == []


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


# --- The payment-method step ---------------------------------------------------------------


def _ready_for_card(engine, user, plan_code="starter", cycle=BillingCycle.MONTHLY):
    _ready_for_plan(engine, user)
    _choose_plan(engine, user, plan_code, cycle)


def _skips(engine, user):
    return count(
        engine,
        AuditEvent,
        AuditEvent.action == accounts.PAYMENT_METHOD_SKIPPED,
        AuditEvent.organization_id == user.organization_id,
    )


@pytest.mark.parametrize(("plan_code", "cycle"), [("starter", "monthly"), ("provider", "yearly")])
def test_a_paid_plan_without_a_card_cannot_activate(engine, owner, plan_code, cycle):
    _ready_for_card(engine, owner, plan_code, BillingCycle(cycle))

    with pytest.raises(Conflict, match="Finish the payment method step first"):
        _activate(engine, owner)

    assert _organization(engine, owner).activated_at is None
    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD


def test_a_saved_card_completes_the_step_of_a_paid_plan_and_activation_follows(engine, owner):
    _ready_for_card(engine, owner, "competitor")

    _add_card(engine, owner)

    assert _step(engine, owner) == WizardStep.CONFIRM
    _activate(engine, owner)
    assert _organization(engine, owner).activated_at is not None


def test_a_paid_plan_cannot_skip_the_card(engine, owner):
    _ready_for_card(engine, owner, "starter")

    with pytest.raises(Conflict, match="save a card to continue, or start on Free instead"):
        _skip_card(engine, owner)

    assert _skips(engine, owner) == 0
    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD


def test_skipping_on_free_is_recorded_once_and_the_wizard_resumes_past_it(engine, owner):
    _ready_for_card(engine, owner, "free")

    _skip_card(engine, owner)
    _skip_card(engine, owner)  # a double click

    assert _skips(engine, owner) == 1
    assert _step(engine, owner) == WizardStep.CONFIRM


def test_a_skip_on_free_does_not_carry_over_to_a_paid_plan_chosen_after(engine, owner):
    _ready_for_card(engine, owner, "free")
    _skip_card(engine, owner)

    _choose_plan(engine, owner, "starter")

    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD
    with pytest.raises(Conflict):
        _activate(engine, owner)


@pytest.mark.parametrize("card", ["expired", "removed"])
def test_an_expired_or_removed_card_does_not_count(engine, owner, card):
    _ready_for_card(engine, owner, "starter")
    with db.write_session(engine) as session:
        organization = organization_of(session, owner)
        if card == "expired":
            make_card(session, organization, exp_month=1, exp_year=2020)
        else:
            method = make_card(session, organization)
            method.removed_at = method.created_at
            session.add(method)

    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD
    with pytest.raises(Conflict, match="Finish the payment method step first"):
        _activate(engine, owner)


def test_a_card_in_its_expiry_month_still_counts_and_one_past_it_does_not(engine, owner):
    _ready_for_card(engine, owner, "starter")
    with db.write_session(engine) as session:
        make_card(session, organization_of(session, owner), exp_month=11, exp_year=2026)

    toronto = ZoneInfo("America/Toronto")  # the billing time zone: its days are billing's
    with db.read_session(engine) as session:
        last_day = accounts.wizard_step(
            session, actor_of(owner), now=datetime(2026, 11, 30, 23, 0, tzinfo=toronto)
        )
        # 1 December in UTC, still 30 November in the billing time zone.
        utc_first = accounts.wizard_step(
            session, actor_of(owner), now=datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        )
        next_month = accounts.wizard_step(
            session, actor_of(owner), now=datetime(2026, 12, 1, 0, 0, tzinfo=toronto)
        )
    assert (last_day, utc_first, next_month) == (
        WizardStep.CONFIRM,
        WizardStep.CONFIRM,
        WizardStep.PAYMENT_METHOD,
    )


def test_removing_the_card_before_activating_reopens_the_step(engine, owner):
    _ready_for_card(engine, owner, "starter")
    _add_card(engine, owner)
    with db.read_session(engine) as session:
        [card] = session.exec(
            select(PaymentMethod).where(PaymentMethod.organization_id == owner.organization_id)
        ).all()
    with db.write_session(engine) as session:
        cards.remove_card(session, actor_of(owner), card.id)

    assert _step(engine, owner) == WizardStep.PAYMENT_METHOD


def test_skipping_after_activation_is_refused(engine):
    with db.write_session(engine) as session:
        active_owner = make_user(session, organization=make_organization(session))

    with pytest.raises(Conflict, match="Billing › Payment Methods"):
        _skip_card(engine, active_owner)


def test_a_role_without_company_edit_cannot_skip(engine, owner):
    _ready_for_card(engine, owner, "free")
    with db.write_session(engine) as session:
        organization = session.get(Organization, owner.organization_id)
        developer = make_user(session, organization=organization, role=Role.DEVELOPER)

    with pytest.raises(PermissionDenied):
        _skip_card(engine, developer)

    assert _skips(engine, owner) == 0


def test_card_required_follows_the_plans_fee(engine, owner):
    _ready_for_card(engine, owner, "free")
    with db.read_session(engine) as session:
        on_free = accounts.card_required(session, actor_of(owner))
    _choose_plan(engine, owner, "starter", BillingCycle.YEARLY)
    with db.read_session(engine) as session:
        on_starter = accounts.card_required(session, actor_of(owner))

    assert (on_free, on_starter) == (False, True)
