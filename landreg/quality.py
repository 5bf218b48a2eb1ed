"""Datenqualität: the data quality of every parcel record, stored in ``parcel_quality``.

Per parcel version:

* **completeness** (Vollständigkeit): the share of the fields its category needs
  (:data:`REQUIRED`) that are filled, 0..1;
* **findings** (Qualitätshinweise): plausibility and currency findings, each a stable code with a
  German and an English label (:data:`FINDINGS`);
* **score** (Datenqualität, 0–100)::

      score = max(0, round(60 × completeness + 40 − Σ penalty of each finding))

  A complete parcel without findings scores 100; an empty one without findings 40; the penalties
  are in :data:`FINDINGS` (a duplicate geometry costs 30, a Stand older than 24 months 20, …).

Everything is computed set-wise in one SQL statement for any number of parcels (:func:`refresh`;
for a large share of the register the pairs of parcels that may be duplicates are found first, with
an STRtree over their boxes), in the transaction of the edit or import that wrote them (``landreg.parcels``
and ``landreg.importer`` call it beside the scoring). A duplicate geometry is a finding of both
parcels, so a change also refreshes the current parcels that the parcel's old or new outline
overlaps. Currency depends on today's date: :func:`refresh_due` (``landreg quality``, daily)
recomputes the parcels whose Stand crossed a 12- or 24-month mark since they were checked, and
those whose quality is missing or belongs to an older version; ``landreg quality --all``
recomputes every current parcel.

Not checked: a *declared* area differing from the geometry's (``flaeche_weicht_ab``): the
register keeps no declared area, only the area of the geometry (``area_m2``); the import compares
a file's stated area with the geometry and notes a difference in its report.

The quality fields derive from a confidential field: ``altlastverdacht_kurzfristig`` names a
suspected contamination, and a Brachfläche's completeness counts whether its contamination record
is filled. So they are confidential themselves (``landreg.fields``): planners see them for their
own municipalities, the ministry for all, the public neither sees nor filters on them.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from sqlalchemy import Connection, Integer, SmallInteger, String, column, table, text
from sqlalchemy.dialects.postgresql import ARRAY

from landreg import clock, fields, known, rules, vocab
from landreg.access import AccessDenied, View
from landreg.db import local_settings, plan_each_time
from landreg.errors import InvalidParameter

#: The fields each category needs to be useful, with the reason. What counts as filled: not NULL,
#: and text not blank. Fields with a default (status, owner willingness) are always filled and say
#: nothing; the owner contact and the notes are optional by nature.
REQUIRED: dict[str, tuple[str, ...]] = {
    # offered to firms: what a site search asks first (zoning, plan, when, restrictions, access,
    # whom to ask) and how old the record is
    "gewerbeflaeche": (
        "designation", "planning_status", "availability", "restriction_class", "servicing", "ownership", "data_date",
    ),
    "industrieflaeche": (
        "designation", "planning_status", "availability", "restriction_class", "servicing", "ownership", "data_date",
    ),
    # a brownfield is defined by its previous use, and its contamination record decides its reuse
    "brachflaeche": (
        "previous_use", "contamination", "designation", "planning_status", "availability", "restriction_class",
        "ownership", "data_date",
    ),
    # an infill lot lies in a built-up, serviced area (§ 34 BauGB): servicing and restrictions are rarely
    # recorded and rarely matter; plan, availability and owner do
    "bauluecke": ("designation", "planning_status", "availability", "ownership", "data_date"),
}  # fmt: skip
assert set(REQUIRED) == set(vocab.CATEGORY.codes)
assert {name for needed in REQUIRED.values() for name in needed} <= set(fields.field("quality_score").derived_from)

#: A Baulücke larger than this is probably something else (a Brachfläche, an outer-area site).
BAULUECKE_MAX_M2 = 10_000
#: Area of a parcel outside its municipality above which it counts as split by the border; below
#: it, the overlap is the generalisation of the boundaries (DVG) or of the parcel's drawing.
BORDER_TOLERANCE_M2 = 10
#: Overlap (of the smaller parcel's area) from which two current parcels are duplicates.
DUPLICATE_OVERLAP = 0.9
#: Months after which the Stand is old (findings ``stand_aelter_12_monate``, ``stand_aelter_24_monate``).
CURRENT_MONTHS, STALE_MONTHS = 12, 24


@dataclass(frozen=True)
class Finding:
    code: str
    label_de: str
    label_en: str
    penalty: int  # points taken off the score
    condition: str  # SQL on the parcel row ``p`` and its spatial facts ``s`` (_TWIN …); NULL: false

    def label(self, lang: str = "de") -> str:
        return self.label_en if lang == "en" else self.label_de


def _edges(box: str) -> tuple[str, str, str, str]:
    """SQL: west, south, east and north of a box2d."""
    return f"ST_XMin({box})", f"ST_YMin({box})", f"ST_XMax({box})", f"ST_YMax({box})"


def _box_overlap(a_box: str, b_box: str) -> str:
    """SQL: the area two overlapping box2d share (for boxes apart a meaningless number); in numbers,
    :func:`_write_candidates`."""
    (aw, as_, ae, an), (bw, bs, be, bn) = _edges(a_box), _edges(b_box)
    return f"(least({ae}, {be}) - greatest({aw}, {bw})) * (least({an}, {bn}) - greatest({as_}, {bs}))"


def _twins(a: str, b: str, a_box: str, b_box: str) -> str:
    """SQL: parcels ``a`` and ``b`` (rows with ``geom`` and ``area_m2``; ``a_box``, ``b_box``: their
    bounding boxes, computed once) overlap by at least DUPLICATE_OVERLAP of the smaller one's area.

    Two upper bounds of the overlap rule out nearly every neighbour before the outlines are
    intersected: the overlap of the boxes (arithmetic), then the area of each outline within the
    other's box (a clip by a rectangle, linear in the vertices; a hair of slack for its rounding).
    The CASE keeps that order: as a condition of its own the intersection, which needs no box, was
    tested where the two rows met, before the bounds (an import of 1M parcels: 252,777 pairs
    intersected, 9.1 s, where the bounds leave none)."""
    needed = f"{DUPLICATE_OVERLAP} * least({a}.area_m2, {b}.area_m2)"
    return f"""({_box_overlap(a_box, b_box)} >= {needed}
            AND CASE WHEN ST_Area(ST_ClipByBox2D({a}.geom, {b_box})) >= (1 - 1e-9) * {needed}
                      AND ST_Area(ST_ClipByBox2D({b}.geom, {a_box})) >= (1 - 1e-9) * {needed}
                     THEN ST_Area(ST_Intersection({a}.geom, {b}.geom)) >= {needed} ELSE false END)"""


#: The facts of parcel ``p`` that involve other parcels or the municipal boundaries; the findings
#: read them as ``s.<name>``. ``_SPATIAL_PER_PARCEL`` computes them parcel by parcel,
#: ``_SPATIAL_SET_WISE`` for many parcels at once, both from these definitions:
#:
#: * ``duplicate``: another current parcel ``q`` is its twin (:func:`_twins`, ``pb``/``qb``: boxes);
#: * ``foreign_m2``: the area of ``p`` within the pieces ``m`` of other municipalities
#:   (``municipality_part``), NULL when it touches none.
_TWIN = f"q.id <> p.id AND q.retired_at IS NULL AND q.geom && p.geom AND {_twins('p', 'q', 'pb.box', 'qb.box')}"
_FOREIGN_PART = "m.ags <> p.ags AND ST_Intersects(m.geom, p.geom)"
_FOREIGN_M2 = "sum(ST_Area(ST_Intersection(m.geom, p.geom)))"


def _older_than(months: int) -> str:
    """SQL: parcel ``p``'s Stand is older than ``months`` on the register's day (the query binds
    ``:today``, :func:`landreg.clock.today`)."""
    return f"p.data_date < CAST(CAST(:today AS date) - interval '{months} months' AS date)"


#: The findings, in the order they are listed. Codes are stable: filters and reports use them.
FINDINGS: dict[str, Finding] = {
    f.code: f
    for f in (
        Finding(
            "doppelte_geometrie", "Doppelte Geometrie (≥ 90 % Überdeckung mit einer anderen Fläche)",
            "Duplicate geometry (≥ 90 % overlap with another parcel)", 30,
            "s.duplicate",
        ),
        Finding(
            "verfuegbar_mit_schweren_restriktionen", "verfügbar (Status), aber Restriktionsklasse 2",
            "Available (status) but restriction class 2", 15,
            f"{rules.sql(rules.is_available)} AND p.restriction_class = 2",
        ),
        Finding(
            "altlastverdacht_kurzfristig", "Altlastverdacht, aber kurzfristig verfügbar",
            "Suspected contamination, yet available at short notice", 15,
            "p.contamination = 'verdacht' AND p.availability = 'kurzfristig'",
        ),
        Finding(
            "bauluecke_ueber_1ha", "Baulücke größer als 1 ha", "Infill lot (Baulücke) larger than 1 ha", 15,
            f"p.category = 'bauluecke' AND p.area_m2 > {BAULUECKE_MAX_M2}",
        ),
        Finding(
            "gemeindegrenze", "Von einer Gemeindegrenze geteilt", "Split by a municipal border", 10,
            f"s.foreign_m2 > {BORDER_TOLERANCE_M2}",
        ),
        Finding(
            "stand_aelter_24_monate", "Stand älter als 24 Monate oder fehlt",
            "Data date older than 24 months, or missing", 20,
            f"p.data_date IS NULL OR {_older_than(STALE_MONTHS)}",
        ),
        Finding(
            "stand_aelter_12_monate", "Stand älter als 12 Monate", "Data date older than 12 months", 10,
            f"{_older_than(CURRENT_MONTHS)} AND NOT {_older_than(STALE_MONTHS)}",
        ),
    )
}  # fmt: skip

CURRENCY = ("stand_aelter_12_monate", "stand_aelter_24_monate")
assert set(CURRENCY) <= set(FINDINGS)

#: The stored quality, for queries built with SQLAlchemy (the feature source joins it).
QUALITY = table(
    "parcel_quality",
    column("parcel_id"),
    column("parcel_version", Integer),
    column("score", SmallInteger),
    column("completeness"),
    column("findings", ARRAY(String)),
)

FORMULA = "max(0, round(60 × completeness + 40 − Σ penalty))"


def _filled(name: str) -> str:
    if fields.field(name).kind == "text":  # free text; codes are never blank
        return f"(p.{name} IS NOT NULL AND btrim(p.{name}) <> '')"
    return f"(p.{name} IS NOT NULL)"


def _completeness_sql() -> str:
    cases = [
        f"WHEN '{category}' THEN ({' + '.join(f'CAST({_filled(n)} AS int)' for n in needed)}) / {float(len(needed))}"
        for category, needed in REQUIRED.items()
    ]
    return f"CASE p.category {' '.join(cases)} ELSE 1.0 END"


def _currency_sql() -> str:
    """SQL: the currency finding of parcel ``p`` today (NULL: current)."""
    return "CASE " + " ".join(f"WHEN {FINDINGS[c].condition} THEN '{c}'" for c in reversed(CURRENCY)) + " END"


def _upsert_sql(selection: str, set_wise: bool) -> str:
    """Write the quality of the parcels whose ids ``selection`` (a SELECT of ``id`` and ``fresh``)
    gives; their spatial facts parcel by parcel or, for a large share of the register, ``set_wise``
    (from the temporary ``quality_candidate``, :func:`_refresh_set_wise`). Returns one row: how many.

    A ``fresh`` parcel was created by the caller's transaction: no other can see it, so none can have
    written its quality, and its row is added by a plain INSERT; the others' by INSERT … ON CONFLICT,
    whose check of the key before each row (a speculative insertion) doubles the write (1M parcels:
    7.1 s instead of 3.8 s). Both in the order of the key: each row lands beside the previous one in
    the index (1M random ids: 9.9 s instead of 7.1 s)."""
    checks = ",\n".join(f"coalesce({f.condition}, false) AS {f.code}" for f in FINDINGS.values())
    findings = ", ".join(f"CASE WHEN t.{code} THEN '{code}' END" for code in FINDINGS)
    penalty = " + ".join(f"CASE WHEN t.{f.code} THEN {f.penalty} ELSE 0 END" for f in FINDINGS.values())
    columns = "parcel_id, parcel_version, score, completeness, findings, computed_at"
    return f"""
    WITH todo AS MATERIALIZED ({selection}),
    {_SPATIAL_SET_WISE if set_wise else _SPATIAL_PER_PARCEL},
    computed AS MATERIALIZED (
        SELECT p.id AS parcel_id, p.version AS parcel_version,
               greatest(0, round(60 * c.completeness + 40 - ({penalty}))) AS score,
               c.completeness,
               array_remove(ARRAY[{findings}]::text[], NULL) AS findings,
               clock_timestamp() AS computed_at,
               s.fresh
          FROM parcel p
          JOIN spatial s ON s.id = p.id
         CROSS JOIN LATERAL (SELECT CAST({_completeness_sql()} AS real) AS completeness) c
         CROSS JOIN LATERAL (SELECT {checks} OFFSET 0) t  -- OFFSET 0: each check once, not once per use
    ),
    added AS (
        INSERT INTO parcel_quality ({columns})
        SELECT {columns} FROM computed WHERE fresh ORDER BY parcel_id
        RETURNING 1
    ),
    upserted AS (
        INSERT INTO parcel_quality AS pq ({columns})
        SELECT {columns} FROM computed WHERE NOT fresh ORDER BY parcel_id
        ON CONFLICT (parcel_id) DO UPDATE
           SET parcel_version = EXCLUDED.parcel_version, score = EXCLUDED.score,
               completeness = EXCLUDED.completeness, findings = EXCLUDED.findings, computed_at = EXCLUDED.computed_at
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM added) + (SELECT count(*) FROM upserted)
    """


# The spatial facts (_TWIN, _FOREIGN_PART) of the parcels in ``todo``, as ``spatial``: one look-up in
# the spatial indexes per parcel and fact (a duplicate: ~50 µs, a border: ~40 µs) …
_SPATIAL_PER_PARCEL = f"""
    spatial AS MATERIALIZED (
        SELECT p.id, todo.fresh,
               EXISTS (SELECT FROM parcel q CROSS JOIN LATERAL (SELECT Box2D(q.geom) AS box OFFSET 0) qb
                        WHERE {_TWIN}) AS duplicate,
               (SELECT {_FOREIGN_M2} FROM municipality_part m WHERE {_FOREIGN_PART}) AS foreign_m2
          FROM parcel p JOIN todo USING (id)
         CROSS JOIN LATERAL (SELECT Box2D(p.geom) AS box OFFSET 0) pb
    )"""


# … or set-wise, when a large share of the register is refreshed (an import). Duplicates: the pairs of
# parcels whose boxes overlap by enough to hold a twin, found by :func:`_write_candidates` with an STRtree
# over the boxes (GEOS, in this process; the grid of cells joined in SQL that it replaced took 19 of the
# 39 s of an import of 1M parcels, the tree 5.5 s), in the temporary table ``quality_candidate``; only
# those pairs' outlines, looked up by id, are intersected. Borders: from each piece of a municipality to
# the parcels in its box (681 pieces; the piece, repeated, is prepared once for the intersection tests).
_SPATIAL_SET_WISE = f"""
    twins AS MATERIALIZED (  -- both, when both were refreshed: the overlap is symmetric
        SELECT p.id AS p_id, q.id AS q_id, c.both_ways FROM pg_temp.quality_candidate c
         CROSS JOIN LATERAL (SELECT * FROM parcel p WHERE p.id = c.p_id OFFSET 0) p  -- by id, not p × q
         CROSS JOIN LATERAL (SELECT * FROM parcel q WHERE q.id = c.q_id OFFSET 0) q
         CROSS JOIN LATERAL (SELECT Box2D(p.geom) AS box OFFSET 0) pb
         CROSS JOIN LATERAL (SELECT Box2D(q.geom) AS box OFFSET 0) qb
         WHERE {_TWIN}
    ),
    foreign_area AS MATERIALIZED (
        SELECT p.id, {_FOREIGN_M2} AS foreign_m2
          FROM municipality_part m
         CROSS JOIN LATERAL (SELECT p.id, p.ags, p.geom FROM parcel p WHERE p.geom && m.geom OFFSET 0) p
         WHERE {_FOREIGN_PART}
         GROUP BY p.id  -- of every parcel on a border: most are refreshed
    ),
    spatial AS MATERIALIZED (
        SELECT t.id, t.fresh,
               t.id IN (SELECT p_id FROM twins UNION ALL SELECT q_id FROM twins WHERE both_ways) AS duplicate,
               f.foreign_m2
          FROM todo t LEFT JOIN foreign_area f USING (id)
    )"""

#: Boxes queried from the STRtree at once (each finds about 8 neighbours' boxes: bounded memory).
_TREE_CHUNK = 200_000


def _write_candidates(conn: Connection) -> int:
    """Fill ``quality_candidate`` with the pairs (p, q) that may be twins among the parcels to refresh
    (``quality_todo``) and the current ones: q current, p refreshed (``both_ways``: both are, and the
    pair stands for both directions), their boxes overlapping by at least :data:`DUPLICATE_OVERLAP` of
    the smaller parcel's area (the bound of :func:`_twins`, with the same slack). Returns how many.

    The boxes come by COPY as text (PostgreSQL writes a float8 in its shortest exact form), the
    pairs go back by COPY. Whether they are twins is decided by the SQL of :data:`_TWIN` alone: this
    only chooses which pairs it tests, and it keeps every pair that can pass."""
    conn.execute(
        text("""
        DROP TABLE IF EXISTS pg_temp.quality_candidate;
        CREATE TEMP TABLE quality_candidate (p_id uuid, q_id uuid, both_ways boolean) ON COMMIT DROP;
    """)
    )
    buffer = io.BytesIO()
    cursor = conn.connection.driver_connection.cursor()
    query = """
        SELECT p.id, p.area_m2, ST_XMin(b.box), ST_YMin(b.box), ST_XMax(b.box), ST_YMax(b.box),
               p.retired_at IS NULL, t.id IS NOT NULL
          FROM parcel p LEFT JOIN pg_temp.quality_todo t ON t.id = p.id
         CROSS JOIN LATERAL (SELECT Box2D(p.geom) AS box OFFSET 0) b
         WHERE p.retired_at IS NULL OR t.id IS NOT NULL"""
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.tell():  # no parcel at all (Arrow reads no CSV without a row)
        return 0
    buffer.seek(0)
    names = ["id", "area", "w", "s", "e", "n", "current", "refreshed"]
    boxes = pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types={"id": pa.string(), "current": pa.bool_(), "refreshed": pa.bool_()},
            true_values=["t"],
            false_values=["f"],
        ),
    )
    area, w, s, e, n, current, refreshed = (boxes[c].to_numpy() for c in names[1:])
    shapes = shapely.box(w, s, e, n)  # made once (1M: 1.3 s), for the tree and its queries
    tree = shapely.STRtree(shapes)
    found = []
    for start in range(0, len(w), _TREE_CHUNK):
        chunk = slice(start, start + _TREE_CHUNK)
        a, b = tree.query(shapes[chunk])  # boxes that meet, with themselves
        a += start
        for_a, for_b = refreshed[a] & current[b], refreshed[b] & current[a]
        overlap = (np.minimum(e[a], e[b]) - np.maximum(w[a], w[b])) * (np.minimum(n[a], n[b]) - np.maximum(s[a], s[b]))
        keep = (a < b) & (for_a | for_b) & (overlap >= (1 - 1e-9) * DUPLICATE_OVERLAP * np.minimum(area[a], area[b]))
        a, b, for_a, for_b = a[keep], b[keep], for_a[keep], for_b[keep]
        found.append((np.where(for_a, a, b), np.where(for_a, b, a), for_a & for_b))
    p, q, both = (np.concatenate(parts) for parts in zip(*found, strict=True)) if found else ([], [], [])
    ids = boxes["id"]
    pairs = pa.table({"p_id": ids.take(pa.array(p, pa.int64())), "q_id": ids.take(pa.array(q, pa.int64())),
                      "both_ways": pa.array(both, pa.bool_())})  # fmt: skip
    out = io.BytesIO()
    pacsv.write_csv(pairs, out, pacsv.WriteOptions(include_header=False))
    with cursor.copy("COPY pg_temp.quality_candidate FROM STDIN (FORMAT csv)") as copy:
        copy.write(out.getvalue())
    conn.execute(text("ANALYZE pg_temp.quality_candidate"))
    return len(pairs)


#: The parcels an edit or any caller names by id (parameter ``ids``), as a SELECT of (id, fresh).
_BY_IDS = "SELECT DISTINCT id, false AS fresh FROM unnest(CAST(:ids AS uuid[])) AS id"


def _affected(target: str, neighbours_from_rest: bool) -> str:
    """A SELECT of (id, fresh) of the parcels a change of the ``target`` ones (a SELECT of distinct ids
    and whether the caller's transaction created them, :func:`_upsert_sql`) affects: themselves, and the other current parcels
    their new outline or the outline of their previous version overlaps enough to be a duplicate, or
    that were recorded as a duplicate and touch either outline (they may have lost their twin).

    The neighbours are looked up in the spatial index per changed outline, or, when the change
    wrote most of the register (``neighbours_from_rest``), per current parcel it did not write
    (and per previous outline): fewer look-ups. LATERAL … OFFSET 0: an index look-up also while the
    statistics of a table an import has just filled are stale; MATERIALIZED: those among ``ids``
    dropped before any outline is intersected (the planner would test the overlaps first). The
    recorded finding is read before any outline is intersected (a CASE: the planner would test
    ``ST_Intersects`` on every neighbour); a twin always intersects (parcels have an area)."""
    probe = """CROSS JOIN LATERAL (
                SELECT q.id, q.geom, q.area_m2 FROM parcel q
                 WHERE q.geom && c.geom AND q.id <> c.id AND q.retired_at IS NULL OFFSET 0
             ) q
             WHERE NOT EXISTS (SELECT FROM target t WHERE t.id = q.id)"""
    columns = "q.id, q.geom, q.area_m2, c.geom AS changed_geom, c.area_m2 AS changed_area_m2"
    if neighbours_from_rest:
        from_current = f"""
            SELECT {columns} FROM parcel q
             CROSS JOIN LATERAL (SELECT c.id, c.geom, c.area_m2 FROM parcel c WHERE c.geom && q.geom OFFSET 0) c
             WHERE q.retired_at IS NULL AND c.id <> q.id
               AND NOT EXISTS (SELECT FROM target t WHERE t.id = q.id) AND EXISTS (SELECT FROM target t WHERE t.id = c.id)"""
    else:
        from_current = f"SELECT {columns} FROM parcel c JOIN target USING (id) {probe}"
    twins = _twins("q", "c", "q.box", "q.changed_box")
    return f"""
    WITH target AS MATERIALIZED ({target}),
    past AS (
        SELECT v.parcel_id AS id, v.geom, v.area_m2 FROM parcel p JOIN target USING (id)
          JOIN parcel_past_version v ON v.parcel_id = p.id AND v.version = p.version - 1
         WHERE v.geom IS DISTINCT FROM p.geom
    ),
    neighbours AS MATERIALIZED (
        SELECT n.*, Box2D(n.geom) AS box, Box2D(n.changed_geom) AS changed_box FROM (
            {from_current}
            UNION ALL
            SELECT {columns} FROM past c {probe}
        ) n
    )
    SELECT id, fresh FROM target
    UNION
    SELECT q.id, false FROM neighbours q
      LEFT JOIN parcel_quality qq ON qq.parcel_id = q.id
     CROSS JOIN LATERAL (SELECT q.changed_geom AS geom, q.changed_area_m2 AS area_m2) c
     WHERE CASE WHEN 'doppelte_geometrie' = ANY(qq.findings) THEN ST_Intersects(q.geom, c.geom) ELSE {twins} END
    """


#: From this many parcels a refresh counts the register's current parcels to choose its plan.
_SET_WISE_FROM = 1_000
#: Memory for each hash and sort of a set-wise refresh (1M parcels: hashes of the 1M parcels to refresh).
_BULK_WORK_MEM = "256MB"


def refresh(conn: Connection, parcel_ids: Sequence) -> int:
    """Recompute the quality of these parcels and of the parcels whose duplicate finding their change
    may have made or ended, in the caller's transaction, in one statement. Returns the rows written.

    The result is the same whichever plan: neighbours looked up from the side with fewer parcels,
    spatial facts set-wise from a quarter of the register on."""
    # UUIDs as they come (str() of a million takes seconds), anything else parsed
    ids = list(dict.fromkeys(i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in parcel_ids))
    if not ids:
        return 0
    return _refresh(conn, _BY_IDS, len(ids), {"ids": ids})


def refresh_selected(conn: Connection, selection: str, count: int) -> int:
    """:func:`refresh` of the parcels ``selection`` names, a SELECT of distinct ``id`` and ``fresh``
    (the caller's transaction created the parcel: an import's new ones), ``count`` of them (to choose
    the plan: any count gives the same result). An import of a million parcels names them by its
    staging table instead of a list of ids through this process (5 s)."""
    return _refresh(conn, selection, count, {}) if count else 0


def _refresh(conn: Connection, target: str, count: int, params: dict) -> int:
    current = (
        conn.execute(text("SELECT count(*) FROM parcel WHERE retired_at IS NULL")).scalar_one()
        if count >= _SET_WISE_FROM
        else None
    )
    from_rest = current is not None and current - count < count
    set_wise = current is not None and 4 * count >= current
    params = params | {"today": clock.today()}
    if set_wise:
        with _settings(conn, set_wise):
            return _refresh_set_wise(conn, _affected(target, from_rest), params)
    # an edit (the hot path) runs as it is: no three round trips to set and restore settings for a
    # small plan (landreg.db.make_engine's sessions run without JIT anyway)
    with _settings(conn, set_wise) if current is not None else nullcontext():
        return conn.execute(text(_upsert_sql(_affected(target, from_rest), set_wise=False)), params).scalar_one()


def refresh_all(conn: Connection) -> int:
    """Recompute the quality of every current parcel (``landreg quality --all``)."""
    with _settings(conn, set_wise=True):
        return _refresh_set_wise(
            conn, "SELECT id, false AS fresh FROM parcel WHERE retired_at IS NULL", {"today": clock.today()}
        )


def _refresh_set_wise(conn: Connection, selection: str, params: dict) -> int:
    """The set-wise plan: the parcels ``selection`` names kept in ``quality_todo``, the pairs that
    may be twins in ``quality_candidate`` (:func:`_write_candidates`), then the one statement."""
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.quality_todo"))
    conn.execute(text(f"CREATE TEMP TABLE quality_todo ON COMMIT DROP AS {selection}"), params)
    conn.execute(text("ANALYZE pg_temp.quality_todo"))
    _write_candidates(conn)
    return conn.execute(
        text(_upsert_sql("SELECT id, fresh FROM pg_temp.quality_todo", set_wise=True)), params
    ).scalar_one()


def _settings(conn: Connection, set_wise: bool):
    """Settings for a refresh statement, restored after it in the caller's transaction: no JIT
    (compiling the statement's many expressions took 1–4 s, more than it saves), and for a set-wise
    refresh room to hash the parcels in memory."""
    return local_settings(conn, jit="off", **({"work_mem": _BULK_WORK_MEM} if set_wise else {}))


def due_ids(conn: Connection) -> list:
    """Current parcels whose stored quality is missing, of an older version, or whose Stand crossed a
    12- or 24-month mark since it was computed."""
    return list(
        conn.execute(
            text(f"""
        SELECT p.id FROM parcel p LEFT JOIN parcel_quality q ON q.parcel_id = p.id
         WHERE p.retired_at IS NULL
           AND (q.parcel_id IS NULL OR q.parcel_version <> p.version
                OR ARRAY(SELECT unnest(q.findings) INTERSECT SELECT unnest(CAST(:currency AS text[])))
                   IS DISTINCT FROM array_remove(ARRAY[{_currency_sql()}]::text[], NULL))
        """),
            {"currency": list(CURRENCY), "today": clock.today()},
        ).scalars()
    )


def refresh_due(conn: Connection) -> int:
    """Recompute what :func:`due_ids` finds (and the neighbours of parcels that changed); run daily."""
    ids = due_ids(conn)
    return refresh(conn, ids) if ids else 0


def quality_by_municipality(conn: Connection, view: View, ags: Sequence[str] | None = None) -> list[dict]:
    """Data quality per municipality over its current parcels: how many there are and how many have
    a quality of their current version (``checked``), the share whose Stand is at most 12 months old
    (``current_share``, computed from today's date) and whose completeness is 1
    (``complete_share``), the share whose latest state a reviewer approved (``reviewed_share``;
    :mod:`landreg.review`), the mean score of the checked ones and the count of each finding.

    For the ministry every municipality (or those in ``ags``), for a planner their own (asking for
    another is refused); the public sees none (the figures derive from confidential fields).
    """
    if view.kind == "public":
        raise AccessDenied("data quality is for the planners of a municipality and the ministry")
    chosen = list(ags) if ags else None
    malformed = [a for a in chosen or () if not (len(a) == 8 and a.isascii() and a.isdigit())]
    if malformed:
        raise InvalidParameter(f"ags: {malformed[0]!r} is not a Gemeindeschlüssel of 8 digits", "ags")
    plan_each_time(conn)  # all municipalities or some: a generic plan would serve both the same
    if chosen:
        known.check_municipalities(conn, chosen, "ags")
    if view.kind == "planner":
        foreign = sorted(set(chosen or ()) - set(view.ags))
        if foreign:
            raise AccessDenied(f"you may see the data quality of {', '.join(view.ags)} only, not {foreign[0]}")
        chosen = chosen or list(view.ags)
    counts = ",\n".join(f"count(*) FILTER (WHERE '{code}' = ANY(q.findings)) AS \"{code}\"" for code in FINDINGS)
    # the AGS as char(8)[], parcel.ags's type: compared with text[], the column is cast and no index serves
    rows = conn.execute(
        text(f"""
        SELECT p.ags, m.name,
               count(*) AS parcels,
               count(q.parcel_id) AS checked,
               count(*) FILTER (WHERE p.data_date >= CAST(CAST(:today AS date) - interval '{CURRENT_MONTHS} months' AS date))
                   AS current,
               count(*) FILTER (WHERE q.completeness >= 1) AS complete,
               count(*) FILTER (WHERE NOT EXISTS (SELECT FROM parcel_pending pp WHERE pp.parcel_id = p.id)) AS reviewed,
               avg(q.score) AS mean_score,
               {counts}
          FROM parcel p
          JOIN municipality m ON m.ags = p.ags
          LEFT JOIN parcel_quality q ON q.parcel_id = p.id AND q.parcel_version = p.version
         WHERE p.retired_at IS NULL AND (CAST(:ags AS char(8)[]) IS NULL OR p.ags = ANY(CAST(:ags AS char(8)[])))
         GROUP BY p.ags, m.name
         ORDER BY p.ags
        """),
        {"ags": chosen, "today": clock.today()},
    ).mappings()
    return [
        {
            "ags": r["ags"],
            "name": r["name"],
            "parcels": r["parcels"],
            "checked": r["checked"],
            "current_share": r["current"] / r["parcels"],
            "complete_share": r["complete"] / r["parcels"],
            "reviewed_share": r["reviewed"] / r["parcels"],
            "mean_score": None if r["mean_score"] is None else round(float(r["mean_score"]), 1),
            "findings": {code: r[code] for code in FINDINGS},
        }
        for r in rows
    ]


def parcel_quality(conn: Connection, view: View, parcel_id) -> dict | None:
    """The data quality of one current parcel for a view that sees its confidential facts (its own
    municipality; every one for the ministry): score, completeness, the findings with their labels
    and penalties, and the fields its category needs that are empty (``missing``). None for a view
    that may not see it (the figures derive from confidential fields) or a parcel without one.
    ``current``: whether it was computed for the parcel's current version. Reads only."""
    needed = sorted({name for names in REQUIRED.values() for name in names})
    row = (
        conn.execute(
            text(f"""
        SELECT p.ags, p.category, p.version, q.parcel_version, q.score, q.completeness, q.findings, q.computed_at,
               {", ".join(f"p.{name}" for name in needed)}
          FROM parcel p LEFT JOIN parcel_quality q ON q.parcel_id = p.id
         WHERE p.id = CAST(:id AS uuid) AND p.retired_at IS NULL
        """),
            {"id": str(parcel_id)},
        )
        .mappings()
        .one_or_none()
    )
    if row is None or row["score"] is None or not view.owns(row["ags"].strip()):
        return None

    def filled(name: str) -> bool:
        value = row[name]
        return value is not None and not (isinstance(value, str) and not value.strip())

    return {
        "score": row["score"],
        "completeness": float(row["completeness"]),
        "current": row["parcel_version"] == row["version"],
        "version": row["parcel_version"],
        "computed_at": row["computed_at"],
        "findings": [
            {
                "code": c,
                "label_de": FINDINGS[c].label_de,
                "label_en": FINDINGS[c].label_en,
                "penalty": FINDINGS[c].penalty,
            }
            for c in row["findings"] or ()
            if c in FINDINGS
        ],
        "missing": [name for name in REQUIRED.get(row["category"], ()) if not filled(name)],
        "required": list(REQUIRED.get(row["category"], ())),
        "formula": FORMULA,
    }
