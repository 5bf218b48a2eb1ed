"""Review of municipal changes over HTTP (:mod:`landreg.review`): submissions with their diffs for
reviewers and the municipality's planners; approve or reject, one or many, for reviewers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Path, Query, Request
from pydantic import BaseModel, Field

from api.security import ERRORS, AuthenticatedDep
from landreg import inbox, review

router = APIRouter(prefix="/review", tags=["Prüfung / review"], responses=ERRORS)

_STATE = Query(description="wartend (waiting), freigegeben (approved), abgelehnt (rejected), ueberholt (superseded)")


class Submission(BaseModel):
    id: int
    kind: str = Field(description="anlage (new parcel), aenderung (change), stilllegung (retirement), import")
    kind_label: str
    ags: list[str]
    actor: str
    submitted_at: dt.datetime
    import_run_id: int | None
    state: str = Field(description="wartend, freigegeben, abgelehnt, ueberholt")
    state_label: str
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    comment: str | None
    parcels: int = Field(description="parcels in the submission")
    waiting: int = Field(description="of them still waiting (the others were superseded or decided)")


class FieldChange(BaseModel):
    field: str
    label: str
    before: object | None
    after: object | None


class GeometryChange(BaseModel):
    area_before_m2: float | None
    area_after_m2: float | None
    area_added_m2: float | None
    area_removed_m2: float | None


class RetirementReason(BaseModel):
    reason: str | None = Field(description="landreg.vocab.RETIRE_REASON; null: not recorded (before reasons were)")
    label_de: str
    label_en: str
    comment: str | None


class ParcelChange(BaseModel):
    parcel_id: uuid.UUID
    local_ref: str
    ags: str
    version: int
    base_version: int | None = Field(description="the approved version everybody else sees; null: none (new)")
    retired: bool
    state: str
    retirement: RetirementReason | None = Field(None, description="of a retirement: why")
    fields: list[FieldChange]
    geometry: GeometryChange | None = Field(description="null: the geometry did not change")


class SubmissionDetail(Submission):
    changes: list[ParcelChange]


class Decision(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(min_length=1, max_length=review.MAX_BULK)
    comment: str | None = Field(None, max_length=review.MAX_COMMENT)


class Decided(BaseModel):
    id: int
    state: str
    parcels: int = Field(description="parcels decided")
    superseded: list[dict] = Field(description="parcels superseded by a newer change: they need its review")


@router.get("/submissions", summary="Submissions (waiting first)", response_model=list[Submission])
def get_submissions(
    request: Request,
    principal: AuthenticatedDep,
    state: Annotated[str | None, _STATE] = "wartend",
    ags: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return review.submissions(conn, principal, state or None, ags, limit, offset)


@router.get(
    "/submissions/{submission_id}", summary="A submission with its field-by-field diff", response_model=SubmissionDetail
)
def get_submission(
    request: Request,
    principal: AuthenticatedDep,
    submission_id: Annotated[int, Path(ge=1, le=2**62)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    with request.app.state.engine.connect() as conn:
        return review.submission(conn, principal, submission_id, limit, offset)


@router.post("/approvals", summary="Approve submissions (reviewers; all or none)", response_model=list[Decided])
def approve(
    request: Request, principal: AuthenticatedDep, decision: Annotated[Decision, Body()], later: BackgroundTasks
) -> list[dict]:
    with request.app.state.engine.begin() as conn:
        result = review.approve(conn, principal, decision.ids, decision.comment)
    later.add_task(_deliver, request.app.state.engine)
    return result


@router.post(
    "/rejections", summary="Reject submissions with a comment (reviewers; all or none)", response_model=list[Decided]
)
def reject(
    request: Request, principal: AuthenticatedDep, decision: Annotated[Decision, Body()], later: BackgroundTasks
) -> list[dict]:
    with request.app.state.engine.begin() as conn:
        result = review.reject(conn, principal, decision.ids, decision.comment or "")
    later.add_task(_deliver, request.app.state.engine)
    return result


def _deliver(engine) -> None:
    """E-mail the notifications the decision made, after the answer (when SMTP is configured; a slow
    or failing server delays nobody, and what it did not take is sent next time)."""
    with engine.begin() as conn:
        inbox.deliver(conn)
