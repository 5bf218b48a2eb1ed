"""The open data page in a real Chromium: it lists the files with format, size, Datenstand, licence,
attribution and checksum; each link downloads the file whose checksum the page shows; German and
English pass axe-core; before any refresh the page says how the files are produced."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely

from landreg import opendata
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, database_url, live_server, record, utm
from tests.web import axe_violations, chromium, describe, needs_browser, screenshot

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)

#: The SHA-256 of what fetching a link gives, computed in the page (as a browser downloads it).
_DIGEST_OF_LINK = """
const [href, done] = [arguments[0], arguments[arguments.length - 1]];
fetch(href).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest('SHA-256', b))
  .then(d => done(Array.from(new Uint8Array(d)).map(x => x.toString(16).padStart(2, '0')).join('')))
  .catch(e => done('error: ' + e));
"""


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    target = tmp_path / "downloads"
    monkeypatch.setenv("LANDREG_DOWNLOADS_DIR", str(target))
    get_settings.cache_clear()
    yield target
    get_settings.cache_clear()


@needs_browser
def test_the_open_data_page_lists_the_files_and_its_links_download_them(committed_db, downloads):
    from selenium.webdriver.common.by import By

    from api.app import create_app

    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            driver.get(f"{base}/downloads")
            assert "landreg opendata refresh" in driver.find_element(By.ID, "no-downloads").text
            assert not axe_violations(driver)

            record(
                committed_db,
                *[
                    dict(
                        local_ref=f"O-{i}",
                        category="brachflaeche",
                        publication_allowed=True,
                        data_date=dt.date(2025, 6, 1),
                        geom=shapely.box(X0 + 200 * i, Y0, X0 + 200 * i + 150, Y0 + 150),
                    )
                    for i in range(4)
                ],
            )
            manifest = opendata.refresh(committed_db).manifest

            driver.get(f"{base}/")
            driver.find_element(By.ID, "open-data-link").click()
            driver.find_element(By.ID, "datenstand")  # the page of the link (waits for the element)
            assert driver.current_url.startswith(f"{base}/downloads")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Offene Daten"
            assert driver.find_element(By.ID, "parcel-count").text == "4"
            licence = driver.find_element(By.CSS_SELECTOR, "#licence a")
            assert licence.get_attribute("href") == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
            assert "Namensnennung" in licence.text
            assert manifest["attribution"] in driver.find_element(By.ID, "attribution").text
            assert "Uhr" in driver.find_element(By.ID, "datenstand").text
            rows = driver.find_elements(By.CSS_SELECTOR, "table.downloads tbody tr")
            assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == [f["name"] for f in manifest["files"]]
            for row, f in zip(rows, manifest["files"], strict=True):
                cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
                assert cells[1] == f["format"] and cells[2] == f["crs"] and cells[4] == f["sha256"]
                assert cells[3].endswith(("kB", "MB", "Byte"))
                link = row.find_element(By.TAG_NAME, "a")
                assert link.get_attribute("download") is not None
                assert driver.execute_async_script(_DIGEST_OF_LINK, link.get_attribute("href")) == f["sha256"]
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "offene-daten")

            driver.get(f"{base}/downloads?lang=en")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Open data"
            assert "Checksum (SHA-256)" in driver.find_element(By.CSS_SELECTOR, "table.downloads thead").text
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.get(f"{base}/downloads?lang=de")
    finally:
        driver.quit()
