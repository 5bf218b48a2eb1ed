"""The database side of an import: COPY into a staging table, validate set-wise, then upsert.

Each step works on a window of rows (a batch and the ones after it) or on the whole file.

Everything runs in the caller's transaction: rolled back, nothing of the import remains.
Column names in the SQL below come from the fixed field lists of ``rows``, never from the file;
every value is a bound parameter or travels through COPY.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from landreg import fields
from landreg.db import geometry_copy
from landreg.importer.refusals import kept, value_json
from landreg.importer.report import KEPT_MAX, REASONS_PER_FIELD, ImportReport, Issues, RowIssue
from landreg.importer.rows import PARCEL_FIELDS, STAGING_COLUMNS
from landreg.messages import Message, message
from landreg.vocab import RETIRE_REASON_IMPORT

# NOT NULL columns of parcel with a default: an empty cell means "the default" (new parcel)
# or "leave as it is" (existing parcel).
_NOT_NULL_DEFAULTS = {f.name: f.default for f in fields.ATTRIBUTES if f.default is not None}


# Binary COPY needs each staging column's type.
_STAGING_TYPES = {"row_no": "int4", "declared_area_m2": "float8"} | {f.name: f.copy_type for f in fields.ATTRIBUTES}
_ATTRIBUTE_COLUMNS = ",\n".join(f"        {f.name:<19} {f.sql_type}" for f in fields.ATTRIBUTES)


@dataclass(frozen=True)
class Checks:
    """Tolerances of the set-wise checks."""

    repair_tolerance: float = 0.01  # a repaired geometry may change the area by at most 1 %
    min_area_m2: float = 10.0
    max_area_m2: float = 20_000_000.0  # 2,000 ha
    declared_area_tolerance: float = 0.10  # a stated area further off is noted
    same_geometry_m: float = 0.001  # geometries closer than 1 mm count as unchanged
    border_tolerance_m: float = 25.0  # a claimed municipality this near is taken (boundaries are generalised)


def create_staging(conn: Connection) -> None:
    conn.execute(
        text(f"""
    DROP TABLE IF EXISTS pg_temp.import_staging, pg_temp.import_issue;  -- an earlier import in this transaction
    CREATE TEMP TABLE import_staging (
        row_no              integer PRIMARY KEY,
{_ATTRIBUTE_COLUMNS},
        claimed_ags         text,
        declared_area_m2    double precision,
        geom                geometry(MultiPolygon, 25832) NOT NULL,
        ags                 char(8),
        share               double precision,
        parcel_id           uuid DEFAULT gen_random_uuid(),  -- an existing parcel's (classify), or the new one's
        action              text NOT NULL DEFAULT 'new',  -- or 'changed', 'unchanged', 'retired' (classify)
        rejected            boolean NOT NULL DEFAULT false
    ) ON COMMIT DROP;
    CREATE TEMP TABLE import_issue (  -- every problem of every row: the report keeps the first ones
        seq      bigint GENERATED ALWAYS AS IDENTITY,
        row_no   integer NOT NULL,
        field    text NOT NULL,
        reason   text NOT NULL,
        is_error boolean NOT NULL
    ) ON COMMIT DROP;
    """)
    )


def copy_rows(conn: Connection, rows: Iterable[tuple]) -> int:
    """Bulk-load staging rows through binary COPY (no text formatting of the geometries)."""
    cursor, geometry = geometry_copy(conn)
    n = 0
    with cursor.copy(f"COPY import_staging ({', '.join(STAGING_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        # geom, then ags (char(8) reads the binary form of text) and share
        copy.set_types([_STAGING_TYPES.get(c, "text") for c in STAGING_COLUMNS[:-3]] + [geometry, "text", "float8"])
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def copy_issues(conn: Connection, issues: Issues) -> None:
    """The problems found while reading a batch, beside those the database finds."""
    if not issues.rows:
        return
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy("COPY import_issue (row_no, field, reason, is_error) FROM STDIN") as copy:
        for row in issues.rows:
            copy.write_row(row)


def _reject(conn: Connection, field: str, select_bad: str, reason_sql: str, params: dict | None = None) -> None:
    """Mark rows found by ``select_bad`` (row_no plus columns for ``reason_sql``) as rejected, with reasons."""
    conn.execute(
        text(f"""
    WITH bad AS ({select_bad}),
    issue AS (
        INSERT INTO import_issue (row_no, field, reason, is_error)
        SELECT row_no, :field, {reason_sql}, true FROM bad
    )
    UPDATE import_staging s SET rejected = true FROM bad WHERE s.row_no = bad.row_no
    """),
        {"field": field, **(params or {})},
    )


def _said_sql(code: str, **values: str) -> str:
    """SQL of the text :func:`landreg.importer.refusals.kept` writes for message ``code``, its values
    SQL expressions (``code`` and the names are this module's constants, never a file's)."""
    pairs = ", ".join(f"'{name}', {expression}" for name, expression in values.items())
    return f"'⟪' || json_build_object('$m', '{code}', 'v', json_build_object({pairs}))::text || '⟫'"


_OTHER_REASONS = kept(message("import.other_reasons"))
_OUTSIDE = kept(message("import.outside_municipalities"))
_DECLARED_AREA = _said_sql(
    "import.declared_area", declared="round(declared_area_m2::numeric, 1)", area="round(ST_Area(geom)::numeric, 1)"
)

Rows = tuple[int, int]  # first and last row number of a window of the file (a batch and those after it)


def _window(rows: Rows | None, alias: str = "import_staging") -> tuple[str, dict]:
    """SQL condition and parameters restricting staging rows to ``rows`` (all rows when None)."""
    if rows is None:
        return "", {}
    return f" AND {alias}.row_no BETWEEN :first_row AND :last_row", {"first_row": rows[0], "last_row": rows[1]}


def validate(
    conn: Connection,
    checks: Checks,
    allowed_ags: tuple[str, ...] | None = None,
    rows: Rows | None = None,
    claim_fix: str | Message = "",
) -> None:
    """Set-wise checks of the rows in ``rows``: area, municipality (validity and location come from ``rows``).

    ``claim_fix``: how to drop a wrong claim of a municipality, added to the reason of such a row.

    Duplicates need the whole file: ``reject_duplicates`` once all rows are staged.
    """
    window, params = _window(rows)
    _reject(
        conn,
        "geom",
        "SELECT row_no, ST_Area(geom) AS area FROM import_staging "
        f"WHERE NOT rejected AND ST_Area(geom) NOT BETWEEN :min_area AND :max_area{window}",
        _said_sql(
            "import.area_implausible",
            area="round(area::numeric, 1)",
            min="CAST(:min_area AS float8)",
            max="CAST(:max_area AS float8)",
        ),
        {"min_area": checks.min_area_m2, "max_area": checks.max_area_m2, **params},
    )
    conn.execute(
        text(f"""
    INSERT INTO import_issue (row_no, field, reason, is_error)
    SELECT row_no, 'declared_area_m2',
           {_DECLARED_AREA},
           false
      FROM import_staging
     WHERE NOT rejected AND declared_area_m2 > 0
       AND abs(ST_Area(geom) - declared_area_m2) > :tolerance * declared_area_m2{window}
    """),
        {"tolerance": checks.declared_area_tolerance, **params},
    )

    _check_municipality(conn, checks, rows, claim_fix)
    if allowed_ags is not None:
        _reject(
            conn,
            "ags",
            f"""
            SELECT s.row_no, s.ags, m.name FROM import_staging s JOIN municipality m ON m.ags = s.ags
             WHERE NOT s.rejected AND NOT s.ags = ANY(CAST(:allowed AS text[])){_window(rows, "s")[0]}
        """,
            _said_sql(
                "import.not_yours", ags="ags", name="name", allowed="array_to_string(CAST(:allowed AS text[]), ', ')"
            ),
            {"allowed": list(allowed_ags), **params},
        )


def reject_duplicates(conn: Connection) -> None:
    """Rows of the whole file that share their reference with another row of the same municipality."""
    _reject(
        conn,
        "local_ref",
        """
        SELECT s.row_no, s.local_ref, d.rows FROM import_staging s
          JOIN (SELECT ags, local_ref, array_agg(row_no ORDER BY row_no) AS rows FROM import_staging
                 WHERE ags IS NOT NULL GROUP BY ags, local_ref HAVING count(*) > 1) d
            ON d.ags = s.ags AND d.local_ref = s.local_ref
    """,
        _said_sql("import.duplicate", ref="local_ref", rows="array_to_string(rows, ', ')"),
    )


def has_errors(conn: Connection, rows: Rows) -> bool:
    """Whether the database's checks so far refused any row in ``rows``."""
    return conn.execute(
        text("SELECT EXISTS (SELECT FROM import_issue WHERE is_error AND row_no BETWEEN :first_row AND :last_row)"),
        {"first_row": rows[0], "last_row": rows[1]},
    ).scalar_one()


