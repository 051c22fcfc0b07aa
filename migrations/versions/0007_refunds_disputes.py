"""refunds and disputes of card payments

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 15:59:45.097528

A refund gives part of a payment's charge back to its card, a dispute holds a payment's
amount back until the cardholder's bank decides; each is posted to the ledger once. A payment
remembers the PaymentIntent that charged it (a Checkout payment's is learned when it is
credited; an auto-recharge's is its own reference) and how much of it was refunded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


import portal_core.models.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("gateway_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("opened_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("debit_entry_id", sa.Uuid(), nullable=True),
        sa.Column("credit_entry_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["credit_entry_id"],
            ["ledger_entries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["debit_entry_id"],
            ["ledger_entries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gateway", "gateway_ref"),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disputes_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_disputes_payment_id"), ["payment_id"], unique=False)

    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("gateway_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("failure_message", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("ledger_entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gateway", "gateway_ref"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            "ix_refunds_org_created", ["organization_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_refunds_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refunds_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "payment_intent_ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("refunded_cents", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            batch_op.f("ix_payments_payment_intent_ref"), ["payment_intent_ref"], unique=False
        )

    # An auto-recharge's reference is the PaymentIntent that charged it; so is a sandbox one's.
    op.execute(
        "UPDATE payments SET payment_intent_ref = gateway_ref "
        "WHERE gateway_ref LIKE 'pi_%' AND status = 'succeeded'"
    )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_payment_intent_ref"))
        batch_op.drop_column("refunded_cents")
        batch_op.drop_column("payment_intent_ref")

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refunds_updated_at"))
        batch_op.drop_index(batch_op.f("ix_refunds_payment_id"))
        batch_op.drop_index("ix_refunds_org_created")
        batch_op.drop_index(batch_op.f("ix_refunds_created_at"))

    op.drop_table("refunds")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_payment_id"))
        batch_op.drop_index(batch_op.f("ix_disputes_organization_id"))

    op.drop_table("disputes")
