"""OGC API – Features (Parts 1–4) for the registry's collections.

Read access follows the caller's role (anonymous: published parcels, public properties only);
parcels are created, replaced, updated and retired by planners of their municipality, with
optimistic locking: every feature has an ETag, and changes need a matching If-Match.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from functools import cache
from typing import Annotated, Literal

import numpy as np
import shapely
from fastapi import APIRouter, Body, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pyproj import Transformer
from sqlalchemy import Text, bindparam, cast, func, select, text
from sqlalchemy.orm import Session

from api import render
from api.security import ERRORS, PlannerDep, PrincipalDep
from landreg import STORAGE_SRID, cql
from landreg.features import (
    COLLECTIONS,
    CRS84,
    CRSS,
    Collection,
    QueryError,
    bbox_filter,
    extent,
    feature_json,
    listed_collections,
    queryables_schema,
    sort_clauses,
    source,
)
from landreg.features import (
    feature_id as feature_id_of,
)
from landreg.parcels import EDITABLE_FIELDS, ParcelError, create_parcel, get_parcel, retire_parcel, update_parcel

router = APIRouter(
    tags=["OGC API – Features"],
    responses=ERRORS
    | {
        410: {"description": "the parcel was retired"},
        412: {"description": "If-Match does not match the current ETag"},
        428: {"description": "If-Match is required for changes"},
    },
)

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]
LIMIT_DEFAULT, LIMIT_MAX = 100, 10_000
_ITEMS_PARAMS = {
    "f",
    "lang",
    "bbox",
    "bbox-crs",
    "crs",
    "datetime",
    "limit",
    "offset",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
}
_GEOJSON = "application/geo+json"


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _format(request: Request, allowed=("json", "html")) -> str:
    f = request.query_params.get("f")
    if f is None:
        accept = request.headers.get("accept", "")
        f = "html" if "text/html" in accept and "html" in allowed else "json"
    if f not in allowed:
        raise HTTPException(400, f"unknown format f={f!r}; use one of {', '.join(allowed)}")
    return f


def _only(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise HTTPException(
            400, f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _collection(collection_id: str) -> Collection:
    if collection_id not in COLLECTIONS:
        raise HTTPException(404, f"no collection {collection_id!r}; collections: {', '.join(COLLECTIONS)}")
    return COLLECTIONS[collection_id]


def _crs(uri: str | None, what: str) -> tuple[int, bool]:
    uri = uri or CRS84
    if uri not in CRSS:
        raise HTTPException(400, f"{what} {uri!r} is not supported; use one of {', '.join(CRSS)}")
    return CRSS[uri]


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "de"


# -- landing, conformance, collections ------------------------------------------------------
@router.get("/", summary="Landing page")
def landing(request: Request):
    base = _base(request)
    body = {
        "title": "landreg – Flächenregister Ruhr",
        "description": "Register wiedernutzbarer Flächen im Ruhrgebiet (Brachflächen, Baulücken, Gewerbe- und "
        "Industrieflächen) / Registry of reusable land in the Ruhr region",
        "links": [
            {"rel": "self", "href": f"{base}/", "type": "application/json", "title": "this document"},
            {
                "rel": "service-desc",
                "href": f"{base}/api",
                "type": "application/vnd.oai.openapi+json;version=3.0",
                "title": "OpenAPI 3.0",
            },
            {"rel": "service-doc", "href": f"{base}/docs", "type": "text/html", "title": "API documentation"},
            {"rel": "conformance", "href": f"{base}/conformance", "type": "application/json"},
            {"rel": "data", "href": f"{base}/collections", "type": "application/json"},
            {"rel": "alternate", "href": f"{base}/?f=html", "type": "text/html"},
        ],
    }
    if _format(request) == "html":
        return HTMLResponse(render.landing(body, _lang(request)))
    return body


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request):
    body = {"conformsTo": CONFORMANCE}
    return (
        HTMLResponse(render.listing("Konformität / Conformance", CONFORMANCE)) if _format(request) == "html" else body
    )


def _collection_body(request: Request, conn, collection: Collection) -> dict:
    base, lang = _base(request), _lang(request)
    href = f"{base}/collections/{collection.id}"
    body = {
        "id": collection.id,
        "title": collection.title(lang),
        "description": collection.description,
        "itemType": collection.item_type,
        "crs": list(CRSS),
        "storageCrs": "http://www.opengis.net/def/crs/EPSG/0/25832",
        "links": [
            {"rel": "self", "href": href, "type": "application/json"},
            {"rel": "items", "href": f"{href}/items", "type": _GEOJSON},
            {"rel": "items", "href": f"{href}/items?f=html", "type": "text/html"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "href": f"{href}/queryables",
                "type": "application/schema+json",
            },
            # the draft relation name that GDAL before 3.7 looks for
            {"rel": "queryables", "href": f"{href}/queryables", "type": "application/schema+json"},
            {
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "href": f"{href}/tiles",
                "type": "application/json",
            },
        ],
    }
    bbox = extent(conn, collection)
    if bbox:
        body["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if collection.is_parcels:
        body["extent"] = body.get("extent", {}) | {"temporal": {"interval": [[None, None]]}}
    return body


@router.get("/collections", summary="The feature collections")
def collections(request: Request):
    """The registry's collections; a context layer is listed once it holds features (it is loaded
    with ``landreg context load``), while its URLs answer, empty, before that too."""
    with request.app.state.engine.connect() as conn:
        listed = listed_collections(conn)
        body = {
            "collections": [_collection_body(request, conn, c) for c in listed],
            "links": [{"rel": "self", "href": f"{_base(request)}/collections", "type": "application/json"}],
        }
    return HTMLResponse(render.collections(body)) if _format(request) == "html" else body


@router.get("/collections/{collectionId}", summary="One feature collection")
def collection(request: Request, collection_id: Annotated[str, Path(alias="collectionId")]):
    c = _collection(collection_id)
    with request.app.state.engine.connect() as conn:
        body = _collection_body(request, conn, c)
    return HTMLResponse(render.collections({"collections": [body]})) if _format(request) == "html" else body


@router.get("/collections/{collectionId}/queryables", summary="Properties usable in filters")
def queryables(request: Request, collection_id: Annotated[str, Path(alias="collectionId")], principal: PrincipalDep):
    schema = queryables_schema(_collection(collection_id), principal is not None)
    schema |= {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{_base(request)}/collections/{collection_id}/queryables",
        # the draft form (a list of ids) that GDAL before 3.7 reads; JSON Schema ignores the extra keyword
        "queryables": [{"id": name} for name in schema["properties"] if name != "geom"],
    }
    accept = request.headers.get("accept", "")
    plain_json = "application/json" in accept and "application/schema+json" not in accept  # older clients
    return JSONResponse(schema, media_type="application/json" if plain_json else "application/schema+json")


# -- items ----------------------------------------------------------------------------------
def _parse_datetime(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    if "/" in value:
        raise HTTPException(
            400,
            "datetime: parcels are answered as of one instant (e.g. 2025-01-01T00:00:00Z); intervals are not supported",
        )
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(23, 59, 59, 999999))
        except ValueError:
            raise HTTPException(400, f"datetime {value!r} is not an RFC 3339 date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise HTTPException(400, f"{name} must lie between {low} and {high}")
    return number


def _bbox(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise HTTPException(400, f"bbox {value!r} must be 4 or 6 comma-separated numbers") from None
    if len(numbers) not in (4, 6) or any(n != n for n in numbers):
        raise HTTPException(400, f"bbox {value!r} must be 4 or 6 comma-separated numbers")
    return numbers


@router.get(
    "/collections/{collectionId}/items",
    summary="Features, with filters and paging",
    response_class=Response,
    responses={200: {"content": {_GEOJSON: {}, "text/html": {}, "text/csv": {}}}},
)
def items(
    request: Request,
    collection_id: Annotated[str, Path(alias="collectionId")],
    principal: PrincipalDep,
    f: Annotated[str | None, Query(description="json (GeoJSON), html or csv")] = None,
    lang: Annotated[str | None, Query(description="de or en (HTML labels)")] = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    crs: Annotated[str | None, Query(description="output CRS URI")] = None,
    datetime: Annotated[str | None, Query(description="parcels as of this instant")] = None,
    limit: Annotated[str | None, Query(description=f"1 to {LIMIT_MAX}, default {LIMIT_DEFAULT}")] = None,
    offset: Annotated[str | None, Query()] = None,
    filter: Annotated[str | None, Query(description="CQL2 filter")] = None,  # noqa: A002 - the OGC name
    filter_lang: Annotated[
        Literal["cql2-text", "cql2-json", "cql-text"] | None,
        Query(alias="filter-lang", description="cql-text: the draft name of cql2-text, for older clients"),
    ] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    sortby: Annotated[str | None, Query(description="e.g. -area_m2,name")] = None,
    properties: Annotated[str | None, Query(description="comma-separated property names")] = None,
):
    """Query parameters named like a queryable property filter by equality (``?category=bauluecke``)."""
    c = _collection(collection_id)
    q = request.query_params
    fmt = _format(request, ("json", "html", "csv"))
    srid, flip = _crs(q.get("crs"), "crs")
    limit = _int(q.get("limit"), "limit", LIMIT_DEFAULT, 1, LIMIT_MAX)
    offset = _int(q.get("offset"), "offset", 0, 0, 10**9)
    at = _parse_datetime(q.get("datetime"))
    if at is not None and not c.is_parcels:
        at = None  # other collections have no history: datetime matches everything
    src = source(c, principal is not None, at)
    unknown = sorted(set(q) - _ITEMS_PARAMS - set(src.properties))
    if unknown:
        raise HTTPException(
            400,
            f"unknown query parameter(s): {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(_ITEMS_PARAMS))} and the queryables",
        )
    conditions = [
        src.properties[name] == _typed(src.properties[name], q[name]) for name in sorted(set(q) & set(src.properties))
    ]
    bbox = _bbox(q.get("bbox"))
    if bbox:
        conditions.append(bbox_filter(src, bbox, *_crs(q.get("bbox-crs"), "bbox-crs")))
    elif "bbox-crs" in q:
        raise HTTPException(400, "bbox-crs needs bbox")
    if q.get("filter"):
        conditions.append(filter_condition(q, src))
    properties = None
    if q.get("properties") is not None:
        properties = [p for p in q["properties"].split(",") if p]
        unknown = [p for p in properties if p not in src.properties]
        if unknown:
            raise HTTPException(400, f"properties: unknown {', '.join(unknown)}; known: {', '.join(src.properties)}")
    try:
        order = sort_clauses(src, q.get("sortby"))
    except QueryError as exc:
        raise HTTPException(400, str(exc)) from None
    # the page first (ids, count of all matches), then the GeoJSON of just the page's features
    page = (
        select(
            src.id_column.label("page_id"),
            func.count().over().label("n"),
            func.row_number().over(order_by=order).label("position"),
        )
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    stmt = (
        select(cast(feature_json(src, srid, flip, properties), Text).label("f"), page.c.n)
        .select_from(src.query.join(page, src.id_column == page.c.page_id))
        .order_by(page.c.position)
    )
    with request.app.state.engine.connect() as conn:
        rows = conn.execute(stmt).all()
        matched = (
            rows[0].n
            if rows
            else conn.execute(select(func.count()).select_from(src.query).where(*conditions)).scalar_one()
        )
    raw = [r.f for r in rows]  # GeoJSON text as PostGIS wrote it
    features = [json.loads(f) for f in raw] if fmt != "json" else raw
    links = _paging_links(request, offset, limit, len(features), matched)
    headers = {"Content-Crs": f"<{_crs_uri(srid, flip)}>"}
    if fmt == "html":
        return HTMLResponse(render.items(c, features, matched, links, _lang(request), srid), headers=headers)
    if fmt == "csv":
        return Response(render.csv(features), media_type="text/csv; charset=utf-8", headers=headers)
    collection_part = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "links": links,
    }
    return Response(_collection_json(collection_part, features), media_type=_GEOJSON, headers=headers)


def filter_condition(q, src):
    """The CQL2 ``filter`` of a request (with filter-lang and filter-crs) as an SQL condition."""
    filter_srid, filter_flip = _crs(q.get("filter-crs"), "filter-crs")
    try:
        language = {"cql-text": "cql2-text"}.get(q.get("filter-lang"), q.get("filter-lang", "cql2-text"))
        node = cql.parse(q["filter"], language)
        return cql.to_sql(node, src.properties, src.geometry, filter_srid, filter_flip)
    except cql.FilterError as exc:
        raise HTTPException(400, f"filter: {exc}") from None


def _typed(column, value: str):
    """A query parameter's text as the column's type (400 when it does not fit)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = str
    try:
        if python_type is bool:
            return {"true": True, "false": False}[value.lower()]
        if python_type in (dt.date, dt.datetime):
            return python_type.fromisoformat(value)
        return python_type(value)
    except (KeyError, ValueError):
        raise HTTPException(400, f"{column.key}={value!r} is not a valid {python_type.__name__}") from None


