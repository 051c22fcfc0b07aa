"""What a score stands on, read for the services that compute scores and for the pages that
explain them (docs/product.md, Smart CNAM lookups and scores; Whois Profiles › Carrier score).

A number's score reads its owner (the active Whois profile, with the owner's carrier score),
the live community reports on it within the report window, and how many organizations looked
it up within the burst window. An organization's carrier score reads its active profiles
(how complete, how many verified), the reports on its numbers, its company details (complete
or not) and its verified brand domains. SQLAlchemy Core on a
connection: lookups read these on the hot path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
)

from portal_core.models.accounts import BrandDomain, Organization
from portal_core.models.products import (
    CommunityReport,
    DisputeStatus,
    EventAction,
    OwnershipDispute,
    ProductEvent,
    ProfileStatus,
    ReportKind,
    WhoisProfile,
)
from portal_core.rules import carrier_score, company, scoring


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_profiles = _table(WhoisProfile)
_organizations = _table(Organization)
_reports = _table(CommunityReport)
_events = _table(ProductEvent)
_disputes = _table(OwnershipDispute)
_domains = _table(BrandDomain)
# No organization: what the burst compares with when nobody is asking.
_NONE = uuid.UUID(int=0)


def owner_of(connection: Connection, number: str) -> Row[Any] | None:
    """The number's active profile, every column, with its owner's carrier score."""
    return connection.execute(_owner_statement(), {"number": number}).first()


@cache
def _owner_statement() -> Any:
    return (
        select(_profiles, _organizations.c.carrier_score_millis.label("owner_carrier_score"))
        .join(_organizations, _organizations.c.id == _profiles.c.organization_id)
        .where(
            _profiles.c.number == bindparam("number"), _profiles.c.status == ProfileStatus.ACTIVE
        )
    )


@dataclass(frozen=True)
class Reports:
    spam: int
    safe: int


def reports_on(connection: Connection, number: str, now: datetime) -> Reports:
    """The live community reports on ``number`` within the report window."""
    since = now - timedelta(days=scoring.REPORT_WINDOW_DAYS)
    row = connection.execute(_reports_statement(), {"number": number, "since": since}).one()
    return Reports(spam=int(row.spam or 0), safe=int(row.safe or 0))


@cache
def _reports_statement() -> Any:
    reports = _reports.c
    return select(
        func.sum(case((reports.kind == ReportKind.SPAM.value, 1), else_=0)).label("spam"),
        func.sum(case((reports.kind == ReportKind.SAFE.value, 1), else_=0)).label("safe"),
    ).where(
        reports.number == bindparam("number"),
        reports.created_at >= bindparam("since"),
        reports.removed_at.is_(None),
    )


def organizations_looking_up(
    connection: Connection, number: str, now: datetime, *, asking: uuid.UUID | None
) -> int:
    """How many organizations looked ``number`` up within the burst window, ``asking``
    (the organization looking it up now) included, counted up to the burst's threshold: the
    score only asks whether the threshold is reached, so a count at the threshold means "at
    least"."""
    since = now - timedelta(minutes=scoring.BURST_WINDOW_MINUTES)
    others_enough = scoring.BURST_ORGANIZATIONS - (0 if asking is None else 1)
    others = connection.execute(
        _lookers_statement(),
        {"number": number, "since": since, "asking": asking or _NONE, "enough": others_enough},
    ).scalar_one()
    return int(others or 0) + (0 if asking is None else 1)


