"""Aggregate figures of the current register, over the parcels the caller may see."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Integer, cast, func, select

from landreg import rules
from landreg.access import View, visible_rows
from landreg.db import plan_each_time
from landreg.models import Municipality


def by_group(conn: Connection, groups: list[str], view: View, ags: Sequence[str] | None = None):
    """Count, area, the area of each figure of :data:`landreg.rules.FIGURES` (``<figure>_area_m2``)
    and counts by status of the current parcels ``view`` may see, in the state it sees them
    (:func:`landreg.access.visible_rows`: reviewed, unless it sees the latest), per group; ``ags``:
    of these municipalities only (a planner's own, of the whole register's published parcels).

    ``groups`` come from a fixed set (municipality, category); aggregates reveal no single parcel.
    """
    plan_each_time(conn)  # all municipalities or some: a generic plan would serve both the same
    r = visible_rows(view).c  # one row per parcel, with the parcel's columns
    keys = [{"municipality": r.ags, "category": r.category}[g] for g in groups]
    names = [Municipality.name.label("municipality_name")] if "municipality" in groups else []
    per_status = (  # the counts by status first, then everything summed over the statuses
        select(
            *keys,
            *names,
            r.status,
            func.count().label("n"),
            func.sum(r.area_m2).label("area_m2"),
            *[func.sum(r.area_m2).filter(is_(r)).label(f"{f}_area_m2") for f, is_ in rules.FIGURES.items()],
            func.bool_or(r.is_sample).label("sample"),
        )
        .select_from(r.id.table)
        .join(Municipality, Municipality.ags == r.ags)
        .where(*([] if ags is None else [r.ags.in_(list(ags))]))
        .group_by(*keys, *names, r.status)
        .subquery("s")
    )
    s = per_status.c
    outer = [s[c.key] for c in keys] + [s[n.key] for n in names]
    query = (
        select(
            *outer,
            cast(func.sum(s.n), Integer).label("parcels"),
            func.sum(s.area_m2).label("area_m2"),
            *[func.coalesce(func.sum(s[f"{f}_area_m2"]), 0).label(f"{f}_area_m2") for f in rules.FIGURES],
            func.bool_or(s.sample).label("sample"),
            func.jsonb_object_agg(s.status, s.n).label("by_status"),
        )
        .group_by(*outer)
        .order_by(*[s[c.key] for c in keys])
    )
    return conn.execute(query).mappings().all()
