"""A number's score, from what the portal knows of it; the model itself is
``rules.scoring``'s (docs/product.md, Smart CNAM lookups and scores).

Its inputs: the number's owner (its active Whois profile: verified or not, how complete,
and the owner's carrier score), the community reports on it over the report window (removed
ones no longer count), and how many organizations looked it up within the burst window
while nobody had registered it. A registered number's score is stored on its profile and
in its day's history (``number_scores``); ``refresh`` recomputes it whenever one of those
inputs changes — a profile saved or verified, a report made or removed, its owner's carrier
score moving — and the daily snapshot carries reports out of the window. A lookup computes
the score afresh from the same inputs, so what it shows matches what is stored.

The inputs are read by ``queries.score_inputs``. SQLAlchemy Core on a connection: the
services that use sessions hand over ``session.connection()``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal_core import db
from portal_core.facts import NumberScoreFell
from portal_core.models.base import utcnow
from portal_core.models.products import (
    NumberScore,
    ProfileStatus,
    WhoisProfile,
)
from portal_core.queries import score_inputs
from portal_core.rules import scoring
from portal_core.rules.numbers import allocated
from portal_core.services import product_events


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_profiles = _table(WhoisProfile)
_history = _table(NumberScore)


@dataclass(frozen=True)
class Refreshed:
    number: str
    organization_id: uuid.UUID
    before_millis: int | None
    after_millis: int


def refresh(
    connection: Connection, number: str, *, now: datetime | None = None
) -> Refreshed | None:
    """Recompute and store the score of ``number``'s active profile (None when nobody owns
    it), and keep it as the day's history. A score that falls into the spam bands publishes
    ``NumberScoreFell`` (reputation watch reacts to it)."""
    now = now or utcnow()
    owner = score_inputs.owner_of(connection, number)
    if owner is None:
        return None
    inputs = score_inputs.inputs_for(
        connection, number, valid=allocated(number), owner=owner, now=now
    )
    after = scoring.score(inputs).millis
    before = owner.score_millis
    connection.execute(
        update(_profiles)
        .where(_profiles.c.id == owner.id)
        .values(score_millis=after, score_updated_at=now)
    )
    keep_history(
        connection,
        organization_id=owner.organization_id,
        number=number,
        day=product_events.billing_day(connection, now),
        score_millis=after,
    )
    threshold = scoring.REPUTATION_ALERT_BELOW_MILLIS
    if after < threshold and (before is None or before >= threshold):
        db.publish(
            connection,
            NumberScoreFell(
                organization_id=owner.organization_id,
                profile_id=owner.id,
                number=number,
                before_millis=before,
                after_millis=after,
                at=now,
            ),
        )
    return Refreshed(number, owner.organization_id, before, after)


def refresh_organization(
    connection: Connection, organization_id: uuid.UUID, *, now: datetime | None = None
) -> int:
    """Recompute every active number of an organization (its carrier score moved)."""
    numbers = connection.execute(
        select(_profiles.c.number).where(
            _profiles.c.organization_id == organization_id,
            _profiles.c.status == ProfileStatus.ACTIVE,
        )
    ).scalars()
    return sum(1 for number in list(numbers) if refresh(connection, number, now=now))


def keep_history(
    connection: Connection, *, organization_id: uuid.UUID, number: str, day: date, score_millis: int
) -> None:
    connection.execute(
        history_upsert(connection.dialect.name),
        {
            "organization_id": organization_id,
            "number": number,
            "day": day,
            "score_millis": score_millis,
        },
    )


@cache
def history_upsert(dialect: str) -> Insert:
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    upsert = insert(_history)
    return cast(
        Insert,
        upsert.on_conflict_do_update(
            index_elements=["organization_id", "number", "day"],
            set_={"score_millis": upsert.excluded.score_millis},
        ),
    )
