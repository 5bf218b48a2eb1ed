"""Publication under § 200 (3) BauGB over HTTP: notices (public), objections and the due list
(planners of the municipality, the ministry). The rules are :mod:`landreg.publication`'s."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, Field

from api.security import ERRORS, AuthenticatedDep, PlannerDep, ViewDep
from landreg import publication
from landreg.vocab import CATEGORY

router = APIRouter(prefix="/publication", tags=["Veröffentlichung (§ 200 Abs. 3 BauGB)"], responses=ERRORS)


class Notice(BaseModel):
    id: int
    ags: str
    kind: str = Field(description="bekanntmachung, or uebernommen (the state before the process was introduced)")
    announced_on: dt.date
    objection_until: dt.date = Field(description="last day of the objection period")
    public_from: dt.date = Field(description="the covered parcels are public from this day")
    categories: list[str] | None = Field(description="covered categories; null: all")
    selected_only: bool = Field(description="only parcels selected for publication")
    reference: str | None
    state: str = Field(description="frist_laeuft (period running), wirksam (in effect), zurueckgezogen (withdrawn)")
    withdrawn_at: dt.datetime | None


class NoticeRequest(BaseModel):
    ags: str = Field(pattern=r"^\d{8}$")
    announced_on: dt.date
    categories: list[str] | None = Field(None, description=f"of {', '.join(CATEGORY.codes)}; none: all")
    selected_only: bool = True
    objection_until: dt.date | None = Field(None, description="later than the one-month period; none: that period")
    reference: str | None = Field(None, max_length=500)


class Objection(BaseModel):
    id: int
    parcel_id: uuid.UUID
    ags: str | None = None
    local_ref: str | None = None
    received_on: dt.date
    withdrawn_on: dt.date | None
    note: str | None
    recorded_by: str
    recorded_at: dt.datetime


class ObjectionRequest(BaseModel):
    parcel_id: uuid.UUID
    received_on: dt.date
    note: str | None = Field(None, max_length=5_000)


class Due(BaseModel):
    objection_periods_ending: list[Notice]
    active_objections: list[Objection]


@router.get("/notices", summary="Notices of publication (public announcements)", response_model=list[Notice])
def get_notices(
    request: Request,
    ags: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    include_withdrawn: bool = False,
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return publication.notices(conn, ags, include_withdrawn)


@router.post(
    "/notices", status_code=201, summary="Record a notice (planners of the municipality)", response_model=Notice
)
def post_notice(request: Request, principal: PlannerDep, notice: Annotated[NoticeRequest, Body()]) -> dict:
    with request.app.state.engine.begin() as conn:
        return publication.announce(conn, principal, **notice.model_dump())


@router.post("/notices/{notice_id}/withdrawal", summary="Withdraw a notice", response_model=Notice)
def withdraw_notice(request: Request, principal: PlannerDep, notice_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict:
    with request.app.state.engine.begin() as conn:
        return publication.withdraw_notice(conn, principal, notice_id)


@router.get("/objections", summary="Objections (confidential)", response_model=list[Objection])
def get_objections(
    request: Request, principal: AuthenticatedDep, view: ViewDep, parcel_id: uuid.UUID | None = None
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return publication.objections(conn, view, parcel_id)


@router.post("/objections", status_code=201, summary="Record an owner's objection", response_model=Objection)
def post_objection(request: Request, principal: PlannerDep, objection: Annotated[ObjectionRequest, Body()]) -> dict:
    with request.app.state.engine.begin() as conn:
        return publication.record_objection(conn, principal, **objection.model_dump())


@router.post(
    "/objections/{objection_id}/withdrawal", summary="The owner withdrew an objection", response_model=Objection
)
def withdraw_objection(
    request: Request,
    principal: PlannerDep,
    objection_id: Annotated[int, Path(ge=1, le=2**62)],
    withdrawn_on: Annotated[dt.date, Body(embed=True)],
) -> dict:
    with request.app.state.engine.begin() as conn:
        return publication.withdraw_objection(conn, principal, objection_id, withdrawn_on)


@router.get("/due", summary="Objection periods ending soon and active objections", response_model=Due)
def get_due(
    request: Request, principal: AuthenticatedDep, view: ViewDep, within_days: Annotated[int, Query(ge=1, le=366)] = 14
) -> dict:
    with request.app.state.engine.connect() as conn:
        return publication.due(conn, view, within_days)
