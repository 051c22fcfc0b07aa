"""Organization › Company and Organization › Brand: the legal details, the brand name and
the brand domains with their DNS verification (docs/product.md, Pages › Company; and
docs/product.md, Pages › Brand). The activation wizard's company and brand steps save
through these same calls.

Every change is audited with what it changed (``legal_name: "A" → "B"``); saving what is
already saved writes nothing. The company's details and its verified domains are two factors
of the carrier score, refreshed in the same unit of work as the change.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import pycountry
from sqlalchemy import ColumnElement, Engine, and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import db, dns_txt, emails
from portal_core.errors import NotFound, ValidationFailed
from portal_core.mail import queue_mail
from portal_core.models.accounts import BrandDomain, Organization, OrganizationStatus
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.members import members_who_may
from portal_core.rules.company import (
    COMPANY_FIELDS,
    COMPANY_UPDATED,
    COUNTRIES_WITH_PROVINCES,
    verification_name,
    verification_value,
)
from portal_core.services import accounts, audit, carrier_scores, in_force, notices
from portal_core.services.validation import domain_problem, normalize_domain, text_problem

BRAND_RENAMED = "brand.renamed"
DOMAIN_ADDED = "brand.domain_added"
DOMAIN_VERIFIED = "brand.domain_verified"
DOMAIN_UNVERIFIED = "brand.domain_unverified"
DOMAIN_REMOVED = "brand.domain_removed"
AUDIT_DETAIL_LIMIT = 500  # the audit log's detail column
MAX_DOMAINS = 20  # per organization: a brand's domains, not a registrar's list
DOMAIN_TAKEN = "That domain is already registered with SIPSTACK."


# --- Changes, as the audit log keeps them ------------------------------------------------------


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def describe(changes: list[Change] | tuple[Change, ...]) -> str:
    """``field: "before" → "after"`` for each change, within the audit log's 500 characters:
    when the values are too long to fit whole, each is cut to an equal share of the room."""
    if not changes:
        return ""

    def line(limit: int | None) -> str:
        def quoted(value: str) -> str:
            if limit is not None and len(value) > limit:
                value = value[: max(limit - 1, 0)] + "…"
            return f'"{value}"'

        return "; ".join(
            f"{change.field}: {quoted(change.before)} → {quoted(change.after)}"
            for change in changes
        )

    full = line(None)
    if len(full) <= AUDIT_DETAIL_LIMIT:
        return full
    overhead = len(line(0)) - 2 * len(changes)  # "…" counted once per value at limit 0
    limit = max((AUDIT_DETAIL_LIMIT - overhead) // (2 * len(changes)), 1)
    return line(limit)[:AUDIT_DETAIL_LIMIT]


def _changes(before: dict[str, str | None], after: dict[str, str | None]) -> list[Change]:
    return [
        Change(name, before[name] or "", after[name] or "")
        for name in after
        if (before[name] or "") != (after[name] or "")
    ]


# --- Company -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanyDetails:
    legal_name: str
    country: str
    province: str
    address_line: str
    city: str
    postal_code: str
    tax_id: str


def countries() -> list[tuple[str, str]]:
    """(ISO code, name) of every country, by name."""
    return sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda pair: pair[1])


def provinces(country: str) -> list[tuple[str, str]]:
    """(code, name) of a country's provinces or states, for the countries that need one."""
    if country not in COUNTRIES_WITH_PROVINCES:
        return []
    return sorted(
        (
            (sub.code.split("-", 1)[1], sub.name)
            for sub in pycountry.subdivisions.get(country_code=country) or []
            if sub.type in {"Province", "Territory", "State", "District"}
        ),
        key=lambda pair: pair[1],
    )


