"""The migrations are the only way the schema changes: they must build exactly the models."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from portal_core import db


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_migrating_an_empty_sqlite_database_builds_the_models_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    db.migrate(url)
    engine = db.create_engine(url)
    assert _differences(engine) == []
    assert set(inspect(engine).get_table_names()) >= set(SQLModel.metadata.tables)


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    db.migrate(url)
    db.migrate(url)
    assert _differences(db.create_engine(url)) == []


@pytest.mark.postgres
def test_the_migrated_postgresql_schema_matches_the_models(postgres_engine: Engine) -> None:
    assert _differences(postgres_engine) == []
