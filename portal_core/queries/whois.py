"""What Whois Profiles and Smart CNAM read: the organization's registered numbers as a list,
one profile with its completeness, score and history, the carrier score explained, and the
price of the next lookup (docs/product.md, Whois Profiles).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import Organization
from portal_core.models.products import (
    CallPurpose,
    EventAction,
    NumberScore,
    ProductEvent,
    ProfileStatus,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries import dashboard, score_inputs
from portal_core.queries.listing import (
    Choice,
    ChoiceFilter,
    Column,
    ColumnKind,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
    updated_sort,
)
from portal_core.rules import carrier_score, profiles, scoring
from portal_core.rules.numbers import PROFILE_LINE_TYPES, LineType, shown

LINE_TYPES = {line_type.value: line_type.label for line_type in LineType}
PURPOSES = {purpose.value: purpose.label for purpose in CallPurpose}
STATUSES = {ProfileStatus.ACTIVE.value: "Active", ProfileStatus.PENDING.value: "Pending"}
_YES_NO = {"yes": "Yes", "no": "No"}


def profiles_listing(actor: Actor) -> Listing:
    """The organization's registered numbers. Search by number or name; filters by line
    type, private, verified, score band and status; sorts by date, name and score."""
    require(actor, Capability.WHOIS_READ)
    organization_id = require_organization(actor)
    score = col(WhoisProfile.score_millis)
    verified = col(WhoisProfile.verified_at).is_not(None)
    private = col(WhoisProfile.private)
    bands = tuple(
        Choice(
            band.remark,
            band.remark,
            and_(score >= band.lower_millis, score < band.upper_millis)
            if band.upper_millis < scoring.MAX_MILLIS
            else score >= band.lower_millis,
        )
        for band in scoring.bands()
    )
    return Listing(
        noun="registered numbers",
        select=select(col(WhoisProfile.id))
        .select_from(WhoisProfile)
        .where(col(WhoisProfile.organization_id) == organization_id),
        key=col(WhoisProfile.id),
        columns=(
            Column("number", "Number", col(WhoisProfile.number), formatter=shown),
            Column("caller_name", "Caller name", col(WhoisProfile.caller_name)),
            Column("business_name", "Business", col(WhoisProfile.business_name)),
            Column("line_type", "Line type", col(WhoisProfile.line_type), labels=LINE_TYPES),
            # The rest of the form, in the CSV export only: an exported profile, edited in a
            # spreadsheet, imports back whole (services.whois_import reads these labels).
            *(
                Column(key, profiles.BY_KEY[key].label, expression, labels=labels, in_table=False)
                for key, expression, labels in (
                    ("call_purpose", col(WhoisProfile.call_purpose), PURPOSES),
                    ("address_line", col(WhoisProfile.address_line), None),
                    ("city", col(WhoisProfile.city), None),
                    ("province", col(WhoisProfile.province), None),
                    ("postal_code", col(WhoisProfile.postal_code), None),
                    ("country", col(WhoisProfile.country), None),
                    ("website", col(WhoisProfile.website), None),
                    ("email", col(WhoisProfile.email), None),
                    ("description", col(WhoisProfile.description), None),
                    # One cell, the addresses apart by spaces, as the import reads them.
                    (
                        "social_links",
                        func.replace(col(WhoisProfile.social_links), "\n", " "),
                        None,
                    ),
                )
            ),
            Column(
                "monthly_call_volume",
                profiles.BY_KEY["monthly_call_volume"].label,
                col(WhoisProfile.monthly_call_volume),
                ColumnKind.NUMBER,
                in_table=False,
            ),
            Column(
                "private",
                "Private",
                case((private, "yes"), else_="no"),
                labels=_YES_NO,
                help="Private: other organizations see neither its name nor its details.",
            ),
            Column("verified", "Verified", case((verified, "yes"), else_="no"), labels=_YES_NO),
            Column(
                "completeness",
                "Complete %",
                col(WhoisProfile.completeness_permille) // 10,
                ColumnKind.NUMBER,
            ),
            Column(
                "score",
                "Score",
                score,
                ColumnKind.SCORE,
                help="0.000–5.000: what a called party's screen is told about this number.",
            ),
            Column(
                "status", "Status", col(WhoisProfile.status), ColumnKind.STATUS, labels=STATUSES
            ),
            Column("created_at", "Registered", col(WhoisProfile.created_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(WhoisProfile.created_at)),
            updated_sort(col(WhoisProfile.updated_at)),
            Sort("score", "Score", score),
            Sort("caller_name", "Caller name", col(WhoisProfile.caller_name)),
        ),
        default_sort="created",
        default_descending=True,
        filters=(
            TextFilter(
                "search",
                "Number or name",
                (
                    col(WhoisProfile.number),
                    col(WhoisProfile.caller_name),
                    col(WhoisProfile.business_name),
                ),
                "+1416… or Acme",
            ),
            ChoiceFilter(
                "line_type",
                "Line type",
                equal_choices(
                    col(WhoisProfile.line_type),
                    {line_type.value: line_type.label for line_type in PROFILE_LINE_TYPES},
                ),
            ),
            ChoiceFilter(
                "private",
                "Private",
                (
                    Choice("yes", "Private", private.is_(True)),
                    Choice("no", "Public", private.is_(False)),
                ),
            ),
            ChoiceFilter(
                "verified",
                "Verified",
                (Choice("yes", "Verified", verified), Choice("no", "Not verified", ~verified)),
            ),
            ChoiceFilter("band", "Score band", bands),
            ChoiceFilter("status", "Status", equal_choices(col(WhoisProfile.status), STATUSES)),
        ),
        empty_message=(
            "No registered numbers yet: register the numbers your organization calls from "
            "with the green + above. A registered number scores higher, and its caller name "
            "is what called parties see."
        ),
    )


@dataclass(frozen=True)
class ScorePoint:
    day: date
    score_millis: int


@dataclass(frozen=True)
class ProfileDetail:
    profile: WhoisProfile
    completeness: profiles.Completeness
    score: scoring.Score | None  # None while pending (unscored)
    history: tuple[ScorePoint, ...]


def profile_detail(
    session: Session, actor: Actor, profile_id: uuid.UUID, *, now: datetime
) -> ProfileDetail:
    """One profile of the organization with what is missing, its score explained and its
    history; another organization's is not found."""
    profile = get_profile(session, actor, profile_id)
    explained = None
    if profile.status == ProfileStatus.ACTIVE:
        connection = session.connection()
        owner = score_inputs.owner_of(connection, profile.number)
        inputs = score_inputs.inputs_for(
            connection, profile.number, valid=True, owner=owner, now=now
        )
        explained = scoring.score(inputs)
    history = session.exec(
        select(col(NumberScore.day), col(NumberScore.score_millis))
        .where(
            col(NumberScore.organization_id) == profile.organization_id,
            col(NumberScore.number) == profile.number,
        )
        .order_by(col(NumberScore.day))
    ).all()
    return ProfileDetail(
        profile=profile,
        completeness=profiles.completeness(profile),
        score=explained,
        history=tuple(ScorePoint(day, millis) for day, millis in history),
    )


