"""Landing page, health and the registry summary."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from api.deps import ConnectionDep
from landreg import summary
from landreg.vocab import CATEGORY

router = APIRouter()


@router.get("/", summary="Landing page")
def landing(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {
        "title": "landreg – Flächenregister Ruhr",
        "description": "Register wiedernutzbarer Flächen (Brachflächen, Baulücken, Gewerbe- und Industrieflächen)",
        "links": [
            {"rel": "self", "href": f"{base}/", "type": "application/json"},
            {"rel": "service-desc", "href": f"{base}/openapi.json", "type": "application/vnd.oai.openapi+json"},
            {"rel": "service-doc", "href": f"{base}/docs", "type": "text/html"},
            {"rel": "summary", "href": f"{base}/summary", "type": "application/json"},
        ],
    }


@router.get("/health", summary="Database reachable, schema and PostGIS version")
def health(conn: ConnectionDep) -> dict:
    postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return {"status": "ok", "postgis": postgis, "schema_revision": revision}


@router.get("/summary", summary="Current reserve per category (public parcels only)")
def registry_summary(conn: ConnectionDep, lang: str = "de") -> dict:
    rows = summary.by_category(conn, published_only=True)
    return {
        "sample_data": any(r.sample for r in rows),
        "note": "Beispieldaten" if any(r.sample for r in rows) else None,
        "categories": [
            {
                "category": r.category,
                "label": CATEGORY.label(r.category, lang),
                "parcels": r.parcels,
                "area_ha": round(r.area_m2 / 10_000, 2),
            }
            for r in rows
        ],
    }
