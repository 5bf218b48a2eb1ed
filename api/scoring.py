"""Scoring profiles, rankings, explanations and sensitivity over HTTP.

Everyone may read profiles and the ranking of published parcels; the ministry changes profiles
(each change a new version, scored at once) and sees sensitivity reports over all parcels.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request, status
from sqlalchemy import text

from api.security import ERRORS, MinistryDep, PrincipalDep
from landreg.scoring import ProfileError, current_profile, explain, ranking, save_profile, sensitivity
from landreg.scoring.engine import score_profile
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


def _profile(conn, name: str) -> Profile:
    try:
        return current_profile(conn, name)
    except ProfileError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("", summary="Current version of every scoring profile")
def list_profiles(request: Request) -> list[dict]:
    with request.app.state.engine.connect() as conn:
        return [_public(p) for p in current_profiles(conn)]


@router.get("/{name}", summary="A profile's current version")
def get_profile(request: Request, name: str) -> dict:
    with request.app.state.engine.connect() as conn:
        return _public(_profile(conn, name))


@router.get("/{name}/versions", summary="Every version of a profile, oldest first")
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


@router.get("/{name}/versions/{version}", summary="One version of a profile")
def get_version(request: Request, name: str, version: int) -> dict:
    with request.app.state.engine.connect() as conn:
        try:
            return _public(profile_version(conn, name, version))
        except ProfileError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.put("/{name}", summary="Save a profile (a change becomes a new version, scored at once)")
def put_profile(
    request: Request,
    name: str,
    principal: MinistryDep,
    title: Annotated[str, Body()],
    purpose: Annotated[str, Body()],
    definition: Annotated[dict, Body()],
) -> dict:
    try:
        with request.app.state.engine.begin() as conn:
            profile, notes = save_profile(conn, name, title, purpose, definition, principal.owner)
            if not any(n.startswith("unchanged") for n in notes):
                score_profile(conn, profile, principal.owner)
    except ProfileError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"profile": _public(profile), "notes": notes}


@router.get("/{name}/ranking", summary="Ranked parcels (anonymous callers: published parcels only)")
def get_ranking(
    request: Request,
    name: str,
    principal: PrincipalDep,
    ags: Annotated[str | None, Query(pattern=r"^\d{8}$")] = None,
    category: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict:
    with request.app.state.engine.connect() as conn:
        profile = _profile(conn, name)
        rows = ranking(conn, profile, ags, category, limit, offset, published_only=principal is None)
    for r in rows:
        r["parcel_id"] = str(r["parcel_id"])
        r.pop("publication_allowed")
        r["score"] = round(r["score"], 2)
    return {
        "profile": name,
        "version": profile.version,
        "parcels": rows,
        "note": "Beispieldaten" if any(r["is_sample"] for r in rows) else None,
    }


@router.get("/{name}/parcels/{parcel_id}/explanation", summary="Why a parcel scores as it does")
def get_explanation(
    request: Request,
    name: str,
    parcel_id: uuid.UUID,
    principal: PrincipalDep,
    lang: Annotated[str, Query(pattern="^(de|en)$")] = "de",
) -> dict:
    with request.app.state.engine.begin() as conn:
        published = conn.execute(
            text("SELECT publication_allowed FROM parcel WHERE id = :id AND retired_at IS NULL"), {"id": parcel_id}
        ).scalar_one_or_none()
        if published is None or (principal is None and not published):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no parcel {parcel_id}")
        try:
            result = explain(conn, parcel_id, _profile(conn, name), lang)
        except LookupError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    if principal is None:  # the public view has no contamination details
        for c in result["criteria"]:
            if c["key"] == "contamination":
                c["raw"] = None
    return result


@router.get("/{name}/sensitivity", summary="How stable the top-N is when each weight changes by ±change")
def get_sensitivity(
    request: Request,
    name: str,
    principal: MinistryDep,
    change: Annotated[float, Query(gt=0, lt=1)] = 0.2,
    top: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict:
    with request.app.state.engine.connect() as conn:
        return sensitivity(conn, _profile(conn, name), change, top)
