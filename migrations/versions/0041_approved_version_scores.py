"""Scores and indicators of the approved version of a parcel whose latest change waits for review.

Everybody but the parcel's municipality (and those who ask for changes not yet reviewed) sees the
approved version of such a parcel (``parcel_pending``), but scores and indicators were stored for
the latest version only. So for the public such a parcel had no score in rankings, tiles, search
and feeds, its distances read "unknown" and its explanation was refused: anyone could tell that a
change waited for review, even one of a confidential field only (found in review).

* ``approved_indicator``, ``approved_score``: the columns of ``parcel_indicator`` and
  ``parcel_score`` (``LIKE``; a column added to those later is added here and to the views too), for the approved version (``parcel_version``) of each pending parcel that has
  one. They go with the pending row (``ON DELETE CASCADE``): an approval leaves only the latest.
* ``version_indicator``, ``version_score``: both together, the stored values of every version
  someone sees. A read matches them on the version of the row it shows, as before. Plain unions of
  the tables, so that a read's conditions reach their indexes; one row per version: a retirement
  that waits for review leaves the approved version the latest one, whose indicators stay in
  ``parcel_indicator`` and whose scores, which no current parcel has, are in ``approved_score``.
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

_INDICATOR_COLUMNS = (
    "parcel_id, parcel_version, computed_at, dist_rail_station_m, transit_access, dist_motorway_m, "
    "dist_port_m, dist_residential_m, in_flood_zone, in_protected_area, definition"
)
_SCORE_COLUMNS = (
    "parcel_id, profile_id, parcel_version, score, coverage, excluded_by, computed_at, public_score, "
    "public_excluded_by, public_coverage"
)
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
    op.execute(f"""
        CREATE VIEW version_indicator AS
            SELECT {_INDICATOR_COLUMNS} FROM parcel_indicator
            UNION ALL SELECT {_INDICATOR_COLUMNS} FROM approved_indicator;
        COMMENT ON VIEW version_indicator IS
            'the stored indicators of every version someone sees: the latest, and the approved one of a pending parcel';
        CREATE VIEW version_score AS
            SELECT {_SCORE_COLUMNS} FROM parcel_score
            UNION ALL SELECT {_SCORE_COLUMNS} FROM approved_score;
        COMMENT ON VIEW version_score IS
            'the stored scores of every version someone sees: the latest, and the approved one of a pending parcel';
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
        DROP VIEW version_score; DROP VIEW version_indicator;
        DROP TABLE approved_score; DROP TABLE approved_indicator;
    """)
