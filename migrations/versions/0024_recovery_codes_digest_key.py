"""which token key each recovery code's digest was made under

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 06:30:00

A two-factor recovery code is kept as an HMAC under the newest of ``TOKEN_KEYS``, and cannot
be moved under a newer key without the code itself. ``digest_key`` holds a fingerprint of the
key, so ``python -m portal_core keys status`` can say which members still have codes under an
older key (they make new ones before it is dropped). Codes made before have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("digest_key", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_column("digest_key")
