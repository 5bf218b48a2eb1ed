"""Drawing a new parcel and editing its outline in the workspace (api/web/drawing.py).

The register derives a parcel's AGS and area from its outline; these tests check both against an
independent computation (pyproj + shapely), over HTTP and in Chromium with Leaflet-Geoman.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from landreg.errors import InvalidParameter
from landreg.parcels import geometry_from_geojson
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, record, square_at
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

ESSEN, DORTMUND = "05113000", "05913000"
_TO_UTM = Transformer.from_crs(4326, 25832, always_xy=True)
_TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)


def outline_near(lonlat: tuple[float, float], scale: float = 1.0) -> dict:
    """An irregular pentagon (about 60 m across) near a WGS84 point, as GeoJSON in EPSG:4326."""
    lon, lat = lonlat
    offsets = [(-0.0004, -0.0003), (0.0005, -0.0002), (0.0006, 0.0003), (0.0001, 0.0005), (-0.0005, 0.0002)]
    ring = [[round(lon + dx * scale, 7), round(lat + dy * scale, 7)] for dx, dy in offsets]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def expected_area(geojson: dict) -> float:
    """The area in EPSG:25832, computed here: pyproj (x/y order) and shapely, not the database."""
    ring = geojson["coordinates"][0]
    xs, ys = _TO_UTM.transform([p[0] for p in ring], [p[1] for p in ring])
    return shapely.Polygon(list(zip(xs, ys))).area


def as_geojson(polygon: shapely.Polygon) -> dict:
    """A polygon of EPSG:25832 as GeoJSON in EPSG:4326."""
    return shapely.geometry.mapping(
        shapely.transform(polygon, lambda xy: np.column_stack(_TO_WGS84.transform(xy[:, 0], xy[:, 1])))
    )


#: An outline near Essen Hbf in EPSG:25832 metres, as pasted from a GIS into a form that wants degrees.
UTM_OUTLINE = {
    "type": "Polygon",
    "coordinates": [[[362000, 5701000], [362100, 5701000], [362100, 5701100], [362000, 5701000]]],
}


def _sign_in(client, username: str) -> str:
    """Signed in through the form; the session's CSRF token."""
    form = client.get("/app/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    answer = client.post(
        "/app/login",
        data={"username": username, "password": PASSWORD, "login_csrf": token, "next": "/app/flaechen/neu"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/app/flaechen/neu").text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def new_parcel(client, csrf: str, geometry, **fields):
    data = {"csrf_token": csrf, "local_ref": "E-NEU-1", "category": "brachflaeche", "status": "potenzial"} | fields
    data["geometry"] = geometry if isinstance(geometry, str) else json.dumps(geometry)
    return client.post("/app/flaechen/neu", data=data, follow_redirects=False)


@pytest.fixture
def planners(committed_db):
    people(
        committed_db,
        **{
            "planung.essen": ("planner", [ESSEN]),
            "planung.dortmund": ("planner", [DORTMUND]),
            "pruefung": ("reviewer",),
        },
    )
    return committed_db


# -- the core's conversion ---------------------------------------------------------------------------
def test_a_geojson_outline_is_transformed_to_the_storage_crs_with_x_y_order():
    geojson = outline_near(ESSEN_HBF)
    stored = geometry_from_geojson(geojson)
    assert stored.area == pytest.approx(expected_area(geojson), rel=1e-9)
    x, y = _TO_UTM.transform(*geojson["coordinates"][0][0])
    assert stored.exterior.coords[0] == pytest.approx((x, y))
    flipped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in geojson["coordinates"][0]]]}
    assert geometry_from_geojson(flipped, 4326, flip=True).equals_exact(stored, 1e-6)
    assert geometry_from_geojson(stored.__geo_interface__, 25832).equals(stored)  # storage CRS as it is


@pytest.mark.parametrize(
    ("geometry", "says"),
    [
        ("not a geometry", "not a GeoJSON geometry"),
        ({"type": "Polygon", "coordinates": "x"}, "not a GeoJSON geometry"),
        ({"type": "Polygon", "coordinates": [[[7, 51, 3], [7.1, 51, 3], [7.1, 51.1, 3], [7, 51, 3]]]}, "2D"),
        ({"type": "Polygon", "coordinates": [[[700, 51], [710, 51], [710, 60], [700, 51]]]}, "EPSG:4326 can place"),
        ({"type": "Polygon", "coordinates": [[[1e308, 51], [7.1, 51], [7.1, 51.1], [1e308, 51]]]}, "can place"),
        (UTM_OUTLINE, "the coordinates look like metres (e.g. UTM, EPSG:25832), not longitude and latitude"),
    ],
)
def test_an_outline_that_cannot_be_one_is_refused_naming_the_geometry(geometry, says):
    with pytest.raises(InvalidParameter) as refused:
        geometry_from_geojson(geometry)
    assert refused.value.field == "geometry" and says in str(refused.value)