def _check_municipality(conn: Connection, checks: Checks, rows: Rows | None, claim_fix: str | Message = "") -> None:
    """Every row lies in a municipality (found by ``places`` while reading), the one it claims if any
    (or within ``checks.border_tolerance_m`` of it: then ``places`` took the claim)."""
    window, params = _window(rows, "s")
    _reject(
        conn,
        "geom",
        f"SELECT row_no FROM import_staging s WHERE NOT rejected AND ags IS NULL{window}",
        ":outside",
        {"outside": _OUTSIDE, **params},
    )
    _reject(
        conn,
        "ags",
        f"""
        SELECT row_no, claimed_ags FROM import_staging s
         WHERE claimed_ags IS NOT NULL AND NOT EXISTS (SELECT FROM municipality m WHERE m.ags = s.claimed_ags){window}
    """,
        _said_sql("import.unknown_ags", ags="claimed_ags"),
        params,
    )
    _reject(
        conn,
        "ags",
        f"""
        SELECT s.row_no, s.share, s.ags, found.name AS found_name, s.claimed_ags, claimed.name AS claimed_name
          FROM import_staging s
          JOIN municipality found ON found.ags = s.ags
          JOIN municipality claimed ON claimed.ags = s.claimed_ags
         WHERE NOT s.rejected AND s.claimed_ags <> s.ags{window}
    """,
        _said_sql(
            "import.other_municipality",
            ags="ags",
            name="found_name",
            share="round((share * 100)::numeric)",
            claimed="claimed_ags",
            claimed_name="claimed_name",
            tolerance="CAST(:tolerance AS float8)",
            fix="CAST(:claim_fix AS json)",
        ),
        {"tolerance": checks.border_tolerance_m, "claim_fix": value_json(claim_fix), **params},
    )


