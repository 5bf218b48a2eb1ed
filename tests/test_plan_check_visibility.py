"""A plan check sees what its caller sees: the parcels, their state and their scores as
:mod:`landreg.access` gives them to that caller, in the list and in every total. Otherwise a planner
could draw plans over another municipality to find its unpublished land by the loss they cost.

Dortmund, by hand (EPSG:25832, X0/Y0 at the Reinoldikirche): OFFEN is a published industrial
reserve, GEHEIM an unpublished one, and a plan for housing (WA) lies over both. Every expected area
and distance is computed here with shapely from the same coordinates, not by the registry's SQL.
"""

from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

from landreg import fields, register
from landreg.access import FULL, LATEST, PUBLIC, Principal, view_of
from landreg.errors import InvalidParameter, NotFound
from landreg.parcels import create_parcel
from landreg.safeguarding import check_plan, recorded_check, recorded_checks
from landreg.scoring import ensure_default_profiles, rescore
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, bearers, record, utm

DORTMUND, ESSEN = "05913000", "05113000"
X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
ESSEN_PLANNER = Principal(1, "planer.essen", "planner", (ESSEN,))
DORTMUND_PLANNER = Principal(2, "planer.do", "planner", (DORTMUND,))
MINISTRY = Principal(3, "ministerium", "ministry")

OFFEN = shapely.box(X0, Y0, X0 + 200, Y0 + 100)
GEHEIM = shapely.box(X0 + 300, Y0, X0 + 450, Y0 + 100)
PLAN = shapely.box(X0 + 100, Y0 - 50, X0 + 400, Y0 + 60)  # over both
HOUSING = shapely.box(X0 + 600, Y0, X0 + 700, Y0 + 100)  # near both (class III: 700 m)
ATTRIBUTES = {"category": "industrieflaeche", "designation": "GI", "status": "verfuegbar", "contamination": "verdacht"}


def _parcels(session) -> dict[str, str]:
    """OFFEN published, GEHEIM not; both recorded by the operator (approved as made)."""
    made = {
        ref: create_parcel(
            session, "seed", local_ref=ref, name=f"Fläche {ref}", geom=geom, publication_allowed=public, **ATTRIBUTES
        ).id
        for ref, geom, public in (("OFFEN", OFFEN, True), ("GEHEIM", GEHEIM, False))
    }
    session.flush()
    return {ref: str(i) for ref, i in made.items()}


def _touched(check) -> dict[str, float]:
    return {p["local_ref"]: p["affected_m2"] for p in check.parcels}


def test_a_planner_of_another_municipality_does_not_see_unpublished_land_in_a_check_or_its_totals(session):
    _parcels(session)
    conn = session.connection()
    essen = check_plan(conn, PLAN, "WA", view=view_of(ESSEN_PLANNER))
    ministry = check_plan(conn, PLAN, "WA", view=view_of(MINISTRY))
    own = check_plan(conn, PLAN, "WA", view=view_of(DORTMUND_PLANNER))
    public = check_plan(conn, PLAN, "WA", view=PUBLIC)
    shown, hidden = OFFEN.intersection(PLAN).area, GEHEIM.intersection(PLAN).area
    assert (shown, hidden) == (100 * 60, 100 * 60)  # by hand
    for check in (essen, public):
        assert _touched(check) == pytest.approx({"OFFEN": shown})
        assert check.loss_region_m2 == pytest.approx(shown)
        assert check.loss_by_municipality == pytest.approx({DORTMUND: shown})
        assert "GEHEIM" not in str(check.as_dict())
    for check in (ministry, own):
        assert _touched(check) == pytest.approx({"OFFEN": shown, "GEHEIM": hidden})
        assert check.loss_region_m2 == pytest.approx(shown + hidden)
    # the housing plan near both: the Abstandserlass conflict of unpublished land is not the Essen planner's
    near = {
        who: check_plan(conn, HOUSING, "WA", view=view_of(principal))
        for who, principal in (("essen", ESSEN_PLANNER), ("ministry", MINISTRY))
    }
    distances = {a["local_ref"]: a["distance_m"] for a in near["ministry"].abstand}
    assert distances == pytest.approx({"GEHEIM": GEHEIM.distance(HOUSING), "OFFEN": OFFEN.distance(HOUSING)})
    assert [a["local_ref"] for a in near["essen"].abstand] == ["OFFEN"]
    # no field the view may not see, for any parcel
    confidential = {f.name for f in fields.confidential()}
    for check in (essen, ministry, near["essen"]):
        assert not confidential & {k for entry in (*check.parcels, *check.abstand) for k in entry}


