"""Two-factor sign-in: a code from an authenticator app after the password.

What members and owners see of it: docs/product.md, Account life cycle; and My Profile.

The codes are TOTP (RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits), what every authenticator
app makes. The secret the app shares must be read back to check a code, so it is stored
encrypted under a sealing key (``secrets.seal``), never as typed. It counts only once a code
from the app confirms it: a member who scanned nothing cannot lock themselves out. Until then
it is not stored at all: ``begin`` hands the page a ``Setup`` whose ``token`` is the secret
sealed for that member alone with the time it was made, and ``confirm`` takes it back within
``SETUP_LIFETIME``; a setup abandoned leaves nothing behind.

Turning it on ends the member's other sessions (whoever else was signed in skipped the second
step), keeping the one that turned it on.

A code is accepted one step either side of now (a phone's clock drifts, and a code typed at
the end of its 30 seconds arrives in the next), and each step at most once: the last accepted
step is kept, and a code of that step or an earlier one is refused, so a code seen over a
shoulder cannot be used again. The step is claimed by one conditional UPDATE, so two requests
racing with one code cannot both win.

Ten recovery codes, shown once when two-factor sign-in is turned on (or made anew), stand in
for the app when the phone is lost: kept only as keyed digests (``secrets.keyed_digest``),
each one spent by its use; the member is e-mailed when one is used, with how many are left.

Wrong codes count as wrong passwords (``services.throttle``): same limits, same messages.

An owner may require two-factor sign-in of the whole organization; a member without it is then
allowed only My Profile until they turn it on (``ui.shell``). Staff turn it on and off as
members do; the requirement is an organization's, and staff belong to none.

A member who lost both their phone and their recovery codes asks SIPSTACK: staff turn it off
for them (``reset_by_staff``, with a reason), which also ends every session of theirs.
"""

from __future__ import annotations

import hmac
import secrets as random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, func, or_, update
from sqlmodel import Session, col, select

from portal_core import emails
from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.mail import send_after_commit
from portal_core.models.access import RecoveryCode
from portal_core.models.accounts import Organization, Role, User
from portal_core.models.base import utcnow
from portal_core.permissions import Actor, Capability, require, require_organization
from portal_core.services import audit, sessions, throttle
from portal_core.services.accounts import check_current_password, count_profile_miss
from portal_core.services.secrets import (
    KeyStanding,
    keyed_digest,
    keyed_digests,
    reseal,
    seal,
    token_key_fingerprints,
    unseal,
)
from portal_core.services.validation import text_problem

ISSUER = "SIPSTACK Partner Portal"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1  # codes of one step before and after now are accepted too
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: a recovery code is read off paper. 31 symbols, 10 of them: about 49 bits.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10
_SEALED_FOR = "two-factor-secret"
# Long enough to find the phone and scan; a setup older than this is begun again.
SETUP_LIFETIME = timedelta(minutes=30)

CODE_WRONG = "That code is not right. Type the newest code your authenticator app shows."
CODE_OR_RECOVERY_WRONG = (
    "That code is not right. Type the newest code your authenticator app shows, or one of "
    "your unused recovery codes."
)
TOO_MANY_WRONG_CODES = (
    "Too many wrong codes: you are logged out. Log in again, or reset your password."
)
ALREADY_ON = "Two-factor sign-in is already on."
NOT_ON = "Two-factor sign-in is not on."
REQUIRED_BY_ORGANIZATION = (
    "Your organization requires two-factor sign-in, so it cannot be turned off. Its owner "
    "can lift the requirement on My Profile › Advanced."
)
START_AGAIN = "Start again: enter your current password first."
NOT_ON_FOR_MEMBER = "{email} has no two-factor sign-in to reset."
STAFF_NOT_HERE = "Staff accounts are managed by SIPSTACK's administrators, not here."
OWNER_NEEDS_IT_FIRST = (
    "Turn on two-factor sign-in for your own account first: an organization that requires "
    "it must not lock out its owner."
)


class CodeWrong(ValidationFailed):
    """A wrong code in My Profile: the miss is kept, like a wrong current password."""

    keeps_writes = True


@dataclass(frozen=True)
class Setup:
    """A secret waiting for its confirmation: the text to type, the link a QR code carries,
    and the token that ``confirm`` takes back (the secret sealed for this member, dated)."""

    secret: str
    uri: str
    token: str


@dataclass(frozen=True)
class Status:
    """What My Profile › Advanced shows of a member's two-factor sign-in."""

    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    organization_requires: bool


@dataclass(frozen=True)
class Resealed:
    """What ``reseal_secrets`` did: how many secrets it sealed anew under the newest sealing
    key, how many already were, and how many no listed key can read."""

    resealed: int
    current: int
    unreadable: int


