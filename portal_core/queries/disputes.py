"""What the pages read of ownership disputes and community reports: an organization's own
disputes (either side) with their history, a profile's code waiting to be typed, and staff's
lists of every dispute and every report
(docs/product.md, Whois Profiles › Ownership and disputes).

A partner never learns which organization is on the other side of a dispute; staff see both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from portal_core.errors import NotFound
from portal_core.models.accounts import Organization
from portal_core.models.products import (
    CommunityReport,
    DisputeEvent,
    DisputeParty,
    DisputeStatus,
    OwnershipDispute,
    ReportKind,
    VerificationCode,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.listing import (
    ChoiceFilter,
    Column,
    ColumnKind,
    DateRangeFilter,
    Listing,
    Sort,
    TextFilter,
    created_sort,
    equal_choices,
)
from portal_core.rules.numbers import shown

STATUSES = {
    DisputeStatus.OPEN.value: "Open",
    DisputeStatus.DECIDED.value: "Decided",
    DisputeStatus.WITHDRAWN.value: "Withdrawn",
}
SIDES = {"holder": "You hold it", "claimant": "You claim it"}
OUTCOMES = {"open": "Open", "won": "Yours", "lost": "Lost"}
REPORT_KINDS = {ReportKind.SPAM.value: "Spam", ReportKind.SAFE.value: "Safe"}
REPORT_STATES = {"live": "Counting", "removed": "Removed"}


def disputes_listing(actor: Actor) -> Listing:
    """The organization's disputes, on either side, newest first."""
    require(actor, Capability.WHOIS_READ)
    organization_id = require_organization(actor)
    dispute = OwnershipDispute
    party = DisputeParty
    outcome = case(
        (col(dispute.status) == DisputeStatus.OPEN, "open"),
        (col(dispute.winner_organization_id) == organization_id, "won"),
        else_="lost",
    )
    return Listing(
        noun="ownership disputes",
        select=select(col(party.dispute_id))
        .select_from(party)
        .join(dispute, col(dispute.id) == col(party.dispute_id))
        .where(col(party.organization_id) == organization_id),
        key=col(party.dispute_id),
        columns=(
            Column("number", "Number", col(dispute.number), formatter=shown),
            Column("side", "Your side", col(party.side), labels=SIDES),
            Column("status", "Status", col(dispute.status), ColumnKind.STATUS, labels=STATUSES),
            Column("outcome", "Outcome", outcome, labels=OUTCOMES),
            Column("opened_at", "Opened", col(party.opened_at), ColumnKind.DATETIME),
            Column("decided_at", "Closed", col(dispute.decided_at), ColumnKind.DATETIME),
        ),
        sorts=(created_sort(col(party.opened_at)),),
        default_sort="created",
        filters=(ChoiceFilter("status", "Status", equal_choices(col(party.status), STATUSES)),),
        empty_message="No ownership disputes: none of your numbers is claimed by another "
        "organization, and you claim none of theirs.",
    )


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str
    detail: str


@dataclass(frozen=True)
class DisputeView:
    dispute: OwnershipDispute
    side: str  # "holder" or "claimant", for a partner; "" for staff
    history: tuple[Step, ...]
    holder_name: str | None = None  # staff only
    claimant_name: str | None = None  # staff only


def dispute(session: Session, actor: Actor, dispute_id: uuid.UUID) -> DisputeView:
    """One dispute of the organization's (either side) with its history; not found else."""
    require(actor, Capability.WHOIS_READ)
    organization_id = require_organization(actor)
    found = session.get(OwnershipDispute, dispute_id)
    if found is None or organization_id not in (
        found.holder_organization_id,
        found.claimant_organization_id,
    ):
        raise NotFound("No such dispute.")
    side = "holder" if found.holder_organization_id == organization_id else "claimant"
    return DisputeView(found, side, _history(session, found.id))


def open_dispute_of(session: Session, actor: Actor, profile_id: uuid.UUID) -> DisputeView | None:
    """The open dispute a profile of the organization is in, if any."""
    require(actor, Capability.WHOIS_READ)
    require_organization(actor)
    found = session.exec(
        select(OwnershipDispute)
        .where(
            col(OwnershipDispute.status) == DisputeStatus.OPEN,
            (col(OwnershipDispute.holder_profile_id) == profile_id)
            | (col(OwnershipDispute.claimant_profile_id) == profile_id),
        )
        .order_by(col(OwnershipDispute.opened_at))
    ).first()
    return dispute(session, actor, found.id) if found else None


def code_waiting(
    session: Session, actor: Actor, profile_id: uuid.UUID, *, now: datetime
) -> datetime | None:
    """When the code sent to one of the organization's profiles expires (None: no live code)."""
    require(actor, Capability.WHOIS_READ)
    organization_id = require_organization(actor)
    profile = session.get(WhoisProfile, profile_id)
    if profile is None or profile.organization_id != organization_id:
        raise NotFound("No such profile in your Whois Profiles.")
    stored = session.get(VerificationCode, profile_id)
    if stored is None or stored.expires_at <= now or stored.attempts_left <= 0:
        return None
    return stored.expires_at