def classify(conn: Connection, fields: list[str], checks: Checks, rows: Rows | None = None) -> None:
    """Mark each acceptable row (of ``rows``) as new, changed or unchanged against the current register;
    a row whose reference is a retired parcel's is rejected (a reference is never given twice)."""
    window, params = _window(rows, "s")
    same = " AND ".join(f"p.{f} IS NOT DISTINCT FROM s.{f}" for f in fields if f != "local_ref")
    same_geometry = (
        "(p.geom = s.geom OR (ST_NPoints(p.geom) = ST_NPoints(s.geom) "
        "AND ST_HausdorffDistance(p.geom, s.geom) < :same_geometry))"
    )
    # Looked up row by row through the unique index (one parcel per reference, current or retired:
    # one look-up for both cases; classifying 1M new rows took 9.0 s with two, 6.2 s with one); a
    # batch is small against the register, and the planner, without statistics of the staging table,
    # would hash the whole register per batch.
    conn.execute(
        text(f"""
    UPDATE import_staging s
       SET parcel_id = CASE WHEN p.retired_at IS NULL THEN p.id ELSE s.parcel_id END,
           action = CASE WHEN p.retired_at IS NOT NULL THEN 'retired'
                         WHEN {same + " AND " if same else ""}{same_geometry} THEN 'unchanged' ELSE 'changed' END
      FROM import_staging t
     CROSS JOIN LATERAL (SELECT * FROM parcel p WHERE p.ags = t.ags AND p.local_ref = t.local_ref LIMIT 1) p
     WHERE s.row_no = t.row_no AND NOT t.rejected{_window(rows, "t")[0]}
    """),
        {"same_geometry": checks.same_geometry_m, **params},
    )
    _reject(
        conn,
        "local_ref",
        f"""
        SELECT s.row_no, p.retired_at FROM import_staging s
          JOIN parcel p ON p.ags = s.ags AND p.local_ref = s.local_ref
         WHERE s.action = 'retired' AND NOT s.rejected{window}
    """,
        _said_sql("import.retired_reference", date="json_build_object('$d', to_char(retired_at, 'YYYY-MM-DD'))"),
        params,
    )


