"""What a write changed, for the tile cache (:mod:`landreg.tilecache`).

Every committed change that can alter a vector tile leaves rows in ``tile_invalidation``: the
layer it concerns (``parcels``, ``scores``: only tiles with scores, ``municipalities``, a context
kind, ``*``: everything) and an envelope in EPSG:3857 (NULL: the whole layer). Triggers write them,
so no write path can forget it:

* ``parcel``: inserts, and updates that changed the row (edits, retirements, review resets,
  ``public_since`` moved by a publication notice or an objection): old and new outline;
* ``parcel_pending``: a change entering or leaving review (approved, rejected): the approved and
  the current outline, since the public sees one or the other;
* ``parcel_indicator`` (tiles carry the Abstand class), ``parcel_score`` (tiles with ``profile``),
  ``municipality``, ``context_feature``; a TRUNCATE of any of them: everything.

One statement that changes more than 1,000 rows (an import, a full rescoring) is summarised:
parcels by the extent of those whose bbox starts in the same 2 km cell, scores as the whole layer.

Each row carries the id of the writing transaction (``xid``): a cache that remembers the snapshot of
its last look reads exactly the rows committed since (``NOT pg_visible_in_snapshot``), also those of
a transaction that began earlier and committed later, which an increasing ``seq`` alone would miss.
Rows older than a day are pruned by the writers (one statement in a hundred); reads never write.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02
"""

from alembic import op
from schema_triggers import COUNT_EVERY_ROW, tile_changed

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

#: Table -> (layer expression, the changed outlines per operation as SQL over the transition
#: tables ``new_rows``/``old_rows``: columns ``layer``, ``g``). Indicator columns are listed so that
#: a recomputation that changes nothing invalidates nothing.
_INDICATOR_VALUES = (
    "parcel_version, dist_rail_station_m, transit_access, dist_motorway_m, dist_port_m, "
    "dist_residential_m, in_flood_zone, in_protected_area"
)
_WATCHED = {
    "parcel": {
        "INSERT": "SELECT 'parcels' AS layer, geom AS g FROM new_rows",
        "UPDATE": """SELECT 'parcels' AS layer, v.g FROM old_rows o JOIN new_rows n ON n.id = o.id,
                            LATERAL (VALUES (o.geom), (n.geom)) AS v(g)
                      WHERE o IS DISTINCT FROM n""",
    },
    "parcel_pending": {
        op_: f"""SELECT 'parcels' AS layer, v.g FROM {rows} r LEFT JOIN parcel p ON p.id = r.parcel_id,
                        LATERAL (VALUES (r.geom), (p.geom)) AS v(g) WHERE v.g IS NOT NULL"""
        for op_, rows in (
            ("INSERT", "new_rows"),
            ("DELETE", "old_rows"),
            ("UPDATE", "(SELECT * FROM old_rows UNION ALL SELECT * FROM new_rows)"),
        )
    },
    "parcel_indicator": {
        "INSERT": "SELECT 'parcels' AS layer, p.geom AS g FROM new_rows r JOIN parcel p ON p.id = r.parcel_id",
        "UPDATE": f"""SELECT 'parcels' AS layer, p.geom AS g
                        FROM old_rows o JOIN new_rows n ON n.parcel_id = o.parcel_id JOIN parcel p ON p.id = n.parcel_id
                       WHERE ({", ".join("o." + c for c in _INDICATOR_VALUES.split(", "))})
                             IS DISTINCT FROM ({", ".join("n." + c for c in _INDICATOR_VALUES.split(", "))})""",
        "DELETE": "SELECT 'parcels' AS layer, p.geom AS g FROM old_rows r JOIN parcel p ON p.id = r.parcel_id",
    },
    "parcel_score": {
        "INSERT": "SELECT 'scores' AS layer, p.geom AS g FROM new_rows r JOIN parcel p ON p.id = r.parcel_id",
        "DELETE": "SELECT 'scores' AS layer, p.geom AS g FROM old_rows r JOIN parcel p ON p.id = r.parcel_id",
        "UPDATE": """SELECT 'scores' AS layer, p.geom AS g FROM (SELECT parcel_id FROM old_rows UNION SELECT parcel_id
                       FROM new_rows) AS r JOIN parcel p ON p.id = r.parcel_id""",
    },
    "municipality": {
        "INSERT": "SELECT 'municipalities' AS layer, geom AS g FROM new_rows",
        "DELETE": "SELECT 'municipalities' AS layer, geom AS g FROM old_rows",
        "UPDATE": """SELECT 'municipalities' AS layer, geom AS g FROM old_rows
                     UNION ALL SELECT 'municipalities', geom FROM new_rows""",
    },
    "context_feature": {
        "INSERT": "SELECT kind AS layer, geom AS g FROM new_rows",
        "DELETE": "SELECT kind AS layer, geom AS g FROM old_rows",
        "UPDATE": "SELECT kind AS layer, geom AS g FROM old_rows UNION ALL SELECT kind, geom FROM new_rows",
    },
}

_FUNCTION = (
    tile_changed(COUNT_EVERY_ROW)
    + """
CREATE FUNCTION tile_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO tile_invalidation (layer) VALUES ('*');
        RETURN NULL;
    END $$;
"""
)


def _quoted(sql: str) -> str:
    return "'" + " ".join(sql.split()).replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE tile_invalidation (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            layer text NOT NULL,
            west double precision,
            south double precision,
            east double precision,
            north double precision,
            changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT tile_invalidation_envelope CHECK (
                (west IS NULL) = (south IS NULL) AND (west IS NULL) = (east IS NULL) AND (west IS NULL) = (north IS NULL))
        );
        COMMENT ON TABLE tile_invalidation IS
            'envelopes west/south/east/north (EPSG:3857; NULL: the whole layer) of committed changes, for the tile cache (landreg.tilecache)';
        CREATE INDEX tile_invalidation_xid ON tile_invalidation (xid);
        CREATE INDEX tile_invalidation_changed_at ON tile_invalidation (changed_at);
    """)
    op.execute(_FUNCTION)
    for table, operations in _WATCHED.items():
        for operation, changed in operations.items():
            transitions = {"INSERT": "NEW TABLE AS new_rows", "DELETE": "OLD TABLE AS old_rows"}.get(
                operation, "OLD TABLE AS old_rows NEW TABLE AS new_rows"
            )
            op.execute(f"""
                CREATE TRIGGER tile_{operation.lower()} AFTER {operation} ON {table}
                REFERENCING {transitions} FOR EACH STATEMENT EXECUTE FUNCTION tile_changed({_quoted(changed)})
            """)
        op.execute(
            f"CREATE TRIGGER tile_truncate AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION tile_truncated()"
        )


def downgrade() -> None:
    for table, operations in _WATCHED.items():
        for operation in (*operations, "TRUNCATE"):
            op.execute(f"DROP TRIGGER tile_{operation.lower()} ON {table}")
    op.execute("DROP FUNCTION tile_changed(); DROP FUNCTION tile_truncated(); DROP TABLE tile_invalidation")
