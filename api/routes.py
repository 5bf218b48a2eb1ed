"""Health, readiness and statistics of the registry."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine, text

from api.security import ERRORS, ViewDep
from landreg import rules, summary
from landreg.routing import database_states, primary_of
from landreg.scoring import unscored
from landreg.vocab import CATEGORY, STATUS

log = logging.getLogger(__name__)
router = APIRouter(tags=["Registry"], responses=ERRORS)


class Health(BaseModel):
    status: str = Field(description="`ok` while the process answers")


#: Seconds a count of unscored parcels is answered before it is counted again (in the background).
UNSCORED_MAX_AGE_S = 30.0


class DatabaseState(BaseModel):
    """One database the API uses: the primary, or a hot standby that reads may go to."""

    name: str = Field(description="`primary`, or `replica-N` for the N-th URL of LANDREG_READ_DATABASE_URLS")
    role: str = Field(description="`primary` or `replica`")
    state: str = Field(
        description="`ok`; a replica also `lagging` (more than LANDREG_REPLICA_MAX_LAG_S behind), `down`, "
        "`not_standby` (promoted: no longer follows the primary) or `unknown` (not checked lately)"
    )
    in_use: bool = Field(description="whether reads go to it now")
    lag_s: float | None = Field(description="a replica's lag behind the primary at its last check (upper bound), s")
    reason: str | None = Field(None, description="why a replica is not in use")


class Readiness(BaseModel):
    status: str = Field(description="`ok` when the database answers (otherwise the answer is 503)")
    postgis: str = Field(description="version of the PostGIS library")
    schema_revision: str | None = Field(description="Alembic revision of the schema (null: not migrated)")
    unscored_parcels: int | None = Field(
        description="informational: current parcels without a score of their current version under a current "
        "profile that ranks them (an import killed before its parcels were scored leaves such; "
        "`landreg score --missing` scores them). Counted in the background, at most every "
        f"{UNSCORED_MAX_AGE_S:.0f} s, so that /ready stays fast at any size; null until first counted"
    )
    unscored_counted_at: dt.datetime | None = Field(description="when `unscored_parcels` was counted")
    databases: list[DatabaseState] = Field(
        description="the primary and each read replica (LANDREG_READ_DATABASE_URLS) with its state"
    )


class _UnscoredCount:
    """The last count of unscored parcels, recounted in a background thread once it is older than
    the app's ``unscored_max_age_s`` (a million parcels take seconds; /ready must not)."""

    def __init__(self) -> None:
        self.value: int | None = None
        self.counted_at: dt.datetime | None = None
        self._counting = False
        self._lock = threading.Lock()

    def latest(self, engine: Engine, max_age_s: float) -> tuple[int | None, dt.datetime | None]:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            due = not self._counting and (
                self.counted_at is None or (now - self.counted_at).total_seconds() >= max_age_s
            )
            self._counting = self._counting or due
        if due:
            threading.Thread(target=self._count, args=(engine,), name="landreg-unscored", daemon=True).start()
        return self.value, self.counted_at

    def _count(self, engine: Engine) -> None:
        started = dt.datetime.now(dt.UTC)
        try:
            with engine.connect() as conn:
                self.value = unscored.count(conn)
            self.counted_at = started
        except Exception as exc:  # the database went away meanwhile: /ready itself says so
            log.warning("could not count unscored parcels: %s", str(exc).splitlines()[0] if str(exc) else exc)
        finally:
            self._counting = False


_COUNTS_LOCK = threading.Lock()


def _unscored_count(app: FastAPI) -> _UnscoredCount:
    with _COUNTS_LOCK:
        if getattr(app.state, "unscored", None) is None:
            app.state.unscored = _UnscoredCount()
        return app.state.unscored


class FigureLabel(BaseModel):
    figure: str = Field(description="name of the figure in landreg.rules (its predicate is `is_<figure>`)")
    de: str = Field(description="German label")
    en: str = Field(description="English label")

    @classmethod
    def of(cls, figure: str) -> FigureLabel:
        de, en = rules.LABELS[figure]
        return cls(figure=figure, de=de, en=en)


def _figure_key(figure: str) -> str:
    return f"{figure}_area_ha"