def test_an_outline_over_the_vertex_limit_is_refused_before_it_is_transformed(monkeypatch):
    from landreg.settings import get_settings

    monkeypatch.setenv("LANDREG_MAX_VERTICES", "4")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidParameter, match="LANDREG_MAX_VERTICES"):
            geometry_from_geojson(outline_near(ESSEN_HBF))
    finally:
        get_settings.cache_clear()


# -- over HTTP --------------------------------------------------------------------------------------
def test_the_drawing_page_is_for_planners(planners):
    with app_client(planners) as client:
        assert client.get("/app/flaechen/neu", follow_redirects=False).headers["location"].startswith("/app/login")
        _sign_in(client, "pruefung")
        refused = client.get("/app/flaechen/neu")
        assert refused.status_code == 403 and "planner" in refused.text


def test_a_planner_creates_a_parcel_and_sees_the_ags_and_area_the_database_derived(planners):
    geojson = outline_near(ESSEN_HBF)
    with app_client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        form = client.get("/app/flaechen/neu")
        assert form.status_code == 200
        for label in ("Kennung", "Kategorie", "Brachfläche", "Status", "Zur Veröffentlichung ausgewählt", "ALKIS"):
            assert label in form.text
        assert '<a href="/app/flaechen/neu" aria-current="page">Neue Fläche</a>' in form.text
        english = client.get("/app/flaechen/neu?lang=en").text
        assert "Draw a new parcel" in english and "Reference" in english and "Brownfield" in english
        client.get("/app/flaechen/neu?lang=de")  # German again (the choice is remembered)
        answer = new_parcel(client, csrf, {"type": "Feature", "properties": {}, "geometry": geojson},
                            name="Zeche Neu", publication_allowed="on", data_date="2026-03-01")  # fmt: skip
        assert answer.status_code == 303, answer.text
        created = client.get(answer.headers["location"])
    with planners.connect() as conn:
        parcel = conn.execute(
            text("SELECT id, ags, area_m2, created_by, name, publication_allowed, data_date::text AS d FROM parcel")
        ).one()
    assert parcel.ags == ESSEN and parcel.created_by == "planung.essen"
    assert (parcel.name, parcel.publication_allowed, parcel.d) == ("Zeche Neu", True, "2026-03-01")
    assert parcel.area_m2 == pytest.approx(expected_area(geojson), abs=0.01)
    assert answer.headers["location"] == f"/app/flaechen/neu?angelegt={parcel.id}"
    assert 'id="created-ags">05113000<' in created.text and "Essen" in created.text
    shown = re.search(r'id="created-area" data-m2="([0-9.]+)"', created.text).group(1)
    assert float(shown) == pytest.approx(parcel.area_m2)
    assert f"{parcel.area_m2:,.1f}".translate(str.maketrans(",.", ".,")) + " m²" in created.text
    assert f'href="/app/flaechen/{parcel.id}"' in created.text
    with planners.connect() as conn:  # a planner's new parcel is a submission waiting for review
        kind, state = conn.execute(text("SELECT kind, state FROM submission")).one()
    assert (kind, state) == ("anlage", "wartend")


def test_an_essen_planner_cannot_create_a_parcel_in_dortmund(planners):
    geojson = outline_near(DORTMUND_REINOLDIKIRCHE)
    with app_client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        refused = new_parcel(client, csrf, geojson, local_ref="E-DO-1")
    assert refused.status_code == 403
    assert "05913000" in refused.text and 'id="refusal"' in refused.text
    assert json.dumps(geojson).replace('"', "&#34;") in refused.text  # the outline is kept
    assert 'value="E-DO-1"' in refused.text  # and the fields
    with planners.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM submission")).scalar_one() == 0


