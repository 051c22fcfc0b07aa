"""Seeding the billing benchmarks: an active organization on a plan, a long ledger written
with Core INSERTs in batches (each entry with its running balance, as ``ledger.post_entry``
leaves it), and a signed-in owner to open pages as.

``scale.seed`` is the accounts benchmarks' many small organizations; this is the few large
ones whose lists and charts the billing benchmarks time.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, update

from portal_core import db
from portal_core.models.accounts import Organization, Role, User, UserStatus
from portal_core.models.base import utcnow
from portal_core.models.billing import BillingAccount, EntryKind, LedgerEntry, Subscription
from portal_core.models.payments import Payment
from portal_core.money import MICROS_PER_CENT
from portal_core.permissions import Actor
from portal_core.services import auth, subscriptions
from portal_core.services.passwords import hash_password

PASSWORD = "Bench-Ledger-Harbor-2026"
BATCH = 20_000
KINDS = [EntryKind.PAYMENT, EntryKind.INVOICE, EntryKind.CREDIT, EntryKind.ADJUSTMENT]

# The rows of the card payments behind one payment entry: (organization, entry id, amount in
# cents, when, the entry's index).
PaymentRows = Callable[[uuid.UUID, uuid.UUID, int, datetime, int], list[dict[str, object]]]


def organization(
    engine: Engine, name: str, *, active_since: timedelta = timedelta(0), plan_code: str = ""
) -> uuid.UUID:
    """An organization of Ontario, active for ``active_since``, with its billing account; on
    ``plan_code`` (else Free)."""
    now = utcnow()
    organization_id = uuid.uuid4()
    with db.write_session(engine) as session:
        session.add(
            Organization(
                id=organization_id,
                name=name,
                legal_name=f"{name} Inc.",
                country="CA",
                province="ON",
                address_line="1 Bench Street",
                city="Toronto",
                activated_at=now - active_since,
                created_at=now - active_since,
                updated_at=now,
            )
        )
        session.flush()
        subscriptions.open_billing(session, organization_id, now=now)
        if plan_code:
            session.execute(
                update(Subscription)
                .where(Subscription.organization_id == organization_id)  # type: ignore[arg-type]
                .values(plan_code=plan_code)
            )
    return organization_id


def ledger(
    engine: Engine,
    organization_id: uuid.UUID,
    count: int,
    rng: random.Random,
    *,
    first_at: datetime,
    spacing: timedelta,
    payments_of: PaymentRows | None = None,
) -> None:
    """``count`` entries of every kind in turn, ``spacing`` apart from ``first_at``, with
    their running balances; the account's balance is their sum. ``payments_of`` gives the
    card payments behind each payment entry (none without it)."""
    balance = 0
    with engine.begin() as connection:
        for first in range(0, count, BATCH):
            rows = []
            paid: list[dict[str, object]] = []
            for index in range(first, min(first + BATCH, count)):
                kind = KINDS[index % len(KINDS)]
                amount = rng.randint(1_000, 100_000) * (-1 if kind is EntryKind.INVOICE else 1)
                balance += amount
                entry_id = uuid.uuid4()
                at = first_at + spacing * index
                if kind is EntryKind.PAYMENT and payments_of is not None:
                    paid.extend(payments_of(organization_id, entry_id, amount, at, index))
                rows.append(
                    {
                        "id": entry_id,
                        "organization_id": organization_id,
                        "kind": kind.value,
                        "amount_cents": amount,
                        "balance_after_cents": balance,
                        "idempotency_key": f"bench:{organization_id}:{index}",
                        "memo": f"{kind.value.title()} {index}",
                        "created_at": at,
                    }
                )
            connection.execute(insert(LedgerEntry), rows)
            if paid:
                connection.execute(insert(Payment), paid)
        connection.execute(
            update(BillingAccount)
            .where(BillingAccount.organization_id == organization_id)  # type: ignore[arg-type]
            .values(balance_micros=balance * MICROS_PER_CENT)
        )


def signed_in_owner(
    engine: Engine, organization_id: uuid.UUID, *, name: str, ip_address: str
) -> tuple[Actor, str]:
    """A new owner of the organization, signed in: their actor and session handle."""
    email = f"owner-{organization_id.hex[:8]}@bench.test"
    now = utcnow()
    with db.write_session(engine) as session:
        user = User(
            email=email,
            name=name,
            password_hash=hash_password(PASSWORD),
            role=Role.OWNER,
            organization_id=organization_id,
            status=UserStatus.ACTIVE,
            email_verified_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(user)
        session.flush()
        actor = Actor(user.id, user.email, Role.OWNER, organization_id)
    with db.write_session(engine) as session:
        return actor, auth.log_in(session, email, PASSWORD, ip_address=ip_address).handle
