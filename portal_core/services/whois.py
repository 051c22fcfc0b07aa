"""Whois Profiles: the numbers an organization registers, and what it says about them
(docs/product.md, Whois Profiles).

A profile's form has three tabs (``rules.profiles``): every field is checked at once and each
problem names its tab and field; nothing is written unless all of them pass. The number is
parsed in any common form with the organization's country as the default region and stored
as E.164; it must be a number the metadata knows as allocated (an impossible number can be
looked up, never registered). The number itself never changes once registered: a profile of
another number is a new registration.

Every save recomputes the number's stored score and the organization's carrier score (its
completeness and verified numbers count), and writes a product event for Logs and an audit
event. Registrations, edits and deletions are free.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pycountry
from sqlalchemy import delete as sa_delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core.errors import NotFound, ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.products import (
    CallPurpose,
    EventAction,
    EventProduct,
    NumberScore,
    ProfileStatus,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries import whois as whois_queries
from portal_core.rules import profiles
from portal_core.rules.numbers import PROFILE_LINE_TYPES, NotAPhoneNumber, parse_number
from portal_core.services import audit, carrier_scores, ownership, product_events, scores
from portal_core.services.validation import email_problem, normalize_email

_VOLUME = re.compile(r"^\d{1,3}(?:[ ,]\d{3})*$|^\d+$")


@dataclass(frozen=True)
class ProfileForm:
    """A profile as typed in the form (or a CSV row): text, checked by ``clean``."""

    number: str = ""
    caller_name: str = ""
    business_name: str = ""
    line_type: str = ""
    call_purpose: str = ""
    address_line: str = ""
    city: str = ""
    province: str = ""
    postal_code: str = ""
    country: str = ""
    website: str = ""
    email: str = ""
    description: str = ""
    social_links: str = ""
    monthly_call_volume: str = ""
    private: bool = False

    @classmethod
    def of(cls, profile: WhoisProfile) -> ProfileForm:
        """The form filled with a stored profile (for editing, and the CSV export)."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            value = getattr(profile, field.name)
            values[field.name] = value if isinstance(value, bool) else _text(value)
        return cls(**values)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def clean(form: ProfileForm, *, default_region: str | None) -> dict[str, Any]:
    """The stored values of ``form``, or ``ValidationFailed`` naming every field that is
    wrong (keyed by field; each message names its tab and label)."""
    problems: dict[str, str] = {}
    values: dict[str, Any] = {"private": bool(form.private)}

    def problem(key: str, message: str) -> None:
        problems[key] = profiles.BY_KEY[key].problem(message)

    number = form.number.strip()
    if not number:
        problem("number", "enter the phone number, such as +1 416 555 0123.")
    else:
        try:
            facts = parse_number(number, default_region=default_region, field="number")
        except NotAPhoneNumber as refused:
            problem("number", refused.reason)
        else:
            if not facts.valid:
                problem(
                    "number",
                    f"{facts.international} is not an allocated phone number; check its digits.",
                )
            values["number"] = facts.e164

    for key in (
        "caller_name",
        "business_name",
        "address_line",
        "city",
        "province",
        "postal_code",
        "description",
    ):
        field = profiles.BY_KEY[key]
        raw = getattr(form, key)
        # One line each, spaces as typed but runs of them made one; a description keeps its lines.
        value = raw.strip() if key == "description" else " ".join(raw.split())
        if field.required and not value:
            problem(key, "required.")
        elif field.max_length is not None and len(value) > field.max_length:
            problem(key, f"at most {field.max_length} characters (this has {len(value)}).")
        elif any(ord(char) < 32 and char not in "\n\t" for char in value):
            problem(key, "contains characters that are not allowed.")
        else:
            values[key] = value or None

    line_type = form.line_type.strip()
    if not line_type:
        problem("line_type", "required.")
    elif line_type not in {choice.value for choice in PROFILE_LINE_TYPES}:
        problem("line_type", "choose one of " + ", ".join(t.label for t in PROFILE_LINE_TYPES))
    else:
        values["line_type"] = line_type

    purpose = form.call_purpose.strip()
    if purpose and purpose not in {choice.value for choice in CallPurpose}:
        problem("call_purpose", "choose one of the listed purposes.")
    values["call_purpose"] = purpose or None

    country = form.country.strip().upper()
    if country and pycountry.countries.get(alpha_2=country) is None:
        problem("country", "choose a country from the list.")
    values["country"] = country or None

    website = form.website.strip()
    if website:
        url = _url(website)
        if url is None:
            problem("website", "enter a web address, such as https://example.com.")
        elif len(url) > 200:
            problem("website", "at most 200 characters.")
        values["website"] = url
    else:
        values["website"] = None

    email = form.email.strip()
    if email:
        wrong = email_problem(email)
        if wrong:
            problem("email", wrong[0].lower() + wrong[1:])
        values["email"] = normalize_email(email)
    else:
        values["email"] = None

    links = [line.strip() for line in form.social_links.splitlines() if line.strip()]
    cleaned_links = [_url(link) for link in links]
    if len(links) > profiles.MAX_SOCIAL_LINKS:
        problem("social_links", f"at most {profiles.MAX_SOCIAL_LINKS} addresses, one per line.")
    elif any(link is None for link in cleaned_links):
        bad = links[cleaned_links.index(None)]
        problem("social_links", f"“{bad}” is not a web address; one address per line.")
    elif len("\n".join(str(link) for link in cleaned_links)) > 1000:
        problem("social_links", "at most 1,000 characters in all.")
    values["social_links"] = "\n".join(str(link) for link in cleaned_links) or None

    volume = form.monthly_call_volume.strip()
    if volume:
        if not _VOLUME.match(volume):
            problem("monthly_call_volume", "a whole number of calls, such as 12,000.")
        else:
            calls = int(re.sub(r"[ ,]", "", volume))
            if calls > profiles.MAX_MONTHLY_CALL_VOLUME:
                problem("monthly_call_volume", "at most 1,000,000,000 calls a month.")
            values["monthly_call_volume"] = calls
    else:
        values["monthly_call_volume"] = None

    if problems:
        ordered = {
            field.key: problems[field.key] for field in profiles.FIELDS if field.key in problems
        }
        raise ValidationFailed(ordered)
    return values


