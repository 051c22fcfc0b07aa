"""ledger entries record the balance after them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:08:13.587577

Transactions shows, sorts and pages each entry's new balance; a stored column serves that from
an index, where a running sum would have to window over every entry of the organization.
Existing entries get their running balance per organization, in (created_at, id) order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A correlated subquery, not a window function over an UPDATE … FROM: plain SQL that SQLite and
# PostgreSQL both run. Ties on created_at are broken by id, the same order the page pages in.
_RUNNING_BALANCES = sa.text(
    "UPDATE ledger_entries SET balance_after_cents = ("
    " SELECT COALESCE(SUM(earlier.amount_cents), 0) FROM ledger_entries AS earlier"
    " WHERE earlier.organization_id = ledger_entries.organization_id"
    " AND (earlier.created_at < ledger_entries.created_at"
    " OR (earlier.created_at = ledger_entries.created_at AND earlier.id <= ledger_entries.id)))"
)


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("balance_after_cents", sa.BigInteger(), nullable=True))
    op.execute(_RUNNING_BALANCES)
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.alter_column("balance_after_cents", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index(
            "ix_ledger_entries_org_amount", ["organization_id", "amount_cents"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_org_balance_after",
            ["organization_id", "balance_after_cents"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_org_balance_after")
        batch_op.drop_index("ix_ledger_entries_org_amount")
        batch_op.drop_column("balance_after_cents")
