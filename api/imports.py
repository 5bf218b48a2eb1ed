"""Import upload for planners: the same import as ``landreg import``, limited to their municipalities."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse

from api import models
from api.security import ERRORS, AuthenticatedDep, PlannerDep
from landreg import register
from landreg.importer import MODES, ImportOptions, ImportRefused, import_file

router = APIRouter(prefix="/imports", tags=["Import"], responses=ERRORS)
SUFFIXES = {".gpkg", ".zip", ".shp", ".geojson", ".json", ".geojsonl", ".geojsons", ".fgb", ".kml", ".csv", ".xlsx"}


def _refused(message: str) -> HTTPException:
    """A file refused as a whole: 422 like rows rejected. (ImportRefused has no entry in the table of
    api/errors.py yet; once it has, the route can let it through instead.)"""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def save_upload(upload: UploadFile, directory: Path, allowed: set[str]) -> Path:
    name = Path(upload.filename or "upload").name
    if Path(name).suffix.lower() not in allowed:
        raise _refused(f"{name}: unsupported file type; send one of {', '.join(sorted(allowed))} (a Shapefile as .zip)")
    target = directory / name
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return target


@router.post(
    "",
    summary="Import a parcel file (multipart upload)",
    status_code=status.HTTP_201_CREATED,
    response_model=models.ImportReport,
    responses={
        200: {"description": "dry run", "model": models.ImportReport},
        422: {"description": "file refused (an error) or rows rejected (the report, nothing written)"},
    },
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
            raise _refused(str(exc)) from None
    code = {"committed": 201, "dry-run": 200}.get(report.status, 422)
    body = report.to_dict()
    body.pop("rejected_file", None)  # a server path; the rejected rows are in "rejections"
    return JSONResponse(json.loads(json.dumps(body, default=str)), status_code=code)


@router.get("", summary="Recorded imports, newest first", response_model=list[models.ImportSummary])
def list_imports(
    request: Request, principal: AuthenticatedDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return register.imports(conn, principal, limit)


@router.get("/{import_id}", summary="One import with its full report")
def get_import(request: Request, principal: AuthenticatedDep, import_id: int) -> dict:
    with request.app.state.engine.connect() as conn:
        return register.import_report(conn, principal, import_id)