def has_disputes(session: Session, actor: Actor) -> bool:
    """Whether the organization was ever on either side of a dispute."""
    require(actor, Capability.WHOIS_READ)
    organization_id = require_organization(actor)
    found = session.exec(
        select(DisputeParty.dispute_id)
        .where(col(DisputeParty.organization_id) == organization_id)
        .limit(1)
    ).first()
    return found is not None


def _history(session: Session, dispute_id: uuid.UUID) -> tuple[Step, ...]:
    steps = session.exec(
        select(DisputeEvent)
        .where(col(DisputeEvent.dispute_id) == dispute_id)
        .order_by(col(DisputeEvent.position))
    )
    return tuple(Step(step.created_at, step.kind, step.detail) for step in steps)


# --- Staff ------------------------------------------------------------------------------------


def staff_disputes_listing(staff: Actor) -> Listing:
    """Every dispute, open ones first by default, with both organizations named."""
    require(staff, Capability.STAFF)
    holder = aliased(Organization)
    claimant = aliased(Organization)
    dispute = OwnershipDispute
    return Listing(
        noun="ownership disputes",
        select=select(col(dispute.id))
        .select_from(dispute)
        .join(holder, col(holder.id) == col(dispute.holder_organization_id))
        .join(claimant, col(claimant.id) == col(dispute.claimant_organization_id)),
        key=col(dispute.id),
        columns=(
            Column("number", "Number", col(dispute.number), formatter=shown),
            Column("holder", "Holder", col(holder.name)),
            Column("claimant", "Claimant", col(claimant.name)),
            Column("status", "Status", col(dispute.status), ColumnKind.STATUS, labels=STATUSES),
            Column("opened_at", "Opened", col(dispute.opened_at), ColumnKind.DATETIME),
            Column("decided_at", "Closed", col(dispute.decided_at), ColumnKind.DATETIME),
        ),
        sorts=(
            created_sort(col(dispute.opened_at)),
            Sort("status", "Status", col(dispute.status), then=(col(dispute.opened_at),)),
        ),
        default_sort="created",
        filters=(
            ChoiceFilter("status", "Status", equal_choices(col(dispute.status), STATUSES)),
            TextFilter(
                "search",
                "Number or organization",
                (col(dispute.number), col(holder.name), col(claimant.name)),
            ),
            DateRangeFilter("opened", "Opened", col(dispute.opened_at)),
        ),
        empty_message="No ownership disputes yet.",
    )


def staff_dispute(session: Session, staff: Actor, dispute_id: uuid.UUID) -> DisputeView:
    require(staff, Capability.STAFF)
    found = session.get(OwnershipDispute, dispute_id)
    if found is None:
        raise NotFound("No such dispute.")
    holder = session.get(Organization, found.holder_organization_id)
    claimant = session.get(Organization, found.claimant_organization_id)
    return DisputeView(
        found,
        "",
        _history(session, found.id),
        holder_name=holder.name if holder else None,
        claimant_name=claimant.name if claimant else None,
    )


def staff_reports_listing(staff: Actor) -> Listing:
    """Every community report, newest first, with the reporting organization."""
    require(staff, Capability.STAFF)
    report = CommunityReport
    state = case((col(report.removed_at).is_(None), "live"), else_="removed")
    return Listing(
        noun="community reports",
        select=select(col(report.id))
        .select_from(report)
        .join(Organization, col(Organization.id) == col(report.organization_id)),
        key=col(report.id),
        columns=(
            Column("created_at", "Reported", col(report.created_at), ColumnKind.DATETIME),
            Column("number", "Number", col(report.number), formatter=shown),
            Column("kind", "Report", col(report.kind), labels=REPORT_KINDS),
            Column("organization", "By", col(Organization.name)),
            Column("comment", "Comment", col(report.comment)),
            Column("state", "State", state, ColumnKind.STATUS, labels=REPORT_STATES),
            Column("removed_reason", "Why removed", col(report.removed_reason)),
        ),
        sorts=(created_sort(col(report.created_at)),),
        default_sort="created",
        filters=(
            TextFilter(
                "search", "Number or organization", (col(report.number), col(Organization.name))
            ),
            ChoiceFilter("kind", "Report", equal_choices(col(report.kind), REPORT_KINDS)),
            DateRangeFilter("created", "Reported", col(report.created_at)),
        ),
        empty_message="No community reports yet.",
    )


def staff_report(session: Session, staff: Actor, report_id: uuid.UUID) -> CommunityReport:
    require(staff, Capability.STAFF)
    found = session.get(CommunityReport, report_id)
    if found is None:
        raise NotFound("No such report.")
    return found
