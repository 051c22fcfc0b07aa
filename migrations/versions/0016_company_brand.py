"""brand domains verified by a DNS TXT record

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 21:50:00.000000

Each brand domain gets its own verification token (a domain added before this revision gets
one here), when it was verified, and when it was last checked with what that check found.
Every domain starts pending: none was ever checked.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import portal_core.models.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("brand_domains", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "verification_token",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "verified_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "last_checked_at",
                portal_core.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("last_check", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
    # A random token per existing domain (the same token for two domains would let one
    # organization's record verify another's).
    connection = op.get_bind()
    domains = sa.table("brand_domains", sa.column("id", sa.Uuid()), sa.column("verification_token"))
    for (domain_id,) in connection.execute(sa.select(domains.c.id)).all():
        connection.execute(
            sa.update(domains)
            .where(domains.c.id == domain_id)
            .values(verification_token=uuid.uuid4().hex)
        )
    with op.batch_alter_table("brand_domains", schema=None) as batch_op:
        batch_op.alter_column(
            "verification_token",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("brand_domains", schema=None) as batch_op:
        batch_op.drop_column("last_check")
        batch_op.drop_column("last_checked_at")
        batch_op.drop_column("verified_at")
        batch_op.drop_column("verification_token")
