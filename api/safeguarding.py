"""Flächensicherung endpoints: plan checks (planners, ministry), the Flächenbilanz (public, aggregated
only) and the watch list (planners, ministry)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field, PlainSerializer
from pyproj import Transformer
from pyproj.exceptions import CRSError

from api.imports import save_upload
from api.routes import FigureLabel
from api.security import ERRORS, AuthenticatedDep, ViewDep
from landreg import STORAGE_SRID
from landreg.access import view_of
from landreg.safeguarding import INDUSTRIAL_CATEGORIES, PlanError, balance, check_plan, read_plan_area, watch_list
from landreg.safeguarding.balance import FIGURES as BALANCE_FIGURES
from landreg.safeguarding.balance import WINDOW_YEARS, balance_dates

#: Codes of the EPSG registry have at most six digits.
EPSG_MAX = 999_999

router = APIRouter(prefix="/safeguarding", tags=["Flächensicherung"], responses=ERRORS)

#: A date-time written as Python's isoformat (``+00:00``), as the routes wrote it before they had models.
IsoDateTime = Annotated[dt.datetime, PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json")]


class CheckedParcel(BaseModel):
    """An industrial/commercial parcel a plan check names."""

    id: str = Field(description="the parcel's id")
    ags: str
    local_ref: str
    name: str | None
    category: str
    status: str


class TouchedParcel(CheckedParcel):
    municipality: str = Field(description="name of the municipality")
    designation: str | None
    area_m2: float
    affected_m2: float = Field(description="area of the parcel inside the plan (EPSG:25832)")
    reserve: bool = Field(description="whether the parcel is Reserve (landreg.rules.is_reserve)")
    best_score: float | None = Field(description="its best score over the scoring profiles")
    conflict: str = Field(description="`flaechensicherung` (reserve built over by another use) or `keiner`")


class AbstandConflict(CheckedParcel):
    distance_m: float = Field(description="distance from the plan area")
    abstand_class: str = Field(description="the Abstandserlass class the parcel is kept for")
    required_m: int = Field(description="the distance that class requires")
    conflict: str = Field(description="`abstandserlass`")


class PlanCheckResult(BaseModel):
    intended_use: str
    parcels: list[TouchedParcel] = Field(description="industrial/commercial parcels the plan touches")
    abstand: list[AbstandConflict] = Field(description="industrial parcels too close to planned housing")
    loss_by_municipality: dict[str, float] = Field(description="m² of reserve lost, by AGS")
    loss_region_m2: float
    conflict: bool
    id: int | None = Field(description="the recorded check (null: not recorded)")


class StockGroup(BaseModel):
    category: str
    status: str
    area_m2: float
    parcels: int


class Stock(BaseModel):
    date: str
    by_category_status: list[StockGroup]
    reserve_m2: float = Field(description="Reserve (landreg.rules.is_reserve)")
    restriction_free_available_m2: float = Field(
        description="restriktionsfreie Reserve (landreg.rules.is_restriction_free)"
    )
    take_up_per_year_m2: float
    years_of_supply: float | None = Field(description="restriction-free reserve ÷ take-up per year")


class Flows(BaseModel):
    from_: str = Field(alias="from")
    to: str
    additions_m2: float
    take_up_m2: float
    lost_m2: float
    removed_m2: float
    area_changes_m2: float


class Balance(BaseModel):
    ags: str | None
    categories: list[str]
    window_years: float
    stocks: list[Stock]
    changes: list[Flows]
    figures: dict[str, FigureLabel] = Field(description="which figure each area of a stock is")


class WatchEntry(BaseModel):
    reason: str = Field(description="`nutzungsaenderung` or `planpruefung:<conflict>`")
    parcel_id: str
    at: IsoDateTime
    actor: str
    ags: str
    local_ref: str
    name: str | None
    detail: str


class PlanCheckRequest(BaseModel):
    name: str = Field(description="name of the plan, e.g. 'B-Plan 123'")
    intended_use: str = Field(description="designation code of the planned use, e.g. WA, GE, MI")
    geometry: dict[str, Any] = Field(description="GeoJSON (Multi)Polygon of the plan area")
    crs: int = Field(4326, ge=1, le=EPSG_MAX, description="EPSG code of the geometry (4326: lon/lat as in GeoJSON)")
    classes: dict[str, str] | None = Field(
        None, description="Abstandserlass class per category, e.g. {'gewerbeflaeche': 'V'}"
    )
    record: bool = Field(True, description="store the check so that its conflicts reach the watch list")


@router.post("/plan-checks", status_code=201, summary="Check a proposed plan against industrial land")
def post_plan_check(request: Request, body: PlanCheckRequest, principal: AuthenticatedDep) -> PlanCheckResult:
    try:
        geom = shapely.geometry.shape(body.geometry)
    except Exception as exc:  # shapely raises several kinds for malformed GeoJSON
        raise HTTPException(422, f"geometry: not GeoJSON ({exc})") from None
    if body.crs != STORAGE_SRID:
        try:
            to_storage = Transformer.from_crs(body.crs, STORAGE_SRID, always_xy=True)
        except CRSError:
            raise HTTPException(422, f"crs: EPSG:{body.crs} is not a known coordinate reference system") from None
        geom = shapely.transform(geom, lambda xy: np.column_stack(to_storage.transform(xy[:, 0], xy[:, 1])))
    with request.app.state.engine.begin() as conn:
        try:
            check = check_plan(
                conn, geom, body.intended_use, body.classes, (principal.owner, body.name) if body.record else None
            )
        except PlanError as exc:
            raise HTTPException(422, str(exc)) from None
    return PlanCheckResult(**check.as_dict())


PLAN_FILES = {".gml", ".xml", ".geojson", ".json", ".gpkg", ".zip", ".fgb", ".kml"}


@router.post("/plan-checks/file", status_code=201, summary="Check a plan file (XPlanGML, GeoJSON, GeoPackage …)")
def post_plan_check_file(
    request: Request,
    principal: AuthenticatedDep,
    file: Annotated[UploadFile, File(description="XPlanGML (*_Plan/*_Bereich), GeoJSON, GeoPackage, zipped Shapefile")],
    intended_use: Annotated[str, Form(description="designation code of the planned use, e.g. WA")],
    name: Annotated[str | None, Form()] = None,
    layer: Annotated[str | None, Form()] = None,
    crs: Annotated[int | None, Form(ge=1, le=EPSG_MAX, description="EPSG code when the file declares none")] = None,
    record: Annotated[bool, Form()] = True,
) -> PlanCheckResult:
    with tempfile.TemporaryDirectory(prefix="landreg-plan-") as tmp:
        path = save_upload(file, Path(tmp), PLAN_FILES)
        with request.app.state.engine.begin() as conn:
            try:
                area, file_name = read_plan_area(path, layer, crs)
                check = check_plan(
                    conn, area, intended_use, record=(principal.owner, name or file_name) if record else None
                )
            except PlanError as exc:
                raise HTTPException(422, str(exc)) from None
    return PlanCheckResult(**check.as_dict())


@router.get(
    "/balance",
    summary="Flächenbilanz: stock, additions, take-up, losses, years of supply",
    description=(
        "Aggregates only, over the parcels the caller may see: the public's figures count the parcels "
        "public now (so no figure discloses an unpublished parcel), a planner's also their own "
        "municipalities' unpublished ones, the ministry's every parcel. "
        "`figures` names which figure (`landreg/rules.py`) each area of a stock is."
    ),
    response_model=Balance,
    responses={200: {"content": {"text/csv": {}}, "description": "the stocks as CSV with `f=csv`"}},
)
def get_balance(
    request: Request,
    view: ViewDep,
    dates: Annotated[
        str,
        Query(
            description="comma-separated ISO dates, ascending (a date: end of that day), from 1990-01-01 to the "
            "end of the year ten years ahead; at most LANDREG_BALANCE_MAX_DATES of them (default 20)"
        ),
    ],
    ags: Annotated[str | None, Query(description="municipality (AGS); none: the whole registry")] = None,
    category: Annotated[list[str] | None, Query(description="categories (default: commercial and industrial)")] = None,
    window_years: Annotated[
        float, Query(ge=WINDOW_YEARS[0], le=WINDOW_YEARS[1], description="years of take-up to average")
    ] = 3.0,
    f: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
):
    instants = balance_dates([v.strip() for v in dates.split(",") if v.strip()], "dates")
    with request.app.state.engine.connect() as conn:
        result = balance(conn, instants, ags, tuple(category or INDUSTRIAL_CATEGORIES), window_years, view)
    if f == "json":
        figures = {key: FigureLabel.of(figure) for key, figure in BALANCE_FIGURES.items()}
        return Balance(**result, figures=figures)
    out = io.StringIO()
    fields = ["date", "reserve_m2", "restriction_free_available_m2", "take_up_per_year_m2", "years_of_supply"]
    writer = csv.DictWriter(out, fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(result["stocks"])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/watch-list", summary="Industrial land changing away from industrial use, newest first")
def get_watch_list(
    request: Request, principal: AuthenticatedDep, ags: Annotated[list[str] | None, Query()] = None
) -> list[WatchEntry]:
    """A planner sees the entries of their own municipalities, the ministry all."""
    with request.app.state.engine.connect() as conn:
        return watch_list(conn, ags, view=view_of(principal))
