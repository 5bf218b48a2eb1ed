"""Mapbox vector tiles of the feature collections, built by PostGIS in one statement per tile.

Tiles read the same rows a caller may see through the feature API (:func:`features.source`):
anonymous tiles carry only public attributes of published parcels. Tile addressing follows
OGC API – Tiles (``{z}/{y}/{x}`` in the WebMercatorQuad tile matrix set, as morecantile defines
it); ``ST_TileEnvelope`` computes the same envelopes in the database.

Below :data:`DETAIL_ZOOM` a tile of a million parcels would hold tens of thousands of polygons
too small to see, so parcels are aggregated into grid cells (points with count and area) and the
tile stays small; from :data:`DETAIL_ZOOM` on every parcel is a polygon.

A parcel in a tile carries only what a map draws and names it by: its id and the registry's tile
fields (:func:`landreg.fields.tile_fields`: category and status for the colours, name and reference
for the popup's headline), and with a profile its score. A map reads the rest of the record from
the item (``/collections/parcels/items/{id}``) when the parcel is clicked: a record fetched once
costs less than every field of every parcel in every tile the map loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import morecantile
from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.sql.elements import ColumnElement

from landreg import STORAGE_SRID, fields, sqltext
from landreg.access import View
from landreg.db import plan_each_time
from landreg.features import COLLECTIONS, Collection, Source, source
from landreg.scoring.profiles import Profile
from landreg.scoring.visible import scored, visible_score
from landreg.vocab import CATEGORY

TMS = morecantile.tms.get("WebMercatorQuad")
MIN_ZOOM, MAX_ZOOM = 0, 22
DETAIL_ZOOM = 13  # parcels as polygons from this zoom on
EXTENT = 4096  # tile coordinate units per side
BUFFER = 64  # units of geometry kept beyond the tile edge, so outlines do not end at tile borders
GRID_CELLS = 32  # aggregation cells per tile side below DETAIL_ZOOM
# Aggregated cells are drawn as circles: a tile also carries the cells of this margin (whole cells,
# so a circle cut by a tile edge is completed by its neighbour tile, with the same count).
# The search reaches two cells further, so that every cell drawn has all its parcels.
CELL_MARGIN = 3
NRW_LATITUDE = 51.5
WEB_MERCATOR = 3857


class TileError(ValueError):
    pass


@dataclass(frozen=True)
class TileRequest:
    z: int
    x: int
    y: int

    def check(self) -> None:
        if not MIN_ZOOM <= self.z <= MAX_ZOOM:
            raise TileError(f"zoom level {self.z} outside {MIN_ZOOM}..{MAX_ZOOM}")
        if not TMS.is_valid(morecantile.Tile(self.x, self.y, self.z)):
            top = TMS.matrix(self.z).matrixWidth - 1
            raise TileError(f"tile {self.z}/{self.y}/{self.x} does not exist: row and column run from 0 to {top}")


def tile_properties(collection: Collection, src: Source) -> dict[str, ColumnElement]:
    """What a tile carries of each feature: for parcels, the registry's tile fields among those the
    view sees."""
    if not collection.is_parcels:
        return dict(src.properties)
    return {f.name: src.properties[f.name] for f in fields.tile_fields() if f.name in src.properties}


def tile_query(
    collection: Collection,
    view: View,
    tile: TileRequest,
    conditions: list[ColumnElement] | None = None,
    profile: Profile | None = None,
    src: Source | None = None,
) -> tuple[Select | str, dict]:
    """The SQL statement (or its text, see :mod:`landreg.sqltext`) answering one tile (one bytea value, empty when no feature is in it) and
    its parameters.

    ``conditions`` are filters on ``src`` (e.g. a CQL2 filter); ``profile`` adds each parcel's
    score under that profile as the property ``score``. Without conditions the statement depends
    only on the collection, the view, the zoom's kind and whether scores are wanted, so it is built
    once and reused: building it costs more than a small tile costs the database.
    """
    tile.check()
    aggregated = collection.is_parcels and tile.z < DETAIL_ZOOM
    left, _, right, _ = TMS.xy_bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    params = {
        "z": tile.z,
        "x": tile.x,
        "y": tile.y,
        "margin": (right - left) * reach_units(aggregated) / EXTENT,
        "cell": cell_size(tile.z),
        "profile_id": profile.id if profile is not None else None,
    }
    with_score = profile is not None and collection.is_parcels
    if conditions or src is not None:
        statement = _build(collection, view, aggregated, with_score, conditions or [], src)
    else:
        statement = _reused(collection.id, view, aggregated, with_score)
    return statement, params


def reach_units(aggregated: bool) -> int:
    """How far (tile units) beyond its edge a tile reads features: its buffer, and for aggregated
    tiles two more whole cells (see :data:`CELL_MARGIN`). A change that near a tile changes it."""
    if aggregated:
        return (CELL_MARGIN + 2) * EXTENT // GRID_CELLS
    return BUFFER


def cache_margin_units(z: int) -> int:
    """:func:`reach_units` of the collection that reads furthest at zoom z (for :mod:`landreg.tilecache`)."""
    return reach_units(z < DETAIL_ZOOM)


@lru_cache(maxsize=256)
def _reused(collection_id: str, view: View, aggregated: bool, with_score: bool) -> str:
    """The statement without conditions, as SQL text with slots for the tile (see :mod:`landreg.sqltext`)."""
    return sqltext.as_text(_build(COLLECTIONS[collection_id], view, aggregated, with_score, [], None, sqltext.Slot))


def _build(
    collection: Collection,
    view: View,
    aggregated: bool,
    with_score: bool,
    conditions: list[ColumnElement],
    src: Source | None,
    value=lambda name, type_: bindparam(name, type_=type_),
) -> Select:
    """``value(name, type)``: the placeholder of a value of the tile (a bind parameter, or a slot)."""
    src = src if src is not None else source(collection, view)
    envelope = func.ST_TileEnvelope(value("z", Integer), value("x", Integer), value("y", Integer))
    search = func.ST_Transform(func.ST_Expand(envelope, value("margin", Float)), STORAGE_SRID)
    rows = src.query
    score = None
    if with_score:
        profile_id = value("profile_id", Integer)
        rows = scored(rows, src.id_column, src.version_column, profile_id)
        score = cast(func.round(cast(visible_score(view, src.properties["ags"]), Numeric), 1), Float)
    where = [src.geometry.op("&&")(search), *conditions]
    if aggregated:
        buffer = CELL_MARGIN * EXTENT // GRID_CELLS
        layer = _aggregated(rows, where, src, score, envelope, buffer, value("cell", Float))
    else:
        layer = (
            select(
                cast(src.id_column, String).label("id"),
                *[value.label(name) for name, value in tile_properties(collection, src).items()],
                *([score.label("score")] if score is not None else []),
                func.ST_AsMVTGeom(func.ST_Transform(src.geometry, WEB_MERCATOR), envelope, EXTENT, BUFFER, True).label(
                    "geom"
                ),
            )
            .select_from(rows)
            .where(*where)
            .subquery("layer")
        )
    mvt = func.ST_AsMVT(literal_column("layer.*"), collection.id, EXTENT, "geom")
    return select(func.coalesce(mvt, b"")).select_from(layer)


def _aggregated(rows, where, src: Source, score, envelope, buffer: int, cell):
    """Parcels pooled into grid cells: one point per cell (the mean of its parcels' bbox centres)
    with count, area, the most frequent category (its colour), the count available short term and
    the best score (read from the parcels' rows, whether or not single parcels' tiles carry them).

    The grid lies in EPSG:25832 with one cell size per zoom level (a 32nd of a tile at NRW's
    latitude), so a cell is the same in every tile that shows it, and grouping by integer cell
    numbers needs neither a geometry sort nor a transformation per parcel.

    Each parcel's bounding box is read once, in the members' subquery, which ``OFFSET 0`` keeps
    from being merged into the grouping: merged, PostgreSQL would read the geometry for each of the
    eight places its centre is used (mean and cell, x and y, min and max), and that was 40 % of a
    z10 tile's time (measured at 1M parcels: 480–546 against 310–325 ms).
    """
    members = (
        select(
            func.Box2D(src.geometry).label("box"),
            src.properties["category"].label("category"),
            src.properties["area_m2"].label("area_m2"),
            src.properties["availability"].label("availability"),
            *([score.label("score")] if score is not None else []),
        )
        .select_from(rows)
        .where(*where)
        .offset(literal_column("0"))
        .subquery("members")
    )
    x = (func.ST_XMin(members.c.box) + func.ST_XMax(members.c.box)) / 2
    y = (func.ST_YMin(members.c.box) + func.ST_YMax(members.c.box)) / 2
    centre = func.ST_Transform(func.ST_SetSRID(func.ST_MakePoint(func.avg(x), func.avg(y)), STORAGE_SRID), WEB_MERCATOR)
    extra = [func.max(members.c.score).label("score")] if score is not None else []
    return (
        select(
            cast(func.count(), Integer).label("parcels"),
            cast(func.round(func.sum(members.c.area_m2)), BigInteger).label("area_m2"),
            _most_frequent(members.c.category, CATEGORY.codes).label("category"),
            cast(func.count().filter(members.c.availability == "kurzfristig"), Integer).label("short_term"),
            *extra,
            func.ST_AsMVTGeom(centre, envelope, EXTENT, buffer, True).label("geom"),
        )
        .group_by(func.floor(x / cell), func.floor(y / cell))
        .subquery("layer")
    )


def _most_frequent(value, codes: tuple[str, ...]):
    """The most frequent of a few known codes in a group, by counting each (unlike ``mode()``, this
    lets PostgreSQL aggregate with a hash table instead of sorting every parcel)."""
    counts = [func.count().filter(value == code) for code in codes]
    position = func.array_position(array(counts), func.greatest(*counts))
    return array([literal(code) for code in codes])[position]


def cell_size(z: int) -> float:
    """Metres (EPSG:25832) of an aggregation cell at zoom z: a 32nd of a tile's width at 51.5° N."""
    return 2 * math.pi * 6378137 / 2**z / GRID_CELLS * math.cos(math.radians(NRW_LATITUDE))


def render_tile(conn: Connection, statement: Select | str, params: dict) -> bytes:
    if params["z"] >= DETAIL_ZOOM:
        return _run(conn, statement, params)
    # aggregating groups a few hundred thousand parcels: in memory, not on disk; on one core, as
    # every request of the API (no parallel workers): a lone z10 tile would gain a tenth with two
    # (290 against 320 ms at 1M), but many at once would fight over the cores; planned for this
    # tile and these settings each time, never generically (plan_each_time)
    plan_each_time(conn)
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")
    return _run(conn, statement, params)


def _run(conn: Connection, statement: Select | str, params: dict) -> bytes:
    if isinstance(statement, str):
        return bytes(sqltext.run(conn, statement, params).scalar_one())
    return bytes(conn.execute(statement, params).scalar_one())


def tileset_metadata(collection: Collection, base_url: str, lang: str = "de") -> dict:
    """OGC API – Tiles tileset description of one collection in WebMercatorQuad."""
    template = f"{base_url}/collections/{collection.id}/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"
    return {
        "title": collection.title(lang),
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
        "links": [
            {
                "rel": "self",
                "type": "application/json",
                "href": f"{base_url}/collections/{collection.id}/tiles/WebMercatorQuad",
            },
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                "type": "application/json",
                "href": f"{base_url}/tileMatrixSets/WebMercatorQuad",
            },
            {"rel": "item", "type": "application/vnd.mapbox-vector-tile", "templated": True, "href": template},
        ],
        "layers": [
            {
                "id": collection.id,
                "title": collection.title(lang),
                "dataType": "vector",
                "minTileMatrix": str(MIN_ZOOM),
                "maxTileMatrix": str(MAX_ZOOM),
            }
        ],
    }
