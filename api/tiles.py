"""OGC API – Tiles: Mapbox vector tiles of every collection, with the caller's access rights.

Tiles are built by PostGIS (:mod:`landreg.tiles`); the same ``filter`` (CQL2) as on the items
accepts the same queryables, and ``profile`` adds the parcels' scores, so maps can colour by
priority. Tiles without a filter are kept by :mod:`landreg.tilecache` (``X-Cache: hit``/``miss``)
until a change touches them. Every tile has a strong ETag from its content; anonymous tiles may be
cached by shared caches for :data:`MAX_AGE` and revalidated after, tiles of a signed-in view only
privately, revalidated each time (``no-cache``), so a planner sees their own edit at once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api import models
from api.metrics import record_cache
from api.ogc import _base, _collection, _lang, _only
from api.security import ERRORS, ViewDep
from landreg import params, tiles
from landreg.access import PUBLIC
from landreg.db import single_statements
from landreg.errors import InvalidParameter, NotFound
from landreg.features import source
from landreg.register import filter_condition
from landreg.scoring.profiles import current_profile
from landreg.settings import get_settings
from landreg.tilecache import CachedTile, TileCache, TileKey, etag_of
from landreg.tilenotices import Announcements

router = APIRouter(tags=["OGC API – Tiles"], responses=ERRORS)

MVT = "application/vnd.mapbox-vector-tile"
_TILE_PARAMS = {"filter", "filter-lang", "filter-crs", "profile", "unreviewed"}
MAX_AGE = 30  # seconds a shared cache may serve an anonymous tile before it revalidates it (ETag)


def make_cache() -> TileCache:
    """The process's tile cache, sized by ``LANDREG_TILE_CACHE_MB`` (see :mod:`landreg.tilecache`)."""
    settings = get_settings()
    notices = Announcements() if settings.tile_cache_listen and settings.tile_cache_mb > 0 else None
    return TileCache(
        settings.tile_cache_mb * 1024**2,
        tiles.cache_margin_units,
        settings.tile_cache_sync_ms / 1000,
        notices,
        wait_s=settings.statement_timeout_ms / 1000 + 1,  # a rendering waited for ends by then, or fails
    )


@router.get(
    "/tileMatrixSets",
    summary="Tile matrix sets",
    response_model=models.TileMatrixSets,
    response_model_exclude_unset=True,
)
def tile_matrix_sets(request: Request):
    href = f"{_base(request)}/tileMatrixSets/WebMercatorQuad"
    return {
        "tileMatrixSets": [
            {
                "id": "WebMercatorQuad",
                "title": tiles.TMS.title,
                "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                "links": [{"rel": "self", "href": href, "type": "application/json"}],
            }
        ]
    }


@router.get("/tileMatrixSets/{tileMatrixSetId}", summary="A tile matrix set's definition")
def tile_matrix_set(tms_id: Annotated[str, Path(alias="tileMatrixSetId")]):
    if tms_id != "WebMercatorQuad":
        raise NotFound(f"no tile matrix set {tms_id!r}; landreg serves WebMercatorQuad")
    return tiles.TMS.model_dump(mode="json", exclude_none=True)


