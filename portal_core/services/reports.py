"""Community reports: a partner's word that a number is spam, or safe
(docs/product.md, Smart CNAM lookups and scores).

From a lookup's result, a member who may look numbers up reports the number. One report per
organization per number per 30 days (``REPORT_EVERY_DAYS``): a second is refused with the
date of the first. An organization does not report its own numbers. The report counts in the
number's score for the report window, so the number's stored score and its owner's carrier
score are recomputed at once. Staff remove a report with a reason (Staff › Reports); it
stops counting and both scores are recomputed again. Reporting is free, logged and audited.

The 30-day rule holds under concurrency: the organization's row is locked (PostgreSQL; SQLite
lets one writer in) before the last report is looked at.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.products import (
    CommunityReport,
    EventAction,
    EventProduct,
    ProfileStatus,
    ReportKind,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries import score_inputs
from portal_core.rules.numbers import parse_number
from portal_core.services import audit, carrier_scores, product_events, scores
from portal_core.services.validation import text_problem

REPORT_EVERY_DAYS = 30
MAX_COMMENT = 300


def report(
    session: Session,
    actor: Actor,
    *,
    number: str,
    kind: ReportKind,
    comment: str = "",
    now: datetime | None = None,
) -> CommunityReport:
    require(actor, Capability.LOOKUP)
    organization_id = require_organization(actor)
    now = now or utcnow()
    organization = session.exec(
        select(Organization).where(col(Organization.id) == organization_id).with_for_update()
    ).one()
    facts = parse_number(number, default_region=organization.country, field="number")
    problem = text_problem(comment, label="a comment", max_length=MAX_COMMENT, required=False)
    if problem:
        raise ValidationFailed({"comment": problem})
    owned = session.exec(
        select(WhoisProfile.id).where(
            col(WhoisProfile.organization_id) == organization_id,
            col(WhoisProfile.number) == facts.e164,
            col(WhoisProfile.status) == ProfileStatus.ACTIVE,
        )
    ).first()
    if owned is not None:
        raise Conflict(f"{facts.international} is one of your own numbers: it can't be reported.")
    last = session.exec(
        select(CommunityReport)
        .where(
            col(CommunityReport.organization_id) == organization_id,
            col(CommunityReport.number) == facts.e164,
            col(CommunityReport.created_at) > now - timedelta(days=REPORT_EVERY_DAYS),
            col(CommunityReport.removed_at).is_(None),
        )
        .order_by(col(CommunityReport.created_at).desc())
    ).first()
    if last is not None:
        again = (last.created_at + timedelta(days=REPORT_EVERY_DAYS)).date()
        raise Conflict(
            f"Your organization reported {facts.international} as {ReportKind(last.kind).value} on "
            f"{last.created_at.date():%B %-d, %Y}: one report per number every "
            f"{REPORT_EVERY_DAYS} days. You can report it again from {again:%B %-d, %Y}."
        )
    created = CommunityReport(
        organization_id=organization_id,
        user_id=actor.user_id,
        number=facts.e164,
        kind=kind,
        comment=comment.strip() or None,
        created_at=now,
    )
    session.add(created)
    session.flush()
    connection = session.connection()
    refreshed = _rescore(connection, facts.e164, now)
    product_events.record(
        connection,
        product_events.Event(
            organization_id=organization_id,
            user_id=actor.user_id,
            api_token_id=actor.api_token_id,
            product=EventProduct.REPORTS,
            action=EventAction.REPORT,
            number=facts.e164,
            result=f"Reported as {kind.value}",
            score_millis=refreshed,
        ),
        now=now,
    )
    audit.record(session, f"report.{kind.value}", actor=actor, subject=facts.e164)
    return created


def remove(
    session: Session,
    staff: Actor,
    report_id: uuid.UUID,
    *,
    reason: str,
    now: datetime | None = None,
) -> CommunityReport:
    """Staff remove a report, with the reason: it no longer counts."""
    require(staff, Capability.STAFF)
    problem = text_problem(reason, label="the reason", max_length=MAX_COMMENT)
    if problem:
        raise ValidationFailed({"reason": problem})
    now = now or utcnow()
    found = session.get(CommunityReport, report_id, with_for_update=True)
    if found is None:
        raise NotFound("No such report.")
    if found.removed_at is not None:
        raise Conflict("That report was already removed.")
    found.removed_at = now
    found.removed_by_user_id = staff.user_id
    found.removed_reason = reason.strip()
    session.add(found)
    session.flush()
    _rescore(session.connection(), found.number, now)
    audit.record(
        session,
        "report.removed",
        actor=staff,
        organization_id=found.organization_id,
        subject=found.number,
        detail=reason.strip(),
    )
    return found


def _rescore(connection: Connection, number: str, now: datetime) -> int | None:
    """The report moved the number's score and its owner's carrier score: recompute both
    (the carrier score first, since it weighs on the number's)."""
    owner = score_inputs.owner_of(connection, number)
    if owner is None:
        return None
    carrier_scores.refresh(connection, owner.organization_id, now=now)
    refreshed = scores.refresh(connection, number, now=now)
    return refreshed.after_millis if refreshed else None
