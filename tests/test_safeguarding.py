"""Flächensicherung with hand-built geometries whose overlaps and distances are computed here."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import Float, literal_column, select, text
from sqlalchemy.orm import Session

from api.app import create_app
from landreg import clock
from landreg.access import FULL
from landreg.auth import create_token
from landreg.errors import InvalidParameter
from landreg.parcels import create_parcel, update_parcel
from landreg.safeguarding import PlanError, balance, check_plan, strictest_class, watch_list
from landreg.safeguarding.abstand import abstand_columns
from landreg.scoring.criteria import ABSTAND_CLASSES
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)

GE = shapely.box(X0, Y0, X0 + 200, Y0 + 100)
GI = shapely.box(X0 + 300, Y0, X0 + 500, Y0 + 150)
PLAN = shapely.box(X0 + 150, Y0 - 50, X0 + 350, Y0 + 60)  # overlaps both


def _create(session, ref, geom, **attrs):
    values = {"category": "gewerbeflaeche", "status": "verfuegbar", "publication_allowed": True} | attrs
    return create_parcel(session, "planer.do", local_ref=ref, geom=geom, **values)


def test_plan_overlapping_two_industrial_parcels_reports_exact_areas_and_losses(session):
    _create(session, "GE1", GE)
    _create(session, "GI1", GI, category="industrieflaeche", designation="GI")
    _create(session, "BL1", shapely.box(X0 + 200, Y0 - 40, X0 + 260, Y0 - 10), category="bauluecke")  # not industrial
    session.flush()
    check = check_plan(session.connection(), PLAN, "WA", view=FULL)
    affected = {p["local_ref"]: p["affected_m2"] for p in check.parcels}
    assert affected == pytest.approx({"GE1": GE.intersection(PLAN).area, "GI1": GI.intersection(PLAN).area})
    assert GE.intersection(PLAN).area == 50 * 60 and GI.intersection(PLAN).area == 50 * 60  # by hand
    assert check.loss_by_municipality == pytest.approx({"05913000": 6000.0})
    assert check.loss_region_m2 == pytest.approx(6000.0)
    assert check.conflict and {p["conflict"] for p in check.parcels} == {"flaechensicherung"}
    same_use = check_plan(session.connection(), PLAN, "GI", view=FULL)
    assert not same_use.conflict and same_use.loss_region_m2 == 0  # industrial stays industrial


@pytest.mark.parametrize(("gap", "conflict"), [(250, True), (350, False)])
def test_housing_near_a_class_v_site_is_an_abstandserlass_conflict_within_300_m(session, gap, conflict):
    site = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    _create(session, "GE-V", site)
    housing = shapely.box(X0 + 100 + gap, Y0, X0 + 300 + gap, Y0 + 100)
    session.flush()
    check = check_plan(session.connection(), housing, "WA", classes={"gewerbeflaeche": "V"}, view=FULL)
    assert bool(check.abstand) is conflict
    if conflict:
        (hit,) = check.abstand
        assert hit["distance_m"] == pytest.approx(site.distance(housing)) and hit["required_m"] == 300
    assert check.parcels == []  # nothing is built over
    industrial = check_plan(session.connection(), housing, "GE", view=FULL)
    assert industrial.abstand == []  # the Abstandserlass protects housing only


def test_bad_plans_are_refused(session):
    with pytest.raises(PlanError, match="intended_use"):
        check_plan(session.connection(), PLAN, "Wohnen", view=FULL)
    with pytest.raises(PlanError, match="polygon"):
        check_plan(session.connection(), shapely.Point(X0, Y0), "WA", view=FULL)
    with pytest.raises(PlanError, match="not a valid polygon"):
        check_plan(
            session.connection(),
            shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)]),
            "WA",
            view=FULL,
        )
    with pytest.raises(PlanError, match="class"):
        check_plan(session.connection(), PLAN, "WA", classes={"gewerbeflaeche": "IX"}, view=FULL)


def _now(engine) -> dt.datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT clock_timestamp()")).scalar_one()


def test_balance_over_three_dates_accounts_for_every_square_metre(committed_db):
    """D1: A, B, C created. D2: B reused, C re-planned to housing, D created. D3: A grows."""
    a, b, c, d = (shapely.box(X0 + 300 * i, Y0, X0 + 300 * i + 100 + 10 * i, Y0 + 100) for i in range(4))
    with Session(committed_db) as s:
        ids = {
            ref: _create(s, ref, g, restriction_class=0, availability="kurzfristig").id
            for ref, g in zip("ABC", (a, b, c))
        }
        s.commit()
    d1 = _now(committed_db)
    with Session(committed_db) as s:
        update_parcel(s, ids["B"], "planer.do", status="genutzt")
        update_parcel(s, ids["C"], "planer.do", status="andere_nutzung", designation="WA")
        _create(s, "D", d, restriction_class=2)
        s.commit()
    d2 = _now(committed_db)
    a2 = shapely.box(X0, Y0, X0 + 100, Y0 + 150)
    with Session(committed_db) as s:
        update_parcel(s, ids["A"], "planer.do", geom=a2)
        s.commit()
    d3 = _now(committed_db)
    with committed_db.connect() as conn:
        result = balance(conn, [d1, d2, d3], ags="05913000", window_years=1)
        stocks = [s["reserve_m2"] for s in result["stocks"]]
        assert stocks == pytest.approx([a.area + b.area + c.area, a.area + d.area, a2.area + d.area])
        first, second = result["changes"]
        assert first == pytest.approx(
            {
                "from": d1.isoformat(),
                "to": d2.isoformat(),
                "additions_m2": d.area,
                "take_up_m2": b.area,
                "lost_m2": c.area,
                "removed_m2": 0,
                "area_changes_m2": 0,
            }
        )
        assert second["area_changes_m2"] == pytest.approx(a2.area - a.area)
        for (before, after), change in zip(zip(stocks, stocks[1:]), result["changes"]):
            flows = change["additions_m2"] - change["take_up_m2"] - change["lost_m2"] - change["removed_m2"]
            assert after == pytest.approx(before + flows + change["area_changes_m2"])
        # years of supply at D3: restriction-free available reserve (A only; D has restrictions) / take-up per year
        last = result["stocks"][-1]
        assert last["restriction_free_available_m2"] == pytest.approx(a2.area)
        assert last["take_up_per_year_m2"] == pytest.approx(b.area)
        assert last["years_of_supply"] == pytest.approx(a2.area / b.area, abs=0.01)
        # the balance agrees with the parcel history summed directly
        history = conn.execute(
            text("""SELECT sum(area_m2) FROM parcel_version WHERE valid_from <= :t AND (valid_to IS NULL OR valid_to > :t)
                    AND status IN ('potenzial', 'verfuegbar', 'reserviert', 'in_entwicklung')"""),
            {"t": d3},
        ).scalar_one()
        assert last["reserve_m2"] == pytest.approx(history)
        watched = watch_list(conn)
    assert [(w["local_ref"], w["reason"]) for w in watched] == [("C", "nutzungsaenderung")]
    assert watched[0]["actor"] == "planer.do"


def test_strictest_class_that_fits():
    assert strictest_class(1600) == "I"
    assert strictest_class(320) == "V"
    assert strictest_class(99) == "keine"
    assert strictest_class(None) is None


def test_the_sql_class_is_the_python_class_at_every_boundary(engine):
    """The feature queries' columns (width_bucket over the class distances) against strictest_class,
    the rule written out in Python: each distance of the classes, just below it, NULL and far away."""
    ordered = list(ABSTAND_CLASSES)
    distances = [None, -1.0, 0.0, 1e7, float("inf")]
    for metres in ABSTAND_CLASSES.values():
        distances += [metres - 0.001, float(metres), metres + 0.001]
    name, number = abstand_columns(literal_column("v.d", Float))
    given = text("(SELECT unnest(CAST(:ds AS double precision[])) AS d) v")
    with engine.connect() as conn:
        rows = conn.execute(select(literal_column("v.d"), name, number).select_from(given), {"ds": distances}).all()
    assert len(rows) == len(distances)
    for distance, got_name, got_number in rows:
        expected = strictest_class(distance)
        assert got_name == (expected or "unbekannt"), distance
        if expected is None:
            assert got_number is None
        else:
            assert got_number == (ordered.index(expected) + 1 if expected in ordered else len(ordered) + 1), distance


def test_plan_check_api_records_conflicts_for_the_watch_list(committed_db):
    with Session(committed_db) as s:
        _create(s, "GE1", GE)
        s.commit()
    with committed_db.begin() as conn:
        planner = {"Authorization": f"Bearer {create_token(conn, 'planer.do', 'planner', ['05913000'])[1]}"}
        ministry = {"Authorization": f"Bearer {create_token(conn, 'ministerium', 'ministry')[1]}"}
    plan = shapely.transform(PLAN, lambda xy: np.column_stack(TO_WGS84.transform(xy[:, 0], xy[:, 1])))
    body = {"name": "B-Plan 123 Wohnen am Hafen", "intended_use": "WA", "geometry": shapely.geometry.mapping(plan)}
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        assert client.post("/safeguarding/plan-checks", json=body).status_code == 401
        answer = client.post("/safeguarding/plan-checks", json=body, headers=planner)
        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert result["conflict"] and result["loss_region_m2"] == pytest.approx(
            3000, abs=1
        )  # 50 m x 60 m (plan reprojected twice)
        watched = client.get("/safeguarding/watch-list", headers=ministry).json()
        assert [(w["local_ref"], w["reason"], w["actor"]) for w in watched] == [
            ("GE1", "planpruefung:flaechensicherung", "planer.do")
        ]
        assert client.get("/safeguarding/watch-list").status_code == 401
        # the Flächensicherungskarte shows the check's area and conflicts to the ministry, not to the public
        page = client.get("/maps/flaechensicherungskarte", params={"plan_check": result["id"]}, headers=ministry)
        assert page.status_code == 200
        layer_name = "Konflikt der Planprüfung: B-Plan 123 Wohnen am Hafen (WA)"
        assert layer_name in page.text or json.dumps(layer_name)[1:-1] in page.text  # as folium escapes it
        assert "Beobachtungsliste (1)" in page.text and "Planungsdruck" in page.text
        assert client.get("/maps/flaechensicherungskarte", params={"plan_check": result["id"]}).status_code == 400
        # another planner may not open it: a check names what its maker saw (the core's rule)
        with committed_db.begin() as conn:
            other = {"Authorization": f"Bearer {create_token(conn, 'planer.e', 'planner', ['05113000'])[1]}"}
        theirs = client.get("/maps/flaechensicherungskarte", params={"plan_check": result["id"]}, headers=other)
        assert theirs.status_code == 400 and "that you may read" in theirs.text
        own = client.get("/maps/flaechensicherungskarte", params={"plan_check": result["id"]}, headers=planner)
        assert own.status_code == 200
        assert "Beobachtungsliste" not in client.get("/maps/flaechensicherungskarte").text
        public = client.get("/safeguarding/balance", params={"dates": clock.today().isoformat(), "ags": "05913000"})
        assert public.status_code == 200 and public.json()["stocks"][0]["reserve_m2"] == pytest.approx(GE.area)
        bad = client.post("/safeguarding/plan-checks", json=body | {"intended_use": "Wohnen"}, headers=planner)
        assert bad.status_code == 422 and "intended_use" in bad.json()["detail"]
        bad = client.post("/safeguarding/plan-checks", json=body | {"crs": 99999}, headers=planner)
        assert bad.status_code == 422 and "EPSG:99999" in bad.json()["detail"]


def _xplan(ring: shapely.Polygon) -> str:
    """A minimal XPlanGML 5.4 document: a BP_Plan and its BP_Bereich with the same Geltungsbereich."""
    pos = " ".join(f"{x:.2f} {y:.2f}" for x, y in ring.exterior.coords)
    polygon = (
        '<gml:Polygon gml:id="{id}" srsName="EPSG:25832"><gml:exterior><gml:LinearRing>'
        f"<gml:posList>{pos}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xplan:XPlanAuszug xmlns:xplan="http://www.xplanung.de/xplangml/5/4" xmlns:gml="http://www.opengis.net/gml/3.2" gml:id="A">
  <gml:featureMember><xplan:BP_Plan gml:id="P"><xplan:name>B-Plan 77 Wohnen an der Zeche</xplan:name>
    <xplan:raeumlicherGeltungsbereich>{polygon.format(id="G1")}</xplan:raeumlicherGeltungsbereich></xplan:BP_Plan></gml:featureMember>
  <gml:featureMember><xplan:BP_Bereich gml:id="B"><xplan:nummer>0</xplan:nummer>
    <xplan:geltungsbereich>{polygon.format(id="G2")}</xplan:geltungsbereich></xplan:BP_Bereich></gml:featureMember>
</xplan:XPlanAuszug>"""


