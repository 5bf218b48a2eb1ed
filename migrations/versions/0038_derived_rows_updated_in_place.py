"""A full run's indicators and scores are updated within their pages, and the tile cache hears of the
changed ones only.

* ``parcel_indicator`` and ``parcel_score`` get a fill factor of 50: a full run rewrites every row,
  so the tables held an old and a new version of each row anyway (211 MB for 1M indicators, packed
  about 105 MB). With the room left on each page the new version goes beside the old one (a HOT
  update): no new index entry, the old version pruned on the page. On the 1M bench register a full
  run with every indicator computed again took 60.5 s instead of 67.6 s (the tables already as
  large as before). Rows written before this revision move as they are next updated.
* The tile trigger of an indicator UPDATE compares old and new rows first and looks up the outlines
  of the differing ones only; before it joined every updated row to ``parcel`` (a scan of the
  table) and then compared: 0.67 s instead of 0.20 s for 125,000 unchanged indicators.
* The tile trigger of a score UPDATE records the scores that changed what a tile shows (the score,
  the public variant's, the parcel version they are of), no longer every updated row: a full run that
  left the scores as they were emptied every cached tile with scores (more than 1,000 rows: the whole
  layer), now none; one that changed a few, those few parcels' tiles.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05
"""

import importlib.util
from pathlib import Path

from alembic import op
from schema_triggers import COUNT_UP_TO_1001, LARGE_UPDATES_HASHED, LARGE_UPDATES_HASHED_NOT_SORTED, tile_changed

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

_spec = importlib.util.spec_from_file_location("m0025", Path(__file__).with_name("0025_tile_invalidation.py"))
_m0025 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_m0025)

_VALUES = _m0025._INDICATOR_VALUES.split(", ")
#: The outlines of the parcels whose indicators an UPDATE changed: the rows compared first.
_INDICATORS_CHANGED = f"""
    SELECT 'parcels' AS layer, p.geom AS g
      FROM (SELECT n.parcel_id FROM old_rows o JOIN new_rows n ON n.parcel_id = o.parcel_id
             WHERE ({", ".join("o." + c for c in _VALUES)}) IS DISTINCT FROM ({", ".join("n." + c for c in _VALUES)})
            OFFSET 0) AS changed
      JOIN parcel p ON p.id = changed.parcel_id"""

#: The outlines of the parcels whose scores an UPDATE changed as tiles show them (``score``,
#: ``public_score``, of ``parcel_version``: :mod:`landreg.scoring.visible`); a row whose key changed
#: counts under its old and its new parcel.
_SCORES_CHANGED = """
    SELECT 'scores' AS layer, p.geom AS g
      FROM (SELECT coalesce(n.parcel_id, o.parcel_id) AS parcel_id
              FROM old_rows o FULL JOIN new_rows n ON n.profile_id = o.profile_id AND n.parcel_id = o.parcel_id
             WHERE (o.parcel_version, o.score, o.public_score) IS DISTINCT FROM (n.parcel_version, n.score, n.public_score)
            OFFSET 0) AS changed
      JOIN parcel p ON p.id = changed.parcel_id"""

_CHANGED = {"parcel_indicator": _INDICATORS_CHANGED, "parcel_score": _SCORES_CHANGED}


def _update_trigger(table: str, changed: str) -> str:
    return f"""
        DROP TRIGGER tile_update ON {table};
        CREATE TRIGGER tile_update AFTER UPDATE ON {table}
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION tile_changed({_m0025._quoted(changed)});
    """


#: 0031's setting of the function, kept by the replacement.
_NESTED_LOOPS = "\n    SET enable_nestloop = on"


def upgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _NESTED_LOOPS, LARGE_UPDATES_HASHED_NOT_SORTED))
    for table, changed in _CHANGED.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")
        op.execute(_update_trigger(table, changed))


def downgrade() -> None:
    op.execute(tile_changed(COUNT_UP_TO_1001, _NESTED_LOOPS, LARGE_UPDATES_HASHED))
    for table in _CHANGED:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
        op.execute(_update_trigger(table, _m0025._WATCHED[table]["UPDATE"]))