def _url(raw: str) -> str | None:
    """An http(s) address with a real host name; ``example.com/page`` gets https://."""
    candidate = raw if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw) else f"https://{raw}"
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme.lower() not in {"http", "https"} or "." not in host or " " in candidate:
        return None
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty label ("a..b") or one over 63 characters: no domain name
        return None
    if not re.fullmatch(r"[A-Za-z0-9.-]+|xn--[A-Za-z0-9.-]+", ascii_host):
        return None
    return candidate


def default_region(session: Session, organization_id: uuid.UUID) -> str | None:
    """Where a number typed without its country code is read from: the organization's country."""
    organization = session.get(Organization, organization_id)
    return organization.country if organization else None


@dataclass(frozen=True)
class Registered:
    profile: WhoisProfile
    # Another organization holds the number: the profile waits, pending, for its ownership
    # to be decided (an ownership dispute is open).
    disputed: bool = False


def register(
    session: Session, actor: Actor, form: ProfileForm, *, now: datetime | None = None
) -> WhoisProfile:
    """Register a number of the organization's (free). A number the organization already
    registered is refused, pointing at its profile."""
    require(actor, Capability.WHOIS_WRITE)
    organization_id = require_organization(actor)
    now = now or utcnow()
    values = clean(form, default_region=default_region(session, organization_id))
    return save_registration(session, actor, values, now=now).profile


def save_registration(
    session: Session,
    actor: Actor,
    values: dict[str, Any],
    *,
    now: datetime,
    refresh_carrier: bool = True,
) -> Registered:
    """Register the ``clean`` values of a form (or of an imported row).

    ``refresh_carrier=False`` leaves the organization's carrier score to the caller, who
    must refresh it (``carrier_scores.refresh``) before its unit of work ends: an import
    refreshes it once after its last row instead of once per row, each of which would
    rescore every number of the organization."""
    require(actor, Capability.WHOIS_WRITE)
    organization_id = require_organization(actor)
    existing = session.exec(
        select(WhoisProfile).where(
            col(WhoisProfile.organization_id) == organization_id,
            col(WhoisProfile.number) == values["number"],
        )
    ).first()
    if existing is not None:
        raise ValidationFailed(
            {
                "number": profiles.BY_KEY["number"].problem(
                    "already in your Whois Profiles: edit its profile instead."
                )
            }
        )
    profile = WhoisProfile(
        organization_id=organization_id,
        created_by_user_id=actor.user_id,
        status=ProfileStatus.ACTIVE,
        created_at=now,
        updated_at=now,
        **values,
    )
    profile.completeness_permille = profiles.completeness(profile).permille
    holder = _holder(session, values["number"])
    if holder is None:
        try:
            # A savepoint: another organization registering the same number at the same
            # moment makes this INSERT fail on the one-owner index, and then it is theirs.
            with session.begin_nested():
                session.add(profile)
                session.flush()
        except IntegrityError:
            session.expunge(profile)
            holder = _holder(session, values["number"])
            if holder is None:
                raise
            profile = WhoisProfile.model_validate(profile.model_dump())
    if holder is not None:
        profile.status = ProfileStatus.PENDING
        session.add(profile)
        session.flush()
        ownership.open_dispute(session, actor, profile, holder, now=now)
        _after_change(session, actor, profile, EventAction.REGISTRATION, now, refresh_carrier)
        audit.record(
            session,
            "whois.registered",
            actor=actor,
            subject=profile.number,
            detail="pending: disputed",
        )
        return Registered(profile, disputed=True)
    _after_change(session, actor, profile, EventAction.REGISTRATION, now, refresh_carrier)
    audit.record(session, "whois.registered", actor=actor, subject=profile.number)
    return Registered(profile)


