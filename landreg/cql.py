"""CQL2 filters (text and JSON) to SQLAlchemy expressions with bound parameters.

pygeofilter parses; this module translates its syntax tree, and only for the queryable
properties a collection offers to the caller: a property that is not queryable is refused with
a clear message, never silently ignored or answered by inference. Geometry literals are in the
filter CRS (CRS84 unless said otherwise) and are transformed to the storage CRS in PostGIS.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text
from sqlalchemy import and_, between, func, literal, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from landreg import STORAGE_SRID
from landreg.errors import InvalidParameter

LANGUAGES = ("cql2-text", "cql2-json")


class FilterError(InvalidParameter):
    """The filter cannot be parsed or uses what it may not; the message says which."""


def parse(text: str, language: str = "cql2-text"):
    if language not in LANGUAGES:
        raise FilterError(f"unknown filter-lang {language!r}; use {' or '.join(LANGUAGES)}")
    try:
        return parse_text(text) if language == "cql2-text" else parse_json(json.loads(text))
    except Exception as exc:  # the parsers raise many kinds (lark, json, their own)
        raise FilterError(f"the filter cannot be parsed as {language}: {str(exc).splitlines()[0][:200]}") from None


_COMPARISONS: dict[type, Callable] = {
    ast.Equal: lambda a, b: a == b,
    ast.NotEqual: lambda a, b: a != b,
    ast.LessThan: lambda a, b: a < b,
    ast.LessEqual: lambda a, b: a <= b,
    ast.GreaterThan: lambda a, b: a > b,
    ast.GreaterEqual: lambda a, b: a >= b,
}
_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}


def to_sql(
    node, queryables: dict[str, ColumnElement], geometry: ColumnElement, filter_srid: int = 4326, flip: bool = False
):
    """The SQL expression of a parsed filter over the given queryable columns.

    ``flip``: the filter CRS orders its axes latitude first (EPSG:4326 as a URI), so literals are swapped.
    """

    def value(v: Any):
        if isinstance(v, ast.Attribute):
            return attribute(v)
        if isinstance(v, values.Geometry):
            return _geometry(json.dumps(v.geometry))
        if isinstance(v, values.Envelope):
            x1, y1, x2, y2 = (v.y1, v.x1, v.y2, v.x2) if flip else (v.x1, v.y1, v.x2, v.y2)
            return func.ST_Transform(func.ST_MakeEnvelope(x1, y1, x2, y2, filter_srid), STORAGE_SRID)
        if isinstance(v, ast.Node):
            raise FilterError(f"{type(v).__name__} is not supported in filters")
        return literal(v)

    def _geometry(geojson: str):
        literal_geometry = func.ST_SetSRID(func.ST_GeomFromGeoJSON(geojson), filter_srid)
        if flip:
            literal_geometry = func.ST_FlipCoordinates(literal_geometry)
        return func.ST_Transform(literal_geometry, STORAGE_SRID)

    def attribute(a: ast.Attribute):
        if a.name in ("geom", "geometry"):
            return geometry
        if a.name not in queryables:
            raise FilterError(f"{a.name!r} is not queryable here; queryables: {', '.join(sorted(queryables))}")
        return queryables[a.name]

    def walk(n):
        if isinstance(n, ast.And):
            return and_(walk(n.lhs), walk(n.rhs))
        if isinstance(n, ast.Or):
            return or_(walk(n.lhs), walk(n.rhs))
        if isinstance(n, ast.Not):
            return not_(walk(n.sub_node))
        if type(n) in _COMPARISONS:
            return _COMPARISONS[type(n)](value(n.lhs), value(n.rhs))
        if isinstance(n, ast.Like):
            pattern = n.pattern.replace(n.wildcard, "%").replace(n.singlechar, "_") if n.wildcard else n.pattern
            expr = value(n.lhs).ilike(pattern) if n.nocase else value(n.lhs).like(pattern)
            return not_(expr) if n.not_ else expr
        if isinstance(n, ast.In):
            expr = value(n.lhs).in_([value(v) for v in n.sub_nodes])
            return not_(expr) if n.not_ else expr
        if isinstance(n, ast.Between):
            expr = between(value(n.lhs), value(n.low), value(n.high))
            return not_(expr) if n.not_ else expr
        if isinstance(n, ast.IsNull):
            expr = value(n.lhs).is_(None)
            return not_(expr) if n.not_ else expr
        if type(n) in _SPATIAL:
            return getattr(func, _SPATIAL[type(n)])(value(n.lhs), value(n.rhs))
        if isinstance(n, bool):
            return literal(n)
        raise FilterError(f"{type(n).__name__} is not supported in filters")

    return walk(node)
