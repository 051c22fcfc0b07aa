"""Organization › Access › Users: inviting people, their roles, deactivating and reactivating
them (docs/product.md, Pages › Users).

Owners and admins invite (an admin never with the owner role); only owners change roles and
deactivate (``Capability.USERS_MANAGE``). An invitation is a single-use link that expires
after ``INVITATION_LIFETIME``; following it, the invitee chooses a name and a password and
joins with the role, already verified (the link reached the inbox). A person belongs to one
organization, so an address that already has an account is refused. Inviting an address that
has a pending invitation replaces it: the old link is dead, and so it is on a resend.

Every step is audited; the member whose role changes, or who is deactivated or reactivated,
is told by e-mail. The last active owner of an organization can be neither demoted nor
deactivated: the organization's row is locked first, so two owners demoting each other at
once cannot both succeed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import emails
from portal_core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal_core.mail import send_after_commit
from portal_core.models.access import Invitation
from portal_core.models.accounts import (
    PARTNER_ROLES,
    Organization,
    OrganizationStatus,
    Role,
    User,
    UserStatus,
)
from portal_core.models.base import utcnow
from portal_core.permissions import (
    Actor,
    Capability,
    invitable_roles,
    require,
    require_organization,
    role_label,
)
from portal_core.services import audit, sessions
from portal_core.services.passwords import hash_password, password_problem
from portal_core.services.secrets import digest, new_secret
from portal_core.services.validation import email_problem, normalize_email, text_problem
from portal_core.terms import current_terms

INVITATION_LIFETIME = timedelta(days=7)

ALREADY_A_MEMBER = (
    "{email} already has a SIPSTACK account. A person belongs to one organization: "
    "they would have to use another address."
)
LAST_OWNER = "{name} is the organization's last active owner. Make another member an owner first."
NOT_YOURSELF = "You cannot deactivate yourself. Ask another owner of your organization."
LINK_NOT_VALID = "This invitation link is not valid. Check that you copied all of it."
LINK_USED = "This invitation has already been used. Log in with the password you chose."
LINK_CANCELLED = (
    "This invitation was cancelled, or replaced by a newer one. Use the link of the newest "
    "invitation e-mail, or ask whoever invited you to send another."
)
LINK_EXPIRED = "This invitation has expired. Ask whoever invited you to send a new one."
ORGANIZATION_CLOSED = "This organization's account is closed: its invitations no longer work."


# --- Inviting ----------------------------------------------------------------------------


def invite(
    session: Session,
    actor: Actor,
    email: str,
    role: Role | str,
    *,
    now: datetime | None = None,
) -> uuid.UUID:
    """Invite ``email`` to the actor's organization with ``role``; returns the invitation's id.

    A pending invitation to the same address is replaced (its link stops working)."""
    require(actor, Capability.USERS_INVITE)
    now = now or utcnow()
    errors: dict[str, str] = {}
    if problem := email_problem(email):
        errors["email"] = problem
    chosen = _invitable_role(actor, role, errors)
    if errors:
        raise ValidationFailed(errors)
    assert chosen is not None
    organization = _locked_organization(session, actor)
    address = normalize_email(email)
    if _user_by_email(session, address) is not None:
        raise ValidationFailed({"email": ALREADY_A_MEMBER.format(email=address)})
    replaced = _pending_to(session, organization.id, address)
    for old in replaced:
        old.cancelled_at = now
        session.add(old)
    invitation = _issue(session, actor, organization, address, chosen, now=now)
    audit.record(
        session,
        "member.invited",
        actor=actor,
        subject=address,
        detail=f"as {role_label(chosen)}"
        + (" (replacing a pending invitation)" if replaced else ""),
    )
    return invitation


def resend(
    session: Session, actor: Actor, invitation_id: uuid.UUID, *, now: datetime | None = None
) -> uuid.UUID:
    """Send a pending (or expired) invitation again with a new link; the old link is dead."""
    require(actor, Capability.USERS_INVITE)
    now = now or utcnow()
    organization = _locked_organization(session, actor)
    old = _open_invitation(session, actor, invitation_id)
    old.cancelled_at = now
    session.add(old)
    invitation = _issue(session, actor, organization, old.email, Role(old.role), now=now)
    audit.record(
        session,
        "member.invitation_resent",
        actor=actor,
        subject=old.email,
        detail=f"as {role_label(old.role)}",
    )
    return invitation


def cancel(
    session: Session, actor: Actor, invitation_id: uuid.UUID, *, now: datetime | None = None
) -> None:
    """Cancel a pending invitation: its link stops working."""
    require(actor, Capability.USERS_INVITE)
    invitation = _open_invitation(session, actor, invitation_id)
    invitation.cancelled_at = now or utcnow()
    session.add(invitation)
    audit.record(
        session,
        "member.invitation_cancelled",
        actor=actor,
        subject=invitation.email,
        detail=f"as {role_label(invitation.role)}",
    )


def _invitable_role(actor: Actor, role: Role | str, errors: dict[str, str]) -> Role | None:
    try:
        chosen = Role(role)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in PARTNER_ROLES:
        errors["role"] = "Choose the role they will have."
        return None
    if chosen not in invitable_roles(actor):
        errors["role"] = "Only an owner can invite someone as an owner."
        return None
    return chosen


def _issue(
    session: Session,
    actor: Actor,
    organization: Organization,
    email: str,
    role: Role,
    *,
    now: datetime,
) -> uuid.UUID:
    secret = new_secret()
    invitation = Invitation(
        organization_id=organization.id,
        email=email,
        role=role.value,
        token_hash=digest(secret),
        invited_by=actor.user_id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    inviter = session.get(User, actor.user_id)
    send_after_commit(
        session,
        emails.invitation(
            email,
            organization=organization.name,
            inviter=inviter.name if inviter is not None else organization.name,
            role=role_label(role),
            token=secret,
            days=INVITATION_LIFETIME.days,
        ),
    )
    return invitation.id


def _open_invitation(session: Session, actor: Actor, invitation_id: uuid.UUID) -> Invitation:
    """A pending or expired invitation of the actor's organization that the actor may act on."""
    invitation = session.get(Invitation, invitation_id)
    if (
        invitation is None
        or invitation.organization_id != require_organization(actor)
        or invitation.accepted_at is not None
        or invitation.cancelled_at is not None
    ):
        raise NotFound("That invitation is no longer pending.")
    if Role(invitation.role) not in invitable_roles(actor):
        raise PermissionDenied("Only an owner can act on an invitation to be an owner.")
    return invitation


