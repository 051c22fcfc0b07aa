"""The scheduled re-check of brand domains (``brand.domains_check``), against a DNS server on
loopback: a verified domain whose record is still there stays verified; one whose record is
gone becomes pending, lowers the carrier score and tells the owners and admins once however
many runs follow; a pending domain whose record was published later is verified without
anyone pressing Check now; no answer from DNS (a timeout, SERVFAIL) changes nothing; what is
not due is not asked; a run checks a bounded batch, stalest first; and a domain removed or
checked by someone else while DNS was asked keeps what it has."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, delete, select

from portal_core import db
from portal_core.models.accounts import BrandDomain, Organization, OrganizationStatus, Role
from portal_core.models.audit import AuditEvent
from portal_core.models.notices import Notice, NoticeKind
from portal_core.queries import notices as notice_queries
from portal_core.rules.company import verification_name, verification_value
from portal_core.services import company
from portal_core.services.company import Recheck
from portal_core.services.jobs import JOBS, Every, check_domains
from tests.services.products_support import Member, member, register
from tests.services.support import body_of, fetch, mail_to
from tests.support.dns_server import DnsServer

# After the members are made (a notice is shown to those who had joined when it was posted).
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
DAY = timedelta(days=1)
NAME = "_sipstack-verify.northwind.example.com"


def _member(engine, **kwargs) -> Member:
    """A member of a new organization without the factory's pending domain, so that a run
    asks only about the domains a test adds."""
    who = member(engine, **kwargs)
    with db.write_session(engine) as session:
        session.execute(
            delete(BrandDomain).where(col(BrandDomain.organization_id) == who.organization_id)
        )
    return who


def _add(engine, who: Member, domain: str = "northwind.example.com", *, now=NOW):
    with db.write_session(engine) as session:
        return company.add_domain(session, who.actor, domain, now=now).domain_id


def _publish(server: DnsServer, engine, domain_id) -> None:
    row = fetch(engine, BrandDomain, domain_id)
    server.records[verification_name(row.domain)] = [verification_value(row.verification_token)]


def _verified(engine, server: DnsServer, who: Member, domain: str = "northwind.example.com"):
    """A domain added and verified by Check now at NOW."""
    domain_id = _add(engine, who, domain)
    _publish(server, engine, domain_id)
    assert company.check_domain(engine, who.actor, domain_id, now=NOW).verified
    return domain_id


def _notices(engine) -> list[Notice]:
    with db.read_session(engine) as session:
        return list(
            session.exec(
                select(Notice).where(col(Notice.kind) == NoticeKind.BRAND_DOMAIN_UNVERIFIED)
            ).all()
        )


def _carrier(engine, who: Member) -> int | None:
    return fetch(engine, Organization, who.organization_id).carrier_score_millis


def test_a_verified_domain_whose_record_is_there_stays_verified(
    engine, dns_server: DnsServer
) -> None:
    who = _member(engine)
    domain_id = _verified(engine, dns_server, who)

    later = NOW + DAY + timedelta(minutes=5)
    assert company.recheck_domains(engine, now=later) == Recheck(checked=1)

    row = fetch(engine, BrandDomain, domain_id)
    assert (row.verified_at, row.last_checked_at) == (NOW, later)
    assert row.last_check == f"Found the TXT record at {NAME}: the domain is verified."
    assert _notices(engine) == []


def test_a_record_taken_down_makes_the_domain_pending_and_tells_owners_and_admins_once(
    engine, dns_server: DnsServer, outbox_dir
) -> None:
    owner = _member(engine)
    admin = member(engine, role=Role.ADMIN, organization_id=owner.organization_id)
    viewer = member(engine, role=Role.VIEWER, organization_id=owner.organization_id)
    register(engine, owner, "+14169671111", now=NOW)
    domain_id = _verified(engine, dns_server, owner)
    carrier = _carrier(engine, owner)
    assert carrier is not None
    dns_server.records.clear()

    first = NOW + DAY + timedelta(minutes=5)
    assert company.recheck_domains(engine, now=first) == Recheck(checked=1, unverified=1)
    second = first + timedelta(hours=1)
    # Added within the week, the domain is pending and watched: asked again, told nothing new.
    assert company.recheck_domains(engine, now=second) == Recheck(checked=1)

    assert dns_server.questions.count(NAME) == 3  # Check now, then each run
    row = fetch(engine, BrandDomain, domain_id)
    assert (row.verified_at, row.last_checked_at) == (None, second)
    assert _carrier(engine, owner) == carrier - 250
    [notice] = _notices(engine)
    assert notice.title == "northwind.example.com is no longer verified"
    assert notice.link_page_id == "organization.brand"
    assert f"Nothing is published at {NAME} yet" in notice.body
    with db.read_session(engine) as session:
        seen = {
            who.actor.role: [item.id for item in notice_queries.latest(session, who.actor)]
            for who in (owner, admin, viewer)
        }
    assert seen == {Role.OWNER: [notice.id], Role.ADMIN: [notice.id], Role.VIEWER: []}
    for who in (owner, admin):
        [mail] = mail_to(outbox_dir, who.actor.email)
        assert mail["Subject"] == "SIPSTACK: northwind.example.com is no longer verified"
        assert "/brand" in body_of(mail)
    assert mail_to(outbox_dir, viewer.actor.email) == []
    with db.read_session(engine) as session:
        [audited] = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "brand.domain_unverified")
        ).all()
    assert (audited.organization_id, audited.actor_user_id) == (owner.organization_id, None)


def test_a_domain_verified_again_then_lost_again_is_told_again(
    engine, dns_server: DnsServer
) -> None:
    who = _member(engine)
    domain_id = _verified(engine, dns_server, who)
    dns_server.records.clear()
    company.recheck_domains(engine, now=NOW + DAY + timedelta(minutes=5))
    _publish(dns_server, engine, domain_id)
    company.recheck_domains(engine, now=NOW + DAY + timedelta(hours=1))
    assert fetch(engine, BrandDomain, domain_id).verified_at is not None
    dns_server.records.clear()

    company.recheck_domains(engine, now=NOW + 3 * DAY)

    assert len(_notices(engine)) == 2


def test_a_pending_domain_whose_record_is_published_later_is_verified_by_itself(
    engine, dns_server: DnsServer
) -> None:
    who = _member(engine)
    register(engine, who, "+14169671111", now=NOW)
    domain_id = _add(engine, who)
    carrier = _carrier(engine, who)
    assert carrier is not None
    assert company.recheck_domains(engine, now=NOW + timedelta(hours=1)) == Recheck(checked=1)
    _publish(dns_server, engine, domain_id)

    later = NOW + 3 * DAY
    assert company.recheck_domains(engine, now=later) == Recheck(checked=1, verified=1)

    row = fetch(engine, BrandDomain, domain_id)
    assert (row.verified_at, row.last_checked_at) == (later, later)
    assert _carrier(engine, who) == carrier + 250
    assert _notices(engine) == []


def test_a_domain_that_loses_its_record_long_after_it_was_added_is_watched_again(
    engine, dns_server: DnsServer
) -> None:
    """The week of watching starts when the domain becomes pending, whether it was just added
    or its record was found gone: a record put back is then seen by itself as well."""
    who = _member(engine)
    domain_id = _verified(engine, dns_server, who)
    dns_server.records.clear()
    lost_at = NOW + 30 * DAY
    assert company.recheck_domains(engine, now=lost_at) == Recheck(checked=1, unverified=1)
    _publish(dns_server, engine, domain_id)

    back = lost_at + timedelta(hours=2)
    assert company.recheck_domains(engine, now=back) == Recheck(checked=1, verified=1)
    row = fetch(engine, BrandDomain, domain_id)
    assert (row.verified_at, row.last_checked_at) == (back, back)


def test_a_pending_domain_is_watched_for_a_week_then_left_to_check_now(
    engine, dns_server: DnsServer
) -> None:
    who = _member(engine)
    domain_id = _add(engine, who)
    week = company.WATCH_PENDING_FOR
    assert company.recheck_domains(engine, now=NOW + week - timedelta(hours=1)).checked == 1
    _publish(dns_server, engine, domain_id)

    assert company.recheck_domains(engine, now=NOW + week + timedelta(hours=1)) == Recheck()
    assert fetch(engine, BrandDomain, domain_id).verified_at is None


@pytest.mark.parametrize("trouble", ["silent", "failing"])
def test_no_answer_from_dns_changes_nothing_and_says_what_was_found(
    engine, dns_server: DnsServer, trouble: str
) -> None:
    who = _member(engine)
    register(engine, who, "+14169671111", now=NOW)
    domain_id = _verified(engine, dns_server, who)
    carrier = _carrier(engine, who)
    getattr(dns_server, trouble).add(NAME)

    later = NOW + DAY + timedelta(minutes=5)
    assert company.recheck_domains(engine, now=later) == Recheck(checked=1, unanswered=1)

    row = fetch(engine, BrandDomain, domain_id)
    assert row.verified_at == NOW
    assert row.last_check is not None
    said = "did not answer in time" if trouble == "silent" else "refused or failed to answer"
    assert said in row.last_check
    assert row.last_check.endswith(
        "It stays verified until a check that gets an answer no longer finds the record."
    )
    assert _carrier(engine, who) == carrier
    assert _notices(engine) == []


def test_what_is_not_due_is_not_asked(engine, dns_server: DnsServer) -> None:
    who = _member(engine)
    _verified(engine, dns_server, who, "fresh.example.com")  # checked less than a day ago
    _add(engine, who, "old.example.com", now=NOW - 8 * DAY)  # pending for more than a week
    just_checked = _add(engine, who, "pressed.example.com")
    company.check_domain(engine, who.actor, just_checked, now=NOW + timedelta(hours=3))
    sleeping = _member(engine)
    _verified(engine, dns_server, sleeping, "sleeping.example.com")
    with db.write_session(engine) as session:
        organization = session.get_one(Organization, sleeping.organization_id)
        organization.status = OrganizationStatus.DEACTIVATED
        session.add(organization)
    dns_server.questions.clear()

    assert company.recheck_domains(engine, now=NOW + timedelta(hours=3, minutes=10)) == Recheck()
    assert dns_server.questions == []

    # A day on, the verified one is due, and the pending one checked by hand is due again.
    company.recheck_domains(engine, now=NOW + DAY + timedelta(minutes=5))
    assert sorted(dns_server.questions) == [
        "_sipstack-verify.fresh.example.com",
        "_sipstack-verify.pressed.example.com",
    ]


def test_a_run_checks_a_bounded_batch_the_stalest_first(engine, dns_server: DnsServer) -> None:
    who = _member(engine)
    _verified(engine, dns_server, who, "a.example.com")
    _add(engine, who, "b.example.com")  # never checked: first
    c = _add(engine, who, "c.example.com")
    company.check_domain(engine, who.actor, c, now=NOW + timedelta(hours=2))
    dns_server.questions.clear()

    later = NOW + DAY + timedelta(hours=3)
    assert company.recheck_domains(engine, now=later, batch=2) == Recheck(checked=2, left=1)
    assert sorted(dns_server.questions) == [
        "_sipstack-verify.a.example.com",
        "_sipstack-verify.b.example.com",
    ]
    dns_server.questions.clear()
    assert company.recheck_domains(engine, now=later, batch=2) == Recheck(checked=1)
    assert dns_server.questions == ["_sipstack-verify.c.example.com"]


def test_a_domain_removed_or_checked_while_dns_is_asked_keeps_what_it_has(
    engine, dns_server: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = _member(engine)
    removed = _verified(engine, dns_server, who, "removed.example.com")
    pressed = _verified(engine, dns_server, who, "pressed.example.com")
    dns_server.records.clear()
    asked = company.dns_txt.txt_records
    pressed_at = NOW + DAY

    asked_before: set[str] = set()
    one_at_a_time = threading.Lock()

    def meanwhile(name: str):  # noqa: ANN202 (the lookup's own type)
        found = asked(name)
        if name in asked_before:  # Check now's own lookup, after the run's
            return found
        asked_before.add(name)
        # One at a time: in-memory SQLite is one connection, which the lookups' threads share.
        with one_at_a_time:
            if name.endswith("removed.example.com"):
                with db.write_session(engine) as session:
                    company.remove_domain(session, who.actor, removed)
            else:
                _publish(dns_server, engine, pressed)
                company.check_domain(engine, who.actor, pressed, now=pressed_at)
        return found

    monkeypatch.setattr(company.dns_txt, "txt_records", meanwhile)

    done = company.recheck_domains(engine, now=NOW + DAY + timedelta(minutes=5))

    assert done == Recheck(checked=2, skipped=2)
    row = fetch(engine, BrandDomain, pressed)
    assert (row.verified_at, row.last_checked_at) == (NOW, pressed_at)
    assert _notices(engine) == []


def test_the_recheck_is_an_hourly_job_that_reports_in_a_sentence(
    engine, dns_server: DnsServer
) -> None:
    [job] = [job for job in JOBS if job.name == "brand.domains_check"]
    assert (job.title, job.schedule) == ("Brand domains re-checked", Every(minutes=60))
    who = _member(engine)
    _verified(engine, dns_server, who)
    dns_server.records.clear()

    report = check_domains(engine, NOW + DAY + timedelta(minutes=5))

    assert report.succeeded
    assert report.summary == (
        "1 brand domain checked: 0 verified, 1 no longer verified (their owners and admins "
        "told), 0 without an answer from DNS (left as they were), 0 changed meanwhile; 0 left "
        "for the next runs."
    )
