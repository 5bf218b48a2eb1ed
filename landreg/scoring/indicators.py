"""Raw criterion values that need the context layers, computed set-wise in PostGIS.

Nearest features come from KNN searches (``ORDER BY geom <-> parcel LIMIT k``) on the partial
spatial index of each layer. A kind with no layer is not searched: its indicator stays NULL, and
the criterion is reported as not available instead of being scored.

A value is only as good as the layers' coverage (:mod:`landreg.context`): a distance counts when
the parcel lies inside the coverage of its kind and the coverage reaches at least that far around
it (a feature outside could otherwise be nearer); "not in a flood zone" counts when the parcel lies
wholly inside the coverage. Elsewhere the indicator is NULL, unknown, and scored as a missing one:
a residential layer of Essen says nothing about how far a Dortmund parcel is from housing.

A batch (a full run, an import) takes a faster route to the same values (:func:`compute`): the
service level of each stop is worked out once per stop instead of once per parcel and stop, the
nearest features are searched only as far as a grid cell says they lie at most, or not at all where
the cell says which one is nearest (:func:`_knn_by_cell`), and the coverage tests are mostly settled by a grid over the coverages
(:func:`_grid`): a cell whose centre lies far enough inside (or outside) a coverage settles them
for the parcels whose point lies in it, with bounds on their distance to its edge; only the
others take the tests on the layers.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from sqlalchemy import Connection, text

from landreg import rules
from landreg.db import local_settings

#: B-Plan uses (``bplan`` layers) that bring housing, so that the Abstandserlass applies to them:
#: the registry's residential designations and the XPlanung uses the plan check reads as one of
#: them (Kleinsiedlungs- and besondere Wohngebiete as WA, Dorfgebiete and gemischte Bauflächen as MI).
RESIDENTIAL_USES = (*rules.RESIDENTIAL_DESIGNATIONS, "WS", "WB", "MD", "MDW", "M")
# Service level of a stop ``c`` from its HAFAS products: rail 1, subway/tram 0.8, bus 0.5, on demand 0.2.
_SERVICE = """
    CASE WHEN c.attributes->>'products' ~ '(regional|suburban|national|ice|ic)' THEN 1.0
         WHEN c.attributes->>'products' ~ '(subway|tram)' THEN 0.8
         WHEN c.attributes->>'products' ~ 'bus' THEN 0.5
         WHEN c.attributes->>'products' ~ 'taxi' THEN 0.2
         ELSE 0.3 END"""
#: The stops with their service level: worked out in the query, or once per batch (:func:`_batch_tables`).
_STOPS = f"(SELECT c.geom, {_SERVICE} AS service FROM context_feature c WHERE c.kind = 'haltestelle')"
_BATCH_STOPS = "indicator_stop"
#: From this many parcels on, :func:`compute` prepares the batch tables (0.3–1.5 s) to save ~0.1 ms a parcel.
BATCH = 10_000
#: Cells of the coverage grid at most (over the parcels' extent; fewer for fewer parcels: one for every
#: four), and the slack of its bounds in metres (far above the rounding of distances computed by GEOS
#: here and by PostGIS in the database).
GRID_CELLS, GRID_SLACK = 40_000, 0.01
#: The parcel ``p``'s cell of the grid (from its ST_PointOnSurface) and its spread: no point of the
#: parcel is farther from that point than the diagonal of its bounding box.
_PARCEL_CELL = """floor((ST_X(s.pos) - :grid_x) / :grid_size)::int AS cell_i,
                  floor((ST_Y(s.pos) - :grid_y) / :grid_size)::int AS cell_j,
                  ST_Length(ST_BoundingDiagonal(p.geom)) AS spread"""
TRANSIT_RADIUS_M = 1000
TRANSIT_CANDIDATES = 8
_RESIDENTIAL = ", ".join(f"'{use}'" for use in RESIDENTIAL_USES)


def _known(kind: str, reach: str) -> str:
    """Whether the coverage of ``kind`` holds the parcel and everything within ``reach`` metres of it."""
    return f"""(EXISTS (SELECT FROM context_coverage_part v
                         WHERE v.kind = '{kind}' AND ST_Intersects(v.geom, ST_PointOnSurface(p.geom)))
               AND NOT EXISTS (SELECT FROM context_coverage_edge e
                                WHERE e.kind = '{kind}' AND ST_DWithin(e.geom, p.geom, {reach})))"""


def _known_by_cell(kind: str, reach: str) -> str:
    """:func:`_known`, settled by the parcel's cell of the coverage grid where that is sure
    (:func:`_grid`), else by the tests on the layers."""
    g = f"cell_{kind}"
    return f"""(CASE WHEN {g}.state = 'in' AND {reach} < {g}.edge_min - p.spread THEN true
                     WHEN {g}.state = 'out' OR {reach} > {g}.edge_max THEN false
                     ELSE {_known(kind, reach)} END)"""


def _knn(kind: str, where: str = "") -> str:
    return f"""(SELECT ST_Distance(c.geom, p.geom) AS d FROM context_feature c
                 WHERE c.kind = '{kind}' {where} ORDER BY c.geom <-> p.geom LIMIT 1)"""


def _knn_by_cell(kind: str) -> str:
    """:func:`_knn`, searched only as far as the parcel's cell says the nearest feature lies at most
    (:func:`_grid`): fewer index pages to read. Where the cell names the nearest feature of every
    parcel in it that spreads no farther than it allows (``feature_id``), the distance to that
    feature, which is the one the search would find: no search."""
    g = f"cell_{kind}"
    bounded = _knn(kind, f"AND ST_DWithin(c.geom, p.geom, {g}.feature_max)")
    named = f"(SELECT ST_Distance(c.geom, p.geom) FROM context_feature c WHERE c.id = {g}.feature_id)"
    return f"""(SELECT CASE WHEN {g}.feature_max < {g}.others_min - p.spread THEN {named}
                            WHEN {g}.feature_max IS NULL THEN {_knn(kind)} ELSE {bounded} END AS d)"""


def _transit(stops: str) -> str:
    """The best of the nearest stops: its service level, less with distance (none from the radius on).
    Among stops equally near (several inside the parcel, at 0 m) the better served come first, so
    that which of them count is decided by the rule, not by the order of the index.

    Searched among the stops within the radius only (those beyond add nothing, the best of none
    being 0 where the layer has any stop): a few index pages, not every stop of the layer (an edited
    parcel's indicators took 24 ms at 14,567 stops, nearly all of it here). The stops as near as the
    last of the nearest ones are taken all (``WITH TIES``) instead of sorted by service: the best of
    them is the same (the better served of those equally near is among the rule's), and they come
    in the index's order, unsorted (a batch: 15 % less time)."""
    search = f"""(SELECT max(service * greatest(0, 1 - d / {TRANSIT_RADIUS_M}))
                    FROM (SELECT c.service, ST_Distance(c.geom, p.geom) AS d FROM {stops} c
                           WHERE ST_DWithin(c.geom, p.geom, {TRANSIT_RADIUS_M}) ORDER BY c.geom <-> p.geom
                           FETCH FIRST {TRANSIT_CANDIDATES} ROWS WITH TIES) near)"""
    return f"coalesce({search}, (SELECT 0 FROM {stops} c LIMIT 1))"


def _expressions(known=_known, stops: str = _STOPS, bounded: bool = False) -> dict[str, tuple[str, str]]:
    """Each indicator column: the kind of layer it needs and its SQL on the parcel ``p`` (``bounded``:
    the batch route's nearest-feature search, :func:`_knn_by_cell`)."""

    def nearest(kind: str, *searches: str) -> str:
        """The distance to the nearest feature, where it is known (0: touching one is known anywhere)."""
        union = " UNION ALL ".join(searches or ((_knn_by_cell if bounded else _knn)(kind),))
        return f"""(SELECT CASE WHEN n.d = 0 OR {known(kind, "n.d")} THEN n.d END
                      FROM (SELECT min(d) AS d FROM ({union}) s) n)"""

    def within(kind: str) -> str:
        """In a feature: true anywhere; in none: false only where the coverage holds the whole parcel."""
        return f"""CASE WHEN EXISTS (SELECT FROM context_feature c WHERE c.kind = '{kind}' AND ST_Intersects(c.geom, p.geom))
                        THEN true WHEN {known(kind, "0")} THEN false END"""

    return {
        "dist_rail_station_m": ("bahnhof", nearest("bahnhof")),
        "transit_access": (
            "haltestelle",
            f"""CASE WHEN {known("haltestelle", str(TRANSIT_RADIUS_M))} THEN {_transit(stops)} END""",
        ),
        "dist_motorway_m": ("autobahnanschluss", nearest("autobahnanschluss")),
        "dist_port_m": ("hafen", nearest("hafen")),
        # housing: residential areas, and the residential designations of B-Plans
        "dist_residential_m": (
            "wohngebiet",
            nearest("wohngebiet", _knn("wohngebiet"), _knn("bplan", f"AND c.attributes->>'use' IN ({_RESIDENTIAL})")),
        ),
        "in_flood_zone": ("ueberschwemmungsgebiet", within("ueberschwemmungsgebiet")),
        "in_protected_area": ("schutzgebiet", within("schutzgebiet")),
    }


_EXPRESSIONS = _expressions()
_BATCH_EXPRESSIONS = _expressions(_known_by_cell, _BATCH_STOPS, bounded=True)
COLUMNS = tuple(_EXPRESSIONS)


#: Raised by hand when the batch route's Python side (:func:`_grid`, :func:`_batch_tables`) changes
#: how it settles values; its SQL and constants are in the fingerprint already.
REVISION = 1


def fingerprint() -> str:
    """How the values are computed, as this module says now: the SQL of each column, per parcel
    and in a batch, the batch route's constants and :data:`REVISION` (sha256, no salt: the same in
    every process)."""
    batch = _expressions(_known_by_cell, _BATCH_STOPS, bounded=True)
    parts = (sorted(_expressions().items()), sorted(batch.items()), _PARCEL_CELL, GRID_SLACK, REVISION)
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


#: The :func:`fingerprint` stored with every row :func:`compute` writes: a row computed by another
#: release is stale like one older than its parcel, so that a full run may keep current rows instead
#: of computing them again (:func:`compute` with ``stale_only``). Not covered: the PostGIS and GEOS
#: versions (after upgrading them: ``landreg score --all-indicators``).
DEFINITION = fingerprint()
#: Indicators are computed from the context layers as a transaction sees them. A change of a layer
#: (:mod:`landreg.context`) holds this advisory lock exclusively, each computation (and a whole full
#: run) shared: no computation that began before a change commits its values after it, where they
#: would count as current (computed after the change).
CONTEXT_LOCK = 0x1A4D_2E7


def hold_context(conn: Connection, exclusive: bool = False, session: bool = False) -> None:
    """Take :data:`CONTEXT_LOCK` until the transaction ends (``session``: until released)."""
    name = f"pg_advisory{'' if session else '_xact'}_lock{'' if exclusive else '_shared'}"
    conn.execute(text(f"SELECT {name}(:key)"), {"key": CONTEXT_LOCK})


def current_sql(since: str = "(SELECT changed_at FROM context_state)") -> str:
    """Whether the stored row ``i`` holds the indicators of the parcel ``p`` as they are now: of its
    version, by this definition (parameter ``definition``), computed after ``since`` (the last change
    of a context layer). False, never NULL, for a row without a fingerprint (from before they were kept)."""
    return f"""(i.parcel_version = p.version AND i.definition IS NOT DISTINCT FROM :definition
                AND i.computed_at >= {since})"""


#: The type of each indicator column (of a NULL where no layer is loaded): a number unless named here.
_TYPES, _NUMBER = {"in_flood_zone": "boolean", "in_protected_area": "boolean"}, "double precision"
#: Every indicator column with its SQL type (for a table that holds them on the way, :mod:`landreg.scoring.ahead`).
COLUMN_TYPES = ", ".join(f"{c} {_TYPES.get(c, _NUMBER)}" for c in COLUMNS)
#: What a stored row of indicators holds besides its parcel: its stamps and every value.
_REPLACED = ("parcel_version", "computed_at", "definition", *COLUMNS)
#: The columns of a stored row of indicators, in the order :func:`compute` writes them.
_STORED = ", ".join(("parcel_id", *_REPLACED))
#: What an upsert of a parcel's stored row replaces.
UPSERT_SET = ", ".join(f"{c} = EXCLUDED.{c}" for c in _REPLACED)
#: The kind of context layer each indicator column needs.
KIND_OF = {column: kind for column, (kind, _) in _EXPRESSIONS.items()}


def loaded_layers(conn: Connection) -> set[str]:
    """The kinds some context layer speaks for (a B-Plan also for housing), with a coverage."""
    return set(
        conn.execute(text("SELECT DISTINCT unnest(covers) FROM context_layer WHERE NOT ST_IsEmpty(coverage)")).scalars()
    )


def stale_parcel_ids(conn: Connection, parcel_ids: Sequence | None = None) -> list:
    """Current parcels (of ``parcel_ids``, default all) whose indicators are missing, or older than
    the parcel or the context layers, or computed by another definition."""
    return list(
        conn.execute(
            text(f"""
        SELECT p.id FROM parcel p
         WHERE p.retired_at IS NULL {"" if parcel_ids is None else "AND p.id = ANY(:ids)"}
           AND NOT EXISTS (SELECT FROM parcel_indicator i WHERE i.parcel_id = p.id AND {current_sql()})
    """),
            {"definition": DEFINITION} | ({} if parcel_ids is None else {"ids": list(parcel_ids)}),
        ).scalars()
    )


def select_list(layers: set[str], columns: Sequence[str] = COLUMNS, batch: bool = False) -> str:
    """The indicators of the parcel ``p`` as SELECT items named like their columns (NULL where no
    layer of their kind is loaded, or where its coverage leaves the value unknown): stored by
    :func:`compute`, or read without storing (a LATERAL subquery in :func:`landreg.scoring.engine.load`).

    ``batch``: the same values from the batch tables of :func:`_batch_tables` (``p`` then also has
    the columns of ``_PARCEL_CELL`` and is joined to its cells).
    """
    expressions = _BATCH_EXPRESSIONS if batch else _EXPRESSIONS
    return ", ".join(
        f"{expr if kind in layers else f'CAST(NULL AS {_TYPES.get(name, _NUMBER)})'} AS {name}"
        for name, (kind, expr) in expressions.items()
        if name in columns
    )


def differing(conn: Connection, kinds: Sequence[str], candidates: str, fresh_since) -> list:
    """Current parcels matching ``candidates`` (SQL on the parcel ``p``) whose indicators of these
    ``kinds``, computed now, differ from the stored ones, or whose stored ones are missing or stale
    (older than their parcel or than ``fresh_since``, or computed by another definition): the parcels
    a change of a context layer affects (:mod:`landreg.context`)."""
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
           AND (i.parcel_id IS NULL OR NOT {current_sql(":since")} OR ROW({now}) IS DISTINCT FROM ROW({stored}))
    """),
            {"since": fresh_since, "definition": DEFINITION},
        ).scalars()
    )


def refresh_stale(conn: Connection) -> int:
    """Recompute the indicators of the parcels ``stale_parcel_ids`` names."""
    ids = stale_parcel_ids(conn)
    return compute(conn, ids) if ids else 0


_GRID_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _grid(
    extent: tuple[float, float, float, float],
    cells: int,
    coverages: tuple[tuple[str, bytes], ...],
    features: tuple[tuple[str, tuple[int, ...], tuple[bytes, ...]], ...],
) -> tuple[dict, bytes]:
    """A grid of some ``cells`` over ``extent`` (where the parcels lie) and the coverages (kind, WKB)
    there: its origin and cell size, and per kind and cell (CSV rows of ``indicator_cell``) what it
    settles for a point in the cell:

    * ``state``: 'in' (or 'out') where the cell's centre lies inside (outside) the coverage farther
      from its edge than the half diagonal: then so does every point of the cell;
    * ``edge_min``, ``edge_max``: bounds on the distance of a point of the cell to the coverage's edge
      (the centre's, less and plus the half diagonal and the slack);
    * ``feature_max``: for the kinds given ``features`` (kind, ids, WKBs), how far the nearest feature
      lies from a point of the cell at most (the centre's nearest, plus the half diagonal and the slack);
    * ``feature_id``, ``others_min``: that feature of the centre, and how near any other feature comes to
      a point of the cell at least (the centre's second nearest, less the half diagonal and the slack;
      searched within :data:`OTHERS_MARGIN` beyond the nearest, the edge of that search where none lies
      within). A parcel whose point lies in the cell and whose other points lie at most ``spread`` from it
      has that feature nearest when ``feature_max < others_min - spread`` (:func:`_knn_by_cell`).

    For a parcel whose point lies in the cell the edge is then at least ``edge_min`` less its spread
    away, and at most ``edge_max``: :func:`_known_by_cell`. Cached: a full run's connections, and
    the chunks of an import, share it.
    """
    x0, y0, x1, y1 = extent
    size = max(math.sqrt((x1 - x0) * (y1 - y0) / cells), 1.0)
    i, j = np.meshgrid(np.arange(int((x1 - x0) // size) + 1), np.arange(int((y1 - y0) // size) + 1), indexing="ij")
    i, j = i.ravel(), j.ravel()
    x, y = x0 + (i + 0.5) * size, y0 + (j + 0.5) * size
    centres, half = shapely.points(x, y), size * math.sqrt(0.5)
    shared = {wkb: None for _, wkb in coverages}  # kinds often share a coverage (stations and stops of one region)
    searched = [(kind, ids, wkbs) for kind, ids, wkbs in features if any(kind == k for k, _ in coverages)]
    # GEOS leaves the GIL while it searches: the coverages and features in threads, on every core
    with ThreadPoolExecutor(max(1, min(os.cpu_count() or 1, len(shared) + len(searched)))) as pool:
        edges = dict(zip(shared, pool.map(lambda wkb: _edge_cells(wkb, centres, x, y, half), shared), strict=True))
        nearest_of = dict(
            zip(
                (kind for kind, _, _ in searched),
                pool.map(lambda f: _nearest_two(centres, half, np.array(f[1]), shapely.from_wkb(list(f[2]))), searched),
                strict=True,
            )
        )
    blank = (np.full(len(centres), np.nan), pd.array([None] * len(centres), "Int64"), np.full(len(centres), np.nan))
    tables = []
    for kind, wkb in coverages:
        state, distance = edges[wkb]
        nearest, nearest_id, others = nearest_of.get(kind, blank)
        tables.append(
            pa.table(
                {
                    "kind": pa.array([kind] * len(centres), pa.string()),
                    "i": pa.array(i, pa.int32()),
                    "j": pa.array(j, pa.int32()),
                    "state": pa.array(state, pa.string()),
                    "edge_min": pa.array(distance - half - GRID_SLACK),
                    "edge_max": pa.array(distance + half + GRID_SLACK),
                    "feature_max": pa.array(nearest + half + GRID_SLACK, from_pandas=True),  # NaN: null
                    "feature_id": pa.array(nearest_id, pa.int64()),
                    "others_min": pa.array(others - half - GRID_SLACK, from_pandas=True),
                }
            )
        )
    sink = pa.BufferOutputStream()  # Arrow writes numbers in their shortest exact form, a null as an empty field
    pacsv.write_csv(pa.concat_tables(tables), sink, pacsv.WriteOptions(include_header=False))
    return {"grid_x": float(x0), "grid_y": float(y0), "grid_size": float(size)}, sink.getvalue().to_pybytes()


def _edge_cells(
    wkb: bytes, centres: np.ndarray, x: np.ndarray, y: np.ndarray, half: float
) -> tuple[np.ndarray, np.ndarray]:
    """For each centre of a cell (``half``: half its diagonal): whether the whole cell lies inside
    the coverage ('in'), outside ('out') or neither for sure (None), and the centre's distance to its edge."""
    coverage = shapely.from_wkb(wkb)
    rings = shapely.get_rings(shapely.get_parts(coverage))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    edge = shapely.STRtree(shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1)))
    (which, _), found = edge.query_nearest(centres, return_distance=True, all_matches=False)
    distance = np.empty(len(centres))
    distance[which] = found
    shapely.prepare(coverage)
    inside = shapely.contains_xy(coverage, x, y)
    sure = distance > half + GRID_SLACK
    return np.where(sure & inside, "in", np.where(sure & ~inside, "out", None)), distance


#: How far beyond a cell centre's nearest feature :func:`_grid` looks for the next one, in metres
#: (besides the cell's diagonal): a bound for parcels that spread up to about this far.
OTHERS_MARGIN = 1_000


def _nearest_two(
    centres: np.ndarray, half: float, ids: np.ndarray, geoms: np.ndarray
) -> tuple[np.ndarray, pd.arrays.IntegerArray, np.ndarray]:
    """For each centre of a cell (``half``: half its diagonal): the distance to its nearest feature
    and that feature's id, and the distance to the next nearest (as near, for a tie), or the radius
    searched where no other lies within it (the nearest's distance plus the cell's diagonal plus
    :data:`OTHERS_MARGIN`: then :func:`_knn_by_cell` holds for parcels spreading less than the margin)."""
    tree = shapely.STRtree(geoms)
    (which, index), found = tree.query_nearest(centres, return_distance=True, all_matches=False)
    nearest, nearest_id, unknown = (
        np.full(len(centres), np.nan),
        np.zeros(len(centres), np.int64),
        np.ones(len(centres), bool),
    )
    nearest[which], nearest_id[which], unknown[which] = found, ids[index], False
    radius = nearest + 2 * half + OTHERS_MARGIN
    searched = np.flatnonzero(~np.isnan(radius))
    centre, feature = tree.query(centres[searched], predicate="dwithin", distance=radius[searched])
    centre = searched[centre]
    distance = shapely.distance(centres[centre], geoms[feature])
    order = np.lexsort((distance, centre))
    centre, distance = centre[order], distance[order]
    first = np.flatnonzero(np.r_[True, centre[1:] != centre[:-1]]) if len(centre) else np.array([], dtype=int)
    count = np.diff(np.r_[first, len(centre)])
    others = radius.copy()
    two = first[count >= 2]
    others[centre[two]] = distance[two + 1]
    return nearest, pd.arrays.IntegerArray(nearest_id, unknown), others


def _batch_tables(conn: Connection, layers: set[str], parcels: str, params: dict) -> tuple[str, dict, int]:
    """Create this transaction's batch tables (the stops with their service level, the coverage grid
    over the ``parcels``: a FROM item ``p`` with a ``geom`` and its condition); returns the joins that
    give the parcel ``p`` its cell of each kind's grid, their parameters, and how many parcels there are."""
    conn.execute(
        text(f"""
        DROP TABLE IF EXISTS pg_temp.{_BATCH_STOPS}, pg_temp.indicator_cell, pg_temp.indicator_computed;
        CREATE TEMP TABLE {_BATCH_STOPS} ON COMMIT DROP AS SELECT * FROM {_STOPS} c;
        CREATE INDEX ON pg_temp.{_BATCH_STOPS} USING gist (geom);
        CREATE TEMP TABLE indicator_cell (
            kind text, i int, j int, state text, edge_min float8, edge_max float8, feature_max float8,
            feature_id bigint, others_min float8
        ) ON COMMIT DROP;
    """)
    )
    kinds = sorted({KIND_OF[c] for c in COLUMNS} & layers)
    # the parcels' extent, rounded outwards to whole kilometres (so that shards and chunks share a grid)
    extent = conn.execute(
        text(f"""
        SELECT floor(ST_XMin(e) / 1000) * 1000, floor(ST_YMin(e) / 1000) * 1000,
               ceil(ST_XMax(e) / 1000) * 1000, ceil(ST_YMax(e) / 1000) * 1000, n
          FROM (SELECT ST_Extent(p.geom) AS e, count(*) AS n FROM {parcels}) s
    """),
        params,
    ).one()
    coverages = conn.execute(
        text("""
        SELECT kind, ST_AsBinary(geom) FROM context_coverage
         WHERE kind = ANY(:kinds) AND NOT ST_IsEmpty(geom) ORDER BY kind
    """),
        {"kinds": kinds},
    ).all()
    bounded = [k for k in kinds if any(f"cell_{k}.feature_max" in e for _, e in _BATCH_EXPRESSIONS.values())]
    features = conn.execute(
        text("""
        SELECT kind, array_agg(id ORDER BY id), array_agg(ST_AsBinary(geom) ORDER BY id) FROM context_feature
         WHERE kind = ANY(:kinds) GROUP BY kind ORDER BY kind
    """),
        {"kinds": bounded},
    ).all()
    grid = {"grid_x": 0.0, "grid_y": 0.0, "grid_size": 1.0}
    if coverages and extent[0] is not None:
        cells = min(GRID_CELLS, max(1_000, extent[4] // 4))
        with _GRID_LOCK:  # a full run's connections ask at once: the second waits for the first's grid
            grid, rows = _grid(
                tuple(float(v) for v in extent[:4]),
                cells,
                tuple((k, bytes(w)) for k, w in coverages),
                tuple((k, tuple(ids), tuple(bytes(w) for w in wkbs)) for k, ids, wkbs in features),
            )
        with conn.connection.driver_connection.cursor().copy(
            "COPY indicator_cell FROM STDIN (FORMAT csv, NULL '')"
        ) as copy:
            copy.write(rows)
    conn.execute(text(f"ANALYZE pg_temp.{_BATCH_STOPS}, pg_temp.indicator_cell"))
    joins = " ".join(
        f"LEFT JOIN indicator_cell cell_{k} ON cell_{k}.kind = '{k}' AND cell_{k}.i = p.cell_i AND cell_{k}.j = p.cell_j"
        for k in kinds
    )
    return joins, grid, extent[4]


def batch_source(
    conn: Connection, layers: set[str], source: str, columns: str, where: Sequence[str], params: dict
) -> tuple[str, dict] | None:
    """The batch route's FROM item: the rows of ``source`` (a FROM item ``p`` with a ``geom``) that
    match ``where``, as ``p`` with these ``columns``, its geometry and its cell of each kind's grid
    (:func:`_batch_tables`, created here), for :func:`select_list` with ``batch``; and the grid's
    parameters. The grid lies over all the rows to compute, not only a shard's (a condition on
    ``hashtext``): the shards of a run that computes every parcel share one (of a run of stale
    ones, unless one shard commits first). None where no row is to be computed (in any shard)."""
    extent = " AND ".join(w for w in where if w != SHARD_CONDITION) or "true"
    cells, grid, count = _batch_tables(conn, layers, f"{source} WHERE {extent}", params)
    if not count:
        return None
    return (
        f"""(SELECT {columns}, p.geom, {_PARCEL_CELL}
               FROM {source} CROSS JOIN LATERAL (SELECT ST_PointOnSurface(p.geom) AS pos OFFSET 0) s
              WHERE {" AND ".join(where) or "true"} OFFSET 0) p {cells}""",
        grid,
    )


#: The parcels ``p`` of shard ``shard`` of ``shards``: how a full run's connections share them.
SHARD_CONDITION = "abs(hashtext(p.id::text)) % :shards = :shard"


def compute(
    conn: Connection,
    parcel_ids: Sequence | None = None,
    shard: tuple[int, int] | None = None,
    layers: set[str] | None = None,
    stale_only: bool = False,
    context_held: bool = False,
) -> int:
    """(Re)compute the indicators of the given parcels (default: all current ones); returns how many.

    ``shard = (i, n)`` computes only parcels whose id hashes to ``i`` of ``n``, so that ``n``
    connections can share a full run; ``stale_only`` only those whose stored indicators are not
    current (:func:`stale_parcel_ids`). From :data:`BATCH` parcels on, the values come from the
    batch tables (:func:`select_list` with ``batch``): the same values, sooner.

    ``context_held``: the caller holds :data:`CONTEXT_LOCK` already, in this transaction or (a full
    run) on another connection. A full run's shards asking for it again would be queued behind a
    change waiting for the run: a deadlock the server cannot see, as the run waits for them in the
    client.
    """
    if not context_held:
        hold_context(conn)
    layers = loaded_layers(conn) if layers is None else layers
    where = ["p.retired_at IS NULL"]
    params: dict = {"definition": DEFINITION}
    if parcel_ids is not None:
        where.append("p.id = ANY(:ids)")
        params["ids"] = list(parcel_ids)
    if stale_only:
        where.append(f"NOT EXISTS (SELECT FROM parcel_indicator i WHERE i.parcel_id = p.id AND {current_sql()})")
    if shard is not None:
        where.append(SHARD_CONDITION)
        params |= {"shard": shard[0], "shards": shard[1]}
    if parcel_ids is not None and len(parcel_ids) < BATCH:
        return conn.execute(
            text(f"""
            INSERT INTO parcel_indicator ({_STORED})
            SELECT p.id, p.version, clock_timestamp(), :definition, {select_list(layers)}
              FROM parcel p
             WHERE {" AND ".join(where)}
            ON CONFLICT (parcel_id) DO UPDATE SET {UPSERT_SET}
        """),
            params,
        ).rowcount
    source = batch_source(conn, layers, "parcel p", "p.id, p.version", where, params)
    if source is None:  # nothing to compute (a full run after the import's indicators were adopted)
        return 0
    parcels, grid = source
    computed = conn.execute(
        text(f"""
        CREATE TEMP TABLE indicator_computed ON COMMIT DROP AS
        SELECT p.id AS parcel_id, p.version AS parcel_version, clock_timestamp() AS computed_at,
               CAST(:definition AS text) AS definition, {select_list(layers, batch=True)}
          FROM {parcels}
    """),
        params | grid,
    ).rowcount
    _store_computed(conn, computed)
    return computed


def _store_computed(conn: Connection, computed: int) -> None:
    """Store the ``computed`` rows of ``indicator_computed``: the stored rows updated, the missing
    ones added. Faster than one upsert, which looks up each row in the key's index and locks it
    before updating it (250,000 rows of a full run: 19.5 s instead of 21.0 s with the computing);
    the rows added still upsert, since another transaction (an edit) may add one meanwhile. A row an
    edit has stored meanwhile for a newer version of its parcel stays (as the adoption of
    :mod:`landreg.scoring.ahead` leaves it). The statements match whole sets: they run without
    nested loops, whatever the planner expects of the table just created."""
    conn.execute(text("ANALYZE pg_temp.indicator_computed"))
    changed = ", ".join(f"{c} = c.{c}" for c in _REPLACED)
    with local_settings(conn, enable_nestloop="off"):
        updated = conn.execute(
            text(f"""
            UPDATE parcel_indicator i SET {changed} FROM indicator_computed c
             WHERE i.parcel_id = c.parcel_id AND i.parcel_version <= c.parcel_version
        """)
        ).rowcount
        if updated < computed:
            conn.execute(
                text(f"""
                INSERT INTO parcel_indicator ({_STORED})
                SELECT {_STORED} FROM indicator_computed c
                 WHERE NOT EXISTS (SELECT FROM parcel_indicator i WHERE i.parcel_id = c.parcel_id)
                 ORDER BY c.parcel_id
                ON CONFLICT (parcel_id) DO UPDATE SET {UPSERT_SET}
                 WHERE parcel_indicator.parcel_version <= EXCLUDED.parcel_version
            """)
            )
