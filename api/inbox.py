"""The inbox (Posteingang) over HTTP: every token owner reads and marks their own notifications,
nobody else's. The rules are :mod:`landreg.inbox`'s."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field

from api.security import ERRORS, AuthenticatedDep
from landreg import inbox

router = APIRouter(prefix="/inbox", tags=["Posteingang / inbox"], responses=ERRORS)


class Notification(BaseModel):
    id: int
    kind: str = Field(description="what it is about, e.g. pruefung (a change to review)")
    subject: str
    body: str
    link: str | None = Field(description="the API path of what it is about, if any")
    created_at: dt.datetime
    read_at: dt.datetime | None = Field(description="when it was marked as read; null: unread")
    emailed_at: dt.datetime | None = Field(description="when it was e-mailed; null: not (yet)")


class Inbox(BaseModel):
    unread: int = Field(description="unread notifications in the whole inbox")
    notifications: list[Notification] = Field(description="newest first")


class ReadRequest(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(max_length=inbox.MAX_IDS)


class Marked(BaseModel):
    marked: int = Field(description="how many of them were unread until now")


@router.get("", summary="Your notifications (newest first)", response_model=Inbox)
def get_inbox(
    request: Request,
    principal: AuthenticatedDep,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=inbox.MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict:
    """The notifications of the token's owner (all of their tokens share one inbox)."""
    with request.app.state.engine.connect() as conn:
        return {
            "unread": inbox.unread_count(conn, principal),
            "notifications": inbox.inbox(conn, principal, unread_only, limit, offset),
        }


@router.post("/read", summary="Mark notifications as read", response_model=Marked)
def post_read(request: Request, principal: AuthenticatedDep, read: Annotated[ReadRequest, Body()]) -> dict:
    """All or none: an id that is not in your inbox is a 404 naming it."""
    with request.app.state.engine.begin() as conn:
        return {"marked": inbox.mark_read(conn, principal, read.ids)}
