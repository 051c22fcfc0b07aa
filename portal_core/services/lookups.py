"""Smart CNAM lookups: one number looked up, priced, scored, explained and logged
(docs/product.md, Smart CNAM lookups and scores).

``look_up`` serves the portal's form and, later, the REST API. In one unit of work it

1. parses the source (and the destination) in any common form, the organization's country
   being the default region: text that is no phone number, an emergency number or a short
   code is refused with the reason, costs nothing and writes nothing;
2. for Source/Risk, checks that the destination is one of the organization's own active
   numbers (the score is of a call *to* it): otherwise a clear message and no charge;
3. scores the number from its owner's profile, the community reports and how many
   organizations looked it up lately (``services.scores``; an unallocated number scores
   0.500 at most) and builds the answer of the lookup type;
4. lets the caller admit the request (the API counts it against its rate limit there, in
   this transaction), then meters it (``services.meter``): allowance first, then the plan's
   price; when the funds or the plan's cap cannot cover it, the refusal is logged as a
   refused event and ``LookupRefused`` is raised — the event is kept, nothing is charged;
5. logs the lookup (``services.product_events``) with its result, score, cost and latency.

What another organization's **private** profile says — its caller name, business name,
address, contacts — reaches neither the result, its explanation, nor the event: the answer
falls back on the number's metadata, as for a number nobody registered. A replayed request
key (a double click) answers again without charging or logging twice.

Every read comes before the first write: the meter's UPDATE locks the organization's billing
account until the commit, so on PostgreSQL an organization's concurrent lookups queue behind
each other only for the writes, not for the scoring's reads as well.

SQLAlchemy Core throughout: this is the hot path (docs/architecture.md, The hot path).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import pycountry
from sqlalchemy import Connection, Engine, Row, Select, Table, bindparam, select

from portal_core import db
from portal_core.errors import InsufficientFunds, LookupRefused, PlanCapReached, ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import LookupType, Product
from portal_core.models.products import (
    EventAction,
    EventProduct,
    EventStatus,
    ProfileStatus,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries import score_inputs
from portal_core.rules import scoring
from portal_core.rules.caller_text import place_name, text_answer
from portal_core.rules.numbers import LineType, NumberFacts, parse_number
from portal_core.services import meter, product_events

_organizations: Table = Organization.__table__  # type: ignore[attr-defined]
_profiles: Table = WhoisProfile.__table__  # type: ignore[attr-defined]


# A score is a function of its inputs alone (the model is read once, at start-up), and most
# lookups share a few inputs: an allocated number nobody registered or reported, looked up by
# the asking organization alone. Bounded: a registered number's inputs vary more.
_score = lru_cache(maxsize=4096)(scoring.score)


@dataclass(frozen=True)
class Detail:
    label: str
    value: str


@dataclass(frozen=True)
class LookupResult:
    lookup_type: LookupType
    source: NumberFacts
    destination: NumberFacts | None
    score: scoring.Score
    caller_name: str | None  # the name a called party's screen shows (CNAM), or None
    details: tuple[Detail, ...]  # the lookup type's answer, label by label
    text: str  # the text answer call flows read
    registered: bool  # someone owns the number (an active profile)
    withheld: bool  # its owner keeps its details private from this organization
    own: bool  # the asking organization owns it
    cost_micros: int
    included: bool
    replayed: bool
    event_id: uuid.UUID | None  # None on a replay: the first lookup's event stands
    at: datetime


def look_up(
    engine: Engine,
    actor: Actor,
    *,
    source: str,
    destination: str = "",
    lookup_type: LookupType,
    request_key: str,
    now: datetime | None = None,
    admit: Callable[[Connection], None] | None = None,
) -> LookupResult:
    """Look ``source`` up (see the module's docstring). Raises ``NotAPhoneNumber`` /
    ``ValidationFailed`` for input it refuses (nothing written), ``LookupRefused`` when the
    funds or the plan's cap cannot cover it (its refused event kept).

    ``admit``, when given, is called in the lookup's write transaction after the reads, just
    before the first write: the API counts the call against its rate limit there, in the same
    commit as the lookup's writes. What it raises ends the lookup before anything is charged."""
    started = time.perf_counter()
    require(actor, Capability.LOOKUP)
    organization_id = require_organization(actor)
    now = now or utcnow()
    with db.write_connection(engine) as connection:
        context = connection.execute(_context(), {"organization_id": organization_id}).first()
        region = context.country if context else None
        day = product_events.day_in(context.time_zone, now) if context else None
        caller = parse_number(source, default_region=region, field="source")
        callee = (
            parse_number(destination, default_region=region, field="destination")
            if destination.strip()
            else None
        )
        if lookup_type == LookupType.SOURCE_RISK:
            _require_own_destination(connection, organization_id, callee)
        owner = score_inputs.owner_of(connection, caller.e164)
        inputs = score_inputs.inputs_for(
            connection,
            caller.e164,
            valid=caller.valid,
            owner=owner,
            now=now,
            asking=organization_id,
        )
        score = _score(inputs)
        own = owner is not None and owner.organization_id == organization_id
        visible = owner if owner is not None and (own or not owner.private) else None
        name = _caller_name(caller, visible)
        details = _details(lookup_type, caller, callee, score, owner, visible)
        text = text_answer(score.millis, None if lookup_type == LookupType.SOURCE_RISK else name)
        if admit is not None:
            admit(connection)
        try:
            metered = meter.meter_request(
                connection,
                organization_id=organization_id,
                product=Product.SMART_CNAM,
                lookup_type=lookup_type,
                request_key=request_key,
                now=now,
            )
        except (InsufficientFunds, PlanCapReached) as refused:
            product_events.record(
                connection,
                product_events.Event(
                    organization_id=organization_id,
                    user_id=actor.user_id,
                    api_token_id=actor.api_token_id,
                    product=EventProduct.SMART_CNAM,
                    action=EventAction.LOOKUP,
                    lookup_type=lookup_type.value,
                    number=caller.e164,
                    destination=callee.e164 if callee else None,
                    result=refused.message,
                    latency_ms=_elapsed_ms(started),
                    status=EventStatus.REFUSED,
                ),
                now=now,
                day=day,
            )
            raise LookupRefused(refused) from None

        event_id = None
        if not metered.replayed:
            event_id = product_events.record(
                connection,
                product_events.Event(
                    organization_id=organization_id,
                    user_id=actor.user_id,
                    api_token_id=actor.api_token_id,
                    product=EventProduct.SMART_CNAM,
                    action=EventAction.LOOKUP,
                    lookup_type=lookup_type.value,
                    number=caller.e164,
                    destination=callee.e164 if callee else None,
                    result=_summary(score, name if lookup_type != LookupType.SOURCE_RISK else None),
                    score_millis=score.millis,
                    cost_micros=metered.cost_micros,
                    latency_ms=_elapsed_ms(started),
                ),
                now=now,
                day=day,
            )
    return LookupResult(
        lookup_type=lookup_type,
        source=caller,
        destination=callee,
        score=score,
        caller_name=name,
        details=details,
        text=text,
        registered=owner is not None,
        withheld=owner is not None and visible is None,
        own=own,
        cost_micros=metered.cost_micros,
        included=metered.included,
        replayed=metered.replayed,
        event_id=event_id,
        at=now,
    )


@cache
def _context() -> Select[Any]:
    """The organization's country (the region a number typed without its country code is
    read in) and the billing time zone (the day its event counts in), in one query."""
    return select(
        _organizations.c.country,
        product_events.stored_time_zone().label("time_zone"),
    ).where(_organizations.c.id == bindparam("organization_id"))


@cache
def _own_destination() -> Select[Any]:
    profiles = _profiles.c
    return select(profiles.id).where(
        profiles.organization_id == bindparam("organization_id"),
        profiles.number == bindparam("number"),
        profiles.status == ProfileStatus.ACTIVE.value,
    )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _require_own_destination(
    connection: Connection, organization_id: uuid.UUID, callee: NumberFacts | None
) -> None:
    if callee is None:
        raise ValidationFailed(
            {
                "destination": "Source/Risk scores a call to one of your numbers: enter the "
                "destination callee, a number registered in your Whois Profiles."
            }
        )
    registered = connection.execute(
        _own_destination(), {"organization_id": organization_id, "number": callee.e164}
    ).first()
    if registered is None:
        raise ValidationFailed(
            {
                "destination": f"{callee.international} is not one of your registered numbers. "
                "Source/Risk scores calls to your own numbers: register it in Whois Profiles "
                "first. Nothing was charged."
            }
        )


def _caller_name(caller: NumberFacts, visible: Row[Any] | None) -> str | None:
    """The owner's caller name when this organization may see it, else where the number is
    from ("Toronto ON"), else nothing."""
    if visible is not None:
        return str(visible.caller_name)
    return place_name(caller.place) or None


def _summary(score: scoring.Score, name: str | None) -> str:
    summary = f"{score.text} {score.band.remark}"
    return f"{summary} · {name}" if name else summary


def _country_name(code: str | None) -> str:
    if not code:
        return "Not known"
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country else code


def _line_type(caller: NumberFacts, visible: Row[Any] | None) -> str:
    if visible is not None and visible.line_type:
        try:
            return LineType(visible.line_type).label
        except ValueError:
            return str(visible.line_type)
    return caller.line_type.label


def _details(
    lookup_type: LookupType,
    caller: NumberFacts,
    callee: NumberFacts | None,
    score: scoring.Score,
    owner: Row[Any] | None,
    visible: Row[Any] | None,
) -> tuple[Detail, ...]:
    registration = (
        "Not registered with SIPSTACK"
        if owner is None
        else ("Registered, ownership verified" if owner.verified_at else "Registered, not verified")
    )
    details: list[Detail] = []
    if not caller.valid:
        details.append(Detail("Number", "Not an allocated number: a likely spoofed caller ID"))
    if lookup_type == LookupType.SOURCE_RISK:
        details += [
            Detail("Score", f"{score.text} · {score.band.remark}"),
            Detail("Called number", callee.international if callee else "—"),
            Detail("Registration", registration),
        ]
    elif lookup_type == LookupType.CALLER_ID:
        if visible is not None:
            details.append(Detail("Caller name", str(visible.caller_name)))
            if visible.business_name:
                details.append(Detail("Business", str(visible.business_name)))
        else:
            details.append(Detail("Location", place_name(caller.place) or "Not known"))
        details.append(Detail("Registration", registration))
    elif lookup_type == LookupType.REGIONAL:
        details += [
            Detail("City / region", caller.place or "Not known"),
            Detail("Country", _country_name(caller.country)),
            Detail("Time zone", ", ".join(caller.time_zones[:3]) or "Not known"),
        ]
        if visible is not None and (visible.city or visible.province):
            where = ", ".join(str(part) for part in (visible.city, visible.province) if part)
            details.append(Detail("Registered location", where))
    elif lookup_type == LookupType.TELCO_CARRIER:
        details += [
            Detail("Carrier", caller.carrier or "Not known"),
            Detail("Line type", _line_type(caller, visible)),
            Detail(
                "Company",
                str(visible.business_name) if visible and visible.business_name else "Not known",
            ),
        ]
    elif lookup_type == LookupType.ONLINE_PROFILES:
        if owner is None:
            details.append(Detail("Online profiles", "None registered for this number"))
        elif visible is None:
            details.append(Detail("Online profiles", "Kept private by the number's owner"))
        else:
            address = ", ".join(
                str(part)
                for part in (
                    visible.address_line,
                    visible.city,
                    visible.province,
                    visible.postal_code,
                    visible.country,
                )
                if part
            )
            details += [
                Detail("Address", address or "Not given"),
                Detail("Website", str(visible.website or "Not given")),
                Detail("E-mail", str(visible.email or "Not given")),
                Detail(
                    "Social", ", ".join(str(visible.social_links or "").splitlines()) or "Not given"
                ),
            ]
    return tuple(details)
