"""CQL2 filters (text and JSON) to SQLAlchemy expressions with bound parameters.

pygeofilter parses; this module checks and translates its syntax tree, and only for the queryable
properties a collection offers to the caller: a property that is not queryable is refused with
a clear message, never silently ignored or answered by inference. Every refusal is a
:class:`FilterError` (HTTP 400) naming the property or operator, what was given and what would be
accepted; nothing unchecked reaches SQL.

Limits (the constants below), checked before anything recurses over the filter: its length in
characters, the nesting of CQL2-JSON, and the depth and node count of the syntax tree; an
``a = 1 OR a = 2 OR …`` chain (or an AND chain) counts as one level and one node, however long.
Measured (Python's default recursion limit of 1,000): pygeofilter's text parser is an LALR parser
and never recursed (10,000 nested parentheses or 10,000 ORs, 80,000 characters: parsed in 0.3 s),
but the tree it builds from ``n`` ORs is ``n`` levels deep, and the translation recursed over it
(the issue's 500 at 1,000 ORs); its CQL2-JSON reader raised RecursionError from 335 nested
``not``s (~670 JSON levels); SQLAlchemy's compiler from 100–150 levels of alternating AND/OR.
A RecursionError that still happens anywhere is answered as a FilterError too.

Literals are typed against the property they are compared with (the column's SQL type):

- text: a string in single quotes (no NUL characters); LIKE only on text, with a string pattern
  (``%`` any characters, ``_`` one, ``\\`` escapes; a pattern may not end in a lone ``\\``);
- whole numbers: a number without fraction within the column's range (smallint −32768..32767,
  integer −2147483648..2147483647); numbers: finite;
- booleans: TRUE or FALSE, compared with = or <> only;
- dates: ``DATE('YYYY-MM-DD')`` or a string in that form (years 1..9999, all of which PostgreSQL
  accepts); a TIMESTAMP is not compared with a date;
- code lists (the field registry's ``codes``): a value outside the list is **refused** with the
  list for =, <> and IN, because a typo (``'Bauluecke'``, a label instead of the code) would
  otherwise silently match nothing; ordering comparisons and BETWEEN take any value of the type.

``CASEI(x)`` is ``lower(x)`` on both sides (also in LIKE); ``ACCENTI`` is refused: the database
has no ``unaccent`` extension. Other functions, arithmetic, temporal and array operators are
refused. Geometry literals (WKT, GeoJSON, ``BBOX(…)``, ``ENVELOPE(…)``) are in the filter CRS
(CRS84 unless said otherwise; an EWKT ``SRID=…;`` prefix names its own), must be valid, within
the bounds of that CRS (:data:`landreg.features._CRS_BOUNDS`) and have at most
:data:`MAX_VERTICES` vertices; PostGIS transforms them to the storage CRS vertex by vertex.
EPSG:25832 (UTM 32N) cannot represent points about 80° of longitude from its central meridian
(9°E): PostGIS fails there ("Point outside of projection domain", measured from 81° at the
equator), and near the poles a box collapses to a line. So a literal reaching beyond longitudes
−61..79 or latitudes −85..85 (:data:`STORAGE_DOMAIN`, and the same area in EPSG:3857) is cut to
that area for S_INTERSECTS, S_DISJOINT and the ``bbox`` parameter, whose answers this cannot
change (parcels lie in NRW), and refused by the other spatial operators.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import shapely
import shapely.geometry
from pygeofilter import ast, values
from pygeofilter.cql2 import BINARY_OP_PREDICATES_MAP
from pygeofilter.parsers.cql2_json import parse as parse_json
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from landreg import STORAGE_SRID, fields
from landreg.errors import InvalidParameter
from landreg.features import _CRS_BOUNDS, CRSS, Source, bbox_numbers, degrees_in_metres, envelope_filter
from landreg.vocab import CodeList

# -- Limits of one filter (see the module docstring for the measurements behind them) -------------
#: Characters of filter text (CQL2 text or JSON). A request line carries at most ~16 kB through
#: uvicorn anyway; pygeofilter parses 20,000 characters (~1,000 ORs) in ~0.03 s.
MAX_TEXT_LENGTH = 20_000
#: Nesting of CQL2-JSON arrays and objects, checked before pygeofilter's recursive reader (which
#: failed from ~670); 50 levels of depth take ~2 JSON levels each, coordinates 4 more.
MAX_JSON_NESTING = 150
#: Levels of the syntax tree: SQLAlchemy's compiler failed from 100–150 levels (see above).
MAX_DEPTH = 50
#: Nodes of the syntax tree (properties, literals, functions, predicates, AND/OR/NOT groups):
#: ~330 OR-ed comparisons or an IN list of 500. 1,000 ORs were parsed, translated, compiled and
#: run in 0.12 s, 3,000 in 0.5 s: the cap keeps one filter's work near 0.05 s.
MAX_NODES = 1_000
#: Values in one IN list.
MAX_IN_ITEMS = 500
#: Vertices of one geometry literal (a simplified municipal outline fits; the issue's million-vertex
#: polygon does not). 20,000 characters of WKT hold ~1,000 anyway; the cap guards callers that build
#: syntax trees themselves (the maps).
MAX_VERTICES = 2_000

LANGUAGES = ("cql2-text", "cql2-json")

#: Where a literal can be transformed to the storage CRS (EPSG:25832) and keep its shape, in CRS84:
#: 70° of longitude either side of the zone's central meridian (9°E) and up to 85° of latitude.
STORAGE_DOMAIN = (9.0 - 70.0, -85.0, 9.0 + 70.0, 85.0)
_EARTH_RADIUS = 6378137.0  # of EPSG:3857's sphere


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    return _EARTH_RADIUS * math.radians(lon), _EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


#: STORAGE_DOMAIN in each filter CRS; a CRS not listed here is not transformed (EPSG:25832 itself).
_DOMAINS: dict[int, tuple[float, float, float, float]] = {
    4326: STORAGE_DOMAIN,
    3857: (*_mercator(*STORAGE_DOMAIN[:2]), *_mercator(*STORAGE_DOMAIN[2:])),
}
assert STORAGE_SRID == 25832, "STORAGE_DOMAIN is measured for EPSG:25832"


class FilterError(InvalidParameter):
    """The filter cannot be parsed or uses what it may not; the message says which."""

    def __init__(self, message: str, field: str | None = "filter"):
        super().__init__(message, field)


# -- Parsing --------------------------------------------------------------------------------------


def parse_text(text: str):
    """pygeofilter's CQL2 text parser, imported on first use: its LALR tables are built on import
    (~0.25 s), which only a process that reads CQL2 text should pay."""
    from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

    return parse_cql2_text(text)


def parse(text: str, language: str = "cql2-text"):
    """The syntax tree of a filter; a FilterError when it cannot be read or is too large."""
    if language not in LANGUAGES:
        raise FilterError(f"unknown filter-lang {language!r}; use {' or '.join(LANGUAGES)}", "filter-lang")
    if len(text) > MAX_TEXT_LENGTH:
        raise FilterError(f"the filter has {len(text):,} characters; at most {MAX_TEXT_LENGTH:,} are accepted")
    try:
        if language == "cql2-text":
            return parse_text(text)
        document = json.loads(text)
        if isinstance(document, str):  # JSON text inside a JSON string, as pygeofilter reads it (and maps send)
            document = json.loads(document)
        if not isinstance(document, dict | bool):
            raise FilterError(f"a CQL2-JSON filter is an object (or true or false), not {_describe(document)}")
        return parse_json(_normalise_json(document))
    except FilterError:
        raise
    except RecursionError:
        raise FilterError(
            f"the filter is nested too deeply to be read; at most {MAX_DEPTH} levels are accepted"
        ) from None
    except Exception as exc:  # the parsers raise many kinds (lark, json, their own)
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise FilterError(f"the filter cannot be parsed as {language}: {first_line}") from None


#: CQL2-JSON operators pygeofilter reads, and those this module adds (accenti) or reads itself.
_JSON_OPERATORS = frozenset(BINARY_OP_PREDICATES_MAP) | {"and", "or", "not", "isNull", "between", "like", "in"}
_JSON_OPERATORS |= {"casei", "accenti"}


def _json_nesting(value: Any) -> int:
    """How deeply arrays and objects nest, counted without recursion; stops past the limit."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_JSON_NESTING:
                break
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _normalise_json(value: Any) -> Any:
    """CQL2-JSON as pygeofilter reads it: checked for nesting first, then the standard's forms that
    pygeofilter does not know rewritten (3-argument between, accenti, bbox in CQL2 axis order,
    GeometryCollection) and dates and timestamps read strictly (RFC 3339, not dateparser's prose)."""
    if _json_nesting(value) > MAX_JSON_NESTING:
        raise FilterError(f"the CQL2-JSON filter nests more than {MAX_JSON_NESTING} arrays and objects")
    return _rewrite_json(value)