def _collection_json(head: dict, features: list[str]) -> bytes:
    """The FeatureCollection around the features' GeoJSON text as PostGIS wrote it.

    One body, not a stream: a page is bounded by the limit, and streaming it feature by feature
    cost a thread switch per feature (a hundred per page)."""
    return (json.dumps(head)[:-1] + ', "features": [' + ", ".join(features) + "]}").encode()


def _crs_uri(srid: int, flip: bool) -> str:
    return next(uri for uri, value in CRSS.items() if value == (srid, flip))


def _paging_links(request: Request, offset: int, limit: int, returned: int, matched: int) -> list[dict]:
    def url(new_offset: int) -> str:
        return str(request.url.include_query_params(offset=new_offset, limit=limit))

    links = [{"rel": "self", "href": str(request.url), "type": _GEOJSON}]
    if offset + returned < matched:
        links.append({"rel": "next", "href": url(offset + limit), "type": _GEOJSON})
    if offset > 0:
        links.append({"rel": "prev", "href": url(max(0, offset - limit)), "type": _GEOJSON})
    return links


def _etag(version: int) -> str:
    return f'"{version}"'


def _one(
    request: Request,
    c: Collection,
    feature_id: Annotated[str, Path(alias="featureId")],
    principal,
    srid: int,
    flip: bool,
    at: dt.datetime | None = None,
):
    key = feature_id_of(c, feature_id)
    if key is None:
        return None
    if at is None:
        statement = _feature_statement(c.id, principal is not None, srid, flip)
    else:
        src = source(c, principal is not None, at)
        statement = select(feature_json(src, srid, flip).label("f")).where(src.id_column == bindparam("key"))
    with request.app.state.engine.connect() as conn:
        row = conn.execute(statement, {"key": key}).first()
    return None if row is None else row.f


