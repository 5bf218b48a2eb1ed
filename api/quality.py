"""Data quality per municipality (Datenqualität): for the planners of the municipality and the
ministry; the figures derive from confidential fields, so the public sees none."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api import models
from api.security import ERRORS, AuthenticatedDep
from landreg.access import view_of
from landreg.quality import FINDINGS, FORMULA, quality_by_municipality

router = APIRouter(tags=["Datenqualität"], responses=ERRORS)


@router.get("/quality", summary="Data quality per municipality", response_model=models.QualityReport)
def get_quality(
    request: Request,
    principal: AuthenticatedDep,
    ags: Annotated[
        list[str] | None, Query(description="Only these municipalities (AGS); a planner's own by default")
    ] = None,
) -> dict:
    """Per municipality: current parcels, the share whose Stand is at most 12 months old, the share
    complete for their category, the mean data quality score and the parcels with each finding. A
    planner sees their own municipalities, the ministry all."""
    with request.app.state.engine.connect() as conn:
        rows = quality_by_municipality(conn, view_of(principal), ags)
    return {
        "formula": FORMULA,
        "findings": [
            {"code": f.code, "label_de": f.label_de, "label_en": f.label_en, "penalty": f.penalty}
            for f in FINDINGS.values()
        ],
        "municipalities": rows,
    }
