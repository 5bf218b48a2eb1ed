"""The approved version of a parcel whose latest change waits for review: what everybody but its
municipality sees (:func:`landreg.access.visible_rows`), with its own stored indicators and scores.

Without them, such a parcel had no score and no distances for the public: a missing value that
told anyone a change was waiting, even a change of a confidential field only. So the approved
version is scored like any other (``approved_indicator``, ``approved_score``, migration 0041), and
reads match the stored values on the version of the row they show
(:class:`landreg.scoring.visible.Stored`). The rows go with the parcel's pending state: an approval
removes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from landreg.scoring import indicators
from landreg.scoring.profiles import Profile

#: The approved version of each pending parcel that has one, with the columns of ``parcel`` the
#: scoring reads (its outline from ``parcel_pending``, indexed; never retired).
ROWS = """(SELECT v.parcel_id AS id, v.version, v.ags, v.category, v.restriction_class, v.availability,
                  v.contamination, v.ownership, v.owner_willing, v.planning_status, v.servicing, v.area_m2,
                  pp.geom, CAST(NULL AS timestamptz) AS retired_at
             FROM parcel_pending pp
             JOIN parcel_past_version v ON v.parcel_id = pp.parcel_id AND v.version = pp.approved_version)"""
_STORED = ", ".join(indicators.COLUMNS)
#: The stored indicators ``i`` of an approved version ``p`` (:data:`ROWS`): its own row, or, where
#: it is the latest version (a retirement waiting), the latest row (:func:`store_indicators`).
INDICATOR_JOIN = f"""LEFT JOIN approved_indicator a ON a.parcel_id = p.id AND a.parcel_version = p.version
                     LEFT JOIN parcel_indicator l ON l.parcel_id = p.id AND l.parcel_version = p.version
                     CROSS JOIN LATERAL (SELECT {", ".join(f"coalesce(a.{c}, l.{c}) AS {c}" for c in indicators.COLUMNS)},
                                                coalesce(a.computed_at, l.computed_at) AS computed_at,
                                                coalesce(a.definition, l.definition) AS definition) i"""


def _chosen(ids: Sequence | None, column: str) -> tuple[str, dict]:
    if ids is None:
        return "true", {}
    return f"{column} = ANY(CAST(:ids AS uuid[]))", {"ids": [str(i) for i in ids]}


def pending_ids(conn: Connection, ids: Sequence | None = None) -> list:
    """Of ``ids`` (None: all), the parcels whose approved version others see in place of the latest."""
    where, params = _chosen(ids, "parcel_id")
    return (
        conn.execute(
            text(f"SELECT parcel_id FROM parcel_pending WHERE approved_version IS NOT NULL AND {where} ORDER BY 1"),
            params,
        )
        .scalars()
        .all()
    )


def store_indicators(conn: Connection, ids: Sequence, layers: set[str]) -> None:
    """The indicators of these pending parcels' approved versions. The caller holds the context lock
    (:func:`indicators.hold_context`).

    * An approved past version whose outline is the latest one (a change of attributes only) has the
      latest version's indicators, copied where they are current; another past one's are computed,
      one parcel at a time (few wait for review at once). Both replace its ``approved_indicator``.
    * An approved version that is the latest one (a retirement waiting for review) keeps its own
      row in ``parcel_indicator``, computed again (a change of a context layer computes again only
      the current parcels' that differ, and a retired parcel is none): a version has one row, in
      one of the tables."""
    if not ids:
        return
    params = {"ids": [str(i) for i in ids], "definition": indicators.DEFINITION}
    past = "p.id = ANY(CAST(:ids AS uuid[])) AND p.version <> c.version"
    conn.execute(text("DELETE FROM approved_indicator WHERE parcel_id = ANY(CAST(:ids AS uuid[]))"), params)
    conn.execute(  # a past version's indicators are in approved_indicator only (a stale latest row of it)
        text(f"""DELETE FROM parcel_indicator i USING {ROWS} p JOIN parcel c ON c.id = p.id
                  WHERE i.parcel_id = p.id AND i.parcel_version = p.version AND {past}"""),
        params,
    )
    conn.execute(
        text(f"""
        INSERT INTO approved_indicator (parcel_id, parcel_version, definition, {_STORED})
        SELECT p.id, p.version, i.definition, {", ".join("i." + c for c in indicators.COLUMNS)}
          FROM {ROWS} p JOIN parcel c ON c.id = p.id
          JOIN parcel_indicator i ON i.parcel_id = c.id AND i.parcel_version = c.version
                                 AND i.definition IS NOT DISTINCT FROM :definition
                                 AND i.computed_at >= (SELECT changed_at FROM context_state)
         WHERE {past} AND p.geom = c.geom
    """),
        params,
    )
    conn.execute(
        text(f"""
        INSERT INTO approved_indicator (parcel_id, parcel_version, definition, {_STORED})
        SELECT p.id, p.version, :definition, i.*
          FROM {ROWS} p JOIN parcel c ON c.id = p.id, LATERAL (SELECT {indicators.select_list(layers)}) i
         WHERE {past} AND NOT EXISTS (SELECT FROM approved_indicator a WHERE a.parcel_id = p.id)
    """),
        params,
    )
    conn.execute(
        text(f"""
        INSERT INTO parcel_indicator (parcel_id, parcel_version, computed_at, definition, {_STORED})
        SELECT p.id, p.version, clock_timestamp(), :definition, i.*
          FROM {ROWS} p JOIN parcel c ON c.id = p.id AND c.version = p.version,
               LATERAL (SELECT {indicators.select_list(layers)}) i
         WHERE p.id = ANY(CAST(:ids AS uuid[]))
        ON CONFLICT (parcel_id) DO UPDATE SET {indicators.UPSERT_SET}
    """),
        params,
    )


#: Whether the approved version ``p`` has current stored indicators (in either table: see above).
_FRESH_INDICATORS = " OR ".join(
    f"""EXISTS (SELECT FROM {stored} i WHERE i.parcel_id = p.id AND i.parcel_version = p.version
                   AND i.definition IS NOT DISTINCT FROM :definition
                   AND i.computed_at >= (SELECT changed_at FROM context_state))"""
    for stored in ("approved_indicator", "parcel_indicator")
)


def stale_indicator_ids(conn: Connection) -> list:
    """Pending parcels whose approved version lacks current stored indicators."""
    return (
        conn.execute(
            text(f"SELECT p.id FROM {ROWS} p WHERE NOT ({_FRESH_INDICATORS}) ORDER BY p.id"),
            {"definition": indicators.DEFINITION},
        )
        .scalars()
        .all()
    )


def stale_ids(conn: Connection, profiles: Sequence[Profile]) -> list:
    """Pending parcels whose approved version lacks current indicators, or a current score under one
    of ``profiles`` that ranks its category (after an upgrade, or a change of the context layers)."""
    rows = conn.execute(
        text(f"""
        SELECT p.id, p.category,
               {_FRESH_INDICATORS} AS indicators,
               ARRAY(SELECT s.profile_id FROM approved_score s
                      WHERE s.parcel_id = p.id AND s.parcel_version = p.version
                        AND s.computed_at >= (SELECT changed_at FROM context_state)) AS scored
          FROM {ROWS} p ORDER BY p.id
    """),
        {"definition": indicators.DEFINITION},
    ).all()
    return [
        r.id
        for r in rows
        if not r.indicators
        or any(f.id not in r.scored for f in profiles if not f.categories or r.category in f.categories)
    ]
