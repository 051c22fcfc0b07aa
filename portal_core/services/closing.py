"""Closing an organization: its owner ends its account for good (docs/product.md, Pages › Users,
Closing the organization).

Refused while a balance is owing. Otherwise, in one transaction, each of ``CLOSING_STEPS`` in
order: the last invoice (the month to date, as the run on the 1st would bill it), which must
leave no balance owing either; the Whois profiles removed (its numbers released; its claims in
ownership disputes withdrawn, and numbers it held left to their claimants); its pending
invitations cancelled; every member deactivated and their sessions ended; the organization
deactivated, with when it closed, which later invoice runs leave out. What billing law keeps
stays: the ledger, invoices, credit notes, payments, refunds and the audit log are never
deleted. A balance left over is for SIPSTACK's staff to refund to the organization's cards
(they are told by a staff notice, and refund it from Staff › Billing accounts).

A new step (revoking the organization's API tokens, say) is one more entry of
``CLOSING_STEPS``: a title the page shows before anything is done, and a function run inside
the closing transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.models.access import Invitation
from portal_core.models.accounts import Organization, OrganizationStatus, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.models.products import DisputeStatus, OwnershipDispute, WhoisProfile
from portal_core.money import format_cents
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.billing import funds_of
from portal_core.services import audit, invoices, notices, sessions, whois


@dataclass
class Closing:
    """What a closing did, step by step, for the page and the audit log."""

    organization_id: uuid.UUID
    organization_name: str
    now: datetime
    done: list[str]
    invoice_number: int | None = None
    invoice_total_cents: int = 0
    balance_left_cents: int = 0


# A step: run inside the closing transaction with the acting owner and the organization's
# locked row; it says, in a few words, what it did (or None when there was nothing to do).
Step = Callable[[Session, Actor, Organization, Closing], str | None]


@dataclass(frozen=True)
class ClosingStep:
    title: str  # what the page says will happen, before anything does
    run: Step


# --- Before anything is done -----------------------------------------------------------------


@dataclass(frozen=True)
class ClosingPreview:
    """What the page shows before the owner types the organization's name."""

    organization_name: str
    balance_cents: int  # negative: owing
    unbilled_cents: int
    profiles: int
    open_disputes: int
    members: int
    pending_invitations: int
    steps: tuple[str, ...]

    @property
    def owing_cents(self) -> int:
        return max(-self.balance_cents, 0)


def preview(session: Session, actor: Actor) -> ClosingPreview:
    require(actor, Capability.USERS_MANAGE)
    organization_id = require_organization(actor)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("Your organization was not found.")
    funds = funds_of(session, organization_id)
    return ClosingPreview(
        organization_name=organization.name,
        balance_cents=funds.balance_cents,
        unbilled_cents=funds.unbilled_cents,
        profiles=_count(
            session, WhoisProfile, col(WhoisProfile.organization_id) == organization_id
        ),
        open_disputes=len(_open_disputes(session, organization_id)),
        members=_count(
            session,
            User,
            col(User.organization_id) == organization_id,
            col(User.status) != UserStatus.DEACTIVATED.value,
        ),
        pending_invitations=_count(
            session,
            Invitation,
            col(Invitation.organization_id) == organization_id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.cancelled_at).is_(None),
        ),
        steps=tuple(step.title for step in CLOSING_STEPS),
    )


# --- Closing ---------------------------------------------------------------------------------


def close_organization(
    session: Session, actor: Actor, typed_name: str, *, now: datetime | None = None
) -> Closing:
    """Close the actor's organization (owners only), once its name is typed exactly."""
    require(actor, Capability.USERS_MANAGE)
    now = now or utcnow()
    organization = session.exec(
        select(Organization).where(Organization.id == require_organization(actor)).with_for_update()
    ).first()
    if organization is None:
        raise NotFound("Your organization was not found.")
    if organization.status == OrganizationStatus.DEACTIVATED:
        raise Conflict("Your organization's account is already closed.")
    if typed_name.strip() != organization.name.strip():
        raise ValidationFailed(
            {"name": "Type your organization's name exactly as it is shown to confirm."}
        )
    _refuse_while_owing(session, organization.id, after_invoice=False)
    closing = Closing(organization.id, organization.name, now, done=[])
    for step in CLOSING_STEPS:
        said = step.run(session, actor, organization, closing)
        if said:
            closing.done.append(said)
    audit.record(
        session,
        "organization.closed",
        actor=actor,
        subject=organization.name,
        detail="; ".join(closing.done),
    )
    return closing