def _rewrite_json(value: Any) -> Any:  # recursion bounded by MAX_JSON_NESTING
    if isinstance(value, list):
        return [_rewrite_json(v) for v in value]
    if value is None:
        raise FilterError("null is no value in CQL2-JSON; test for missing values with isNull")
    if not isinstance(value, dict):
        return value
    if "type" in value and ("coordinates" in value or "geometries" in value):
        return values.Geometry(value)
    if len(value) == 1 and "bbox" in value:
        return {"function": {"name": "bbox", "arguments": _as_list(value["bbox"], "bbox")}}
    if len(value) == 1 and "timestamp" in value:
        return _timestamp(value["timestamp"])
    if len(value) == 1 and "date" in value:
        return _date(value["date"], "date")
    if "op" in value:
        op, args = value["op"], value.get("args")
        if not isinstance(op, str) or op not in _JSON_OPERATORS:
            raise FilterError(f"unknown CQL2-JSON operator {_short(op)}; known: {', '.join(sorted(_JSON_OPERATORS))}")
        if op in ("not", "isNull") and isinstance(args, dict):  # pygeofilter's own output, and earlier drafts
            args = [args]
        args = _as_list(args, op)
        low, high = _ARITY.get(op, (2, 2))
        if not low <= len(args) <= (high or len(args)):
            wanted = str(low) if low == high else f"{low} or {high}" if high else f"at least {low}"
            plural = "" if wanted.endswith(" 1") or wanted == "1" else "s"
            raise FilterError(f"{op} takes {wanted} argument{plural}, not {len(args)}")
        if op == "between" and len(args) == 3:  # CQL2: [value, low, high]; pygeofilter: [value, [low, high]]
            args = [args[0], [args[1], args[2]]]
        if op == "accenti":
            return {"function": {"name": "accenti", "arguments": _rewrite_json(args)}}
        return {**value, "args": _rewrite_json(args)}
    return {key: _rewrite_json(v) for key, v in value.items()}


