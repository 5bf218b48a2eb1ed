"""Import upload for planners: the same import as ``landreg import``, limited to their municipalities."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.security import ERRORS, AuthenticatedDep, PlannerDep
from landreg.importer import MODES, ImportOptions, ImportRefused, import_file

router = APIRouter(prefix="/imports", tags=["Import"], responses=ERRORS)
SUFFIXES = {".gpkg", ".zip", ".shp", ".geojson", ".json", ".geojsonl", ".geojsons", ".fgb", ".kml", ".csv", ".xlsx"}


def save_upload(upload: UploadFile, directory: Path, allowed: set[str]) -> Path:
    name = Path(upload.filename or "upload").name
    if Path(name).suffix.lower() not in allowed:
        raise HTTPException(
            422,
            f"{name}: unsupported file type; send one of {', '.join(sorted(allowed))} (a Shapefile as .zip)",
        )
    target = directory / name
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return target


@router.post(
    "",
    summary="Import a parcel file (multipart upload)",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "dry run"}, 422: {"description": "file refused or rows rejected"}},
)
def upload(
    request: Request,
    principal: PlannerDep,
    file: Annotated[UploadFile, File(description="GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, KML, CSV, XLSX")],
    mapping: Annotated[UploadFile | None, File(description="YAML column/value mapping")] = None,
    layer: Annotated[str | None, Form()] = None,
    municipality: Annotated[str | None, Form(description="AGS every row claims")] = None,
    category: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form(description="CRS for files without one, e.g. 25832")] = None,
    encoding: Annotated[str | None, Form()] = None,
    mode: Annotated[str, Form(description=" or ".join(MODES))] = MODES[0],
    dry_run: Annotated[bool, Form()] = False,
    retire_missing: Annotated[bool, Form()] = False,
) -> JSONResponse:
    with tempfile.TemporaryDirectory(prefix="landreg-upload-") as tmp:
        directory = Path(tmp)
        path = save_upload(file, directory, SUFFIXES)
        options = ImportOptions(
            actor=principal.owner,
            layer=layer,
            municipality=municipality,
            category=category,
            mapping_file=save_upload(mapping, directory, {".yaml", ".yml"}) if mapping else None,
            crs=crs,
            encoding=encoding,
            mode=mode,
            dry_run=dry_run,
            retire_missing=retire_missing,
            rejected_path=directory / "rejected.gpkg",
            allowed_ags=principal.ags,
        )
        try:
            with request.app.state.engine.begin() as conn:
                report = import_file(conn, path, options)
        except ImportRefused as exc:
            raise HTTPException(422, str(exc)) from None
    code = {"committed": 201, "dry-run": 200}.get(report.status, 422)
    body = report.to_dict()
    body.pop("rejected_file", None)  # a server path; the rejected rows are in "rejections"
    return JSONResponse(json.loads(json.dumps(body, default=str)), status_code=code)


@router.get("", summary="Recorded imports, newest first")
def list_imports(
    request: Request, principal: AuthenticatedDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        rows = conn.execute(
            text("""
            SELECT id, started_at, actor, file_name, sha256, status, rows_read, inserted, changed, unchanged,
                   rejected, retired
              FROM import_run WHERE :all OR actor = :actor ORDER BY started_at DESC LIMIT :limit
        """),
            {"all": principal.role != "planner", "actor": principal.owner, "limit": limit},
        ).mappings()
        return [dict(r) for r in rows]


@router.get("/{import_id}", summary="One import with its full report")
def get_import(request: Request, principal: AuthenticatedDep, import_id: int) -> dict:
    with request.app.state.engine.connect() as conn:
        row = conn.execute(text("SELECT actor, report FROM import_run WHERE id = :id"), {"id": import_id}).one_or_none()
    if row is None or (principal.role == "planner" and row.actor != principal.owner):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no import {import_id}")
    return row.report
