"""The investor map in a real browser: headless Chromium (Debian's) against a live server on loopback.

The map is forced onto its vector tile path (the one that matters at state scale); the base map's
tile server is unreachable here, which the map must survive.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import shapely

from api.app import create_app
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, database_url, live_server, record, utm

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (scripts/setup.sh test installs them as root)",
)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"
X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


@pytest.fixture
def server(committed_db, monkeypatch):
    record(
        committed_db,
        *[
            {
                "local_ref": f"B{i}",
                "name": f"Gewerbepark Phoenix {i}",
                "category": "gewerbeflaeche",
                "status": "verfuegbar",
                "availability": "kurzfristig",
                "publication_allowed": True,
                "geom": shapely.box(X0 + 150 * i, Y0, X0 + 150 * i + 120, Y0 + 120),
            }
            for i in range(4)
        ],
    )
    monkeypatch.setenv("LANDREG_MAP_EMBED_MAX", "0")  # always vector tiles
    get_settings.cache_clear()
    with live_server(create_app(database_url(committed_db))) as url:
        yield url
    get_settings.cache_clear()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1100,800",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_investor_map_draws_parcels_from_tiles_and_opens_a_popup(server, browser):
    from pyproj import Transformer
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    lon, lat = Transformer.from_crs(25832, 4326, always_xy=True).transform(X0 + 60, Y0 + 60)  # centre of B0
    started = time.monotonic()
    browser.get(f"{server}/maps/standortkarte?lat={lat}&lon={lon}&zoom=17")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-parcels-drawn") == "tiles")
    paths = wait.until(ec.presence_of_all_elements_located((By.CSS_SELECTOR, ".leaflet-tile-container path, svg path")))
    drawn = time.monotonic() - started
    assert paths, "no parcel drawn"
    # click the map centre: parcel B0 lies there
    browser.execute_script(
        "var m = Object.values(window).find(v => v instanceof L.Map);"
        "var c = m.latLngToContainerPoint(m.getCenter());"
        "var el = document.elementFromPoint(c.x + m.getContainer().getBoundingClientRect().left,"
        " c.y + m.getContainer().getBoundingClientRect().top);"
        "el.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: c.x, clientY: c.y}));"
    )
    popup = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".leaflet-popup-content")))
    text = popup.text
    SCREENSHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "standortkarte.png"))
    assert "Gewerbepark Phoenix 0" in text
    assert "Gewerbefläche" in text and "Dortmund" in text and "Kurzfristig" in text
    assert "1,44 ha" in text  # 120 m x 120 m, German number format
    print(f"parcels drawn after {drawn:.2f} s; screenshot {SCREENSHOTS / 'standortkarte.png'}")
