"""The plan check: which industrial/commercial parcels a proposed plan touches (areas exact in
EPSG:25832), the reserve lost per municipality and for the region, and Abstandserlass conflicts of
housing planned too close to industrial land; recorded checks feed the watch list."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import shapely
from sqlalchemy import Connection, text

from landreg import STORAGE_SRID, rules
from landreg.safeguarding.abstand import DEFAULT_CLASSES
from landreg.safeguarding.plans import PlanError, _plan_geometry
from landreg.scoring.criteria import ABSTAND_CLASSES

#: Designations a plan check accepts as the intended use.
USES = rules.INDUSTRIAL_DESIGNATIONS + rules.RESIDENTIAL_DESIGNATIONS + ("SO", "F")


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
    params = {"wkb": shapely.to_wkb(plan), "srid": STORAGE_SRID}
    touched = conn.execute(
        text(f"""
        WITH plan AS (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), :srid) AS g)
        SELECT p.id, p.ags, m.name AS municipality, p.local_ref, p.name, p.category, p.designation, p.status,
               p.area_m2, ST_Area(ST_Intersection(p.geom, plan.g)) AS affected_m2,
               {rules.sql(rules.is_reserve, "p")} AS reserve,
               (SELECT max(s.score) FROM parcel_score s WHERE s.parcel_id = p.id) AS best_score
          FROM parcel p JOIN municipality m ON m.ags = p.ags, plan
         WHERE p.retired_at IS NULL AND ST_Intersects(p.geom, plan.g) AND {rules.sql(rules.is_industrial, "p")}
         ORDER BY affected_m2 DESC, p.local_ref
    """),
        params,
    ).mappings()
    check = PlanCheck(intended_use)
    changes_use = intended_use not in rules.INDUSTRIAL_DESIGNATIONS
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
    if intended_use in rules.RESIDENTIAL_DESIGNATIONS:
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
         WHERE p.retired_at IS NULL AND NOT {rules.sql(rules.is_lost, "p")} AND {rules.sql(rules.is_industrial, "p")}
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
