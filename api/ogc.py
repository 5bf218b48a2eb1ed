"""OGC API – Features (Parts 1–4) for the registry's collections.

Read access follows the caller's role (anonymous: published parcels, public properties only);
parcels are created, replaced, updated and retired by planners of their municipality, with
optimistic locking: every feature has an ETag, and changes need a matching If-Match.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from api import models, render
from api.repeats import refuse_repeats
from api.security import ERRORS, PlannerDep, ViewDep
from landreg import fields, params, register, vocab
from landreg.access import View
from landreg.db import single_statements
from landreg.errors import InvalidParameter, NotFound
from landreg.features import (
    COLLECTIONS,
    CRS84,
    CRSS,
    Collection,
    extent,
    listed_collections,
    queryables_schema,
)
from landreg.parcels import geometry_from_geojson
from landreg.register import LIMIT_DEFAULT, LIMIT_MAX, OFFSET_MAX

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
_ITEMS_PARAMS = {
    "unreviewed",
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
        raise InvalidParameter(f"unknown format f={f!r}; use one of {', '.join(allowed)}", "f")
    return f


def _only(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidParameter(
            f"unknown query parameter(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}", unknown[0]
        )


def _collection(collection_id: str) -> Collection:
    if collection_id not in COLLECTIONS:
        raise NotFound(f"no collection {collection_id!r}; collections: {', '.join(COLLECTIONS)}")
    return COLLECTIONS[collection_id]


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "de"


# -- landing, conformance, collections ------------------------------------------------------
@router.get("/", summary="Landing page", response_model=models.LandingPage, response_model_exclude_unset=True)
def landing(request: Request, response: Response):
    """The OGC API landing page (JSON). A browser asking for HTML (`Accept: text/html` or `?f=html`,
    the `alternate` link) gets the start page for people: the maps, signing in and this API."""
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
        from api.web.landing import landing_page  # here: the workspace areas may import the API modules

        return landing_page(request)
    response.headers["Vary"] = "Accept"
    return body


@router.get("/conformance", summary="Conformance classes", response_model=models.Conformance)
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


@router.get(
    "/collections",
    summary="The feature collections",
    response_model=models.Collections,
    response_model_exclude_unset=True,
)
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


@router.get(
    "/collections/{collectionId}",
    summary="One feature collection",
    response_model=models.CollectionInfo,
    response_model_exclude_unset=True,
)
def collection(request: Request, collection_id: Annotated[str, Path(alias="collectionId")]):
    c = _collection(collection_id)
    with request.app.state.engine.connect() as conn:
        body = _collection_body(request, conn, c)
    return HTMLResponse(render.collections({"collections": [body]})) if _format(request) == "html" else body


@router.get(
    "/collections/{collectionId}/queryables",
    summary="Properties usable in filters",
    response_class=Response,
    responses={
        200: {
            "description": "a JSON Schema of the queryables (`application/json` when the client asks for only that)",
            "content": {
                "application/schema+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def queryables(request: Request, collection_id: Annotated[str, Path(alias="collectionId")], view: ViewDep):
    schema = queryables_schema(_collection(collection_id), view, _lang(request))
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
@router.get(
    "/collections/{collectionId}/items",
    summary="Features, with filters and paging",
    response_class=Response,
    responses={200: {"content": {_GEOJSON: {}, "text/html": {}, "text/csv": {}}}},
)
def items(
    request: Request,
    collection_id: Annotated[str, Path(alias="collectionId")],
    view: ViewDep,
    f: Annotated[str | None, Query(description="json (GeoJSON), html or csv")] = None,
    lang: Annotated[str | None, Query(description="de or en (HTML labels)")] = None,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    crs: Annotated[str | None, Query(description="output CRS URI")] = None,
    datetime: Annotated[str | None, Query(description="parcels as of this instant")] = None,
    limit: Annotated[str | None, Query(description=f"1 to {LIMIT_MAX}, default {LIMIT_DEFAULT}")] = None,
    offset: Annotated[str | None, Query(description=f"0 to {OFFSET_MAX}")] = None,
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
    query = register.FeatureQuery(
        c,
        view,
        *params.crs(q.get("crs"), "crs"),
        at=params.instant(q.get("datetime")),
        limit=params.whole_number(q.get("limit"), "limit", LIMIT_DEFAULT, 1, LIMIT_MAX),
        offset=params.whole_number(q.get("offset"), "offset", 0, 0, OFFSET_MAX),
        bbox=params.bbox(q.get("bbox")),
        bbox_crs=params.crs(q.get("bbox-crs"), "bbox-crs"),
        filter=q.get("filter") or None,
        filter_lang={"cql-text": "cql2-text"}.get(q.get("filter-lang"), q.get("filter-lang", "cql2-text")),
        filter_crs=params.crs(q.get("filter-crs"), "filter-crs"),
        sortby=q.get("sortby"),
        properties=None if q.get("properties") is None else [p for p in q["properties"].split(",") if p],
    )
    if query.bbox is None and "bbox-crs" in q:
        raise InvalidParameter("bbox-crs needs bbox", "bbox-crs")
    queryable = register.queryable_names(c, view, query.at)
    unknown = sorted(set(q) - _ITEMS_PARAMS - set(queryable))
    if unknown:
        raise InvalidParameter(
            f"unknown query parameter(s): {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(_ITEMS_PARAMS))} and the queryables",
            unknown[0],
        )
    refuse_repeats(request, set(q) & set(queryable))  # several values: a CQL2 filter says how they combine
    query.equals = {name: q[name] for name in set(q) & set(queryable)}
    with request.app.state.engine.connect() as conn:
        page = register.features_page(single_statements(conn), query)
    raw = page.features  # GeoJSON text as PostGIS wrote it
    features = [json.loads(f) for f in raw] if fmt != "json" else raw
    links = _paging_links(request, query.offset, query.limit, len(features), page.matched)
    headers = {"Content-Crs": f"<{params.crs_uri(query.srid, query.flip)}>"}
    if fmt == "html":
        return HTMLResponse(render.items(c, features, page.matched, links, _lang(request), query.srid), headers=headers)
    if fmt == "csv":
        return Response(render.csv(features), media_type="text/csv; charset=utf-8", headers=headers)
    collection_part = {
        "type": "FeatureCollection",
        "numberMatched": page.matched,
        "numberReturned": len(features),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "links": links,
    }
    return Response(_collection_json(collection_part, features), media_type=_GEOJSON, headers=headers)


def _collection_json(head: dict, features: list[str]) -> bytes:
    """The FeatureCollection around the features' GeoJSON text as PostGIS wrote it.

    One body, not a stream: a page is bounded by the limit, and streaming it feature by feature
    cost a thread switch per feature (a hundred per page)."""
    return (json.dumps(head)[:-1] + ', "features": [' + ", ".join(features) + "]}").encode()


def _paging_links(request: Request, offset: int, limit: int, returned: int, matched: int) -> list[dict]:
    def url(new_offset: int) -> str:
        return str(request.url.include_query_params(offset=new_offset, limit=limit))

    links = [{"rel": "self", "href": str(request.url), "type": _GEOJSON}]
    if offset + returned < matched:
        links.append({"rel": "next", "href": url(offset + limit), "type": _GEOJSON})
    if offset > 0:
        links.append({"rel": "prev", "href": url(max(0, offset - limit)), "type": _GEOJSON})
    return links


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
    view: ViewDep,
):
    return item_answer(request, collection_id, feature_id, view)


def item_answer(request: Request, collection_id: str, feature_id: str, view: View) -> Response:
    """The answer of :func:`item`; also :mod:`api.itemhits`' for a public feature asked without parameters."""
    _only(request, {"f", "lang", "crs", "datetime", "unreviewed"})
    refuse_repeats(request, ("f", "lang", "crs", "datetime", "unreviewed"))  # read from the address, undeclared
    c = _collection(collection_id)
    fmt = _format(request)
    srid, flip = params.crs(request.query_params.get("crs"), "crs")
    at = params.instant(request.query_params.get("datetime"))
    with request.app.state.engine.connect() as conn:
        feature = register.one_feature(single_statements(conn), c, view, feature_id, srid, flip, at)
    base = f"{_base(request)}/collections/{collection_id}"
    feature["links"] = [
        {"rel": "self", "href": f"{base}/items/{feature_id}", "type": _GEOJSON},
        {"rel": "alternate", "href": f"{base}/items/{feature_id}?f=html", "type": "text/html"},
        {"rel": "collection", "href": base, "type": "application/json"},
    ]
    headers = {"Content-Crs": f"<{params.crs_uri(srid, flip)}>"}
    if c.is_parcels:
        feature["links"].append(
            {"rel": "version-history", "href": f"{base}/items/{feature_id}/history", "type": "application/json"}
        )
    if fmt == "html":
        response: Response = HTMLResponse(render.item(c, feature, _lang(request), srid), headers=headers)
    else:
        response = JSONResponse(feature, media_type=_GEOJSON, headers=headers)
    if c.is_parcels:
        version = feature["properties"].get("version")  # confidential: None where the caller may not see it
        response.headers["ETag"] = params.etag(version) if version is not None else params.content_etag(response.body)
    return response


