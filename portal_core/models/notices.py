"""Notices: what the top bar's bell counts and lists (docs/product.md, The shell).

A notice belongs to an organization and is meant either for one user (``user_id``: their own
low-balance alert) or for every member whose role holds ``capability`` (failed payments and
new invoices go to those who may read Billing; disputes, later, to those who may read
Whois). A staff notice belongs to no organization and is meant for every SIPSTACK staff
user (``capability`` is ``staff``): an e-mail that could not be sent, say. ``dedupe_key`` is
UNIQUE, so the event that posts a notice may run twice and post it once. Each reader's "read"
mark is a row of ``notice_reads``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, Uuid
from sqlmodel import Field, SQLModel

from portal_core.models.base import UTCDateTime, created_at_field, uuid_pk


class NoticeKind(StrEnum):
    LOW_BALANCE = "low_balance"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_NEEDS_AUTHENTICATION = "payment_needs_authentication"
    AUTO_RECHARGE_FAILED = "auto_recharge_failed"
    INVOICE_ISSUED = "invoice_issued"
    INVOICE_PAID = "invoice_paid"
    CREDIT_NOTE_ISSUED = "credit_note_issued"
    PAYMENT_REFUNDED = "payment_refunded"
    PAYMENT_DISPUTED = "payment_disputed"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    OWNERSHIP_DISPUTE_OPENED = "ownership_dispute_opened"
    OWNERSHIP_DISPUTE_DECIDED = "ownership_dispute_decided"
    REPUTATION_ALERT = "reputation_alert"  # a registered number's score fell into the spam bands
    PAYMENT_UNSETTLED = "payment_unsettled"  # staff: a payment the gateway never settled
    MAIL_UNDELIVERABLE = "mail_undeliverable"  # staff: an e-mail given up after its last attempt
    ORGANIZATION_CLOSED = "organization_closed"  # staff: a closed organization's balance to refund
    BRAND_DOMAIN_UNVERIFIED = "brand_domain_unverified"  # a re-check found its record gone


class Notice(SQLModel, table=True):
    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_org_created", "organization_id", "created_at", "id"),
        Index("ix_notices_org_kind_created", "organization_id", "kind", "created_at", "id"),
    )

    id: uuid.UUID = uuid_pk()
    # None: a staff notice.
    organization_id: uuid.UUID | None = Field(default=None, foreign_key="organizations.id")
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", index=True)
    # A permissions.Capability value: who of the organization sees it when user_id is empty.
    capability: str | None = Field(default=None, max_length=40)
    kind: NoticeKind = Field(sa_type=String(40))
    title: str = Field(max_length=120)
    body: str = Field(max_length=500)
    # A registry page id the notice links to (billing.invoices…), or empty.
    link_page_id: str | None = Field(default=None, max_length=60)
    dedupe_key: str = Field(max_length=160, unique=True)
    created_at: datetime = created_at_field()


class NoticeRead(SQLModel, table=True):
    __tablename__ = "notice_reads"

    notice_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("notices.id"), primary_key=True))
    user_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("users.id"), primary_key=True))
    read_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