def collect(conn: Connection, report: ImportReport, kept: int = KEPT_MAX) -> None:
    """The findings into the report: the first ``kept`` rejections and notes (by row) in full, all counted."""
    first = text(
        "SELECT row_no, field, reason FROM import_issue WHERE is_error = :errors ORDER BY row_no, seq LIMIT :n"
    )
    english = report.english  # reasons as kept (refusals.kept): English, their messages remembered
    report.rejections = [RowIssue(r, f, english(why)) for r, f, why in conn.execute(first, {"errors": True, "n": kept})]
    report.notes = [RowIssue(r, f, english(why)) for r, f, why in conn.execute(first, {"errors": False, "n": kept})]
    rejections, notes, report.rejected = conn.execute(
        text("""SELECT count(*) FILTER (WHERE is_error), count(*) FILTER (WHERE NOT is_error),
                       count(DISTINCT row_no) FILTER (WHERE is_error) FROM import_issue""")
    ).one()
    report.rejections_omitted = rejections - len(report.rejections)
    report.notes_omitted = notes - len(report.notes)
    report.rejection_counts = {}
    for field, reason, n in conn.execute(
        text("""
        SELECT field, CASE WHEN rank <= :per_field THEN reason ELSE :other END, sum(n)::bigint
          FROM (SELECT field, reason, count(*) AS n,
                       row_number() OVER (PARTITION BY field ORDER BY count(*) DESC, reason) AS rank
                  FROM import_issue WHERE is_error GROUP BY field, reason) counted
         GROUP BY 1, 2 ORDER BY 1, 3 DESC
    """),
        {"per_field": REASONS_PER_FIELD, "other": _OTHER_REASONS},
    ):
        report.rejection_counts.setdefault(field, {})[english(reason)] = n
    counts = dict(
        conn.execute(text("SELECT action, count(*) FROM import_staging WHERE NOT rejected GROUP BY action")).all()
    )
    report.inserted, report.changed, report.unchanged = (counts.get(a, 0) for a in ("new", "changed", "unchanged"))


def find_missing(
    conn: Connection, municipalities: list[str] | None, categories: list[str] | None, scope: Sequence[str] | None = None
) -> list[tuple]:
    """Current parcels of the file's municipalities (and categories) that the file does not contain.

    A file speaks for the municipalities of the rows it delivers (a refused row's claim counts for
    nothing: a row refused as another municipality's would otherwise retire that municipality's
    parcels) and for ``municipalities`` (the option); only those in ``scope`` (None: any), the ones
    the importer may change (:func:`landreg.importer.import_scope`)."""
    return [
        tuple(r)
        for r in conn.execute(
            text("""
    SELECT p.ags, p.local_ref, p.id FROM parcel p
     WHERE p.retired_at IS NULL
       AND p.ags IN (SELECT ags FROM import_staging WHERE ags IS NOT NULL AND NOT rejected
                     UNION SELECT unnest(CAST(:municipalities AS text[])))
       AND (CAST(:scope AS text[]) IS NULL OR p.ags = ANY(CAST(:scope AS text[])))
       AND (CAST(:categories AS text[]) IS NULL OR p.category = ANY(CAST(:categories AS text[])))
       AND NOT EXISTS (SELECT FROM import_staging s WHERE s.ags = p.ags AND s.local_ref = p.local_ref)
     ORDER BY p.ags, p.local_ref
    """),
            {"municipalities": municipalities or [], "categories": categories, "scope": _scope(scope)},
        )
    ]


def _scope(scope: Sequence[str] | None) -> list[str] | None:
    return None if scope is None else list(scope)


