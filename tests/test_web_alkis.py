"""A new parcel of ALKIS Flurstücke on the workspace's "Neue Fläche" page (api/web/drawing.py).

The Flurstücke are the NAS fixtures of tests/test_alkis.py (made up, in Essen: 101 and 102/3 adjoin,
103 lies apart; 109 lies in Essen while ALKIS says Dortmund). The parcel's area is checked against
shapely's area of the union of the fixture's outlines, written out again here.
"""

from __future__ import annotations

import re

import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from api.web import drawing
from landreg import alkis
from tests.helpers import app_client
from tests.test_alkis import F101, F102, NAS, WRONG_MUNICIPALITY
from tests.test_web_drawing import _sign_in
from tests.web import axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

ESSEN, DORTMUND = "05113000", "05913000"
K101, K102, K103, K109 = "05350100200101______", "053501002001020003__", "05350100200103______", "05350100200109______"
_TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
#: Around the fixture's Flurstücke (EPSG:25832 362000–362240, 5700500–5700630), lon/lat.
WEST, SOUTH = _TO_WGS84.transform(361900, 5700400)
EAST, NORTH = _TO_WGS84.transform(362400, 5700750)
BBOX = f"{WEST},{SOUTH},{EAST},{NORTH}"


@pytest.fixture
def loaded(committed_db):
    """Planners of Essen and Dortmund, a reviewer, and the fixture's Flurstücke loaded."""
    people(
        committed_db,
        **{
            "planung.essen": ("planner", [ESSEN]),
            "planung.dortmund": ("planner", [DORTMUND]),
            "pruefung": ("reviewer",),
        },
    )
    with committed_db.begin() as conn:
        alkis.load(conn, NAS, "kataster")
        alkis.load(conn, WRONG_MUNICIPALITY, "kataster")
    yield committed_db
    with committed_db.begin() as conn:  # not in conftest's TRUNCATE list
        conn.execute(text("TRUNCATE alkis_flurstueck"))


def choose(client, csrf: str, *keys: str, **fields):
    data = {"csrf_token": csrf, "source": "flurstuecke", "local_ref": "E-ALKIS-1", "category": "brachflaeche"}
    return client.post("/app/flaechen/neu", data=data | fields | {"flurstueck": list(keys)})


