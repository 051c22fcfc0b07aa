"""The ledger and each organization's cached account figures (DESIGN.md, rule 5).

The ledger is append-only and single-entry: one row per money event of one organization, in
integer cents; corrections are reversing entries, never edits. ``billing_accounts`` caches
the balance (the ledger's sum), the unbilled usage and the credit limit, all in micro-dollars
so the meter's guard is one comparison; it changes in the same transaction as the entry.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Uuid
from sqlmodel import Field, SQLModel

from portal_core.models.base import created_at_field, uuid_pk


class EntryKind(StrEnum):
    PAYMENT = "payment"
    CREDIT = "credit"
    INVOICE = "invoice"
    ADJUSTMENT = "adjustment"
    REFUND = "refund"


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_org_created", "organization_id", "created_at"),)

    id: uuid.UUID = uuid_pk()
    organization_id: uuid.UUID = Field(foreign_key="organizations.id")
    kind: EntryKind = Field(sa_type=String(20))
    amount_cents: int = Field(sa_type=BigInteger)
    # Every money change carries one, under UNIQUE: a replay finds the first and stops.
    idempotency_key: str = Field(max_length=120, unique=True)
    memo: str = Field(max_length=300)
    created_at: datetime = created_at_field()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")


class BillingAccount(SQLModel, table=True):
    __tablename__ = "billing_accounts"

    organization_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("organizations.id"), primary_key=True)
    )
    balance_micros: int = Field(default=0, sa_type=BigInteger)
    unbilled_micros: int = Field(default=0, sa_type=BigInteger)
    credit_limit_micros: int = Field(default=0, sa_type=BigInteger)
