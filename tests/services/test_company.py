"""Organization › Company and Brand: who may change what, the audit of each change (before →
after, only what changed), unchanged details that write nothing, brand domains (added,
already added, another organization's), their DNS verification against a DNS server on
loopback (verified, another value, NXDOMAIN, no TXT record, no answer), their removal, and
the carrier score's two factors that they move."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from portal_core import db
from portal_core.errors import NotFound, PermissionDenied, ValidationFailed
from portal_core.models.accounts import BrandDomain, Organization, Role
from portal_core.models.audit import AuditEvent
from portal_core.models.billing import BillingDetails
from portal_core.queries import company as company_queries
from portal_core.queries import whois
from portal_core.rules.company import verification_name, verification_value
from portal_core.services import company
from portal_core.services.company import Added, Change, CompanyDetails
from tests.services.products_support import Member, member, register
from tests.services.support import count, fetch
from tests.support.dns_server import DnsServer

NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)
EDITORS = [Role.OWNER, Role.ADMIN]
READERS = [Role.BILLING, Role.DEVELOPER, Role.VIEWER]

DETAILS = CompanyDetails(
    legal_name="Northwind Voice Inc.",
    country="CA",
    province="ON",
    address_line="1 Front Street West",
    city="Toronto",
    postal_code="M5J 2X2",
    tax_id="",
)


def _save(engine, who: Member, details: CompanyDetails = DETAILS, *, now=NOW):
    with db.write_session(engine) as session:
        return company.save_company(session, who.actor, details, now=now)


def _audit(engine, who: Member, action: str) -> list[AuditEvent]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(
                    col(AuditEvent.organization_id) == who.organization_id,
                    col(AuditEvent.action) == action,
                )
                .order_by(col(AuditEvent.created_at))
            ).all()
        )


def _add(engine, who: Member, domain: str = "northwind.example.com"):
    with db.write_session(engine) as session:
        return company.add_domain(session, who.actor, domain, now=NOW)


def _domain(engine, domain_id) -> BrandDomain:
    return fetch(engine, BrandDomain, domain_id)


def _publish(server: DnsServer, engine, domain_id, value: str | None = None) -> None:
    row = _domain(engine, domain_id)
    server.records[verification_name(row.domain)] = [
        value if value is not None else verification_value(row.verification_token)
    ]


def _check(engine, who: Member, domain_id, *, now=NOW):
    return company.check_domain(engine, who.actor, domain_id, now=now)


# --- Company ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", EDITORS)
def test_owners_and_admins_save_the_details_normalized(engine, role) -> None:
    who = member(engine, role=role)
    changes = _save(engine, who, replace(DETAILS, postal_code="m5j2x2 ", province="on"))
    saved = fetch(engine, Organization, who.organization_id)
    assert (saved.legal_name, saved.province, saved.postal_code) == (
        "Northwind Voice Inc.",
        "ON",
        "M5J2X2",
    )
    assert "legal_name" in {change.field for change in changes}


@pytest.mark.parametrize("role", READERS)
def test_the_other_roles_may_not_change_the_details_and_nothing_is_written(engine, role) -> None:
    who = member(engine, role=role)
    before = fetch(engine, Organization, who.organization_id)
    with pytest.raises(PermissionDenied):
        _save(engine, who)
    after = fetch(engine, Organization, who.organization_id)
    assert (after.legal_name, after.updated_at) == (before.legal_name, before.updated_at)
    assert _audit(engine, who, "company.updated") == []
    # …and they still read them.
    with db.read_session(engine) as session:
        shown = company_queries.company(session, who.actor)
    assert shown.details["legal_name"] == before.legal_name


def test_bad_details_are_refused_by_field_and_nothing_is_written(engine) -> None:
    who = member(engine)
    _save(engine, who)
    with pytest.raises(ValidationFailed) as refused:
        _save(engine, who, replace(DETAILS, city=" ", postal_code="12345", legal_name="x" * 201))
    assert refused.value.errors == {
        "legal_name": "Your company's legal name must be at most 200 characters.",
        "city": "Enter the city.",
        "postal_code": "Enter a Canadian postal code such as K1A 0B1.",
    }
    assert fetch(engine, Organization, who.organization_id).city == "Toronto"
    assert len(_audit(engine, who, "company.updated")) == 1


def test_a_change_is_audited_with_who_when_and_only_the_fields_it_changed(engine) -> None:
    who = member(engine)
    _save(engine, who)
    later = NOW + timedelta(days=1)
    changes = _save(
        engine, who, replace(DETAILS, legal_name="Northwind Calling Ltd.", city="Ottawa"), now=later
    )
    assert changes == (
        Change("legal_name", "Northwind Voice Inc.", "Northwind Calling Ltd."),
        Change("city", "Toronto", "Ottawa"),
    )
    last = _audit(engine, who, "company.updated")[-1]
    assert last.detail == (
        'legal_name: "Northwind Voice Inc." → "Northwind Calling Ltd."; city: "Toronto" → "Ottawa"'
    )
    assert (last.actor_user_id, last.actor_email) == (who.actor.user_id, who.actor.email)
    with db.read_session(engine) as session:
        history = company_queries.company_history(session, who.actor)
    assert [entry.what for entry in history][0] == last.detail  # newest first
    assert len(history) == 2 and history[0].by == who.actor.email


def test_saving_unchanged_details_writes_nothing(engine) -> None:
    who = member(engine)
    _save(engine, who)
    before = fetch(engine, Organization, who.organization_id)
    audited = len(_audit(engine, who, "company.updated"))
    recorded = count(engine, BillingDetails, BillingDetails.organization_id == who.organization_id)

    changes = _save(
        engine,
        who,
        replace(DETAILS, city=" Toronto ", postal_code="m5j 2x2"),
        now=NOW + timedelta(days=3),
    )

    assert changes == ()
    assert fetch(engine, Organization, who.organization_id).updated_at == before.updated_at
    assert len(_audit(engine, who, "company.updated")) == audited
    assert (
        count(engine, BillingDetails, BillingDetails.organization_id == who.organization_id)
        == recorded
    )


def test_the_audit_detail_keeps_every_changed_field_within_500_characters() -> None:
    changes = [
        Change(name, "a" * 200, "b" * 200) for name in ("legal_name", "address_line", "city")
    ]
    detail = company.describe(changes)
    assert len(detail) <= 500
    assert [part.split(":")[0] for part in detail.split("; ")] == [
        "legal_name",
        "address_line",
        "city",
    ]
    assert company.describe([Change("city", "A", "B")]) == 'city: "A" → "B"'


def test_only_owners_and_admins_read_the_history(engine) -> None:
    who = member(engine, role=Role.VIEWER)
    with pytest.raises(PermissionDenied), db.read_session(engine) as session:
        company_queries.company_history(session, who.actor)


def test_the_details_say_what_is_missing(engine) -> None:
    who = member(engine)  # the factory's organization has no postal code
    with db.read_session(engine) as session:
        assert company_queries.company(session, who.actor).missing == ("postal_code",)
    _save(engine, who)
    with db.read_session(engine) as session:
        assert company_queries.company(session, who.actor).missing == ()


# --- Brand domains ---------------------------------------------------------------------------


def test_a_domain_is_added_pending_with_a_token_of_its_own_and_audited(engine) -> None:
    who = member(engine)
    first = _add(engine, who, "Northwind.Example.com.")
    second = _add(engine, who, "northwind.example.org")
    assert (first.outcome, first.domain) == (Added.ADDED, "northwind.example.com")
    one, two = _domain(engine, first.domain_id), _domain(engine, second.domain_id)
    assert one.verified_at is None and one.last_checked_at is None
    assert len(one.verification_token) == 32 and one.verification_token != two.verification_token
    assert [event.subject for event in _audit(engine, who, "brand.domain_added")] == [
        "northwind.example.com",
        "northwind.example.org",
    ]


def test_adding_ones_own_domain_again_says_already_added_and_writes_nothing(engine) -> None:
    who = member(engine)
    first = _add(engine, who)
    again = _add(engine, who, "NORTHWIND.example.com")
    assert (again.outcome, again.domain_id) == (Added.ALREADY_ADDED, first.domain_id)
    assert len(_audit(engine, who, "brand.domain_added")) == 1


def test_another_organizations_domain_is_refused_without_saying_whose(engine) -> None:
    holder = member(engine, name="Holder Secret Telecom")
    _add(engine, holder)
    claimant = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        _add(engine, claimant)
    assert refused.value.errors == {"domain": "That domain is already registered with SIPSTACK."}
    assert _audit(engine, claimant, "brand.domain_added") == []


@pytest.mark.parametrize("typed", ["", "https://northwind.example.com/", "localhost", "a..b"])
def test_a_bad_domain_is_refused(engine, typed) -> None:
    who = member(engine)
    with pytest.raises(ValidationFailed) as refused:
        _add(engine, who, typed)
    assert set(refused.value.errors) == {"domain"}


@pytest.mark.parametrize("role", READERS)
def test_the_other_roles_may_not_add_check_or_remove_domains(engine, role) -> None:
    owner = member(engine)
    added = _add(engine, owner)
    who = member(engine, role=role, organization_id=owner.organization_id)
    with pytest.raises(PermissionDenied):
        _add(engine, who, "other.example.com")
    with pytest.raises(PermissionDenied):
        _check(engine, who, added.domain_id)
    with pytest.raises(PermissionDenied), db.write_session(engine) as session:
        company.remove_domain(session, who.actor, added.domain_id)
    with pytest.raises(PermissionDenied), db.write_session(engine) as session:
        company.rename_brand(session, who.actor, "Another")
    assert _domain(engine, added.domain_id).last_checked_at is None
    with db.read_session(engine) as session:
        shown = [d.domain for d in company_queries.brand(session, who.actor).domains]
    assert "northwind.example.com" in shown


def test_the_brand_name_is_renamed_audited_and_unchanged_writes_nothing(engine) -> None:
    who = member(engine)
    with db.write_session(engine) as session:
        assert company.rename_brand(session, who.actor, "  Northwind ") is True
    with db.write_session(engine) as session:
        assert company.rename_brand(session, who.actor, "Northwind") is False
    assert fetch(engine, Organization, who.organization_id).brand_name == "Northwind"
    [renamed] = _audit(engine, who, "brand.renamed")
    assert renamed.detail == 'brand_name: "" → "Northwind"'


# --- DNS verification -------------------------------------------------------------------------


def test_a_published_record_verifies_the_domain(engine, dns_server: DnsServer) -> None:
    who = member(engine)
    added = _add(engine, who)
    _publish(dns_server, engine, added.domain_id)

    checked = _check(engine, who, added.domain_id)

    assert checked.verified
    row = _domain(engine, added.domain_id)
    assert (row.verified_at, row.last_checked_at) == (NOW, NOW)
    assert row.last_check == (
        "Found the TXT record at _sipstack-verify.northwind.example.com: the domain is verified."
    )
    assert dns_server.questions == ["_sipstack-verify.northwind.example.com"]
    assert [event.subject for event in _audit(engine, who, "brand.domain_verified")] == [
        "northwind.example.com"
    ]


def test_the_record_among_others_still_verifies(engine, dns_server: DnsServer) -> None:
    who = member(engine)
    added = _add(engine, who)
    row = _domain(engine, added.domain_id)
    dns_server.records[verification_name(row.domain)] = [
        "v=spf1 -all",
        verification_value(row.verification_token),
    ]
    assert _check(engine, who, added.domain_id).verified


def test_a_wrong_value_leaves_it_pending_and_says_what_was_found(
    engine, dns_server: DnsServer
) -> None:
    who = member(engine)
    added = _add(engine, who)
    _publish(dns_server, engine, added.domain_id, "sipstack-verification=someone-elses")

    checked = _check(engine, who, added.domain_id)

    assert not checked.verified
    row = _domain(engine, added.domain_id)
    assert row.verified_at is None and row.last_checked_at == NOW
    assert row.last_check == (
        "The TXT record at _sipstack-verify.northwind.example.com holds "
        '"sipstack-verification=someone-elses", not the value shown here: correct it, then '
        "check again."
    )
    assert _audit(engine, who, "brand.domain_verified") == []


def test_nothing_published_says_so(engine, dns_server: DnsServer) -> None:
    who = member(engine)
    added = _add(engine, who)
    checked = _check(engine, who, added.domain_id)
    assert not checked.verified
    assert checked.found.startswith(
        "Nothing is published at _sipstack-verify.northwind.example.com yet"
    )


def test_a_name_without_txt_records_says_so(engine, dns_server: DnsServer) -> None:
    who = member(engine)
    added = _add(engine, who)
    dns_server.empty.add("_sipstack-verify.northwind.example.com")
    checked = _check(engine, who, added.domain_id)
    assert not checked.verified
    assert checked.found == (
        "_sipstack-verify.northwind.example.com exists but holds no TXT record: add the TXT record."
    )


def test_no_answer_in_time_says_so_and_stays_pending(engine, dns_server: DnsServer) -> None:
    who = member(engine)
    added = _add(engine, who)
    dns_server.silent.add("_sipstack-verify.northwind.example.com")
    checked = _check(engine, who, added.domain_id)
    assert not checked.verified
    assert checked.found == (
        "The domain's DNS servers did not answer in time. Check again in a few minutes."
    )
    assert _domain(engine, added.domain_id).last_check == checked.found


def test_a_record_taken_down_makes_a_verified_domain_pending_again(
    engine, dns_server: DnsServer
) -> None:
    who = member(engine)
    added = _add(engine, who)
    _publish(dns_server, engine, added.domain_id)
    _check(engine, who, added.domain_id)
    dns_server.records.clear()

    later = NOW + timedelta(days=2)
    checked = _check(engine, who, added.domain_id, now=later)

    assert not checked.verified
    row = _domain(engine, added.domain_id)
    assert row.verified_at is None and row.last_checked_at == later
    assert [event.subject for event in _audit(engine, who, "brand.domain_unverified")] == [
        "northwind.example.com"
    ]


@pytest.mark.parametrize("trouble", ["silent", "failing"])
def test_no_answer_leaves_a_verified_domain_verified_and_says_so(
    engine, dns_server: DnsServer, trouble: str
) -> None:
    who = member(engine)
    register(engine, who, "+14169671111", now=NOW)
    added = _add(engine, who)
    _publish(dns_server, engine, added.domain_id)
    _check(engine, who, added.domain_id)
    carrier = _carrier(engine, who)
    getattr(dns_server, trouble).add("_sipstack-verify.northwind.example.com")

    later = NOW + timedelta(days=2)
    checked = _check(engine, who, added.domain_id, now=later)

    assert checked.verified
    assert checked.found.endswith(
        "It stays verified until a check that gets an answer no longer finds the record."
    )
    row = _domain(engine, added.domain_id)
    assert (row.verified_at, row.last_checked_at, row.last_check) == (NOW, later, checked.found)
    assert _audit(engine, who, "brand.domain_unverified") == []
    assert _carrier(engine, who) == carrier


def test_another_organizations_domain_is_not_found(engine, dns_server: DnsServer) -> None:
    holder = member(engine)
    added = _add(engine, holder)
    stranger = member(engine)
    with pytest.raises(NotFound):
        _check(engine, stranger, added.domain_id)
    with pytest.raises(NotFound), db.write_session(engine) as session:
        company.remove_domain(session, stranger.actor, added.domain_id)
    assert dns_server.questions == []
    assert count(engine, BrandDomain, BrandDomain.id == added.domain_id) == 1


def test_a_domain_is_removed_and_audited(engine) -> None:
    who = member(engine)
    added = _add(engine, who)
    with db.write_session(engine) as session:
        assert company.remove_domain(session, who.actor, added.domain_id) == (
            "northwind.example.com"
        )
    assert count(engine, BrandDomain, BrandDomain.id == added.domain_id) == 0
    [removed] = _audit(engine, who, "brand.domain_removed")
    assert (removed.subject, removed.detail) == ("northwind.example.com", "it was pending")
    # The domain is free again, for anyone.
    assert _add(engine, member(engine)).outcome is Added.ADDED


# --- The carrier score -----------------------------------------------------------------------


def _carrier(engine, who: Member) -> int | None:
    return fetch(engine, Organization, who.organization_id).carrier_score_millis


def test_complete_details_and_a_verified_domain_each_raise_the_carrier_score(
    engine, dns_server: DnsServer
) -> None:
    who = member(engine)
    register(engine, who, "+14169671111", now=NOW)
    start = _carrier(engine, who)
    assert start is not None

    _save(engine, who)  # the factory's details lacked a postal code
    assert _carrier(engine, who) == start + 250

    added = _add(engine, who)
    _publish(dns_server, engine, added.domain_id)
    _check(engine, who, added.domain_id)
    assert _carrier(engine, who) == start + 500

    with db.write_session(engine) as session:
        company.remove_domain(session, who.actor, added.domain_id, now=NOW)
    assert _carrier(engine, who) == start + 250

    with db.read_session(engine) as session:
        explained = whois.carrier_score_explained(session, who.actor, now=NOW)
    assert explained is not None
    factors = {factor.key: factor.effect_millis for factor in explained.factors}
    assert (factors["company"], factors["brand"]) == (250, 0)
    assert sum(factors.values()) == explained.millis == start + 250
    suggested = [text.split(" (")[0] for text in explained.raise_by]
    assert "Verify a brand domain with its DNS record" in suggested
    assert "Complete your company's legal details" not in suggested
