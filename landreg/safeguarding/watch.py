"""The watch list: industrial parcels that changed away from industrial use, and those touched by a
recorded plan check with a conflict. What is industrial (or lost) is :mod:`landreg.rules`'."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from landreg import known, rules
from landreg.access import FULL, AccessDenied, View
from landreg.db import plan_each_time


def _changed(predicate) -> str:
    """Columns of a version ``v`` in the window ``w``: whether the version before met the predicate,
    and whether this one does (never NULL), named after the predicate."""
    name = predicate.__name__.removeprefix("is_")
    now = rules.sql(predicate, "v")
    return f"lag({now}) OVER w AS was_{name}, coalesce({now}, false) AS {name}"


def watch_list(
    conn: Connection, ags: list[str] | None = None, since: dt.datetime | None = None, view: View = FULL
) -> list[dict]:
    """Industrial parcels that changed away from industrial use, and those touched by a recorded
    plan check with a conflict: newest first, with the date and the actor.

    A municipality's watch list is its own and the ministry's: a planner sees the entries of their
    municipalities only (they name unpublished parcels, plans and people), the public none."""
    if view.kind == "public":
        raise AccessDenied("the watch list is for the planners of a municipality and the ministry")
    if ags:
        known.check_municipalities(conn, ags, "ags")
    plan_each_time(conn)  # all municipalities or some: a generic plan would serve both the same
    if view.kind == "planner":
        ags = [a for a in (ags or view.ags) if view.owns(a)]
        if not ags:
            return []
    rows = conn.execute(
        text(f"""
        WITH versions AS (  -- the history of parcels that were ever industrial, in the chosen municipalities
            SELECT v.* FROM parcel_version v
             WHERE v.parcel_id IN (SELECT parcel_id FROM parcel_version p WHERE {rules.sql(rules.is_industrial, "p")})
               AND (CAST(:ags AS text[]) IS NULL OR v.ags = ANY(CAST(:ags AS text[])))
        ), changes AS (
            SELECT parcel_id, valid_from AS at, actor, ags, local_ref, name,
                   lag(category) OVER w AS old_category, category,
                   lag(designation) OVER w AS old_designation, designation,
                   lag(status) OVER w AS old_status, status,
                   {_changed(rules.is_industrial_category)},
                   {_changed(rules.is_industrial_designation)},
                   {_changed(rules.is_lost)}
              FROM versions v
            WINDOW w AS (PARTITION BY parcel_id ORDER BY version)
        )
        SELECT * FROM (
            SELECT 'nutzungsaenderung' AS reason, parcel_id, at, actor, ags, local_ref, name,
                   concat_ws(' -> ', concat_ws('/', old_category, old_designation, old_status),
                             concat_ws('/', category, designation, status)) AS detail
              FROM changes
             WHERE (was_industrial_category AND NOT industrial_category)
                OR (was_industrial_designation AND NOT industrial_designation)
                OR (NOT coalesce(was_lost, false) AND lost AND industrial_category)
            UNION ALL
            SELECT 'planpruefung:' || cp.conflict, cp.parcel_id, c.checked_at, c.actor, p.ags, p.local_ref, p.name,
                   c.name || ' (' || c.intended_use || ')'
              FROM plan_check_parcel cp JOIN plan_check c ON c.id = cp.plan_check_id JOIN parcel p ON p.id = cp.parcel_id
             WHERE cp.conflict <> 'keiner' AND (CAST(:ags AS text[]) IS NULL OR p.ags = ANY(CAST(:ags AS text[])))
        ) entries
         WHERE CAST(:since AS timestamptz) IS NULL OR at >= :since
         ORDER BY at DESC, local_ref
    """),
        {"ags": ags or None, "since": since},
    ).mappings()
    return [{k: (str(v) if k == "parcel_id" else v) for k, v in r.items()} for r in rows]
