"""Whois Profiles: registering a number in any common form, every field checked with its tab
named, the one-owner rule, edits that keep the number, deletion, completeness, and the stored
score and carrier score that follow every change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import Organization, Role
from portal_core.models.audit import AuditEvent
from portal_core.models.products import (
    EventAction,
    NumberScore,
    ProductEvent,
    ProductEventDaily,
    WhoisProfile,
)
from portal_core.services import whois
from portal_core.services.whois import ProfileForm
from tests.services.products_support import COMPLETE, form, member, register
from tests.services.support import count, fetch

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def test_a_number_typed_in_any_common_form_is_stored_as_e164(engine) -> None:
    owner = member(engine)
    for typed, stored in (
        ("(416) 967-1111", "+14169671111"),
        ("tel:+1-212-555-0123", "+12125550123"),
        ("４１６５５５０１２３", "+14165550123"),
    ):
        assert register(engine, owner, typed).number == stored


def test_every_wrong_field_is_named_with_its_tab_and_nothing_is_written(engine) -> None:
    owner = member(engine)
    bad = ProfileForm(
        number="hello",
        caller_name="A name far longer than fifteen",
        line_type="carrier pigeon",
        country="XX",
        website="not a site",
        email="nobody@",
        social_links="https://a.example.com\nnot a link",
        monthly_call_volume="lots",
    )
    with pytest.raises(ValidationFailed) as refused:
        with db.write_session(engine) as session:
            whois.register(session, owner.actor, bad)
    errors = refused.value.errors
    assert set(errors) == {
        "number",
        "caller_name",
        "line_type",
        "country",
        "website",
        "email",
        "social_links",
        "monthly_call_volume",
    }
    assert errors["caller_name"].startswith("General › Caller name: at most 15 characters")
    assert errors["country"].startswith("Location › Country:")
    assert errors["social_links"].startswith("Additional › Social links:")
    assert "not a link" in errors["social_links"]
    assert count(engine, WhoisProfile) == 0
    assert count(engine, ProductEvent) == 0


@pytest.mark.parametrize(
    "website",
    [".", "https://a..example.com", "https://" + "a" * 64 + ".example.com", "https://.example.com"],
)
def test_a_website_whose_host_has_an_empty_or_overlong_label_is_refused_by_name(
    engine, website
) -> None:
    # Such a host cannot be written as a domain name at all: it is refused like "not a site",
    # not left to fail while being converted.
    owner = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        with db.write_session(engine) as session:
            whois.register(session, owner.actor, form("+14165550123", website=website))
    assert set(refused.value.errors) == {"website"}
    assert refused.value.errors["website"].startswith("Additional › Website:")
    assert count(engine, WhoisProfile) == 0


def test_required_fields_are_said_to_be_required(engine) -> None:
    owner = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        with db.write_session(engine) as session:
            whois.register(session, owner.actor, ProfileForm())
    assert refused.value.errors == {
        "number": "General › Phone number: enter the phone number, such as +1 416 555 0123.",
        "caller_name": "General › Caller name: required.",
        "line_type": "General › Line type: required.",
    }


def test_an_unallocated_number_is_refused_for_registration(engine) -> None:
    owner = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        register(engine, owner, "+1 555 123 4567")
    assert "not an allocated phone number" in refused.value.errors["number"]


def test_emergency_numbers_and_short_codes_are_refused(engine) -> None:
    owner = member(engine)
    for typed in ("911", "36363"):
        with pytest.raises(ValidationFailed) as refused:
            register(engine, owner, typed)
        assert refused.value.errors["number"].startswith("General › Phone number:")
    assert count(engine, WhoisProfile) == 0


def test_a_number_registered_twice_by_one_organization_points_at_its_profile(engine) -> None:
    owner = member(engine)
    register(engine, owner, "+14169671111")
    with pytest.raises(ValidationFailed) as refused:
        register(engine, owner, "416-967-1111")
    assert "already in your Whois Profiles" in refused.value.errors["number"]


def test_registration_scores_the_number_and_the_organization_and_is_logged(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW, **COMPLETE)
    assert profile.completeness_permille == 1000
    # 2.5 start + 0.4 registered + 0.5 complete + 0.3 × (carrier − 2.5) / 2.5, where the
    # carrier score is 2.5 + 1.0 (complete) + 0 (nothing verified) = 3.5.
    assert profile.score_millis == 2500 + 400 + 500 + 120
    organization = fetch(engine, Organization, owner.organization_id)
    assert organization.carrier_score_millis == 3500
    with db.read_session(engine) as session:
        event = session.exec(select(ProductEvent)).one()
        history = session.exec(select(NumberScore)).one()
        audit = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "whois.registered")
        ).one()
        daily = session.exec(select(ProductEventDaily)).one()
    assert (event.action, event.number, event.score_millis) == (
        EventAction.REGISTRATION,
        "+14169671111",
        profile.score_millis,
    )
    assert event.cost_micros == 0
    assert (history.day.isoformat(), history.score_millis) == ("2026-11-16", profile.score_millis)
    assert audit.subject == "+14169671111"
    assert (daily.action, daily.events) == ("registration", 1)


def test_an_edit_keeps_the_number_and_moves_the_scores_with_completeness(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW)
    assert profile.completeness_permille == 0
    bare_score = profile.score_millis
    with db.write_session(engine) as session:
        edited = whois.update(
            session,
            owner.actor,
            profile.id,
            ProfileForm(**{**form("+12125550123", "New Name").__dict__, **COMPLETE}),
            now=NOW,
        )
    assert edited.number == "+14169671111"  # the number typed in the form is ignored
    assert edited.caller_name == "New Name"
    assert edited.completeness_permille == 1000
    assert edited.score_millis is not None and bare_score is not None
    assert edited.score_millis > bare_score
    assert fetch(engine, Organization, owner.organization_id).carrier_score_millis == 3500


def test_deleting_frees_the_number_and_forgets_its_history(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111", now=NOW)
    with db.write_session(engine) as session:
        assert whois.delete(session, owner.actor, profile.id, now=NOW) == "+14169671111"
    assert count(engine, WhoisProfile) == 0
    assert count(engine, NumberScore) == 0
    assert fetch(engine, Organization, owner.organization_id).carrier_score_millis is None
    other = member(engine)
    assert register(engine, other, "+14169671111").number == "+14169671111"


def test_another_organizations_profile_is_not_found(engine) -> None:
    owner = member(engine)
    profile = register(engine, owner, "+14169671111")
    stranger = member(engine)
    with db.write_session(engine) as session:
        for attempt in (
            lambda: whois.get(session, stranger.actor, profile.id),
            lambda: whois.update(session, stranger.actor, profile.id, form("+14169671111")),
            lambda: whois.delete(session, stranger.actor, profile.id),
            lambda: whois.get(session, stranger.actor, uuid.uuid4()),
        ):
            with pytest.raises(NotFound):
                attempt()
    assert fetch(engine, WhoisProfile, profile.id).caller_name == "Acme Support"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.BILLING])
def test_roles_that_may_not_write_profiles_are_refused(engine, role) -> None:
    owner = member(engine)
    reader = member(engine, role=role, organization_id=owner.organization_id)
    with pytest.raises(PermissionDenied):
        register(engine, reader, "+14169671111")
    assert count(engine, WhoisProfile) == 0