@cache
def _feature_statement(collection_id: str, confidential: bool, srid: int, flip: bool):
    """One current feature by its id: built once per collection, view and output CRS."""
    src = source(COLLECTIONS[collection_id], confidential)
    return select(feature_json(src, srid, flip).label("f")).where(src.id_column == bindparam("key"))


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature",
    response_class=Response,
    responses={200: {"content": {_GEOJSON: {}, "text/html": {}}}},
)
def item(
    request: Request,
    collection_id: Annotated[str, Path(alias="collectionId")],
    feature_id: Annotated[str, Path(alias="featureId")],
    principal: PrincipalDep,
):
    _only(request, {"f", "lang", "crs", "datetime"})
    c = _collection(collection_id)
    fmt = _format(request)
    srid, flip = _crs(request.query_params.get("crs"), "crs")
    at = _parse_datetime(request.query_params.get("datetime")) if c.is_parcels else None
    feature = _one(request, c, feature_id, principal, srid, flip, at)
    if feature is None:
        raise HTTPException(
            404, f"no feature {feature_id!r} in {collection_id}" + (f" as of {at:%Y-%m-%d}" if at else "")
        )
    base = f"{_base(request)}/collections/{collection_id}"
    feature["links"] = [
        {"rel": "self", "href": f"{base}/items/{feature_id}", "type": _GEOJSON},
        {"rel": "alternate", "href": f"{base}/items/{feature_id}?f=html", "type": "text/html"},
        {"rel": "collection", "href": base, "type": "application/json"},
    ]
    headers = {"Content-Crs": f"<{_crs_uri(srid, flip)}>"}
    if c.is_parcels:
        feature["links"].append(
            {"rel": "version-history", "href": f"{base}/items/{feature_id}/history", "type": "application/json"}
        )
        headers["ETag"] = _etag(feature["properties"]["version"])
    if fmt == "html":
        return HTMLResponse(render.item(c, feature, _lang(request), srid), headers=headers)
    return JSONResponse(feature, media_type=_GEOJSON, headers=headers)


