"""Raw criterion values that need the context layers, computed set-wise in PostGIS.

Nearest features come from KNN searches (``ORDER BY geom <-> parcel LIMIT k``) on the partial
spatial index of each layer. A kind with no layer is not searched: its indicator stays NULL, and
the criterion is reported as not available instead of being scored.

A value is only as good as the layers' coverage (:mod:`landreg.context`): a distance counts when
the parcel lies inside the coverage of its kind and the coverage reaches at least that far around
it (a feature outside could otherwise be nearer); "not in a flood zone" counts when the parcel lies
wholly inside the coverage. Elsewhere the indicator is NULL, unknown, and scored as a missing one:
a residential layer of Essen says nothing about how far a Dortmund parcel is from housing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from landreg import rules

#: B-Plan uses (``bplan`` layers) that bring housing, so that the Abstandserlass applies to them:
#: the registry's residential designations and the XPlanung uses the plan check reads as one of
#: them (Kleinsiedlungs- and besondere Wohngebiete as WA, Dorfgebiete and gemischte Bauflächen as MI).
RESIDENTIAL_USES = (*rules.RESIDENTIAL_DESIGNATIONS, "WS", "WB", "MD", "MDW", "M")
# Service level of a stop from its HAFAS products: rail 1, subway/tram 0.8, bus 0.5, on demand 0.2.
_SERVICE = """
    CASE WHEN c.attributes->>'products' ~ '(regional|suburban|national|ice|ic)' THEN 1.0
         WHEN c.attributes->>'products' ~ '(subway|tram)' THEN 0.8
         WHEN c.attributes->>'products' ~ 'bus' THEN 0.5
         WHEN c.attributes->>'products' ~ 'taxi' THEN 0.2
         ELSE 0.3 END"""
TRANSIT_RADIUS_M = 1000
TRANSIT_CANDIDATES = 8
_RESIDENTIAL = ", ".join(f"'{use}'" for use in RESIDENTIAL_USES)


def _known(kind: str, reach: str) -> str:
    """Whether the coverage of ``kind`` holds the parcel and everything within ``reach`` metres of it."""
    return f"""(EXISTS (SELECT FROM context_coverage_part v
                         WHERE v.kind = '{kind}' AND ST_Intersects(v.geom, ST_PointOnSurface(p.geom)))
               AND NOT EXISTS (SELECT FROM context_coverage_edge e
                                WHERE e.kind = '{kind}' AND ST_DWithin(e.geom, p.geom, {reach})))"""


def _knn(kind: str, where: str = "") -> str:
    return f"""(SELECT ST_Distance(c.geom, p.geom) AS d FROM context_feature c
                 WHERE c.kind = '{kind}' {where} ORDER BY c.geom <-> p.geom LIMIT 1)"""


def _nearest(kind: str, *searches: str) -> str:
    """The distance to the nearest feature, where it is known (0: touching one is known anywhere)."""
    nearest = " UNION ALL ".join(searches or (_knn(kind),))
    return f"""(SELECT CASE WHEN n.d = 0 OR {_known(kind, "n.d")} THEN n.d END
                  FROM (SELECT min(d) AS d FROM ({nearest}) s) n)"""


def _within(kind: str) -> str:
    """In a feature: true anywhere; in none: false only where the coverage holds the whole parcel."""
    return f"""CASE WHEN EXISTS (SELECT FROM context_feature c WHERE c.kind = '{kind}' AND ST_Intersects(c.geom, p.geom))
                    THEN true WHEN {_known(kind, "0")} THEN false END"""


_EXPRESSIONS = {
    "dist_rail_station_m": ("bahnhof", _nearest("bahnhof")),
    "transit_access": (
        "haltestelle",
        f"""CASE WHEN {_known("haltestelle", str(TRANSIT_RADIUS_M))} THEN
            (SELECT max(service * greatest(0, 1 - d / {TRANSIT_RADIUS_M}))
               FROM (SELECT {_SERVICE} AS service, ST_Distance(c.geom, p.geom) AS d FROM context_feature c
                      WHERE c.kind = 'haltestelle' ORDER BY c.geom <-> p.geom LIMIT {TRANSIT_CANDIDATES}) near) END""",
    ),
    "dist_motorway_m": ("autobahnanschluss", _nearest("autobahnanschluss")),
    "dist_port_m": ("hafen", _nearest("hafen")),
    # housing: residential areas, and the residential designations of B-Plans
    "dist_residential_m": (
        "wohngebiet",
        _nearest("wohngebiet", _knn("wohngebiet"), _knn("bplan", f"AND c.attributes->>'use' IN ({_RESIDENTIAL})")),
    ),
    "in_flood_zone": ("ueberschwemmungsgebiet", _within("ueberschwemmungsgebiet")),
    "in_protected_area": ("schutzgebiet", _within("schutzgebiet")),
}
COLUMNS = tuple(_EXPRESSIONS)
#: The type of each indicator column (of a NULL where no layer is loaded): a number unless named here.
_TYPES, _NUMBER = {"in_flood_zone": "boolean", "in_protected_area": "boolean"}, "double precision"
#: The kind of context layer each indicator column needs.
KIND_OF = {column: kind for column, (kind, _) in _EXPRESSIONS.items()}


def loaded_layers(conn: Connection) -> set[str]:
    """The kinds some context layer speaks for (a B-Plan also for housing), with a coverage."""
    return set(
        conn.execute(text("SELECT DISTINCT unnest(covers) FROM context_layer WHERE NOT ST_IsEmpty(coverage)")).scalars()
    )


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


def select_list(layers: set[str], columns: Sequence[str] = COLUMNS) -> str:
    """The indicators of the parcel ``p`` as SELECT items named like their columns (NULL where no
    layer of their kind is loaded, or where its coverage leaves the value unknown): stored by
    :func:`compute`, or read without storing (a LATERAL subquery in :func:`landreg.scoring.engine.load`)."""
    return ", ".join(
        f"{expr if kind in layers else f'CAST(NULL AS {_TYPES.get(name, _NUMBER)})'} AS {name}"
        for name, (kind, expr) in _EXPRESSIONS.items()
        if name in columns
    )


def differing(conn: Connection, kinds: Sequence[str], candidates: str, fresh_since) -> list:
    """Current parcels matching ``candidates`` (SQL on the parcel ``p``) whose indicators of these
    ``kinds``, computed now, differ from the stored ones, or whose stored ones are missing or stale
    (older than their parcel, or than ``fresh_since``): the parcels a change of a context layer
    affects (:mod:`landreg.context`)."""
    columns = [c for c in COLUMNS if KIND_OF[c] in kinds]
    if not columns:
        return []
    now = ", ".join(f"f.{c}" for c in columns)
    stored = ", ".join(f"i.{c}" for c in columns)
    return list(
        conn.execute(
            text(f"""
        SELECT p.id FROM parcel p LEFT JOIN parcel_indicator i ON i.parcel_id = p.id
         CROSS JOIN LATERAL (SELECT {select_list(loaded_layers(conn), columns)}) f
         WHERE p.retired_at IS NULL AND ({candidates})
           AND (i.parcel_id IS NULL OR i.parcel_version <> p.version OR i.computed_at < :since
                OR ROW({now}) IS DISTINCT FROM ROW({stored}))
    """),
            {"since": fresh_since},
        ).scalars()
    )


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
