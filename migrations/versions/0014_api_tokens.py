"""API tokens, and the token behind a product event

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:50:00

``api_tokens``: an organization's named tokens for the REST API, the secret kept only as an
HMAC digest, a name unique among the organization's unrevoked tokens. ``product_events``
gains ``api_token_id`` (which token acted, when the API did) and the index Logs filters by it
with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal_core.models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=25), nullable=False),
        sa.Column("secret_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("created_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_used_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("revoked_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_user_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["revoked_by_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_api_tokens_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ux_api_tokens_live_name",
            ["organization_id", "name"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )

    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_token_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "product_events_api_token_id_fkey", "api_tokens", ["api_token_id"], ["id"]
        )
        batch_op.create_index(
            "ix_product_events_org_token",
            ["organization_id", "api_token_id", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.drop_index("ix_product_events_org_token")
        batch_op.drop_constraint("product_events_api_token_id_fkey", type_="foreignkey")
        batch_op.drop_column("api_token_id")

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index("ux_api_tokens_live_name")
        batch_op.drop_index("ix_api_tokens_org_created")

    op.drop_table("api_tokens")