def test_a_designation_sees_what_the_plan_sees(session):
    import geopandas as gpd

    _parcels(session)
    designations = gpd.GeoDataFrame(
        {"use": ["WA", "GI"], "gml_id": ["WA_1", "GI_1"]},
        geometry=[shapely.box(X0 + 250, Y0 - 50, X0 + 400, Y0 + 60), shapely.box(X0 + 100, Y0 - 50, X0 + 250, Y0 + 60)],
        crs=25832,
    )
    essen = check_plan(session.connection(), PLAN, None, view=view_of(ESSEN_PLANNER), designations=designations)
    ministry = check_plan(session.connection(), PLAN, None, view=FULL, designations=designations)
    wa = {d["gml_id"]: d for d in essen.designations}["WA_1"]
    assert wa["parcels"] == [] and wa["loss_region_m2"] == 0 and essen.loss_region_m2 == 0  # GEHEIM is under it
    assert [a["local_ref"] for a in wa["abstand"]] == ["OFFEN"]  # 50 m from the WA, class III: 700 m
    full = {d["gml_id"]: d for d in ministry.designations}["WA_1"]
    assert full["loss_region_m2"] == pytest.approx(GEHEIM.intersection(designations.geometry[0]).area)
    assert {a["local_ref"] for a in full["abstand"]} == {"GEHEIM", "OFFEN"}


def test_a_change_waiting_for_review_is_counted_in_its_approved_state_by_everybody_else(session):
    ids = _parcels(session)
    grown = shapely.box(X0, Y0 - 40, X0 + 300, Y0 + 100)
    register.update(
        session,
        DORTMUND_PLANNER,
        ids["OFFEN"],
        {1},
        {"name": "Fläche OFFEN, ungeprüft", "geom": grown, "status": "genutzt"},
    )
    conn = session.connection()
    approved, latest = OFFEN.intersection(PLAN).area, grown.intersection(PLAN).area
    assert approved != pytest.approx(latest)
    for view in (view_of(ESSEN_PLANNER), FULL, PUBLIC):
        (entry,) = [p for p in check_plan(conn, PLAN, "WA", view=view).parcels if p["local_ref"] == "OFFEN"]
        assert entry["name"] == "Fläche OFFEN" and entry["status"] == "verfuegbar"
        assert entry["affected_m2"] == pytest.approx(approved) and entry["area_m2"] == pytest.approx(OFFEN.area)
        assert entry["conflict"] == "flaechensicherung"  # the approved state is reserve, built over
    for view in (view_of(DORTMUND_PLANNER), LATEST):
        check = check_plan(conn, PLAN, "WA", view=view)
        (entry,) = [p for p in check.parcels if p["local_ref"] == "OFFEN"]
        assert entry["name"] == "Fläche OFFEN, ungeprüft" and entry["status"] == "genutzt"
        assert entry["affected_m2"] == pytest.approx(latest) and entry["conflict"] == "keiner"  # taken up
        assert check.loss_region_m2 == pytest.approx(GEHEIM.intersection(PLAN).area)


def test_a_score_is_the_one_the_view_may_see(session):
    ids = _parcels(session)
    conn = session.connection()
    ensure_default_profiles(conn)
    rescore(conn, list(ids.values()))
    best = conn.execute(
        text("SELECT max(score), max(public_score) FROM parcel_score WHERE parcel_id = :id"), {"id": ids["OFFEN"]}
    ).one()
    assert best[0] is not None and best[0] != pytest.approx(best[1])  # the contamination record counts
    seen = {
        who: {p["local_ref"]: p["best_score"] for p in check_plan(conn, PLAN, "WA", view=view).parcels}["OFFEN"]
        for who, view in (("essen", view_of(ESSEN_PLANNER)), ("dortmund", view_of(DORTMUND_PLANNER)), ("full", FULL))
    }
    assert seen == pytest.approx({"essen": best[1], "dortmund": best[0], "full": best[0]})


def test_a_recorded_check_keeps_what_its_caller_saw_and_is_read_by_them_and_those_who_see_all(session):
    _parcels(session)
    conn = session.connection()
    mine = check_plan(conn, PLAN, "WA", record=("planer.essen", "Essen über Dortmund"), view=view_of(ESSEN_PLANNER))
    theirs = check_plan(conn, PLAN, "WA", record=("ministerium", "Ministerium"), view=view_of(MINISTRY))
    named = dict(
        conn.execute(
            text("""SELECT c.name, array_agg(p.local_ref ORDER BY p.local_ref) FROM plan_check c
                    JOIN plan_check_parcel cp ON cp.plan_check_id = c.id JOIN parcel p ON p.id = cp.parcel_id
                    GROUP BY c.name""")
        ).all()
    )
    assert named == {"Essen über Dortmund": ["OFFEN"], "Ministerium": ["GEHEIM", "OFFEN"]}
    stored = recorded_check(conn, ESSEN_PLANNER, mine.id)
    assert "GEHEIM" not in str(stored["result"]) and stored["result"]["loss_region_m2"] == pytest.approx(6_000)
    listed, count = recorded_checks(conn, ESSEN_PLANNER)
    assert [c["id"] for c in listed] == [mine.id] and count == 1
    assert listed[0]["touched"] == 1 and listed[0]["loss_m2"] == pytest.approx(6_000)
    listed, count = recorded_checks(conn, MINISTRY, limit=1)
    assert [c["id"] for c in listed] == [theirs.id] and count == 2  # newest first, counted all
    assert recorded_check(conn, MINISTRY, mine.id)["result"] == stored["result"]  # as its caller saw it
    for check_id in (theirs.id, 0, -1, 2**63, 2**70):
        with pytest.raises(NotFound):
            recorded_check(conn, ESSEN_PLANNER, check_id)
    for limit in (0, 1001, True):
        with pytest.raises(InvalidParameter, match="limit"):
            recorded_checks(conn, MINISTRY, limit)


