"""staff notices

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-06 15:38:57.086474

A notice may belong to no organization: a staff notice, which
every SIPSTACK staff user sees. Going back deletes the staff notices (and their read marks),
which the older schema cannot hold.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
