"""Flächensicherung: see industrial land being lost before it is lost, and account for every hectare.

* :func:`check_plan`: which industrial/commercial parcels a proposed plan touches (areas exact in
  EPSG:25832), the reserve lost per municipality and for the region, and Abstandserlass conflicts
  of housing planned too close to industrial land;
* :func:`balance`: the Flächenbilanz between dates, from the parcel history alone;
* :func:`watch_list`: industrial parcels that changed away from industrial use or were touched by
  a recorded plan check with a conflict.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from pyogrio.errors import DataSourceError
from pyproj.exceptions import CRSError
from sqlalchemy import Connection, Integer, String, case, literal_column, null, text

from landreg import STORAGE_SRID
from landreg.scoring.criteria import ABSTAND_CLASSES

INDUSTRIAL_CATEGORIES = ("gewerbeflaeche", "industrieflaeche")
INDUSTRIAL_DESIGNATIONS = ("GI", "GE", "GIB", "G")
#: Uses that bring housing, so that the Abstandserlass applies to them.
RESIDENTIAL_USES = ("WA", "WR", "W", "MI", "MU", "MK", "ASB")
USES = INDUSTRIAL_DESIGNATIONS + RESIDENTIAL_USES + ("SO", "F")
#: Statuses of land that is still a reserve (not taken up, not lost).
RESERVE_STATUSES = ("potenzial", "verfuegbar", "reserviert", "in_entwicklung")
#: The Abstandserlass class an industrial parcel is kept for when it records none, by category
#: (a plan check may say otherwise).
DEFAULT_CLASSES = {"industrieflaeche": "III", "gewerbeflaeche": "V"}

_INDUSTRIAL_SQL = "(p.category IN ('gewerbeflaeche', 'industrieflaeche') OR p.designation IN ('GI', 'GE', 'GIB', 'G'))"


class PlanError(ValueError):
    pass


@dataclass
class PlanCheck:
    intended_use: str
    parcels: list[dict] = field(default_factory=list)  # touched industrial parcels
    abstand: list[dict] = field(default_factory=list)  # industrial parcels too close to planned housing
    loss_by_municipality: dict[str, float] = field(default_factory=dict)  # m² of reserve lost
    loss_region_m2: float = 0.0
    conflict: bool = False
    id: int | None = None

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def read_plan_area(path: Path, layer: str | None = None, crs: int | None = None) -> tuple[shapely.MultiPolygon, str]:
    """The plan area of a file (GeoJSON, GeoPackage, Shapefile, XPlanGML …) in EPSG:25832, and its name.

    XPlanGML: the ``*_Bereich`` layer when there is one, else ``*_Plan`` (their geometry is the
    Geltungsbereich); other files: their only layer. All features are united into one area.
    """
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except (DataSourceError, OSError) as exc:
        raise PlanError(f"{path.name}: cannot be read as a geodata file ({exc})") from None
    if layer is None:
        preferred = [n for n in layers if n.endswith("_Bereich")] or [n for n in layers if n.endswith("_Plan")]
        if preferred:
            layer = preferred[0]
        elif len(layers) == 1:
            layer = layers[0]
        else:
            raise PlanError(f"{path.name} has several layers ({', '.join(layers)}); choose one")
    elif layer not in layers:
        raise PlanError(f"{path.name} has no layer {layer!r}; layers: {', '.join(layers)}")
    frame = gpd.read_file(path, layer=layer)
    if frame.empty:
        raise PlanError(f"{path.name}: layer {layer!r} has no features")
    if frame.crs is None:
        if crs is None:
            raise PlanError(f"{path.name} declares no CRS; give it (e.g. 25832)")
        try:
            frame = frame.set_crs(crs)
        except CRSError:
            raise PlanError(f"crs: EPSG:{crs} is not a known coordinate reference system") from None
    area = shapely.union_all(frame.to_crs(STORAGE_SRID).geometry.to_numpy())
    return _plan_geometry(area), _plan_name(path, layer, layers, frame)


def _plan_name(path: Path, layer: str, layers: list[str], frame: gpd.GeoDataFrame) -> str:
    """The plan's name: of the XPlanGML *_Plan feature (a Bereich has none), else of the feature, else the file."""
    plan_layer = layer.removesuffix("_Bereich") + "_Plan"
    if layer.endswith("_Bereich") and plan_layer in layers:
        frame = gpd.read_file(path, layer=plan_layer, ignore_geometry=True)
    names = [str(n) for n in frame.get("name", []) if isinstance(n, str) and n]
    return names[0] if names else path.stem