@router.get(
    "/collections/parcels/items/{featureId}/history",
    summary="Every version of a parcel",
    response_model=models.ParcelHistory,
    response_model_exclude_unset=True,
)
def history(request: Request, feature_id: Annotated[uuid.UUID, Path(alias="featureId")], view: ViewDep):
    with request.app.state.engine.connect() as conn:
        versions = register.parcel_history(conn, view, feature_id)
    return {"id": str(feature_id), "versions": versions}


# -- Part 4: create, replace, update, retire -------------------------------------------------
def _geometry_from(feature: dict, content_crs: str | None):
    uri = (content_crs or f"<{CRS84}>").strip("<>")
    srid, flip = params.crs(uri, "Content-Crs")
    return geometry_from_geojson(feature.get("geometry"), srid, flip)


def _attributes(feature, content_crs: str | None, partial: bool) -> dict:
    """The parcel attributes of a GeoJSON Feature body (the registry's own fields are ignored)."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidParameter("the body must be a GeoJSON Feature", "body")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidParameter("properties: must be an object of parcel fields", "properties")
    derived = {f.name for f in fields.DERIVED}
    unknown = sorted(set(props) - fields.EDITABLE - derived)
    if unknown:
        raise InvalidParameter(f"properties not editable: {', '.join(unknown)}", unknown[0])
    attributes = {k: v for k, v in props.items() if k in fields.EDITABLE}
    if feature.get("geometry") is not None:
        attributes["geom"] = _geometry_from(feature, content_crs)
    elif not partial:
        raise InvalidParameter("geometry: a parcel needs its outline", "geometry")
    if attributes.get("data_date"):
        try:
            attributes["data_date"] = dt.date.fromisoformat(attributes["data_date"])
        except (TypeError, ValueError):
            raise InvalidParameter("data_date: not a date (YYYY-MM-DD)", "data_date") from None
    return attributes


@router.post("/collections/parcels/items", status_code=201, summary="Create a parcel (planners)")
def create(
    request: Request,
    principal: PlannerDep,
    feature: Annotated[dict, Body()],
    content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None,
):
    attributes = _attributes(feature, content_crs, partial=False)
    with Session(request.app.state.engine) as session:
        parcel = register.create(session, principal, attributes)
        parcel_id, version = parcel.id, parcel.version  # read before the commit expires them: no query after it
        session.commit()
    location = f"{_base(request)}/collections/parcels/items/{parcel_id}"
    return Response(status_code=201, headers={"Location": location, "ETag": params.etag(version)})


def _committed(request: Request, change, *args) -> int:
    """Run a change use case in its own session, commit it, and answer the parcel's new version
    (read before the commit: a query after it could fail although the change was saved)."""
    with Session(request.app.state.engine) as session:
        version = change(session, *args).version
        session.commit()
        return version


@dataclass
class _Change:
    """What PUT and PATCH read besides the id: the Feature, If-Match and Content-Crs."""

    feature: Annotated[dict, Body()]
    if_match: Annotated[str | None, Header()] = None
    content_crs: Annotated[str | None, Header(alias="Content-Crs")] = None


ChangeDep = Annotated[_Change, Depends()]


def _changed(request: Request, use_case, principal, feature_id: uuid.UUID, change: _Change) -> Response:
    """PUT and PATCH: the body's attributes through ``use_case``, the new ETag in the answer."""
    attributes = _attributes(change.feature, change.content_crs, partial=use_case is register.update)
    expected = params.expected_versions(change.if_match)
    version = _committed(request, use_case, principal, feature_id, expected, attributes)
    return Response(status_code=204, headers={"ETag": params.etag(version)})


