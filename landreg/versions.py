"""What changed between versions of a parcel, field by field, in the caller's view.

The history (:func:`landreg.register.parcel_history`) says which versions a view may see, who made
them and how their review went; this module adds, for each of those versions, the fields that differ
from the version before it (every attribute the view may see of the parcel: the confidential ones
only for those who see its confidential facts) and how its outline changed (area added and removed,
and the outlines in WGS84 for a map). :func:`state` reads one version's attributes and
:func:`difference` compares two states: what a planner whose change met a newer version is shown.
:func:`retirement` says how a retired parcel left the register (when, by whom, why).

Reads only.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import Connection, Text, cast, func, select
from sqlalchemy.orm import aliased

from landreg import fields, rules
from landreg.access import View, sees_confidential, visible_versions
from landreg.errors import NotFound
from landreg.models import Parcel, ParcelVersion

#: Below this many m² of area added and removed, two outlines count as the same.
SAME_OUTLINE_M2 = 0.01


#: Public flags derived from a confidential attribute, by their one rule (:mod:`landreg.rules`): who
#: does not see the attribute sees its flag change from version to version, as on the item.
_FLAGS = {"contamination_flag": rules.contamination_suspected}
#: The fields a state or a change lists, in registry order.
_ORDER = [f.name for f in (fields.AGS, *fields.ATTRIBUTES, *(fields.field(n) for n in _FLAGS))]


def _names(view: View, ags: str) -> list[str]:
    """The attributes of a parcel of municipality ``ags`` the view sees (its own: all of them); for
    who does not see an attribute a public flag is derived from, the flag."""
    names = [f.name for f in (fields.AGS, *fields.ATTRIBUTES) if not f.confidential or view.owns(ags)]
    return names + [n for n in _FLAGS if not set(fields.field(n).derived_from) <= set(names)]


def _flags(version) -> list:
    return [rule(version).label(name) for name, rule in _FLAGS.items()]


def _plain(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 8 and value.strip().isdigit():
        return value.strip()  # a char(8) AGS
    return value


def state(conn: Connection, view: View, parcel_id: uuid.UUID, version: int) -> dict:
    """The attributes of one version of a parcel the view may see (``version`` and ``area_m2``
    besides); :class:`NotFound` for a version the view may not see or that does not exist."""
    v = ParcelVersion
    row = (
        conn.execute(
            select(v.version, v.area_m2, v.ags, *[getattr(v, f.name) for f in fields.ATTRIBUTES], *_flags(v)).where(
                v.parcel_id == parcel_id, v.version == version, visible_versions(view, v, Parcel)
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(f"parcel {parcel_id} has no version {version} you may see")
    ags = row["ags"].strip()
    values = {name: _plain(row[name]) for name in _names(view, ags)}
    return values | {"version": row["version"], "area_m2": row["area_m2"]}


def difference(before: dict, after: dict, names=None, lang: str = "de") -> list[dict]:
    """The fields (of ``names``, by default every attribute both states have) whose values differ,
    in registry order: ``field``, ``label``, ``before``, ``after``."""
    chosen = [n for n in _ORDER if n in before and n in after and (names is None or n in names)]
    return [
        {"field": n, "label": fields.field(n).label(lang), "before": before[n], "after": after[n]}
        for n in chosen
        if before[n] != after[n]
    ]


def changes(conn: Connection, view: View, parcel_id: uuid.UUID, lang: str = "de") -> list[dict]:
    """Every version of the parcel the view may see, oldest first, each with ``changes`` (the fields
    that differ from the version before it that the view sees; empty for the first) and
    ``geometry`` (None when the outline stayed the same; otherwise the area before and after, the
    area added and removed in m², and both outlines as GeoJSON geometries in WGS84).
    :class:`NotFound` when the view sees no version of it."""
    v = ParcelVersion
    visible = (
        select(v.parcel_id, v.version)
        .where(v.parcel_id == parcel_id, visible_versions(view, v, Parcel))
        .subquery("visible")
    )
    a = aliased(ParcelVersion, name="a")
    ordered = (
        select(
            a.version,
            a.valid_from,
            a.ags,
            a.area_m2,
            a.geom,
            *[getattr(a, f.name) for f in fields.ATTRIBUTES],
            *_flags(a),
            func.lag(a.geom).over(order_by=a.version).label("previous_geom"),
        )
        .join(visible, (visible.c.parcel_id == a.parcel_id) & (visible.c.version == a.version))
        .subquery("ordered")
    )
    o = ordered.c
    added = func.ST_Area(func.ST_Difference(o.geom, o.previous_geom))
    removed = func.ST_Area(func.ST_Difference(o.previous_geom, o.geom))
    outline = func.ST_AsGeoJSON(func.ST_Transform(o.geom, 4326), 7)
    rows = conn.execute(
        select(
            o.version,
            o.valid_from,
            o.ags,
            o.area_m2,
            *[o[f.name] for f in fields.ATTRIBUTES],
            *[o[name] for name in _FLAGS],
            func.ST_Area(o.previous_geom).label("previous_area_m2"),
            added.label("added_m2"),
            removed.label("removed_m2"),
            cast(outline, Text).label("outline"),
        ).order_by(o.version)
    ).mappings()
    result: list[dict] = []
    previous: dict | None = None
    previous_outline: str | None = None
    for r in rows:
        ags = r["ags"].strip()
        values = {name: _plain(r[name]) for name in _names(view, ags)}
        entry: dict = {"version": r["version"], "valid_from": r["valid_from"], "changes": [], "geometry": None}
        if previous is not None:
            entry["changes"] = difference(previous, values, lang=lang)
            moved = (r["added_m2"] or 0) >= SAME_OUTLINE_M2 or (r["removed_m2"] or 0) >= SAME_OUTLINE_M2
            if moved:
                entry["geometry"] = {
                    "area_before_m2": _round(r["previous_area_m2"]),
                    "area_after_m2": _round(r["area_m2"]),
                    "area_added_m2": _round(r["added_m2"]),
                    "area_removed_m2": _round(r["removed_m2"]),
                    "before": json.loads(previous_outline) if previous_outline else None,
                    "after": json.loads(r["outline"]),
                }
        result.append(entry)
        previous, previous_outline = values, r["outline"]
    if not result:
        raise NotFound(f"no parcel {parcel_id}")
    return result


def retirement(conn: Connection, view: View, parcel_id: uuid.UUID) -> dict | None:
    """How the parcel left the register, for a view that sees its confidential facts: the version
    the retirement ended, ``retired_at``, ``retired_by``, ``reason`` (a code of
    :data:`landreg.vocab.RETIRE_REASON`; None for a retirement recorded before reasons were: "nicht
    erfasst") and ``comment``. None when it is not retired, or for any other view.

    The comment is confidential (free text that may name an owner or a buyer, like
    ``internal_notes``); the code alone would not be (it says what became of the land, as ``status``
    does). But a retired parcel is never public (:func:`landreg.access.visible_parcels`), and where
    others still see a parcel whose retirement waits for review they must not learn of it before it
    is approved: so only those who see the confidential facts are told of a retirement at all."""
    p = Parcel
    row = conn.execute(
        select(p.version, p.retired_at, p.retired_by, p.retire_reason, p.retire_comment).where(
            p.id == parcel_id, p.retired_at.is_not(None), sees_confidential(view, p.ags)
        )
    ).one_or_none()
    if row is None:
        return None
    return {
        "version": row.version,
        "retired_at": row.retired_at,
        "retired_by": row.retired_by,
        "reason": row.retire_reason,
        "comment": row.retire_comment,
    }


def _round(value) -> float | None:
    return None if value is None else round(float(value), 1)


def display(value: Any, name: str, lang: str = "de") -> str:
    """A field's value as people read it: a code's label, Ja/Nein, a date as DD.MM.YYYY, '—' for none."""
    if value is None or value == "":
        return "—"
    declared = fields.field(name)
    if declared.codes is not None and str(value) in declared.codes.codes:
        return declared.codes.label(str(value), lang)
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("ja" if value else "nein")
    if isinstance(value, dt.date):
        return value.isoformat() if lang == "en" else value.strftime("%d.%m.%Y")
    return str(value)
