"""The daily snapshot of every registered number's score
(docs/product.md, Whois Profiles › Community reports and reputation watch).

Scores are recomputed whenever an input changes, but time moves one input on its own: a
community report stops counting once it leaves the report window. Once a day (the
scheduler's ``scores.snapshot`` job, or ``python -m portal_core scores snapshot``) every
organization's carrier score is recomputed, then every active profile's score, which is
stored and kept as the day's point of its history; a score that falls into the spam bands
alerts its watchers as any other fall does (``NumberScoreFell``).

It works in batches, one transaction each (``BATCH``), by the profiles' key, so lookups and
saves never wait for the whole run and a rerun the same day simply writes the same points
again. A batch reads its profiles, their owners' carrier scores and their live reports in
three queries, scores them in memory with ``rules.scoring``, and writes them back with one
executemany UPDATE and one executemany UPSERT.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, case, func, select, update

from portal_core import db
from portal_core.facts import NumberScoreFell
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.products import CommunityReport, ProfileStatus, ReportKind, WhoisProfile
from portal_core.rules import scoring
from portal_core.rules.numbers import allocated
from portal_core.services import carrier_scores, product_events, scores

BATCH = 2_000


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_profiles = _table(WhoisProfile)
_organizations = _table(Organization)
_reports = _table(CommunityReport)


@dataclass(frozen=True)
class Snapshot:
    organizations: int
    numbers: int
    fell: int  # numbers whose score fell into the spam bands


def snapshot(engine: Engine, *, now: datetime | None = None, batch: int = BATCH) -> Snapshot:
    now = now or utcnow()
    organizations = _carrier_scores(engine, now=now, batch=batch)
    numbers = fell = 0
    after: uuid.UUID | None = None
    while True:
        with db.write_connection(engine) as connection:
            done, fallen, after = _score_batch(connection, after=after, now=now, batch=batch)
        numbers += done
        fell += fallen
        if done < batch:
            return Snapshot(organizations, numbers, fell)


def _carrier_scores(engine: Engine, *, now: datetime, batch: int) -> int:
    """Every organization with a registered number gets its carrier score afresh (numbers are
    scored next, so each organization's own rescoring is left to the batches)."""
    with db.read_session(engine) as session:
        owners = list(
            session.execute(
                select(_profiles.c.organization_id)
                .where(_profiles.c.status == ProfileStatus.ACTIVE.value)
                .distinct()
            ).scalars()
        )
    for start in range(0, len(owners), batch):
        with db.write_connection(engine) as connection:
            for organization_id in owners[start : start + batch]:
                carrier_scores.refresh(connection, organization_id, now=now, rescore=False)
    return len(owners)


def _score_batch(
    connection: Any, *, after: uuid.UUID | None, now: datetime, batch: int
) -> tuple[int, int, uuid.UUID | None]:
    profiles = _profiles.c
    query = (
        select(
            profiles.id,
            profiles.organization_id,
            profiles.number,
            profiles.verified_at,
            profiles.completeness_permille,
            profiles.score_millis,
            _organizations.c.carrier_score_millis,
        )
        .join(_organizations, _organizations.c.id == profiles.organization_id)
        .where(profiles.status == ProfileStatus.ACTIVE.value)
        .order_by(profiles.id)
        .limit(batch)
    )
    if after is not None:
        query = query.where(profiles.id > after)
    rows = connection.execute(query).all()
    if not rows:
        return 0, 0, after
    reports = _reports.c
    counted = {
        number: (int(spam or 0), int(safe or 0))
        for number, spam, safe in connection.execute(
            select(
                reports.number,
                func.sum(case((reports.kind == ReportKind.SPAM.value, 1), else_=0)),
                func.sum(case((reports.kind == ReportKind.SAFE.value, 1), else_=0)),
            )
            .where(
                reports.number.in_([row.number for row in rows]),
                reports.created_at >= now - timedelta(days=scoring.REPORT_WINDOW_DAYS),
                reports.removed_at.is_(None),
            )
            .group_by(reports.number)
        )
    }
    updates: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    fell = 0
    threshold = scoring.REPUTATION_ALERT_BELOW_MILLIS
    day = product_events.billing_day(connection, now)
    for row in rows:
        spam, safe = counted.get(row.number, (0, 0))
        millis = scoring.score(
            scoring.ScoreInputs(
                valid=allocated(row.number),
                registered=True,
                verified=row.verified_at is not None,
                completeness_permille=int(row.completeness_permille),
                owner_carrier_score_millis=row.carrier_score_millis,
                spam_reports=spam,
                safe_reports=safe,
            )
        ).millis
        updates.append({"p_id": row.id, "p_score": millis})
        points.append(
            {
                "organization_id": row.organization_id,
                "number": row.number,
                "day": day,
                "score_millis": millis,
            }
        )
        if millis < threshold and (row.score_millis is None or row.score_millis >= threshold):
            fell += 1
            db.publish(
                connection,
                NumberScoreFell(
                    organization_id=row.organization_id,
                    profile_id=row.id,
                    number=row.number,
                    before_millis=row.score_millis,
                    after_millis=millis,
                    at=now,
                ),
            )
    connection.execute(
        update(_profiles)
        .where(_profiles.c.id == bindparam("p_id"))
        .values(score_millis=bindparam("p_score"), score_updated_at=now),
        updates,
    )
    connection.execute(scores.history_upsert(connection.dialect.name), points)
    return len(rows), fell, rows[-1].id