def test_field_errors_are_shown_at_their_field_with_the_outline_kept(planners):
    geojson = outline_near(ESSEN_HBF)
    with app_client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        missing = new_parcel(client, csrf, geojson, local_ref="", category="")
        assert missing.status_code == 422
        assert 'id="err-local_ref"' in missing.text and 'id="err-category"' in missing.text
        assert 'aria-invalid="true"' in missing.text and "&#34;Polygon&#34;" in missing.text
        wrong = new_parcel(client, csrf, geojson, category="schloss")  # the core's code list
        assert wrong.status_code == 422 and re.search(r'id="err-category">[^<]*unbekannter Wert', wrong.text)
        wrong = new_parcel(client, csrf, geojson, data_date="gestern")
        assert wrong.status_code == 422 and re.search(r'id="err-data_date">[^<]*muss ein Datum', wrong.text)
        no_outline = new_parcel(client, csrf, "")
        assert no_outline.status_code == 422 and 'id="err-geometry"' in no_outline.text
        lon, lat = ESSEN_HBF
        bowtie = {
            "type": "Polygon",
            "coordinates": [
                [[lon, lat], [lon + 0.001, lat + 0.001], [lon + 0.001, lat], [lon, lat + 0.001], [lon, lat]]
            ],
        }
        for bad in (
            "{", "[" * 100_000, '{"type": "Point", "coordinates": [7, 51]}', json.dumps({"type": "Polygon", "coordinates": [[1]]}),
            '{"type": "Polygon", "coordinates": [[[NaN, 51], [7.1, 51], [7.1, 51.1], [NaN, 51]]]}',
            '{"type": "Polygon", "coordinates": [[[1e308, 51], [7.1, 51], [7.1, 51.1], [1e308, 51]]]}',
            json.dumps(bowtie),  # self-intersecting: the database's rule, named by the core
        ):  # fmt: skip
            answer = new_parcel(client, csrf, bad)
            assert answer.status_code == 422 and 'id="err-geometry"' in answer.text, bad[:80]
        utm = new_parcel(client, csrf, UTM_OUTLINE)  # pasted from a GIS in EPSG:25832
        assert utm.status_code == 422 and 'id="err-geometry"' in utm.text
        assert ": die Koordinaten sehen nach Metern aus (etwa UTM, EPSG:25832), nicht nach Längen- und" in utm.text
        assert "geben Sie den Umriss in Grad an (EPSG:4326, z. B." in utm.text  # a code, not "4.326"
        nul = new_parcel(client, csrf, geojson, name="Zeche\x00Zollverein")
        assert nul.status_code == 422 and 'id="error-summary"' in nul.text
        assert new_parcel(client, csrf, geojson).status_code == 303
        twice = new_parcel(client, csrf, outline_near(ESSEN_HBF, 0.5))  # the same reference again
        assert twice.status_code == 422 and re.search(
            r'id="err-local_ref">[^<]*trägt schon eine andere Fläche', twice.text
        )
        no_token = client.post("/app/flaechen/neu", data={"geometry": json.dumps(geojson), "local_ref": "X"})
        assert no_token.status_code == 403
    with planners.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel")).scalar_one() == 1


def _parcels(engine) -> dict[str, str]:
    record(
        engine,
        {"local_ref": "E-1", "category": "gewerbeflaeche", "geom": square_at(ESSEN_HBF, 60)},
        {"local_ref": "DO-1", "category": "bauluecke", "geom": square_at(DORTMUND_REINOLDIKIRCHE, 40),
         "publication_allowed": True},
        {"local_ref": "DO-2", "category": "bauluecke",
         "geom": square_at((DORTMUND_REINOLDIKIRCHE[0] + 0.002, DORTMUND_REINOLDIKIRCHE[1]), 40)},
    )  # fmt: skip
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT local_ref, id::text FROM parcel")).all())


