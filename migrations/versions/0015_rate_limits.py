"""the REST API's rate-limit counters

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:00:00

``rate_limit_windows``: one row per bucket (a policy and what it counts) and fixed window,
counted by one UPSERT from every API process; the prune deletes by ``window_start``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("bucket", sa.String(length=120), nullable=False),
        sa.Column("window_start", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start"),
    )
    with op.batch_alter_table("rate_limit_windows", schema=None) as batch_op:
        batch_op.create_index("ix_rate_limit_windows_start", ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_windows", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_limit_windows_start")
    op.drop_table("rate_limit_windows")
