"""when each brand domain became pending, so a lost record is watched as a new domain is

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 04:30:00

The hourly re-check watched a pending domain for a week after it was *added*: a domain
verified for months whose record then disappeared was never looked at again by itself, so the
partner had to press Check now once the record was back. ``pending_since`` is when the domain
last became pending, added or its record found gone, and the week runs from it. Pending
domains take their creation time (what the re-check used until now); verified ones none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal_core.models.base

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("brand_domains", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pending_since", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute("UPDATE brand_domains SET pending_since = created_at WHERE verified_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("brand_domains", schema=None) as batch_op:
        batch_op.drop_column("pending_since")
