"""The password throttle: how many wrong passwords an account and an address may send.

Failed attempts are rows in ``login_failures``; within a sliding window (15 minutes by default)
an e-mail and address pair may fail 5 times, one e-mail 50 times from all addresses together,
and one address 20 times. Past a limit the answer is "try again in N minutes" until the oldest
counted failure leaves the window, so the lock always expires, and an attacker elsewhere cannot
lock a user out of the user's own address with the pair limit.

The sign-in form and My Profile's "current password" boxes count against the same limits: a
password guessed through a stolen session is a password guessed.

A client whose address is unknown (a direct connection on the loopback, which Streamlit does
not report; tests) is not counted per address: every such client would share one count, and
twenty misses from one of them would lock out all the others. The limits per account still
hold. Such failures are stored under ``UNKNOWN_ADDRESS``, so the pair limit counts them
together.

A success forgets only the failures of its own party: the same e-mail from the same, known,
address. An attacker's misses elsewhere keep counting when the owner signs in, and without an
address nothing is forgotten, since nobody can tell whose misses they were.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete
from sqlmodel import Session, col, select

from portal_core.errors import Throttled
from portal_core.models.access import LoginFailure
from portal_core.settings import get_settings

UNKNOWN_ADDRESS = "unknown"


def stored_address(ip_address: str | None) -> str:
    """The address as the failures table keeps it (its column is 45 characters, an IPv6's)."""
    return (ip_address or UNKNOWN_ADDRESS)[:45]


def refuse_if_throttled(
    session: Session, email: str, ip_address: str | None, now: datetime
) -> None:
    """Raise ``Throttled`` while a limit is reached for this e-mail, or this address."""
    settings = get_settings()
    window = timedelta(minutes=settings.login_window_minutes)
    address = stored_address(ip_address)
    limits: list[tuple[list[ColumnElement[bool]], int]] = [
        (
            [col(LoginFailure.email) == email, col(LoginFailure.ip_address) == address],
            settings.login_failures_per_account,
        ),
        ([col(LoginFailure.email) == email], settings.login_failures_per_account_everywhere),
    ]
    if ip_address:
        limits.append(
            ([col(LoginFailure.ip_address) == address], settings.login_failures_per_address)
        )
    for conditions, limit in limits:
        # The limit-th most recent failure in the window: while it is inside, we refuse.
        nth_latest = session.exec(
            select(LoginFailure.at)
            .where(*conditions, col(LoginFailure.at) > now - window)
            .order_by(col(LoginFailure.at).desc())
            .offset(limit - 1)
            .limit(1)
        ).first()
        if nth_latest is not None:
            wait = nth_latest + window - now
            minutes = max(1, math.ceil(wait.total_seconds() / 60))
            raise Throttled(
                f"Too many failed attempts. Try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}, or reset your password.",
                retry_after_seconds=max(1, math.ceil(wait.total_seconds())),
            )


def record_failure(session: Session, email: str, ip_address: str | None, now: datetime) -> None:
    session.add(LoginFailure(email=email, ip_address=stored_address(ip_address), at=now))


def forget_own_failures(session: Session, email: str, ip_address: str | None) -> None:
    """After a success: the failures of the same e-mail from the same known address."""
    if not ip_address:
        return
    session.execute(
        delete(LoginFailure)
        .where(col(LoginFailure.email) == email)
        .where(col(LoginFailure.ip_address) == stored_address(ip_address))
    )


def forget_account_failures(session: Session, email: str) -> None:
    """After a new password is set: the guesses made so far were against the old one."""
    session.execute(delete(LoginFailure).where(col(LoginFailure.email) == email))


def forget_expired_failures(session: Session, *, now: datetime) -> int:
    """Delete failures older than the window (they count for nothing any more)."""
    window = timedelta(minutes=get_settings().login_window_minutes)
    result = session.execute(delete(LoginFailure).where(col(LoginFailure.at) <= now - window))
    return int(getattr(result, "rowcount", 0) or 0)