@dataclass(frozen=True)
class Accepted:
    """A code that was right; ``recovery_codes_left`` is set when it was a recovery code."""

    recovery_codes_left: int | None = None


def status(session: Session, actor: Actor) -> Status:
    require(actor, Capability.MY_PROFILE)
    user = _load_user(session, actor)
    return Status(
        enabled=user.two_factor_enabled_at is not None,
        enabled_at=user.two_factor_enabled_at,
        recovery_codes_left=_recovery_codes_left(session, user.id),
        organization_requires=_required_for(session, user),
    )


def begin(
    session: Session,
    actor: Actor,
    current_password: str,
    *,
    ip_address: str | None,
    session_handle: str | None,
    now: datetime | None = None,
) -> Setup:
    """Make a new secret for the member's authenticator app; it counts once ``confirm``ed,
    and nothing of it is stored before then.

    The current password is asked (and throttled: ``accounts.check_current_password``), since
    whoever turns two-factor sign-in on decides whose phone signs in."""
    now = now or utcnow()
    require(actor, Capability.MY_PROFILE)
    user = _load_user(session, actor)
    if user.two_factor_enabled_at is not None:
        raise Conflict(ALREADY_ON)
    check_current_password(
        session,
        user,
        current_password,
        ip_address=ip_address,
        session_handle=session_handle,
        now=now,
    )
    secret = pyotp.random_base32()  # 32 symbols: 160 bits, RFC 4226's recommended length
    token = seal(f"{int(now.timestamp())}:{secret}", purpose=_setup_purpose(user.id))
    return _setup(secret, user.email, token)


def confirm(
    session: Session,
    actor: Actor,
    setup: Setup,
    code: str,
    *,
    session_handle: str | None,
    now: datetime | None = None,
) -> list[str]:
    """Turn two-factor sign-in on with ``setup`` (from ``begin``) and a code from the app;
    return the recovery codes, the only time they are shown. A wrong code changes nothing.

    Every session of the member but ``session_handle`` (the one confirming) ends."""
    now = now or utcnow()
    require(actor, Capability.MY_PROFILE)
    user = _load_user(session, actor)
    if user.two_factor_enabled_at is not None:
        raise Conflict(ALREADY_ON)
    secret = _secret_of_setup(user.id, setup.token, now)
    if secret is None:
        raise ValidationFailed({"code": START_AGAIN})
    step = _matching_step(secret, code, now, after=None)
    if step is None:
        raise ValidationFailed({"code": CODE_WRONG})
    user.two_factor_secret = seal(secret, purpose=_SEALED_FOR)
    user.two_factor_enabled_at = now
    user.two_factor_last_step = step
    user.updated_at = now
    session.add(user)
    codes = _replace_recovery_codes(session, user.id, now)
    sessions.end_user_sessions(
        session, user.id, reason="two_factor_enabled", now=now, except_handle=session_handle
    )
    audit.record(session, "two_factor.enabled", actor=actor, subject=user.email)
    send_after_commit(session, emails.two_factor_changed(user.email, enabled=True))
    return codes


def disable(
    session: Session,
    actor: Actor,
    *,
    current_password: str,
    code: str,
    ip_address: str | None,
    session_handle: str | None,
    now: datetime | None = None,
) -> None:
    """Turn two-factor sign-in off: the current password and a code (or a recovery code).

    Refused while the member's organization requires it."""
    now = now or utcnow()
    require(actor, Capability.MY_PROFILE)
    user = _load_user(session, actor)
    if user.two_factor_enabled_at is None:
        raise Conflict(NOT_ON)
    if _required_for(session, user):
        raise Conflict(REQUIRED_BY_ORGANIZATION)
    check_current_password(
        session,
        user,
        current_password,
        ip_address=ip_address,
        session_handle=session_handle,
        now=now,
    )
    _check_code(session, user, code, ip_address, session_handle, now, recovery=True)
    _turn_off(session, user, now)
    audit.record(session, "two_factor.disabled", actor=actor, subject=user.email)
    send_after_commit(session, emails.two_factor_changed(user.email, enabled=False))


