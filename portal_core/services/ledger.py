"""Posting to the ledger, and checking the cached balances against it
(docs/architecture.md, rule 5).

An entry is appended with its idempotency key; the organization's cached balance moves by the
same amount in the same transaction, by one atomic ``UPDATE … SET balance = balance + x
RETURNING balance``, so concurrent postings never lose one another, and the balance it returns
is stored on the entry as its new balance. Posting the same key again returns the first
entry and changes nothing: a double click, a retry or a replayed webhook posts once.

An invoice also takes the usage it bills off the unbilled figure: ``releases_unbilled_micros``
moves both in the same statement, so the available funds (balance − unbilled) change once,
by the invoice's total less that usage.

What a posting did to the organization's money is published to the unit of work as a fact
(``portal_core.facts``): ``FundsDropped`` when the available funds went down (low-balance
alerts and auto-recharge react to it), ``BalanceRose`` when the balance went up (due invoices
become paid). The ledger knows nothing of who reacts.

The check (``balance_mismatches``, the ``check-balances`` command) recomputes the cached
figures that money moves: the balance from the entries, the unbilled usage from the usage
records not yet on an invoice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_core import db
from portal_core.errors import Conflict, NotFound, ValidationFailed
from portal_core.facts import BalanceRose, FundsDropped
from portal_core.models.accounts import Organization
from portal_core.models.base import utcnow
from portal_core.models.billing import (
    BillingAccount,
    EntryKind,
    LedgerEntry,
    UsageRecord,
)
from portal_core.money import MICROS_PER_CENT


def post_entry(
    session: Session,
    *,
    organization_id: uuid.UUID,
    kind: EntryKind,
    amount_cents: int,
    idempotency_key: str,
    memo: str,
    created_by: uuid.UUID | None = None,
    releases_unbilled_micros: int = 0,
    now: datetime | None = None,
) -> LedgerEntry:
    """Append one entry (or find the one already posted under ``idempotency_key``).
    ``releases_unbilled_micros`` is the usage an invoice bills (see the module docstring)."""
    if not idempotency_key or len(idempotency_key) > 120:
        raise ValidationFailed({"idempotency_key": "An idempotency key of 1–120 characters."})
    existing = _entry_by_key(session, idempotency_key)
    if existing is not None:
        return _same_request(existing, organization_id, kind, amount_cents)
    if session.get(Organization, organization_id) is None:
        raise NotFound("That organization was not found.")
    now = now or utcnow()
    try:
        # One savepoint holds both writes, so a lost race on the key undoes the balance too.
        with session.begin_nested():
            entry, available_micros = _append(
                session,
                organization_id,
                kind,
                amount_cents,
                idempotency_key,
                memo,
                created_by,
                releases_unbilled_micros,
                now,
            )
    except IntegrityError:
        # Another transaction posted the same key between our look-up and our insert.
        existing = _entry_by_key(session, idempotency_key)
        if existing is None:
            raise
        return _same_request(existing, organization_id, kind, amount_cents)
    # Published outside the savepoint: a lost race above must not leave a fact behind.
    change_micros = amount_cents * MICROS_PER_CENT + releases_unbilled_micros
    cause = f"ledger:{idempotency_key}"
    if change_micros < 0:
        db.publish(
            session,
            FundsDropped(
                organization_id,
                before_available_micros=available_micros - change_micros,
                after_available_micros=available_micros,
                cause=cause,
                at=now,
            ),
        )
    if amount_cents > 0:
        db.publish(session, BalanceRose(organization_id, entry.balance_after_cents, cause, now))
    return entry


def _append(
    session: Session,
    organization_id: uuid.UUID,
    kind: EntryKind,
    amount_cents: int,
    idempotency_key: str,
    memo: str,
    created_by: uuid.UUID | None,
    releases_unbilled_micros: int,
    now: datetime,
) -> tuple[LedgerEntry, int]:
    """The entry, and the available funds (balance − unbilled, µ$) right after it."""
    # The balance moves first, by one atomic UPDATE that returns it: the entry's new balance
    # is exactly this posting's running total even among concurrent postings, since the
    # account row stays locked until commit and the next posting adds to ours.
    moved = session.execute(
        update(BillingAccount)
        .where(col(BillingAccount.organization_id) == organization_id)
        .values(
            balance_micros=BillingAccount.balance_micros + amount_cents * MICROS_PER_CENT,
            unbilled_micros=BillingAccount.unbilled_micros - releases_unbilled_micros,
        )
        .returning(col(BillingAccount.balance_micros), col(BillingAccount.unbilled_micros))
    ).first()
    if moved is None:
        raise NotFound("That organization has no billing account.")
    balance_micros, unbilled_micros = int(moved[0]), int(moved[1])
    entry = LedgerEntry(
        organization_id=organization_id,
        kind=kind,
        amount_cents=amount_cents,
        balance_after_cents=balance_micros // MICROS_PER_CENT,
        idempotency_key=idempotency_key,
        memo=memo[:300],
        created_at=now,
        created_by=created_by,
    )
    session.add(entry)
    session.flush()
    return entry, balance_micros - unbilled_micros


def _entry_by_key(session: Session, key: str) -> LedgerEntry | None:
    return session.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).first()


def _same_request(
    entry: LedgerEntry, organization_id: uuid.UUID, kind: EntryKind, amount_cents: int
) -> LedgerEntry:
    if (entry.organization_id, entry.kind, entry.amount_cents) != (
        organization_id,
        kind,
        amount_cents,
    ):
        raise Conflict("That idempotency key was already used for a different entry.")
    return entry


class AccountFigure(StrEnum):
    """A figure that ``billing_accounts`` caches and the check recomputes."""

    BALANCE = "balance"  # the sum of the organization's ledger entries
    UNBILLED = "unbilled usage"  # its usage records on no invoice yet


@dataclass(frozen=True)
class BalanceMismatch:
    """A cached figure that differs from what it is recomputed from; ``ledger_micros`` is the
    recomputed one (the entries' sum, or the un-invoiced usage records' sum)."""

    organization_id: uuid.UUID
    cached_micros: int
    ledger_micros: int
    figure: AccountFigure = AccountFigure.BALANCE


def balance_mismatches(session: Session) -> list[BalanceMismatch]:
    """Every cached account figure that differs from its source: the balance from the sum of
    the ledger, and the unbilled usage from the cost of the usage records on no invoice yet
    (the meter adds each cost; an invoice takes the sum of the records it bills off when it
    is posted)."""
    entries = (
        select(
            LedgerEntry.organization_id,
            func.coalesce(func.sum(LedgerEntry.amount_cents), 0).label("cents"),
        )
        .group_by(col(LedgerEntry.organization_id))
        .subquery()
    )
    usage = (
        select(
            UsageRecord.organization_id,
            func.coalesce(func.sum(UsageRecord.cost_micros), 0).label("micros"),
        )
        .where(col(UsageRecord.invoice_id).is_(None))
        .group_by(col(UsageRecord.organization_id))
        .subquery()
    )
    balances = session.exec(
        select(
            BillingAccount.organization_id, BillingAccount.balance_micros, entries.c.cents
        ).outerjoin(entries, entries.c.organization_id == BillingAccount.organization_id)
    ).all()
    unbilled = session.exec(
        select(
            BillingAccount.organization_id, BillingAccount.unbilled_micros, usage.c.micros
        ).outerjoin(usage, usage.c.organization_id == BillingAccount.organization_id)
    ).all()
    return [
        BalanceMismatch(organization_id, cached, (cents or 0) * MICROS_PER_CENT)
        for organization_id, cached, cents in balances
        if cached != (cents or 0) * MICROS_PER_CENT
    ] + [
        BalanceMismatch(organization_id, cached, micros or 0, AccountFigure.UNBILLED)
        for organization_id, cached, micros in unbilled
        if cached != (micros or 0)
    ]