def _plan_geometry(geometry) -> shapely.MultiPolygon:
    geom = shapely.geometry.shape(geometry) if isinstance(geometry, dict) else geometry
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise PlanError("the plan area must be a (multi)polygon")
    if not geom.is_valid:
        raise PlanError(f"the plan area is not a valid polygon: {shapely.is_valid_reason(geom)}")
    return geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon([geom])


def check_plan(
    conn: Connection,
    geometry,
    intended_use: str,
    classes: dict[str, str] | None = None,
    record: tuple[str, str] | None = None,
) -> PlanCheck:
    """Check a proposed plan area (EPSG:25832) with its intended use (a designation code).

    ``classes``: Abstandserlass class per category for parcels that have no class of their own
    (default :data:`DEFAULT_CLASSES`).
    ``record``: (actor, plan name) to store the check for the watch list.
    """
    if intended_use not in USES:
        raise PlanError(f"intended_use: {intended_use!r} is not one of {', '.join(USES)}")
    classes = DEFAULT_CLASSES | (classes or {})
    unknown = {c for c in classes.values() if c not in ABSTAND_CLASSES}
    if unknown:
        raise PlanError(
            f"unknown Abstandserlass class {', '.join(sorted(unknown))}; classes: {', '.join(ABSTAND_CLASSES)}"
        )
    plan = _plan_geometry(geometry)
    params = {"wkb": shapely.to_wkb(plan), "srid": STORAGE_SRID, "reserve": list(RESERVE_STATUSES)}
    touched = conn.execute(
        text(f"""
        WITH plan AS (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), :srid) AS g)
        SELECT p.id, p.ags, m.name AS municipality, p.local_ref, p.name, p.category, p.designation, p.status,
               p.area_m2, ST_Area(ST_Intersection(p.geom, plan.g)) AS affected_m2,
               p.status = ANY(:reserve) AS reserve,
               (SELECT max(s.score) FROM parcel_score s WHERE s.parcel_id = p.id) AS best_score
          FROM parcel p JOIN municipality m ON m.ags = p.ags, plan
         WHERE p.retired_at IS NULL AND ST_Intersects(p.geom, plan.g) AND {_INDUSTRIAL_SQL}
         ORDER BY affected_m2 DESC, p.local_ref
    """),
        params,
    ).mappings()
    check = PlanCheck(intended_use)
    changes_use = intended_use not in INDUSTRIAL_DESIGNATIONS
    for row in touched:
        entry = {k: (str(v) if k == "id" else v) for k, v in row.items()}
        entry["conflict"] = (
            "flaechensicherung" if changes_use and row["reserve"] and row["affected_m2"] > 0 else "keiner"
        )
        check.parcels.append(entry)
        if entry["conflict"] != "keiner":
            check.loss_by_municipality[row["ags"]] = (
                check.loss_by_municipality.get(row["ags"], 0.0) + row["affected_m2"]
            )
    check.loss_region_m2 = sum(check.loss_by_municipality.values())
    if intended_use in RESIDENTIAL_USES:
        check.abstand = _abstand_conflicts(conn, params, classes)
    check.conflict = bool(check.loss_region_m2 > 0 or check.abstand)
    if record is not None:
        check.id = _record(conn, check, plan, *record)
    return check


def _abstand_conflicts(conn: Connection, params: dict, classes: dict[str, str]) -> list[dict]:
    """Industrial parcels (existing or reserved) closer to the planned housing than their class allows."""
    widest = max(ABSTAND_CLASSES.values())  # a parcel may be kept for any class
    rows = conn.execute(
        text(f"""
        WITH plan AS (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), :srid) AS g)
        SELECT p.id, p.ags, p.local_ref, p.name, p.category, p.status, p.abstand_class AS own_class,
               ST_Distance(p.geom, plan.g) AS distance_m
          FROM parcel p, plan
         WHERE p.retired_at IS NULL AND p.status <> 'andere_nutzung' AND {_INDUSTRIAL_SQL}
           AND ST_DWithin(p.geom, plan.g, :widest)
         ORDER BY distance_m, p.local_ref
    """),
        params | {"widest": widest},
    ).mappings()
    conflicts = []
    for row in rows:
        klass = row["own_class"] or classes.get(row["category"], DEFAULT_CLASSES["gewerbeflaeche"])
        required = ABSTAND_CLASSES[klass]
        if row["distance_m"] < required:
            conflicts.append(
                {k: (str(v) if k == "id" else v) for k, v in row.items() if k != "own_class"}
                | {"abstand_class": klass, "required_m": required, "conflict": "abstandserlass"}
            )
    return conflicts