def test_xplangml_plans_are_checked_from_the_command_line_and_by_upload(committed_db, tmp_path):
    with Session(committed_db) as s:
        _create(s, "GE1", GE)
        s.commit()
    plan_file = tmp_path / "bplan77.gml"
    plan_file.write_text(_xplan(PLAN), encoding="utf-8")
    env = {"LANDREG_DATABASE_URL": committed_db.url.render_as_string(hide_password=False), "PATH": "/usr/bin:/bin"}
    cli = str(Path(sys.executable).parent / "landreg")
    done = subprocess.run(
        [cli, "safeguarding", "plan-check", str(plan_file), "--use", "WA", "--actor", "planer.do"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "B-Plan 77 Wohnen an der Zeche (WA): KONFLIKT" in done.stdout
    assert "loss for the region: 0.30 ha" in done.stdout  # 50 m x 60 m
    listed = subprocess.run([cli, "safeguarding", "watch-list"], capture_output=True, text=True, env=env)
    assert "GE1" in listed.stdout and "planpruefung:flaechensicherung" in listed.stdout and "1 entries" in listed.stdout
    wrong = subprocess.run(
        [cli, "safeguarding", "plan-check", str(plan_file), "--use", "Wohnen"], capture_output=True, text=True, env=env
    )
    assert wrong.returncode == 2 and wrong.stderr.startswith("--use Wohnen is not a use")  # the option it knows
    with committed_db.begin() as conn:
        planner = {"Authorization": f"Bearer {create_token(conn, 'planer.do', 'planner', ['05913000'])[1]}"}
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        answer = client.post(
            "/safeguarding/plan-checks/file",
            files={"file": ("bplan77.gml", plan_file.read_bytes(), "application/gml+xml")},
            data={"intended_use": "MI", "record": "false"},
            headers=planner,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["loss_region_m2"] == pytest.approx(3000, abs=1)  # the file holds coordinates to 1 cm
        refused = client.post(
            "/safeguarding/plan-checks/file",
            files={"file": ("plan.txt", b"nothing", "text/plain")},
            data={"intended_use": "MI"},
            headers=planner,
        )
        assert refused.status_code == 422


def test_abstand_class_per_parcel_follows_the_nearest_residential_area(committed_db, tmp_path):
    """A parcel 350 m from housing allows class V (300 m) but not IV (500 m); filterable in the API."""
    site = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    housing = shapely.box(X0 + 450, Y0, X0 + 650, Y0 + 100)  # 350 m east of the site
    with Session(committed_db) as s:
        _create(s, "SITE", site)
        s.commit()
    layer = tmp_path / "wohngebiete.geojson"
    gpd.GeoDataFrame({"bezeichnung": ["Wohnquartier Ost"]}, geometry=[housing], crs=25832).to_file(layer)
    env = {"LANDREG_DATABASE_URL": committed_db.url.render_as_string(hide_password=False), "PATH": "/usr/bin:/bin"}
    cli = str(Path(sys.executable).parent / "landreg")
    done = subprocess.run(
        [cli, "context", "load", "wohngebiet", str(layer), "--source", "Test, CC0", "--name-column", "bezeichnung"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "wohngebiet: 1 features loaded" in done.stdout
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        (feature,) = client.get("/collections/parcels/items").json()["features"]
        assert site.distance(housing) == 350
        props = feature["properties"]
        assert props["abstand_class_possible"] == "V" and props["abstand_class_possible_number"] == 5
        fits = client.get("/collections/parcels/items", params={"filter": "abstand_class_possible_number <= 5"})
        too_strict = client.get("/collections/parcels/items", params={"filter": "abstand_class_possible_number <= 4"})
        fits, too_strict = fits.json(), too_strict.json()
        assert fits["numberMatched"] == 1 and too_strict["numberMatched"] == 0


def test_a_parcels_own_abstand_class_overrides_its_categorys_default(session):
    """Commercial land defaults to class V (300 m); a parcel kept for class III needs 700 m."""
    site = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    _create(session, "GE-III", site, abstand_class="III")
    housing = shapely.box(X0 + 600, Y0, X0 + 700, Y0 + 100)  # 500 m away
    session.flush()
    (hit,) = check_plan(session.connection(), housing, "WA", view=FULL).abstand
    assert (hit["local_ref"], hit["abstand_class"], hit["required_m"]) == ("GE-III", "III", 700)
    assert hit["distance_m"] == pytest.approx(500)
    with pytest.raises(Exception, match="abstand_class"):
        _create(session, "GE-X", shapely.box(X0, Y0 + 200, X0 + 50, Y0 + 250), abstand_class="IX")


def test_the_balance_is_bounded_in_dates_range_and_window_over_api_and_command_line(committed_db):
    """200 dates took 82 s and year 1 or 9999 answered 500: now at most 20 dates from 1990 to ten
    years ahead, a window of 0.25 to 30 years, each refusal a 400 naming the parameter and limit."""
    twenty = [f"{year}-12-31" for year in range(2005, 2025)]
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:

        def refused(field: str, *words: str, **params) -> None:
            answer = client.get("/safeguarding/balance", params=params)
            assert answer.status_code == 400, answer.text
            body = answer.json()
            assert body["status"] == 400 and body["field"] == field
            assert all(word in body["detail"] for word in words), body["detail"]

        refused("dates", "21 dates", "at most 20", "LANDREG_BALANCE_MAX_DATES", dates=",".join([*twenty, "2025-12-31"]))
        for extreme in ("0001-01-01", "9999-12-31", "1989-12-31", "0001-01-01T00:00:00Z"):
            refused("dates", "1990-01-01", dates=extreme)
        refused("dates", "ascending", dates="2024-12-31,2023-12-31")
        refused("dates", "not an ISO date", dates="2024-02-30")
        for window in ("0", "31", "nan", "inf"):
            refused("window_years", dates="2024-12-31", window_years=window)
        answer = client.get("/safeguarding/balance", params={"dates": ",".join(twenty)})
        assert answer.status_code == 200 and len(answer.json()["stocks"]) == 20
    with committed_db.connect() as conn, pytest.raises(InvalidParameter, match="1990-01-01"):
        balance(conn, [dt.datetime(1, 1, 1, tzinfo=dt.UTC)])

    env = {"LANDREG_DATABASE_URL": committed_db.url.render_as_string(hide_password=False), "PATH": "/usr/bin:/bin"}
    cli = [str(Path(sys.executable).parent / "landreg"), "safeguarding", "balance"]
    for arguments, words in [
        (["0001-01-01"], ["DATES", "1990-01-01"]),
        (["9999-12-31"], ["DATES", "1990-01-01"]),
        ([*twenty, "2025-12-31"], ["DATES", "21 dates", "LANDREG_BALANCE_MAX_DATES"]),
        (["2024-12-31", "--window-years", "0"], ["--window-years", "0.25 to 30"]),
    ]:
        done = subprocess.run([*cli, *arguments], capture_output=True, text=True, env=env)
        assert done.returncode == 2 and all(word in done.stderr for word in words), done.stderr
    done = subprocess.run([*cli, "2024-12-31", "2025-12-31"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("2024-12-31: "), done.stderr


def test_a_plan_area_over_the_vertex_limit_is_refused(session, monkeypatch):
    from landreg.settings import get_settings

    monkeypatch.setenv("LANDREG_MAX_VERTICES", "100")
    get_settings.cache_clear()
    try:
        detailed = shapely.Point(X0, Y0).buffer(100, quad_segs=50)  # 201 vertices
        with pytest.raises(PlanError, match=r"the plan area has 201 vertices.*100.*LANDREG_MAX_VERTICES"):
            check_plan(session.connection(), detailed, "WA", view=FULL)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
