"""two-factor setups never confirmed keep no secret

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 01:30:00

Turning two-factor sign-in on used to store the authenticator's secret (sealed) as soon as it
began, and a setup never confirmed kept it for good. The secret is now stored only once a code
confirms it; this drops the secrets of setups begun before and never confirmed. Nothing comes
back on a downgrade: such a member begins again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE users SET two_factor_secret = NULL, two_factor_last_step = NULL "
        "WHERE two_factor_enabled_at IS NULL AND two_factor_secret IS NOT NULL"
    )


def downgrade() -> None:
    pass
