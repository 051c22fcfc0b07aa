"""Logging in, out, and back in after a forgotten password.

Wrong passwords are throttled per account and per address (``services.throttle``;
docs/product.md, Account life cycle).
An unknown e-mail is answered exactly like a wrong password, and costs the same bcrypt time.

An account with two-factor sign-in (``services.two_factor``) is not signed in by its password:
``log_in`` raises ``SecondStepRequired`` with the pending step, and only ``complete_sign_in``,
given a right code within five minutes, opens a session. A caller that knows nothing of the
second step therefore fails closed. Wrong codes count as wrong passwords, and a right password
forgets no failure until the code is right too: otherwise whoever knows the password could
guess codes without limit, typing the password again between guesses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal_core import emails
from portal_core.errors import AuthenticationFailed, SignInRefused, ValidationFailed
from portal_core.mail import send_after_commit
from portal_core.models.access import EmailToken, TokenPurpose
from portal_core.models.accounts import Organization, OrganizationStatus, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.services import audit, sessions, throttle, two_factor
from portal_core.services.accounts import consume_token, issue_token, set_password
from portal_core.services.passwords import (
    burn_verification_time,
    password_problem,
    verify_password,
)
from portal_core.services.validation import normalize_email

WRONG_CREDENTIALS = "That e-mail and password do not match an account."
DEACTIVATED = "This account has been deactivated. Contact your organization's owner."
ORGANIZATION_CLOSED = (
    "Your organization's account was closed on {day}: its members can no longer log in."
)
SECOND_STEP_LIFETIME = timedelta(minutes=5)
SECOND_STEP_EXPIRED = "That took too long, or the account changed meanwhile: log in again."
RESET_LINK_LIFETIME = timedelta(hours=1)
RESETS_PER_HOUR = 3


@dataclass(frozen=True)
class LoggedIn:
    handle: str
    view: sessions.SessionView


@dataclass(frozen=True)
class PendingSignIn:
    """A right password waiting for its code: kept by the server (the browser tab's state),
    never by the browser, and good for ``SECOND_STEP_LIFETIME``."""

    user_id: uuid.UUID
    email: str
    started_at: datetime
    expires_at: datetime


class SecondStepExpired(AuthenticationFailed):
    """The pending step is over (five minutes passed, or the account changed): the password
    is asked again."""

    def __init__(self) -> None:
        super().__init__(SECOND_STEP_EXPIRED)


class SecondStepRequired(Exception):
    """The password was right, and the account signs in with a code: no session yet."""

    def __init__(self, pending: PendingSignIn) -> None:
        super().__init__("a code from the authenticator app is required")
        self.pending = pending


def log_in(
    session: Session,
    email: str,
    password: str,
    *,
    ip_address: str | None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> LoggedIn:
    """Check the password and open a session, or raise ``AuthenticationFailed``/``Throttled``.

    The password is taken exactly as typed: nothing stripped, nothing lower-cased.
    """
    now = now or utcnow()
    address = throttle.stored_address(ip_address)
    normalized = normalize_email(email)[:254]
    throttle.refuse_if_throttled(session, normalized, ip_address, now)
    user = session.exec(select(User).where(User.email == normalized)).first()
    if user is None:
        burn_verification_time(password)
    if user is None or not verify_password(password, user.password_hash):
        throttle.record_failure(session, normalized, ip_address, now)
        audit.record(
            session,
            "login.failed",
            organization_id=user.organization_id if user else None,
            subject=normalized,
            ip_address=address,
        )
        raise SignInRefused(WRONG_CREDENTIALS)
    organization = session.get(Organization, user.organization_id) if user.organization_id else None
    if user.status == UserStatus.DEACTIVATED or (
        organization is not None and organization.status == OrganizationStatus.DEACTIVATED
    ):
        audit.record(
            session,
            "login.refused_deactivated",
            organization_id=user.organization_id,
            subject=normalized,
            ip_address=address,
        )
        if organization is not None and organization.closed_at is not None:
            # Its owner closed it: asking that owner to reactivate anyone would mislead.
            raise SignInRefused(
                ORGANIZATION_CLOSED.format(day=f"{organization.closed_at:%Y-%m-%d}")
            )
        raise SignInRefused(DEACTIVATED)
    if user.two_factor_enabled_at is not None:
        raise SecondStepRequired(
            PendingSignIn(
                user_id=user.id,
                email=user.email,
                started_at=now,
                expires_at=now + SECOND_STEP_LIFETIME,
            )
        )
    return _open_session(session, user, ip_address=ip_address, user_agent=user_agent, now=now)


def complete_sign_in(
    session: Session,
    pending: PendingSignIn,
    code: str,
    *,
    ip_address: str | None,
    user_agent: str | None = None,
    now: datetime | None = None,
) -> LoggedIn:
    """The second step: a code from the app (or a recovery code, which it spends) opens the
    session; a wrong one counts as a wrong password (``SignInRefused``, or ``Throttled``)."""
    now = now or utcnow()
    if pending.expires_at <= now:
        raise SecondStepExpired()
    throttle.refuse_if_throttled(session, pending.email, ip_address, now)
    user = session.get(User, pending.user_id)
    organization = (
        session.get(Organization, user.organization_id) if user and user.organization_id else None
    )
    if (
        user is None
        or user.email != pending.email
        or user.status == UserStatus.DEACTIVATED
        or (organization is not None and organization.status == OrganizationStatus.DEACTIVATED)
        or user.two_factor_enabled_at is None
        or (user.password_changed_at is not None and user.password_changed_at > pending.started_at)
    ):
        raise SecondStepExpired()
    if two_factor.accept_code(session, user, code, now=now) is None:
        throttle.record_failure(session, user.email, ip_address, now)
        audit.record(
            session,
            "login.code_failed",
            organization_id=user.organization_id,
            subject=user.email,
            ip_address=throttle.stored_address(ip_address),
        )
        raise SignInRefused(two_factor.CODE_OR_RECOVERY_WRONG)
    return _open_session(session, user, ip_address=ip_address, user_agent=user_agent, now=now)


def _open_session(
    session: Session,
    user: User,
    *,
    ip_address: str | None,
    user_agent: str | None,
    now: datetime,
) -> LoggedIn:
    throttle.forget_own_failures(session, user.email, ip_address)
    handle = sessions.start_session(
        session, user.id, ip_address=ip_address, user_agent=user_agent, now=now
    )
    audit.record(
        session,
        "login",
        organization_id=user.organization_id,
        subject=user.email,
        ip_address=throttle.stored_address(ip_address),
    )
    session.flush()
    view = sessions.resolve(session, handle, now=now)
    assert view is not None
    return LoggedIn(handle=handle, view=view)


def log_out(session: Session, handle: str, *, now: datetime | None = None) -> None:
    view = sessions.resolve(session, handle, now=now)
    sessions.end_session(session, handle, reason="logout", now=now)
    if view is not None:
        audit.record(session, "logout", actor=view.actor, subject=view.email)


def log_out_other_sessions(session: Session, handle: str, *, now: datetime | None = None) -> int:
    view = sessions.resolve(session, handle, now=now)
    if view is None:
        raise AuthenticationFailed("Your session has ended. Log in again.")
    ended = sessions.end_user_sessions(
        session, view.user_id, reason="logged_out_elsewhere", now=now, except_handle=handle
    )
    audit.record(
        session, "sessions.others_ended", actor=view.actor, subject=view.email, detail=f"{ended}"
    )
    return ended


def forget_expired_failures(session: Session, *, now: datetime | None = None) -> int:
    """Delete failures older than the window (they count for nothing any more)."""
    return throttle.forget_expired_failures(session, now=now or utcnow())


# --- Forgotten password ------------------------------------------------------------------


def request_password_reset(session: Session, email: str, *, now: datetime | None = None) -> None:
    """E-mail a reset link if the address has an account; the answer is the same if not."""
    now = now or utcnow()
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None or user.status == UserStatus.DEACTIVATED:
        return
    recent = session.exec(
        select(func.count())
        .select_from(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == TokenPurpose.RESET_PASSWORD)
        .where(col(EmailToken.created_at) > now - timedelta(hours=1))
    ).one()
    if recent >= RESETS_PER_HOUR:
        return
    secret = issue_token(session, user, TokenPurpose.RESET_PASSWORD, RESET_LINK_LIFETIME, now)
    send_after_commit(session, emails.reset_password(user.email, secret))
    audit.record(
        session,
        "password.reset_requested",
        organization_id=user.organization_id,
        subject=user.email,
    )


def reset_password(
    session: Session, secret: str, new_password: str, *, now: datetime | None = None
) -> None:
    """Set a new password from a reset link; every session of the user ends."""
    now = now or utcnow()
    token = consume_token(session, secret, {TokenPurpose.RESET_PASSWORD}, now)
    user = session.get(User, token.user_id)
    if user is None or user.status == UserStatus.DEACTIVATED:
        raise ValidationFailed({"token": "This link is not valid any more."})
    if problem := password_problem(new_password, user_inputs=(user.name, user.email)):
        raise ValidationFailed({"new_password": problem})
    set_password(session, user, new_password, now=now)
    if user.status == UserStatus.UNVERIFIED:
        # The link reached the inbox, which is what verification proves.
        user.status = UserStatus.ACTIVE
        user.email_verified_at = now
    sessions.end_user_sessions(session, user.id, reason="password_reset", now=now)
    throttle.forget_account_failures(session, user.email)
    audit.record(
        session, "password.reset", organization_id=user.organization_id, subject=user.email
    )
