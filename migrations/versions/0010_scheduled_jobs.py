"""the scheduler's jobs: last and next run, and the lease that makes each run once

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:34:41.652735

One row per job of the scheduler's registry (the invoice run, the auto-recharge sweep, …):
when it last ran, how it went, when it is due next, and which portal copy holds it while it
runs. Rows are created by the scheduler when it first schedules a job; nothing to seed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


import portal_core.models.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "next_run_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_started_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_finished_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("last_summary", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("leased_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column(
            "lease_expires_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
