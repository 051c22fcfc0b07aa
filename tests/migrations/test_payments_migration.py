"""Migration 0004: a database seeded before it gains the platform settings shipped since, at
their defaults, and keeps the values staff had already changed."""

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from portal_core import db, reference
from tests.migrations.support import empty_postgres


def _settings_after_upgrade(url: str) -> dict[str, str]:
    command.upgrade(db.alembic_config(url), "0003")
    engine = db.create_engine(url)
    with engine.begin() as connection:
        # As a database seeded before auto-recharge existed: no such row, and a fee staff set.
        connection.execute(
            text("DELETE FROM platform_settings WHERE key = 'auto_recharge_max_per_day'")
        )
        connection.execute(
            text("UPDATE platform_settings SET value = '2500' WHERE key = 'card_fee_millipercent'")
        )
    command.upgrade(db.alembic_config(url), "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT key, value FROM platform_settings"))
        found = {str(key): str(value) for key, value in rows}
    engine.dispose()
    return found


def _expected() -> dict[str, str]:
    shipped = {row["key"]: row["value"] for row in reference.platform_settings()}
    return {**shipped, "card_fee_millipercent": "2500"}


def test_new_settings_are_seeded_and_edited_ones_kept_on_sqlite(tmp_path: Path) -> None:
    found = _settings_after_upgrade(f"sqlite:///{tmp_path / 'settings.db'}")
    assert found == _expected()
    assert found["auto_recharge_max_per_day"] == "3"


@pytest.mark.postgres
def test_new_settings_are_seeded_and_edited_ones_kept_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url):
        found = _settings_after_upgrade(postgres_url)
        assert found == _expected()
