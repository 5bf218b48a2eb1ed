"""Context layers over HTTP (:mod:`landreg.context`): anyone may list them with their source,
licence, date and coverage (metadata of public data, needed to read a score); loading, replacing
and removing them is for admins, recorded in the change log, which admins and the ministry read."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status
from pydantic import BaseModel, Field

from api.imports import SUFFIXES, CappedUpload, save_upload
from api.security import ERRORS, require_role
from landreg import context
from landreg.access import Principal
from landreg.db import unbounded_statements
from landreg.vocab import CONTEXT_KIND

router = APIRouter(prefix="/context", tags=["Kontextebenen"], responses=ERRORS, route_class=CappedUpload)

AdminDep = Annotated[Principal, Depends(require_role("admin"))]
#: who reads the change log: admins, and the ministry, which steers with the scores the layers feed
LogReaderDep = Annotated[Principal, Depends(require_role("admin", "ministry"))]
#: Files a layer (or its coverage) may come in: what the importer reads, and XPlanGML for B-Plans.
LAYER_SUFFIXES = SUFFIXES | {".gml", ".xml"}
LayerName = Annotated[str, Path(description="the layer's name (GET /context/layers lists them)", max_length=200)]


class ContextLayer(BaseModel):
    """A context layer: what it holds, where from, under which licence, and where it is complete."""

    name: str
    kind: str = Field(description=f"one of {', '.join(CONTEXT_KIND.codes)}")
    source: str = Field(description="where the data comes from (attribution)")
    licence: str | None = Field(description="the licence of the data; null: not given")
    data_date: dt.date | None = Field(description="the date of the data (Stand)")
    checksum: str | None = Field(description="SHA-256 of the features as loaded; null: written in SQL")
    features: int
    coverage_basis: str = Field(
        description="`angegeben`: given when loaded; `gemeinden`: the municipalities its features lie in"
    )
    coverage_note: str | None = Field(description="what the coverage means, in words")
    coverage_ags: list[str] | None = Field(description="the municipalities (AGS) the coverage was given as")
    coverage_km2: float
    covers: list[str] = Field(description="the kinds whose coverage it speaks for (a B-Plan also for wohngebiet)")
    loaded_at: dt.datetime


class LayerChange(BaseModel):
    """What a load, replacement or removal did, as recorded in the change log."""

    id: int | None
    action: str = Field(description="geladen, ersetzt, entfernt or unveraendert (nothing recorded)")
    layer: str
    kind: str
    checksum_before: str | None
    checksum_after: str | None
    features_before: int | None
    features_after: int | None
    changed: list[str] = Field(description="inhalt, quelle, lizenz, stand, abdeckung, abdeckungshinweis")
    rescored: int = Field(description="parcels whose indicators changed, re-scored in the same transaction")
    notes: list[str]


class LoggedChange(LayerChange):
    at: dt.datetime
    actor: str
    details: dict[str, Any]
    notes: list[str] = []


@router.get(
    "/layers", summary="The context layers with source, licence, date and coverage", response_model=list[ContextLayer]
)
def list_layers(
    request: Request, kind: Annotated[str | None, Query(description="only this kind", max_length=40)] = None
) -> list[dict]:
    if kind is not None:
        context.check_kind(kind)
    with request.app.state.engine.connect() as conn:
        return context.layers(conn, kind)


@router.get("/layers/{name}", summary="One context layer", response_model=ContextLayer)
def get_layer(request: Request, name: LayerName) -> dict:
    with request.app.state.engine.connect() as conn:
        return context.layer(conn, name)


@router.get(
    "/layers/{name}/coverage",
    summary="Where a context layer is complete, as a GeoJSON Feature (CRS84)",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_coverage(request: Request, name: LayerName) -> dict:
    with request.app.state.engine.connect() as conn:
        return context.coverage_geojson(conn, name)


@router.get(
    "/changes",
    summary="The change log of the context layers, newest first (admins, the ministry)",
    response_model=list[LoggedChange],
)
def list_changes(
    request: Request,
    principal: LogReaderDep,
    layer: Annotated[str | None, Query(description="only this layer", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return context.changes(conn, layer, limit)


def _coverage(directory: FilePath, file: UploadFile | None, ags: str | None, note: str | None, crs: str | None):
    codes = tuple(a.strip() for a in (ags or "").split(",") if a.strip())
    if file is None and not codes and not note:
        return None
    path = save_upload(file, directory / "coverage", LAYER_SUFFIXES, "coverage") if file is not None else None
    return context.Coverage(context.read_coverage(path, crs=crs) if path else None, codes, note or None)


Upload = Annotated[
    UploadFile, File(description="the features: GeoPackage, GeoJSON, zipped Shapefile …; bplan: XPlanGML")
]
CoverageUpload = Annotated[UploadFile | None, File(description="polygon file of the area the layer is complete for")]
CoverageAgs = Annotated[
    str | None, Form(description="municipalities (AGS) the layer is complete for, comma-separated", max_length=4000)
]
CoverageNote = Annotated[str | None, Form(description="what the coverage means, in words", max_length=1000)]
Text = Annotated[str | None, Form(max_length=500)]


@router.post(
    "/layers",
    summary="Load a new context layer (admins)",
    status_code=status.HTTP_201_CREATED,
    response_model=LayerChange,
    responses={409: {"description": "the name is taken, or the same features are loaded already"}},
)
def post_layer(
    request: Request,
    principal: AdminDep,
    kind: Annotated[str, Form(description=f"one of {', '.join(CONTEXT_KIND.codes)}", max_length=40)],
    file: Upload,
    source: Annotated[str, Form(description="where the data comes from (attribution)", max_length=500)],
    name: Annotated[
        str | None, Form(description="the layer's name (default: kind and file name)", max_length=200)
    ] = None,
    licence: Text = None,
    date: Annotated[str | None, Form(description="date of the data (Stand), YYYY-MM-DD", max_length=40)] = None,
    layer: Text = None,
    name_column: Text = None,
    crs: Annotated[str | None, Form(description="EPSG code, for a file that declares none", max_length=40)] = None,
    coverage: CoverageUpload = None,
    coverage_ags: CoverageAgs = None,
    coverage_note: CoverageNote = None,
) -> dict:
    """Without `coverage` or `coverage_ags` the layer covers the municipalities its features lie in.
    The parcels whose indicators change are re-scored before the answer."""
    context.check_kind(kind)
    with tempfile.TemporaryDirectory(prefix="landreg-context-") as tmp:
        directory = FilePath(tmp)
        (directory / "coverage").mkdir()
        path = save_upload(file, directory, LAYER_SUFFIXES)
        features = context.read_features(path, kind, layer or None, crs or None, name_column or None)
        given = _coverage(directory, coverage, coverage_ags, coverage_note, crs or None) or context.Coverage()
        meta = context.Metadata(source, licence or None, context.parse_date(date))
        layer_name = context.check_name(name) if name else context.default_name(kind, path.name)
        with unbounded_statements(), request.app.state.engine.begin() as conn:
            return context.load(conn, principal, layer_name, features, meta, given).as_dict()


@router.put(
    "/layers/{name}",
    summary="Replace a context layer's features, metadata or coverage (admins)",
    response_model=LayerChange,
)
def put_layer(
    request: Request,
    principal: AdminDep,
    name: LayerName,
    file: Annotated[UploadFile | None, File(description="its new features (default: keep them)")] = None,
    source: Text = None,
    licence: Text = None,
    date: Annotated[str | None, Form(description="date of the data (Stand), YYYY-MM-DD", max_length=40)] = None,
    layer: Text = None,
    name_column: Text = None,
    crs: Annotated[str | None, Form(description="EPSG code, for a file that declares none", max_length=40)] = None,
    coverage: CoverageUpload = None,
    coverage_ags: CoverageAgs = None,
    coverage_note: CoverageNote = None,
) -> dict:
    """Compared by content (a checksum of the features): the same number of moved features is a
    change, the same file none (`action`: `unveraendert`). What is not sent stays."""
    with tempfile.TemporaryDirectory(prefix="landreg-context-") as tmp:
        directory = FilePath(tmp)
        (directory / "coverage").mkdir()
        given = _coverage(directory, coverage, coverage_ags, coverage_note, crs or None)
        path = save_upload(file, directory, LAYER_SUFFIXES) if file is not None else None
        with unbounded_statements(), request.app.state.engine.begin() as conn:
            kind = context.layer(conn, name)["kind"]
            features = (
                context.read_features(path, kind, layer or None, crs or None, name_column or None) if path else None
            )
            meta = context.Metadata(source) if source else None
            change = context.replace(
                conn, principal, name, features, meta, given, licence or None, context.parse_date(date)
            )
            return change.as_dict()


@router.delete("/layers/{name}", summary="Remove a context layer (admins)", response_model=LayerChange)
def delete_layer(request: Request, principal: AdminDep, name: LayerName) -> dict:
    """The parcels the layer informed are re-scored without it before the answer."""
    with unbounded_statements(), request.app.state.engine.begin() as conn:
        return context.remove(conn, principal, name).as_dict()
