"""Migration 0003: entries posted before it get their running balance, per organization."""

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from portal_core import db
from tests.migrations.support import empty_postgres

_NOON = "2026-10-01 12:00:00"


def _ids(url: str, count: int) -> list[object]:
    ids = sorted(uuid.uuid4() for _ in range(count))
    return [value.hex if url.startswith("sqlite") else value for value in ids]


def _running_balances_after_upgrade(url: str) -> None:
    command.upgrade(db.alembic_config(url), "0002")
    first, second = _ids(url, 2)
    # Two entries of the first organization share a created_at: the id breaks the tie.
    tied_low, tied_high, early, late, other = _ids(url, 5)
    engine = db.create_engine(url)
    with engine.begin() as connection:
        for organization in (first, second):
            connection.execute(
                text(
                    "INSERT INTO organizations (id, name, status, created_at, updated_at) "
                    "VALUES (:id, 'Ledger Before 0003', 'active', :now, :now)"
                ),
                {"id": organization, "now": _NOON},
            )
        entries = [
            (late, first, 700, "2026-10-03 09:00:00"),
            (tied_high, first, -400, "2026-10-02 09:00:00"),
            (early, first, 1_000, "2026-10-01 09:00:00"),
            (tied_low, first, 250, "2026-10-02 09:00:00"),
            (other, second, 9_999, "2026-10-01 08:00:00"),
        ]
        for entry_id, organization, cents, at in entries:
            connection.execute(
                text(
                    "INSERT INTO ledger_entries (id, organization_id, kind, amount_cents, "
                    "idempotency_key, memo, created_at) "
                    "VALUES (:id, :org, 'payment', :cents, :key, 'before 0003', :at)"
                ),
                {
                    "id": entry_id,
                    "org": organization,
                    "cents": cents,
                    "key": str(entry_id),
                    "at": at,
                },
            )
    command.upgrade(db.alembic_config(url), "head")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, balance_after_cents FROM ledger_entries"))
        found = {uuid.UUID(str(entry_id)): int(cents) for entry_id, cents in rows}
    engine.dispose()
    expected = {early: 1_000, tied_low: 1_250, tied_high: 850, late: 1_550, other: 9_999}
    assert found == {uuid.UUID(str(entry_id)): cents for entry_id, cents in expected.items()}


def test_existing_entries_get_their_running_balance_on_sqlite(tmp_path: Path) -> None:
    _running_balances_after_upgrade(f"sqlite:///{tmp_path / 'ledger.db'}")


@pytest.mark.postgres
def test_existing_entries_get_their_running_balance_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url):
        _running_balances_after_upgrade(postgres_url)
