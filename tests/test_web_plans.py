"""The plan check page (api/web/plans.py): upload a plan, see the parcels it touches on a map and in
a table, the check recorded and readable again; refusals at the form field.

Dortmund, by hand (EPSG:25832, X0/Y0 at the Reinoldikirche): GI-1 (industrial reserve, 200 × 100 m)
and GE-2 (commercial, taken up, 100 × 50 m) lie partly inside the plan, GE-3 (commercial reserve)
200 m east of it, FAR 2 km away. The overlaps are computed here with shapely from the very
coordinates of the uploaded file, not by the registry's SQL.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text

from api.app import create_app
from api.web.plans import ROLES, refusal
from landreg import access
from landreg.importer.refusals import option
from landreg.messages import message
from landreg.safeguarding import PlanError, read_plan_file
from landreg.settings import get_settings
from tests.helpers import BERLIN_ALEXANDERPLATZ, DORTMUND_REINOLDIKIRCHE, bearers, database_url, record, square_at, utm
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

DORTMUND, ESSEN = "05913000", "05113000"
X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
TO_UTM = Transformer.from_crs(4326, 25832, always_xy=True)

PARCELS = {
    "GI-1": (shapely.box(X0, Y0, X0 + 200, Y0 + 100), {"category": "industrieflaeche", "designation": "GI", "status": "verfuegbar"}),
    "GE-2": (shapely.box(X0 + 250, Y0, X0 + 350, Y0 + 50), {"category": "gewerbeflaeche", "status": "genutzt"}),
    "GE-3": (shapely.box(X0 + 520, Y0, X0 + 600, Y0 + 50), {"category": "gewerbeflaeche", "status": "verfuegbar"}),
    "FAR": (shapely.box(X0 + 2000, Y0, X0 + 2100, Y0 + 100), {"category": "industrieflaeche", "status": "verfuegbar"}),
}  # fmt: skip
PLAN = shapely.box(X0 + 120, Y0 - 40, X0 + 320, Y0 + 60)  # housing over GI-1 and GE-2
HIDDEN = shapely.box(X0 + 130, Y0 - 35, X0 + 180, Y0 - 5)  # inside the plan, touching no other parcel


def _transform(geom, transformer: Transformer):
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def plan_geojson(plan: shapely.Polygon = PLAN, name: str = "B-Plan 12 Wohnen am Phoenixsee") -> bytes:
    feature = {"type": "Feature", "properties": {"name": name}, "geometry": shapely.geometry.mapping(_transform(plan, TO_WGS84))}  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def expected_overlaps(content: bytes) -> dict[str, float]:
    """m² of each parcel inside the plan of a GeoJSON file: its coordinates back in EPSG:25832, by shapely."""
    features = json.loads(content)["features"]
    plan = shapely.union_all([_transform(shapely.geometry.shape(f["geometry"]), TO_UTM) for f in features])
    return {ref: geom.intersection(plan).area for ref, (geom, _) in PARCELS.items() if geom.intersects(plan)}


def shown_number(text_: str) -> float:
    """A number as the German page writes it (1.234,5)."""
    return float(text_.strip().replace(".", "").replace(",", "."))


@pytest.fixture
def dortmund(committed_db):
    record(
        committed_db,
        *[{"local_ref": ref, "geom": geom, "publication_allowed": True, **attrs} for ref, (geom, attrs) in PARCELS.items()],
        actor="planung.dortmund",
    )  # fmt: skip
    people(
        committed_db,
        ministerium=("ministry",),
        pruefung=("reviewer",),
        **{"planung.essen": ("planner", [ESSEN]), "planung.dortmund": ("planner", [DORTMUND])},
    )
    return committed_db


def _client(engine) -> TestClient:
    return TestClient(create_app(database_url(engine)))


def _sign_in(client, username: str) -> str:
    form = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    answer = client.post("/app/login", data={"username": username, "password": PASSWORD, "login_csrf": token},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/app/planpruefung").text).group(1)


def check(client, csrf: str, content: bytes, filename: str = "plan.geojson", **form):
    data = {"csrf_token": csrf, "intended_use": "WA"} | form
    return client.post("/app/planpruefung", files={"file": (filename, content)}, data=data, follow_redirects=False)


def count(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _rows(html: str, table: str) -> dict[str, list[str]]:
    """The rows of a table of the check page by the parcel's reference: the cells' text."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    rows = {}
    for row in re.findall(r"<tr [^>]*>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows[cells[0][0]] = [" ".join(c) for c in cells]
    return rows


def test_the_page_admits_the_roles_the_api_admits_and_no_one_else(dortmund):
    geometry = shapely.geometry.mapping(_transform(PLAN, TO_WGS84))
    body = {"name": "Rollenprobe", "intended_use": "GE", "geometry": geometry, "record": False}
    tokens = bearers(dortmund, **{role: (f"{role}.token", role, [DORTMUND] if role == "planner" else []) for role in access.ROLES})  # fmt: skip
    accounts = {"planner": "planung.dortmund", "reviewer": "pruefung", "ministry": "ministerium"}
    people(dortmund, verwaltung=("admin",))
    accounts["admin"] = "verwaltung"
    for role in access.ROLES:
        with _client(dortmund) as client:
            api = client.post("/safeguarding/plan-checks", json=body, headers=tokens[role]).status_code
            _sign_in(client, accounts[role])
            shown = client.get("/app/planpruefung")
            assert (api == 201) == (shown.status_code == 200) == (role in ROLES), role
            assert '<a href="/app/planpruefung" aria-current="page">Planprüfung</a>' in shown.text
    with _client(dortmund) as client:
        assert client.get("/app/planpruefung", follow_redirects=False).headers["location"].startswith("/app/login")
        assert client.post("/safeguarding/plan-checks", json=body).status_code == 401
        _sign_in(client, "planung.dortmund")
        english = client.get("/app/planpruefung?lang=en").text
        assert "Check and record the plan" in english and "Planned use" in english
        client.get("/app/planpruefung?lang=de")
        no_token = client.post("/app/planpruefung", files={"file": ("plan.geojson", plan_geojson())},
                               data={"intended_use": "WA"})  # fmt: skip
        assert no_token.status_code == 403
    assert count(dortmund, "SELECT count(*) FROM plan_check") == 0


def test_a_geojson_plan_is_checked_recorded_and_shown_with_the_areas_shapely_computes(dortmund):
    content = plan_geojson()
    expected = expected_overlaps(content)
    assert set(expected) == {"GI-1", "GE-2"} and expected["GI-1"] == pytest.approx(80 * 60, abs=0.01)
    with _client(dortmund) as client:
        csrf = _sign_in(client, "ministerium")
        answer = check(client, csrf, content)
        assert answer.status_code == 303, answer.text
        url = answer.headers["location"]
        check_id = count(dortmund, "SELECT id FROM plan_check")
        assert url == f"/app/planpruefung/{check_id}?neu=1"
        shown = client.get(url)
        english = client.get(url.split("?")[0] + "?lang=en").text
        client.get("/app/planpruefung?lang=de")
    assert shown.status_code == 200
    page = shown.text
    assert "Result: conflict" in english and "Commercial and industrial parcels touched" in english
    assert "Location: Dortmund (100 %)" in english and "Lage: Dortmund (100 %)" in page
    for html in (page, english):  # an unknown text key shows itself
        assert not re.search(r"\bplans\.[a-z_.]+", re.sub(r"<(script|link)[^>]*>", "", html)), "missing text"
    assert "Planprüfung: B-Plan 12 Wohnen am Phoenixsee" in page and 'id="recorded"' in page
    assert "Ergebnis: Konflikt" in page and "Allgemeines Wohngebiet (WA)" in page
    touched = _rows(page, "touched")
    assert list(touched) == ["GI-1", "GE-2"]  # by area affected, largest first
    for ref, cells in touched.items():
        municipality, category, status, area, affected, share = cells[1:7]
        geom = PARCELS[ref][0]
        assert municipality == "Dortmund"
        assert shown_number(area) == pytest.approx(geom.area, abs=0.5)
        assert shown_number(affected) == pytest.approx(expected[ref], abs=0.5)
        assert shown_number(share.removesuffix(" %")) == pytest.approx(100 * expected[ref] / geom.area, abs=0.05)
    assert touched["GI-1"][7] == "Flächensicherung: Gewerbe-/Industriereserve ginge an eine andere Nutzung verloren"
    assert touched["GE-2"][7] == "kein Konflikt" and touched["GE-2"][3] == "Genutzt (wiedergenutzt)"
    loss = re.search(r'id="loss">Der Plan würde ([\d,]+) ha', page).group(1)
    assert shown_number(loss) == pytest.approx(expected["GI-1"] / 10_000, abs=0.005)
    abstand = _rows(page, "abstand")  # housing within the Abstandserlass distances of the classes
    assert set(abstand) == {"GI-1", "GE-2", "GE-3"} and "FAR" not in page
    assert shown_number(abstand["GE-3"][3]) == pytest.approx(PARCELS["GE-3"][0].distance(PLAN), abs=0.5)
    assert abstand["GE-3"][4:6] == ["V", "300"]
    # the map's data: the plan area and the outlines of the parcels, with their conflicts
    data = json.loads(
        re.search(r'<script type="application/json" id="plan-check-data">(.*?)</script>', page, re.S).group(1)
    )
    assert shapely.hausdorff_distance(shapely.geometry.shape(data["area"]), _transform(PLAN, TO_WGS84)) < 1e-6
    drawn = {f["properties"]["label"]: f["properties"]["conflict"] for f in data["parcels"]["features"]}
    assert drawn == {"GI-1": "flaechensicherung", "GE-2": "abstandserlass", "GE-3": "abstandserlass"}
    with dortmund.connect() as conn:
        stored = conn.execute(text("SELECT actor, name, intended_use, conflict FROM plan_check")).one()
        conflicts = dict(conn.execute(text(
            "SELECT p.local_ref, c.conflict FROM plan_check_parcel c JOIN parcel p ON p.id = c.parcel_id")).all())  # fmt: skip
    assert tuple(stored) == ("ministerium", "B-Plan 12 Wohnen am Phoenixsee", "WA", True)
    assert conflicts == {"GI-1": "flaechensicherung", "GE-2": "abstandserlass", "GE-3": "abstandserlass"}


def test_a_planner_sees_their_own_recorded_checks_the_ministry_all(dortmund):
    """Who reads a recorded check is the core's rule; each check counts what its maker sees: the
    Essen planner's check does not name NP-1, an unpublished Dortmund parcel inside the plan (not in
    the table, not on the map, not in any area), the ministry's does."""
    with _client(dortmund) as planner, _client(dortmund) as ministry:
        planner_csrf = _sign_in(planner, "planung.essen")
        ministry_csrf = _sign_in(ministry, "ministerium")
        record(dortmund, {"local_ref": "NP-1", "geom": HIDDEN, "category": "industrieflaeche", "status": "verfuegbar"})
        own = check(planner, planner_csrf, plan_geojson(), intended_use="GE", name="Gewerbe Essen")
        own_url = own.headers["location"].split("?")[0]
        other = check(ministry, ministry_csrf, plan_geojson(), intended_use="MI", name="Ministerium MI")
        other_url = other.headers["location"].split("?")[0]
        listed_planner = planner.get("/app/planpruefung").text
        listed_ministry = ministry.get("/app/planpruefung").text
        assert f'href="{own_url}"' in listed_planner and f'href="{other_url}"' not in listed_planner
        assert f'href="{own_url}"' in listed_ministry and f'href="{other_url}"' in listed_ministry
        assert "Ihre gespeicherten Prüfungen" in listed_planner and "Alle gespeicherten Prüfungen" in listed_ministry
        again = planner.get(own_url)
        assert (
            again.status_code == 200 and 'id="recorded"' not in again.text and "Ergebnis: kein Konflikt" in again.text
        )
        assert planner.get(other_url).status_code == 404
        for made_up in ("0", "999999", str(2**70)):
            assert ministry.get(f"/app/planpruefung/{made_up}").status_code == 404
        assert ministry.get("/app/planpruefung/abc").status_code == 404
        planner_page = planner.get(own_url).text
        as_recorded = ministry.get(own_url).text  # the planner's check, read by the ministry
        ministry_page = ministry.get(other_url).text
    labels = lambda html: {  # noqa: E731
        f["properties"]["label"]
        for f in json.loads(re.search(r'id="plan-check-data">(.*?)</script>', html, re.S).group(1))["parcels"][
            "features"
        ]
    }
    assert labels(planner_page) == labels(as_recorded) == {"GI-1", "GE-2"}
    assert "NP-1" not in planner_page and "NP-1" not in as_recorded
    assert "NP-1" in labels(ministry_page) and "NP-1" in _rows(ministry_page, "touched")
    assert 'href="/app/flaechen/' in ministry_page


XPLAN = Path(__file__).parent / "data" / "xplan" / "bplan_5_4_bereich_ohne_geometrie.gml"


@pytest.mark.skipif(not XPLAN.exists(), reason="the XPlanGML test plans are not there")
def test_an_xplangml_plan_without_a_use_is_checked_by_its_designations(dortmund):
    with _client(dortmund) as client:
        csrf = _sign_in(client, "planung.dortmund")
        answer = check(client, csrf, XPLAN.read_bytes(), filename=XPLAN.name, intended_use="")
        assert answer.status_code == 303, answer.text
        page = client.get(answer.headers["location"]).text
    assert "Planprüfung: B-Plan 501 Wohnen und Arbeiten am Hafen" in page
    assert "Geplante Nutzung: " in page and " + " in page  # the uses of its designations
    designations = re.search(r'<table id="designations">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert len(re.findall(r"<tr>", designations)) == 2
    assert "Allgemeines Wohngebiet (WA)" in designations and "Industriegebiet (GI)" in designations


def _shapefile_zip(tmp_path, crs=None) -> bytes:
    frame = gpd.GeoDataFrame({"name": ["B-Plan Shape"]}, geometry=[PLAN], crs=crs)
    frame.to_file(tmp_path / "plan.shp")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for suffix in ("shp", "shx", "dbf", "prj"):
            if (tmp_path / f"plan.{suffix}").exists():
                z.write(tmp_path / f"plan.{suffix}", f"plan.{suffix}")
    return out.getvalue()


def _error(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{field}">([^<]*)</p>', html)
    assert found, f"no message at {field}"
    return html_lib.unescape(found.group(1))


def test_refusals_are_shown_at_the_form_field_german_first(dortmund, tmp_path):
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100), (X0, Y0)])
    crossing = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(_transform(g, TO_WGS84))}
            for g in (bowtie, shapely.box(X0 + 50, Y0 - 20, X0 + 150, Y0 + 50))
        ],
    }
    layers = tmp_path / "zwei.gpkg"
    for layer in ("wohnen", "gewerbe"):
        gpd.GeoDataFrame(geometry=[PLAN], crs=25832).to_file(layers, layer=layer)
    no_crs = _shapefile_zip(tmp_path)
    empty_kml = b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document></Document></kml>'
    point = json.dumps({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": list(DORTMUND_REINOLDIKIRCHE)}}).encode()  # fmt: skip
    with _client(dortmund) as client:
        csrf = _sign_in(client, "ministerium")
        file_, crs, use, layer = (
            "Die Datei lässt sich so nicht prüfen: ",
            "Das Koordinatensystem fehlt oder passt nicht zu den Koordinaten: ",
            "Die geplante Nutzung fehlt oder ist unbekannt: ",
            "Die Ebene fehlt oder passt nicht: ",
        )
        berlin = plan_geojson(square_at(BERLIN_ALEXANDERPLATZ, 200))
        cases = [  # (form, field, status, words the message has): the page's sentence, then the core's
            (dict(content=b"hello", filename="notizen.txt"), "file", 422, "„notizen.txt“ hat keinen unterstützten Typ"),
            (dict(content=b"kein GeoJSON", filename="plan.geojson"), "file", 422, file_ + "plan.geojson: lässt sich nicht als Geodatendatei lesen ('plan.geojson' not recognized"),
            (dict(content=point, filename="punkt.geojson"), "file", 422, file_ + "der Geltungsbereich muss ein Polygon oder Multipolygon sein"),
            (dict(content=json.dumps(crossing).encode(), filename="kreuz.geojson"), "file", 422, file_ + "kreuz.geojson: die Flächen der Datei lassen sich nicht zu einem Geltungsbereich vereinen"),
            (dict(content=layers.read_bytes(), filename="zwei.gpkg"), "layer", 422, layer + "zwei.gpkg hat mehrere Ebenen (wohnen, gewerbe); wählen Sie eine mit „Ebene (Layer)“"),
            (dict(content=empty_kml, filename="leer.kml"), "file", 422, file_ + "leer.kml: die Datei enthält keine Ebene mit Geodaten; laden Sie die Planfläche als GeoJSON"),  # not "several layers ()"
            (dict(content=layers.read_bytes(), filename="zwei.gpkg", layer="gruen"), "layer", 422, layer + "zwei.gpkg hat keine Ebene „gruen“; Ebenen: wohnen, gewerbe"),
            (dict(content=no_crs, filename="plan.zip"), "crs", 422, crs + "plan.zip nennt kein Koordinatensystem; geben Sie es unter „Koordinatensystem (EPSG-Code)“ an"),
            (dict(content=no_crs, filename="plan.zip", crs="99999"), "crs", 422, crs + "EPSG:99999 ist kein bekanntes Koordinatensystem; geben Sie den EPSG-Code der Koordinaten an, z. B. „Koordinatensystem (EPSG-Code)“ = 25832"),
            (dict(content=no_crs, filename="plan.zip", crs="zwei"), "crs", 422, "als Zahl zwischen 1 und 999.999"),
            (dict(content=berlin), "crs", 422, crs + "plan.geojson: der Plan liegt nicht in Nordrhein-Westfalen"),  # the importer's diagnosis
            (dict(content=plan_geojson(), intended_use="Wohnen"), "intended_use", 422, "Bitte wählen Sie die geplante Nutzung aus der Liste."),
            (dict(content=plan_geojson(), intended_use=""), "intended_use", 422, use + "der Plan hat keine Festsetzungen: geben Sie seine geplante Nutzung mit „Geplante Nutzung“ an (z. B. „Geplante Nutzung“ = WA)"),
            (dict(content=plan_geojson(), name="x" * 300), "name", 422, "Höchstens 200 Zeichen"),
        ]  # fmt: skip
        for form, field, status, words in cases:
            form = dict(form)
            answer = check(client, csrf, form.pop("content"), **form)
            assert answer.status_code == status, (words, answer.text[:500])
            message = _error(answer.text, field)
            assert words in message, (field, message)
            assert 'aria-invalid="true"' in answer.text and 'id="error-summary"' in answer.text
            assert "/tmp" not in answer.text and "landreg-plan-" not in answer.text  # no server path
            assert "--" not in message and "the form field" not in message  # no command-line option, no English
        kept = check(client, csrf, no_crs, filename="plan.zip", intended_use="MI", crs="99999")
        assert 'value="99999"' in kept.text and 'value="MI" selected' in kept.text  # the form keeps what was given
        no_file = client.post(
            "/app/planpruefung", data={"csrf_token": csrf, "intended_use": "WA"}, files={"x": ("a", b"")}
        )
        assert no_file.status_code == 422 and "Bitte wählen Sie eine Datei aus." in _error(no_file.text, "file")
        assert count(dortmund, "SELECT count(*) FROM plan_check") == 0
        # in English with the language switch
        client.get("/app/planpruefung?lang=en")
        english = check(client, csrf, no_crs, filename="plan.zip")
        assert _error(english.text, "crs").startswith(
            "The coordinate reference system is missing or does not fit the coordinates: plan.zip does not say which "
            "coordinate reference system it uses; give it with the form field “Coordinate reference system (EPSG code)”"
        )
        client.get("/app/planpruefung?lang=de")
        # the EPSG code given: checked (a zipped Shapefile, as EPSG:25832)
        done = check(client, csrf, no_crs, filename="plan.zip", crs="EPSG:25832")
        assert done.status_code == 303, done.text
    assert count(dortmund, "SELECT name FROM plan_check") == "B-Plan Shape"


def test_a_refusal_of_the_core_stands_at_its_field_in_the_persons_language(tmp_path):
    """The field is the refusal's ``field`` (the page matches no text); the core's message is said in
    the person's language, its options as the form's labels; a library's words keep no directory."""
    unknown = PlanError(message("plan.unknown_crs", code="99999"), field="crs")
    assert refusal(unknown, "de") == (
        "crs",
        "Das Koordinatensystem fehlt oder passt nicht zu den Koordinaten: EPSG:99999 ist kein bekanntes "
        "Koordinatensystem; geben Sie den EPSG-Code der Koordinaten an, z. B. „Koordinatensystem (EPSG-Code)“ = "
        "25832 für ETRS89/UTM 32N",
    )
    assert refusal(unknown, "en") == (
        "crs",
        "The coordinate reference system is missing or does not fit the coordinates: EPSG:99999 is not a known "
        "coordinate reference system; give the EPSG code of the coordinates, e.g. “Coordinate reference system "
        "(EPSG code)” = 25832 for ETRS89/UTM 32N",
    )
    no_crs = PlanError(  # the importer's diagnosis: English so far, its options spelled all the same
        f"x.zip declares no CRS; give it with {option('crs')} (e.g. {option('crs', 25832)})", field="crs"
    )
    assert refusal(no_crs, "de")[1].endswith(
        "Koordinaten: x.zip declares no CRS; give it with „Koordinatensystem (EPSG-Code)“ (e.g. "
        "„Koordinatensystem (EPSG-Code)“ = 25832)"
    )
    assert refusal(PlanError(message("plan.area.kind", subject=message("plan.subject.plan")), "geometry"), "de") == (
        "file", "Die Datei lässt sich so nicht prüfen: der Geltungsbereich muss ein Polygon oder Multipolygon sein"
    )  # fmt: skip
    assert refusal(PlanError("something new"), "de") == ("file", "Die Datei lässt sich so nicht prüfen: something new")
    unreadable = tmp_path / "upload" / "plan.geojson"
    unreadable.parent.mkdir()
    unreadable.write_text("kein GeoJSON")
    with pytest.raises(PlanError) as refused:
        read_plan_file(unreadable)
    field, said = refusal(refused.value, "de")
    assert field == "file" and said.startswith("Die Datei lässt sich so nicht prüfen: plan.geojson: lässt sich nicht")
    assert str(tmp_path) not in said and str(tmp_path) not in str(refused.value) and "'plan.geojson'" in said


def test_an_upload_over_the_apis_body_limit_is_refused_at_the_field(dortmund, monkeypatch):
    monkeypatch.setenv("LANDREG_MAX_BODY_BYTES", "3000")
    get_settings.cache_clear()
    try:
        big = plan_geojson(name="x" * 4000)
        with _client(dortmund) as client:
            csrf = _sign_in(client, "ministerium")
            refused = check(client, csrf, big)
            assert refused.status_code == 413
            assert "größer als die erlaubten 3.000 Bytes" in _error(refused.text, "file").replace("\u202f", " ")
            token = bearers(dortmund, m=("ministerium", "ministry"))["m"]
            api = client.post("/safeguarding/plan-checks/file", files={"file": ("plan.geojson", big)},
                              data={"intended_use": "WA"}, headers=token)  # fmt: skip
            assert api.status_code == 413  # the same limit as the API's
            small = check(client, csrf, plan_geojson())
            assert small.status_code == 303
    finally:
        get_settings.cache_clear()
    assert count(dortmund, "SELECT count(*) FROM plan_check") == 1


@needs_browser
def test_the_plan_check_in_chromium_map_table_record_reopen_and_accessible(dortmund, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.helpers import live_server

    content = plan_geojson()
    expected = expected_overlaps(content)
    path = tmp_path / "bplan12.geojson"
    path.write_bytes(content)
    wrong = tmp_path / "notizen.geojson"
    wrong.write_text("keine Geodaten")
    driver = chromium(1400, 1100)
    try:
        with live_server(create_app(database_url(dortmund))) as base:
            sign_in(driver, base, "ministerium")
            driver.get(f"{base}/app/planpruefung")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            wait = WebDriverWait(driver, 30)
            # a wrong file: the message at the field
            driver.find_element(By.ID, "f-file").send_keys(str(wrong))
            Select(driver.find_element(By.ID, "f-intended_use")).select_by_value("WA")
            driver.find_element(By.ID, "check").click()
            wait.until(lambda d: d.find_elements(By.ID, "err-file"))
            assert driver.find_element(By.ID, "err-file").text.startswith(
                "Die Datei lässt sich so nicht prüfen: notizen.geojson: lässt sich nicht als Geodatendatei lesen"
            )
            assert driver.find_element(By.ID, "f-file").get_attribute("aria-invalid") == "true"
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "planpruefung-formular")
            # the plan: checked, recorded, shown on the map and in the table
            driver.find_element(By.ID, "f-file").send_keys(str(path))
            Select(driver.find_element(By.ID, "f-intended_use")).select_by_value("WA")
            driver.find_element(By.ID, "check").click()
            wait.until(lambda d: d.find_elements(By.ID, "touched"))
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#plan-map path.plan-parcel"))
            assert len(driver.find_elements(By.CSS_SELECTOR, "#plan-map path.plan-area")) == 1
            parcels = driver.find_elements(By.CSS_SELECTOR, "#plan-map path.plan-parcel")
            assert len(parcels) == 3
            assert len(driver.find_elements(By.CSS_SELECTOR, "#plan-map path.conflict-flaechensicherung")) == 1
            first = driver.find_element(By.CSS_SELECTOR, "#touched tbody tr")
            cells = [c.text for c in first.find_elements(By.TAG_NAME, "td")]
            assert cells[0].startswith("GI-1") and shown_number(cells[5]) == pytest.approx(expected["GI-1"], abs=0.5)
            # the table row and the parcel on the map go together
            driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('mouseenter'))", first)
            assert "highlight" in first.get_attribute("class")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "planpruefung")
            shown_url = driver.current_url.split("?")[0]
            # listed, and opened again from the list: the same check
            driver.get(f"{base}/app/planpruefung")
            link = driver.find_element(By.CSS_SELECTOR, "#checks tbody tr a")
            assert link.text == "B-Plan 12 Wohnen am Phoenixsee"
            link.click()
            wait.until(lambda d: d.find_elements(By.ID, "touched"))
            assert driver.current_url == shown_url
            again = [c.text for c in driver.find_element(By.CSS_SELECTOR, "#touched tbody tr").find_elements(By.TAG_NAME, "td")]  # fmt: skip
            assert again == cells
    finally:
        driver.quit()
