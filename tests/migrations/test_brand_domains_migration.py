"""Migration 0016: brand domains added before it get a verification token each, a token of
their own, and start pending."""

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from portal_core import db
from tests.migrations.support import empty_postgres

_NOON = "2026-10-01 12:00:00"


def _id(url: str) -> object:
    value = uuid.uuid4()
    return value.hex if url.startswith("sqlite") else value


def _tokens_after_upgrade(url: str) -> None:
    command.upgrade(db.alembic_config(url), "0013")
    organization = _id(url)
    engine = db.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organizations (id, name, status, created_at, updated_at) "
                "VALUES (:id, 'Brand Before 0016', 'active', :now, :now)"
            ),
            {"id": organization, "now": _NOON},
        )
        for domain in ("one.example.com", "two.example.com"):
            connection.execute(
                text(
                    "INSERT INTO brand_domains (id, organization_id, domain, created_at) "
                    "VALUES (:id, :org, :domain, :now)"
                ),
                {"id": _id(url), "org": organization, "domain": domain, "now": _NOON},
            )
    command.upgrade(db.alembic_config(url), "head")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT verification_token, verified_at, last_checked_at FROM brand_domains")
        ).all()
    engine.dispose()
    tokens = [token for token, _verified, _checked in rows]
    assert len(tokens) == 2 and len(set(tokens)) == 2
    assert all(len(token) == 32 for token in tokens)
    assert [(verified, checked) for _token, verified, checked in rows] == [(None, None)] * 2


def test_existing_domains_get_tokens_of_their_own_on_sqlite(tmp_path: Path) -> None:
    _tokens_after_upgrade(f"sqlite:///{tmp_path / 'brand.db'}")


@pytest.mark.postgres
def test_existing_domains_get_tokens_of_their_own_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url):
        _tokens_after_upgrade(postgres_url)