def test_the_api_checks_and_reads_checks_as_the_caller_sees(committed_db):
    record(
        committed_db,
        *[
            {"local_ref": ref, "geom": geom, "publication_allowed": public, **ATTRIBUTES}
            for ref, geom, public in (("OFFEN", OFFEN, True), ("GEHEIM", GEHEIM, False))
        ],
    )
    tokens = bearers(
        committed_db,
        essen=("planer.essen", "planner", [ESSEN]),
        dortmund=("planer.do", "planner", [DORTMUND]),
        ministry=("ministerium", "ministry"),
    )
    body = {
        "name": "B-Plan über die Grenze",
        "intended_use": "WA",
        "geometry": shapely.geometry.mapping(PLAN),
        "crs": 25832,
    }
    with app_client(committed_db) as client:
        made = {}
        for who in ("essen", "ministry"):
            answer = client.post("/safeguarding/plan-checks", json=body, headers=tokens[who])
            assert answer.status_code == 201, answer.text
            made[who] = answer.json()
        assert [p["local_ref"] for p in made["essen"]["parcels"]] == ["OFFEN"]
        assert made["essen"]["loss_region_m2"] == pytest.approx(OFFEN.intersection(PLAN).area)
        assert "GEHEIM" not in str(made["essen"])
        assert {p["local_ref"] for p in made["ministry"]["parcels"]} == {"OFFEN", "GEHEIM"}
        assert made["ministry"]["loss_region_m2"] == pytest.approx(
            OFFEN.intersection(PLAN).area + GEHEIM.intersection(PLAN).area
        )
        # reading recorded checks: a planner their own, the ministry every one
        listing = client.get("/safeguarding/plan-checks", headers=tokens["essen"]).json()
        assert [c["id"] for c in listing["checks"]] == [made["essen"]["id"]] and listing["count"] == 1
        assert listing["checks"][0]["actor"] == "planer.essen"
        listing = client.get("/safeguarding/plan-checks", headers=tokens["ministry"]).json()
        assert {c["id"] for c in listing["checks"]} == {made["essen"]["id"], made["ministry"]["id"]}
        assert client.get("/safeguarding/plan-checks", headers=tokens["dortmund"]).json() == {"checks": [], "count": 0}
        one = client.get(f"/safeguarding/plan-checks/{made['essen']['id']}", headers=tokens["ministry"])
        assert one.status_code == 200 and one.json()["result"]["parcels"] == made["essen"]["parcels"]
        area = shapely.geometry.shape(one.json()["area"])
        assert area.bounds[0] == pytest.approx(7.46, abs=0.02) and area.bounds[1] == pytest.approx(51.51, abs=0.02)
        ministry_check = f"/safeguarding/plan-checks/{made['ministry']['id']}"
        assert client.get(ministry_check, headers=tokens["essen"]).status_code == 404
        assert client.get(ministry_check, headers=tokens["dortmund"]).status_code == 404
        assert "GEHEIM" not in client.get(ministry_check, headers=tokens["essen"]).text
        assert client.get(ministry_check).status_code == 401
        assert client.get("/safeguarding/plan-checks/99999999999999999999", headers=tokens["ministry"]).status_code in (
            404,
            422,
        )
        assert client.get("/safeguarding/plan-checks", params={"limit": 0}, headers=tokens["ministry"]).status_code in (
            400,
            422,
        )
        # an unreadable upload is named by the name it was sent with, never by where the server saved it
        refused = client.post(
            "/safeguarding/plan-checks/file",
            files={"file": ("mein-plan.geojson", b"kein GeoJSON")},
            data={"intended_use": "WA"},
            headers=tokens["essen"],
        )
        assert refused.status_code == 422 and refused.json()["field"] == "file"
        detail = refused.json()["detail"]
        assert detail.startswith("mein-plan.geojson: cannot be read as a geodata file")
        assert "/tmp" not in detail and "landreg-plan-" not in detail and "'mein-plan.geojson'" in detail
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM plan_check")).scalar_one() == 2
