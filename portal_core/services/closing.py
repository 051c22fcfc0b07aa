"""Closing an organization: its owner ends its account for good (docs/product.md, Pages › Users,
Closing the organization).

Refused while a balance is owing. Otherwise, in one transaction, each of ``CLOSING_STEPS`` in
order: auto-recharge turned off (the last invoice would otherwise charge the card); the last
invoice (the month to date, as the run on the 1st would bill it), which must leave no balance
owing either; the Whois profiles removed (its numbers released; its claims in
ownership disputes withdrawn, and numbers it held left to their claimants); its pending
invitations cancelled; its API tokens revoked; every member deactivated and their sessions
ended; the organization deactivated, with when it closed, which later invoice runs leave out.
What billing law keeps
stays: the ledger, invoices, credit notes, payments, refunds and the audit log are never
deleted. Once that has committed, ``refund_balance`` gives a balance left over back to the
cards that paid it; what it cannot, staff are told to refund (Staff › Billing accounts).

A new step is one more entry of ``CLOSING_STEPS``: a title the page shows before anything is
done, and a function run inside the closing transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, func
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PortalError, ValidationFailed
from portal_core.models.access import Invitation
from portal_core.models.accounts import Organization, OrganizationStatus, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.models.payments import AutoRecharge, Payment, RefundStatus
from portal_core.models.products import DisputeStatus, OwnershipDispute, WhoisProfile
from portal_core.money import format_cents
from portal_core.payments.gateway import Gateway
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.billing import funds_of
from portal_core.rules.payments import balance_share, refund_share, refundable_cents
from portal_core.services import api_tokens, audit, invoices, notices, sessions, whois
from portal_core.services.payments import refunds


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


def _stop_auto_recharge(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    """Off before the last invoice: its drop of the funds would otherwise charge the card,
    and the recharge sweep keep charging a closed organization's card."""
    settings = session.get(AutoRecharge, organization.id)
    if settings is None or not settings.enabled:
        return None
    settings.enabled = False
    settings.updated_at = closing.now
    settings.updated_by = actor.user_id
    session.add(settings)
    session.flush()  # the last invoice's reaction reads it through the same transaction
    return "auto-recharge turned off"


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


def _revoke_api_tokens(
    session: Session, actor: Actor, organization: Organization, closing: Closing
) -> str | None:
    revoked = api_tokens.revoke_all(session, organization.id, actor=actor, now=closing.now)
    return f"{revoked} API tokens revoked" if revoked else None


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
    closing.balance_left_cents = max(funds_of(session, organization.id).balance_cents, 0)
    return "organization deactivated"


CLOSING_STEPS: tuple[ClosingStep, ...] = (
    ClosingStep("Auto-recharge is turned off: no card is charged again.", _stop_auto_recharge),
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
        "Every API token is revoked: programs calling with one are refused from then on.",
        _revoke_api_tokens,
    ),
    ClosingStep(
        "Every member, you included, is deactivated and logged out at once.", _deactivate_members
    ),
    ClosingStep(
        "The organization is closed, and a balance left over goes back to the cards that "
        "paid it, newest payment first (what cannot go back so, SIPSTACK's staff refund).",
        _deactivate_organization,
    ),
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


# --- The balance left, back to the cards -------------------------------------------------------


@dataclass(frozen=True)
class BalanceRefund:
    refunded_cents: int  # what left the balance, by refunds that went through
    left_cents: int  # what is still there: staff were told to refund it


def refund_balance(
    engine: Engine,
    organization_id: uuid.UUID,
    *,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> BalanceRefund:
    """Refund a closed organization's positive balance to the cards that paid it, newest
    payment first, each payment at most once (``refunds.refund_on_closing`` is keyed by it),
    so running it again refunds nothing twice and finishes what a first run left.

    A refund takes its share of the balance (the convenience fee never reached it), so each
    payment is refunded what brings the balance closest to zero without going under. A
    refund the card processor has not confirmed stops the walk (its share is not off the
    balance yet, and the next payment would be refunded the same money). Whatever is left
    after the walk, staff are told about, to refund from Staff › Billing accounts."""
    now = now or utcnow()
    with db.read_session(engine) as session:
        organization = session.get(Organization, organization_id)
        if organization is None or organization.closed_at is None:
            raise Conflict("Only a closed organization's balance goes back to its cards.")
        name = organization.name
        started = funds_of(session, organization_id).balance_cents
        payment_ids = session.exec(
            select(Payment.id)
            .where(Payment.organization_id == organization_id)
            .order_by(col(Payment.created_at).desc(), col(Payment.id).desc())
        ).all()
    for payment_id in payment_ids:
        with db.read_session(engine) as session:
            left = funds_of(session, organization_id).balance_cents
            payment = session.get_one(Payment, payment_id)
        if left <= 0:
            break
        charged = _charged_for(payment, left)
        if charged == 0:
            continue
        try:
            refund = refunds.refund_on_closing(
                engine,
                organization_id=organization_id,
                payment_id=payment_id,
                amount_cents=charged,
                gateway=gateway,
                now=now,
            )
        except PortalError:
            continue  # this card refused (it is recorded on the refund): try the next one
        if refund.status == RefundStatus.PENDING:
            break
    with db.write_session(engine) as session:
        left = funds_of(session, organization_id).balance_cents
        refunded = max(started, 0) - max(left, 0)
        if refunded > 0:
            audit.record(
                session,
                "organization.balance_refunded",
                organization_id=organization_id,
                subject=name,
                detail=f"{format_cents(refunded)} to its cards; {format_cents(max(left, 0))} left",
            )
        if left > 0:
            notices.post_for_staff(
                session,
                kind=NoticeKind.ORGANIZATION_CLOSED,
                title=f"{name} closed: refund {format_cents(left)}",
                body=(
                    f"{name} closed its account. {format_cents(refunded)} went back to its "
                    f"cards; {format_cents(left)} could not. Refund it from Staff › Billing "
                    "accounts."
                ),
                dedupe_key=f"organization_closed:{organization_id}:{left}",
                link_page_id="staff.billing_accounts",
                now=now,
            )
    return BalanceRefund(refunded_cents=max(refunded, 0), left_cents=max(left, 0))


def _charged_for(payment: Payment, balance_cents: int) -> int:
    """How much of the payment's total charged to refund so that its share of the balance is
    as much of ``balance_cents`` as it can cover, never more."""
    left_charged = refundable_cents(payment)
    if left_charged == 0:
        return 0
    refunded = payment.refunded_cents
    credited_left = payment.amount_cents - balance_share(
        payment.amount_cents, payment.total_cents, refunded
    )
    if credited_left <= balance_cents:
        return left_charged
    low, high = 0, left_charged  # the share grows with the amount: the largest that fits
    while low < high:
        middle = (low + high + 1) // 2
        share = refund_share(payment.amount_cents, payment.total_cents, refunded, middle)
        if share <= balance_cents:
            low = middle
        else:
            high = middle - 1
    return low
