"""which token key each API token's digest was made under

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 05:00:00

A token's secret is kept as an HMAC under the newest of ``TOKEN_KEYS``, and an older key could
never be dropped safely: nothing said which tokens still depended on it. ``digest_key`` holds
a fingerprint of the key (which gives nothing of it away); a token used under an older key is
moved under the newest one, and ``python -m portal_core keys status`` counts the live tokens
under each key. Tokens minted before have none until their next use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("digest_key", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("digest_key")