def reset_by_staff(
    session: Session,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Staff turn a member's two-factor sign-in off (their phone and recovery codes are lost):
    the secret and the recovery codes go, every session of theirs ends, and they are told.

    An organization that requires it confines them to My Profile until they turn it on again
    (``required_but_missing``)."""
    now = now or utcnow()
    require(actor, Capability.STAFF)
    if problem := text_problem(reason, label="a reason", max_length=300):
        raise ValidationFailed({"reason": problem})
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That user was not found.")
    if user.role == Role.STAFF:
        raise Conflict(STAFF_NOT_HERE)
    if user.two_factor_enabled_at is None:
        raise Conflict(NOT_ON_FOR_MEMBER.format(email=user.email))
    _turn_off(session, user, now)
    sessions.end_user_sessions(session, user.id, reason="two_factor_reset", now=now)
    audit.record(
        session,
        "two_factor.reset",
        actor=actor,
        organization_id=user.organization_id,
        subject=user.email,
        detail=reason.strip(),
    )
    send_after_commit(
        session,
        emails.two_factor_reset(user.email, required=_required_for(session, user)),
    )


def reseal_secrets(session: Session) -> Resealed:
    """Seal every stored authenticator secret anew under the newest sealing key (the command
    ``keys reseal``, after a new key is put in front of ``SEALING_KEYS``). Safe to run twice,
    and beside members turning it on or off: each row is written only if it still holds what
    was read."""
    resealed = current = unreadable = 0
    rows = session.exec(
        select(User.id, User.two_factor_secret).where(col(User.two_factor_secret).is_not(None))
    ).all()
    for user_id, sealed in rows:
        if sealed is None:  # the query leaves none out; the type cannot say so
            continue
        fresh = reseal(sealed, purpose=_SEALED_FOR)
        if fresh is None:
            unreadable += 1
        elif fresh == sealed:
            current += 1
        else:
            session.execute(
                update(User)
                .where(col(User.id) == user_id)
                .where(col(User.two_factor_secret) == sealed)
                .values(two_factor_secret=fresh)
            )
            resealed += 1
    return Resealed(resealed=resealed, current=current, unreadable=unreadable)


def regenerate_recovery_codes(
    session: Session,
    actor: Actor,
    code: str,
    *,
    ip_address: str | None,
    session_handle: str | None,
    now: datetime | None = None,
) -> list[str]:
    """Ten new recovery codes for a code from the app; the old ones stop working."""
    now = now or utcnow()
    require(actor, Capability.MY_PROFILE)
    user = _load_user(session, actor)
    if user.two_factor_enabled_at is None:
        raise Conflict(NOT_ON)
    _check_code(session, user, code, ip_address, session_handle, now, recovery=False)
    codes = _replace_recovery_codes(session, user.id, now)
    audit.record(session, "two_factor.recovery_codes_made", actor=actor, subject=user.email)
    return codes


def recovery_key_standing(session: Session) -> KeyStanding:
    """How many members have recovery codes left under each token key: a code's digest cannot
    be re-made without the code, so an older key stays needed until they make new ones."""
    member = col(RecoveryCode.user_id)
    counts = session.exec(
        select(col(RecoveryCode.digest_key), func.count(func.distinct(member)))
        .where(col(RecoveryCode.used_at).is_(None))
        .group_by(col(RecoveryCode.digest_key))
    ).all()
    return KeyStanding.of({key: int(members) for key, members in counts})


def set_organization_requirement(
    session: Session, actor: Actor, required: bool, *, now: datetime | None = None
) -> None:
    """The owner's switch: every member signs in with a second step, or may choose.

    Held to the owner (the capability over members' accounts), who must have turned it on
    for themselves first."""
    now = now or utcnow()
    require(actor, Capability.USERS_MANAGE)
    organization = session.get(Organization, require_organization(actor))
    if organization is None:
        raise NotFound("Your organization was not found.")
    if organization.require_two_factor == required:
        return
    if required and _load_user(session, actor).two_factor_enabled_at is None:
        raise Conflict(OWNER_NEEDS_IT_FIRST)
    organization.require_two_factor = required
    organization.updated_at = now
    session.add(organization)
    audit.record(
        session,
        "organization.two_factor_required" if required else "organization.two_factor_optional",
        actor=actor,
        subject=organization.name,
    )


def accept_code(
    session: Session, user: User, code: str, *, now: datetime, recovery: bool = True
) -> Accepted | None:
    """Whether ``code`` is a right, unused code of ``user``'s app (or, with ``recovery``, one
    of the unused recovery codes, which this spends); None when it is not.

    The caller counts a miss (``services.throttle``)."""
    typed = "".join(code.split())
    secret = _secret_of(user) if user.two_factor_enabled_at is not None else None
    if secret is None:
        return None
    if typed.isdigit() and len(typed) == DIGITS:
        step = _matching_step(secret, typed, now, after=user.two_factor_last_step)
        if step is None:
            return None
        # The step is claimed once: of two requests with one code, one updates the row.
        claimed = session.execute(
            update(User)
            .where(col(User.id) == user.id)
            .where(
                or_(col(User.two_factor_last_step).is_(None), col(User.two_factor_last_step) < step)
            )
            .values(two_factor_last_step=step)
        )
        return Accepted() if _count(claimed) == 1 else None
    if not recovery:
        return None
    spent = session.execute(
        update(RecoveryCode)
        .where(col(RecoveryCode.user_id) == user.id)
        .where(col(RecoveryCode.code_digest).in_(_recovery_digests(user.id, typed)))
        .where(col(RecoveryCode.used_at).is_(None))
        .values(used_at=now)
    )
    if _count(spent) != 1:
        return None
    left = _recovery_codes_left(session, user.id)
    audit.record(
        session,
        "two_factor.recovery_code_used",
        organization_id=user.organization_id,
        subject=user.email,
        detail=f"{left} left",
    )
    send_after_commit(session, emails.recovery_code_used(user.email, left=left))
    return Accepted(recovery_codes_left=left)


def required_but_missing(session: Session, user: User) -> bool:
    """Whether ``user``'s organization requires two-factor sign-in and they have not got it."""
    return user.two_factor_enabled_at is None and _required_for(session, user)


# --- Helpers ------------------------------------------------------------------------------


def _check_code(
    session: Session,
    user: User,
    code: str,
    ip_address: str | None,
    session_handle: str | None,
    now: datetime,
    *,
    recovery: bool,
) -> None:
    """A code asked for in My Profile, throttled like its current password
    (``accounts.check_current_password``): the miss that reaches a limit ends the session."""
    throttle.refuse_if_throttled(session, user.email, ip_address, now)
    if accept_code(session, user, code, now=now, recovery=recovery) is not None:
        return
    count_profile_miss(
        session,
        user,
        action="two_factor.check_failed",
        ip_address=ip_address,
        session_handle=session_handle,
        ended_reason="code_guessed",
        too_many=TOO_MANY_WRONG_CODES,
        now=now,
    )
    raise CodeWrong({"code": CODE_OR_RECOVERY_WRONG if recovery else CODE_WRONG})


def _turn_off(session: Session, user: User, now: datetime) -> None:
    user.two_factor_secret = None
    user.two_factor_enabled_at = None
    user.two_factor_last_step = None
    user.updated_at = now
    session.add(user)
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))


