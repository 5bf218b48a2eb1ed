"""Scores and indicators of the approved version of a parcel whose latest change waits for review.

Everybody but the parcel's municipality (and those who ask for changes not yet reviewed) sees the
approved version of such a parcel (``parcel_pending``), but scores and indicators were stored for
the latest version only. So for the public such a parcel had no score in rankings, tiles, search
and feeds, its distances read "unknown" and its explanation was refused: anyone could tell that a
change waited for review, even one of a confidential field only (found in review).

* ``approved_indicator``, ``approved_score``: the columns of ``parcel_indicator`` and
  ``parcel_score`` (``LIKE``; a column added to those later is added here and to the views too), for the approved version (``parcel_version``) of each pending parcel that has
  one. They go with the pending row (``ON DELETE CASCADE``): an approval leaves only the latest.
* A read joins both tables, each on the version of the row it shows (``landreg.scoring.visible.Stored``).
  A version has a row in one of them at most: a retirement that waits for review leaves the
  approved version the latest one, whose indicators stay in ``parcel_indicator`` and whose scores,
  which no current parcel has, are in ``approved_score``.
* Tile triggers as on the tables they mirror (0025), with the approved outline.

Rows for parcels pending at the upgrade come with the next scoring run (``landreg score``).

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-05
"""

from alembic import op

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

#: The approved outline of the rows a statement wrote or removed (a removal with its pending row,
#: at an approval, has none left: the trigger of ``parcel_pending`` records both outlines then).
_OUTLINE = "SELECT '{layer}' AS layer, pp.geom AS g FROM {rows} r JOIN parcel_pending pp ON pp.parcel_id = r.parcel_id"


def _quoted(sql: str) -> str:
    return "'" + sql.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE approved_indicator (
            LIKE parcel_indicator INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
            PRIMARY KEY (parcel_id),
            FOREIGN KEY (parcel_id) REFERENCES parcel_pending (parcel_id) ON DELETE CASCADE
        );
        COMMENT ON TABLE approved_indicator IS
            'parcel_indicator of the approved version of a parcel whose latest change waits for review (parcel_pending)';
        CREATE TABLE approved_score (
            LIKE parcel_score INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
            PRIMARY KEY (profile_id, parcel_id),
            FOREIGN KEY (parcel_id) REFERENCES parcel_pending (parcel_id) ON DELETE CASCADE,
            FOREIGN KEY (profile_id) REFERENCES scoring_profile (id)
        );
        CREATE INDEX approved_score_parcel ON approved_score (parcel_id);
        COMMENT ON TABLE approved_score IS
            'parcel_score of the approved version of a parcel whose latest change waits for review (parcel_pending)';
    """)
    for table, layer in (("approved_indicator", "parcels"), ("approved_score", "scores")):
        for operation, rows, transition in (("insert", "new_rows", "NEW"), ("delete", "old_rows", "OLD")):
            changed = _OUTLINE.format(layer=layer, rows=rows)
            op.execute(f"""
                CREATE TRIGGER tile_{operation} AFTER {operation.upper()} ON {table}
                REFERENCING {transition} TABLE AS {rows} FOR EACH STATEMENT EXECUTE FUNCTION tile_changed({_quoted(changed)})
            """)


def downgrade() -> None:
    op.execute("""
        DROP TABLE approved_score; DROP TABLE approved_indicator;
    """)
