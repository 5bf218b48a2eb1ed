"""Drop ``saved_search.last_read_at``: a feed's GET writes nothing (reads never write, and a hot
standby serves feeds), so the column has not been set since; kept, it would suggest a record of
when an alert was read that does not exist.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-03
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE saved_search DROP COLUMN last_read_at")


def downgrade() -> None:
    op.execute("ALTER TABLE saved_search ADD COLUMN last_read_at timestamptz")