def _record(conn: Connection, check: PlanCheck, plan, actor: str, name: str) -> int:
    check_id = conn.execute(
        text("""
        INSERT INTO plan_check (actor, name, intended_use, conflict, result, geom)
        VALUES (:actor, :name, :use, :conflict, CAST(:result AS jsonb), ST_SetSRID(ST_GeomFromWKB(:wkb), :srid))
        RETURNING id
    """),
        {
            "actor": actor,
            "name": name,
            "use": check.intended_use,
            "conflict": check.conflict,
            "result": json.dumps(check.as_dict(), default=str),
            "wkb": shapely.to_wkb(plan),
            "srid": STORAGE_SRID,
        },
    ).scalar_one()
    rows = {e["id"]: (e["affected_m2"], None, e["conflict"]) for e in check.parcels}
    for e in check.abstand:  # building over industrial land is the graver conflict and stays named
        affected, _, conflict = rows.get(e["id"], (0.0, None, "keiner"))
        rows[e["id"]] = (affected, e["distance_m"], conflict if conflict != "keiner" else "abstandserlass")
    for parcel_id, (affected, distance, conflict) in rows.items():
        conn.execute(
            text("""
            INSERT INTO plan_check_parcel (plan_check_id, parcel_id, affected_m2, distance_m, conflict)
            VALUES (:c, :p, :a, :d, :k)
        """),
            {"c": check_id, "p": parcel_id, "a": affected, "d": distance, "k": conflict},
        )
    return check_id


# -- Flächenbilanz ------------------------------------------------------------------------------
_STATE_AT = """
    SELECT v.parcel_id, v.category, v.status, v.area_m2, v.restriction_class, v.availability,
           v.status = ANY(:reserve) AS reserve
      FROM parcel_version v
     WHERE v.valid_from <= :at AND (v.valid_to IS NULL OR v.valid_to > :at)
       AND v.category = ANY(:categories) AND (CAST(:ags AS text) IS NULL OR v.ags = :ags)
"""


def balance(
    conn: Connection,
    dates: list[dt.datetime],
    ags: str | None = None,
    categories: tuple[str, ...] = INDUSTRIAL_CATEGORIES,
    window_years: float = 3.0,
) -> dict:
    """The Flächenbilanz at each date and between consecutive dates, from the parcel history.

    Between two dates every parcel is compared with itself: reserve area that appears is an
    addition, reserve that becomes ``genutzt`` is take-up, reserve that becomes ``andere_nutzung``
    (or leaves the categories) is a loss, reserve retired is removed; the stock at the later date is
    the stock before plus additions minus the rest, to the square metre. Years of supply: reserve
    that is restriction-free and available, divided by the average annual take-up over
    ``window_years`` before the date (take-up counted event by event from the history).
    """
    if len(dates) < 1 or sorted(dates) != list(dates):
        raise PlanError("dates: give one or more dates in ascending order")
    base = {"reserve": list(RESERVE_STATUSES), "categories": list(categories), "ags": ags}
    stocks = []
    for at in dates:
        rows = conn.execute(
            text(f"""
            SELECT category, status, round(sum(area_m2)::numeric, 2) AS area_m2, count(*) AS parcels
              FROM ({_STATE_AT}) s GROUP BY category, status ORDER BY category, status
        """),
            base | {"at": at},
        ).mappings()
        by = [dict(r) | {"area_m2": float(r["area_m2"])} for r in rows]
        reserve = sum(r["area_m2"] for r in by if r["status"] in RESERVE_STATUSES)
        free = conn.execute(
            text(f"""
            SELECT coalesce(sum(area_m2), 0) FROM ({_STATE_AT}) s
             WHERE reserve AND coalesce(restriction_class, 0) = 0 AND coalesce(availability, '') <> 'nicht_verfuegbar'
        """),
            base | {"at": at},
        ).scalar_one()
        since = at - dt.timedelta(days=round(365.25 * window_years))
        taken = _take_up(conn, base, since, at)
        per_year = taken / window_years
        stocks.append(
            {
                "date": at.isoformat(),
                "by_category_status": by,
                "reserve_m2": round(reserve, 2),
                "restriction_free_available_m2": round(float(free), 2),
                "take_up_per_year_m2": round(per_year, 2),
                "years_of_supply": round(float(free) / per_year, 2) if per_year > 0 else None,
            }
        )
    changes = [
        {"from": a.isoformat(), "to": b.isoformat(), **_flows(conn, base, a, b)} for a, b in zip(dates, dates[1:])
    ]
    return {
        "ags": ags,
        "categories": list(categories),
        "window_years": window_years,
        "stocks": stocks,
        "changes": changes,
    }


