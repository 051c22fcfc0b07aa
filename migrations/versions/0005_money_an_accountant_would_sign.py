"""usage billed on exactly one invoice, carried rounding, gapless numbering, paid invoices

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 16:40:00

- ``usage_records.invoice_id``: the invoice that billed a record. A record is billed on the
  first invoice issued after it commits, whatever its period, so usage that commits after its
  month's run rolls into the next invoice. Records of a period that has an invoice are marked
  with it here, which is what the portal counted as billed until now.
- Request keys are unique per organization, not across all of them.
- ``usage_carries``: each lookup type's rounding remainder, carried into its next line.
- ``document_counters``: gapless numbering that overlapping invoice runs share; the invoice
  series continues from the highest number issued so far.
- ``invoices.paid_at``; ``invoice_lines.lookup_type`` and ``carried_micros``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal_core.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What SQLite calls the unnamed UNIQUE of earlier revisions once batch mode reflects it.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
_LINE_NAMES = {
    "source_risk": "Source/Risk",
    "caller_id": "Caller ID",
    "regional": "Regional",
    "telco_carrier": "Telco/Carrier",
    "online_profiles": "Online Profiles",
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "document_counters",
        sa.Column("series", sa.String(length=10), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series"),
    )
    op.create_table(
        "usage_carries",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("lookup_type", sa.String(length=20), nullable=False),
        sa.Column("remainder_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("organization_id", "lookup_type"),
    )
    with op.batch_alter_table(
        "usage_records", naming_convention=_SQLITE_NAMES if sqlite else None
    ) as batch_op:
        batch_op.add_column(sa.Column("invoice_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "usage_records_invoice_id_fkey", "invoices", ["invoice_id"], ["id"]
        )
        batch_op.drop_constraint(
            "uq_usage_records_request_key" if sqlite else "usage_records_request_key_key",
            type_="unique",
        )
        batch_op.create_unique_constraint(
            "usage_records_organization_id_request_key_key", ["organization_id", "request_key"]
        )
        batch_op.create_index(
            "ix_usage_records_unbilled",
            ["organization_id", "period"],
            unique=False,
            sqlite_where=sa.text("invoice_id IS NULL"),
            postgresql_where=sa.text("invoice_id IS NULL"),
        )
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.add_column(
            sa.Column("paid_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("invoice_lines") as batch_op:
        batch_op.add_column(sa.Column("lookup_type", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("carried_micros", sa.BigInteger(), nullable=False, server_default="0")
        )

    op.execute(
        "UPDATE usage_records SET invoice_id = (SELECT invoices.id FROM invoices "
        "WHERE invoices.organization_id = usage_records.organization_id "
        "AND invoices.period = usage_records.period)"
    )
    op.execute("UPDATE invoices SET paid_at = issued_at WHERE status = 'paid'")
    op.execute(
        "INSERT INTO document_counters (series, last_number) "
        "SELECT 'INV', COALESCE(MAX(number), 0) FROM invoices"
    )
    for lookup_type, name in _LINE_NAMES.items():
        op.execute(
            sa.text(
                "UPDATE invoice_lines SET lookup_type = :type WHERE description = :description"
            ).bindparams(type=lookup_type, description=f"{name} lookups beyond the allowance")
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("invoice_lines") as batch_op:
        batch_op.drop_column("carried_micros")
        batch_op.drop_column("lookup_type")
    with op.batch_alter_table("invoices") as batch_op:
        batch_op.drop_column("paid_at")
    with op.batch_alter_table("usage_records") as batch_op:
        batch_op.drop_index("ix_usage_records_unbilled")
        batch_op.drop_constraint("usage_records_invoice_id_fkey", type_="foreignkey")
        batch_op.drop_constraint("usage_records_organization_id_request_key_key", type_="unique")
        batch_op.create_unique_constraint(
            "uq_usage_records_request_key" if sqlite else "usage_records_request_key_key",
            ["request_key"],
        )
        batch_op.drop_column("invoice_id")
    op.drop_table("usage_carries")
    op.drop_table("document_counters")
