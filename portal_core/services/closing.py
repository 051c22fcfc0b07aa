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

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Engine, Table, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, PortalError, ValidationFailed
from portal_core.models.access import Invitation
from portal_core.models.accounts import Organization, OrganizationStatus, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount
from portal_core.models.notices import NoticeKind
from portal_core.models.payments import (
    AutoRecharge,
    ClosingRefund,
    ClosingRefundStatus,
    Payment,
    Refund,
    RefundStatus,
)
from portal_core.models.products import DisputeStatus, OwnershipDispute, WhoisProfile
from portal_core.money import format_cents
from portal_core.payments.gateway import Gateway
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.queries.billing import funds_of
from portal_core.rules.payments import balance_share, refund_share, refundable_cents
from portal_core.services import api_tokens, audit, invoices, notices, sessions, whois
from portal_core.services.payments import refunds

log = logging.getLogger(__name__)


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
    last_invoice_period: str  # "May 2026": the month the last invoice bills
    last_invoice_fee_cents: int  # the month's subscription fee, whole, before taxes

    @property
    def owing_cents(self) -> int:
        return max(-self.balance_cents, 0)


def preview(session: Session, actor: Actor, *, now: datetime | None = None) -> ClosingPreview:
    require(actor, Capability.USERS_MANAGE)
    organization_id = require_organization(actor)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("Your organization was not found.")
    funds = funds_of(session, organization_id)
    fees = invoices.fees_to_date(session, organization_id, now=now or utcnow())
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
        last_invoice_period=fees.period_label,
        last_invoice_fee_cents=fees.fee_cents,
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
    if closing.balance_left_cents > 0:
        # Saved with the closing, so the refund outlives a process that dies right after it.
        _save_task(session, organization.id, closing.now)
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

# An attempt asks the card processor once per payment (its client already retried each call a
# few times), so an attempt that fails is an outage of minutes at least. Five attempts, 5, 10,
# 20 and 40 minutes apart, span 75 minutes: past the hour after which reconciliation reports an
# unsettled payment, so a passing outage is ridden out, and one that lasts (a revoked key, a
# closed processor account) reaches staff the same hour, once.
MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(minutes=5)
# Longer than an attempt lasts (one call per payment, each with its timeout and retries), so a
# lease only runs out on a process that died mid-attempt; the next run then takes it over.
LEASE = timedelta(minutes=15)
# At most this many organizations an attempt each per run of the job: the rest wait a run.
SWEEP_LIMIT = 200

_tasks = cast(Table, ClosingRefund.__table__)  # type: ignore[attr-defined]


def retry_delay(attempts: int) -> timedelta:
    """How long the refund waits after its ``attempts``-th failed attempt."""
    return FIRST_RETRY * 2 ** max(attempts - 1, 0)


@dataclass(frozen=True)
class BalanceRefund:
    refunded_cents: int  # what left the balance in this attempt, by refunds that went through
    left_cents: int  # what is still there: to try again (pending), or staff were told (staff)
    status: ClosingRefundStatus
    attempted: bool = True  # False: another attempt had it, or nothing was due


def refund_balance(
    engine: Engine,
    organization_id: uuid.UUID,
    *,
    gateway: Gateway | None = None,
    now: datetime | None = None,
) -> BalanceRefund:
    """One attempt at giving a closed organization's positive balance back to the cards that
    paid it, newest payment first, each payment at most once (``refunds.refund_on_closing`` is
    keyed by it, and asks the processor again with the same key), so running it again refunds
    nothing twice and finishes what an attempt before it left.

    The attempt first claims the organization's ``ClosingRefund`` (one UPDATE: due, pending,
    moved a lease ahead), so two at once never both walk its payments; the one that finds it
    claimed or settled changes nothing. A refund the processor did not answer, or an error of
    any kind, leaves the task pending for the ``closing.refunds`` job to try again after
    ``retry_delay``; at the ``MAX_ATTEMPTS``-th such attempt, or at once when every card was
    tried and some balance is still left (no card paid it, or the bank refused), staff are
    told to refund what is left from Staff › Billing accounts, once.

    A refund takes its share of the balance (the convenience fee never reached it), so each
    payment is refunded what brings the balance closest to zero without going under. A
    refund the processor has not answered stops the walk (its share is not off the balance
    yet, and the next payment would be refunded the same money)."""
    now = now or utcnow()
    with db.read_session(engine) as session:
        organization = session.get(Organization, organization_id)
        if organization is None or organization.closed_at is None:
            raise Conflict("Only a closed organization's balance goes back to its cards.")
        name = organization.name
    attempt = _claim(engine, organization_id, now)
    if attempt is None:
        return _as_it_stands(engine, organization_id)
    with db.read_session(engine) as session:
        started = funds_of(session, organization_id).balance_cents
    error: str | None = None
    try:
        _refund_newest_first(engine, organization_id, gateway=gateway, now=now)
    except Exception as raised:  # the task keeps it and is tried again: nothing is lost
        log.exception("Refunding closed organization %s's balance failed", organization_id)
        error = f"{type(raised).__name__}: {raised}"
    with db.write_session(engine) as session:
        return _record_attempt(
            session, organization_id, name, attempt=attempt, started=started, error=error, now=now
        )


