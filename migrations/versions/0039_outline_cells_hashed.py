"""A large statement's outlines are grouped into the tile cache's cells by hashing, not sorting, and
the trigger's settings for large statements end with it.

* ``tile_changed`` records the outlines of more than 1,000 changed rows per 2 km cell. Unable to tell
  how many cells there are, the planner expects one per outline and sorted all of them: adopting the
  indicators of 1M imported parcels spent 4.2 s of its 12.6 s there (1,232 cells), 2.1 s hashed. An
  import's own parcels are grouped the same way. Up to 1,000 rows the grouping is planned as before.
* The settings the function changes for a large statement (0037: JIT, 0038: merge joins, and now
  sorting) stayed for the rest of the writing transaction: only ``enable_nestloop`` was a setting of
  the function, which PostgreSQL restores when it returns. They all are now; JIT is off for the
  trigger's statements of any size (compiling them costs more than it saves).

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05
"""

from alembic import op
from schema_triggers import COUNT_UP_TO_1001, LARGE_GROUPINGS_HASHED, LARGE_UPDATES_HASHED_NOT_SORTED, tile_changed

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

#: 0031's setting of the function, kept by the replacement.
_NESTED_LOOPS = "\n    SET enable_nestloop = on"
#: The function's settings: every one its body changes (until it returns), and no JIT.
_SETTINGS = _NESTED_LOOPS + "\n    SET enable_mergejoin = on\n    SET enable_sort = on\n    SET jit = off"


def upgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _SETTINGS, LARGE_UPDATES_HASHED_NOT_SORTED, LARGE_GROUPINGS_HASHED))


def downgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _NESTED_LOOPS, LARGE_UPDATES_HASHED_NOT_SORTED))
