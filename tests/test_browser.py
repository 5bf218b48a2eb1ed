"""The investor map in a real browser: headless Chromium (Debian's) against a live server on loopback.

The map is forced onto its vector tile path (the one that matters at state scale); the base map's
tile server is unreachable here, which the map must survive. A tile carries only what the map draws
and names a parcel by: a click shows the popup's headline at once and the record read from the item.
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
                "designation": "GE",
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


def _open_map_and_click_b0(server, browser):
    """The Standortkarte at parcel B0, drawn from tiles; B0 clicked. Returns the seconds until drawn."""
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
    # B0 lies at the map's centre: moved up by a third of the map (its popup, growing upwards when
    # the record arrives, would reach above the map's top edge unless the map pans), then clicked
    browser.execute_script(
        "var m = Object.values(window).find(v => v instanceof L.Map);"
        "var b0 = m.getCenter(); m.panBy([0, m.getSize().y / 3], {animate: false});"
        "var c = m.latLngToContainerPoint(b0);"
        "var el = document.elementFromPoint(c.x + m.getContainer().getBoundingClientRect().left,"
        " c.y + m.getContainer().getBoundingClientRect().top);"
        "el.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: c.x, clientY: c.y}));"
    )
    return drawn


def _popup_text(browser, until):
    """The popup's text once ``until(text)`` holds (the record arrives after the click)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def text(b):
        try:
            # textContent, not the visible text: a long record scrolls inside the popup (max. 360 px)
            shown = [
                e.get_attribute("innerText") or e.get_attribute("textContent")
                for e in b.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content")
                if e.is_displayed()
            ]
        except StaleElementReferenceException:
            return False
        return shown and until(shown[0]) and shown[0]

    return WebDriverWait(browser, 30).until(text)


def test_investor_map_draws_parcels_from_tiles_and_its_popup_shows_the_record_from_the_item(server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    drawn = _open_map_and_click_b0(server, browser)
    text = _popup_text(browser, lambda t: "Planungsrecht" in t)
    SCREENSHOTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "standortkarte.png"))
    assert "Gewerbepark Phoenix 0" in text
    assert "lädt" not in text
    # the record made the popup taller: the map pans (Leaflet's autoPan, animated) until the popup's
    # headline is on the map, not above its top edge
    WebDriverWait(browser, 5).until(
        lambda b: (
            b.execute_script(
                "var p = document.querySelector('.leaflet-popup-content b').getBoundingClientRect();"
                "return p.top - document.querySelector('.leaflet-container').getBoundingClientRect().top;"
            )
            >= 0
        ),
        "the popup's headline stays above the map's top edge",
    )
    # the tile carries none of these: they come from GET /collections/parcels/items/{id}
    assert "Planungsrecht" in text and "Gewerbegebiet (GE)" in text
    assert "Gewerbefläche" in text and "Dortmund" in text and "Kurzfristig" in text
    assert "1,44 ha" in text  # 120 m x 120 m, German number format
    assert "B0" in text  # the Kennung, from the record
    print(f"parcels drawn after {drawn:.2f} s; screenshot {SCREENSHOTS / 'standortkarte.png'}")


def test_the_popup_says_so_when_the_record_cannot_be_read(server, browser):
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/collections/parcels/items/*"]})
    _open_map_and_click_b0(server, browser)
    text = _popup_text(browser, lambda t: "nicht geladen" in t)
    assert "Gewerbepark Phoenix 0" in text  # the headline from the tile
    assert "Die Angaben zu dieser Fläche konnten nicht geladen werden" in text and "erneut anklicken" in text
    assert "lädt" not in text and "Planungsrecht" not in text