def _claim(engine: Engine, organization_id: uuid.UUID, now: datetime) -> int | None:
    """The attempt's number, once this process holds the task; None when it is not due.
    On PostgreSQL a second claimant waits for the first one's row lock, then finds the row
    no longer due; SQLite lets one writer in at a time."""
    with db.write_connection(engine) as connection:
        attempt = connection.execute(
            update(_tasks)
            .where(
                _tasks.c.organization_id == organization_id,
                _tasks.c.status == ClosingRefundStatus.PENDING.value,
                _tasks.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + LEASE, attempts=_tasks.c.attempts + 1, updated_at=now)
            .returning(_tasks.c.attempts)
        ).scalar()
    return None if attempt is None else int(attempt)


def _as_it_stands(engine: Engine, organization_id: uuid.UUID) -> BalanceRefund:
    with db.read_session(engine) as session:
        left = max(funds_of(session, organization_id).balance_cents, 0)
        task = session.get(ClosingRefund, organization_id)
    status = task.status if task is not None else ClosingRefundStatus.PENDING
    if task is None and left == 0:
        status = ClosingRefundStatus.REFUNDED
    return BalanceRefund(refunded_cents=0, left_cents=left, status=status, attempted=False)


def _refund_newest_first(
    engine: Engine, organization_id: uuid.UUID, *, gateway: Gateway | None, now: datetime
) -> None:
    with db.read_session(engine) as session:
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
            return
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
            return


def _unanswered_refunds(session: Session, organization_id: uuid.UUID) -> int:
    return _count(
        session,
        Refund,
        col(Refund.organization_id) == organization_id,
        col(Refund.status) == RefundStatus.PENDING.value,
        col(Refund.idempotency_key).startswith(refunds.CLOSING_REFUND_KEY),
    )


def _record_attempt(
    session: Session,
    organization_id: uuid.UUID,
    name: str,
    *,
    attempt: int,
    started: int,
    error: str | None,
    now: datetime,
) -> BalanceRefund:
    task = session.exec(
        select(ClosingRefund)
        .where(ClosingRefund.organization_id == organization_id)
        .with_for_update()
    ).one()
    left = funds_of(session, organization_id).balance_cents
    refunded = max(max(started, 0) - max(left, 0), 0)
    if refunded > 0:
        audit.record(
            session,
            "organization.balance_refunded",
            organization_id=organization_id,
            subject=name,
            detail=f"{format_cents(refunded)} to its cards; {format_cents(max(left, 0))} left",
        )
    if task.attempts != attempt or task.status != ClosingRefundStatus.PENDING:
        # Our lease ran out and another attempt took the task over: it decides what is next.
        return BalanceRefund(refunded, max(left, 0), task.status)
    unanswered = _unanswered_refunds(session, organization_id)
    task.updated_at = now
    if left <= 0:
        task.status = ClosingRefundStatus.REFUNDED
        task.last_error = None
        task.next_attempt_at = now
    elif (unanswered or error) and attempt < MAX_ATTEMPTS:
        task.next_attempt_at = now + retry_delay(attempt)
        task.last_error = (error or _NO_ANSWER.format(count=unanswered))[:300]
    else:
        task.status = ClosingRefundStatus.STAFF
        task.left_cents = left
        said = error or (_NO_ANSWER.format(count=unanswered) if unanswered else None)
        task.last_error = said[:300] if said else None
        _tell_staff(session, organization_id, name, left=left, unanswered=unanswered, now=now)
    session.add(task)
    return BalanceRefund(refunded, max(left, 0), task.status)