_POSTAL_CODE = {
    "CA": (re.compile(r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$"), "a Canadian postal code such as K1A 0B1"),
    "US": (re.compile(r"^\d{5}(-\d{4})?$"), "a ZIP code such as 94105"),
}


def company_errors(details: CompanyDetails) -> dict[str, str]:
    """Each field's problem, by field (empty: the details can be saved)."""
    errors: dict[str, str] = {}
    checks = {
        "legal_name": text_problem(
            details.legal_name, label="your company's legal name", max_length=200
        ),
        "address_line": text_problem(details.address_line, label="the address", max_length=200),
        "city": text_problem(details.city, label="the city", max_length=100),
        "postal_code": text_problem(
            details.postal_code, label="the postal code", max_length=20, required=False
        ),
        "tax_id": text_problem(details.tax_id, label="the tax id", max_length=40, required=False),
    }
    errors.update({field: problem for field, problem in checks.items() if problem})
    country = details.country.strip().upper()
    if pycountry.countries.get(alpha_2=country) is None:
        errors["country"] = "Choose your company's country."
    elif country in COUNTRIES_WITH_PROVINCES:
        codes = {code for code, _ in provinces(country)}
        if details.province.strip().upper() not in codes:
            errors["province"] = "Choose the province or state: it decides the taxes."
        pattern = _POSTAL_CODE.get(country)
        postal = details.postal_code.strip().upper()
        if pattern and "postal_code" not in errors and not pattern[0].match(postal):
            errors["postal_code"] = f"Enter {pattern[1]}."
    return errors


def _normalized(details: CompanyDetails) -> dict[str, str | None]:
    country = details.country.strip().upper()
    return {
        "legal_name": details.legal_name.strip(),
        "country": country,
        "province": details.province.strip().upper()
        if country in COUNTRIES_WITH_PROVINCES
        else None,
        "address_line": details.address_line.strip(),
        "city": details.city.strip(),
        "postal_code": details.postal_code.strip().upper() or None,
        "tax_id": details.tax_id.strip() or None,
    }


def company_details(organization: Organization) -> dict[str, str | None]:
    """The organization's legal details, by field (``rules.company.COMPANY_FIELDS``)."""
    return {name: getattr(organization, name) for name in COMPANY_FIELDS}


def save_company(
    session: Session, actor: Actor, details: CompanyDetails, *, now: datetime | None = None
) -> tuple[Change, ...]:
    """Save the company's legal details (the wizard's first step, and Organization ›
    Company); return what changed. Unchanged details write nothing at all.

    Invoices print, and tax by, the details in force at the end of their period
    (``in_force.record_billing_details``): a change applies to the invoice of the period
    that is running, and to every one after it."""
    require(actor, Capability.COMPANY_EDIT)
    errors = company_errors(details)
    if errors:
        raise ValidationFailed(errors)
    organization = accounts.organization_of(session, actor)
    after = _normalized(details)
    changes = _changes(company_details(organization), after)
    if not changes:
        return ()
    now = now or utcnow()
    for name, value in after.items():
        setattr(organization, name, value)
    organization.updated_at = now
    session.add(organization)
    in_force.record_billing_details(session, organization, at=now)
    audit.record(session, COMPANY_UPDATED, actor=actor, detail=describe(changes))
    session.flush()
    carrier_scores.refresh(session.connection(), organization.id, now=now)
    return tuple(changes)


# --- Brand ---------------------------------------------------------------------------------


def rename_brand(
    session: Session, actor: Actor, brand_name: str, *, now: datetime | None = None
) -> bool:
    """Set the brand name (empty clears it); False when it was already that."""
    require(actor, Capability.COMPANY_EDIT)
    if problem := text_problem(brand_name, label="the brand name", max_length=120, required=False):
        raise ValidationFailed({"brand_name": problem})
    organization = accounts.organization_of(session, actor)
    after = brand_name.strip() or None
    changes = _changes({"brand_name": organization.brand_name}, {"brand_name": after})
    if not changes:
        return False
    organization.brand_name = after
    organization.updated_at = now or utcnow()
    session.add(organization)
    audit.record(session, BRAND_RENAMED, actor=actor, detail=describe(changes))
    return True


class Added(StrEnum):
    ADDED = "added"
    ALREADY_ADDED = "already_added"  # the organization had it: nothing changed


@dataclass(frozen=True)
class AddedDomain:
    outcome: Added
    domain: str
    domain_id: uuid.UUID


def add_domain(
    session: Session, actor: Actor, domain: str, *, now: datetime | None = None
) -> AddedDomain:
    """Register a brand domain, pending until its DNS record is checked. A domain another
    organization registered is refused without saying whose it is."""
    require(actor, Capability.COMPANY_EDIT)
    if problem := domain_problem(domain):
        raise ValidationFailed({"domain": problem})
    organization = accounts.organization_of(session, actor)
    normalized = normalize_domain(domain)
    existing = session.exec(select(BrandDomain).where(BrandDomain.domain == normalized)).first()
    if existing is not None:
        if existing.organization_id == organization.id:
            return AddedDomain(Added.ALREADY_ADDED, normalized, existing.id)
        raise ValidationFailed({"domain": DOMAIN_TAKEN})
    held = session.exec(
        select(func.count())
        .select_from(BrandDomain)
        .where(BrandDomain.organization_id == organization.id)
    ).one()
    if held >= MAX_DOMAINS:
        raise ValidationFailed(
            {"domain": f"Your organization has {MAX_DOMAINS} domains: remove one to add another."}
        )
    now = now or utcnow()
    added = BrandDomain(
        organization_id=organization.id, domain=normalized, created_at=now, pending_since=now
    )
    try:
        with session.begin_nested():
            session.add(added)
            session.flush()
    except IntegrityError:
        # Another organization registered it a moment ago, in another transaction.
        raise ValidationFailed({"domain": DOMAIN_TAKEN}) from None
    audit.record(session, DOMAIN_ADDED, actor=actor, subject=normalized)
    return AddedDomain(Added.ADDED, normalized, added.id)


def add_brand_domain(
    session: Session,
    actor: Actor,
    domain: str,
    *,
    brand_name: str = "",
    now: datetime | None = None,
) -> AddedDomain:
    """The wizard's brand step: the brand name, when one is typed, and a domain (one the
    organization already has is simply kept)."""
    require(actor, Capability.COMPANY_EDIT)
    errors: dict[str, str] = {}
    if problem := domain_problem(domain):
        errors["domain"] = problem
    if problem := text_problem(brand_name, label="the brand name", max_length=120, required=False):
        errors["brand_name"] = problem
    if errors:
        raise ValidationFailed(errors)
    added = add_domain(session, actor, domain, now=now)
    if brand_name.strip():
        rename_brand(session, actor, brand_name, now=now)
    return added


@dataclass(frozen=True)
class DomainCheck:
    domain: str
    verified: bool
    found: str  # what the check found, in the partner's words


def check_domain(
    engine: Engine, actor: Actor, domain_id: uuid.UUID, *, now: datetime | None = None
) -> DomainCheck:
    """Look the domain's verification record up in DNS now, and keep what was found.

    The lookup runs between two units of work, never inside one: a DNS server that takes its
    time holds no database write open. The domain is verified while a TXT record at its
    name holds exactly its value, and pending again when a later check no longer finds it; a
    check that gets no answer (a timeout, a failing server) knows nothing of the record and
    changes neither."""
    require(actor, Capability.COMPANY_EDIT)
    with db.read_session(engine) as session:
        domain = _domain_of(session, actor, domain_id)
        name = verification_name(domain.domain)
        value = verification_value(domain.verification_token)
    verdict = _verdict(dns_txt.txt_records(name), name=name, value=value)
    with db.write_session(engine) as session:
        domain = _domain_of(session, actor, domain_id)
        return _record_check(session, domain, verdict, actor=actor, now=now or utcnow())


_FOUND_LIMIT = 160  # of the wrong values quoted back: enough to see what is there
_STAYS_VERIFIED = "It stays verified until a check that gets an answer no longer finds the record."


@dataclass(frozen=True)
class _Verdict:
    published: bool | None  # whether the record is there; None: DNS gave no answer
    found: str  # what the check found, in the partner's words


def _verdict(lookup: dns_txt.TxtLookup, *, name: str, value: str) -> _Verdict:
    match lookup.outcome:
        case dns_txt.Outcome.RECORDS if value in lookup.values:
            return _Verdict(True, f"Found the TXT record at {name}: the domain is verified.")
        case dns_txt.Outcome.RECORDS:
            shown = ", ".join(f'"{found}"' for found in lookup.values)
            if len(shown) > _FOUND_LIMIT:
                shown = shown[: _FOUND_LIMIT - 1] + "…"
            return _Verdict(
                False,
                f"The TXT record at {name} holds {shown}, not the value shown here: "
                "correct it, then check again.",
            )
        case dns_txt.Outcome.NO_SUCH_NAME:
            return _Verdict(
                False,
                f"Nothing is published at {name} yet: add the TXT record. A new record can "
                "take an hour or more to be seen.",
            )
        case dns_txt.Outcome.NO_TXT:
            return _Verdict(False, f"{name} exists but holds no TXT record: add the TXT record.")
        case dns_txt.Outcome.TIMEOUT:
            return _Verdict(
                None,
                "The domain's DNS servers did not answer in time. Check again in a few minutes.",
            )
        case _:
            return _Verdict(
                None,
                "The domain's DNS servers refused or failed to answer. Check that its DNS is "
                "working, then check again.",
            )


def _record_check(
    session: Session,
    domain: BrandDomain,
    verdict: _Verdict,
    *,
    actor: Actor | None,
    now: datetime,
) -> DomainCheck:
    """Keep a check's finding on ``domain``; ``actor`` is None for the scheduled re-check."""
    was_verified = domain.verified_at is not None
    verified = was_verified if verdict.published is None else verdict.published
    found = verdict.found
    if verdict.published is None and was_verified:
        found = f"{found} {_STAYS_VERIFIED}"
    domain.last_checked_at = now
    domain.last_check = found[:500]
    if verified and not was_verified:
        domain.verified_at = now
        domain.pending_since = None
        audit.record(
            session,
            DOMAIN_VERIFIED,
            actor=actor,
            organization_id=domain.organization_id,
            subject=domain.domain,
        )
    elif was_verified and not verified:
        domain.verified_at = None
        domain.pending_since = now
        audit.record(
            session,
            DOMAIN_UNVERIFIED,
            actor=actor,
            organization_id=domain.organization_id,
            subject=domain.domain,
            detail=found,
        )
    session.add(domain)
    if verified != was_verified:
        session.flush()
        carrier_scores.refresh(session.connection(), domain.organization_id, now=now)
    return DomainCheck(domain.domain, verified, found)


def remove_domain(
    session: Session, actor: Actor, domain_id: uuid.UUID, *, now: datetime | None = None
) -> str:
    """Remove one of the organization's brand domains; return its name."""
    require(actor, Capability.COMPANY_EDIT)
    domain = _domain_of(session, actor, domain_id)
    name, was_verified = domain.domain, domain.verified_at is not None
    session.delete(domain)
    audit.record(
        session,
        DOMAIN_REMOVED,
        actor=actor,
        subject=name,
        detail="it was verified" if was_verified else "it was pending",
    )
    if was_verified:
        session.flush()
        carrier_scores.refresh(session.connection(), domain.organization_id, now=now or utcnow())
    return name


# --- The scheduled re-check ------------------------------------------------------------------

# A verified domain is re-checked once its last check is a day old: a record taken down is
# noticed within about a day, at one DNS question per domain a day.
RECHECK_VERIFIED_AFTER = timedelta(days=1)
# A pending domain is watched for a week after it becomes pending, added or its record found
# gone (a partner publishes the record when their DNS host lets them, and should not have to
# come back to press Check now), at most once per run: the job runs hourly, and a check
# pressed in the last half hour is not repeated.
WATCH_PENDING_FOR = timedelta(days=7)
RECHECK_PENDING_AFTER = timedelta(minutes=30)
# Domains a run checks at most: the rest wait for the next run, stalest first. With 5 s of DNS
# timeout and 8 questions in flight, a run of domains that all time out lasts about a minute.
RECHECK_BATCH = 100
_LOOKUPS_AT_ONCE = 8


@dataclass(frozen=True)
class Recheck:
    """What one run of the re-check did."""

    checked: int = 0
    verified: int = 0  # pending domains whose record is now found
    unverified: int = 0  # verified domains whose record is gone: pending, their owners told
    unanswered: int = 0  # DNS gave no answer: left as they were
    skipped: int = 0  # removed, or checked by someone else, while DNS was asked
    left: int = 0  # due beyond this run's batch: for the next runs


@dataclass(frozen=True)
class _Due:
    id: uuid.UUID
    name: str  # where the record is published
    value: str  # what it must hold
    last_checked_at: datetime | None
    verified_at: datetime | None


def recheck_domains(
    engine: Engine, *, now: datetime | None = None, batch: int = RECHECK_BATCH
) -> Recheck:
    """Ask DNS again about the domains that are due (the scheduler's ``brand.domains_check``):
    verified ones last checked a day ago or more, and those pending for less than a week.

    As ``check_domain`` does, DNS is asked between units of work, never inside one, and each
    domain's finding is kept in a unit of work of its own. A domain removed or checked by
    someone else meanwhile keeps what it has. A verified domain whose record is gone becomes
    pending, and its organization's owners and admins get a notice and an e-mail, once: the
    next runs find it pending already. No answer from DNS changes nothing."""
    now = now or utcnow()
    with db.read_session(engine) as session:
        due_rows = session.exec(
            select(BrandDomain)
            .join(Organization, col(Organization.id) == col(BrandDomain.organization_id))
            .where(_due(now), col(Organization.status) == OrganizationStatus.ACTIVE)
            .order_by(col(BrandDomain.last_checked_at).asc().nulls_first(), col(BrandDomain.id))
            .limit(batch)
        ).all()
        due = [
            _Due(
                row.id,
                verification_name(row.domain),
                verification_value(row.verification_token),
                row.last_checked_at,
                row.verified_at,
            )
            for row in due_rows
        ]
        waiting = session.exec(
            select(func.count())
            .select_from(BrandDomain)
            .join(Organization, col(Organization.id) == col(BrandDomain.organization_id))
            .where(_due(now), col(Organization.status) == OrganizationStatus.ACTIVE)
        ).one()
    if not due:
        return Recheck(left=max(waiting - len(due), 0))
    with ThreadPoolExecutor(max_workers=min(_LOOKUPS_AT_ONCE, len(due))) as pool:
        lookups = list(pool.map(dns_txt.txt_records, [domain.name for domain in due]))
    counts = {"verified": 0, "unverified": 0, "unanswered": 0, "skipped": 0}
    for domain, lookup in zip(due, lookups, strict=True):
        verdict = _verdict(lookup, name=domain.name, value=domain.value)
        with db.write_session(engine) as session:
            outcome = _keep_recheck(session, domain, verdict, now=now)
        if outcome:
            counts[outcome] += 1
    return Recheck(checked=len(due), left=max(waiting - len(due), 0), **counts)


def _due(now: datetime) -> ColumnElement[bool]:
    last_checked = col(BrandDomain.last_checked_at)
    verified = col(BrandDomain.verified_at)
    return or_(
        and_(
            verified.is_not(None),
            or_(last_checked.is_(None), last_checked <= now - RECHECK_VERIFIED_AFTER),
        ),
        and_(
            verified.is_(None),
            col(BrandDomain.pending_since) >= now - WATCH_PENDING_FOR,
            or_(last_checked.is_(None), last_checked <= now - RECHECK_PENDING_AFTER),
        ),
    )


def _keep_recheck(session: Session, due: _Due, verdict: _Verdict, *, now: datetime) -> str | None:
    """Keep one domain's finding; say which count it adds to (None: checked, unchanged)."""
    # Locked, so that a Check now committing meanwhile is seen here rather than overwritten.
    domain = session.exec(
        select(BrandDomain).where(col(BrandDomain.id) == due.id).with_for_update()
    ).first()
    if domain is None or (domain.last_checked_at, domain.verified_at) != (
        due.last_checked_at,
        due.verified_at,
    ):
        return "skipped"
    lost = domain.verified_at
    checked = _record_check(session, domain, verdict, actor=None, now=now)
    if verdict.published is None:
        return "unanswered"
    if lost is not None and not checked.verified:
        _tell_unverified(session, domain, lost_verified_at=lost, found=checked.found, now=now)
        return "unverified"
    if lost is None and checked.verified:
        return "verified"
    return None


def _tell_unverified(
    session: Session, domain: BrandDomain, *, lost_verified_at: datetime, found: str, now: datetime
) -> None:
    """The owners and admins learn that a domain lost its verification: a notice in the bell
    and an e-mail each. The notice is keyed by the verification lost, so a domain verified
    again and lost again is told again, and a run repeated is not."""
    title = f"{domain.domain} is no longer verified"
    notices.post(
        session,
        organization_id=domain.organization_id,
        kind=NoticeKind.BRAND_DOMAIN_UNVERIFIED,
        title=title,
        body=(
            f"A scheduled check no longer finds the DNS record that verifies {domain.domain}: "
            f"{found} It is pending again, and no longer raises your carrier score. Publish "
            "its TXT record again, then press Check now in Organization › Brand."
        ),
        dedupe_key=f"brand-domain-unverified:{domain.id}:{lost_verified_at.isoformat()}",
        capability=Capability.COMPANY_EDIT,
        link_page_id="organization.brand",
        now=now,
    )
    for member in members_who_may(session, domain.organization_id, Capability.COMPANY_EDIT):
        queue_mail(
            session,
            emails.brand_domain_unverified(
                member.email, member.name, domain=domain.domain, found=found
            ),
        )


# --- Loading -------------------------------------------------------------------------------


def _domain_of(session: Session, actor: Actor, domain_id: uuid.UUID) -> BrandDomain:
    """One of the organization's domains; another organization's is not found."""
    domain = session.get(BrandDomain, domain_id)
    if domain is None or domain.organization_id != require_organization(actor):
        raise NotFound("That domain was not found: it may have been removed.")
    return domain
