"""Migrating refreshes the query planner's statistics, so the lists' plans follow the data
(tests/queries/test_list_plans.py checks the plans themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from portal_core import db
from tests.conftest import reset_database
from tests.factories import make_organization


def _add_organizations(engine: Engine, count: int) -> None:
    with db.write_session(engine) as session:
        for _ in range(count):
            make_organization(session)


def test_migrating_sqlite_records_statistics_of_the_tables_with_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stats.db'}"
    db.migrate(url)
    engine = db.engine(url)
    _add_organizations(engine, 30)

    db.migrate(url)  # as every start of the portal does

    with engine.connect() as connection:
        stats: dict[str, str] = dict(
            connection.execute(
                text("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'organizations'")
            ).all()
        )
    assert stats["ix_organizations_created"].split()[0] == "30"
    assert stats["ix_organizations_status_created"].split()[0] == "30"


@pytest.mark.postgres
def test_migrating_postgresql_analyzes_its_tables(
    postgres_engine: Engine, postgres_url: str
) -> None:
    reset_database(postgres_engine)
    _add_organizations(postgres_engine, 30)

    db.migrate(postgres_url)

    with postgres_engine.connect() as connection:
        tuples = connection.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = 'organizations'")
        ).scalar_one()
    assert tuples == 30
