"""Scoring profiles, rankings, explanations and sensitivity over HTTP.

Everyone may read profiles, and rankings and explanations of the parcels their view may see
(:mod:`landreg.access`; an explanation withholds criteria built on confidential fields from those
who may not see them); the ministry changes profiles (each change a new version, scored at once)
and sees sensitivity reports over all parcels. Reads use a connection without a transaction
that writes; only ``PUT`` writes.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from sqlalchemy import text

from api import models
from api.security import ERRORS, MinistryDep, ViewDep
from landreg import params
from landreg.errors import InvalidParameter, NotFound
from landreg.register import OFFSET_MAX
from landreg.scoring import ProfileError, current_profile, ranking, sensitivity
from landreg.scoring.engine import save_scored_profile
from landreg.scoring.explain import explanation
from landreg.scoring.profiles import Profile, current_profiles, profile_version

router = APIRouter(prefix="/profiles", tags=["Scoring"], responses=ERRORS)


def _public(profile: Profile) -> dict:
    return {
        "name": profile.name,
        "version": profile.version,
        "title": profile.title,
        "purpose": profile.purpose,
        "method": profile.method,
        "categories": list(profile.categories),
        "weights": profile.weights,
        "value_functions": profile.functions,
        "exclusions": list(profile.exclusions),
        "abstand_class": profile.abstand_class,
    }


def _profile(conn, name: str, version: int | None = None) -> Profile:
    """The profile's current (or given) version; an unknown one is not found (a refused change is 422)."""
    try:
        return current_profile(conn, name) if version is None else profile_version(conn, name, version)
    except ProfileError as exc:
        raise NotFound(str(exc)) from None


@router.get("", summary="Current version of every scoring profile", response_model=list[models.ScoringProfile])
def list_profiles(request: Request) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return [_public(p) for p in current_profiles(conn)]


@router.get("/{name}", summary="A profile's current version", response_model=models.ScoringProfile)
def get_profile(request: Request, response: Response, name: str) -> dict:
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
    response.headers["ETag"] = params.etag(profile.version)  # for If-Match on PUT
    return _public(profile)


@router.get(
    "/{name}/versions", summary="Every version of a profile, oldest first", response_model=list[models.ProfileVersion]
)
def list_versions(request: Request, name: str) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        rows = (
            conn.execute(
                text("""
            SELECT version, created_at, created_by FROM scoring_profile WHERE name = :name ORDER BY version
        """),
                {"name": name},
            )
            .mappings()
            .all()
        )
        if not rows:
            _profile(conn, name)
        return [dict(r) for r in rows]


@router.get("/{name}/versions/{version}", summary="One version of a profile", response_model=models.ScoringProfile)
def get_version(request: Request, name: str, version: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict:
    with request.app.state.engine.connect() as conn:
        return _public(_profile(conn, name, version))


@router.put(
    "/{name}",
    summary="Save a profile (a change becomes a new version, scored at once)",
    response_model=models.SavedProfile,
)
def put_profile(
    request: Request,
    name: str,
    principal: MinistryDep,
    title: Annotated[str, Body()],
    purpose: Annotated[str, Body()],
    definition: Annotated[dict, Body()],
    if_match: Annotated[
        str | None, Header(description='The version edited, as GET sent it (ETag "3"); another one saved since: 412')
    ] = None,
) -> dict:
    based_on = _based_on(if_match)
    with request.app.state.engine.begin() as conn:  # a ProfileError (refused definition) answers 422
        profile, notes = save_scored_profile(conn, name, title, purpose, definition, principal, based_on)
    return {"profile": _public(profile), "notes": notes}


def _based_on(if_match: str | None) -> int | None:
    """The one version an If-Match names (none or ``*``: saved whatever the current version is)."""
    expected = params.expected_versions(if_match)
    if expected is None or expected == "*":
        return None
    if len(expected) != 1:
        raise InvalidParameter('If-Match: give the one version you edited, as GET sent it (e.g. "3")', "If-Match")
    return next(iter(expected))


@router.get(
    "/{name}/ranking",
    summary="Ranked parcels among those the caller may see (anonymous callers: published parcels)",
    response_model=models.Ranking,
)
def get_ranking(
    request: Request,
    name: str,
    view: ViewDep,
    ags: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
) -> dict:
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
        rows = ranking(conn, profile, ags, category, limit, offset, view=view)
    for r in rows:
        r["parcel_id"] = str(r["parcel_id"])
        r["score"] = round(r["score"], 2)
    return {
        "profile": name,
        "version": profile.version,
        "parcels": rows,
        "note": "Beispieldaten" if any(r["is_sample"] for r in rows) else None,
    }


@router.get(
    "/{name}/parcels/{parcel_id}/explanation",
    summary="Why a parcel scores as it does (criteria on confidential fields withheld from who may not see them)",
    response_model=models.Explanation,
)
def get_explanation(
    request: Request,
    name: str,
    parcel_id: uuid.UUID,
    view: ViewDep,
    lang: Annotated[str, Query(pattern="^(de|en)$")] = "de",
) -> dict:
    with request.app.state.engine.connect() as conn:
        return explanation(conn, view, parcel_id, _profile(conn, name), lang)


@router.get(
    "/{name}/sensitivity",
    summary="How stable the top-N is when each weight changes by ±change",
    response_model=models.Sensitivity,
)
def get_sensitivity(
    request: Request,
    name: str,
    principal: MinistryDep,
    change: Annotated[float, Query(gt=0, lt=1)] = 0.2,
    top: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict:
    with request.app.state.engine.connect() as conn:
        return sensitivity(conn, _profile(conn, name), change, top)
