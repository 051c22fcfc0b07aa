"""the products: Whois profiles, community reports, product events and scores

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 18:35:10.443282

Whois profiles (one active owner per number, by a partial UNIQUE index), community reports,
the product events Logs lists with their daily roll-up, the registered numbers' daily score
history, the organizations' carrier score and the members' reputation-alert preference
(on by default, as the other alerts are).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import portal_core.models.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "number_scores",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score_millis", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("organization_id", "number", "day"),
    )
    op.create_table(
        "product_events_daily",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("lookup_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "day", "product", "action", "lookup_type", "status"
        ),
    )
    op.create_table(
        "community_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("removed_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("community_reports", schema=None) as batch_op:
        batch_op.create_index("ix_community_reports_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_community_reports_number_created", ["number", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_community_reports_org_number",
            ["organization_id", "number", "created_at"],
            unique=False,
        )

    op.create_table(
        "product_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("product", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("lookup_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("destination", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("result", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("score_millis", sa.Integer(), nullable=True),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.create_index("ix_product_events_created", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_product_events_number_created", ["number", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_product_events_org_action",
            ["organization_id", "action", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_product_events_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_product_events_org_status",
            ["organization_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_product_events_org_user",
            ["organization_id", "user_id", "created_at", "id"],
            unique=False,
        )

    op.create_table(
        "whois_profiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("caller_name", sqlmodel.sql.sqltypes.AutoString(length=15), nullable=False),
        sa.Column("business_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("line_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("call_purpose", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("address_line", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("province", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("postal_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("website", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("social_links", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("monthly_call_volume", sa.Integer(), nullable=True),
        sa.Column("verified_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completeness_permille", sa.Integer(), nullable=False),
        sa.Column("score_millis", sa.Integer(), nullable=True),
        sa.Column(
            "score_updated_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "number"),
    )
    with op.batch_alter_table("whois_profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_whois_profiles_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_whois_profiles_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_whois_profiles_org_name", ["organization_id", "caller_name", "id"], unique=False
        )
        batch_op.create_index(
            "ix_whois_profiles_org_score", ["organization_id", "score_millis", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_whois_profiles_updated_at"), ["updated_at"], unique=False
        )
        batch_op.create_index(
            "ux_whois_profiles_active_number",
            ["number"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("carrier_score_millis", sa.Integer(), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notify_reputation", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("notify_reputation")

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("carrier_score_millis")

    with op.batch_alter_table("whois_profiles", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_whois_profiles_active_number",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_whois_profiles_updated_at"))
        batch_op.drop_index("ix_whois_profiles_org_score")
        batch_op.drop_index("ix_whois_profiles_org_name")
        batch_op.drop_index("ix_whois_profiles_org_created")
        batch_op.drop_index(batch_op.f("ix_whois_profiles_created_at"))

    op.drop_table("whois_profiles")
    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.drop_index("ix_product_events_org_user")
        batch_op.drop_index("ix_product_events_org_status")
        batch_op.drop_index("ix_product_events_org_created")
        batch_op.drop_index("ix_product_events_org_action")
        batch_op.drop_index("ix_product_events_number_created")
        batch_op.drop_index("ix_product_events_created")

    op.drop_table("product_events")
    with op.batch_alter_table("community_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_community_reports_org_number")
        batch_op.drop_index("ix_community_reports_number_created")
        batch_op.drop_index("ix_community_reports_created")

    op.drop_table("community_reports")
    op.drop_table("product_events_daily")
    op.drop_table("number_scores")
