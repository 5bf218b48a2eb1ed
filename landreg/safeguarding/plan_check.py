"""The plan check: which industrial/commercial parcels a proposed plan touches (areas exact in
EPSG:25832), the reserve lost per municipality and for the region, and Abstandserlass conflicts of
housing planned too close to industrial land; recorded checks feed the watch list.

Before anything is checked, the plan must lie where it says (:func:`locate`): in North
Rhine-Westphalia, and in (or within :data:`MUNICIPALITY_TOLERANCE_M` of) the municipality its file
names. A plan elsewhere touches no parcel, and "no conflict" would be a confident wrong answer.
A plan with designations (an XPlanGML B-Plan's Baugebiete) has each designated area checked with
its own use.

A check sees what its caller sees (:mod:`landreg.access`): it computes over the rows of
:func:`landreg.access.visible_rows` with the fields of :func:`landreg.features.source`, so no parcel,
name or state the caller may not see is listed, and no area, loss or conflict counts one (a total
that did would let anybody draw plans to find unpublished land). A recorded check stores what its
caller saw; it is read by them, and by those who see every parcel (:func:`recorded_checks`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Connection, LargeBinary, Select, bindparam, func, not_, select, text

from landreg import STORAGE_SRID, rules
from landreg.access import AccessDenied, Principal, View
from landreg.errors import InvalidParameter, NotFound
from landreg.messages import message
from landreg.models import Municipality
from landreg.safeguarding.abstand import DEFAULT_CLASSES
from landreg.safeguarding.plans import PlanError, plan_geometry, read_plan_file
from landreg.scoring.criteria import ABSTAND_CLASSES
from landreg.scoring.visible import SCORE, visible_score
from landreg.vocab import CATEGORY

#: Designations a plan check accepts as the intended use.
USES = rules.INDUSTRIAL_DESIGNATIONS + rules.RESIDENTIAL_DESIGNATIONS + ("SO", "F")
#: XPlanung uses that are checked as one of :data:`USES`: Kleinsiedlungs- and besondere Wohngebiete
#: as housing (WA), Dorfgebiete and gemischte Bauflächen as mixed (MI), Sonderbauflächen as SO.
CHECKED_AS = {"WS": "WA", "WB": "WA", "MD": "MI", "MDW": "MI", "M": "MI", "S": "SO"}
#: Designations one plan check takes (each is checked on its own): a B-Plan has tens, an FNP's
#: thousands of Bauflächen belong in a context layer.
MAX_DESIGNATIONS = 500
#: At least this share of a plan's area must lie in NRW's municipalities.
MIN_SHARE_IN_NRW = 0.5
#: A plan touching its named municipality within this distance lies there (the bundled DVG2
#: boundaries are generalised by some metres).
MUNICIPALITY_TOLERANCE_M = 25.0
#: Recorded checks one listing gives at most (newest first).
MAX_LISTED = 1000
#: plan_check.id is a bigint: a larger number names no check.
ID_MAX = 2**63 - 1


@dataclass
class PlanCheck:
    intended_use: str
    parcels: list[dict] = field(default_factory=list)  # touched industrial parcels
    abstand: list[dict] = field(default_factory=list)  # industrial parcels too close to planned housing
    loss_by_municipality: dict[str, float] = field(default_factory=dict)  # m² of reserve lost
    loss_region_m2: float = 0.0
    conflict: bool = False
    id: int | None = None
    designations: list[dict] = field(default_factory=list)  # each designated area checked with its own use
    municipalities: list[dict] = field(default_factory=list)  # where the plan lies: ags, name, share
    plan: dict | None = None  # what a plan file says of itself (see check_plan_file)
    #: GI/GE areas of loaded B-Plans (context layers ``bplan``) the plan builds over with another use
    #: (``ueberplant``) or brings housing closer to than the Abstandserlass allows (``abstandserlass``)
    bplan: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def check_plan_file(
    conn: Connection,
    path: Path,
    intended_use: str | None,
    *,
    view: View,
    layer: str | None = None,
    crs: int | None = None,
    record: tuple[str, str | None] | None = None,
) -> PlanCheck:
    """Read a plan file (:func:`~landreg.safeguarding.plans.read_plan_file`) and check it as
    :func:`check_plan` does, for ``view``: where it lies, against the municipality it names, each
    designation with its own use.

    ``record``: (actor, plan name or None for the file's) to store the check for the watch list.
    """
    found = read_plan_file(path, layer, crs)
    check = check_plan(
        conn,
        found.area,
        intended_use,
        view=view,
        record=(record[0], record[1] or found.name) if record else None,
        municipalities=found.municipalities,
        designations=found.designations,
    )
    check.plan = {"name": found.name, "municipalities": list(found.municipalities)}
    if found.xplan is not None:
        x = found.xplan
        check.plan |= {
            "number": x.number,
            "legal_status": x.legal_status,
            "date": x.date.isoformat() if x.date else None,
            "xplan_version": x.version,
            "area_source": x.area_source,
        }
    return check


def check_plan(
    conn: Connection,
    geometry,
    intended_use: str | None,
    classes: dict[str, str] | None = None,
    record: tuple[str, str] | None = None,
    *,
    view: View,
    municipalities: tuple[str, ...] = (),
    designations=None,
) -> PlanCheck:
    """Check a proposed plan area (EPSG:25832) with its intended use (a designation code), over the
    parcels ``view`` sees (:func:`landreg.access.view_of` of the caller; the operator's command line
    :data:`landreg.access.FULL`), in the state it sees them, with the fields it may see.

    ``classes``: Abstandserlass class per category for parcels that have no class of their own
    (default :data:`DEFAULT_CLASSES`).
    ``record``: (actor, plan name) to store the check for the watch list.
    ``municipalities``: the AGS the plan claims (XPlanGML ``gemeinde``); the plan must lie there.
    ``designations``: a frame with ``use`` and ``geometry`` (EPSG:25832), e.g. from
    :func:`landreg.safeguarding.xplan.read_designations`: each is checked with its own use, and
    ``intended_use`` may then be None (the plan's use is its designations').
    """
    designated = _designated(designations)
    if intended_use is None and not designated:
        raise PlanError(message("plan.no_use"), field="intended_use")
    if intended_use is not None and intended_use not in USES:
        said = message("plan.unknown_use", value=intended_use, allowed=", ".join(USES))
        raise PlanError(said, field="intended_use")
    if record is not None:
        _check_name(record[1])
    classes = DEFAULT_CLASSES | (classes or {})
    categories = [c for c in classes if c not in CATEGORY.codes]
    if categories:
        said = message("plan.unknown_class_category", value=str(categories[0])[:40], allowed=", ".join(CATEGORY.codes))
        raise PlanError(said, field="classes")
    unknown = {c for c in classes.values() if c not in ABSTAND_CLASSES}
    if unknown:
        said = message("plan.unknown_class", value=", ".join(sorted(unknown)), allowed=", ".join(ABSTAND_CLASSES))
        raise PlanError(said, field="classes")
    plan = plan_geometry(geometry)
    located = locate(conn, plan, municipalities)
    if intended_use is not None:
        check = _assess(conn, view, plan, intended_use, _uses_plan(plan, intended_use), classes)
    else:
        uses = sorted({use for use, _ in designated})
        check = _assess(conn, view, plan, "+".join(uses), _uses_designated(designated), classes)
    for index, (use, geom) in enumerate(designated):
        part = _assess(conn, view, geom, use, _uses_plan(geom, use), classes)
        row = designations.iloc[index]
        check.designations.append(
            {
                "use": row["use"],
                "use_label": row.get("use_label"),
                "checked_as": use,
                "gml_id": row.get("gml_id"),
                "area_m2": geom.area,
                "conflict": part.conflict,
                "parcels": part.parcels,
                "abstand": part.abstand,
                "loss_region_m2": part.loss_region_m2,
            }
        )
    check.municipalities = located
    changing, housing = _uses_plan(plan, intended_use) if intended_use is not None else _uses_designated(designated)
    check.bplan = _designated_industry(conn, changing, housing, classes)
    check.conflict = bool(
        check.loss_region_m2 > 0 or check.abstand or check.bplan or any(d["conflict"] for d in check.designations)
    )
    if record is not None:
        check.id = _record(conn, check, plan, *record)
    return check


def _designated(designations) -> list[tuple[str, shapely.MultiPolygon]]:
    """(checked use, area) of each designation; a use the check does not know is refused by name."""
    if designations is None or len(designations) == 0:
        return []
    if len(designations) > MAX_DESIGNATIONS:
        said = message("plan.too_many_designations", count=len(designations), limit=MAX_DESIGNATIONS)
        raise PlanError(said, field="file")
    out = []
    ids = designations["gml_id"] if "gml_id" in designations else [None] * len(designations)
    for use, geom, gml_id in zip(designations["use"], designations.geometry, ids):
        checked = CHECKED_AS.get(use, use)
        if checked not in USES:
            raise PlanError(message("plan.designation_use", value=use, allowed=", ".join(USES)), field="file")
        named = message("plan.subject.designation", value=f"{use} ({gml_id})" if gml_id else use)
        out.append((checked, plan_geometry(geom, "file", subject=named)))
    return out


#: The category whose Abstandserlass class (``classes``) a designated area of each industrial use keeps.
_CATEGORY_OF_USE = {"GI": "industrieflaeche", "GE": "gewerbeflaeche"}


def _designated_industry(conn: Connection, changing, housing, classes: dict[str, str]) -> list[dict]:
    """GI/GE areas designated in loaded B-Plans (:func:`landreg.context.designations_near`, public
    context layers) that the plan builds over with another use, or that its housing comes closer to
    than their Abstandserlass class allows; each named once, building over first."""
    from landreg.context import designations_near

    found: dict[tuple, dict] = {}
    if not changing.is_empty:
        for d in designations_near(conn, changing, 0.0):
            if d["overlap_m2"] > 0:
                found[(d["layer"], d["name"])] = d | {"conflict": "ueberplant"}
    if not housing.is_empty:
        for d in designations_near(conn, housing, max(ABSTAND_CLASSES.values())):
            klass = classes.get(_CATEGORY_OF_USE.get(d["use"], "gewerbeflaeche"), DEFAULT_CLASSES["gewerbeflaeche"])
            required = ABSTAND_CLASSES[klass]
            if d["distance_m"] < required and (d["layer"], d["name"]) not in found:
                conflict = {"conflict": "abstandserlass", "abstand_class": klass, "required_m": required}
                found[(d["layer"], d["name"])] = d | conflict
    return list(found.values())


def _uses_plan(area, use: str) -> tuple[object, object]:
    """The part of ``area`` that changes industrial land to another use, and the part that brings housing."""
    empty = shapely.MultiPolygon()
    return (
        empty if use in rules.INDUSTRIAL_DESIGNATIONS else area,
        area if use in rules.RESIDENTIAL_DESIGNATIONS else empty,
    )


def _uses_designated(designated: list[tuple[str, object]]) -> tuple[object, object]:
    changing = [g for use, g in designated if use not in rules.INDUSTRIAL_DESIGNATIONS]
    housing = [g for use, g in designated if use in rules.RESIDENTIAL_DESIGNATIONS]
    return shapely.union_all(changing), shapely.union_all(housing)


def locate(conn: Connection, plan, claimed: tuple[str, ...] = ()) -> list[dict]:
    """The municipalities the plan lies in (ags, name, share of its area), largest share first.

    Refused when less than :data:`MIN_SHARE_IN_NRW` of the plan lies in NRW's municipalities, and
    when it touches none of the ``claimed`` municipalities (within :data:`MUNICIPALITY_TOLERANCE_M`).
    """
    rows = conn.execute(
        text("""
        WITH plan AS (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), :srid) AS g)
        SELECT m.ags, m.name, sum(ST_Area(ST_Intersection(mp.geom, plan.g))) AS area_m2
          FROM municipality_part mp JOIN municipality m ON m.ags = mp.ags, plan
         WHERE ST_Intersects(mp.geom, plan.g)
         GROUP BY m.ags, m.name
         ORDER BY area_m2 DESC, m.ags
    """),
        {"wkb": shapely.to_wkb(plan), "srid": STORAGE_SRID},
    ).mappings()
    located = [{"ags": r["ags"], "name": r["name"], "share": r["area_m2"] / plan.area} for r in rows]
    inside = sum(m["share"] for m in located)
    if inside < MIN_SHARE_IN_NRW:
        raise PlanError(_outside_nrw(plan, inside), field="crs")
    if claimed and not _touches(conn, plan, claimed):
        names = dict(
            conn.execute(text("SELECT ags, name FROM municipality WHERE ags = ANY(:a)"), {"a": list(claimed)}).all()
        )
        said = ", ".join(f"{names.get(a, 'AGS')} ({a})" for a in claimed)
        lies = ", ".join(f"{m['name']} ({m['ags']}, {m['share']:.0%})" for m in located)
        raise PlanError(message("plan.elsewhere", claimed=said, found=lies), field="file")
    return located


def _touches(conn: Connection, plan, claimed: tuple[str, ...]) -> bool:
    return conn.execute(
        text("""SELECT EXISTS (SELECT FROM municipality_part
                 WHERE ags = ANY(:a) AND ST_DWithin(geom, ST_SetSRID(ST_GeomFromWKB(:wkb), :srid), :tol))"""),
        {"a": list(claimed), "wkb": shapely.to_wkb(plan), "srid": STORAGE_SRID, "tol": MUNICIPALITY_TOLERANCE_M},
    ).scalar_one()


def _outside_nrw(plan, inside: float):
    """Why the plan lies outside NRW, with the importer's CRS diagnosis of its coordinates (EPSG:25832)."""
    from pyproj import CRS

    from landreg.importer.crs import diagnose
    from landreg.safeguarding.plans import local_coordinates, of_the_plan

    point = plan.representative_point()
    x, y = np.array([point.x]), np.array([point.y])
    storage = CRS.from_epsg(STORAGE_SRID)
    hint = local_coordinates(storage, x, y) or diagnose(storage, x, y)
    if hint is None or "do not lie in North Rhine-Westphalia" in str(hint):  # no more telling cause
        hint = message("plan.check_crs")
    return message(
        "plan.outside_nrw",
        percent=round(100 * inside),
        x=round(point.x, 1),
        y=round(point.y, 1),
        hint=of_the_plan(hint),
    )