_NO_ANSWER = "The card processor did not answer {count} refund(s); asked again with the same key."


def _tell_staff(
    session: Session,
    organization_id: uuid.UUID,
    name: str,
    *,
    left: int,
    unanswered: int,
    now: datetime,
) -> None:
    """What no card took, for staff to refund by hand; when the processor never answered a
    refund, staff must look it up there first, or the card could be refunded twice."""
    body = (
        f"{name} closed its account. {format_cents(left)} of its balance could not go back "
        "to its cards. Refund it from Staff › Billing accounts."
    )
    if unanswered:
        body = (
            f"{name} closed its account. {format_cents(left)} of its balance is still to "
            f"refund: the card processor did not answer after {MAX_ATTEMPTS} attempts. Look "
            f"for its {unanswered} unanswered refund(s) in the processor's dashboard before "
            "refunding it from Staff › Billing accounts, or the card may be refunded twice."
        )
    notices.post_for_staff(
        session,
        kind=NoticeKind.ORGANIZATION_CLOSED,
        title=f"{name} closed: refund {format_cents(left)}",
        body=body,
        dedupe_key=f"organization_closed:{organization_id}:{left}",
        link_page_id="staff.billing_accounts",
        now=now,
    )


# --- The job: refunds that a process left undone ------------------------------------------------


@dataclass(frozen=True)
class RefundSweep:
    """One run of ``closing.refunds``: organizations whose balance went back to their cards,
    left to try again, and handed to staff."""

    refunded: int
    retrying: int
    handed_to_staff: int


def refund_closed_balances(
    engine: Engine, *, gateway: Gateway | None = None, now: datetime | None = None
) -> RefundSweep:
    """Attempt every closed organization's refund that is due: those a closing saved and
    whose attempt right after it died or failed, and those whose balance is positive with no
    refund pending (closed before refunds were kept as tasks, or credited after theirs was
    done: a payment the processor confirmed late, a dispute won)."""
    now = now or utcnow()
    _open_tasks(engine, now)
    with db.read_session(engine) as session:
        due = session.exec(
            select(ClosingRefund.organization_id)
            .where(
                ClosingRefund.status == ClosingRefundStatus.PENDING.value,
                col(ClosingRefund.next_attempt_at) <= now,
            )
            .order_by(col(ClosingRefund.next_attempt_at))
            .limit(SWEEP_LIMIT)
        ).all()
    done = [
        refund_balance(engine, organization_id, gateway=gateway, now=now) for organization_id in due
    ]
    attempted = [outcome.status for outcome in done if outcome.attempted]
    return RefundSweep(
        refunded=attempted.count(ClosingRefundStatus.REFUNDED),
        retrying=attempted.count(ClosingRefundStatus.PENDING),
        handed_to_staff=attempted.count(ClosingRefundStatus.STAFF),
    )


def _open_tasks(engine: Engine, now: datetime) -> None:
    """A pending task for each closed organization with a positive balance and none pending
    or handed to staff."""
    with db.read_session(engine) as session:
        found = session.exec(
            select(Organization.id, ClosingRefund.status)
            .join(BillingAccount, col(BillingAccount.organization_id) == col(Organization.id))
            .outerjoin(ClosingRefund, col(ClosingRefund.organization_id) == col(Organization.id))
            .where(
                col(Organization.status) == OrganizationStatus.DEACTIVATED.value,
                col(Organization.closed_at).is_not(None),
                col(BillingAccount.balance_micros) > 0,
                col(ClosingRefund.status).is_(None)
                | (col(ClosingRefund.status) == ClosingRefundStatus.REFUNDED.value),
            )
        ).all()
    for organization_id, status in found:
        with db.write_session(engine) as session:
            if status is None:
                _save_task(session, organization_id, now)
            else:
                session.execute(
                    update(_tasks)
                    .where(
                        _tasks.c.organization_id == organization_id,
                        _tasks.c.status == ClosingRefundStatus.REFUNDED.value,
                    )
                    .values(
                        status=ClosingRefundStatus.PENDING.value,
                        attempts=0,
                        next_attempt_at=now,
                        updated_at=now,
                    )
                )


def _save_task(session: Session, organization_id: uuid.UUID, now: datetime) -> None:
    """A pending refund task, unless a concurrent run saved it first."""
    try:
        with session.begin_nested():
            session.add(
                ClosingRefund(
                    organization_id=organization_id,
                    status=ClosingRefundStatus.PENDING,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        pass


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
