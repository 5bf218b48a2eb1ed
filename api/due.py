"""The due list (Wiedervorlage) over HTTP: :mod:`landreg.due` for the caller's municipalities."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.publication import Notice, Objection
from api.security import ERRORS, AuthenticatedDep, ViewDep
from landreg import due

router = APIRouter(tags=["Wiedervorlage / due list"], responses=ERRORS)


class StaleParcel(BaseModel):
    parcel_id: uuid.UUID
    ags: str
    local_ref: str
    name: str | None
    data_date: dt.date | None


class DueSubmission(BaseModel):
    id: int
    kind: str
    state: str
    actor: str
    ags: str
    submitted_at: dt.datetime
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    comment: str | None


class DueList(BaseModel):
    older_than_months: int
    stale_parcels: list[StaleParcel]
    stale_count: int
    submissions_waiting: list[DueSubmission]
    submissions_rejected: list[DueSubmission]
    objection_periods_ending: list[Notice]
    active_objections: list[Objection]


@router.get(
    "/due", summary="What a municipality has to do: old Stand, reviews, objection periods", response_model=DueList
)
def get_due(
    request: Request,
    principal: AuthenticatedDep,
    view: ViewDep,
    within_days: Annotated[int, Query(ge=1, le=366, description="objection periods ending within")] = 14,
    older_than_months: Annotated[int, Query(ge=1, le=120, description="Stand older than")] = due.STALE_MONTHS,
    limit: Annotated[int, Query(ge=1, le=due.LIST_MAX)] = 50,
) -> dict:
    with request.app.state.engine.connect() as conn:
        return due.due(conn, view, within_days, older_than_months, limit)
