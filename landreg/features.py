"""Feature collections of the registry and their queries, as the OGC API needs them.

Each collection says which properties exist, which of them the public may see and query, and
builds one SQL statement per request: filters (bbox, CQL2, datetime) and paging run in
PostGIS, and PostGIS writes the GeoJSON of every feature. Parcels are answered from their
history when a datetime is given ("as of that date").
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import (
    JSON,
    Connection,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    null,
    select,
    table,
    text,
    true,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from landreg import STORAGE_SRID, fields, rules
from landreg.access import PUBLIC, View, sees_confidential, still_approved, visible_rows, visible_versions
from landreg.errors import InvalidParameter
from landreg.importer.crs import degrees_like
from landreg.models import ContextFeature, Municipality, Parcel, ParcelVersion
from landreg.quality import QUALITY
from landreg.safeguarding.abstand import abstand_columns
from landreg.scoring.visible import INDICATOR
from landreg.vocab import CONTEXT_KIND

# Output CRSs: URI -> (SRID, whether the URI's axis order is latitude first)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRSS = {
    CRS84: (4326, False),
    "http://www.opengis.net/def/crs/EPSG/0/4326": (4326, True),
    "http://www.opengis.net/def/crs/EPSG/0/25832": (25832, False),
    "http://www.opengis.net/def/crs/EPSG/0/3857": (3857, False),
}
DIGITS = {4326: 7, 25832: 2, 3857: 2}
#: Where each CRS is defined (x min, y min, x max, y max): a bbox outside is refused, not transformed.
_CRS_BOUNDS = {
    4326: (-180.0, -90.0, 180.0, 90.0),
    3857: (-20037508.35, -20048966.11, 20037508.35, 20048966.11),
    25832: (-2_000_000.0, 0.0, 3_000_000.0, 10_000_000.0),
}


def degrees_in_metres(srid: int, x1: float, y1: float, x2: float, y2: float) -> str | None:
    """Why coordinates look like longitude and latitude although their CRS counts metres (EPSG:25832,
    3857): all of them within ±180/±90, a spot of a few hundred metres in the Gulf of Guinea, where the
    register has nothing. None: they do not. A search there would answer "nothing here" with
    confidence for what is a CRS mix-up."""
    if srid == 4326 or not degrees_like((x1, x2), (y1, y2)):
        return None
    return (
        f"the coordinates look like degrees (longitude, latitude), but EPSG:{srid} counts metres: give them "
        "in metres, or in CRS84 (the default) without naming a CRS"
    )


class QueryError(InvalidParameter):
    """A query parameter that cannot be answered; the message names it."""


@dataclass(frozen=True)
class Collection:
    id: str
    title_de: str
    title_en: str
    description: str
    item_type: str = "feature"

    @property
    def is_parcels(self) -> bool:
        return self.id == "parcels"

    def title(self, lang: str = "de") -> str:
        return self.title_en if lang == "en" else self.title_de


COLLECTIONS: dict[str, Collection] = {
    "parcels": Collection(
        "parcels",
        "Flächen",
        "Parcels",
        "Brachflächen, Baulücken, Gewerbe- und Industrieflächen des Registers (EPSG:25832)",
    ),
    "municipalities": Collection(
        "municipalities",
        "Gemeinden",
        "Municipalities",
        "Gemeinden in NRW mit Gemeindeschlüssel (AGS); GeoBasis NRW DVG2, dl-de/zero-2-0",
    ),
    **{
        kind: Collection(kind, de, en, f"Kontextlayer für die Bewertung: {de} / context layer: {en}")
        for kind, (de, en) in CONTEXT_KIND.labels.items()
    },
}


def listed_collections(conn: Connection) -> list[Collection]:
    """Parcels, municipalities and the context layers that hold features."""
    loaded = set(
        conn.execute(
            text("""SELECT k FROM unnest(CAST(:kinds AS text[])) AS k
                     WHERE EXISTS (SELECT FROM context_feature WHERE kind = k)"""),  # one index probe per kind
            {"kinds": list(CONTEXT_KIND.codes)},
        ).scalars()
    )
    return [c for c in COLLECTIONS.values() if c.id not in CONTEXT_KIND.codes or c.id in loaded]


@dataclass
class Source:
    """What a request reads: a subquery with ``id``, ``geom`` and the visible properties."""

    query: Select
    properties: dict[str, ColumnElement]  # name -> column of the subquery (visible = queryable)
    id_column: ColumnElement
    geometry: ColumnElement
    #: The row's version, for joins with what is stored per version (scores, indicators), whether
    #: or not the view may see it (parcels only).
    version_column: ColumnElement | None = None


def _subquery(
    columns: dict[str, ColumnElement], where, id_col: ColumnElement, geom: ColumnElement, table, version=None
) -> Source:
    extra = [version.label("row_version")] if version is not None else []
    sub = (
        select(id_col.label("id"), geom.label("geom"), *[c.label(n) for n, c in columns.items()], *extra)
        .select_from(table)
        .where(where)
        .subquery("src")
    )
    return Source(sub, {n: sub.c[n] for n in columns}, sub.c.id, sub.c.geom, sub.c.row_version if extra else None)


#: The layer a context feature belongs to (landreg.context), named with each feature.
_LAYER = table("context_layer", column("id"), column("name", String))
_LAYER_OF_FEATURE = (
    select(_LAYER.c.name).where(_LAYER.c.id == literal_column("context_feature.layer_id")).scalar_subquery()
)


def source(
    collection: Collection,
    view: View,
    at: dt.datetime | None = None,
    include_retired: bool = False,
    own_only: bool = False,
    part: str | None = None,
) -> Source:
    """The rows of a collection the ``view`` may see, with the fields it may see (see
    :mod:`landreg.access`); ``at``: parcels as of that instant, from their history;
    ``include_retired``: retired parcels too, where the view may see them; ``own_only``: current
    parcels of a planner's own municipalities only; ``part``: one kind of the rows only (see
    :func:`landreg.access.visible_rows`).

    Without ``at`` the construct is built once per collection and view and reused: building it
    costs more Python time than a small query costs the database.
    """
    if at is None:
        return _current_source(collection.id, view, include_retired, own_only, part)
    return _build_source(collection, view, at)


@lru_cache(maxsize=256)
def _current_source(
    collection_id: str, view: View, include_retired: bool, own_only: bool = False, part: str | None = None
) -> Source:
    return _build_source(COLLECTIONS[collection_id], view, None, include_retired, own_only, part)


def _parcel_columns(view: View, table, current: bool) -> dict[str, ColumnElement]:
    """The parcel fields the view may see, in registry order: confidential ones only where the view
    sees the row's confidential facts (NULL elsewhere), none at all in the public view; ``table``:
    the rows of :func:`landreg.access.visible_rows` (``current``) or of a past instant's versions."""
    own = sees_confidential(view, table.ags)
    columns: dict[str, ColumnElement] = {}
    for f in (fields.AGS, *fields.ATTRIBUTES, fields.field("area_m2"), fields.field("version")):
        value = getattr(table, f.name)
        if f.confidential:
            if view.kind == "public":
                continue
            if view.kind == "planner":
                value = case((own, value), else_=null())
        columns[f.name] = value
    if view.kind != "public":  # the publication state of now (a version has none of its own)
        since = table.public_since if current else null()
        columns["public_since"] = since if view.kind == "full" else case((own, since), else_=null())
    return columns


