"""Property-based fuzzing of the CQL2 filter and the items query parameters, through the real app.

Hypothesis generates CQL2-text and CQL2-JSON filters (random trees over the parcel queryables with
literals of the right and the wrong type, random operators and nesting, and random junk), random
values for every items parameter, and tile requests with and without a filter. The property: never
a 5xx, and a 400 always has the one error body (``detail``: a non-empty text, ``status``: 400).

``LANDREG_FUZZ_EXAMPLES`` sets the examples per test (default 300, about 10 s per test here); the
benchmark tier runs a few thousand. Each 500 the fuzzing found is kept below as an explicit example.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import morecantile
import pytest
import shapely
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from landreg import fields
from landreg.features import CRSS
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, record, utm

EXAMPLES = int(os.environ.get("LANDREG_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the working tree; a failure prints its example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
ITEMS = "/collections/parcels/items"
X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND_TILE = morecantile.tms.get("WebMercatorQuad").tile(*DORTMUND_REINOLDIKIRCHE, 13)


@pytest.fixture(scope="module")
def app(committed_engine):
    """A few parcels in Dortmund (one unpublished, with confidential values) and a token per role."""
    record(
        committed_engine,
        *[
            {
                "local_ref": f"F{i}",
                "name": ["Zeche Zollern", "Hafen 100%", "Grünfläche", "O'Brien \\ Co"][i],
                "category": ["bauluecke", "gewerbeflaeche", "industrieflaeche", "brachflaeche"][i],
                "restriction_class": i % 3,
                "data_date": dt.date(2020 + i, 1, 1),
                "publication_allowed": True,
                "contamination": "verdacht" if i == 0 else None,
                "geom": shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 50, Y0 + 40),
            }
            for i in range(4)
        ],
        {
            "local_ref": "HIDDEN",
            "category": "brachflaeche",
            "publication_allowed": False,
            "owner_contact": "Frau Geheim",
            "internal_notes": "nur intern",
            "geom": shapely.box(X0, Y0 + 200, X0 + 80, Y0 + 260),
        },
    )
    tokens = bearers(
        committed_engine, planner=("planer.do", "planner", ["05913000"]), ministry=("ministerium", "ministry")
    )
    with app_client(committed_engine) as client:
        yield client, [{}, tokens["planner"], tokens["ministry"]]


def check(response) -> None:
    """The property: no 5xx; a 400 has the one error body."""
    event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code == 400:
        body = response.json()
        assert body["status"] == 400 and isinstance(body["detail"], str) and body["detail"].strip(), body


# -- strategies: CQL2 text ------------------------------------------------------------------------

QUERYABLES = [f.name for f in fields.ALL if f.queryable]
NAMES = st.one_of(
    st.sampled_from(QUERYABLES),
    st.sampled_from(["geom", "geometry", "id", "nope", "owner_contact", '"name"', "area_m2.x"]),
    st.from_regex(r"[a-zA-Z][a-zA-Z_:0-9.]{1,12}", fullmatch=True),
)
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, 2, 32767, 32768, -32769, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
)
TEXTS = st.text(max_size=30)
DATES = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.sampled_from(["0000-01-01", "9999-12-31", "2024-02-30", "20240101", "2024-1-1", "tomorrow"]),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
)
TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=14))])).map(dt.datetime.isoformat),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2024-01-01T25:00:00Z"]),
)
LON = st.one_of(st.floats(7.4, 7.6), st.floats(-200, 200), st.sampled_from([-180, 180, 90, -90, 99, -81, 1e300]))
LAT = st.one_of(st.floats(51.4, 51.6), st.floats(-100, 100), st.sampled_from([-90, 90, 0, 85]))


def _number(value) -> str:
    return str(value) if isinstance(value, int) or math.isfinite(value) else "1e999"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "") + "'"  # pygeofilter knows no '' escape


@st.composite
def wkt(draw) -> str:
    points = draw(st.lists(st.tuples(LON, LAT), min_size=1, max_size=8))
    coords = ", ".join(f"{_number(x)} {_number(y)}" for x, y in points)
    kind = draw(st.sampled_from(["POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "BBOX", "ENVELOPE", "SRID"]))
    x, y = points[0]
    if kind == "POINT":
        return f"POINT({_number(x)} {_number(y)})"
    if kind == "LINESTRING":
        return f"LINESTRING({coords})"
    if kind == "POLYGON":
        ring = coords + f", {_number(x)} {_number(y)}"
        return f"POLYGON(({ring}))"
    if kind == "MULTIPOINT":
        return f"MULTIPOINT({coords})"
    if kind == "BBOX":
        return f"BBOX({', '.join(_number(v) for v in draw(st.lists(NUMBERS, min_size=3, max_size=7)))})"
    if kind == "ENVELOPE":
        return f"ENVELOPE({' '.join(_number(abs(v)) for v in draw(st.lists(NUMBERS, min_size=4, max_size=4)))})"
    srid = draw(st.sampled_from([4326, 3857, 25832, 9999]))
    return f"SRID={srid};POINT({_number(x)} {_number(y)})"


TEXT_VALUES = st.one_of(
    NUMBERS.map(_number),
    TEXTS.map(_quoted),
    st.sampled_from(["TRUE", "FALSE", "'bauluecke'", "'Zeche%'", "'\\'", "'%'", "'1'", "'2024-01-01'"]),
    DATES.map(lambda d: f"DATE('{d}')"),
    TIMESTAMPS.map(lambda t: f"TIMESTAMP('{t}')"),
    NAMES,
    wkt(),
)


@st.composite
def text_operand(draw) -> str:
    value = draw(TEXT_VALUES)
    wrapper = draw(st.sampled_from(["", "", "", "CASEI", "ACCENTI", "LOWER", "FOO", "-"]))
    if wrapper == "-":
        return f"-{value}"
    return f"{wrapper}({value})" if wrapper else value


def _predicate(draw, lhs: str, value) -> str:
    """One comparison, LIKE, IN, BETWEEN or IS NULL of ``lhs``, with literals from ``value()``."""
    form = draw(st.integers(0, 4))
    if form == 0:
        return f"{lhs} {draw(st.sampled_from(['=', '<>', '<', '<=', '>', '>=', '!=', 'eq', 'lt']))} {value()}"
    if form == 1:
        pattern = value()
        target = draw(st.sampled_from([lhs, f"CASEI({lhs})"]))
        return f"{target} {draw(st.sampled_from(['LIKE', 'NOT LIKE']))} {draw(st.sampled_from([pattern, f'CASEI({pattern})']))}"
    if form == 2:
        items = ", ".join(value() for _ in range(draw(st.integers(1, 5))))
        return f"{lhs} {draw(st.sampled_from(['IN', 'NOT IN']))} ({items})"
    if form == 3:
        return f"{lhs} {draw(st.sampled_from(['BETWEEN', 'NOT BETWEEN']))} {value()} AND {value()}"
    return f"{lhs} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"


@st.composite
def text_predicate(draw) -> str:
    """Any operator over any operands: mostly wrongly typed, often not CQL2 at all."""
    a, b, c = draw(text_operand()), draw(text_operand()), draw(text_operand())
    form = draw(st.integers(0, 8))
    if form == 0:
        op = draw(st.sampled_from(["S_INTERSECTS", "S_DISJOINT", "S_CONTAINS", "S_WITHIN", "S_EQUALS", "S_TOUCHES"]))
        first = draw(st.sampled_from(["geom", "geometry", a]))
        return f"{op}({first}, {b})"
    if form == 1:
        numbers = ", ".join(_number(v) for v in draw(st.lists(NUMBERS, min_size=4, max_size=4)))
        return f"BBOX({draw(st.sampled_from(['geom', a]))}, {numbers})"
    if form == 2:
        return draw(st.sampled_from(["INCLUDE", "EXCLUDE"]))
    if form == 3:
        return f"{a} {draw(st.sampled_from(['T_BEFORE', 'T_AFTER', 'T_INTERSECTS']))} {b}"
    if form == 4:
        return f"{a} {draw(st.sampled_from(['+', '-', '*', '/']))} {b} > {c}"
    if form == 5:  # the comparisons that were typed wrong most often, on the real queryables
        return f"{draw(st.sampled_from(QUERYABLES))} {draw(st.sampled_from(['=', '>', 'LIKE']))} {b}"
    if form == 6:
        return draw(typed_predicate())
    return _predicate(draw, a, lambda: draw(text_operand()))


def _typed_literal(draw, f: fields.Field) -> str:
    """A literal of the field's type (its codes, or values at and beyond the column's range)."""
    if f.codes is not None and draw(st.booleans()):
        return (
            _quoted(draw(st.sampled_from(f.codes.codes))) if f.kind == "code" else draw(st.sampled_from(f.codes.codes))
        )
    if f.kind in ("text", "code"):
        return _quoted(draw(st.one_of(TEXTS, st.sampled_from(["Zeche%", "%100\\%", "_", "\\", "Grünfläche"]))))
    if f.kind in ("smallint", "integer"):
        return str(draw(st.one_of(st.integers(-3, 3), st.sampled_from([32767, 32768, -32769, 2**31, -(2**31) - 1]))))
    if f.kind == "float":
        return _number(draw(st.one_of(st.floats(0, 1e5), st.floats(), st.just(2000.0))))
    if f.kind == "bool":
        return draw(st.sampled_from(["TRUE", "FALSE"]))
    return f"DATE('{draw(DATES)}')"


@st.composite
def typed_predicate(draw, mistakes: bool = True) -> str:
    """A queryable compared with literals of its type (and, with ``mistakes``, now and then of another)."""
    f = fields.field(draw(st.sampled_from(QUERYABLES)))
    wrong = mistakes and not draw(st.integers(0, 4))
    value = (lambda: draw(TEXT_VALUES)) if wrong else (lambda: _typed_literal(draw, f))
    if not draw(st.integers(0, 5)):
        return f"{draw(st.sampled_from(['S_INTERSECTS', 'S_DISJOINT', 'S_WITHIN', 'S_CONTAINS']))}(geom, {draw(wkt())})"
    return _predicate(draw, f.name, value)


@st.composite
def negated(draw) -> str:
    predicate = draw(text_predicate())
    return draw(st.sampled_from([predicate, predicate, f"NOT {predicate}", f"NOT ({predicate})"]))


TEXT_FILTERS = st.recursive(
    negated(),  # pygeofilter's grammar negates a predicate, not a parenthesised condition
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR", "and", "or"]), inner).map(" ".join),
        inner.map(lambda f: f"({f})"),
    ),
    max_leaves=12,
)
#: Trees of well-typed predicates, most of which reach SQL and run.
TYPED_FILTERS = st.recursive(
    typed_predicate(mistakes=False),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(" ".join),
        inner.map(lambda f: f"({f})"),
    ),
    max_leaves=8,
)
JUNK = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(["(", ")", "'", "name", "=", "AND", "OR", "NOT", "LIKE", "IN", ",", "1", "POINT", "geom", "%"]),
        max_size=20,
    ).map(" ".join),
)


# -- strategies: CQL2 JSON ------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and Infinity too: Python's json reads them
    st.text(max_size=20),
    st.booleans(),
    st.none(),
)


def _geometry_json(draw) -> dict:
    kind = draw(st.sampled_from(["Point", "LineString", "Polygon", "MultiPoint", "GeometryCollection", "Circle"]))
    point = draw(st.lists(st.one_of(LON, LAT, JSON_SCALARS), min_size=0, max_size=4))
    points = draw(st.lists(st.tuples(LON, LAT).map(list), min_size=0, max_size=6))
    coordinates = {"Point": point, "LineString": points, "MultiPoint": points, "Polygon": [points + points[:1]]}
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": [{"type": "Point", "coordinates": point}]}
    return {"type": kind, "coordinates": coordinates.get(kind, point)}


@st.composite
def json_value(draw):
    form = draw(st.integers(0, 8))
    if form == 0:
        return {"property": draw(st.one_of(NAMES, JSON_SCALARS))}
    if form == 1:
        return {"date": draw(st.one_of(DATES, JSON_SCALARS))}
    if form == 2:
        return {"timestamp": draw(st.one_of(TIMESTAMPS, JSON_SCALARS))}
    if form == 3:
        return _geometry_json(draw)
    if form == 4:
        return {"bbox": draw(st.lists(st.one_of(LON, LAT, JSON_SCALARS), max_size=7))}
    if form == 5:
        op = draw(st.sampled_from(["casei", "accenti", "lower", "foo"]))
        return {"op": op, "args": [draw(st.one_of(JSON_SCALARS, st.just({"property": "name"})))]}
    if form == 6:
        return draw(st.lists(JSON_SCALARS, max_size=4))
    return draw(JSON_SCALARS)


JSON_OPERATORS = [
    "=", "<>", "<", ">=", "like", "in", "between", "isNull", "s_intersects", "s_within", "s_contains",
    "t_before", "a_contains", "+", "casei", "accenti", "nope",
]  # fmt: skip


@st.composite
def json_predicate(draw) -> dict:
    op = draw(st.sampled_from(JSON_OPERATORS))
    args = draw(st.lists(json_value(), min_size=1, max_size=4))
    if op == "in" and args and draw(st.booleans()):
        args = [args[0], draw(st.lists(json_value(), max_size=4))]
    if op == "between" and draw(st.booleans()):
        args = [{"property": draw(st.sampled_from(QUERYABLES))}, *args[:2]]
    return {"op": op, "args": args}


def _typed_json(draw, f: fields.Field):
    """A CQL2-JSON literal of the field's type (its codes, values at and beyond the column's range)."""
    if f.codes is not None and draw(st.booleans()):
        code = draw(st.sampled_from(f.codes.codes))
        return code if f.kind == "code" else int(code)
    if f.kind in ("text", "code"):
        return draw(st.one_of(TEXTS, st.sampled_from(["Zeche%", "Hafen 100\\%", "_", "\\"])))
    if f.kind in ("smallint", "integer"):
        return draw(st.one_of(st.integers(-3, 3), st.sampled_from([32767, 32768, -32769, 2**31, -(2**31) - 1])))
    if f.kind == "float":
        return draw(st.one_of(st.floats(0, 1e5), st.floats(), st.just(2000)))
    if f.kind == "bool":
        return draw(st.booleans())
    return {"date": draw(DATES)}


@st.composite
def typed_json_predicate(draw) -> dict:
    f = fields.field(draw(st.sampled_from(QUERYABLES)))
    prop = {"property": f.name}
    form = draw(st.integers(0, 5))
    if form == 0:
        return {"op": draw(st.sampled_from(["=", "<>", "<", ">="])), "args": [prop, _typed_json(draw, f)]}
    if form == 1:
        return {"op": "in", "args": [prop, [_typed_json(draw, f) for _ in range(draw(st.integers(0, 4)))]]}
    if form == 2:
        return {"op": "between", "args": [prop, _typed_json(draw, f), _typed_json(draw, f)]}
    if form == 3:
        casei = draw(st.booleans())
        lhs, pattern = prop, _typed_json(draw, f)
        if casei:
            lhs, pattern = {"op": "casei", "args": [lhs]}, {"op": "casei", "args": [pattern]}
        return {"op": "like", "args": [lhs, pattern]}
    if form == 4:
        shape = _geometry_json(draw) if draw(st.booleans()) else {"bbox": [draw(LON), draw(LAT), draw(LON), draw(LAT)]}
        return {
            "op": draw(st.sampled_from(["s_intersects", "s_disjoint", "s_within"])),
            "args": [{"property": "geom"}, shape],
        }
    return {"op": "isNull", "args": [prop]}


JSON_FILTERS = st.recursive(
    st.one_of(json_predicate(), typed_json_predicate(), typed_json_predicate()),
    lambda inner: st.one_of(
        st.builds(
            lambda op, args: {"op": op, "args": args},
            st.sampled_from(["and", "or"]),
            st.lists(inner, min_size=1, max_size=4),
        ),
        inner.map(lambda f: {"op": "not", "args": [f]}),
        inner.map(lambda f: {"op": "not", "args": f}),
    ),
    max_leaves=12,
).map(json.dumps)


# -- strategies: items query parameters ----------------------------------------------------------

CRS_VALUES = st.one_of(st.sampled_from(list(CRSS)), st.sampled_from(["EPSG:4326", "", "crs84"]), st.text(max_size=10))
NUMBER_TEXT = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e999", " 5", "0x10", "1_000"]),
    st.text(max_size=8),
)


@st.composite
def bbox_text(draw) -> str:
    if draw(st.booleans()):  # a box around the parcels, in CRS84 (or swapped, or in another CRS: refused or empty)
        lon, lat = draw(st.floats(7.0, 7.9)), draw(st.floats(51.3, 51.7))
        size = draw(st.floats(0, 2))
        return ",".join(map(_number, [lon - size, lat - size, lon + size, lat + size]))
    values = draw(st.lists(st.one_of(LON.map(_number), LAT.map(_number), NUMBER_TEXT), min_size=3, max_size=7))
    return ",".join(values)


SORT_KEYS = st.tuples(st.sampled_from(["", "+", "-"]), st.one_of(st.sampled_from([*QUERYABLES, "id"]), NAMES))
PARAMETERS = {  # each: a value that is mostly valid, or anything
    "limit": st.one_of(st.integers(1, 10_000).map(str), NUMBER_TEXT),
    "offset": st.one_of(st.integers(0, 10**9).map(str), NUMBER_TEXT),
    "bbox": bbox_text(),
    "bbox-crs": CRS_VALUES,
    "crs": CRS_VALUES,
    "datetime": st.one_of(TIMESTAMPS, DATES, st.text(max_size=12), st.just("2020-01-01/2024-01-01")),
    "sortby": st.lists(SORT_KEYS.map("".join), max_size=3).map(",".join),
    "properties": st.lists(st.one_of(st.sampled_from(QUERYABLES), NAMES), max_size=4).map(",".join),
    "f": st.sampled_from(["json", "html", "csv", "xml", ""]),
    "filter": st.one_of(TYPED_FILTERS, TEXT_FILTERS, JSON_FILTERS),
    "filter-lang": st.sampled_from(["cql2-text", "cql2-json", "cql-text", "sql"]),
    "filter-crs": CRS_VALUES,
}


@st.composite
def items_parameters(draw) -> dict:
    """Some of the items parameters, and equality filters on queryables with random text."""
    params = {name: draw(PARAMETERS[name]) for name in draw(st.sets(st.sampled_from(list(PARAMETERS)), max_size=4))}
    for name in draw(st.lists(st.sampled_from(QUERYABLES), max_size=3, unique=True)):
        f = fields.field(name)
        typed = st.sampled_from(f.codes.codes) if f.codes else st.sampled_from(["1", "true", "2024-01-01", "Zeche"])
        params[name] = draw(st.one_of(typed, st.text(max_size=20), NUMBER_TEXT, DATES))
    return params


# -- the properties -------------------------------------------------------------------------------


@FUZZ
@given(text=st.one_of(TYPED_FILTERS, TEXT_FILTERS, JUNK), who=st.integers(0, 2), crs=st.sampled_from([None, *CRSS]))
@example(text=" OR ".join(["version = 1"] * 1000), who=0, crs=None)  # was a 500: RecursionError
@example(text="area_m2 = 'abc'", who=0, crs=None)  # was a 500: double precision = character varying
@example(text="data_date > 5", who=0, crs=None)  # was a 500: date > integer
@example(text="is_sample = 'x'", who=0, crs=None)  # was a 500: boolean = character varying
@example(text="area_m2 LIKE '1%'", who=0, crs=None)  # was a 500: double precision ~~ character varying
@example(text="version < ''", who=0, crs=None)  # was a 500 (found by this fuzzing): integer < character varying
@example(text="name LIKE 5", who=0, crs=None)  # was a 500: AttributeError on the pattern
@example(text="CASEI(name) LIKE CASEI('x%')", who=0, crs=None)  # was a 500: AttributeError
@example(text="restriction_class = 40000", who=0, crs=None)  # out of range: as ?restriction_class=40000, a 500
@example(text="version > 99999999999", who=0, crs=None)
@example(text="FOO(name) = 'x'", who=0, crs=None)
@example(text="name LIKE 'Zeche\\'", who=0, crs=None)  # was a 500: LIKE pattern must not end with escape character
@example(text="S_INTERSECTS(geom, POINT(90 0))", who=0, crs=None)  # was a 500: outside the projection domain
@example(text="S_INTERSECTS(geom, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", who=0, crs=None)
@example(text="S_INTERSECTS(geom, LINESTRING(1 1))", who=0, crs=None)
@example(text="S_INTERSECTS(geom, POINT(7.47 51.51))", who=0, crs="http://www.opengis.net/def/crs/EPSG/0/3857")
def test_items_with_cql2_text_filters_never_fail(app, text, who, crs):
    client, headers = app
    params = {"filter": text} | ({"filter-crs": crs} if crs else {})
    check(client.get(ITEMS, params=params, headers=headers[who]))


@FUZZ
@given(document=JSON_FILTERS, who=st.integers(0, 2))
@example(document='{"op": "=", "args": [{"property": "name"}, "a\\u0000b"]}', who=0)  # was a 500: NUL in text
@example(document='{"op": "=", "args": [{"property": "name"}, "\\ud800"]}', who=0)  # was a 500: UnicodeEncodeError
@example(document='{"op": "=", "args": [{"property": [1]}, 1]}', who=0)  # was a 500: unhashable list
@example(document='{"op": "like", "args": [{"property": "name"}, 5]}', who=0)  # was a 500: AttributeError
@example(document='{"op": "in", "args": [{"property": "version"}, "abc"]}', who=0)  # was a 500: integer = varchar
@example(
    document='{"op": ">", "args": [{"property": "data_date"}, {"timestamp": "tomorrow"}]}', who=0
)  # was read as a date
@example(  # was a 500: "Invalid coordinate" (pygeofilter read the bbox in the wrong axis order)
    document=json.dumps({"op": "s_intersects", "args": [{"property": "geom"}, {"bbox": [-180, -90, 180, 90]}]}), who=0
)
# the distinct 500s this fuzzing found in the code before (each an example of its own)
@example(document='{"op": "=", "args": [{"property": "ags"}, [0, 0.0]]}', who=0)  # cannot dump lists of mixed types
@example(document='{"op": "=", "args": [{"property": "data_date"}, []]}', who=0)  # invalid input for type date: "{}"
@example(document='{"op": "=", "args": [{"property": "restriction_class"}, []]}', who=0)  # ... for type smallint
@example(document='{"op": "=", "args": [{"property": "ags"}, true]}', who=0)  # character = boolean
@example(
    document='{"op": ">", "args": [{"property": "data_date"}, {"timestamp": ""}]}', who=0
)  # IndexError: no message
@example(document='{"op": "like", "args": [{"property": "name"}, {"property": "name"}]}', who=0)  # AttributeError
@example(document="[" * 5000 + "]" * 5000, who=0)
@example(document='"abc"', who=0)
def test_items_with_cql2_json_filters_never_fail(app, document, who):
    client, headers = app
    check(client.get(ITEMS, params={"filter": document, "filter-lang": "cql2-json"}, headers=headers[who]))


@FUZZ
@given(params=items_parameters(), who=st.integers(0, 2))
@example(params={"bbox": "90,0,91,1"}, who=0)  # was a 500: outside the projection domain
@example(params={"bbox": "-180,-90,180,90"}, who=0)  # was 200 with no parcels: the box collapsed
@example(params={"restriction_class": "40000"}, who=0)  # was a 500: 40000::SMALLINT
@example(params={"name": "Zeche\x00"}, who=0)  # was a 500: NUL in text
@example(params={"data_date": "9999-12-31", "datetime": "0001-01-01T00:00:00+14:00"}, who=0)
def test_items_parameters_never_fail(app, params, who):
    client, headers = app
    check(client.get(ITEMS, params=params, headers=headers[who]))


@FUZZ
@given(
    dx=st.one_of(st.integers(-2, 2), st.integers(-(2**40), 2**40)),
    dy=st.integers(-2, 2),
    filter_=st.one_of(st.none(), TYPED_FILTERS, TEXT_FILTERS, JSON_FILTERS, JUNK),
    lang=st.sampled_from([None, "cql2-text", "cql2-json", "sql"]),
    who=st.integers(0, 2),
)
@example(dx=0, dy=0, filter_="S_INTERSECTS(geom, POINT(90 0))", lang=None, who=0)
@example(dx=0, dy=0, filter_="version < ''", lang=None, who=0)  # was a 500 (found by this fuzzing)
def test_tiles_with_and_without_filters_never_fail(app, dx, dy, filter_, lang, who):
    client, headers = app
    url = f"/collections/parcels/tiles/WebMercatorQuad/13/{DORTMUND_TILE.y + dy}/{DORTMUND_TILE.x + dx}"
    params = {}
    if filter_ is not None:
        params["filter"] = filter_
    if lang is not None:
        params["filter-lang"] = lang
    check(client.get(url, params=params, headers=headers[who]))