@router.get("/collections/parcels/items/{featureId}/history", summary="Every version of a parcel")
def history(request: Request, feature_id: Annotated[uuid.UUID, Path(alias="featureId")], principal: PrincipalDep):
    confidential = principal is not None
    fields = ("local_ref", "name", "category", "status", "designation", "availability", "area_m2")
    with request.app.state.engine.connect() as conn:
        rows = (
            conn.execute(
                text(f"""
            SELECT version, valid_from, valid_to, {"actor," if confidential else ""} {", ".join(fields)},
                   publication_allowed
              FROM parcel_version WHERE parcel_id = :id ORDER BY version
        """),
                {"id": feature_id},
            )
            .mappings()
            .all()
        )
    visible = [dict(r) for r in rows if confidential or r["publication_allowed"]]
    if not visible:
        raise HTTPException(404, f"no parcel {feature_id}")
    return {"id": str(feature_id), "versions": visible}


# -- Part 4: create, replace, update, retire -------------------------------------------------
def _geometry_from(feature: dict, content_crs: str | None):
    uri = (content_crs or f"<{CRS84}>").strip("<>")
    srid, flip = _crs(uri, "Content-Crs")
    try:
        geom = shapely.geometry.shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as exc:
        raise HTTPException(400, f"geometry: not a GeoJSON geometry ({exc})") from None
    if flip:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if srid != STORAGE_SRID:
        t = Transformer.from_crs(srid, STORAGE_SRID, always_xy=True)
        geom = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return geom


