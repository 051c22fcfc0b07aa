"""Who owns a number: verification by a one-time code, and ownership disputes
(docs/product.md, Whois Profiles › Ownership and disputes).

A number has at most one owning organization, its *holder* (the one active profile of the
number). Registering a number another organization holds opens a **dispute**: the
*claimant's* profile waits as pending — hidden from others, unscored — and both sides hear of
it (a notice to the members who may read Whois Profiles; an e-mail to those of them who keep
dispute notices on). It ends in one of three ways, each kept as a step of its history and in
the audit log:

- **a code**: either side asks for a one-time code sent to the number (``phone``'s channel)
  and types it back. Six digits, kept only as an HMAC digest, valid ``CODE_LIFETIME``,
  ``CODE_TRIES`` tries; a new code at most every ``RESEND_AFTER`` and ``SENDS_PER_DAY`` a
  day. Whoever proves the number wins it, verified;
- **staff** decide, with a required reason (Staff › Disputes);
- **withdrawal**: the claimant deletes its pending profile (the holder keeps the number), or
  the holder deletes its profile (the claimant gets it).

The loser's profile is removed; the winner's is active. Losing a dispute counts against the
loser's carrier score for a year (``rules.carrier_score``); both carrier scores and the
number's score are recomputed at once. Any registered number, disputed or not, can be
verified with a code: a verified number scores higher.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete as sa_delete
from sqlalchemy import func
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select

from portal_core import emails
from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.mail import queue_mail
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.models.products import (
    DecidedBy,
    DisputeEvent,
    DisputeParty,
    DisputeStatus,
    EventAction,
    EventProduct,
    NumberScore,
    OwnershipDispute,
    ProfileStatus,
    VerificationCode,
    WhoisProfile,
)
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.phone import send_code_message
from portal_core.queries.members import members_who_may
from portal_core.rules.numbers import facts_of
from portal_core.services import audit, carrier_scores, notices, product_events, scores, secrets
from portal_core.settings import get_settings

CODE_LIFETIME = timedelta(minutes=10)
CODE_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
SENDS_PER_DAY = 5
MAX_REASON = 300


class CodeRefused(ValidationFailed):
    """A wrong, expired or used-up code: the try is counted (kept) before it is refused."""

    keeps_writes = True

    def __init__(self, message: str) -> None:
        super().__init__({"code": message})


# --- Opening ---------------------------------------------------------------------------------


def open_dispute(
    session: Session, actor: Actor, claimant: WhoisProfile, holder: WhoisProfile, *, now: datetime
) -> OwnershipDispute:
    """The claimant registered a number the holder holds: its profile waits (pending) and
    both organizations hear of it."""
    dispute = OwnershipDispute(
        number=claimant.number,
        holder_organization_id=holder.organization_id,
        holder_profile_id=holder.id,
        claimant_organization_id=claimant.organization_id,
        claimant_profile_id=claimant.id,
        opened_at=now,
    )
    session.add(dispute)
    session.flush()
    session.add(
        DisputeParty(
            organization_id=holder.organization_id,
            dispute_id=dispute.id,
            side="holder",
            opened_at=now,
        )
    )
    session.add(
        DisputeParty(
            organization_id=claimant.organization_id,
            dispute_id=dispute.id,
            side="claimant",
            opened_at=now,
        )
    )
    session.flush()
    shown = facts_of(claimant.number).international
    _step(
        session,
        dispute,
        "opened",
        f"{shown} registered while another organization holds it",
        actor=actor,
        now=now,
    )
    _tell(
        session,
        dispute,
        claimant.organization_id,
        NoticeKind.OWNERSHIP_DISPUTE_OPENED,
        title=f"{shown} is held by another organization",
        body=(
            f"Another organization holds {shown}. Your profile of it is pending — hidden and "
            "unscored — until its ownership is decided. Prove the number is yours with a code "
            "sent to it, from its profile in Whois Profiles, or SIPSTACK decides."
        ),
        now=now,
    )
    _tell(
        session,
        dispute,
        holder.organization_id,
        NoticeKind.OWNERSHIP_DISPUTE_OPENED,
        title=f"Another organization claims {shown}",
        body=(
            f"Another organization registered {shown}, which you hold. Prove the number is "
            "yours with a code sent to it, from its profile in Whois Profiles, or SIPSTACK "
            "decides. Until then, your profile stays as it is."
        ),
        now=now,
    )
    for organization_id, result in (
        (claimant.organization_id, "Dispute opened: another organization holds it"),
        (holder.organization_id, "Dispute opened: another organization claims it"),
    ):
        _event(
            session,
            organization_id,
            actor if organization_id == actor.organization_id else None,
            claimant.number,
            result,
            now,
        )
    audit.record(
        session,
        "ownership.dispute_opened",
        actor=actor,
        subject=claimant.number,
        detail=str(dispute.id),
    )
    return dispute


# --- Codes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSent:
    number: str
    expires_at: datetime


def send_code(
    session: Session, actor: Actor, profile_id: uuid.UUID, *, now: datetime | None = None
) -> CodeSent:
    """Send a one-time code to the profile's number (see the module's docstring for limits)."""
    require(actor, Capability.WHOIS_WRITE)
    now = now or utcnow()
    profile = _own_profile(session, actor, profile_id)
    if (
        profile.verified_at is not None
        and profile.status == ProfileStatus.ACTIVE
        and not _open_disputes(session, profile)
    ):
        raise Conflict("This number is already verified.")
    today = now.date()
    stored = session.get(VerificationCode, profile.id, with_for_update=True)
    if stored is not None:
        if now < stored.sent_at + RESEND_AFTER:
            wait = int((stored.sent_at + RESEND_AFTER - now).total_seconds()) + 1
            raise Conflict(f"A code was just sent: wait {wait} seconds before asking for another.")
        sends = stored.sends_today if stored.sends_day == today else 0
        if sends >= SENDS_PER_DAY:
            raise Conflict(
                f"{SENDS_PER_DAY} codes were sent to this number today: try again tomorrow, or "
                "ask SIPSTACK to decide."
            )
    else:
        sends = 0
    code = secrets.new_code()
    shown = facts_of(profile.number).international
    if stored is None:
        stored = VerificationCode(
            profile_id=profile.id,
            code_digest="",
            expires_at=now,
            attempts_left=CODE_TRIES,
            sent_at=now,
            sends_day=today,
        )
    stored.code_digest = secrets.keyed_digest(code, context=str(profile.id))
    stored.expires_at = now + CODE_LIFETIME
    stored.attempts_left = CODE_TRIES
    stored.sent_at = now
    stored.sends_day = today
    stored.sends_today = sends + 1
    session.add(stored)
    session.flush()
    for dispute in _open_disputes(session, profile):
        _step(
            session,
            dispute,
            "code_sent",
            f"A code was sent to {shown} for {_side(dispute, profile)}",
            actor=actor,
            now=now,
        )
    _event(session, profile.organization_id, actor, profile.number, "Code sent to the number", now)
    # Last: a channel that fails rolls all of this back, and no code is kept that never went.
    send_code_message(
        profile.number,
        f"Your SIPSTACK code for {shown} is {code}. It expires in "
        f"{int(CODE_LIFETIME.total_seconds() // 60)} minutes.",
    )
    return CodeSent(profile.number, stored.expires_at)


@dataclass(frozen=True)
class Verified:
    number: str
    won_dispute: bool


def confirm_code(
    session: Session,
    actor: Actor,
    profile_id: uuid.UUID,
    code: str,
    *,
    now: datetime | None = None,
) -> Verified:
    """Check the code typed back: right, the number is verified as the organization's and any
    open dispute over it is decided for it; wrong, one try fewer (``CodeRefused``)."""
    require(actor, Capability.WHOIS_WRITE)
    now = now or utcnow()
    profile = _own_profile(session, actor, profile_id)
    typed = "".join(code.split())
    if not typed.isdigit() or len(typed) != 6:
        raise ValidationFailed({"code": "Enter the six digits of the code sent to the number."})
    stored = session.get(VerificationCode, profile.id, with_for_update=True)
    if stored is None:
        raise ValidationFailed({"code": "No code is waiting: send a code to the number first."})
    if now >= stored.expires_at:
        raise ValidationFailed({"code": "That code expired: send a new one."})
    if stored.attempts_left <= 0:
        raise ValidationFailed({"code": "Too many wrong tries: send a new code."})
    if not secrets.matches_keyed_digest(stored.code_digest, typed, context=str(profile.id)):
        stored.attempts_left -= 1
        session.add(stored)
        for dispute in _open_disputes(session, profile):
            _step(
                session,
                dispute,
                "code_failed",
                f"A wrong code was typed for {_side(dispute, profile)}",
                actor=actor,
                now=now,
            )
        left = stored.attempts_left
        raise CodeRefused(
            f"That code is not right: {left} {'try' if left == 1 else 'tries'} left."
            if left
            else "That code is not right, and that was the last try: send a new code."
        )
    session.delete(stored)
    return _verified(session, actor, profile, now)


def verify_demo_number(
    session: Session, actor: Actor, profile_id: uuid.UUID, *, now: datetime | None = None
) -> Verified:
    """Verify one of the development demo's numbers as if its code had been typed back
    (``services.seed``): the demo's numbers are fictional and reach no phone. Refused outside
    development, where only a code proves a number."""
    require(actor, Capability.WHOIS_WRITE)
    if not get_settings().is_development:
        raise Conflict("Only the development demo verifies a number without its code.")
    return _verified(session, actor, _own_profile(session, actor, profile_id), now or utcnow())


def _verified(session: Session, actor: Actor, profile: WhoisProfile, now: datetime) -> Verified:
    """The number is proven the organization's: verified, and any open dispute over it
    decided for it, both scores recomputed."""
    profile.verified_at = now
    session.add(profile)
    session.flush()
    won = False
    for dispute in _open_disputes(session, profile):
        _decide(
            session,
            dispute,
            profile.organization_id,
            DecidedBy.CODE,
            "Proven with a code sent to the number",
            actor=actor,
            now=now,
        )
        won = True
    session.refresh(profile)
    connection = session.connection()
    carrier_scores.refresh(connection, profile.organization_id, now=now)
    scores.refresh(connection, profile.number, now=now)
    _event(
        session,
        profile.organization_id,
        actor,
        profile.number,
        "Ownership verified",
        now,
        action=EventAction.VERIFICATION,
    )
    audit.record(session, "ownership.verified", actor=actor, subject=profile.number)
    return Verified(profile.number, won)


# --- Staff ----------------------------------------------------------------------------------


def decide(
    session: Session,
    staff: Actor,
    dispute_id: uuid.UUID,
    *,
    winner: str,
    reason: str,
    now: datetime | None = None,
) -> OwnershipDispute:
    """Staff decide an open dispute for the ``holder`` or the ``claimant``, with a reason."""
    require(staff, Capability.STAFF)
    now = now or utcnow()
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise ValidationFailed({"reason": "Enter the reason: both organizations are told it."})
    if len(cleaned) > MAX_REASON:
        raise ValidationFailed({"reason": f"The reason must be at most {MAX_REASON} characters."})
    if winner not in ("holder", "claimant"):
        raise ValidationFailed({"winner": "Choose the holder or the claimant."})
    dispute = session.get(OwnershipDispute, dispute_id, with_for_update=True)
    if dispute is None:
        raise NotFound("No such dispute.")
    if dispute.status != DisputeStatus.OPEN:
        raise Conflict("That dispute is already closed.")
    organization = (
        dispute.holder_organization_id if winner == "holder" else dispute.claimant_organization_id
    )
    _decide(session, dispute, organization, DecidedBy.STAFF, cleaned, actor=staff, now=now)
    audit.record(
        session,
        "ownership.decided",
        actor=staff,
        organization_id=organization,
        subject=dispute.number,
        detail=cleaned,
    )
    return dispute


# --- A profile deleted ----------------------------------------------------------------------


def remove_profile(session: Session, actor: Actor, profile: WhoisProfile, *, now: datetime) -> None:
    """Delete a profile. A claimant deleting its pending profile withdraws its claim; a
    holder deleting its profile leaves the number to the oldest claimant."""
    disputes = _open_disputes(session, profile)
    for dispute in disputes:
        if dispute.claimant_profile_id == profile.id:
            _set_status(session, dispute, DisputeStatus.WITHDRAWN)
            dispute.decided_by = DecidedBy.WITHDRAWAL
            dispute.winner_organization_id = dispute.holder_organization_id
            dispute.claimant_profile_id = None
            dispute.decided_at = now
            session.add(dispute)
            _step(
                session,
                dispute,
                "withdrawn",
                "The claimant deleted its profile",
                actor=actor,
                now=now,
            )
            _tell_both(session, dispute, "withdrawn: the claimant deleted its profile", now=now)
    session.delete(profile)
    session.flush()
    oldest = next((d for d in disputes if d.holder_profile_id == profile.id), None)
    if oldest is not None:
        _decide(
            session,
            oldest,
            oldest.claimant_organization_id,
            DecidedBy.WITHDRAWAL,
            "The holder deleted its profile",
            actor=actor,
            now=now,
        )


# --- Inside ---------------------------------------------------------------------------------


def _decide(
    session: Session,
    dispute: OwnershipDispute,
    winner_organization_id: uuid.UUID,
    by: DecidedBy,
    reason: str,
    *,
    actor: Actor | None,
    now: datetime,
) -> None:
    holder_won = winner_organization_id == dispute.holder_organization_id
    winner_profile_id = dispute.holder_profile_id if holder_won else dispute.claimant_profile_id
    loser_profile_id = dispute.claimant_profile_id if holder_won else dispute.holder_profile_id
    loser_organization_id = (
        dispute.claimant_organization_id if holder_won else dispute.holder_organization_id
    )
    _set_status(session, dispute, DisputeStatus.DECIDED)
    dispute.winner_organization_id = winner_organization_id
    dispute.decided_by = by
    dispute.reason = reason
    dispute.decided_at = now
    session.add(dispute)
    if loser_profile_id is not None:
        loser = session.get(WhoisProfile, loser_profile_id)
        if loser is not None:
            session.delete(loser)
            session.execute(
                sa_delete(NumberScore).where(
                    col(NumberScore.organization_id) == loser_organization_id,
                    col(NumberScore.number) == dispute.number,
                )
            )
    session.flush()
    if not holder_won and winner_profile_id is not None:
        winner = session.get(WhoisProfile, winner_profile_id)
        if winner is not None:
            winner.status = ProfileStatus.ACTIVE
            if by == DecidedBy.CODE:
                winner.verified_at = winner.verified_at or now
            session.add(winner)
            session.flush()
            # The other claims on the number go on, against its new holder.
            for other in session.exec(
                select(OwnershipDispute).where(
                    col(OwnershipDispute.number) == dispute.number,
                    col(OwnershipDispute.status) == DisputeStatus.OPEN,
                    col(OwnershipDispute.id) != dispute.id,
                )
            ):
                previous = session.get(DisputeParty, (other.holder_organization_id, other.id))
                if previous is not None:
                    session.delete(previous)
                other.holder_organization_id = winner.organization_id
                other.holder_profile_id = winner.id
                session.add(other)
                session.add(
                    DisputeParty(
                        organization_id=winner.organization_id,
                        dispute_id=other.id,
                        side="holder",
                        opened_at=other.opened_at,
                    )
                )
                _step(
                    session,
                    other,
                    "holder_changed",
                    "Another claimant now holds the number",
                    actor=None,
                    now=now,
                )
    if holder_won:
        dispute.claimant_profile_id = None
    else:
        dispute.holder_profile_id = None
    session.add(dispute)
    session.flush()
    how = {
        DecidedBy.CODE: "proven with a code sent to the number",
        DecidedBy.STAFF: f"decided by SIPSTACK: {reason}",
        DecidedBy.WITHDRAWAL: reason.lower(),
    }[by]
    _step(
        session,
        dispute,
        "decided",
        f"{'The holder' if holder_won else 'The claimant'} keeps the number: {how}",
        actor=actor,
        now=now,
    )
    shown = facts_of(dispute.number).international
    for organization_id, won in (
        (winner_organization_id, True),
        (loser_organization_id, False),
    ):
        _tell(
            session,
            dispute,
            organization_id,
            NoticeKind.OWNERSHIP_DISPUTE_DECIDED,
            title=f"{shown} is yours" if won else f"{shown} went to the other organization",
            body=(
                f"The dispute over {shown} is over: "
                + (
                    "it is yours"
                    if won
                    else "the other organization keeps it, and your profile of it is removed"
                )
                + f" ({how})."
            ),
            now=now,
        )
        _event(
            session,
            organization_id,
            actor if actor is not None and actor.organization_id == organization_id else None,
            dispute.number,
            "Dispute won" if won else "Dispute lost",
            now,
        )
    connection = session.connection()
    carrier_scores.refresh(connection, loser_organization_id, now=now)
    carrier_scores.refresh(connection, winner_organization_id, now=now)
    scores.refresh(connection, dispute.number, now=now)


def _set_status(session: Session, dispute: OwnershipDispute, status: DisputeStatus) -> None:
    """The dispute's status, and its parties' copy of it."""
    dispute.status = status
    session.add(dispute)
    session.execute(
        sa_update(DisputeParty)
        .where(col(DisputeParty.dispute_id) == dispute.id)
        .values(status=status)
    )


def _own_profile(session: Session, actor: Actor, profile_id: uuid.UUID) -> WhoisProfile:
    organization_id = require_organization(actor)
    profile = session.get(WhoisProfile, profile_id, with_for_update=True)
    if profile is None or profile.organization_id != organization_id:
        raise NotFound("No such profile in your Whois Profiles.")
    return profile


def _open_disputes(session: Session, profile: WhoisProfile) -> list[OwnershipDispute]:
    return list(
        session.exec(
            select(OwnershipDispute)
            .where(
                col(OwnershipDispute.status) == DisputeStatus.OPEN,
                (col(OwnershipDispute.holder_profile_id) == profile.id)
                | (col(OwnershipDispute.claimant_profile_id) == profile.id),
            )
            .order_by(col(OwnershipDispute.opened_at), col(OwnershipDispute.id))
        )
    )


def _side(dispute: OwnershipDispute, profile: WhoisProfile) -> str:
    return "the holder" if dispute.holder_profile_id == profile.id else "the claimant"


def _step(
    session: Session,
    dispute: OwnershipDispute,
    kind: str,
    detail: str,
    *,
    actor: Actor | None,
    now: datetime,
) -> None:
    position = session.exec(
        select(func.count()).where(col(DisputeEvent.dispute_id) == dispute.id)
    ).one()
    session.add(
        DisputeEvent(
            dispute_id=dispute.id,
            position=position + 1,
            created_at=now,
            organization_id=actor.organization_id if actor else None,
            user_id=actor.user_id if actor else None,
            kind=kind,
            detail=detail[:300],
        )
    )
    session.flush()


def _tell(
    session: Session,
    dispute: OwnershipDispute,
    organization_id: uuid.UUID,
    kind: NoticeKind,
    *,
    title: str,
    body: str,
    now: datetime,
) -> None:
    notices.post(
        session,
        organization_id=organization_id,
        kind=kind,
        title=title,
        body=body,
        dedupe_key=f"ownership:{dispute.id}:{kind.value}:{organization_id}",
        capability=Capability.WHOIS_READ,
        link_page_id="partner.whois_profiles",
        now=now,
    )
    for member in members_who_may(session, organization_id, Capability.WHOIS_READ):
        if member.notify_disputes:
            queue_mail(
                session,
                emails.ownership_dispute(
                    member.email, member.name, subject=f"SIPSTACK: {title}", body=body
                ),
            )


def _tell_both(session: Session, dispute: OwnershipDispute, what: str, *, now: datetime) -> None:
    shown = facts_of(dispute.number).international
    for organization_id in (dispute.holder_organization_id, dispute.claimant_organization_id):
        _tell(
            session,
            dispute,
            organization_id,
            NoticeKind.OWNERSHIP_DISPUTE_DECIDED,
            title=f"The dispute over {shown} is over",
            body=f"The dispute over {shown} is {what}.",
            now=now,
        )


def _event(
    session: Session,
    organization_id: uuid.UUID,
    actor: Actor | None,
    number: str,
    result: str,
    now: datetime,
    *,
    action: EventAction = EventAction.DISPUTE,
) -> None:
    # When another organization's member (or staff) acted, the event names nobody.
    own = actor if actor is not None and actor.organization_id == organization_id else None
    product_events.record(
        session.connection(),
        product_events.Event(
            organization_id=organization_id,
            user_id=own.user_id if own else None,
            api_token_id=own.api_token_id if own else None,
            product=EventProduct.WHOIS,
            action=action,
            number=number,
            result=result,
        ),
        now=now,
    )
