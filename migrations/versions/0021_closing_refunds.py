"""the refund of a closed organization's balance, kept until it is done

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:00:00

A closed organization's balance goes back to its cards after the closing commits; a process
that dies then, or a card processor that does not answer, used to leave it unrefunded for
good. ``closing_refunds`` keeps that refund as a task (pending, refunded, or handed to staff)
with its attempts and when it is next due, which the ``closing.refunds`` job works through.
Organizations closed before it have no row: the job finds them by their positive balance.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal_core.models.base

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "closing_refunds",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("left_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("organization_id"),
    )
    with op.batch_alter_table("closing_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_closing_refunds_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_closing_refunds_status_next", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_closing_refunds_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("closing_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_closing_refunds_updated_at"))
        batch_op.drop_index("ix_closing_refunds_status_next")
        batch_op.drop_index(batch_op.f("ix_closing_refunds_created_at"))
    op.drop_table("closing_refunds")