def _build_source(
    collection: Collection,
    view: View,
    at: dt.datetime | None,
    include_retired: bool = False,
    own_only: bool = False,
    part: str | None = None,
) -> Source:
    if collection.is_parcels:
        table = ParcelVersion if at is not None else visible_rows(view, include_retired, own_only, part).c
        key = table.parcel_id if at is not None else table.id
        columns = _parcel_columns(view, table, at is None)
        # the Abstand class from the distance to housing of the version shown (indicators are kept
        # for the versions someone sees, none for past ones); one outer join, dropped when unused
        distance = INDICATOR.c.dist_residential_m if at is None else null()
        name, number = abstand_columns(distance)
        columns["abstand_class_possible"], columns["abstand_class_possible_number"] = name, cast(number, Integer)
        # public on purpose (see the field registry): suspected or investigated, not which
        columns["contamination_flag"] = rules.contamination_suspected(table)
        # the data quality of the current version (landreg.quality), confidential like the fields it
        # counts: another outer join dropped when unused; none for past versions
        if view.kind != "public":
            current = at is None
            score = cast(QUALITY.c.score if current else null(), Integer)
            findings = func.array_to_string(QUALITY.c.findings, ",", type_=String) if current else cast(null(), String)
            if view.kind == "planner":
                own = sees_confidential(view, table.ags)
                score, findings = case((own, score), else_=null()), case((own, findings), else_=null())
            columns["quality_score"], columns["quality_findings"] = score, findings
        if at is None:  # the rows the view sees, each with its indicators and quality if current
            rows = INDICATOR.joined(table.id.table, key, table.version).outerjoin(
                QUALITY, (QUALITY.c.parcel_id == key) & (QUALITY.c.parcel_version == table.version)
            )
            return _subquery(columns, true(), key, table.geom, rows, table.version)
        period = and_(
            ParcelVersion.valid_from <= at,
            ParcelVersion.valid_to.is_(None) | (ParcelVersion.valid_to > at) | still_approved(view, ParcelVersion),
        )
        where = and_(period, visible_versions(view, ParcelVersion, Parcel))
        return _subquery(columns, where, ParcelVersion.parcel_id, ParcelVersion.geom, ParcelVersion, table.version)
    if collection.id == "municipalities":
        columns = {
            "ags": Municipality.ags,
            "name": Municipality.name,
            "district_ags": Municipality.district_ags,
            "district_name": Municipality.district_name,
            "region": Municipality.region,
        }
        return _subquery(columns, true(), Municipality.ags, Municipality.geom, Municipality)
    columns = {
        "name": ContextFeature.name,
        "layer": _LAYER_OF_FEATURE,
        "source": ContextFeature.source,
        "attributes": ContextFeature.attributes,
    }
    return _subquery(
        columns,
        ContextFeature.kind == collection.id,
        ContextFeature.id,
        ContextFeature.geom,
        ContextFeature,
    )