def _pending_to(session: Session, organization_id: uuid.UUID, email: str) -> list[Invitation]:
    """The address's invitations to the organization that are neither accepted nor cancelled
    (expired ones too: replacing them costs nothing and keeps one live link per address)."""
    query = select(Invitation).where(
        Invitation.organization_id == organization_id,
        Invitation.email == email,
        col(Invitation.accepted_at).is_(None),
        col(Invitation.cancelled_at).is_(None),
    )
    return list(session.exec(query).all())


# --- Joining (the public page the link opens) --------------------------------------------


@dataclass(frozen=True)
class InvitationView:
    """What the join page shows before the invitee chooses a name and a password."""

    email: str
    role: Role
    organization_name: str
    expires_at: datetime


@dataclass(frozen=True)
class JoinForm:
    name: str
    password: str
    accepted_terms: bool


def invitation_for(session: Session, secret: str, *, now: datetime | None = None) -> InvitationView:
    """The invitation behind a link, or a clear refusal (used, cancelled, expired…)."""
    invitation, organization = _usable(session, secret, now or utcnow(), lock=False)
    return InvitationView(
        email=invitation.email,
        role=Role(invitation.role),
        organization_name=organization.name,
        expires_at=invitation.expires_at,
    )


def accept(
    session: Session, secret: str, form: JoinForm, *, now: datetime | None = None
) -> uuid.UUID:
    """Join with the invitation's role: a new member, verified, with the chosen password.
    Returns the new user's id. A link that cannot be used writes nothing."""
    now = now or utcnow()
    invitation, organization = _usable(session, secret, now, lock=True)
    errors: dict[str, str] = {}
    if problem := text_problem(form.name, label="your name", max_length=120):
        errors["name"] = problem
    if problem := password_problem(
        form.password, user_inputs=(form.name, invitation.email, organization.name)
    ):
        errors["password"] = problem
    if not form.accepted_terms:
        errors["accepted_terms"] = "Accept the Terms of Service to join."
    if errors:
        raise ValidationFailed(errors)
    user = User(
        email=invitation.email,
        name=form.name.strip(),
        password_hash=hash_password(form.password),
        role=Role(invitation.role),
        organization_id=organization.id,
        status=UserStatus.ACTIVE,
        email_verified_at=now,
        tos_version=current_terms().version,
        tos_accepted_at=now,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        # The address got an account a moment ago (a sign-up, another organization's
        # invitation accepted in another tab): the unique e-mail caught it.
        raise Conflict(ALREADY_A_MEMBER.format(email=invitation.email)) from None
    invitation.accepted_at = now
    session.add(invitation)
    audit.record(
        session,
        "member.joined",
        organization_id=organization.id,
        subject=invitation.email,
        detail=f"as {role_label(invitation.role)}",
    )
    session.flush()
    return user.id


def _usable(
    session: Session, secret: str, now: datetime, *, lock: bool
) -> tuple[Invitation, Organization]:
    query = select(Invitation).where(Invitation.token_hash == digest(secret.strip()))
    if lock:  # two tabs accepting one link: the second waits, then finds it used
        query = query.with_for_update()
    invitation = session.exec(query).first()
    if invitation is None:
        raise NotFound(LINK_NOT_VALID)
    if invitation.accepted_at is not None:
        raise Conflict(LINK_USED)
    if invitation.cancelled_at is not None:
        raise Conflict(LINK_CANCELLED)
    if invitation.expires_at <= now:
        raise Conflict(LINK_EXPIRED)
    organization = session.get(Organization, invitation.organization_id)
    if organization is None or organization.status == OrganizationStatus.DEACTIVATED:
        raise Conflict(ORGANIZATION_CLOSED)
    if _user_by_email(session, invitation.email) is not None:
        raise Conflict(ALREADY_A_MEMBER.format(email=invitation.email))
    return invitation, organization


# --- Roles and deactivation (owners only) ------------------------------------------------


def change_role(
    session: Session,
    actor: Actor,
    user_id: uuid.UUID,
    role: Role | str,
    *,
    now: datetime | None = None,
) -> None:
    """Give a member another role; the last active owner keeps theirs."""
    require(actor, Capability.USERS_MANAGE)
    now = now or utcnow()
    try:
        new_role = Role(role)
    except ValueError:
        raise ValidationFailed({"role": "Choose one of the partner roles."}) from None
    if new_role not in PARTNER_ROLES:
        raise ValidationFailed({"role": "Choose one of the partner roles."})
    organization = _locked_organization(session, actor)
    member = _member(session, actor, user_id)
    before = Role(member.role)
    if before is new_role:
        return
    if before is Role.OWNER and member.status == UserStatus.ACTIVE:
        _keep_an_owner(session, organization, member)
    member.role = new_role
    member.updated_at = now
    session.add(member)
    audit.record(
        session,
        "member.role_changed",
        actor=actor,
        subject=member.email,
        detail=f"{role_label(before)} → {role_label(new_role)}",
    )
    send_after_commit(
        session,
        emails.role_changed(
            member.email,
            member.name,
            organization=organization.name,
            before=role_label(before),
            after=role_label(new_role),
        ),
    )


def set_active(
    session: Session,
    actor: Actor,
    user_id: uuid.UUID,
    active: bool,
    *,
    now: datetime | None = None,
) -> None:
    """Deactivate a member (every session of theirs ends at once) or reactivate them."""
    require(actor, Capability.USERS_MANAGE)
    now = now or utcnow()
    organization = _locked_organization(session, actor)
    member = _member(session, actor, user_id)
    deactivated = member.status == UserStatus.DEACTIVATED
    if active != deactivated:
        return  # already as asked: nothing to do, nothing to tell
    if active:
        member.status = UserStatus.ACTIVE if member.email_verified_at else UserStatus.UNVERIFIED
        mail = emails.member_reactivated(member.email, member.name, organization=organization.name)
    else:
        if member.id == actor.user_id:
            raise Conflict(NOT_YOURSELF)
        if member.role == Role.OWNER:
            _keep_an_owner(session, organization, member)
        member.status = UserStatus.DEACTIVATED
        sessions.end_user_sessions(session, member.id, reason="deactivated", now=now)
        mail = emails.member_deactivated(member.email, member.name, organization=organization.name)
    member.updated_at = now
    session.add(member)
    audit.record(
        session,
        "member.reactivated" if active else "member.deactivated",
        actor=actor,
        subject=member.email,
        detail=role_label(member.role),
    )
    send_after_commit(session, mail)


def _keep_an_owner(session: Session, organization: Organization, member: User) -> None:
    """Refuse to take away the last active owner (the organization's row is locked)."""
    others = session.exec(
        select(func.count())
        .select_from(User)
        .where(
            User.organization_id == organization.id,
            User.role == Role.OWNER.value,
            User.status == UserStatus.ACTIVE.value,
            User.id != member.id,
        )
    ).one()
    if others == 0:
        raise Conflict(LAST_OWNER.format(name=member.name))


def _member(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    member = session.get(User, user_id)
    if member is None or member.organization_id != require_organization(actor):
        raise NotFound("That member was not found in your organization.")
    return member


# --- Shared ------------------------------------------------------------------------------


def _locked_organization(session: Session, actor: Actor) -> Organization:
    """The actor's organization, its row locked until the commit (PostgreSQL; SQLite's
    writers already take turns): the checks that count owners or pending invitations then
    see what no concurrent change can undo before this one commits."""
    organization = session.exec(
        select(Organization).where(Organization.id == require_organization(actor)).with_for_update()
    ).first()
    if organization is None:
        raise NotFound("Your organization was not found.")
    if organization.status == OrganizationStatus.DEACTIVATED:
        raise Conflict("Your organization's account is closed.")
    return organization


def _user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()