def _refuse_while_owing(
    session: Session, organization_id: uuid.UUID, *, after_invoice: bool
) -> None:
    owing = -funds_of(session, organization_id).balance_cents
    if owing <= 0:
        return
    if after_invoice:
        raise Conflict(
            f"Your last invoice would leave {format_cents(owing)} owing. Add funds in Billing › "
            "Overview first, then close the organization."
        )
    raise Conflict(
        f"Your organization owes {format_cents(owing)}. Pay it in Billing › Overview first, "
        "then close the organization."
    )


def _last_invoice(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    invoice = invoices.invoice_to_date(session, organization.id, now=closing.now)
    # The invoice is posted first; a total the balance cannot cover undoes the closing whole.
    _refuse_while_owing(session, organization.id, after_invoice=True)
    if invoice is None:
        return None
    closing.invoice_number = invoice.number
    closing.invoice_total_cents = invoice.total_cents
    return f"last invoice {invoice.number} of {format_cents(invoice.total_cents)}"


def _remove_profiles(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    profile_ids = session.exec(
        select(WhoisProfile.id).where(WhoisProfile.organization_id == organization.id)
    ).all()
    for profile_id in profile_ids:
        whois.delete(session, actor, profile_id, now=closing.now)
    return f"{len(profile_ids)} Whois profiles removed" if profile_ids else None


def _cancel_invitations(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    pending = session.exec(
        select(Invitation).where(
            Invitation.organization_id == organization.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.cancelled_at).is_(None),
        )
    ).all()
    for invitation in pending:
        invitation.cancelled_at = closing.now
        session.add(invitation)
    return f"{len(pending)} pending invitations cancelled" if pending else None


def _deactivate_members(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    members = session.exec(
        select(User).where(
            User.organization_id == organization.id,
            User.status != UserStatus.DEACTIVATED.value,
        )
    ).all()
    for member in members:
        member.status = UserStatus.DEACTIVATED
        member.updated_at = closing.now
        session.add(member)
        sessions.end_user_sessions(
            session, member.id, reason="organization_closed", now=closing.now
        )
    return f"{len(members)} members deactivated and logged out"


def _deactivate_organization(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    organization.status = OrganizationStatus.DEACTIVATED
    organization.closed_at = closing.now
    organization.updated_at = closing.now
    session.add(organization)
    left = funds_of(session, organization.id).balance_cents
    closing.balance_left_cents = max(left, 0)
    if left <= 0:
        return "organization deactivated"
    # The refund goes to the cards that paid, through the card processor: staff do it
    # (Staff › Billing accounts), told here, with the balance to refund.
    notices.post_for_staff(
        session,
        kind=NoticeKind.ORGANIZATION_CLOSED,
        title=f"{organization.name} closed: refund {format_cents(left)}",
        body=(
            f"{organization.name} closed its account with a balance of {format_cents(left)}. "
            "Refund it to its cards from Staff › Billing accounts."
        ),
        dedupe_key=f"organization_closed:{organization.id}",
        link_page_id="staff.billing_accounts",
        now=closing.now,
    )
    return f"organization deactivated; {format_cents(left)} left for staff to refund"


CLOSING_STEPS: tuple[ClosingStep, ...] = (
    ClosingStep(
        "A last invoice: this month's subscription fee, as the monthly run would bill it "
        "(not prorated), and the usage to date beyond your allowance, with taxes.",
        _last_invoice,
    ),
    ClosingStep(
        "Your Whois profiles are removed: your numbers are released, your claims in ownership "
        "disputes withdrawn, and numbers others claim are left to them.",
        _remove_profiles,
    ),
    ClosingStep("Pending invitations are cancelled.", _cancel_invitations),
    ClosingStep(
        "Every member, you included, is deactivated and logged out at once.", _deactivate_members
    ),
    ClosingStep(
        "The organization is closed. A balance left over is refunded to your cards by "
        "SIPSTACK's staff.",
        _deactivate_organization,
    ),
    # The organization's API tokens are to be revoked here too, by the step of the API
    # tokens' service, once that service exists.
)


# --- Shared ------------------------------------------------------------------------------------


def _open_disputes(session: Session, organization_id: uuid.UUID) -> list[uuid.UUID]:
    rows = session.exec(
        select(OwnershipDispute.id).where(
            (col(OwnershipDispute.holder_organization_id) == organization_id)
            | (col(OwnershipDispute.claimant_organization_id) == organization_id),
            col(OwnershipDispute.status) == DisputeStatus.OPEN.value,
        )
    ).all()
    return list(rows)


def _count(session: Session, model: type, *conditions: ColumnElement[bool]) -> int:
    return int(session.exec(select(func.count()).select_from(model).where(*conditions)).one())
