"""indexes that serve every list's filters, sorts and counts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:54:32.857772

The table widget filters, sorts, counts and pages every list in SQL; each list's filter and
sort now has an index that serves it, ending with the id that breaks ties, so neither
database sorts an organization's rows in memory nor reads them all to count a filter
(Transactions' count of payments read every entry of the organization). Indexes whose columns
only grew keep their names. ``tests/queries/test_list_plans.py`` checks the plans.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_action_at"))
        batch_op.create_index(
            "ix_audit_events_action_at", ["action", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_audit_events_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_audit_events_org_action",
            ["organization_id", "action", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_audit_events_org_created", ["organization_id", "created_at", "id"], unique=False
        )

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invoices_org_issued", ["organization_id", "issued_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_invoices_org_number", ["organization_id", "number", "id"], unique=False
        )
        batch_op.create_index(
            "ix_invoices_org_status", ["organization_id", "status", "issued_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_invoices_org_total", ["organization_id", "total_cents", "id"], unique=False
        )
        batch_op.create_index(
            "ix_invoices_org_updated", ["organization_id", "updated_at", "id"], unique=False
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_org_amount"))
        batch_op.create_index(
            "ix_ledger_entries_org_amount", ["organization_id", "amount_cents", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_ledger_entries_org_balance_after"))
        batch_op.create_index(
            "ix_ledger_entries_org_balance_after",
            ["organization_id", "balance_after_cents", "id"],
            unique=False,
        )
        batch_op.drop_index(batch_op.f("ix_ledger_entries_org_created"))
        batch_op.create_index(
            "ix_ledger_entries_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_ledger_entries_org_kind_amount",
            ["organization_id", "kind", "amount_cents", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ledger_entries_org_kind_balance_after",
            ["organization_id", "kind", "balance_after_cents", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ledger_entries_org_kind_created",
            ["organization_id", "kind", "created_at", "id"],
            unique=False,
        )

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_org_created"))
        batch_op.create_index(
            "ix_notices_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_notices_org_kind_created",
            ["organization_id", "kind", "created_at", "id"],
            unique=False,
        )

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.create_index("ix_organizations_created", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_organizations_name_id", ["name", "id"], unique=False)
        batch_op.create_index(
            "ix_organizations_status_created",
            ["status", "created_at", "id", "activated_at"],
            unique=False,
        )
        batch_op.create_index("ix_organizations_updated", ["updated_at", "id"], unique=False)

    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_methods_org_created"))
        batch_op.create_index(
            "ix_payment_methods_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_payment_methods_org_updated", ["organization_id", "updated_at", "id"], unique=False
        )

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_org_created"))
        batch_op.create_index(
            "ix_payments_org_created", ["organization_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_payments_org_status"))
        batch_op.create_index(
            "ix_payments_org_status",
            ["organization_id", "status", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_payments_org_amount", ["organization_id", "amount_cents", "id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_org_status_amount",
            ["organization_id", "status", "amount_cents", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_payments_org_status_total",
            ["organization_id", "status", "total_cents", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_payments_org_status_updated",
            ["organization_id", "status", "updated_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_payments_org_total", ["organization_id", "total_cents", "id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_org_updated", ["organization_id", "updated_at", "id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_org_updated")
        batch_op.drop_index("ix_payments_org_total")
        batch_op.drop_index("ix_payments_org_status_updated")
        batch_op.drop_index("ix_payments_org_status_total")
        batch_op.drop_index("ix_payments_org_status_amount")
        batch_op.drop_index("ix_payments_org_amount")
        batch_op.drop_index("ix_payments_org_status")
        batch_op.create_index(
            batch_op.f("ix_payments_org_status"), ["organization_id", "status"], unique=False
        )
        batch_op.drop_index("ix_payments_org_created")
        batch_op.create_index(
            batch_op.f("ix_payments_org_created"), ["organization_id", "created_at"], unique=False
        )

    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_methods_org_updated")
        batch_op.drop_index("ix_payment_methods_org_created")
        batch_op.create_index(
            batch_op.f("ix_payment_methods_org_created"),
            ["organization_id", "created_at"],
            unique=False,
        )

    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_index("ix_organizations_updated")
        batch_op.drop_index("ix_organizations_status_created")
        batch_op.drop_index("ix_organizations_name_id")
        batch_op.drop_index("ix_organizations_created")

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index("ix_notices_org_kind_created")
        batch_op.drop_index("ix_notices_org_created")
        batch_op.create_index(
            batch_op.f("ix_notices_org_created"), ["organization_id", "created_at"], unique=False
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_org_kind_created")
        batch_op.drop_index("ix_ledger_entries_org_kind_balance_after")
        batch_op.drop_index("ix_ledger_entries_org_kind_amount")
        batch_op.drop_index("ix_ledger_entries_org_created")
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_org_created"),
            ["organization_id", "created_at"],
            unique=False,
        )
        batch_op.drop_index("ix_ledger_entries_org_balance_after")
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_org_balance_after"),
            ["organization_id", "balance_after_cents"],
            unique=False,
        )
        batch_op.drop_index("ix_ledger_entries_org_amount")
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_org_amount"),
            ["organization_id", "amount_cents"],
            unique=False,
        )

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_org_updated")
        batch_op.drop_index("ix_invoices_org_total")
        batch_op.drop_index("ix_invoices_org_status")
        batch_op.drop_index("ix_invoices_org_number")
        batch_op.drop_index("ix_invoices_org_issued")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_org_created")
        batch_op.drop_index("ix_audit_events_org_action")
        batch_op.drop_index("ix_audit_events_created")
        batch_op.drop_index("ix_audit_events_action_at")
        batch_op.create_index(
            batch_op.f("ix_audit_events_action_at"), ["action", "created_at"], unique=False
        )