def apply(conn: Connection, fields: list[str], actor: str, rows: Rows | None = None) -> None:
    """Write the new and changed rows (of ``rows``); the parcel triggers version every change.

    The locations were checked set-wise by ``validate``; the per-row trigger need not repeat it.
    A new parcel's ``public_since`` comes from its municipality's notices (``parcel_notice_since``,
    inlined: a fifth of the per-row trigger's time; a new parcel has no objection), so the trigger
    that would derive it row by row stands aside (migration 0034).
    """
    window, params = _window(rows, "s")
    conn.execute(text("SET LOCAL landreg.locations_checked = 'on'; SET LOCAL landreg.public_since_derived = 'on'"))
    assignments = [
        f"{f} = coalesce(s.{f}, p.{f})" if f in _NOT_NULL_DEFAULTS else f"{f} = s.{f}"
        for f in fields
        if f != "local_ref"
    ]
    conn.execute(
        text(f"""
    UPDATE parcel p SET {", ".join([*assignments, "geom = s.geom", "updated_by = :actor"])}
      FROM import_staging s WHERE s.action = 'changed' AND NOT s.rejected AND p.id = s.parcel_id{window}
    """),
        {"actor": actor, **params},
    )
    values = ", ".join(_value(f) for f in PARCEL_FIELDS)
    conn.execute(
        text(f"""
    INSERT INTO parcel (id, ags, {", ".join(PARCEL_FIELDS)}, geom, created_by, updated_by, public_since)
    SELECT s.parcel_id, s.ags, {values}, s.geom, :actor, :actor, notice.since
      FROM import_staging s
     CROSS JOIN LATERAL parcel_notice_since(s.ags, {_value("category")}, {_value("publication_allowed")}) notice
     WHERE s.action = 'new' AND NOT s.rejected{window}
     ORDER BY s.geom  -- neighbours in the spatial index are inserted together: fewer pages touched
    """),
        {"actor": actor, **params},
    )
    conn.execute(text("SET LOCAL landreg.locations_checked = 'off'; SET LOCAL landreg.public_since_derived = 'off'"))


def _value(name: str) -> str:
    """SQL: the value a new parcel gets for field ``name`` from staging row ``s`` (its default if empty)."""
    return f"coalesce(s.{name}, {_NOT_NULL_DEFAULTS[name]})" if name in _NOT_NULL_DEFAULTS else f"s.{name}"


def retire(conn: Connection, parcel_ids: list, actor: str, scope: Sequence[str] | None = None) -> int:
    """Retire the parcels a complete delivery no longer lists, with that as their reason; none
    outside ``scope`` (None: any), the municipalities the importer may change, whatever the list."""
    if not parcel_ids:
        return 0
    return conn.execute(
        text("""
    UPDATE parcel SET retired_at = now(), retired_by = :actor, updated_by = :actor, retire_reason = :reason
     WHERE id = ANY(:ids) AND retired_at IS NULL AND (CAST(:scope AS text[]) IS NULL OR ags = ANY(CAST(:scope AS text[])))
    """),
        {"actor": actor, "ids": parcel_ids, "reason": RETIRE_REASON_IMPORT, "scope": _scope(scope)},
    ).rowcount


def rejected_reasons(conn: Connection) -> Iterator[tuple[int, str]]:
    """(row, its reasons) of every rejected row in row order, streamed: for the file of rejected rows."""
    rows = conn.execute(
        text("""
        SELECT row_no, string_agg(field || ': ' || reason, '; ' ORDER BY seq) FROM import_issue
         WHERE is_error GROUP BY row_no ORDER BY row_no
    """).execution_options(yield_per=5_000)
    )
    try:
        yield from (tuple(r) for r in rows)
    finally:
        rows.close()


#: The parcels the import wrote, as :func:`landreg.quality.refresh_selected` takes them: a new one was
#: created by the import's transaction (``fresh``).
_WRITES = "NOT rejected AND action IN ('new', 'changed')"  # a staging row the import writes
WRITTEN = f"SELECT DISTINCT parcel_id AS id, action = 'new' AS fresh FROM import_staging WHERE {_WRITES}"


def written_rows(conn: Connection, rows: Rows) -> set[int]:
    """The numbers of the rows of this window the import writes (new and changed ones)."""
    window, params = _window(rows)
    return set(conn.execute(text(f"SELECT row_no FROM import_staging WHERE {_WRITES}{window}"), params).scalars())


def written_ids(conn: Connection) -> list:
    """The parcels the import wrote (new and changed rows), to be scored: their ids as staged (a new
    parcel's given to it by ``apply``), not looked up (a join of 1M rows with the register: 6–9 s)."""
    return list(conn.execute(text(f"SELECT id FROM ({WRITTEN}) written")).scalars())
