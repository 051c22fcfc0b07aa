"""credit notes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:10:00

A credit of something invoiced with tax is a credit note: its lines, the original invoice's
taxes at the original rates, a number of its own gapless series (CN-1, CN-2…).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal_core.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("subtotal_cents", sa.BigInteger(), nullable=False),
        sa.Column("tax_cents", sa.BigInteger(), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seller_details", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("buyer_details", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("ledger_entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_notes_invoice_id"), ["invoice_id"], unique=False
        )
        batch_op.create_index(
            "ix_credit_notes_org_issued", ["organization_id", "issued_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_credit_notes_org_total", ["organization_id", "total_cents", "id"], unique=False
        )
        batch_op.create_index(
            "ix_credit_notes_org_number", ["organization_id", "number", "id"], unique=False
        )

    op.create_table(
        "credit_note_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_note_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_micros", sa.BigInteger(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credit_note_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_note_lines_credit_note_id"), ["credit_note_id"], unique=False
        )

    op.create_table(
        "credit_note_taxes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("credit_note_id", sa.Uuid(), nullable=False),
        sa.Column("tax", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("rate_millipercent", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credit_note_taxes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_note_taxes_credit_note_id"), ["credit_note_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("credit_note_taxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_note_taxes_credit_note_id"))

    op.drop_table("credit_note_taxes")
    with op.batch_alter_table("credit_note_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_note_lines_credit_note_id"))

    op.drop_table("credit_note_lines")
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_notes_org_number")
        batch_op.drop_index("ix_credit_notes_org_total")
        batch_op.drop_index("ix_credit_notes_org_issued")
        batch_op.drop_index(batch_op.f("ix_credit_notes_invoice_id"))

    op.drop_table("credit_notes")
