"""Health, readiness and statistics of the registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import text

from api.security import ERRORS
from landreg import summary
from landreg.vocab import CATEGORY, STATUS

router = APIRouter(tags=["Registry"], responses=ERRORS)


@router.get("/health", summary="Liveness: the process answers (the database is checked by /ready)")
def health() -> dict:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: database reachable, schema and PostGIS version (503 when not)")
def ready(request: Request) -> dict:
    with request.app.state.engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return {"status": "ok", "postgis": postgis, "schema_revision": revision}


@router.get("/statistics", summary="Current parcels per municipality and/or category: count, area, available area")
def statistics(
    request: Request,
    by: Annotated[str, Query(pattern="^(municipality|category|municipality,category)$")] = "category",
    lang: Annotated[str, Query(pattern="^(de|en)$")] = "de",
) -> dict:
    groups = by.split(",")
    with request.app.state.engine.connect() as conn:
        rows = summary.by_group(conn, groups)
    out = []
    for r in rows:
        entry = dict(r)
        if "category" in entry:
            entry["category_label"] = CATEGORY.label(entry["category"], lang)
        entry["area_ha"] = round(entry.pop("area_m2") / 10_000, 2)
        entry["available_area_ha"] = round(entry.pop("available_area_m2") / 10_000, 2)
        entry["by_status"] = {STATUS.label(s, lang): n for s, n in (entry.pop("by_status") or {}).items()}
        out.append(entry)
    sample = any(r["sample"] for r in rows)
    return {"by": groups, "note": "Beispieldaten" if sample else None, "groups": out}
