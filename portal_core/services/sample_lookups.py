"""Lookups for test tokens (``ssk_test_…``): answers from fixed sample data, never metered,
billed or logged (docs/product.md, The REST API's contract).

A partner wires a call flow to the API with a test token first, as with Stripe's test keys:
the answers have the live answers' shape, but they come from ``data/api_test_numbers.csv``
(a handful of fictional numbers with a name, a score, a line type…), and any other number gets
a sample answer of its own that is the same on every call (its score from a checksum of the
number, its place and carrier from the numbering plan). The number is read exactly as a live
lookup reads it, so a test token finds the same refusals (an emergency number, letters).

Nothing is written: no usage, no charge, and no product event, since an event would count on
the Dashboard's tiles and charts as the organization's usage.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast

from sqlalchemy import Engine, Select, Table, bindparam, select

from portal_core import db
from portal_core.errors import ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import LookupType
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.rules import scoring
from portal_core.rules.caller_text import place_name, text_answer
from portal_core.rules.numbers import LineType, NumberFacts, parse_number
from portal_core.services.lookups import Detail, LookupResult
from portal_core.settings import DATA_DIR

SAMPLE_FILE = DATA_DIR / "api_test_numbers.csv"
# Numbers not in the file score between 2.000 and 4.000: somewhere a call flow must decide.
_LOWEST_MILLIS = 2_000
_SPREAD_MILLIS = 2_001

_organizations = cast(Table, Organization.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SampleNumber:
    """A row of ``data/api_test_numbers.csv``."""

    number: str
    caller_name: str
    business_name: str
    score_millis: int
    line_type: LineType
    carrier: str
    city: str
    province: str
    country: str
    website: str
    email: str
    registration: str  # "verified", "registered" or "" (nobody registered it)


@cache
def sample_numbers() -> dict[str, SampleNumber]:
    with SAMPLE_FILE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["number"]: SampleNumber(
            number=row["number"],
            caller_name=row["caller_name"],
            business_name=row["business_name"],
            score_millis=int(Decimal(row["score"]) * scoring.MILLIS_PER_POINT),
            line_type=LineType(row["line_type"]),
            carrier=row["carrier"],
            city=row["city"],
            province=row["province"],
            country=row["country"],
            website=row["website"],
            email=row["email"],
            registration=row["registration"],
        )
        for row in rows
    }


def look_up_sample(
    engine: Engine,
    actor: Actor,
    *,
    source: str,
    destination: str = "",
    lookup_type: LookupType,
    now: datetime | None = None,
) -> LookupResult:
    """A sample answer for ``source`` (see the module's docstring). Raises what a live lookup
    raises for input it refuses; writes nothing."""
    require(actor, Capability.LOOKUP)
    organization_id = require_organization(actor)
    now = now or utcnow()
    with db.read_connection(engine) as connection:
        region = connection.execute(_country(), {"organization_id": organization_id}).scalar()
    caller = parse_number(source, default_region=region, field="source")
    callee = (
        parse_number(destination, default_region=region, field="destination")
        if destination.strip()
        else None
    )
    if lookup_type == LookupType.SOURCE_RISK and callee is None:
        raise ValidationFailed(
            {
                "destination": "Source/Risk scores a call to one of your numbers: give the "
                "destination callee."
            }
        )
    sample = sample_numbers().get(caller.e164)
    millis = sample.score_millis if sample else _sample_millis(caller)
    score = scoring.Score(
        millis=millis,
        band=scoring.band_of(millis),
        factors=(
            scoring.Factor(
                key="base",
                label="Sample data (test token)",
                weight="fixed for tests",
                effect_millis=millis,
            ),
        ),
    )
    name = (sample.caller_name if sample else "") or place_name(caller.place) or None
    return LookupResult(
        lookup_type=lookup_type,
        source=caller,
        destination=callee,
        score=score,
        caller_name=name,
        details=_details(lookup_type, caller, callee, score, sample),
        text=text_answer(millis, None if lookup_type == LookupType.SOURCE_RISK else name),
        registered=bool(sample and sample.registration),
        withheld=False,
        own=False,
        cost_micros=0,
        included=True,
        replayed=False,
        event_id=None,
        at=now,
    )


@cache
def _country() -> Select[Any]:
    return select(_organizations.c.country).where(
        _organizations.c.id == bindparam("organization_id")
    )


def _sample_millis(caller: NumberFacts) -> int:
    return _LOWEST_MILLIS + zlib.crc32(caller.e164.encode()) % _SPREAD_MILLIS


def _registration(sample: SampleNumber | None) -> str:
    if sample is None or not sample.registration:
        return "Not registered with SIPSTACK"
    if sample.registration == "verified":
        return "Registered, ownership verified"
    return "Registered, not verified"


def _details(
    lookup_type: LookupType,
    caller: NumberFacts,
    callee: NumberFacts | None,
    score: scoring.Score,
    sample: SampleNumber | None,
) -> tuple[Detail, ...]:
    place = ", ".join(part for part in (sample.city, sample.province) if part) if sample else ""
    if lookup_type == LookupType.SOURCE_RISK:
        return (
            Detail("Score", f"{score.text} · {score.band.remark}"),
            Detail("Called number", callee.international if callee else "—"),
            Detail("Registration", _registration(sample)),
        )
    if lookup_type == LookupType.CALLER_ID:
        if sample and sample.caller_name:
            named = [Detail("Caller name", sample.caller_name)]
            if sample.business_name:
                named.append(Detail("Business", sample.business_name))
            return (*named, Detail("Registration", _registration(sample)))
        return (
            Detail("Location", place_name(caller.place) or "Not known"),
            Detail("Registration", _registration(sample)),
        )
    if lookup_type == LookupType.REGIONAL:
        return (
            Detail("City / region", place or caller.place or "Not known"),
            Detail("Country", (sample.country if sample else "") or caller.country or "Not known"),
            Detail("Time zone", ", ".join(caller.time_zones[:3]) or "Not known"),
        )
    if lookup_type == LookupType.TELCO_CARRIER:
        return (
            Detail("Carrier", (sample.carrier if sample else "") or caller.carrier or "Not known"),
            Detail("Line type", (sample.line_type if sample else caller.line_type).label),
            Detail("Company", (sample.business_name if sample else "") or "Not known"),
        )
    if sample is None or not sample.registration:
        return (Detail("Online profiles", "None registered for this number"),)
    return (
        Detail("Address", place or "Not given"),
        Detail("Website", sample.website or "Not given"),
        Detail("E-mail", sample.email or "Not given"),
        Detail("Social", "Not given"),
    )
