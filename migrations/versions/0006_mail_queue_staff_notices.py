"""the mail queue; staff notices

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 15:38:57.086474

Every e-mail now goes through ``mail_queue``, written in the unit of work that decides it and
sent after the commit (retried when the mail server fails); ``next_attempt_at`` alone says
what is due, hence its index. A notice may belong to no organization: a staff notice, which
every SIPSTACK staff user sees. Going back deletes the staff notices (and their read marks),
which the older schema cannot hold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal_core.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_queue",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("to_address", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "next_attempt_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("sent_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_queue_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mail_queue_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.alter_column("organization_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    op.execute(
        "DELETE FROM notice_reads WHERE notice_id IN "
        "(SELECT id FROM notices WHERE organization_id IS NULL)"
    )
    op.execute("DELETE FROM notices WHERE organization_id IS NULL")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.alter_column("organization_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("mail_queue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_queue_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_mail_queue_created_at"))

    op.drop_table("mail_queue")