def _holder(session: Session, number: str) -> WhoisProfile | None:
    """The number's active profile: its owner's."""
    return session.exec(
        select(WhoisProfile).where(
            col(WhoisProfile.number) == number, col(WhoisProfile.status) == ProfileStatus.ACTIVE
        )
    ).first()


def update(
    session: Session,
    actor: Actor,
    profile_id: uuid.UUID,
    form: ProfileForm,
    *,
    now: datetime | None = None,
) -> WhoisProfile:
    """Save a profile's fields (its number stays what it is)."""
    require(actor, Capability.WHOIS_WRITE)
    profile = get(session, actor, profile_id)
    values = clean(
        ProfileForm(**{**_form_values(form), "number": profile.number}),
        default_region=None,
    )
    return save_update(session, actor, profile, values, now=now or utcnow())


def save_update(
    session: Session,
    actor: Actor,
    profile: WhoisProfile,
    values: dict[str, Any],
    *,
    now: datetime,
    refresh_carrier: bool = True,
) -> WhoisProfile:
    """Save the ``clean`` values over one of the organization's profiles (its number stays).
    ``refresh_carrier``: as for ``save_registration``."""
    require(actor, Capability.WHOIS_WRITE)
    if profile.organization_id != require_organization(actor):
        raise NotFound("No such profile in your Whois Profiles.")
    changed = sorted(
        key for key, value in values.items() if key != "number" and getattr(profile, key) != value
    )
    for key, value in values.items():
        if key != "number":
            setattr(profile, key, value)
    profile.completeness_permille = profiles.completeness(profile).permille
    profile.updated_at = now
    session.add(profile)
    session.flush()
    _after_change(session, actor, profile, EventAction.EDIT, now, refresh_carrier)
    audit.record(
        session,
        "whois.edited",
        actor=actor,
        subject=profile.number,
        detail=("changed " + ", ".join(changed)) if changed else "saved unchanged",
    )
    return profile


def _form_values(form: ProfileForm) -> dict[str, Any]:
    return {field.name: getattr(form, field.name) for field in fields(form)}


def delete(
    session: Session, actor: Actor, profile_id: uuid.UUID, *, now: datetime | None = None
) -> str:
    """Remove a profile and its score history; the number is free to register again.
    Returns the number."""
    require(actor, Capability.WHOIS_WRITE)
    profile = get(session, actor, profile_id)
    now = now or utcnow()
    number, organization_id = profile.number, profile.organization_id
    ownership.remove_profile(session, actor, profile, now=now)
    session.execute(
        sa_delete(NumberScore).where(
            col(NumberScore.organization_id) == organization_id, col(NumberScore.number) == number
        )
    )
    connection = session.connection()
    product_events.record(
        connection,
        product_events.Event(
            organization_id=organization_id,
            user_id=actor.user_id,
            api_token_id=actor.api_token_id,
            product=EventProduct.WHOIS,
            action=EventAction.DELETION,
            number=number,
            result="Profile deleted",
        ),
        now=now,
    )
    carrier_scores.refresh(connection, organization_id, now=now)
    audit.record(session, "whois.deleted", actor=actor, subject=number)
    return number


def get(session: Session, actor: Actor, profile_id: uuid.UUID) -> WhoisProfile:
    """One of the organization's profiles; another organization's is not found."""
    return whois_queries.get_profile(session, actor, profile_id)


def _after_change(
    session: Session,
    actor: Actor,
    profile: WhoisProfile,
    action: EventAction,
    now: datetime,
    refresh_carrier: bool = True,
) -> None:
    """What every save does: the carrier score (it weighs on the number's score), the
    number's score, and the event for Logs. A deferred carrier score is still right in the
    end: when the caller's one refresh moves it, that refresh rescores every number."""
    connection = session.connection()
    if refresh_carrier:
        carrier_scores.refresh(connection, profile.organization_id, now=now)
    pending = profile.status == ProfileStatus.PENDING
    # A pending profile is unscored: the number's score is its holder's business.
    refreshed = None if pending else scores.refresh(connection, profile.number, now=now)
    session.refresh(profile)
    product_events.record(
        connection,
        product_events.Event(
            organization_id=profile.organization_id,
            user_id=actor.user_id,
            api_token_id=actor.api_token_id,
            product=EventProduct.WHOIS,
            action=action,
            number=profile.number,
            result=f"{profile.caller_name} · {profile.completeness_permille // 10}% complete"
            + (" · pending: disputed" if pending else ""),
            score_millis=refreshed.after_millis if refreshed else None,
        ),
        now=now,
    )
