"""Migration 0020: the secret of a two-factor setup begun and never confirmed is dropped;
a member's with it on is kept."""

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine

from portal_core import db
from portal_core.models.accounts import Role, User
from portal_core.models.base import utcnow
from tests.factories import make_organization, make_user
from tests.migrations.support import empty_postgres


def _member(engine: Engine, *, confirmed: bool) -> User:
    with db.write_session(engine) as session:
        # No brand domain: revision 0019's brand_domains lacks the columns the model has now.
        organization = make_organization(session, with_domain=False)
        user = make_user(session, organization=organization, role=Role.DEVELOPER)
        user.two_factor_secret = "gAAAAAB-a-sealed-secret"
        user.two_factor_enabled_at = utcnow() if confirmed else None
        user.two_factor_last_step = 12345 if confirmed else None
        session.add(user)
        return user


def _secrets_after_upgrade(url: str) -> None:
    command.upgrade(db.alembic_config(url), "0019")
    engine = db.create_engine(url)
    abandoned = _member(engine, confirmed=False)
    enabled = _member(engine, confirmed=True)

    command.upgrade(db.alembic_config(url), "head")

    with db.read_session(engine) as session:
        after_abandoned = session.get_one(User, abandoned.id)
        after_enabled = session.get_one(User, enabled.id)
        found = [
            (after_abandoned.two_factor_secret, after_abandoned.two_factor_enabled_at),
            (after_enabled.two_factor_secret, after_enabled.two_factor_last_step),
        ]
    engine.dispose()
    assert found == [(None, None), ("gAAAAAB-a-sealed-secret", 12345)]


def test_unconfirmed_secrets_are_dropped_on_sqlite(tmp_path: Path) -> None:
    _secrets_after_upgrade(f"sqlite:///{tmp_path / 'two_factor.db'}")


@pytest.mark.postgres
def test_unconfirmed_secrets_are_dropped_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url):
        _secrets_after_upgrade(postgres_url)
