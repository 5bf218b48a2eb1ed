"""The plan check with the files planners have: XPlanGML with and without Bereich geometry, and plans
whose coordinates or municipality are wrong. Each wrong plan is refused with the fix, over the
command line (naming ``--crs``) and over HTTP (naming the form field ``crs``), and nothing is
recorded; a plan's designations are each checked with their own use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from landreg.access import FULL
from landreg.auth import create_token
from landreg.parcels import create_parcel
from landreg.safeguarding import PlanError, check_plan
from landreg.safeguarding.xplan import read_designations
from tests.helpers import ESSEN_HBF
from tests.test_xplan import BPLAN_54, BPLAN_60, shifted_to, variant

PARCEL = shapely.box(393600, 5708050, 393700, 5708150)  # industrial land under the WA and the GI of BPLAN_54
WA = shapely.box(393500, 5708000, 393650, 5708200)
GI = shapely.box(393650, 5708000, 393800, 5708200)
TO_GK3 = Transformer.from_crs(25832, 31467, always_xy=True).transform


def _plan_files(tmp: Path) -> dict[str, tuple]:
    """Each wrong plan: (file, what the CLI says, what HTTP says); a tuple: parts of the message."""
    geojson = tmp / "plan_in_metres.geojson"
    ring = [list(c) for c in shapely.box(393500, 5708000, 393800, 5708200).exterior.coords]
    geojson.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    return {
        "gauss-krueger": (
            variant(BPLAN_54, tmp / "gk.gml", TO_GK3),
            "gk.gml: the coordinates look like Gauß-Krüger zone 3 (x ≈ 3,",
            "declare crs=31467",
        ),
        "swapped-axes": (
            variant(BPLAN_54, tmp / "swapped.gml", lambda x, y: (y, x)),
            "swapped.gml: the axes appear to be swapped",
            "the axes appear to be swapped",
        ),
        "local": (
            variant(BPLAN_54, tmp / "local.gml", lambda x, y: (x - 393500, y - 5708000)),
            "local.gml: the coordinates look local",
            "export the plan georeferenced, e.g. in ETRS89/UTM 32N (EPSG:25832): a CRS given with the form field crs cannot place",
        ),
        "outside-nrw": (
            variant(BPLAN_54, tmp / "muenchen.gml", shifted_to(11.5755, 48.1372)),
            "muenchen.gml: the plan does not lie in North Rhine-Westphalia",
            "does not lie in North Rhine-Westphalia",
        ),
        "outside-nrw-inside-its-box": (
            variant(BPLAN_54, tmp / "osnabrueck.gml", shifted_to(8.0472, 52.2799)),
            (
                "the plan does not lie in North Rhine-Westphalia: 0% of its area lies in NRW's municipalities",
                "check the coordinates and the CRS (--crs)",
            ),
            "check the coordinates and the CRS (the form field crs)",
        ),
        "other-municipality": (
            variant(BPLAN_54, tmp / "essen.gml", shifted_to(*ESSEN_HBF)),
            "the plan names the municipality Dortmund (05913000) (XP_Gemeinde ags/rs), but its area lies in Essen "
            "(05113000, 100%)",
            "but its area lies in Essen (05113000, 100%)",
        ),
        "geojson-in-metres": (
            geojson,
            (
                "plan_in_metres.geojson: the coordinates look like projected metres (e.g. 393650.0, 5708100.0), "
                'but the file is GeoJSON without a "crs" member',
                "give --crs 25832",
            ),
            "give crs=25832",
        ),
    }


CASES = [
    "gauss-krueger",
    "swapped-axes",
    "local",
    "outside-nrw",
    "outside-nrw-inside-its-box",
    "other-municipality",
    "geojson-in-metres",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _plan_files(tmp_path_factory.mktemp("plans"))


@pytest.fixture(scope="module")
def cli_env(committed_engine):
    return {
        "LANDREG_DATABASE_URL": committed_engine.url.render_as_string(hide_password=False),
        "PATH": "/usr/bin:/bin",
    }


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    landreg = str(Path(sys.executable).parent / "landreg")
    return subprocess.run([landreg, "safeguarding", "plan-check", *args], capture_output=True, text=True, env=env)


def _parts(says: str | tuple[str, ...]) -> tuple[str, ...]:
    return says if isinstance(says, tuple) else (says,)


def _recorded(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM plan_check")).scalar_one()


@pytest.fixture
def planner(committed_db):
    with committed_db.begin() as conn:
        return {"Authorization": f"Bearer {create_token(conn, 'planer.do', 'planner', ['05913000'])[1]}"}


@pytest.fixture
def client(committed_db):
    with TestClient(create_app(committed_db.url.render_as_string(hide_password=False))) as client:
        yield client


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_plan_is_refused_on_the_command_line_naming_crs(committed_db, cli_env, files, case):
    plan_file, says, _ = files[case]
    done = _cli(cli_env, str(plan_file), "--use", "WA")
    assert done.returncode == 2 and all(part in done.stderr for part in _parts(says)), done.stderr
    assert "Traceback" not in done.stderr and "inf inf" not in done.stderr
    assert _recorded(committed_db) == 0


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_plan_is_refused_over_http_naming_the_form_field(committed_db, client, planner, files, case):
    plan_file, _, says = files[case]
    answer = client.post(
        "/safeguarding/plan-checks/file",
        files={"file": (plan_file.name, plan_file.read_bytes(), "application/octet-stream")},
        data={"intended_use": "WA"},
        headers=planner,
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert all(part in body["detail"] for part in _parts(says)) and "--crs" not in body["detail"], body
    assert body["field"] == ("file" if case == "other-municipality" else "crs")
    assert _recorded(committed_db) == 0


def test_gauss_krueger_declared_as_25832_is_checked_once_crs_names_it(committed_db, cli_env, files):
    plan_file, _, _ = files["gauss-krueger"]
    done = _cli(cli_env, str(plan_file), "--use", "WA", "--crs", "31467", "--no-record")
    assert done.returncode == 0, done.stderr
    assert "B-Plan 501 Wohnen und Arbeiten am Hafen (WA): kein Konflikt" in done.stdout


def test_geojson_in_metres_over_the_json_api_is_refused_not_inf(committed_db, client, planner):
    body = {
        "name": "B-Plan in Metern",
        "intended_use": "WA",
        "geometry": shapely.geometry.mapping(shapely.box(393500, 5708000, 393800, 5708200)),
    }  # crs defaults to 4326
    answer = client.post("/safeguarding/plan-checks", json=body, headers=planner)
    assert answer.status_code == 422 and answer.json()["field"] == "crs", answer.text
    assert "look like projected metres" in answer.json()["detail"] and 'give "crs": 25832' in answer.json()["detail"]
    fixed = client.post("/safeguarding/plan-checks", json=body | {"crs": 25832}, headers=planner)
    assert fixed.status_code == 201 and not fixed.json()["conflict"]
    assert fixed.json()["municipalities"] == [{"ags": "05913000", "name": "Dortmund", "share": pytest.approx(1.0)}]
    ring = [[x, y, 110.0] for x, y in body["geometry"]["coordinates"][0]]  # heights: recorded in 2D
    with_z = body | {"crs": 25832, "geometry": {"type": "Polygon", "coordinates": [ring]}}
    assert client.post("/safeguarding/plan-checks", json=with_z, headers=planner).status_code == 201
    assert _recorded(committed_db) == 2


def _industrial_parcel(engine) -> None:
    with Session(engine) as s:
        create_parcel(
            s,
            "planer.do",
            local_ref="GI-HAFEN",
            geom=PARCEL,
            category="industrieflaeche",
            status="verfuegbar",
            publication_allowed=True,
        )
        s.commit()


def _assert_designations(result: dict) -> None:
    """The WA built over industrial land is a conflict, the GI is not; areas as shapely computes them."""
    by_use = {d["use"]: d for d in result["designations"]}
    assert set(by_use) == {"WA", "GI"}
    wa, gi = by_use["WA"], by_use["GI"]
    assert wa["conflict"] and wa["use_label"] == "Allgemeines Wohngebiet" and wa["area_m2"] == pytest.approx(WA.area)
    assert [(p["local_ref"], p["conflict"]) for p in wa["parcels"]] == [("GI-HAFEN", "flaechensicherung")]
    assert wa["parcels"][0]["affected_m2"] == pytest.approx(PARCEL.intersection(WA).area)
    assert wa["loss_region_m2"] == pytest.approx(PARCEL.intersection(WA).area)
    assert [a["local_ref"] for a in wa["abstand"]] == ["GI-HAFEN"]  # housing on industrial land: 0 m
    assert not gi["conflict"] and gi["loss_region_m2"] == 0 and gi["abstand"] == []
    assert gi["parcels"][0]["affected_m2"] == pytest.approx(PARCEL.intersection(GI).area)
    assert gi["parcels"][0]["conflict"] == "keiner"
    # the plan as a whole: only the WA's share of the reserve is lost
    assert result["conflict"] and result["intended_use"] == "GI+WA"
    assert result["loss_region_m2"] == pytest.approx(PARCEL.intersection(WA).area) == pytest.approx(5000)
    assert result["parcels"][0]["affected_m2"] == pytest.approx(PARCEL.area)


def test_a_bereich_without_geometry_is_checked_with_its_designations_on_the_command_line(committed_db, cli_env):
    _industrial_parcel(committed_db)
    done = _cli(cli_env, str(BPLAN_54), "--json", "--actor", "planer.do")
    assert done.returncode == 0, done.stderr  # was: AttributeError: 'DataFrame' object has no attribute 'crs'
    _assert_designations(json.loads(done.stdout))
    with committed_db.connect() as conn:
        recorded = conn.execute(text("SELECT name, intended_use, conflict FROM plan_check")).one()
    assert tuple(recorded) == ("B-Plan 501 Wohnen und Arbeiten am Hafen", "GI+WA", True)
    text_output = _cli(cli_env, str(BPLAN_54), "--no-record")
    assert (
        "XPlanGML 5.4, Nr. 0501, In Kraft getreten (2024-03-15), Gemeinde 05913000; "
        "area: BP_Plan.raeumlicherGeltungsbereich" in text_output.stdout
    )
    assert "WA Allgemeines Wohngebiet (3.00 ha): KONFLIKT / conflict: GI-HAFEN" in text_output.stdout
    assert "GI Industriegebiet (3.00 ha): kein Konflikt / no conflict" in text_output.stdout


def test_a_bereich_without_geometry_is_checked_with_its_designations_over_http(committed_db, client, planner):
    _industrial_parcel(committed_db)
    answer = client.post(
        "/safeguarding/plan-checks/file",
        files={"file": (BPLAN_54.name, BPLAN_54.read_bytes(), "application/gml+xml")},
        headers=planner,
    )
    assert answer.status_code == 201, answer.text  # was: 500
    _assert_designations(answer.json())
    assert answer.json()["plan"] == {
        "name": "B-Plan 501 Wohnen und Arbeiten am Hafen",
        "municipalities": ["05913000"],
        "number": "0501",
        "legal_status": "In Kraft getreten",
        "date": "2024-03-15",
        "xplan_version": "5.4",
        "area_source": "BP_Plan.raeumlicherGeltungsbereich",
    }
    whole = client.post(
        "/safeguarding/plan-checks/file",
        files={"file": (BPLAN_54.name, BPLAN_54.read_bytes(), "application/gml+xml")},
        data={"intended_use": "GI", "record": "false"},
        headers=planner,
    )  # the whole area as GI: no loss over all, yet its WA designation still conflicts
    assert whole.status_code == 201 and whole.json()["loss_region_m2"] == 0 and whole.json()["conflict"]
    v60 = client.post(
        "/safeguarding/plan-checks/file",
        files={"file": (BPLAN_60.name, BPLAN_60.read_bytes(), "application/gml+xml")},
        data={"record": "false"},
        headers=planner,
    )
    assert v60.status_code == 201, v60.text
    assert {d["use"]: d["checked_as"] for d in v60.json()["designations"]} == {"MU": "MU", "GE": "GE"}


def test_the_core_refuses_a_plan_outside_nrw_and_one_outside_its_municipality(session):
    conn = session.connection()
    to_utm = Transformer.from_crs(4326, 25832, always_xy=True).transform
    berlin = shapely.box(*to_utm(13.41, 52.52), *to_utm(13.42, 52.53))
    with pytest.raises(PlanError, match=r"the plan does not lie in North Rhine-Westphalia: 0%") as refused:
        check_plan(conn, berlin, "WA", view=FULL)
    assert refused.value.field == "crs"
    with pytest.raises(
        PlanError, match=r"names the municipality Essen \(05113000\).*lies in Dortmund \(05913000, 100%\)"
    ):
        check_plan(conn, PARCEL, "WA", municipalities=("05113000",), view=FULL)
    check = check_plan(conn, PARCEL, "WA", municipalities=("05913000",), view=FULL)  # where it says: checked
    assert [m["ags"] for m in check.municipalities] == ["05913000"]
    designations = read_designations(BPLAN_54)
    assert len(check_plan(conn, WA.union(GI), None, designations=designations, view=FULL).designations) == 2
    with pytest.raises(PlanError, match="the plan has no designations: give its intended use"):
        check_plan(conn, PARCEL, None, view=FULL)
    too_many = gpd.GeoDataFrame({"use": ["WA"] * 501}, geometry=[PARCEL] * 501, crs=25832)
    with pytest.raises(PlanError, match="the plan has 501 designations, more than the 500 a plan check takes"):
        check_plan(conn, PARCEL, None, designations=too_many, view=FULL)
    bowtie = shapely.Polygon([(393500, 5708000), (393600, 5708100), (393600, 5708000), (393500, 5708100)])
    crossed = gpd.GeoDataFrame({"use": ["WA"], "gml_id": ["GML_x"]}, geometry=[bowtie], crs=25832)
    with pytest.raises(
        PlanError, match=r"designation WA \(GML_x\): its area is not a valid polygon: Self-intersection"
    ):
        check_plan(conn, PARCEL, None, designations=crossed, view=FULL)
    unknown = gpd.GeoDataFrame({"use": ["XY"]}, geometry=[PARCEL], crs=25832)
    with pytest.raises(PlanError, match="designation 'XY' has no plan-check use"):
        check_plan(conn, PARCEL, None, designations=unknown, view=FULL)
