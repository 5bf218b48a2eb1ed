"""Large updates of parcels and indicators no longer compare every old row with every new one.

Two statement triggers joined an UPDATE's old and new rows (its transition tables) in a nested loop:

* ``tile_changed`` (0036) counts up to 1,001 changed outlines; with that limit the planner expects to
  stop early and loops. Where nothing or little differs it never does: a full run that computes
  every indicator again (500,000 unchanged values a shard) did not end in 2 minutes, 30,000 parcels
  updated without a change not in 10. An UPDATE of more than 1,000 rows now joins them by hashing
  or merging (6.7 s for the 500,000 indicators with the update itself, 6.8 s for the parcels).
  Smaller statements plan as before (0031).
* ``parcel_history_after_update``'s statement was planned once per session, for the rows of its
  first update: after an edit of one parcel, a later update of 10,000 took 31.8 s instead of 2.4 s.
  It is now planned for each update (``schema_history.after_update_function``).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-04
"""

import importlib.util
from pathlib import Path

from alembic import op
from schema_history import after_update_function
from schema_triggers import COUNT_UP_TO_1001, LARGE_UPDATES_HASHED, tile_changed

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

#: 0031's setting of the function, kept by the replacement.
_NESTED_LOOPS = "\n    SET enable_nestloop = on"

_spec = importlib.util.spec_from_file_location("m0021", Path(__file__).with_name("0021_alkis_parcel_keys.py"))
_m0021 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0021)


def upgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _NESTED_LOOPS, LARGE_UPDATES_HASHED))
    op.execute(after_update_function(_m0021.VERSIONED))


def downgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _NESTED_LOOPS))
    op.execute(after_update_function(_m0021.VERSIONED, planned_each_time=False))