@router.put("/collections/parcels/items/{featureId}", status_code=204, summary="Replace a parcel (planners)")
def replace(
    request: Request,
    feature_id: Annotated[uuid.UUID, Path(alias="featureId")],
    principal: PlannerDep,
    change: ChangeDep,
):
    return _changed(request, register.replace, principal, feature_id, change)


@router.patch("/collections/parcels/items/{featureId}", status_code=204, summary="Update a parcel (planners)")
def patch(
    request: Request,
    feature_id: Annotated[uuid.UUID, Path(alias="featureId")],
    principal: PlannerDep,
    change: ChangeDep,
):
    return _changed(request, register.update, principal, feature_id, change)


_REASONS = ", ".join(f"`{code}` ({en})" for code, (_, en) in vocab.RETIRE_REASON.labels.items())


class Retirement(BaseModel):
    """Why a parcel is retired, as a body (keeps a confidential comment out of URLs and logs)."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = None
    comment: str | None = None


@router.delete(
    "/collections/parcels/items/{featureId}",
    status_code=204,
    summary="Retire a parcel (planners): end-dated, kept in the history, with the reason",
    description=f"The reason is required: {_REASONS}. Give it and the comment (required for `sonstiges`; "
    "confidential, like internal notes) as query parameters or as a JSON body "
    '`{"reason": …, "comment": …}`; without a reason, or with an unknown one, the answer is 422 naming '
    "the field.",
)
def delete(
    request: Request,
    feature_id: Annotated[uuid.UUID, Path(alias="featureId")],
    principal: PlannerDep,
    reason: Annotated[str | None, Query(description="why: a code of the list above")] = None,
    comment: Annotated[str | None, Query(description="required for sonstiges; prefer the body")] = None,
    body: Annotated[Retirement | None, Body()] = None,
    if_match: Annotated[str | None, Header()] = None,
):
    given = {"reason": reason, "comment": comment}
    for name, value in (body.model_dump(exclude_none=True) if body else {}).items():
        if given[name] is not None:
            raise InvalidParameter(f"{name}: give it as a query parameter or in the body, not both", name)
        given[name] = value
    expected = params.expected_versions(if_match)
    _committed(request, register.retire, principal, feature_id, expected, given["reason"], given["comment"])
    return Response(status_code=204)