def _matching_step(secret: str, code: str, now: datetime, *, after: int | None) -> int | None:
    """The time step, within the drift allowed around ``now`` and later than ``after``,
    whose code is ``code``; None when there is none."""
    typed = "".join(code.split())
    if not (typed.isdigit() and len(typed) == DIGITS):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), typed):
            return step
    return None


def _replace_recovery_codes(session: Session, user_id: uuid.UUID, now: datetime) -> list[str]:
    session.execute(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    newest_key = token_key_fingerprints()[0]
    for code in codes:
        session.add(
            RecoveryCode(
                user_id=user_id,
                code_digest=_recovery_digest(user_id, code),
                digest_key=newest_key,
                created_at=now,
            )
        )
    return codes


def _new_recovery_code() -> str:
    symbols = "".join(random.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{symbols[:5]}-{symbols[5:]}"


def _recovery_digest(user_id: uuid.UUID, code: str) -> str:
    """Typed as shown or not: case, spaces and the hyphen do not matter."""
    return keyed_digest(_normalized_recovery_code(code), context=f"recovery:{user_id}")


def _recovery_digests(user_id: uuid.UUID, code: str) -> tuple[str, ...]:
    """What a code's stored digest may be: made under any token key still listed."""
    return keyed_digests(_normalized_recovery_code(code), context=f"recovery:{user_id}")


def _normalized_recovery_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _recovery_codes_left(session: Session, user_id: uuid.UUID) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(RecoveryCode)
            .where(col(RecoveryCode.user_id) == user_id)
            .where(col(RecoveryCode.used_at).is_(None))
        ).one()
    )


def _secret_of(user: User) -> str | None:
    if user.two_factor_secret is None:
        return None
    return unseal(user.two_factor_secret, purpose=_SEALED_FOR)


def _secret_of_setup(user_id: uuid.UUID, token: str, now: datetime) -> str | None:
    """The secret of a setup ``begin`` made for this member within ``SETUP_LIFETIME``."""
    opened = unseal(token, purpose=_setup_purpose(user_id))
    if opened is None:
        return None
    begun, _, secret = opened.partition(":")
    if not begun.isdigit() or not secret:
        return None
    return secret if now.timestamp() - int(begun) <= SETUP_LIFETIME.total_seconds() else None


def _setup_purpose(user_id: uuid.UUID) -> str:
    # Bound to the member: a setup begun by one cannot turn it on for another.
    return f"two-factor-setup:{user_id}"


def _setup(secret: str, email: str, token: str) -> Setup:
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    return Setup(
        secret=secret, uri=totp.provisioning_uri(name=email, issuer_name=ISSUER), token=token
    )


def _required_for(session: Session, user: User) -> bool:
    if user.organization_id is None:
        return False
    organization = session.get(Organization, user.organization_id)
    return organization is not None and organization.require_two_factor


def _load_user(session: Session, actor: Actor) -> User:
    user = session.get(User, actor.user_id)
    if user is None:
        raise NotFound("Your account was not found.")
    return user


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
