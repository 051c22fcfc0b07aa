"""Migration 0024: the recovery codes made before it keep working, and ``keys status`` counts
their members apart, as made before the portal kept their key."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from portal_core import db
from portal_core.models.access import RecoveryCode
from portal_core.models.base import UTCDateTime
from portal_core.services import two_factor
from tests.factories import make_user
from tests.migrations.support import empty_postgres

MADE = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
# recovery_codes as revision 0023 has it: no digest_key yet.
_codes_0023 = sa.table(
    "recovery_codes",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("code_digest", sa.String()),
    sa.column("created_at", UTCDateTime()),
)


def _codes_after_upgrade(url: str) -> None:
    command.upgrade(db.alembic_config(url), "0023")
    engine = db.create_engine(url)
    with db.write_session(engine) as session:
        user_id = make_user(session).id
    codes = [uuid.uuid4() for _ in range(3)]
    with engine.begin() as connection:
        connection.execute(
            sa.insert(_codes_0023),
            [
                {"id": code, "user_id": user_id, "code_digest": f"{n:064x}", "created_at": MADE}
                for n, code in enumerate(codes)
            ],
        )

    command.upgrade(db.alembic_config(url), "head")

    with db.read_session(engine) as session:
        kept = [session.get_one(RecoveryCode, code) for code in codes]
        standing = two_factor.recovery_key_standing(session)
    engine.dispose()
    assert [(code.code_digest, code.digest_key) for code in kept] == [
        (f"{n:064x}", None) for n in range(3)
    ]
    assert (standing.unplaced, standing.under_older, standing.unlisted) == (1, 0, 0)


def test_codes_made_before_are_kept_and_counted_apart_on_sqlite(tmp_path: Path) -> None:
    _codes_after_upgrade(f"sqlite:///{tmp_path / 'codes.db'}")


@pytest.mark.postgres
def test_codes_made_before_are_kept_and_counted_apart_on_postgresql(postgres_url: str) -> None:
    with empty_postgres(postgres_url):
        _codes_after_upgrade(postgres_url)