#: How many arguments a CQL2-JSON operator takes (at least, at most; None: any number); others take 2.
_ARITY: dict[str, tuple[int, int | None]] = {
    "and": (1, None),
    "or": (1, None),
    "not": (1, 1),
    "isNull": (1, 1),
    "casei": (1, 1),
    "accenti": (1, 1),
    "between": (2, 3),  # CQL2's [value, low, high], or pygeofilter's [value, [low, high]]
}


def _as_list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise FilterError(f"{what}: the arguments must be a JSON array, not {_describe(value)}")
    return value


def _timestamp(value: Any) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise FilterError(
            f"timestamp: {_describe(value)} is not an RFC 3339 date-time (e.g. 2024-01-01T00:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _date(value: Any, what: str) -> dt.date:
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise FilterError(
            f"{what}: {_describe(value)} is not a date of the form YYYY-MM-DD (years 1 to 9999)"
        ) from None


# -- Size of a syntax tree ---------------------------------------------------------------------------


def _children(node: Any) -> list:
    if isinstance(node, list | tuple):
        return list(node)
    if isinstance(node, ast.Like):
        return [node.lhs, node.pattern]
    if isinstance(node, ast.Node):
        try:
            return list(node.get_sub_nodes())
        except Exception:  # a malformed node (e.g. IN with a text for a list): refused when translated
            return []
    return []


def check_size(root: Any) -> None:
    """Refuses a tree deeper than MAX_DEPTH or larger than MAX_NODES, without recursing.

    An AND (OR) directly below an AND (OR) continues its chain: neither a level nor a node."""
    nodes, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise FilterError(
                f"the filter has more than {MAX_NODES:,} parts (properties, values, operators); "
                "combine comparisons of one property with IN, or split the query"
            )
        if depth > MAX_DEPTH:
            raise FilterError(f"the filter nests more than {MAX_DEPTH} levels deep")
        chain = type(node) if isinstance(node, ast.And | ast.Or) else None
        for child in _children(node):
            if chain is not None and type(child) is chain:
                nodes -= 1  # counted again when popped: the chain is one node
                stack.append((child, depth))
            else:
                stack.append((child, depth + 1))


def _chain(node: ast.Combination) -> list:
    """The operands of an AND (OR) chain, in order, without recursion."""
    operands, stack = [], [node]
    while stack:
        item = stack.pop()
        if type(item) is type(node):
            stack += [item.rhs, item.lhs]
        else:
            operands.append(item)
    return operands


# -- Types of properties and literals --------------------------------------------------------------


@dataclass(frozen=True)
class PropertyType:
    """What values a property takes: ``kind`` text, int, float, bool, date, datetime or other."""

    kind: str
    low: int | None = None
    high: int | None = None
    codes: CodeList | None = None

    def describe(self) -> str:
        if self.kind == "int":
            return f"a whole number from {self.low} to {self.high}"
        return {
            "text": "text",
            "float": "a number",
            "bool": "a boolean",
            "date": "a date",
            "datetime": "a timestamp",
        }.get(self.kind, "not comparable")


_INT_RANGES = {SmallInteger: 15, Integer: 31, BigInteger: 63}


def property_type(column: ColumnElement, codes: CodeList | None = None) -> PropertyType:
    """The type of a queryable column, from its SQL type (and its code list, if it has one)."""
    sql_type = column.type
    for cls in (SmallInteger, BigInteger, Integer):  # subclasses first
        if isinstance(sql_type, cls):
            bits = _INT_RANGES[cls]
            return PropertyType("int", -(2**bits), 2**bits - 1, codes)
    for cls, kind in ((Boolean, "bool"), (DateTime, "datetime"), (Date, "date"), (Float, "float"), (Numeric, "float")):
        if isinstance(sql_type, cls):
            return PropertyType(kind, codes=codes)
    if isinstance(sql_type, String):
        return PropertyType("text", codes=codes)
    return PropertyType("other")


def _code_lists(queryables: Mapping[str, ColumnElement]) -> dict[str, CodeList]:
    """The code lists of the queryables when they are parcel fields (the parcels collection: every
    queryable is declared in the field registry); none for other collections."""
    declared = {f.name: f for f in fields.ALL}
    if not queryables or not set(queryables) <= set(declared):
        return {}
    return {name: declared[name].codes for name in queryables if declared[name].codes is not None}


def _short(value: Any, width: int = 60) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's 4,300 digits for str()
        text = "a number of more than 4,300 digits"
    return text if len(text) <= width else text[: width - 1] + "…"


def _describe(value: Any) -> str:
    """A literal or expression as a message names it."""
    if isinstance(value, bool):
        return f"the boolean {str(value).upper()}"
    if isinstance(value, int | float):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return f"the text {_short(value)}"
    if isinstance(value, dt.datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, ast.Attribute):
        return f"the property {_short(value.name)}"
    if isinstance(value, values.Geometry | values.Envelope):
        return "a geometry"
    if isinstance(value, ast.Function):
        return f"the function {str(value.name).upper()}(…)"
    if isinstance(value, values.Interval):
        return "an interval"
    if isinstance(value, ast.Node):
        return f"a {type(value).__name__} expression"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _checked_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise FilterError(f"{what}: text may not contain NUL characters (\\0)")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise FilterError(f"{what}: the text is not valid Unicode (a lone surrogate)") from None
    return value


def convert(value: Any, kind: PropertyType, what: str) -> Any:
    """``value`` as a value of the property type, or a FilterError naming ``what`` and the accepted form."""
    accepted = kind.describe()
    if kind.kind == "text":
        if isinstance(value, str):
            return _checked_text(value, what)
        hint = "; put text in single quotes" if isinstance(value, int | float) and not isinstance(value, bool) else ""
        raise FilterError(f"{what} is text; {_describe(value)} is not{hint}")
    if kind.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FilterError(f"{what} takes {accepted}, not {_describe(value)} (write numbers without quotes)")
        if isinstance(value, float) and not math.isfinite(value):
            raise FilterError(f"{what} takes {accepted}, not {_describe(value)} (numbers must be finite)")
        if kind.kind == "float":
            try:
                return float(value)
            except OverflowError:
                raise FilterError(f"{what} takes {accepted}; {_describe(value)} is out of range") from None
        if isinstance(value, float):
            if not value.is_integer():
                raise FilterError(f"{what} takes {accepted}, not {_describe(value)}")
            value = int(value)
        if not kind.low <= value <= kind.high:
            raise FilterError(f"{what} takes {accepted}; {_describe(value)} is out of range")
        return value
    if kind.kind == "bool":
        if isinstance(value, bool):
            return value
        raise FilterError(f"{what} is a boolean: compare it with TRUE or FALSE, not {_describe(value)}")
    if kind.kind == "date":
        if isinstance(value, str):
            return _date(value, what)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise FilterError(f"{what} is a date: use DATE('YYYY-MM-DD'), not {_describe(value)}")
    if kind.kind == "datetime":
        if isinstance(value, str):
            return _timestamp(value)
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        raise FilterError(f"{what} is a timestamp: use TIMESTAMP('YYYY-MM-DDThh:mm:ssZ'), not {_describe(value)}")
    raise FilterError(f"{what} cannot be compared in filters (only IS NULL applies)")


def _check_code(value: Any, kind: PropertyType, what: str) -> None:
    if kind.codes is not None and str(value) not in kind.codes.codes:
        raise FilterError(f"{what}: {_describe(value)} is not one of its codes: {', '.join(kind.codes.codes)}")


def column_value(column: ColumnElement, value: Any, name: str) -> Any:
    """A value already read for a property (e.g. ``?restriction_class=1``) checked against the column's
    SQL type (range, NUL characters, finite numbers), so that it can be bound; InvalidParameter naming it."""
    try:
        return convert(value, property_type(column), name)
    except FilterError as exc:
        raise InvalidParameter(str(exc), name) from None


# -- Geometry literals ----------------------------------------------------------------------------

#: GeoJSON types and how deeply their coordinates nest (0: one position).
_GEOMETRY_NESTING = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FilterError(f"{what}: coordinates must be numbers, not {_describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise FilterError(f"{what}: coordinates must be finite numbers, not {_describe(value)}")
    return number


def _check_geojson(geometry: Any, what: str) -> int:
    """Checks the structure of a GeoJSON geometry without recursing; the number of its vertices."""
    vertices, stack = 0, [(geometry, 0)]
    while stack:
        item, level = stack.pop()
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "GeometryCollection":
            members = item.get("geometries")
            if not isinstance(members, list | tuple) or level >= MAX_DEPTH:
                raise FilterError(
                    f"{what}: a GeometryCollection needs a list of geometries, nested at most {MAX_DEPTH} deep"
                )
            stack += [(member, level + 1) for member in members]
            continue
        if kind not in _GEOMETRY_NESTING:
            types = ", ".join([*_GEOMETRY_NESTING, "GeometryCollection"])
            raise FilterError(f"{what}: {_short(kind)} is not a geometry type; use one of {types}")
        positions = [(item.get("coordinates"), _GEOMETRY_NESTING[kind])]
        while positions:
            coordinates, nesting = positions.pop()
            if not isinstance(coordinates, list | tuple):
                raise FilterError(f"{what}: the coordinates of a {kind} must be nested lists of numbers")
            if nesting:
                positions += [(c, nesting - 1) for c in coordinates]
                continue
            if not 2 <= len(coordinates) <= 4:
                raise FilterError(f"{what}: a position has 2 to 4 numbers, not {len(coordinates)}")
            for number in coordinates:
                _number(number, what)
            vertices += 1
            if vertices > MAX_VERTICES:
                raise FilterError(f"{what}: a geometry may have at most {MAX_VERTICES:,} vertices")
    return vertices


def _srid_of(geometry: dict, default: int, what: str) -> int:
    """The SRID an EWKT ``SRID=…;`` prefix (or a GeoJSON ``crs`` member) names, else the filter CRS's."""
    crs = geometry.get("crs")
    if crs is None:
        return default
    properties = crs.get("properties") if isinstance(crs, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    srid = str(name).rsplit(":", 1)[-1] if name else ""
    if not srid.isdigit() or int(srid) not in _CRS_BOUNDS:
        supported = ", ".join(f"EPSG:{s}" for s in _CRS_BOUNDS)
        raise FilterError(f"{what}: the geometry's CRS {_short(name)} is not supported; use one of {supported}")
    return int(srid)


def _literal_shape(value: Any, srid: int, flip: bool, what: str) -> tuple[shapely.Geometry, int]:
    """A geometry literal as a 2D shapely geometry in x/y order, and its SRID; checked."""
    if isinstance(value, values.Envelope):  # pygeofilter's ENVELOPE(x1 x2 y1 y2): either order per axis
        xs = [_number(value.x1, what), _number(value.x2, what)]
        ys = [_number(value.y1, what), _number(value.y2, what)]
        box = [min(xs), min(ys), max(xs), max(ys)]
    elif isinstance(value, ast.Function):  # BBOX(minx, miny, maxx, maxy) or with minz and maxz
        box = [_number(v, what) for v in value.arguments]
        if len(box) not in (4, 6):
            raise FilterError(f"{what}: BBOX takes 4 or 6 numbers (minimum x, y[, z], maximum x, y[, z])")
        box = box if len(box) == 4 else [box[0], box[1], box[3], box[4]]
        if box[0] > box[2] or box[1] > box[3]:
            raise FilterError(f"{what}: BBOX {box} must give the minimum before the maximum on each axis")
    else:
        geometry = value.geometry
        if not isinstance(geometry, dict):
            raise FilterError(f"{what}: not a geometry")
        _check_geojson(geometry, what)
        if "crs" in geometry:  # EWKT's SRID=…; prefix: x/y order, whatever the filter CRS
            flip, srid = False, _srid_of(geometry, srid, what)
        try:
            shape = shapely.force_2d(shapely.geometry.shape({k: v for k, v in geometry.items() if k != "crs"}))
        except Exception as exc:  # shapely and GEOS refuse malformed rings and lines in several ways
            raise FilterError(f"{what}: not a valid geometry ({str(exc).splitlines()[0][:120]})") from None
        if flip:
            shape = shapely.transform(shape, lambda xy: xy[:, ::-1])
        return shape, srid
    if flip:  # the box was given latitude first
        box = [box[1], box[0], box[3], box[2]]
    return shapely.box(*box), srid


def _geometry_literal(value: Any, srid: int, flip: bool, what: str, may_cut: bool) -> ColumnElement:
    """The SQL of a geometry literal in the storage CRS, after every check of the module docstring."""
    shape, srid = _literal_shape(value, srid, flip, what)
    if shape.is_empty:
        raise FilterError(f"{what}: the geometry is empty")
    limits = _CRS_BOUNDS.get(srid)
    x1, y1, x2, y2 = shape.bounds
    if limits is not None and not (limits[0] <= x1 and x2 <= limits[2] and limits[1] <= y1 and y2 <= limits[3]):
        raise FilterError(f"{what}: the geometry must lie within {limits} (x min, y min, x max, y max) of EPSG:{srid}")
    if (why := degrees_in_metres(srid, x1, y1, x2, y2)) is not None:
        raise FilterError(f"{what}: {why} (filter-crs)")
    if not shape.is_valid:  # after the bounds: GEOS overflows on coordinates like 1e300
        raise FilterError(f"{what}: the geometry is not valid: {shapely.is_valid_reason(shape)}")
    domain = _DOMAINS.get(srid)
    if domain is not None and not (domain[0] <= x1 and x2 <= domain[2] and domain[1] <= y1 and y2 <= domain[3]):
        if not may_cut:
            raise FilterError(
                f"{what}: the geometry reaches beyond {tuple(round(d, 2) for d in domain)} of EPSG:{srid}, where "
                f"EPSG:{STORAGE_SRID} (the storage CRS) cannot represent it; only S_INTERSECTS and S_DISJOINT "
                "accept it (cut to that area)"
            )
        shape = shapely.intersection(shape, shapely.box(*domain))
    wkb = literal(shapely.to_wkb(shape), LargeBinary)
    # not ST_GeomFromWKB(wkb, srid): GeoAlchemy2 writes that SRID into the SQL text, which SQLAlchemy's
    # statement cache then reuses for literals in other CRSs
    return func.ST_Transform(func.ST_SetSRID(func.ST_GeomFromWKB(wkb), srid), STORAGE_SRID)


def bbox_condition(src: Source, bbox: list[float], srid: int, flip: bool) -> ColumnElement:
    """The ``bbox`` parameter (see :func:`landreg.features.bbox_filter`), cut to where the storage CRS
    can represent it (see the module docstring): an intersection with that part only, which matches
    the same parcels; a box wholly outside matches none."""
    numbers = bbox_numbers_cut(bbox, srid, flip)
    return false() if numbers is None else envelope_filter(src, numbers, srid)


def bbox_numbers_cut(bbox: list[float], srid: int, flip: bool) -> tuple[float, float, float, float] | None:
    """:func:`landreg.features.bbox_numbers` cut to where the storage CRS can represent the box;
    None when it lies wholly outside (it matches no feature)."""
    x1, y1, x2, y2 = bbox_numbers(bbox, srid, flip)
    domain = _DOMAINS.get(srid)
    if _CRS_BOUNDS.get(srid) is None or domain is None:
        return x1, y1, x2, y2
    x1, y1, x2, y2 = max(x1, domain[0]), max(y1, domain[1]), min(x2, domain[2]), min(y2, domain[3])
    return None if x1 > x2 or y1 > y2 else (x1, y1, x2, y2)


# -- Translation ------------------------------------------------------------------------------------

_COMPARISONS: dict[type, tuple[str, Callable]] = {
    ast.Equal: ("=", operator.eq),
    ast.NotEqual: ("<>", operator.ne),
    ast.LessThan: ("<", operator.lt),
    ast.LessEqual: ("<=", operator.le),
    ast.GreaterThan: (">", operator.gt),
    ast.GreaterEqual: (">=", operator.ge),
}
#: The comparison with its sides swapped: ``5 < x`` is ``x > 5``.
_MIRRORED = {
    operator.eq: operator.eq,
    operator.ne: operator.ne,
    operator.lt: operator.gt,
    operator.le: operator.ge,
    operator.gt: operator.lt,
    operator.ge: operator.le,
}
_SPATIAL = {
    ast.GeometryIntersects: ("S_INTERSECTS", "ST_Intersects"),
    ast.GeometryDisjoint: ("S_DISJOINT", "ST_Disjoint"),
    ast.GeometryContains: ("S_CONTAINS", "ST_Contains"),
    ast.GeometryWithin: ("S_WITHIN", "ST_Within"),
    ast.GeometryTouches: ("S_TOUCHES", "ST_Touches"),
    ast.GeometryCrosses: ("S_CROSSES", "ST_Crosses"),
    ast.GeometryOverlaps: ("S_OVERLAPS", "ST_Overlaps"),
    ast.GeometryEquals: ("S_EQUALS", "ST_Equals"),
}
#: Spatial operators whose answer for parcels does not change when a literal is cut to STORAGE_DOMAIN.
_MAY_CUT = (ast.GeometryIntersects, ast.GeometryDisjoint, ast.BBox)
_GEOMETRY_NAMES = ("geom", "geometry")
_CASEI = ("lower", "casei")


@dataclass(frozen=True)
class _Column:
    """A property, or CASEI(...) of text, as one side of a predicate."""

    sql: ColumnElement
    type: PropertyType
    label: str
    bare: bool  # the property itself (code lists apply), not a function of it


def _literal_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    return None


def to_sql(
    node,
    queryables: Mapping[str, ColumnElement],
    geometry: ColumnElement,
    filter_srid: int = 4326,
    flip: bool = False,
    codes: Mapping[str, CodeList] | None = None,
):
    """The SQL expression of a parsed filter over the given queryable columns.

    ``flip``: the filter CRS orders its axes latitude first (EPSG:4326 as a URI), so literals are
    swapped. ``codes``: the code list of each property that has one (default: the field registry's,
    when the queryables are parcel fields).
    """
    check_size(node)
    code_lists = _code_lists(queryables) if codes is None else codes

    def column(v: Any, where: str) -> _Column | None:
        """The column side of a predicate, or None when ``v`` is a literal."""
        if isinstance(v, ast.Attribute):
            name = v.name
            if not isinstance(name, str):
                raise FilterError(f"{where}: a property name must be text, not {_describe(name)}")
            if name in _GEOMETRY_NAMES:
                raise FilterError(
                    f"{where}: {name} is the geometry; compare it with S_INTERSECTS, S_WITHIN and the like"
                )
            if name not in queryables:
                raise FilterError(f"{_short(name)} is not queryable here; queryables: {', '.join(sorted(queryables))}")
            col = queryables[name]
            return _Column(col, property_type(col, code_lists.get(name)), name, True)
        if isinstance(v, ast.Function):
            return function(v, where)
        if isinstance(v, ast.Node | values.Geometry | values.Envelope | values.Interval | list | tuple):
            raise FilterError(f"{where}: {_describe(v)} is not supported here; compare a property with a value")
        return None

    def function(f: ast.Function, where: str) -> _Column:
        name = str(f.name).lower()
        if name == "accenti":
            raise FilterError(f"{where}: ACCENTI is not supported (the database has no unaccent extension); CASEI is")
        if name not in _CASEI:
            raise FilterError(f"{where}: unknown function {_short(f.name)}; supported: CASEI (ACCENTI is not)")
        args = f.arguments if isinstance(f.arguments, list | tuple) else [f.arguments]
        if len(args) != 1:
            raise FilterError(f"{where}: CASEI takes one argument, not {len(args)}")
        inner = column(args[0], where)
        if inner is None:
            text = convert(args[0], PropertyType("text"), f"{where}: CASEI's argument")
            return _Column(func.lower(literal(text, String)), PropertyType("text"), f"CASEI({text!r})", False)
        if inner.type.kind != "text":
            raise FilterError(f"{where}: CASEI needs text; {inner.label} is {inner.type.describe()}")
        return _Column(func.lower(inner.sql), PropertyType("text"), f"CASEI({inner.label})", False)

    def typed(value: Any, side: _Column, where: str) -> Any:
        return convert(value, side.type, f"{where}: {side.label}")

    def comparison(n) -> ColumnElement:
        symbol, op = _COMPARISONS[type(n)]
        where = f"'{symbol}'"
        left, right = column(n.lhs, where), column(n.rhs, where)
        if left is None and right is None:
            kinds = {_literal_kind(n.lhs), _literal_kind(n.rhs)}
            if None in kinds or len(kinds) != 1:
                raise FilterError(f"{where}: cannot compare {_describe(n.lhs)} with {_describe(n.rhs)}")
            a, b = (
                v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and not v.tzinfo else v for v in (n.lhs, n.rhs)
            )
            return true() if op(a, b) else false()
        for side in (left, right):
            if side is not None and side.type.kind == "other":
                raise FilterError(f"{where}: {side.label} cannot be compared in filters (only IS NULL applies)")
            if side is not None and side.type.kind == "bool" and symbol not in ("=", "<>"):
                raise FilterError(f"{where}: {side.label} is a boolean; compare it with = or <>")
        if left is not None and right is not None:
            numeric = {"int", "float"}
            if left.type.kind != right.type.kind and not {left.type.kind, right.type.kind} <= numeric:
                raise FilterError(
                    f"{where}: cannot compare {left.label} ({left.type.describe()}) "
                    f"with {right.label} ({right.type.describe()})"
                )
            return op(left.sql, right.sql)
        side, value, op = (left, n.rhs, op) if left is not None else (right, n.lhs, _MIRRORED[op])
        value = typed(value, side, where)
        if side.bare and symbol in ("=", "<>"):
            _check_code(value, side.type, f"{where}: {side.label}")
        return op(side.sql, value)

    def like(n: ast.Like) -> ColumnElement:
        where = "LIKE"
        lhs = column(n.lhs, where)
        if lhs is None or lhs.type.kind != "text":
            what = _describe(n.lhs) if lhs is None else f"{lhs.label} ({lhs.type.describe()})"
            raise FilterError(f"LIKE needs a text property on the left (e.g. name LIKE 'Zeche%'), not {what}")
        pattern, lowered = n.pattern, False
        if isinstance(pattern, ast.Function) and str(pattern.name).lower() in _CASEI:
            args = pattern.arguments if isinstance(pattern.arguments, list | tuple) else [pattern.arguments]
            pattern, lowered = (args[0] if len(args) == 1 else args), True
        if not isinstance(pattern, str):
            raise FilterError(
                f"LIKE: the pattern must be text in single quotes (e.g. 'Zeche%'), not {_describe(pattern)}"
            )
        _checked_text(pattern, "LIKE: the pattern")
        trailing = len(pattern) - len(pattern.rstrip("\\"))
        if trailing % 2:
            raise FilterError("LIKE: the pattern ends in a lone escape character \\ (write \\\\ for a backslash)")
        right = func.lower(literal(pattern, String)) if lowered else literal(pattern, String)
        expr = lhs.sql.ilike(right, escape="\\") if n.nocase else lhs.sql.like(right, escape="\\")
        return not_(expr) if n.not_ else expr

    def in_(n: ast.In) -> ColumnElement:
        lhs = column(n.lhs, "IN")
        if lhs is None:
            raise FilterError(
                f"IN needs a property on the left (e.g. category IN ('bauluecke')), not {_describe(n.lhs)}"
            )
        if lhs.type.kind == "other":
            raise FilterError(f"IN: {lhs.label} cannot be compared in filters (only IS NULL applies)")
        items = n.sub_nodes
        if not isinstance(items, list | tuple):
            raise FilterError(f"IN: the values must be a list, not {_describe(items)}")
        if len(items) > MAX_IN_ITEMS:
            raise FilterError(f"IN: {len(items):,} values; at most {MAX_IN_ITEMS} are accepted")
        converted = []
        for item in items:
            if column(item, "IN") is not None:
                raise FilterError(f"IN: the list takes values, not {_describe(item)}")
            value = typed(item, lhs, "IN")
            if lhs.bare:
                _check_code(value, lhs.type, f"IN: {lhs.label}")
            converted.append(value)
        expr = lhs.sql.in_(converted)
        return not_(expr) if n.not_ else expr

    def between(n: ast.Between) -> ColumnElement:
        lhs = column(n.lhs, "BETWEEN")
        if lhs is None or lhs.type.kind not in ("int", "float", "date", "datetime", "text"):
            what = _describe(n.lhs) if lhs is None else f"{lhs.label} ({lhs.type.describe()})"
            raise FilterError(f"BETWEEN needs a property of numbers, dates or text on the left, not {what}")
        for bound in (n.low, n.high):
            if column(bound, "BETWEEN") is not None:
                raise FilterError(f"BETWEEN: the bounds must be values, not {_describe(bound)}")
        low, high = typed(n.low, lhs, "BETWEEN"), typed(n.high, lhs, "BETWEEN")
        expr = lhs.sql.between(low, high)
        return not_(expr) if n.not_ else expr

    def is_null(n: ast.IsNull) -> ColumnElement:
        if isinstance(n.lhs, ast.Attribute) and n.lhs.name in _GEOMETRY_NAMES:
            expr = geometry.is_(None)
        else:
            lhs = column(n.lhs, "IS NULL")
            if lhs is None:
                raise FilterError(f"IS NULL needs a property, not {_describe(n.lhs)}")
            expr = lhs.sql.is_(None)
        return not_(expr) if n.not_ else expr

    def spatial_side(v: Any, name: str, may_cut: bool) -> ColumnElement:
        if isinstance(v, ast.Attribute) and v.name in _GEOMETRY_NAMES:
            return geometry
        if isinstance(v, values.Geometry | values.Envelope) or (
            isinstance(v, ast.Function) and str(v.name).lower() == "bbox"
        ):
            return _geometry_literal(v, filter_srid, flip, name, may_cut)
        if isinstance(v, ast.Attribute):
            side = column(v, name)
            raise FilterError(f"{name} compares geometries; {side.label} is {side.type.describe()}")
        raise FilterError(f"{name} compares geometries (geom, WKT, GeoJSON or BBOX(…)), not {_describe(v)}")

    def spatial(n) -> ColumnElement:
        name, sql_function = _SPATIAL[type(n)]
        may_cut = isinstance(n, _MAY_CUT)
        return getattr(func, sql_function)(spatial_side(n.lhs, name, may_cut), spatial_side(n.rhs, name, may_cut))

    def bbox_predicate(n: ast.BBox) -> ColumnElement:
        srid, lat_first = filter_srid, flip
        if n.crs is not None:
            if n.crs not in CRSS:
                raise FilterError(f"BBOX: the CRS {_short(n.crs)} is not supported; use one of {', '.join(CRSS)}")
            srid, lat_first = CRSS[n.crs]
        box = ast.Function("bbox", [n.minx, n.miny, n.maxx, n.maxy])
        lhs = spatial_side(n.lhs, "BBOX", True)
        return func.ST_Intersects(lhs, _geometry_literal(box, srid, lat_first, "BBOX", True))

    def walk(n) -> ColumnElement:  # recursion bounded by check_size
        if isinstance(n, ast.And | ast.Or):
            combine = and_ if isinstance(n, ast.And) else or_
            return combine(*(walk(operand) for operand in _chain(n)))
        if isinstance(n, ast.Not):
            return not_(walk(n.sub_node))
        if type(n) in _COMPARISONS:
            return comparison(n)
        if isinstance(n, ast.Like):
            return like(n)
        if isinstance(n, ast.In):
            return in_(n)
        if isinstance(n, ast.Between):
            return between(n)
        if isinstance(n, ast.IsNull):
            return is_null(n)
        if type(n) in _SPATIAL:
            return spatial(n)
        if isinstance(n, ast.BBox):
            return bbox_predicate(n)
        if isinstance(n, ast.Include):
            return false() if n.not_ else true()
        if isinstance(n, bool):
            return true() if n else false()
        if isinstance(n, ast.TemporalPredicate):
            raise FilterError(
                f"{type(n).__name__}: temporal operators are not supported; compare dates with <, >, = or BETWEEN"
            )
        if isinstance(n, ast.Node):
            raise FilterError(f"{_describe(n)} is not supported in filters")
        raise FilterError(f"{_describe(n)} is not a condition; a filter compares properties with values")

    return walk(node)