def _assess(
    conn: Connection, view: View, area, use: str, uses: tuple[object, object], classes: dict[str, str]
) -> PlanCheck:
    """The industrial parcels ``view`` sees that ``area`` touches; reserve inside ``changing`` is
    lost, and industrial land too close to ``housing`` is an Abstandserlass conflict."""
    changing, housing = uses
    touched = conn.execute(
        _touched(view), {"plan": shapely.to_wkb(area), "changing": shapely.to_wkb(changing)}
    ).mappings()
    check = PlanCheck(use)
    for row in touched:
        entry = {k: (str(v) if k == "id" else v) for k, v in row.items() if k != "changed_m2"}
        lost = row["changed_m2"] if row["reserve"] else 0.0
        entry["conflict"] = "flaechensicherung" if lost > 0 else "keiner"
        check.parcels.append(entry)
        if lost > 0:
            check.loss_by_municipality[row["ags"]] = check.loss_by_municipality.get(row["ags"], 0.0) + lost
    check.loss_region_m2 = sum(check.loss_by_municipality.values())
    if not housing.is_empty:
        check.abstand = _abstand_conflicts(conn, view, housing, classes)
    check.conflict = bool(check.loss_region_m2 > 0 or check.abstand)
    return check


def _area(name: str):
    """A plan area bound as WKB (EPSG:25832)."""
    return func.ST_SetSRID(func.ST_GeomFromWKB(bindparam(name, type_=LargeBinary)), STORAGE_SRID)