def _attributes(feature: dict, content_crs: str | None, partial: bool) -> dict:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise HTTPException(400, "the body must be a GeoJSON Feature")
    props = feature.get("properties") or {}
    unknown = sorted(set(props) - EDITABLE_FIELDS - {"version", "area_m2"})
    if unknown:
        raise HTTPException(400, f"properties not editable: {', '.join(unknown)}")
    attributes = {k: v for k, v in props.items() if k in EDITABLE_FIELDS}
    if feature.get("geometry") is not None:
        attributes["geom"] = _geometry_from(feature, content_crs)
    elif not partial:
        raise HTTPException(400, "geometry: a parcel needs its outline")
    if "data_date" in attributes and attributes["data_date"]:
        try:
            attributes["data_date"] = dt.date.fromisoformat(attributes["data_date"])
        except (TypeError, ValueError):
            raise HTTPException(400, "data_date: not a date (YYYY-MM-DD)") from None
    return attributes


def _refused(exc: ParcelError) -> HTTPException:
    return HTTPException(422, {"field": exc.field, "reason": exc.reason, "message": str(exc)})


def _check_municipality(principal, ags: str | None) -> None:
    if ags is not None and ags not in principal.ags:
        raise HTTPException(403, f"your token may edit parcels of {', '.join(principal.ags)} only, not {ags}")