@cache
def _lookers_statement() -> Any:
    """The organizations that ever looked the number up, walked one at a time through
    ``ix_product_events_number_lookups`` (each step one seek to the next organization and one
    to its latest lookup), stopping once enough were in the window: what it reads grows with
    how many organizations looked the number up, never with how often they did. A call
    centre's main line looked up thousands of times an hour by its carrier costs a few seeks,
    where counting the distinct organizations of the window's events read every one."""
    events = _events.c
    lookups = (events.number == bindparam("number"), events.action == EventAction.LOOKUP.value)

    def first_after(organization: Any) -> Any:
        after = () if organization is None else (events.organization_id > organization,)
        return (
            select(events.organization_id)
            .where(*lookups, *after)
            .order_by(events.organization_id)
            .limit(1)
            .scalar_subquery()
        )

    walk = select(
        first_after(None).label("organization_id"), literal_column("0", Integer).label("seen")
    ).cte("walk", recursive=True)
    # The organization's latest lookup, not EXISTS: PostgreSQL would hash an EXISTS over
    # every lookup of the window once instead of seeking for each organization.
    latest = (
        select(events.created_at)
        .where(*lookups, events.organization_id == walk.c.organization_id)
        .order_by(events.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    in_window = latest >= bindparam("since")
    counts = and_(
        in_window, walk.c.organization_id != bindparam("asking", type_=events.organization_id.type)
    )
    walk = walk.union_all(
        select(
            first_after(walk.c.organization_id),
            walk.c.seen + case((counts, 1), else_=0),
        ).where(walk.c.organization_id.is_not(None), walk.c.seen < bindparam("enough"))
    )
    return select(func.max(walk.c.seen))


def inputs_for(
    connection: Connection,
    number: str,
    *,
    valid: bool,
    owner: Row[Any] | None,
    now: datetime,
    asking: uuid.UUID | None = None,
) -> scoring.ScoreInputs:
    """What the score of ``number`` stands on now. The burst is read only for a number
    nobody registered (it weighs on no other)."""
    reports = reports_on(connection, number, now)
    if owner is not None:
        return scoring.ScoreInputs(
            valid=valid,
            registered=True,
            verified=owner.verified_at is not None,
            completeness_permille=int(owner.completeness_permille),
            owner_carrier_score_millis=owner.owner_carrier_score,
            spam_reports=reports.spam,
            safe_reports=reports.safe,
        )
    return scoring.ScoreInputs(
        valid=valid,
        spam_reports=reports.spam,
        safe_reports=reports.safe,
        organizations_looking_up=organizations_looking_up(connection, number, now, asking=asking),
    )


def carrier_inputs(
    connection: Connection, organization_id: uuid.UUID, *, now: datetime
) -> carrier_score.CarrierInputs:
    profiles = _profiles.c
    numbers, completeness, verified = connection.execute(
        select(
            func.count(),
            func.coalesce(func.sum(profiles.completeness_permille), 0),
            func.coalesce(func.sum(case((profiles.verified_at.is_not(None), 1), else_=0)), 0),
        ).where(
            profiles.organization_id == organization_id,
            profiles.status == ProfileStatus.ACTIVE.value,
        )
    ).one()
    reports = _reports.c
    owned = select(profiles.number).where(
        profiles.organization_id == organization_id,
        profiles.status == ProfileStatus.ACTIVE.value,
    )
    spam, safe = connection.execute(
        select(
            func.coalesce(func.sum(case((reports.kind == ReportKind.SPAM.value, 1), else_=0)), 0),
            func.coalesce(func.sum(case((reports.kind == ReportKind.SAFE.value, 1), else_=0)), 0),
        ).where(
            reports.number.in_(owned),
            reports.removed_at.is_(None),
            reports.created_at >= now - timedelta(days=scoring.REPORT_WINDOW_DAYS),
        )
    ).one()
    disputes = _disputes.c
    since = now - timedelta(days=carrier_score.model().dispute_window_days)
    lost = connection.execute(
        select(func.count()).where(
            disputes.status == DisputeStatus.DECIDED.value,
            disputes.decided_at >= since,
            disputes.winner_organization_id != organization_id,
            (disputes.holder_organization_id == organization_id)
            | (disputes.claimant_organization_id == organization_id),
        )
    ).scalar_one()
    organizations = _organizations.c
    details = connection.execute(
        select(*(organizations[name] for name in company.COMPANY_FIELDS)).where(
            organizations.id == organization_id
        )
    ).first()
    domains = _domains.c
    verified_domains = connection.execute(
        select(func.count()).where(
            domains.organization_id == organization_id, domains.verified_at.is_not(None)
        )
    ).scalar_one()
    return carrier_score.CarrierInputs(
        numbers=int(numbers),
        completeness_permille_sum=int(completeness),
        verified=int(verified),
        disputes_lost=int(lost),
        spam_reports=int(spam),
        safe_reports=int(safe),
        company_complete=details is not None and company.company_complete(dict(details._mapping)),
        verified_domains=int(verified_domains),
    )