def _parcels(view: View):
    """The parcels ``view`` sees, in the state it sees them, with the fields it may see."""
    from landreg.features import COLLECTIONS, source  # (features imports this package's abstand)

    return source(COLLECTIONS["parcels"], view).query.c


@lru_cache(maxsize=64)
def _touched(view: View) -> Select:
    """The industrial parcels ``view`` sees that the plan area ``:plan`` touches: the area inside it
    and inside ``:changing``, whether it is reserve, the best score the view may see of it."""
    p, plan, changing = _parcels(view), _area("plan"), _area("changing")
    best = func.greatest(  # of the stored scores of the version shown (in one of the tables)
        *(
            select(func.max(visible_score(view, p.ags, stored)))
            .where(stored.c.parcel_id == p.id, stored.c.parcel_version == p.row_version)
            .scalar_subquery()
            for stored in (SCORE.latest, SCORE.approved)
        )
    )
    affected = func.ST_Area(func.ST_Intersection(p.geom, plan))
    return (
        select(
            p.id,
            p.ags,
            Municipality.name.label("municipality"),
            p.local_ref,
            p.name,
            p.category,
            p.designation,
            p.status,
            p.area_m2,
            affected.label("affected_m2"),
            func.ST_Area(func.ST_Intersection(p.geom, changing)).label("changed_m2"),
            rules.is_reserve(p).label("reserve"),
            best.label("best_score"),
        )  # fmt: skip
        .select_from(p.id.table.join(Municipality, Municipality.ags == p.ags))
        .where(func.ST_Intersects(p.geom, plan), rules.is_industrial(p))
        .order_by(affected.desc(), p.local_ref)
    )


