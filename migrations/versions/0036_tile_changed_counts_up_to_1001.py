"""The tile trigger counts a statement's changed outlines up to 1,001, not all of them.

``tile_changed`` compares the count with 0 and 1,000 only (nothing to record; one row per outline or
per 2 km cell, the whole score layer). Counting all of them joined every changed row to the
parcels once more: for a full run's 500,000 indicators of a shard 0.85 s, for a profile's 550,000
scores 0.8 s, before the cells were grouped (the bench register, 2026-12-04); up to 1,001 rows: 3 ms.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-04
"""

from alembic import op
from schema_triggers import COUNT_EVERY_ROW, COUNT_UP_TO_1001, tile_changed

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

#: 0031's setting of the function, kept by the replacement.
_NESTED_LOOPS = "\n    SET enable_nestloop = on"


def upgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _NESTED_LOOPS))


def downgrade() -> None:
    op.execute(tile_changed(COUNT_EVERY_ROW, _NESTED_LOOPS))
