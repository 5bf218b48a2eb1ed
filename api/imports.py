"""Import upload for planners: the same import as ``landreg import``, limited to their municipalities.

Refusals are the importer's exceptions, answered through the table of ``api/errors.py``: a
malformed form field 400 (naming it), a file refused as a whole 422, an upload over the size
limit 413 (naming it). No answer names a server path: the file is named by the client's file name,
and the rejected rows of a keep-valid upload are not kept as a file on the server (the report lists
the first 10,000 with their reasons and counts all of them).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api import models
from api.security import ERRORS, AuthenticatedDep, PlannerDep
from landreg import register
from landreg.importer import MODES, FileTooLarge, ImportOptions, ImportRefused, import_file
from landreg.importer.alkis import NAS_SUFFIXES
from landreg.importer.refusals import form_field
from landreg.importer.report import KEPT_MAX
from landreg.settings import get_settings

#: What an upload may be called (what it is, is read from its content: a workbook named .csv is read as one).
SUFFIXES = {".gpkg", ".zip", ".shp", ".geojson", ".json", ".geojsonl", ".geojsons", ".fgb", ".kml", ".gml"}
SUFFIXES |= {".csv", ".tsv", ".xlsx", ".ods"}  # tables (a text table named .txt: as .csv)
MAPPING_SUFFIXES = {".yaml", ".yml"}
UPLOAD_LIMIT_SETTING = "LANDREG_MAX_UPLOAD_BYTES"


def upload_limit(request: Request) -> int:
    """The size limit of an upload: ``app.state.max_upload_bytes`` when set, else the setting."""
    limit = getattr(request.app.state, "max_upload_bytes", None)
    return limit if limit is not None else get_settings().max_upload_bytes


class CappedUpload(APIRoute):
    """A route whose request body may not exceed :func:`upload_limit`: refused by its declared
    Content-Length before anything is read, or as soon as more bytes arrive than that. A subclass
    may bound it by another setting (``setting``, ``limit``)."""

    setting = UPLOAD_LIMIT_SETTING

    def limit(self, request: Request) -> int:
        return upload_limit(request)

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def capped(request: Request) -> Response:
            limit = self.limit(request)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FileTooLarge(limit, self.setting)
            received = 0

            async def counting_receive():
                nonlocal received
                message = await request.receive()
                received += len(message.get("body", b""))
                if received > limit:
                    raise FileTooLarge(limit, self.setting)
                return message

            try:
                return await handler(Request(request.scope, counting_receive))
            except HTTPException as exc:  # FastAPI wraps an error while reading the form in a 400
                if isinstance(exc.__cause__, FileTooLarge):
                    raise exc.__cause__ from None
                raise

        return capped


router = APIRouter(prefix="/imports", tags=["Import"], responses=ERRORS, route_class=CappedUpload)


def save_upload(upload: UploadFile, directory: FilePath, allowed: set[str], field: str = "file") -> FilePath:
    """The uploaded file in ``directory`` under its client file name (no directories of it)."""
    name = FilePath(upload.filename or "upload").name
    if FilePath(name).suffix.lower() not in allowed:
        raise ImportRefused(
            f"{name}: unsupported file type; send one of {', '.join(sorted(allowed))}"
            + (" (a Shapefile as .zip)" if ".zip" in allowed else ""),
            field=field,
        )
    target = directory / name
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return target


@router.post(
    "",
    summary="Import a parcel file (multipart upload)",
    description=(
        "The parcels written are scored in the import's transaction: they have their scores as soon as "
        "the answer arrives. A malformed form field answers 400 naming it, a file refused as a whole 422, "
        "an upload over `LANDREG_MAX_UPLOAD_BYTES` (256 MiB) 413. The report lists the first "
        f"{KEPT_MAX:,} rejections (and notes) with row, field and reason, `rejections_omitted` says how "
        "many more there are, `rejection_counts` counts all of them by field and reason. The file of "
        "rejected rows that `landreg import --mode keep-valid` writes is not kept for uploads."
    ),
    status_code=status.HTTP_201_CREATED,
    response_model=models.ImportReport,
    responses={
        200: {"description": "dry run", "model": models.ImportReport},
        400: {"description": "a form field is malformed (the body names it in `field`)"},
        413: {"description": "the upload is larger than the limit (named in the message)"},
        422: {"description": "file refused (an error naming the field) or rows rejected (the report, nothing written)"},
    },
)
def upload(
    request: Request,
    principal: PlannerDep,
    file: Annotated[
        UploadFile, File(description="GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, KML, GML, CSV, XLSX, ODS")
    ],
    mapping: Annotated[UploadFile | None, File(description="YAML column/value mapping")] = None,
    layer: Annotated[str | None, Form()] = None,
    sheet: Annotated[str | None, Form(description="sheet of a workbook (XLSX, ODS)")] = None,
    wkt_column: Annotated[
        str | None, Form(description="table column with the outlines as WKT (else found by name and content)")
    ] = None,
    x_column: Annotated[str | None, Form(description="table column with x (Rechtswert, easting, longitude)")] = None,
    y_column: Annotated[str | None, Form(description="table column with y (Hochwert, northing, latitude)")] = None,
    municipality: Annotated[str | None, Form(description="AGS every row claims")] = None,
    category: Annotated[str | None, Form()] = None,
    crs: Annotated[str | None, Form(description="CRS for files without one, e.g. 25832")] = None,
    encoding: Annotated[str | None, Form(description="text encoding, e.g. utf-8, cp1252, latin-1")] = None,
    mode: Annotated[str, Form(description=" or ".join(MODES))] = MODES[0],
    dry_run: Annotated[bool, Form()] = False,
    retire_missing: Annotated[bool, Form()] = False,
    from_alkis: Annotated[
        bool, Form(description="the file holds ALKIS Flurstücke (NAS .xml/.gml, or ALKIS vereinfacht)")
    ] = False,
    group_by: Annotated[str | None, Form(description="from_alkis: one parcel per value of this column")] = None,
) -> JSONResponse:
    with tempfile.TemporaryDirectory(prefix="landreg-upload-") as tmp:
        directory = FilePath(tmp)
        path = save_upload(file, directory, SUFFIXES | (NAS_SUFFIXES if from_alkis else set()))
        options = ImportOptions(
            actor=principal.owner,
            layer=layer or None,
            sheet=sheet or None,
            wkt_column=wkt_column or None,
            x_column=x_column or None,
            y_column=y_column or None,
            municipality=municipality or None,
            category=category or None,
            mapping_file=save_upload(mapping, directory, MAPPING_SUFFIXES, "mapping") if mapping else None,
            crs=crs or None,
            encoding=encoding or None,
            mode=mode,
            dry_run=dry_run,
            retire_missing=retire_missing,
            from_alkis=from_alkis,
            group_by=group_by or None,
            rejected_rows_file=False,  # the directory goes with the request
            allowed_ags=principal.ags,
            principal=principal,
            spell=form_field,
        )
        with request.app.state.engine.begin() as conn:
            report = import_file(conn, path, options)
    code = {"committed": 201, "dry-run": 200}.get(report.status, 422)
    answer = _without_paths(report.to_dict(spell=form_field))
    return JSONResponse(json.loads(json.dumps(answer, default=str)), status_code=code)


def _without_paths(report: dict) -> dict:
    """A report as answered over HTTP: without the file of rejected rows, a path on the machine that
    imported (the command line's)."""
    report.pop("rejected_file", None)
    return report


@router.get("", summary="Recorded imports, newest first", response_model=list[models.ImportSummary])
def list_imports(
    request: Request, principal: AuthenticatedDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return register.imports(conn, principal, limit)


@router.get("/{import_id}", summary="One import with its full report (without server paths)")
def get_import(
    request: Request, principal: AuthenticatedDep, import_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> dict:
    with request.app.state.engine.connect() as conn:
        return _without_paths(register.import_report(conn, principal, import_id))
