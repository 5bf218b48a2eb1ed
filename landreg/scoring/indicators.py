"""Raw criterion values that need the context layers, computed set-wise in PostGIS.

Nearest features come from KNN searches (``ORDER BY geom <-> parcel LIMIT k``) on the partial
spatial index of each layer. A layer with no features is not searched: its indicator stays NULL,
and the criterion is reported as not available instead of being scored.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

# Service level of a stop from its HAFAS products: rail 1, subway/tram 0.8, bus 0.5, on demand 0.2.
_SERVICE = """
    CASE WHEN c.attributes->>'products' ~ '(regional|suburban|national|ice|ic)' THEN 1.0
         WHEN c.attributes->>'products' ~ '(subway|tram)' THEN 0.8
         WHEN c.attributes->>'products' ~ 'bus' THEN 0.5
         WHEN c.attributes->>'products' ~ 'taxi' THEN 0.2
         ELSE 0.3 END"""
TRANSIT_RADIUS_M = 1000
TRANSIT_CANDIDATES = 8


def _nearest(kind: str) -> str:
    return f"""(SELECT ST_Distance(c.geom, p.geom) FROM context_feature c
                 WHERE c.kind = '{kind}' ORDER BY c.geom <-> p.geom LIMIT 1)"""


def _within(kind: str) -> str:
    return f"EXISTS (SELECT FROM context_feature c WHERE c.kind = '{kind}' AND ST_Intersects(c.geom, p.geom))"


_EXPRESSIONS = {
    "dist_rail_station_m": ("bahnhof", _nearest("bahnhof")),
    "transit_access": (
        "haltestelle",
        f"""(SELECT max(service * greatest(0, 1 - d / {TRANSIT_RADIUS_M}))
                 FROM (SELECT {_SERVICE} AS service, ST_Distance(c.geom, p.geom) AS d FROM context_feature c
                        WHERE c.kind = 'haltestelle' ORDER BY c.geom <-> p.geom LIMIT {TRANSIT_CANDIDATES}) near)""",
    ),
    "dist_motorway_m": ("autobahnanschluss", _nearest("autobahnanschluss")),
    "dist_port_m": ("hafen", _nearest("hafen")),
    "dist_residential_m": ("wohngebiet", _nearest("wohngebiet")),
    "in_flood_zone": ("ueberschwemmungsgebiet", _within("ueberschwemmungsgebiet")),
    "in_protected_area": ("schutzgebiet", _within("schutzgebiet")),
}
COLUMNS = tuple(_EXPRESSIONS)


def loaded_layers(conn: Connection) -> set[str]:
    """Context layer kinds that hold at least one feature."""
    return set(conn.execute(text("SELECT DISTINCT kind FROM context_feature")).scalars())


def stale_parcel_ids(conn: Connection, parcel_ids: Sequence | None = None) -> list:
    """Current parcels (of ``parcel_ids``, default all) whose indicators are missing, or older than
    the parcel or the context layers."""
    return list(
        conn.execute(
            text(f"""
        SELECT p.id FROM parcel p LEFT JOIN parcel_indicator i ON i.parcel_id = p.id
         WHERE p.retired_at IS NULL {"" if parcel_ids is None else "AND p.id = ANY(:ids)"}
           AND (i.parcel_id IS NULL OR i.parcel_version <> p.version
                OR i.computed_at < (SELECT changed_at FROM context_state))
    """),
            {} if parcel_ids is None else {"ids": list(parcel_ids)},
        ).scalars()
    )


def select_list(layers: set[str]) -> str:
    """The indicators of the parcel ``p`` as SELECT items named like their columns (NULL where a
    layer holds no features): stored by :func:`compute`, or read without storing (a LATERAL
    subquery in :func:`landreg.scoring.engine.load`)."""
    return ", ".join(f"{expr if kind in layers else 'NULL'} AS {name}" for name, (kind, expr) in _EXPRESSIONS.items())


def refresh_stale(conn: Connection) -> int:
    """Recompute the indicators of the parcels ``stale_parcel_ids`` names."""
    ids = stale_parcel_ids(conn)
    return compute(conn, ids) if ids else 0


def compute(
    conn: Connection,
    parcel_ids: Sequence | None = None,
    shard: tuple[int, int] | None = None,
    layers: set[str] | None = None,
) -> int:
    """(Re)compute the indicators of the given parcels (default: all current ones); returns how many.

    ``shard = (i, n)`` computes only parcels whose id hashes to ``i`` of ``n``, so that ``n``
    connections can share a full run.
    """
    layers = loaded_layers(conn) if layers is None else layers
    where = ["p.retired_at IS NULL"]
    params: dict = {}
    if parcel_ids is not None:
        where.append("p.id = ANY(:ids)")
        params["ids"] = list(parcel_ids)
    if shard is not None:
        where.append("abs(hashtext(p.id::text)) % :shards = :shard")
        params |= {"shard": shard[0], "shards": shard[1]}
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ("parcel_version", "computed_at", *COLUMNS))
    return conn.execute(
        text(f"""
        INSERT INTO parcel_indicator (parcel_id, parcel_version, computed_at, {", ".join(COLUMNS)})
        SELECT p.id, p.version, clock_timestamp(), {select_list(layers)}
          FROM parcel p
         WHERE {" AND ".join(where)}
        ON CONFLICT (parcel_id) DO UPDATE SET {updates}
    """),
        params,
    ).rowcount