def _flows(conn: Connection, base: dict, start: dt.datetime, end: dt.datetime) -> dict:
    row = (
        conn.execute(
            text(f"""
        WITH a AS ({_STATE_AT.replace(":at", ":start")}), b AS ({_STATE_AT.replace(":at", ":end")})
        SELECT
          coalesce(sum(b.area_m2) FILTER (WHERE b.reserve AND NOT coalesce(a.reserve, false)), 0) AS additions_m2,
          coalesce(sum(a.area_m2) FILTER (WHERE a.reserve AND b.status = 'genutzt'), 0) AS take_up_m2,
          coalesce(sum(a.area_m2) FILTER (WHERE a.reserve AND b.status = 'andere_nutzung'), 0) AS lost_m2,
          coalesce(sum(a.area_m2) FILTER (WHERE a.reserve AND b.parcel_id IS NULL), 0) AS removed_m2,
          coalesce(sum(b.area_m2 - a.area_m2) FILTER (WHERE a.reserve AND b.reserve), 0) AS area_changes_m2
          FROM a FULL JOIN b ON a.parcel_id = b.parcel_id
    """),
            base | {"start": start, "end": end},
        )
        .mappings()
        .one()
    )
    return {k: round(float(v), 2) for k, v in row.items()}


def _take_up(conn: Connection, base: dict, start: dt.datetime, end: dt.datetime) -> float:
    """Reserve area that changed to ``genutzt`` within (start, end], event by event from the history."""
    return float(
        conn.execute(
            text("""
            SELECT coalesce(sum(previous_area), 0) FROM (
                SELECT v.valid_from, v.status, v.category, v.ags,
                       lag(v.status) OVER w AS previous_status, lag(v.area_m2) OVER w AS previous_area
                  FROM parcel_version v
                WINDOW w AS (PARTITION BY v.parcel_id ORDER BY v.version)
            ) t
             WHERE status = 'genutzt' AND previous_status = ANY(:reserve) AND valid_from > :start AND valid_from <= :end
               AND category = ANY(:categories) AND (CAST(:ags AS text) IS NULL OR ags = :ags)
        """),
            base | {"start": start, "end": end},
        ).scalar_one()
    )


def watch_list(conn: Connection, ags: list[str] | None = None, since: dt.datetime | None = None) -> list[dict]:
    """Industrial parcels that changed away from industrial use, and those touched by a recorded
    plan check with a conflict: newest first, with the date and the actor."""
    rows = conn.execute(
        text(f"""
        WITH versions AS (  -- the history of parcels that were ever industrial, in the chosen municipalities
            SELECT v.* FROM parcel_version v
             WHERE v.parcel_id IN (SELECT parcel_id FROM parcel_version p WHERE {_INDUSTRIAL_SQL})
               AND (CAST(:ags AS text[]) IS NULL OR v.ags = ANY(CAST(:ags AS text[])))
        ), changes AS (
            SELECT parcel_id, valid_from AS at, actor, ags, local_ref, name,
                   lag(category) OVER w AS old_category, category,
                   lag(designation) OVER w AS old_designation, designation,
                   lag(status) OVER w AS old_status, status
              FROM versions
            WINDOW w AS (PARTITION BY parcel_id ORDER BY version)
        )
        SELECT * FROM (
            SELECT 'nutzungsaenderung' AS reason, parcel_id, at, actor, ags, local_ref, name,
                   concat_ws(' -> ', concat_ws('/', old_category, old_designation, old_status),
                             concat_ws('/', category, designation, status)) AS detail
              FROM changes
             WHERE (old_category IN ('gewerbeflaeche', 'industrieflaeche')
                    AND category NOT IN ('gewerbeflaeche', 'industrieflaeche'))
                OR (old_designation IN ('GI', 'GE', 'GIB', 'G')
                    AND coalesce(designation, '') NOT IN ('GI', 'GE', 'GIB', 'G'))
                OR (old_status IS DISTINCT FROM 'andere_nutzung' AND status = 'andere_nutzung'
                    AND category IN ('gewerbeflaeche', 'industrieflaeche'))
            UNION ALL
            SELECT 'planpruefung:' || cp.conflict, cp.parcel_id, c.checked_at, c.actor, p.ags, p.local_ref, p.name,
                   c.name || ' (' || c.intended_use || ')'
              FROM plan_check_parcel cp JOIN plan_check c ON c.id = cp.plan_check_id JOIN parcel p ON p.id = cp.parcel_id
             WHERE cp.conflict <> 'keiner' AND (CAST(:ags AS text[]) IS NULL OR p.ags = ANY(CAST(:ags AS text[])))
        ) entries
         WHERE CAST(:since AS timestamptz) IS NULL OR at >= :since
         ORDER BY at DESC, local_ref
    """),
        {"ags": ags or None, "since": since},
    ).mappings()
    return [{k: (str(v) if k == "parcel_id" else v) for k, v in r.items()} for r in rows]


