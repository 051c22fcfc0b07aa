"""The low-balance alert: what a member hears when the available funds drop under their
threshold (My Profile › Notifications).

Available funds are the balance less the unbilled usage. The meter, the ledger and the invoice
run publish each drop as a ``FundsDropped`` fact with the figures before and after, taken
from the same atomic ``UPDATE … RETURNING`` that moved them; ``alert_low_balance`` is one of
the reactions to it (``services.reactions``), inside the same transaction. It alerts each
active member who turned the alert on and whose threshold ``t`` the drop crossed: ``after <
t <= before``. The account row's updates are serialized (SQLite's write lock, PostgreSQL's
row lock until commit), so the (after, before] intervals of successive drops never overlap and
a crossing alerts exactly once, however many requests race: an e-mail, queued in the same
transaction, and a personal notice (``NoticeKind.LOW_BALANCE``).

It sits on the meter's path, so it stays cheap: nothing at all unless the drop crossed a
whole cent (thresholds are whole cents, so a drop within one cent crosses none; a $0.0030
request crosses a cent about one time in three). Then one query, on the organization's
members (``ix_users_organization_id``), finds who to alert.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import BigInteger, Connection, Select, Table, bindparam, select

from portal_core import emails
from portal_core.facts import FundsDropped
from portal_core.mail import send_after_commit
from portal_core.models.accounts import Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.notices import NoticeKind
from portal_core.money import MICROS_PER_CENT, format_cents, micros_to_cents
from portal_core.permissions import GRANTS, Capability
from portal_core.services import notices

_users = cast(Table, User.__table__)  # type: ignore[attr-defined]


def alert_low_balance(connection: Connection, fact: FundsDropped) -> None:
    """Alert the members whose threshold the drop crossed (see the module docstring), inside
    the unit of work of ``connection`` (a ``write_connection``, or a ``write_session``'s
    ``session.connection()``)."""
    # A threshold of t cents is crossed when after < t × 10,000 <= before, that is when
    # after // 10,000 < t <= before // 10,000: a drop within one cent crosses no threshold.
    above_cents = fact.after_available_micros // MICROS_PER_CENT
    up_to_cents = fact.before_available_micros // MICROS_PER_CENT
    if up_to_cents <= above_cents:
        return
    _alert_low_balance(
        connection,
        fact.organization_id,
        fact.after_available_micros,
        above_cents,
        up_to_cents,
        fact.cause,
        fact.at,
    )


def _alert_low_balance(
    connection: Connection,
    organization_id: uuid.UUID,
    after_micros: int,
    above_cents: int,
    up_to_cents: int,
    cause: str,
    now: datetime | None,
) -> None:
    crossed = [
        member
        for member in connection.execute(
            _crossed_thresholds(),
            {"p_org": organization_id, "p_above": above_cents, "p_up_to": up_to_cents},
        )
        if member.status == UserStatus.ACTIVE.value
    ]
    if not crossed:
        return
    available_cents = micros_to_cents(after_micros)
    cause_digest = hashlib.sha256(cause.encode()).hexdigest()[:32]
    for user_id, email, name, role, threshold_cents, _status in crossed:
        may_read_billing = Capability.BILLING_READ in GRANTS[Role(role)]
        notices.post_for_user(
            connection,
            organization_id=organization_id,
            user_id=user_id,
            kind=NoticeKind.LOW_BALANCE,
            title=f"Available funds under {format_cents(threshold_cents)}",
            body=(
                f"Your organization's available funds are {format_cents(available_cents)}, "
                f"under your low-balance threshold of {format_cents(threshold_cents)}. "
                + (
                    "Add funds in Billing › Overview."
                    if may_read_billing
                    else "An owner, admin or billing member can add funds."
                )
                + " Change the threshold in My Profile › Notifications."
            ),
            dedupe_key=f"low-balance:{user_id}:{cause_digest}",
            link_page_id="billing.overview" if may_read_billing else None,
            now=now or utcnow(),
        )
        send_after_commit(
            connection,
            emails.low_balance(
                email,
                name,
                available_cents=available_cents,
                threshold_cents=threshold_cents,
                may_add_funds=may_read_billing,
            ),
        )


@cache
def _crossed_thresholds() -> Select[Any]:
    """The members whose alert is on and whose threshold is in (above, up_to] cents, with
    their status (the caller keeps the active ones). Built once, so SQLAlchemy's compiled
    cache always hits.

    The status is not a condition here on purpose: SQLite, without statistics, would take
    ``ix_users_status`` for it rather than the organization's index, and read every active
    user of the platform (1.5 ms at 10,000 users, against 0.02 ms).
    """
    users = _users.c
    return select(
        users.id,
        users.email,
        users.name,
        users.role,
        users.low_balance_threshold_cents,
        users.status,
    ).where(
        users.organization_id == bindparam("p_org", type_=users.organization_id.type),
        users.notify_low_balance.is_(True),
        users.low_balance_threshold_cents > bindparam("p_above", type_=BigInteger()),
        users.low_balance_threshold_cents <= bindparam("p_up_to", type_=BigInteger()),
    )
