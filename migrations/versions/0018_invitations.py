"""invitations to join an organization, and closing one

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:50:00.000000

Organization › Access › Users invites people by e-mail with a role: each invitation is a
single-use link (only its digest kept) that expires, accepted, cancelled or replaced. The
page's list of members sorts by date joined and by name, and filters by role, within the
organization. An organization closed by its owner keeps when (``closed_at``): the invoice runs
after it leave it out.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import portal_core.models.base

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "closed_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            "ix_users_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_users_org_name", ["organization_id", "name", "id"], unique=False)
        batch_op.create_index("ix_users_org_role", ["organization_id", "role"], unique=False)
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "cancelled_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["invited_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invitations_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_invitations_org_email", ["organization_id", "email"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_org_email")
        batch_op.drop_index("ix_invitations_org_created")
    op.drop_table("invitations")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_org_role")
        batch_op.drop_index("ix_users_org_name")
        batch_op.drop_index("ix_users_org_created")