def test_the_geometry_is_edited_with_the_version_it_is_based_on(planners):
    ids = _parcels(planners)
    moved = as_geojson(square_at(ESSEN_HBF, 80))
    with app_client(planners) as client:
        csrf = _sign_in(client, "planung.essen")
        url = f"/app/flaechen/{ids['E-1']}/geometrie"
        form = client.get(url)
        assert form.status_code == 200 and 'name="version" value="1"' in form.text
        shown = json.loads(re.search(r'id="drawing-config">(.*?)</script>', form.text, re.S).group(1))
        unchanged = client.post(
            url, data={"csrf_token": csrf, "version": "1", "geometry": json.dumps(shown["original"])}
        )
        assert unchanged.status_code == 200 and 'id="unchanged"' in unchanged.text
        saved = client.post(url, data={"csrf_token": csrf, "version": "1", "geometry": json.dumps(moved)},
                            follow_redirects=False)  # fmt: skip
        assert saved.status_code == 303 and saved.headers["location"] == f"{url}?gespeichert=2"
        assert 'id="saved"' in client.get(saved.headers["location"]).text
        stale = client.post(
            url, data={"csrf_token": csrf, "version": "1", "geometry": json.dumps(as_geojson(square_at(ESSEN_HBF, 50)))}
        )
        assert stale.status_code == 409 and "Version 2" in stale.text and 'id="conflict-reload"' in stale.text
        assert 'name="version" value="2"' in stale.text  # applying it anyway is a deliberate step
        bad = client.post(url, data={"csrf_token": csrf, "version": "zwei", "geometry": json.dumps(moved)})
        assert bad.status_code == 400
        line = client.post(
            url,
            data={
                "csrf_token": csrf,
                "version": "2",
                "geometry": '{"type": "LineString", "coordinates": [[7, 51], [7.1, 51]]}',
            },
        )
        assert line.status_code == 422 and 'id="err-geometry"' in line.text
        assert client.get(f"/app/flaechen/{ids['DO-1']}/geometrie").status_code == 403  # published, not theirs
        assert client.get(f"/app/flaechen/{ids['DO-2']}/geometrie").status_code == 404  # not even visible
        assert client.get("/app/flaechen/kein-uuid/geometrie").status_code == 400
    with planners.connect() as conn:
        version, area = conn.execute(text("SELECT version, area_m2 FROM parcel WHERE local_ref = 'E-1'")).one()
    assert version == 2 and area == pytest.approx(6400, rel=1e-3)


