"""Migration 0022: each pending brand domain is pending since it was added (what the
re-check's week ran from until then); a verified one is pending since nothing."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from portal_core import db
from portal_core.models.accounts import BrandDomain
from portal_core.models.base import UTCDateTime
from tests.factories import make_organization
from tests.migrations.support import empty_postgres

ADDED = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
VERIFIED = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
# brand_domains as revision 0021 has it: no pending_since yet.
_domains_0021 = sa.table(
    "brand_domains",
    sa.column("id", sa.Uuid()),
    sa.column("organization_id", sa.Uuid()),
    sa.column("domain", sa.String()),
    sa.column("verification_token", sa.String()),
    sa.column("verified_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
)


def _pending_since_after_upgrade(url: str) -> None:
    command.upgrade(db.alembic_config(url), "0021")
    engine = db.create_engine(url)
    with db.write_session(engine) as session:
        organization_id = make_organization(session, with_domain=False).id
    pending, verified = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.insert(_domains_0021),
            [
                {
                    "id": domain_id,
                    "organization_id": organization_id,
                    "domain": f"{name}.example.com",
                    "verification_token": name,
                    "verified_at": verified_at,
                    "created_at": ADDED,
                }
                for domain_id, name, verified_at in (
                    (pending, "pending", None),
                    (verified, "verified", VERIFIED),
                )
            ],
        )

    command.upgrade(db.alembic_config(url), "head")

    with db.read_session(engine) as session:
        found = [session.get_one(BrandDomain, key).pending_since for key in (pending, verified)]
    engine.dispose()
    assert found == [ADDED, None]


def test_pending_domains_are_pending_since_they_were_added_on_sqlite(tmp_path: Path) -> None:
    _pending_since_after_upgrade(f"sqlite:///{tmp_path / 'domains.db'}")


@pytest.mark.postgres
def test_pending_domains_are_pending_since_they_were_added_on_postgresql(
    postgres_url: str,
) -> None:
    with empty_postgres(postgres_url):
        _pending_since_after_upgrade(postgres_url)
