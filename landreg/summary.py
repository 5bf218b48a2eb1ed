"""Aggregate figures of the current register."""

from __future__ import annotations

from sqlalchemy import Connection, text

_GROUPS = {"municipality": ("p.ags", "m.name AS municipality_name"), "category": ("p.category", None)}


def by_group(conn: Connection, groups: list[str]):
    """Count, area, available area and counts by status of current parcels, per group.

    ``groups`` come from a fixed set (municipality, category); aggregates reveal no single parcel.
    """
    keys = [_GROUPS[g][0] for g in groups]
    extra = [_GROUPS[g][1] for g in groups if _GROUPS[g][1]]
    return (
        conn.execute(
            text(f"""
        SELECT {", ".join(keys + extra)}, count(*) AS parcels, sum(p.area_m2) AS area_m2,
               coalesce(sum(p.area_m2) FILTER (WHERE p.status = 'verfuegbar'), 0) AS available_area_m2,
               bool_or(p.is_sample) AS sample,
               (SELECT jsonb_object_agg(status, n) FROM (
                    SELECT q.status, count(*) AS n FROM parcel q
                     WHERE q.retired_at IS NULL {"".join(f" AND q.{k[2:]} = {k}" for k in keys)}
                     GROUP BY q.status) s) AS by_status
          FROM parcel p JOIN municipality m ON m.ags = p.ags
         WHERE p.retired_at IS NULL
         GROUP BY {", ".join(keys + [e.split(" AS ")[0] for e in extra])}
         ORDER BY {", ".join(keys)}
    """)
        )
        .mappings()
        .all()
    )
