"""ownership disputes and the one-time codes that prove a number's ownership

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:56:54.501955

Two organizations' claims to one number, each organization's side of them (what its list
reads, the dispute's status kept with it) and each step, in order; the codes sent to a
number, kept only as digests, one live code per profile (removed with the profile); and
indexes for Logs' lookup-type filter and Whois Profiles' "Last updated" sort.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import portal_core.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ownership_disputes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("holder_organization_id", sa.Uuid(), nullable=False),
        sa.Column("holder_profile_id", sa.Uuid(), nullable=True),
        sa.Column("claimant_organization_id", sa.Uuid(), nullable=False),
        sa.Column("claimant_profile_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("winner_organization_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by", sa.String(length=12), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("opened_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["claimant_organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["holder_organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["winner_organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ownership_disputes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ownership_disputes_claimant",
            ["claimant_organization_id", "opened_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ownership_disputes_holder",
            ["holder_organization_id", "opened_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_ownership_disputes_number", ["number", "status"], unique=False)
        batch_op.create_index(
            "ix_ownership_disputes_status", ["status", "opened_at", "id"], unique=False
        )
        batch_op.create_index("ix_ownership_disputes_opened", ["opened_at", "id"], unique=False)

    op.create_table(
        "dispute_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dispute_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["ownership_disputes.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dispute_id", "position"),
    )
    op.create_table(
        "dispute_parties",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("dispute_id", sa.Uuid(), nullable=False),
        sa.Column("side", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"],
            ["ownership_disputes.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("organization_id", "dispute_id"),
    )
    with op.batch_alter_table("dispute_parties", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dispute_parties_org_opened",
            ["organization_id", "opened_at", "dispute_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_dispute_parties_org_status",
            ["organization_id", "status", "opened_at", "dispute_id"],
            unique=False,
        )

    op.create_table(
        "verification_codes",
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("sent_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sends_today", sa.Integer(), nullable=False),
        sa.Column("sends_day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["whois_profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("profile_id"),
    )
    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_product_events_org_type",
            ["organization_id", "lookup_type", "created_at", "id"],
            unique=False,
        )

    with op.batch_alter_table("whois_profiles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_whois_profiles_org_updated", ["organization_id", "updated_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("whois_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_whois_profiles_org_updated")

    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.drop_index("ix_product_events_org_type")

    op.drop_table("verification_codes")
    with op.batch_alter_table("dispute_parties", schema=None) as batch_op:
        batch_op.drop_index("ix_dispute_parties_org_status")
        batch_op.drop_index("ix_dispute_parties_org_opened")

    op.drop_table("dispute_parties")
    op.drop_table("dispute_events")
    with op.batch_alter_table("ownership_disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_ownership_disputes_status")
        batch_op.drop_index("ix_ownership_disputes_opened")
        batch_op.drop_index("ix_ownership_disputes_number")
        batch_op.drop_index("ix_ownership_disputes_holder")
        batch_op.drop_index("ix_ownership_disputes_claimant")

    op.drop_table("ownership_disputes")
