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
from functools import cache

from sqlalchemy import (
    JSON,
    Connection,
    Integer,
    String,
    and_,
    cast,
    column,
    func,
    literal,
    null,
    select,
    table,
    text,
    true,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from landreg import STORAGE_SRID
from landreg.models import ContextFeature, Municipality, Parcel, ParcelVersion
from landreg.safeguarding import abstand_columns
from landreg.vocab import CONTEXT_KIND, PARCEL_CODE_FIELDS

# Output CRSs: URI -> (SRID, whether the URI's axis order is latitude first)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRSS = {
    CRS84: (4326, False),
    "http://www.opengis.net/def/crs/EPSG/0/4326": (4326, True),
    "http://www.opengis.net/def/crs/EPSG/0/25832": (25832, False),
    "http://www.opengis.net/def/crs/EPSG/0/3857": (3857, False),
}
DIGITS = {4326: 7, 25832: 2, 3857: 2}

_PUBLIC_PARCEL = (
    "ags",
    "local_ref",
    "name",
    "category",
    "status",
    "designation",
    "planning_status",
    "previous_use",
    "restriction_class",
    "availability",
    "ownership",
    "servicing",
    "area_m2",
    "data_date",
    "is_sample",
    "abstand_class",
)
_CONFIDENTIAL_PARCEL = ("contamination", "owner_willing", "owner_contact", "internal_notes", "publication_allowed")


class QueryError(ValueError):
    pass


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


def _subquery(columns: dict[str, ColumnElement], where, id_col: ColumnElement, geom: ColumnElement, table) -> Source:
    sub = (
        select(id_col.label("id"), geom.label("geom"), *[c.label(n) for n, c in columns.items()])
        .select_from(table)
        .where(where)
        .subquery("src")
    )
    return Source(sub, {n: sub.c[n] for n in columns}, sub.c.id, sub.c.geom)


_INDICATOR = table("parcel_indicator", column("parcel_id"), column("parcel_version"), column("dist_residential_m"))


def source(collection: Collection, confidential: bool, at: dt.datetime | None = None) -> Source:
    """The rows of a collection a caller may see (``confidential``: planners, ministry, admin).

    Without ``at`` the construct is built once per collection and view and reused: building it
    costs more Python time than a small query costs the database.
    """
    if at is None:
        return _current_source(collection.id, confidential)
    return _build_source(collection, confidential, at)


@cache
def _current_source(collection_id: str, confidential: bool) -> Source:
    return _build_source(COLLECTIONS[collection_id], confidential, None)


def _build_source(collection: Collection, confidential: bool, at: dt.datetime | None) -> Source:
    if collection.is_parcels:
        names = _PUBLIC_PARCEL + (_CONFIDENTIAL_PARCEL if confidential else ())
        table = ParcelVersion if at is not None else Parcel
        columns = {n: getattr(table, n) for n in names}
        columns["version"] = table.version
        # the Abstand class from the distance to housing of the current version (indicators exist
        # for current versions only); one outer join, which PostgreSQL drops when unused
        distance = _INDICATOR.c.dist_residential_m if at is None else null()
        name, number = abstand_columns(distance)
        columns["abstand_class_possible"], columns["abstand_class_possible_number"] = name, cast(number, Integer)
        if not confidential:  # a coarse flag instead of the contamination details
            columns["contamination_flag"] = func.coalesce(table.contamination.in_(("verdacht", "untersucht")), False)
        if at is None:
            where = Parcel.retired_at.is_(None)
        else:
            where = and_(
                ParcelVersion.valid_from <= at, (ParcelVersion.valid_to.is_(None)) | (ParcelVersion.valid_to > at)
            )
        if not confidential:
            where = and_(where, table.publication_allowed)
        id_col = Parcel.id if at is None else ParcelVersion.parcel_id
        rows = table
        if at is None:
            rows = Parcel.__table__.outerjoin(
                _INDICATOR, (_INDICATOR.c.parcel_id == Parcel.id) & (_INDICATOR.c.parcel_version == Parcel.version)
            )
        return _subquery(columns, where, id_col, table.geom, rows)
    if collection.id == "municipalities":
        columns = {
            "ags": Municipality.ags,
            "name": Municipality.name,
            "district_ags": Municipality.district_ags,
            "district_name": Municipality.district_name,
            "region": Municipality.region,
        }
        return _subquery(columns, true(), Municipality.ags, Municipality.geom, Municipality)
    columns = {"name": ContextFeature.name, "source": ContextFeature.source, "attributes": ContextFeature.attributes}
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
    """A feature id from a URL in the type of the collection's key; None when it cannot be one."""
    try:
        if collection.is_parcels:
            return uuid.UUID(value)
        if collection.id == "municipalities":
            return value
        return int(value)
    except ValueError:
        return None


def bbox_filter(src: Source, bbox: list[float], srid: int, flip: bool) -> ColumnElement:
    if len(bbox) == 6:  # 3D bbox: the height is ignored
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    x1, y1, x2, y2 = bbox
    if flip:
        x1, y1, x2, y2 = y1, x1, y2, x2
    envelope = func.ST_Transform(func.ST_MakeEnvelope(x1, y1, x2, y2, srid), STORAGE_SRID)
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
    src = source(collection, confidential=False)
    box = conn.execute(select(func.ST_Extent(func.ST_Transform(src.geometry, 4326)))).scalar_one()
    if not box:
        return None
    numbers = box[box.index("(") + 1 : -1].replace(",", " ").split()
    return [round(float(v), 6) for v in numbers]


def queryables_schema(collection: Collection, confidential: bool) -> dict:
    src = source(collection, confidential)
    props: dict = {
        "geom": {
            "title": "Geometrie / geometry",
            "format": "geometry-any",
            "$ref": "https://geojson.org/schema/Geometry.json",
        }
    }
    for name, value in src.properties.items():
        try:
            python_type = value.type.python_type
        except NotImplementedError:
            python_type = dict
        json_type = {int: "integer", float: "number", bool: "boolean", dict: "object"}.get(python_type, "string")
        entry: dict = {"title": name, "type": json_type}
        if python_type in (dt.date, dt.datetime):
            entry["format"] = "date" if python_type is dt.date else "date-time"
        if name in PARCEL_CODE_FIELDS and collection.is_parcels:
            entry["enum"] = list(PARCEL_CODE_FIELDS[name].codes)
        props[name] = entry
    return {"type": "object", "title": collection.title_de, "properties": props, "additionalProperties": False}