def supply_by_municipality(
    conn: Connection, at: dt.datetime, window_years: float = 3.0, categories: tuple[str, ...] = INDUSTRIAL_CATEGORIES
) -> dict[str, dict]:
    """Per municipality at ``at``: restriction-free available reserve, annual take-up and years of
    supply, as :func:`balance` computes them, in one pass over the history."""
    rows = conn.execute(
        text("""
        WITH versions AS (
            SELECT v.*, lag(v.status) OVER w AS previous_status, lag(v.area_m2) OVER w AS previous_area
              FROM parcel_version v WHERE v.category = ANY(:categories)
            WINDOW w AS (PARTITION BY v.parcel_id ORDER BY v.version)
        )
        SELECT ags,
               coalesce(sum(area_m2) FILTER (WHERE valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)
                   AND status = ANY(:reserve) AND coalesce(restriction_class, 0) = 0
                   AND coalesce(availability, '') <> 'nicht_verfuegbar'), 0) AS free_m2,
               coalesce(sum(previous_area) FILTER (WHERE status = 'genutzt' AND previous_status = ANY(:reserve)
                   AND valid_from > :since AND valid_from <= :at), 0) AS taken_m2
          FROM versions GROUP BY ags
    """),
        {
            "categories": list(categories),
            "reserve": list(RESERVE_STATUSES),
            "at": at,
            "since": at - dt.timedelta(days=round(365.25 * window_years)),
        },
    )
    out = {}
    for r in rows:
        per_year = float(r.taken_m2) / window_years
        out[r.ags] = {
            "restriction_free_available_m2": round(float(r.free_m2), 2),
            "take_up_per_year_m2": round(per_year, 2),
            "years_of_supply": round(float(r.free_m2) / per_year, 2) if per_year > 0 else None,
        }
    return out


def abstand_columns(distance):
    """SQL for the strictest Abstandserlass class that fits a distance to housing, as its name
    ("III", "keine") and as a number (1 = I … 7 = VII, 8 = none fits), e.g. to filter "class III
    possible" as ``abstand_class_possible_number <= 3``; NULL where the distance is unknown."""
    # The classes and distances are the code's constants, written into the SQL: as bound
    # parameters they were 32 of a feature query's 60, and psycopg caches the parsing of a query
    # only up to 50 parameters.
    ordered = list(ABSTAND_CLASSES.items())  # strictest first
    metres = {d: literal_column(str(int(d)), Integer) for _, d in ordered}
    name = case(
        *[(distance >= metres[d], literal_column(f"'{c}'", String)) for c, d in ordered],
        else_=case((distance.is_(None), null()), else_=literal_column("'keine'", String)),
    )
    number = case(
        *[(distance >= metres[d], literal_column(str(i), Integer)) for i, (_, d) in enumerate(ordered, start=1)],
        else_=case((distance.is_(None), null()), else_=literal_column(str(len(ordered) + 1), Integer)),
    )
    return name, number


def strictest_class(distance_to_housing_m: float | None) -> str | None:
    """The strictest Abstandserlass class whose distance still fits (None: no residential data)."""
    if distance_to_housing_m is None:
        return None
    fitting = [c for c, d in ABSTAND_CLASSES.items() if d <= distance_to_housing_m]
    return fitting[0] if fitting else "keine"