def carrier_score_explained(
    session: Session, actor: Actor, *, now: datetime
) -> carrier_score.CarrierScore | None:
    """The organization's carrier score with its factors and what would raise it."""
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    return carrier_score.carrier_score(
        score_inputs.carrier_inputs(session.connection(), organization_id, now=now)
    )


def get_profile(session: Session, actor: Actor, profile_id: uuid.UUID) -> WhoisProfile:
    """One of the organization's profiles; another organization's is not found."""
    require(actor, Capability.WHOIS_READ)
    organization_id = require_organization(actor)
    profile = session.get(WhoisProfile, profile_id)
    if profile is None or profile.organization_id != organization_id:
        raise NotFound("No such profile in your Whois Profiles.")
    return profile


def own_active_numbers(session: Session, actor: Actor, *, limit: int = 200) -> list[str]:
    """The organization's active numbers (E.164), for Source/Risk's destination choices."""
    require(actor, Capability.LOOKUP)
    organization_id = require_organization(actor)
    return list(
        session.exec(
            select(WhoisProfile.number)
            .where(
                col(WhoisProfile.organization_id) == organization_id,
                col(WhoisProfile.status) == ProfileStatus.ACTIVE,
            )
            .order_by(col(WhoisProfile.number))
            .limit(limit)
        ).all()
    )


@dataclass(frozen=True)
class NextLookupPrice:
    included_left: int  # lookups still included this month
    price_micros: int | None  # past the allowance; None: capped (Free)
    plan_name: str


def next_lookup_price(
    session: Session, actor: Actor, *, now: datetime | None = None
) -> NextLookupPrice:
    """What the next lookup costs: nothing while the month's allowance lasts, then the plan's
    price per request (or nothing more at all, on a capped plan)."""
    require(actor, Capability.LOOKUP)
    requests = dashboard.requests_this_month(session, actor, now=now)
    return NextLookupPrice(
        included_left=max(requests.allowance - requests.used, 0),
        price_micros=requests.price_micros,
        plan_name=requests.plan_name,
    )


@dataclass(frozen=True)
class RecentLookup:
    at: datetime
    lookup_type: str
    number: str | None
    result: str | None
    status: str


def recent_lookups(session: Session, actor: Actor, *, limit: int = 8) -> list[RecentLookup]:
    """This user's last lookups, newest first (served by the events' user index)."""
    require(actor, Capability.LOOKUP)
    organization_id = require_organization(actor)
    rows = session.execute(
        sa_select(
            col(ProductEvent.created_at),
            col(ProductEvent.lookup_type),
            col(ProductEvent.number),
            col(ProductEvent.result),
            col(ProductEvent.status),
        )
        .where(
            col(ProductEvent.organization_id) == organization_id,
            col(ProductEvent.user_id) == actor.user_id,
            col(ProductEvent.action) == EventAction.LOOKUP,
        )
        .order_by(col(ProductEvent.created_at).desc(), col(ProductEvent.id).desc())
        .limit(limit)
    ).all()
    return [
        RecentLookup(at, str(kind or ""), number, result, str(status))
        for at, kind, number, result, status in rows
    ]


def organization_carrier_score(session: Session, actor: Actor) -> int | None:
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    return session.exec(
        select(Organization.carrier_score_millis).where(col(Organization.id) == organization_id)
    ).first()


def count_registered(session: Session, actor: Actor) -> int:
    require(actor, Capability.USE_PORTAL)
    organization_id = require_organization(actor)
    return int(
        session.exec(
            select(func.count())
            .select_from(WhoisProfile)
            .where(col(WhoisProfile.organization_id) == organization_id)
        ).one()
    )
