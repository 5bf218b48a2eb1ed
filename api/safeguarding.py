"""Flächensicherung endpoints: plan checks (planners, ministry), the Flächenbilanz (public, aggregated
only) and the watch list (planners, ministry)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field, PlainSerializer

from api.imports import save_upload
from api.routes import FigureLabel
from api.security import ERRORS, AuthenticatedDep, ViewDep
from landreg.access import view_of
from landreg.safeguarding import (
    INDUSTRIAL_CATEGORIES,
    balance,
    check_plan,
    check_plan_file,
    recorded_check,
    recorded_checks,
    watch_list,
)
from landreg.safeguarding.balance import FIGURES as BALANCE_FIGURES
from landreg.safeguarding.balance import WINDOW_YEARS, balance_dates
from landreg.safeguarding.plan_check import MAX_LISTED
from landreg.safeguarding.plans import PlanError, area_from_geojson

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


class DesignationCheck(BaseModel):
    """One designated area of the plan (an XPlanGML Baugebiet), checked with its own use."""

    use: str = Field(description="XPlanung short code of the Art der baulichen Nutzung, e.g. WA, GI")
    use_label: str | None = Field(description="its German label")
    checked_as: str = Field(description="the plan-check use it is checked as (WS and WB as WA, MD as MI …)")
    gml_id: str | None = Field(description="the feature's gml:id in the file")
    area_m2: float
    conflict: bool
    parcels: list[TouchedParcel]
    abstand: list[AbstandConflict]
    loss_region_m2: float


class PlanMunicipality(BaseModel):
    ags: str
    name: str
    share: float = Field(description="share of the plan's area in the municipality (0 to 1)")


class PlanFileInfo(BaseModel):
    name: str = Field(description="the plan's name (XPlanGML `name`, else a feature's `name`, else the file's)")
    municipalities: list[str] = Field(description="AGS the file names (XPlanGML `gemeinde`: `ags`, or from `rs`)")
    number: str | None = Field(None, description="XPlanGML `nummer`")
    legal_status: str | None = Field(None, description="XPlanGML `rechtsstand` (German label)")
    date: str | None = Field(None, description="in force / effective, else adopted, else set up (ISO date)")
    xplan_version: str | None = Field(None, description="e.g. 5.4, 6.0")
    area_source: str | None = Field(None, description="e.g. BP_Bereich.geltungsbereich")


class PlanCheckResult(BaseModel):
    intended_use: str = Field(description="the use checked for the whole area; `GI+WA` …: its designations' uses")
    parcels: list[TouchedParcel] = Field(description="industrial/commercial parcels the plan touches")
    abstand: list[AbstandConflict] = Field(description="industrial parcels too close to planned housing")
    loss_by_municipality: dict[str, float] = Field(description="m² of reserve lost, by AGS")
    loss_region_m2: float
    conflict: bool
    id: int | None = Field(description="the recorded check (null: not recorded)")
    designations: list[DesignationCheck] = Field([], description="each designated area, checked with its own use")
    municipalities: list[PlanMunicipality] = Field([], description="where the plan lies, largest share first")
    plan: PlanFileInfo | None = Field(None, description="what the plan file says of itself (file checks only)")
    bplan: list[dict] = Field(
        [],
        description="GI/GE areas of loaded B-Plans (context layers `bplan`) the plan builds over with another use "
        "(`ueberplant`) or brings housing closer to than the Abstandserlass allows (`abstandserlass`): layer, name, "
        "use, plan_name, distance_m, area_m2, overlap_m2, conflict (abstand_class, required_m)",
    )


class RecordedCheckEntry(BaseModel):
    """A recorded plan check as a listing names it."""

    id: int
    checked_at: IsoDateTime
    name: str
    intended_use: str
    conflict: bool
    actor: str = Field(description="who recorded it (the token's or user's owner)")
    actor_name: str = Field(description="their display name, where the workspace knows one")
    touched: int = Field(description="industrial/commercial parcels the check names")
    loss_m2: float = Field(description="m² of reserve the plan would give to another use")


class RecordedChecks(BaseModel):
    checks: list[RecordedCheckEntry] = Field(description="newest first")
    count: int = Field(description="how many recorded checks the caller may read in all")


class RecordedCheck(BaseModel):
    """A recorded plan check: the result as its caller saw it when it was made."""

    id: int
    checked_at: IsoDateTime
    name: str
    intended_use: str
    conflict: bool
    actor: str
    actor_name: str
    result: PlanCheckResult
    area: dict[str, Any] = Field(description="the plan area, GeoJSON in EPSG:4326")


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


#: What a plan check says of what the caller sees.
SEEN = (
    "The check counts the parcels the caller sees, as the caller sees them (a planner: the parcels of "
    "their municipalities and the published ones of others, in their reviewed state): no parcel, area "
    "or loss another caller could not see is in it. A recorded check keeps what its caller saw."
)


@router.post("/plan-checks", status_code=201, summary="Check a proposed plan against industrial land", description=SEEN)
def post_plan_check(request: Request, body: PlanCheckRequest, principal: AuthenticatedDep) -> PlanCheckResult:
    try:
        area = area_from_geojson(body.geometry, body.crs)
        with request.app.state.engine.begin() as conn:
            check = check_plan(
                conn,
                area,
                body.intended_use,
                body.classes,
                (principal.owner, body.name) if body.record else None,
                view=view_of(principal),
            )
    except PlanError as exc:  # its options are members of the JSON body here, not form fields
        raise PlanError(exc.render(_body_member), field=exc.field) from None
    return PlanCheckResult(**check.as_dict())


def _body_member(name: str, value: str | None) -> str:
    return f"the member {name} of the body" if value is None else f'"{name}": {value}'


PLAN_FILES = {".gml", ".xml", ".geojson", ".json", ".gpkg", ".zip", ".fgb", ".kml"}


@router.post(
    "/plan-checks/file",
    status_code=201,
    summary="Check a plan file (XPlanGML 5.x/6.0, GeoJSON, GeoPackage …)",
    description=(
        "The plan must lie in North Rhine-Westphalia and, for XPlanGML, in the municipality its "
        "`gemeinde` names; coordinates that look like another CRS than declared are refused (422, "
        "`field` names the form field to fix). An XPlanGML plan's Baugebiete are each checked with "
        "their own use (`designations`). " + SEEN
    ),
)
def post_plan_check_file(
    request: Request,
    principal: AuthenticatedDep,
    file: Annotated[UploadFile, File(description="XPlanGML (*_Plan/*_Bereich), GeoJSON, GeoPackage, zipped Shapefile")],
    intended_use: Annotated[
        str | None,
        Form(description="designation code of the planned use, e.g. WA; optional for XPlanGML with Baugebiete"),
    ] = None,
    name: Annotated[str | None, Form()] = None,
    layer: Annotated[str | None, Form()] = None,
    crs: Annotated[
        int | None,
        Form(ge=1, le=EPSG_MAX, description="EPSG code of the coordinates, when the file declares none or a wrong one"),
    ] = None,
    record: Annotated[bool, Form()] = True,
) -> PlanCheckResult:
    with tempfile.TemporaryDirectory(prefix="landreg-plan-") as tmp:
        path = save_upload(file, Path(tmp), PLAN_FILES)
        with request.app.state.engine.begin() as conn:
            check = check_plan_file(
                conn,
                path,
                intended_use or None,
                view=view_of(principal),
                layer=layer,
                crs=crs,
                record=(principal.owner, name) if record else None,
            )
    return PlanCheckResult(**check.as_dict())


@router.get(
    "/plan-checks",
    summary="Recorded plan checks, newest first",
    description="Those who see every parcel (reviewers, the ministry, admins) read every recorded check, a "
    "planner the checks they recorded.",
)
def get_plan_checks(
    request: Request,
    principal: AuthenticatedDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED, description="how many of the newest")] = 100,
) -> RecordedChecks:
    with request.app.state.engine.connect() as conn:
        checks, count = recorded_checks(conn, principal, limit)
    return RecordedChecks(checks=checks, count=count)


@router.get(
    "/plan-checks/{check_id}",
    summary="A recorded plan check",
    description="As recorded: what its caller saw. 404 for a check that does not exist and for one the caller "
    "may not read (a planner reads the checks they recorded).",
)
def get_plan_check(request: Request, principal: AuthenticatedDep, check_id: int) -> RecordedCheck:
    with request.app.state.engine.connect() as conn:
        check = recorded_check(conn, principal, check_id)
    result = PlanCheckResult(**(check["result"] | {"id": check["id"]}))
    return RecordedCheck(**(check | {"result": result, "area": json.loads(check["area"])}))


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