#: What each area figure of a group counts (the definitions of landreg.rules).
FIGURE_FIELDS = {
    _figure_key(f): f"{rules.label(f)} / {rules.label(f, 'en')}, ha: {' '.join(is_.__doc__.split())}"
    for f, is_ in rules.FIGURES.items()
}


class StatisticsGroup(BaseModel):
    ags: str | None = Field(None, description="municipality (AGS); when grouped by municipality")
    category: str | None = Field(None, description="category code; when grouped by category")
    municipality_name: str | None = Field(None, description="when grouped by municipality")
    parcels: int = Field(description="number of current parcels")
    sample: bool = Field(description="whether sample data is among them")
    category_label: str | None = Field(None, description="the category's label in the chosen language")
    area_ha: float = Field(description="area of all current parcels (ha)")
    available_area_ha: float = Field(description=FIGURE_FIELDS["available_area_ha"])
    reserve_area_ha: float = Field(description=FIGURE_FIELDS["reserve_area_ha"])
    restriction_free_area_ha: float = Field(description=FIGURE_FIELDS["restriction_free_area_ha"])
    by_status: dict[str, int] = Field(description="number of parcels by status (its label in the chosen language)")


assert {_figure_key(f) for f in rules.FIGURES} <= set(StatisticsGroup.model_fields)


class Statistics(BaseModel):
    by: list[str] = Field(description="the grouping")
    note: str | None = Field(description="`Beispieldaten` when sample data is counted")
    figures: dict[str, FigureLabel] = Field(description="which figure each `*_area_ha` key of a group is")
    groups: list[StatisticsGroup]


@router.get("/health", summary="Liveness: the process answers (the database is checked by /ready)")
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    summary="Readiness: database reachable, schema and PostGIS version (503 when not), parcels left unscored",
)
def ready(request: Request) -> Readiness:
    engine = primary_of(request.app.state.engine)
    with engine.connect() as conn:
        postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    max_age = getattr(request.app.state, "unscored_max_age_s", UNSCORED_MAX_AGE_S)
    count, counted_at = _unscored_count(request.app).latest(engine, max_age)
    return Readiness(
        status="ok",
        postgis=postgis,
        schema_revision=revision,
        unscored_parcels=count,
        unscored_counted_at=counted_at,
        databases=database_states(request.app.state.engine),
    )


@router.get(
    "/statistics",
    summary="Current parcels per municipality and/or category: count, area, reserve, available, restriction-free",
    description=(
        "Counts only the parcels the caller may see: anonymous callers the published parcels (the "
        "public view), planners those and every parcel of their municipalities, the ministry and "
        "admins every current parcel.\n\n"
        "Three figures of land that can be used, each defined once in `landreg/rules.py` and named in "
        "`figures`: `available_area_ha` is *verfügbar (Status)* (status `verfuegbar`), "
        "`reserve_area_ha` is *Reserve* (neither taken up nor lost to another use), "
        "`restriction_free_area_ha` is *restriktionsfreie Reserve* (reserve without restrictions that "
        "is available at some time, as in the Flächenbilanz)."
    ),
    response_model_exclude_unset=True,
)
def statistics(
    request: Request,
    view: ViewDep,
    by: Annotated[str, Query(pattern="^(municipality|category|municipality,category)$")] = "category",
    lang: Annotated[str, Query(pattern="^(de|en)$")] = "de",
) -> Statistics:
    groups = by.split(",")
    with request.app.state.engine.connect() as conn:
        rows = summary.by_group(conn, groups, view)
    out = []
    for r in rows:
        entry = dict(r)
        if "category" in entry:
            entry["category_label"] = CATEGORY.label(entry["category"], lang)
        entry["area_ha"] = round(entry.pop("area_m2") / 10_000, 2)
        for figure in rules.FIGURES:
            entry[_figure_key(figure)] = round(entry.pop(f"{figure}_area_m2") / 10_000, 2)
        entry["by_status"] = {STATUS.label(s, lang): n for s, n in (entry.pop("by_status") or {}).items()}
        out.append(StatisticsGroup(**entry))
    sample = any(r["sample"] for r in rows)
    figures = {_figure_key(f): FigureLabel.of(f) for f in rules.FIGURES}
    return Statistics(by=groups, note="Beispieldaten" if sample else None, figures=figures, groups=out)