def output_geometry(geom: ColumnElement, srid: int, flip: bool) -> ColumnElement:
    out = func.ST_Transform(geom, srid) if srid != STORAGE_SRID else geom
    return func.ST_FlipCoordinates(out) if flip else out


def feature_json(src: Source, srid: int, flip: bool, properties: list[str] | None = None) -> ColumnElement:
    """A GeoJSON Feature, written by PostGIS."""
    names = properties if properties is not None else list(src.properties)
    pairs = []
    for name in names:
        pairs += [literal(name), src.properties[name]]
    return func.json_build_object(
        "type",
        "Feature",
        "id",
        cast(src.id_column, String),
        "geometry",
        cast(func.ST_AsGeoJSON(output_geometry(src.geometry, srid, flip), DIGITS[srid]), JSON),
        "properties",
        func.json_build_object(*pairs),
    )


def feature_id(collection: Collection, value: str):
    """A feature id from a URL in the type of the collection's key; None when it cannot be one
    (a number outside the range the lookup binds, the ORM's Integer, is no feature's id)."""
    try:
        if collection.is_parcels:
            return uuid.UUID(value)
        if collection.id == "municipalities":
            return value
        number = int(value)
    except ValueError:
        return None
    return number if -(2**31) <= number < 2**31 else None


def bbox_numbers(bbox: list[float], srid: int, flip: bool) -> tuple[float, float, float, float]:
    """A bbox parameter as x1, y1, x2, y2 in the CRS's x/y order (a 3D bbox's heights dropped),
    checked against the CRS's bounds."""
    if len(bbox) == 6:  # 3D bbox: the height is ignored
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    x1, y1, x2, y2 = bbox
    if flip:
        x1, y1, x2, y2 = y1, x1, y2, x2
    limits = _CRS_BOUNDS.get(srid)
    if limits is not None and not (limits[0] <= x1 <= x2 <= limits[2] and limits[1] <= y1 <= y2 <= limits[3]):
        raise QueryError(
            f"bbox: {bbox} must lie within {limits} of EPSG:{srid} (minimum before maximum on each axis)", "bbox"
        )
    if (why := degrees_in_metres(srid, x1, y1, x2, y2)) is not None:
        raise QueryError(f"bbox: {bbox}: {why} (bbox-crs)", "bbox")
    return x1, y1, x2, y2


def envelope_filter(src: Source, numbers, srid: int) -> ColumnElement:
    """Features intersecting the box ``numbers`` (x1, y1, x2, y2: values or slots) of EPSG:``srid``."""
    envelope = func.ST_Transform(func.ST_MakeEnvelope(*numbers, srid), STORAGE_SRID)
    return func.ST_Intersects(src.geometry, envelope)


def sort_clauses(src: Source, sortby: str | None) -> list:
    clauses = []
    for key in (sortby or "").split(","):
        key = key.strip()
        if not key:
            continue
        descending = key.startswith("-")
        name = key.lstrip("+-")
        if name not in src.properties and name != "id":
            raise QueryError(f"cannot sort by {name!r}; sortable: id, {', '.join(sorted(src.properties))}")
        column = src.id_column if name == "id" else src.properties[name]
        clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
    return clauses + [src.id_column]


def extent(conn: Connection, collection: Collection) -> list[float] | None:
    """The collection's bbox in CRS84 (over all features; small, so no confidentiality issue)."""
    src = source(collection, PUBLIC)
    box = conn.execute(select(func.ST_Extent(func.ST_Transform(src.geometry, 4326)))).scalar_one()
    if not box:
        return None
    numbers = box[box.index("(") + 1 : -1].replace(",", " ").split()
    return [round(float(v), 6) for v in numbers]


def queryables_schema(collection: Collection, view: View, lang: str = "de") -> dict:
    """The JSON Schema of what the view may filter on; parcel fields with their registry labels and
    code lists."""
    src = source(collection, view)
    props: dict = {
        "geom": {
            "title": "Geometrie / geometry",
            "format": "geometry-any",
            "$ref": "https://geojson.org/schema/Geometry.json",
        }
    }
    for name, value in src.properties.items():
        declared = fields.field(name) if collection.is_parcels else None
        if declared is not None:
            python_type = declared.python_type
        else:
            try:
                python_type = value.type.python_type
            except NotImplementedError:
                python_type = dict
        json_type = {int: "integer", float: "number", bool: "boolean", dict: "object"}.get(python_type, "string")
        entry: dict = {"title": declared.label(lang) if declared else name, "type": json_type}
        if python_type in (dt.date, dt.datetime):
            entry["format"] = "date" if python_type is dt.date else "date-time"
        if declared is not None and declared.codes is not None:
            codes = declared.codes.codes
            entry["enum"] = [int(c) for c in codes] if python_type is int else list(codes)
        if declared is not None and declared.description:
            entry["description"] = declared.description
        props[name] = entry
    return {"type": "object", "title": collection.title(lang), "properties": props, "additionalProperties": False}
