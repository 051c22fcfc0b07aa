"""what was in force when: subscription terms, plan prices, tax rates and billing details

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:40:00

A period is billed from what was in force during it, so each of these now keeps its history,
written when it changes. What stood before this revision is recorded here as its start:
- each subscription's terms, from the day its current term began (a period before that owed
  this plan nothing, as the run has always billed it);
- each plan's fees, each tax rate and each organization's billing details "since always";
- a downgrade already scheduled gets its own effective date, the boundary the run would have
  applied it at (the next month, or the end of a yearly term, after it was asked for).
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal_core.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SINCE_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_TIME_ZONE = "America/Toronto"


def upgrade() -> None:
    op.create_table(
        "tax_rate_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("province", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("tax", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("rate_millipercent", sa.Integer(), nullable=False),
        sa.Column(
            "effective_from", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("country", "province", "tax", "effective_from"),
    )
    op.create_table(
        "billing_details",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "effective_from", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("legal_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("address_line", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("province", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
        sa.Column("postal_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("tax_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("billing_details", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_details_org_effective", ["organization_id", "effective_from"], unique=False
        )

    op.create_table(
        "plan_prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column(
            "effective_from", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("monthly_cents", sa.BigInteger(), nullable=True),
        sa.Column("yearly_monthly_cents", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_code"],
            ["plans.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_code", "effective_from"),
    )
    op.create_table(
        "subscription_terms",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "effective_from", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "effective_to", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("plan_code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("cycle", sa.String(length=10), nullable=False),
        sa.Column(
            "term_started_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("contract_monthly_cents", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_code"],
            ["plans.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subscription_terms", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_terms_org_from", ["organization_id", "effective_from"], unique=False
        )

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "next_change_at", portal_core.models.base.UTCDateTime(timezone=True), nullable=True
            )
        )

    _backfill()


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("next_change_at")

    with op.batch_alter_table("subscription_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_terms_org_from")

    op.drop_table("subscription_terms")
    op.drop_table("plan_prices")
    with op.batch_alter_table("billing_details", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_details_org_effective")

    op.drop_table("billing_details")
    op.drop_table("tax_rate_changes")


def _backfill() -> None:
    bind = op.get_bind()
    utc = portal_core.models.base.UTCDateTime(timezone=True)
    plans = bind.execute(sa.text("SELECT code, monthly_cents, yearly_monthly_cents FROM plans"))
    prices = [
        {"id": uuid.uuid4(), "plan_code": code, "monthly": monthly, "yearly": yearly}
        for code, monthly, yearly in plans
    ]
    if prices:
        bind.execute(
            sa.text(
                "INSERT INTO plan_prices (id, plan_code, effective_from, monthly_cents, "
                "yearly_monthly_cents) VALUES (:id, :plan_code, :since, :monthly, :yearly)"
            ).bindparams(sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("since", type_=utc)),
            [{**price, "since": SINCE_ALWAYS} for price in prices],
        )
    rates = bind.execute(
        sa.text("SELECT country, province, tax, rate_millipercent FROM tax_rates")
    ).all()
    if rates:
        bind.execute(
            sa.text(
                "INSERT INTO tax_rate_changes (id, country, province, tax, rate_millipercent, "
                "effective_from) VALUES (:id, :country, :province, :tax, :rate, :since)"
            ).bindparams(sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("since", type_=utc)),
            [
                {
                    "id": uuid.uuid4(),
                    "country": c,
                    "province": p,
                    "tax": t,
                    "rate": r,
                    "since": SINCE_ALWAYS,
                }
                for c, p, t, r in rates
            ],
        )
    organizations = bind.execute(
        sa.text(
            "SELECT id, name, legal_name, address_line, city, province, postal_code, country, "
            "tax_id FROM organizations"
        ).columns(id=sa.Uuid())
    ).all()
    if organizations:
        bind.execute(
            sa.text(
                "INSERT INTO billing_details (id, organization_id, effective_from, name, "
                "legal_name, address_line, city, province, postal_code, country, tax_id) "
                "VALUES (:id, :organization_id, :since, :name, :legal_name, :address_line, "
                ":city, :province, :postal_code, :country, :tax_id)"
            ).bindparams(
                sa.bindparam("id", type_=sa.Uuid()),
                sa.bindparam("organization_id", type_=sa.Uuid()),
                sa.bindparam("since", type_=utc),
            ),
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": row[0],
                    "since": SINCE_ALWAYS,
                    "name": row[1],
                    "legal_name": row[2],
                    "address_line": row[3],
                    "city": row[4],
                    "province": row[5],
                    "postal_code": row[6],
                    "country": row[7],
                    "tax_id": row[8],
                }
                for row in organizations
            ],
        )
    zone_name = bind.execute(
        sa.text("SELECT value FROM platform_settings WHERE key = 'billing_time_zone'")
    ).scalar()
    zone = ZoneInfo(zone_name or _DEFAULT_TIME_ZONE)
    subscriptions = bind.execute(
        sa.text(
            "SELECT organization_id, plan_code, cycle, term_started_at, contract_monthly_cents, "
            "next_plan_code, updated_at FROM subscriptions"
        ).columns(organization_id=sa.Uuid(), term_started_at=utc, updated_at=utc)
    ).all()
    for organization_id, plan, cycle, started, contract, next_plan, updated in subscriptions:
        bind.execute(
            sa.text(
                "INSERT INTO subscription_terms (id, organization_id, effective_from, "
                "effective_to, plan_code, cycle, term_started_at, contract_monthly_cents) "
                "VALUES (:id, :organization_id, :since, NULL, :plan, :cycle, :started, "
                ":contract)"
            ).bindparams(
                sa.bindparam("id", type_=sa.Uuid()),
                sa.bindparam("organization_id", type_=sa.Uuid()),
                sa.bindparam("since", type_=utc),
                sa.bindparam("started", type_=utc),
            ),
            {
                "id": uuid.uuid4(),
                "organization_id": organization_id,
                "since": started,
                "plan": plan,
                "cycle": cycle,
                "started": started,
                "contract": contract,
            },
        )
        if next_plan is not None:
            bind.execute(
                sa.text(
                    "UPDATE subscriptions SET next_change_at = :at "
                    "WHERE organization_id = :organization_id"
                ).bindparams(
                    sa.bindparam("organization_id", type_=sa.Uuid()),
                    sa.bindparam("at", type_=utc),
                ),
                {
                    "organization_id": organization_id,
                    "at": _boundary(cycle, started, updated, zone),
                },
            )


def _boundary(cycle: str, started: datetime, asked: datetime, zone: ZoneInfo) -> datetime:
    """When a downgrade asked for at ``asked`` takes effect (the rule of the time): the next
    month's first day, or a yearly plan's next term start."""
    local = asked.astimezone(zone)
    if cycle == "yearly":
        month = started.astimezone(zone).month
        year = local.year if local.month < month else local.year + 1
    else:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