def test_the_parcels_nearby_are_those_of_the_planners_view(planners):
    ids = _parcels(planners)
    lon, lat = DORTMUND_REINOLDIKIRCHE
    with app_client(planners) as client:
        _sign_in(client, "planung.essen")
        found = client.get(
            "/app/zeichnen/flaechen", params={"bbox": f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"}
        )
        assert found.status_code == 200 and found.headers["content-type"].startswith("application/geo+json")
        assert [f["id"] for f in found.json()["features"]] == [ids["DO-1"]]  # published; DO-2 is not
        assert "internal_notes" not in found.text and found.headers["cache-control"] == "private, no-store"
        for bbox in ("7,51,8,52", "x", "1,2,3", "7.1,51,7.0,51.1", "nan,1,2,3", "-200,0,-199.9,0.1", "1,2,3,4,5,6"):
            assert client.get("/app/zeichnen/flaechen", params={"bbox": bbox}).status_code == 400, bbox
        _sign_in(client, "planung.dortmund")
        own = client.get(
            "/app/zeichnen/flaechen", params={"bbox": f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"}
        )
        assert sorted(f["properties"]["local_ref"] for f in own.json()["features"]) == ["DO-1", "DO-2"]


# -- in a browser -----------------------------------------------------------------------------------
@needs_browser
def test_a_planner_draws_a_parcel_in_chromium_and_it_is_saved_with_the_derived_ags_and_area(planners):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app
    from tests.helpers import database_url, live_server

    ids = _parcels(planners)
    geojson = outline_near((ESSEN_HBF[0] + 0.0012, ESSEN_HBF[1]))  # east of E-1
    driver = chromium()
    try:
        with live_server(create_app(database_url(planners))) as base:
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/flaechen/neu")
            wait = WebDriverWait(driver, 15)
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-drawing") == "ready")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            # the outline as Geoman's layer.toGeoJSON() gives it, through the page's documented hook
            driver.execute_script("window.landregDrawing.setGeometry(arguments[0]);",
                                  {"type": "Feature", "properties": {}, "geometry": geojson})  # fmt: skip
            assert driver.execute_script("return window.landregDrawing.getGeometry();") == geojson
            # the map moved to the outline and loaded the parcels nearby for snapping: E-1
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-neighbours") == "1")
            driver.find_element(By.ID, "f-local_ref").send_keys("E-GEZ-1")
            driver.find_element(By.ID, "f-name").send_keys("Gezeichnete Fläche")
            driver.find_element(By.CSS_SELECTOR, "#f-category option[value=bauluecke]").click()
            screenshot(driver, "neue-flaeche")
            driver.find_element(By.ID, "create").click()
            wait.until(lambda d: "angelegt=" in d.current_url)
            shown_ags = driver.find_element(By.ID, "created-ags").text
            shown_m2 = float(driver.find_element(By.ID, "created-area").get_attribute("data-m2"))
            link = driver.find_element(By.ID, "created-link").get_attribute("href")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
    finally:
        driver.quit()
    with planners.connect() as conn:
        parcel = conn.execute(text("SELECT id, ags, area_m2 FROM parcel WHERE local_ref = 'E-GEZ-1'")).one()
    assert parcel.ags == shown_ags == ESSEN
    assert parcel.area_m2 == pytest.approx(expected_area(geojson), abs=0.01) and shown_m2 == pytest.approx(
        parcel.area_m2
    )
    assert link.endswith(f"/app/flaechen/{parcel.id}") and ids


@needs_browser
def test_a_polygon_drawn_with_geomans_tool_and_an_edited_outline_are_saved(planners):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app
    from tests.helpers import database_url, live_server

    ids = _parcels(planners)
    driver = chromium()
    try:
        with live_server(create_app(database_url(planners))) as base:
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/flaechen/neu")
            wait = WebDriverWait(driver, 15)
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-drawing") == "ready")
            driver.execute_script("window.landregDrawing.map.setView([51.4513, 7.0146], 17, {animate: false});")
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-neighbours") == "1")
            container = driver.find_element(By.ID, "drawing-map")
            driver.execute_script("arguments[0].scrollIntoView();", container)
            # the north-east corner of E-1 (a 60 m square around Essen Hbf) in EPSG:4326, and where the map shows it
            x, y = _TO_UTM.transform(*ESSEN_HBF)
            corner = [round(v, 7) for v in _TO_WGS84.transform(x + 30, y + 30)]
            px, py = driver.execute_script(
                "var p = window.landregDrawing.map.latLngToContainerPoint([arguments[1], arguments[0]]); return [p.x, p.y];",
                *corner,
            )
            size = container.size
            start = (round(px - size["width"] / 2) + 5, round(py - size["height"] / 2) - 4)  # 5 px off: snaps
            driver.find_element(By.CSS_SELECTOR, ".leaflet-pm-icon-polygon").click()  # Geoman's polygon tool
            corners = [
                start,
                (start[0] + 160, start[1]),
                (start[0] + 170, start[1] - 120),
                (start[0] + 10, start[1] - 130),
            ]
            for dx, dy in [*corners, corners[0]]:  # a click on the first corner finishes the polygon
                ActionChains(driver).move_to_element_with_offset(container, dx, dy).click().perform()
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-outline") == "drawn")
            drawn = driver.execute_script("return window.landregDrawing.getGeometry();")
            ring = drawn["coordinates"][0]
            assert drawn["type"] == "Polygon" and len(ring) == 5
            assert corner in [[pytest.approx(lon, abs=2e-7), pytest.approx(lat, abs=2e-7)] for lon, lat in ring[:-1]], (
                "a corner clicked 5 px beside E-1's corner snaps onto it"
            )
            driver.find_element(By.ID, "f-local_ref").send_keys("E-GEOMAN")
            driver.find_element(By.CSS_SELECTOR, "#f-category option[value=brachflaeche]").click()
            driver.find_element(By.ID, "create").click()
            wait.until(lambda d: "angelegt=" in d.current_url)

            # the outline of E-1 edited: a vertex dragged with Geoman, then saved on version 1
            driver.get(f"{base}/app/flaechen/{ids['E-1']}/geometrie")
            wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-drawing") == "ready")
            before = driver.execute_script("return window.landregDrawing.getGeometry();")
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            marker = driver.find_elements(By.CSS_SELECTOR, ".marker-icon:not(.marker-icon-middle)")[0]
            ActionChains(driver).drag_and_drop_by_offset(marker, 40, 30).perform()
            wait.until(lambda d: d.execute_script("return window.landregDrawing.getGeometry();") != before)
            driver.find_element(By.ID, "save").click()
            wait.until(lambda d: "gespeichert=2" in d.current_url)
            assert "Version 2" in driver.find_element(By.ID, "saved").text
    finally:
        driver.quit()
    with planners.connect() as conn:
        drawn_area, drawn_ags = conn.execute(text("SELECT area_m2, ags FROM parcel WHERE local_ref = 'E-GEOMAN'")).one()
        version, area = conn.execute(text("SELECT version, area_m2 FROM parcel WHERE local_ref = 'E-1'")).one()
    assert drawn_ags == ESSEN and drawn_area == pytest.approx(expected_area(drawn), abs=0.01)
    assert version == 2 and area != pytest.approx(3600, abs=1)