@lru_cache(maxsize=64)
def _near(view: View) -> Select:
    """The industrial parcels ``view`` sees, existing or reserved, within ``:widest`` of ``:housing``."""
    p, housing = _parcels(view), _area("housing")
    distance = func.ST_Distance(p.geom, housing)
    return (
        select(
            p.id,
            p.ags,
            p.local_ref,
            p.name,
            p.category,
            p.status,
            p.abstand_class.label("own_class"),
            distance.label("distance_m"),
        )  # fmt: skip
        .where(not_(rules.is_lost(p)), rules.is_industrial(p), func.ST_DWithin(p.geom, housing, bindparam("widest")))
        .order_by(distance, p.local_ref)
    )


def _abstand_conflicts(conn: Connection, view: View, housing, classes: dict[str, str]) -> list[dict]:
    """Industrial parcels (existing or reserved) closer to the planned housing than their class allows."""
    widest = max(ABSTAND_CLASSES.values())  # a parcel may be kept for any class
    rows = conn.execute(_near(view), {"housing": shapely.to_wkb(housing), "widest": widest}).mappings()
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


#: The longest name of a recorded plan check (characters), as the workspace's form allows.
NAME_MAX = 200


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise PlanError(message("plan.name_missing"), field="name")
    if len(name) > NAME_MAX or "\x00" in name:
        raise PlanError(message("plan.name_invalid", length=len(name), limit=NAME_MAX), field="name")


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


