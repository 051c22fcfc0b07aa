"""Migration 0002: reference data from data/, and the Free plan for existing organizations."""

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from portal_core import db, reference
from tests.migrations.support import empty_postgres


def _organization_before_billing(url: str) -> uuid.UUID:
    """Migrate to 0001 and make an organization the way the Foundation did."""
    command.upgrade(db.alembic_config(url), "0001")
    organization_id = uuid.uuid4()
    engine = db.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organizations (id, name, status, created_at, updated_at) "
                "VALUES (:id, 'Before Billing Inc.', 'active', :now, :now)"
            ),
            {
                "id": organization_id.hex if url.startswith("sqlite") else organization_id,
                "now": "2026-10-01 12:00:00",
            },
        )
    engine.dispose()
    return organization_id


def _check_free_plan_and_reference_data(engine: Engine, organization_id: uuid.UUID) -> None:
    with engine.connect() as connection:
        plans = connection.execute(text("SELECT code FROM plans ORDER BY position")).scalars()
        assert list(plans) == [plan["code"] for plan in reference.plans()]
        taxes = connection.execute(text("SELECT COUNT(*) FROM tax_rates")).scalar_one()
        assert taxes == len(reference.tax_rates())
        fee = connection.execute(
            text("SELECT value FROM platform_settings WHERE key = 'card_fee_millipercent'")
        ).scalar_one()
        assert fee == "2950"
        rows = connection.execute(
            text("SELECT organization_id, plan_code, cycle FROM subscriptions")
        )
        [(found, plan, cycle)] = list(rows)
        assert uuid.UUID(str(found)) == organization_id
        assert (plan, cycle) == ("free", "monthly")


def test_existing_organizations_get_the_free_plan_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before.db'}"
    organization_id = _organization_before_billing(url)
    db.migrate(url)
    _check_free_plan_and_reference_data(db.create_engine(url), organization_id)


@pytest.mark.postgres
def test_existing_organizations_get_the_free_plan_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url) as engine:
        organization_id = _organization_before_billing(postgres_url)
        db.migrate(postgres_url)
        _check_free_plan_and_reference_data(engine, organization_id)
