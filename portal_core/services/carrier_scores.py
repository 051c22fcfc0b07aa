"""Keeping each organization's carrier score (``rules.carrier_score``) up to date.

``refresh`` recomputes it from the organization's active profiles (how complete, how many
verified), the ownership disputes it lost and the community reports on its numbers, and
stores it on the organization. When it moved, the organization's numbers are rescored, since
an owner's carrier score weighs on them. The services call it after every change to one of
its inputs, in the same unit of work.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, select, update

from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.products import CommunityReport, WhoisProfile
from portal_core.queries import score_inputs
from portal_core.rules import carrier_score
from portal_core.services import scores


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_profiles = _table(WhoisProfile)
_organizations = _table(Organization)
_reports = _table(CommunityReport)


def refresh(
    connection: Connection,
    organization_id: uuid.UUID,
    *,
    now: datetime | None = None,
    rescore: bool = True,
) -> int | None:
    """Recompute and store the organization's carrier score; rescore its numbers if it
    moved (unless ``rescore`` is off: the daily snapshot scores every number next). Returns
    the score (None: no registered number yet)."""
    now = now or utcnow()
    computed = carrier_score.carrier_score(
        score_inputs.carrier_inputs(connection, organization_id, now=now)
    )
    after = computed.millis if computed else None
    before = connection.execute(
        select(_organizations.c.carrier_score_millis).where(_organizations.c.id == organization_id)
    ).scalar()
    if after != before:
        connection.execute(
            update(_organizations)
            .where(_organizations.c.id == organization_id)
            .values(carrier_score_millis=after)
        )
        if rescore:
            scores.refresh_organization(connection, organization_id, now=now)
    return after