def count_parcels(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM parcel")).scalar_one()


# -- over HTTP --------------------------------------------------------------------------------------
def test_without_flurstuecke_the_page_says_so_and_offers_drawing(committed_db):
    people(committed_db, **{"planung.essen": ("planner", [ESSEN])})
    with app_client(committed_db) as client:
        _sign_in(client, "planung.essen")
        page = client.get("/app/flaechen/neu").text
        english = client.get("/app/flaechen/neu?lang=en").text
    assert 'id="alkis-note"' in page and "keine ALKIS-Flurstücke geladen" in page
    assert "No ALKIS Flurstücke are loaded" in english
    assert 'name="source"' not in page and 'id="alkis-list"' not in page and 'id="drawing-start"' in page


def test_the_flurstuecke_of_the_extent_are_for_planners_marked_by_who_may_choose_them(loaded, monkeypatch):
    with app_client(loaded) as client:
        anonymous = client.get(drawing.FLURSTUECKE_URL, params={"bbox": BBOX}, follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/app/login")
        _sign_in(client, "pruefung")
        assert client.get(drawing.FLURSTUECKE_URL, params={"bbox": BBOX}).status_code == 403
        _sign_in(client, "planung.essen")
        page = client.get("/app/flaechen/neu").text
        assert 'id="alkis-note"' not in page and 'id="source-flurstuecke"' in page
        found = client.get(drawing.FLURSTUECKE_URL, params={"bbox": BBOX})
        assert found.status_code == 200 and found.headers["content-type"].startswith("application/geo+json")
        assert found.headers["cache-control"] == "private, no-store"
        body = found.json()
        chosen = {f["id"]: f["properties"] for f in body["features"]}
        assert {k: p["selectable"] for k, p in chosen.items()} == {K101: True, K102: True, K103: True, K109: False}
        assert chosen[K109]["municipality"] == "Dortmund" and chosen[K102]["bezeichnung"] == "05-3501-2-102/3"
        assert chosen[K101]["area_m2"] == pytest.approx(F101.area)
        ring = body["features"][0]["geometry"]["coordinates"][0][0]
        assert WEST < ring[0][0] < EAST and SOUTH < ring[0][1] < NORTH  # lon/lat
        # bounded: the extent, and the number (more: none, and the map asks to zoom in)
        for bbox in ("6.9,51.3,7.1,51.5", "x", "1,2,3", f"{EAST},{SOUTH},{WEST},{NORTH}", "nan,1,2,3"):
            assert client.get(drawing.FLURSTUECKE_URL, params={"bbox": bbox}).status_code == 400, bbox
        monkeypatch.setattr(drawing, "FLURSTUECKE_MAX", 3)
        crowded = client.get(drawing.FLURSTUECKE_URL, params={"bbox": BBOX}).json()
        assert crowded["tooMany"] and crowded["features"] == [] and crowded["limit"] == 3
        empty = client.get(drawing.FLURSTUECKE_URL, params={"bbox": "7.2,51.5,7.21,51.51"}).json()
        assert empty["features"] == [] and not empty["tooMany"]


def test_flurstuecke_of_another_municipality_are_refused(loaded):
    with app_client(loaded) as client:
        csrf = _sign_in(client, "planung.dortmund")
        essen = choose(client, csrf, K101, local_ref="DO-ALKIS")
        assert essen.status_code == 403 and 'id="refusal"' in essen.text and "05113000" in essen.text
        assert 'value="DO-ALKIS"' in essen.text and f'value="{K101}" checked' in essen.text  # all kept
        csrf = _sign_in(client, "planung.essen")
        said_dortmund = choose(client, csrf, K109)  # in Essen, but ALKIS says Dortmund
        assert said_dortmund.status_code == 422
        error = re.search(r'id="err-flurstueck">([^<]*)<', said_dortmund.text).group(1)
        assert "Die Flurstücke passen nicht zu einer Fläche" in error and "05913000 Dortmund" in error
        none = choose(client, csrf)
        assert none.status_code == 422 and "mindestens ein Flurstück" in none.text
        for bad in ("Flur 3", "05350100200999______"):  # not a Kennzeichen; not loaded
            answer = choose(client, csrf, bad)
            assert answer.status_code == 422 and 'id="err-flurstueck"' in answer.text, bad
        missing = choose(client, csrf, K101, local_ref="", category="")
        assert (
            missing.status_code == 422 and 'id="err-local_ref"' in missing.text and 'id="err-category"' in missing.text
        )
        english = client.post(
            "/app/flaechen/neu?lang=en",
            data={"csrf_token": csrf, "source": "flurstuecke", "local_ref": "X", "category": "brachflaeche"},
        )
        assert "Please choose at least one Flurstück" in english.text
        no_token = client.post("/app/flaechen/neu", data={"source": "flurstuecke", "flurstueck": K101})
        assert no_token.status_code == 403
    assert count_parcels(loaded) == 0


# -- in a browser -----------------------------------------------------------------------------------
@needs_browser
def test_a_planner_composes_a_parcel_of_two_flurstuecke_in_chromium(loaded):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app
    from tests.helpers import database_url, live_server

    union = shapely.union_all([F101, F102])  # the outlines of the fixture, written out in tests/test_alkis.py
    driver = chromium(height=1400)  # the screenshot shows the map and the list of Flurstücke
    try:
        with live_server(create_app(database_url(loaded))) as base:
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/flaechen/neu")
            wait = WebDriverWait(driver, 15)
            body = driver.find_element(By.TAG_NAME, "body")
            wait.until(lambda d: body.get_attribute("data-drawing") == "ready")
            driver.find_element(By.ID, "source-flurstuecke").click()
            assert "hineinzoomen" in driver.find_element(By.ID, "alkis-status").text  # a whole city is too much
            lon, lat = _TO_WGS84.transform(362100, 5700560)
            driver.execute_script(f"window.landregDrawing.map.setView([{lat}, {lon}], 18, {{animate: false}});")
            wait.until(lambda d: body.get_attribute("data-flurstuecke") == "4")
            other = driver.find_element(By.ID, f"fs-{K109}")
            assert (
                not other.is_enabled()
                and "Dortmund" in driver.find_element(By.CSS_SELECTOR, f"label[for='fs-{K109}']").text
            )
            # a click on the map ticks a Flurstück, a second one unticks it
            container = driver.find_element(By.ID, "drawing-map")
            driver.execute_script("arguments[0].scrollIntoView();", container)
            px, py = driver.execute_script(
                "var p = window.landregDrawing.map.latLngToContainerPoint([arguments[1], arguments[0]]); return [p.x, p.y];",
                *_TO_WGS84.transform(362105, 5700520),  # inside 103, beside its hole
            )
            offset = (round(px - container.size["width"] / 2), round(py - container.size["height"] / 2))
            ActionChains(driver).move_to_element_with_offset(container, *offset).click().perform()
            assert driver.execute_script("return window.landregDrawing.alkis.chosen();") == [K103]
            assert driver.find_element(By.ID, f"fs-{K103}").is_selected()
            ActionChains(driver).move_to_element_with_offset(container, *offset).click().perform()
            assert driver.execute_script("return window.landregDrawing.alkis.chosen();") == []
            for key in (K101, K102):  # the keyboard's way: the labelled checkboxes
                driver.find_element(By.CSS_SELECTOR, f"label[for='fs-{key}']").click()
            assert driver.execute_script("return window.landregDrawing.alkis.chosen();") == [K101, K102]
            selection = driver.find_element(By.ID, "alkis-selection").text
            assert "2 Flurstück" in selection and f"{union.area:,.0f}".replace(",", ".") + " m²" in selection
            driver.find_element(By.ID, "f-local_ref").send_keys("E-ALKIS-2")
            driver.find_element(By.ID, "f-name").send_keys("Aus Flurstücken")
            driver.find_element(By.CSS_SELECTOR, "#f-category option[value=brachflaeche]").click()
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "neue-flaeche-alkis")
            driver.find_element(By.ID, "create").click()
            wait.until(lambda d: d.find_elements(By.ID, "created"))
            shown_keys = driver.find_element(By.ID, "created-flurstuecke").text
            notes = driver.find_element(By.ID, "created-notes").text
            shown_m2 = float(driver.find_element(By.ID, "created-area").get_attribute("data-m2"))
            assert "angelegt=" in driver.current_url  # a reload shows the parcel, it does not save again
            violations = axe_violations(driver)
            assert not violations, describe(violations)
    finally:
        driver.quit()
    with loaded.connect() as conn:
        parcel = conn.execute(
            text("SELECT ags, area_m2, flurstueckskennzeichen, name FROM parcel WHERE local_ref = 'E-ALKIS-2'")
        ).one()
    assert parcel.flurstueckskennzeichen == f"{K101},{K102}" and (parcel.ags, parcel.name) == (ESSEN, "Aus Flurstücken")
    assert parcel.area_m2 == pytest.approx(union.area, abs=0.01) and shown_m2 == pytest.approx(parcel.area_m2)
    assert shown_keys == "05-3501-2-101, 05-3501-2-102/3"
    assert "amtliche Fläche 2,450 m²" in notes  # 1,200 + 1,250 m² stated, 2,400 m² measured
