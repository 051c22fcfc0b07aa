"""the burst factor's index: a number's lookups by organization

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 23:00:00

``ix_product_events_number_lookups`` (number, action, organization_id, created_at) replaces
``ix_product_events_number_created`` (number, created_at), which only the burst factor read:
the burst now walks the organizations that looked a number up, one seek each, instead of
reading every event of the number in the window.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_product_events_number_lookups",
            ["number", "action", "organization_id", "created_at"],
            unique=False,
        )
        batch_op.drop_index("ix_product_events_number_created")


def downgrade() -> None:
    with op.batch_alter_table("product_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_product_events_number_created", ["number", "created_at"], unique=False
        )
        batch_op.drop_index("ix_product_events_number_lookups")