# -- recorded checks ---------------------------------------------------------------------------------
def _readable(principal: Principal | None) -> tuple[str, dict]:
    """Which recorded checks a caller reads: every one if they see every parcel, else their own
    (a check names what its caller saw, which another caller may not see)."""
    if principal is None:
        raise AccessDenied("recorded plan checks are for planners, reviewers, the ministry and admins")
    return ("TRUE", {}) if principal.sees_all() else ("c.actor = :actor", {"actor": principal.owner})


def recorded_checks(conn: Connection, principal: Principal | None, limit: int = 100) -> tuple[list[dict], int]:
    """The newest recorded checks ``principal`` may read (at most ``limit``), and how many there are:
    id, checked_at, name, intended_use, conflict, actor (who recorded it), actor_name (their
    display name), touched (parcels the check names), loss_m2."""
    condition, params = _readable(principal)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LISTED:
        raise InvalidParameter(f"limit: {limit!r} is not a whole number from 1 to {MAX_LISTED}", field="limit")
    rows = conn.execute(
        text(f"""
        SELECT c.id, c.checked_at, c.name, c.intended_use, c.conflict, c.actor,
               coalesce(u.display_name, c.actor) AS actor_name,
               jsonb_array_length(coalesce(c.result -> 'parcels', '[]')) AS touched,
               coalesce((c.result ->> 'loss_region_m2')::float8, 0) AS loss_m2, count(*) OVER () AS n
          FROM plan_check c LEFT JOIN app_user u ON u.username = c.actor
         WHERE {condition}
         ORDER BY c.checked_at DESC, c.id DESC
         LIMIT :limit
    """),
        params | {"limit": limit},
    ).mappings()
    rows = [dict(r) for r in rows]
    total = rows[0]["n"] if rows else 0
    return [{k: v for k, v in r.items() if k != "n"} for r in rows], total


def recorded_check(conn: Connection, principal: Principal | None, check_id: int) -> dict:
    """One recorded check ``principal`` may read: as :func:`recorded_checks` lists it, with
    ``result`` (the check as its caller saw it) and ``area`` (GeoJSON text, EPSG:4326); else
    :class:`NotFound`, the same for a check that does not exist and one that is not theirs."""
    condition, params = _readable(principal)
    row = None
    if 0 < check_id <= ID_MAX:
        row = (
            conn.execute(
                text(f"""
            SELECT c.id, c.checked_at, c.name, c.intended_use, c.conflict, c.actor,
                   coalesce(u.display_name, c.actor) AS actor_name, c.result,
                   ST_AsGeoJSON(ST_Transform(c.geom, 4326), 7) AS area
              FROM plan_check c LEFT JOIN app_user u ON u.username = c.actor
             WHERE c.id = :id AND {condition}
        """),
                params | {"id": check_id},
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        raise NotFound(f"no plan check {check_id} that you may read: a planner reads the checks they recorded")
    return dict(row)