def _locked(session: Session, feature_id: uuid.UUID, if_match: str | None, principal):
    if if_match is None:
        raise HTTPException(
            428, "changes need If-Match with the feature's ETag (so two planners never overwrite each other)"
        )
    try:
        parcel = get_parcel(session, feature_id)
    except LookupError:
        raise HTTPException(404, f"no parcel {feature_id}") from None
    session.refresh(parcel, with_for_update=True)
    if parcel.retired_at is not None:
        raise HTTPException(410, f"parcel {feature_id} was retired on {parcel.retired_at:%Y-%m-%d}")
    _check_municipality(principal, parcel.ags)
    if if_match.strip() not in (_etag(parcel.version), "*"):
        raise HTTPException(412, f"the parcel has changed (now version {parcel.version}); reload it and try again")
    return parcel


@router.post("/collections/parcels/items", status_code=201, summary="Create a parcel (planners)")
def create(
    request: Request,
    principal: PlannerDep,
    feature: Annotated[dict, Body()],
    content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
):
    attributes = _attributes(feature, content_crs, partial=False)
    _check_municipality(principal, attributes.get("ags"))
    with Session(request.app.state.engine) as session:
        try:
            parcel = create_parcel(session, principal.owner, **attributes)
        except ParcelError as exc:
            raise _refused(exc) from None
        _check_municipality(principal, parcel.ags)  # derived from the geometry
        session.commit()
        location = f"{_base(request)}/collections/parcels/items/{parcel.id}"
        return Response(status_code=201, headers={"Location": location, "ETag": _etag(parcel.version)})


def _change(request: Request, feature_id: uuid.UUID, principal, if_match, attributes: dict | None):
    with Session(request.app.state.engine) as session:
        parcel = _locked(session, feature_id, if_match, principal)
        try:
            if attributes is None:
                retire_parcel(session, parcel.id, principal.owner)
            else:
                _check_municipality(principal, attributes.get("ags", parcel.ags))
                update_parcel(session, parcel.id, principal.owner, **attributes)
                _check_municipality(principal, parcel.ags)
        except ParcelError as exc:
            raise _refused(exc) from None
        session.commit()
        return parcel.version


@router.put("/collections/parcels/items/{featureId}", status_code=204, summary="Replace a parcel (planners)")
def replace(
    request: Request,
    feature_id: Annotated[uuid.UUID, Path(alias="featureId")],
    principal: PlannerDep,
    feature: Annotated[dict, Body()],
    if_match: Annotated[str | None, Header()] = None,
    content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
):
    attributes = _attributes(feature, content_crs, partial=False)
    attributes = {
        f: None
        for f in EDITABLE_FIELDS
        - {"ags", "local_ref", "category", "geom", "status", "owner_willing", "publication_allowed", "is_sample"}
    } | attributes
    version = _change(request, feature_id, principal, if_match, attributes)
    return Response(status_code=204, headers={"ETag": _etag(version)})


@router.patch("/collections/parcels/items/{featureId}", status_code=204, summary="Update a parcel (planners)")
def patch(
    request: Request,
    feature_id: Annotated[uuid.UUID, Path(alias="featureId")],
    principal: PlannerDep,
    feature: Annotated[dict, Body()],
    if_match: Annotated[str | None, Header()] = None,
    content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
):
    version = _change(request, feature_id, principal, if_match, _attributes(feature, content_crs, partial=True))
    return Response(status_code=204, headers={"ETag": _etag(version)})


@router.delete(
    "/collections/parcels/items/{featureId}",
    status_code=204,
    summary="Retire a parcel (planners): end-dated, kept in the history",
)
def delete(
    request: Request,
    feature_id: Annotated[uuid.UUID, Path(alias="featureId")],
    principal: PlannerDep,
    if_match: Annotated[str | None, Header()] = None,
):
    _change(request, feature_id, principal, if_match, None)
    return Response(status_code=204)