@router.get(
    "/collections/{collectionId}/tiles",
    summary="The collection's tilesets",
    response_model=models.Tilesets,
    response_model_exclude_unset=True,
)
def tilesets(request: Request, collection_id: Annotated[str, Path(alias="collectionId")]):
    c = _collection(collection_id)
    meta = tiles.tileset_metadata(c, _base(request), _lang(request))
    entry = {k: meta[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI", "links")}
    return {"tilesets": [entry], "links": [{"rel": "self", "href": str(request.url), "type": "application/json"}]}


@router.get(
    "/collections/{collectionId}/tiles/WebMercatorQuad",
    summary="The collection's WebMercatorQuad tileset",
    response_model=models.Tileset,
    response_model_exclude_unset=True,
)
def tileset(request: Request, collection_id: Annotated[str, Path(alias="collectionId")]):
    return tiles.tileset_metadata(_collection(collection_id), _base(request), _lang(request))


@router.get(
    "/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}",
    summary="A vector tile",
    response_class=Response,
    responses={200: {"content": {MVT: {}}, "description": "Mapbox vector tile"}, 304: {"description": "unchanged"}},
)
def tile(
    request: Request,
    view: ViewDep,
    collection_id: Annotated[str, Path(alias="collectionId")],
    z: Annotated[int, Path(alias="tileMatrix", ge=tiles.MIN_ZOOM, le=tiles.MAX_ZOOM)],
    y: Annotated[int, Path(alias="tileRow", ge=0)],
    x: Annotated[int, Path(alias="tileCol", ge=0)],
    filter: Annotated[str | None, Query(description="CQL2 filter on the queryables")] = None,  # noqa: A002
    filter_lang: Annotated[Literal["cql2-text", "cql2-json"] | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    profile: Annotated[str | None, Query(description="parcels: add the score under this profile")] = None,
):
    c = _collection(collection_id)
    _only(request, _TILE_PARAMS)
    q = request.query_params
    src = source(c, view)
    conditions = []  # none: a reused statement
    if q.get("filter"):
        crs = params.crs(q.get("filter-crs"), "filter-crs")
        conditions.append(filter_condition(src, q["filter"], q.get("filter-lang", "cql2-text"), crs))
    with request.app.state.engine.connect() as conn:
        if z >= tiles.DETAIL_ZOOM:  # one statement (the aggregated zooms set options for theirs)
            single_statements(conn)
        chosen = None
        if profile is not None:
            chosen = current_profile(conn, profile, missing_ok=True)
            if chosen is None:
                raise InvalidParameter(f"profile: no scoring profile {profile!r}", "profile")
        entry, outcome = _tile(request.app, conn, c, view, tiles.TileRequest(z, x, y), conditions, chosen, src)
    headers = tile_headers(entry.etag, view.confidential, outcome)
    if entry.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type=MVT, headers=headers)


def _tile(app, conn, c, view, request: tiles.TileRequest, conditions=(), chosen=None, src=None):
    """The tile and whether it came from the cache (``hit``, ``miss``, ``bypass``: a filtered tile)."""
    statement, values = tiles.tile_query(c, view, request, list(conditions), chosen, src if conditions else None)

    def render() -> bytes:
        return tiles.render_tile(conn, statement, values)

    cache: TileCache | None = getattr(app.state, "tile_cache", None)
    if conditions or cache is None:
        body = render()
        return CachedTile(body, etag_of(body), None), "bypass"
    key = TileKey(c.id, view, chosen.id if chosen is not None else None, request.z, request.x, request.y)
    entry, outcome = cache.tile(conn, key, render, strict=view.confidential)
    if outcome != "bypass":
        record_cache(outcome == "hit", "tiles")
    return entry, outcome


def public_tile(app, collection_id: str, z: int, x: int, y: int) -> tuple[CachedTile, str]:
    """The public tile without parameters, as the route answers an anonymous caller (for
    :mod:`api.tilehits`, which asks for it before routing); raises what the route would answer."""
    c = _collection(collection_id)
    with app.state.engine.connect() as conn:
        if z >= tiles.DETAIL_ZOOM:
            single_statements(conn)
        return _tile(app, conn, c, PUBLIC, tiles.TileRequest(z, x, y))


def tile_headers(etag: str, confidential: bool, outcome: str) -> dict[str, str]:
    """A tile's caching headers (also those of :mod:`api.tilehits`' answers)."""
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache" if confidential else f"public, max-age={MAX_AGE}, must-revalidate",
        "Vary": "Authorization",
    }
    if confidential or get_settings().tile_cache_header:  # see the setting: public misses would tell
        headers["X-Cache"] = outcome
    return headers
