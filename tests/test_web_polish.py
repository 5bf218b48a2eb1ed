"""Finishing touches of the workspace, checked in HTTP and in a real browser: the register's icon
(``/favicon.ico`` and the SVG every page links), the API documentation ``/docs`` (Swagger UI) and
``/redoc`` (ReDoc) without serious or critical axe-core findings, and the retire form with its
reason and comment (keyboard, labels, the core's message at the field)."""

from __future__ import annotations

import struct

import pytest
import shapely
from sqlalchemy import text

from tests.helpers import ESSEN_HBF, app_client, database_url, live_server, record, utm
from tests.web import axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

EX, EY = utm(*ESSEN_HBF)


def _icons(ico: bytes) -> list[tuple[int, bytes]]:
    """(size, image) of each image of an ICO file (an independent reading of the format)."""
    reserved, kind, count = struct.unpack_from("<HHH", ico)
    assert (reserved, kind) == (0, 1) and count >= 1
    icons = []
    for i in range(count):
        width, height, _, _, _, _, size, offset = struct.unpack_from("<BBBBHHII", ico, 6 + 16 * i)
        assert width == height and offset + size <= len(ico)
        icons.append((width or 256, ico[offset : offset + size]))
    return icons


def test_the_icon_is_served_where_browsers_look_and_every_page_links_it(committed_db):
    with app_client(committed_db) as client:
        ico = client.get("/favicon.ico")
        assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
        assert "max-age" in ico.headers["cache-control"]
        icons = _icons(ico.content)
        assert sorted(size for size, _ in icons) == [16, 32, 48]
        for size, image in icons:  # PNG images of the size the directory says
            assert image[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", image[16:24]) == (size, size)
        svg = client.get("/app/static/favicon.svg")
        assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.text.startswith("<svg") and 'viewBox="0 0 32 32"' in svg.text
        for path in ("/?f=html", "/app/login", "/docs", "/redoc"):
            html = client.get(path).text
            assert '<link rel="icon" href="/favicon.ico"' in html, path
            assert '<link rel="icon" href="/app/static/favicon.svg" type="image/svg+xml">' in html, path
        assert "/favicon.ico" not in client.get("/openapi.json").json()["paths"]


@needs_browser
def test_the_api_documentation_has_no_serious_accessibility_findings(committed_db):
    """Swagger UI and ReDoc as vendored, with our page around them (title, language, landmarks), our
    colours and ReDoc's drop-downs named: axe-core finds nothing serious or critical, also with an
    operation opened. Swagger UI's deep links are off: each was a link inside the operation's
    button (nested-interactive)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app

    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            driver.get(f"{base}/docs?lang=en")
            WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10)
            assert driver.title == "API documentation (Swagger UI) – landreg"
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
            assert driver.find_elements(By.CSS_SELECTOR, "main#main #swagger-ui")
            assert not driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-control a[href]")  # no nested link
            assert not (violations := axe_violations(driver)), describe(violations)
            # opened: the parcels' retirement, and the items with their many parameters, ready to try
            items = "#operations-OGC_API_–_Features-items_collections__collectionId__items_get"
            for summary in (".opblock-delete .opblock-summary-control", f"{items} .opblock-summary-control"):
                driver.find_element(By.CSS_SELECTOR, summary).click()
            WebDriverWait(driver, 10).until(
                lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock .parameters")) == 2
            )
            assert "reason" in driver.find_element(By.CSS_SELECTOR, ".opblock-delete .parameters").text
            driver.find_element(By.CSS_SELECTOR, f"{items} .try-out__btn").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{items} .execute"))
            unnamed = driver.find_elements(By.CSS_SELECTOR, "#swagger-ui select:not([aria-label])")
            assert not unnamed and driver.find_elements(By.CSS_SELECTOR, f"{items} select[aria-label=unreviewed]")
            assert not (violations := axe_violations(driver)), describe(violations)
            driver.find_element(By.CSS_SELECTOR, f"{items} tr[data-param-name=collectionId] input").send_keys("parcels")
            driver.find_element(By.CSS_SELECTOR, f"{items} .execute").click()  # and its answer shown
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, f"{items} .live-responses-table")
            )
            assert not (violations := axe_violations(driver)), describe(violations)
            screenshot(driver, "api-dokumentation-offen")

            driver.get(f"{base}/redoc?lang=de")
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#redoc li[data-item-id]"))
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#redoc select[aria-label]"))
            assert driver.title == "API-Referenz (ReDoc) – landreg"
            assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de"
            assert not driver.find_elements(By.CSS_SELECTOR, "#redoc select:not([aria-label])")
            assert not (violations := axe_violations(driver)), describe(violations)
    finally:
        driver.quit()


@pytest.fixture
def essen_parcel(committed_db):
    record(committed_db, {"local_ref": "E-R", "category": "bauluecke", "publication_allowed": True,
                          "geom": shapely.box(EX, EY, EX + 60, EY + 60)})  # fmt: skip
    people(committed_db, **{"planung.essen": ("planner", ["05113000"])})
    with committed_db.connect() as conn:
        return conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'E-R'")).scalar_one()


@needs_browser
def test_in_a_browser_a_planner_retires_a_parcel_with_reason_and_comment(committed_db, essen_parcel):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from api.app import create_app

    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/flaechen/{essen_parcel}")
            driver.find_element(By.ID, "retire").click()
            WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/stilllegen"))
            assert driver.find_element(By.CSS_SELECTOR, "label[for=reason]").text.startswith("Grund der Stilllegung")
            assert not (violations := axe_violations(driver)), describe(violations)
            Select(driver.find_element(By.ID, "reason")).select_by_value("sonstiges")
            driver.find_element(By.ID, "confirm").click()
            driver.find_element(By.ID, "retire-confirm").click()  # no comment: the core refuses "sonstiges"
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "err-comment"))
            comment = driver.find_element(By.ID, "comment")
            assert comment.get_attribute("aria-invalid") == "true"
            assert "err-comment" in comment.get_attribute("aria-describedby")
            assert "braucht einen Kommentar" in driver.find_element(By.ID, "err-comment").text
            assert Select(driver.find_element(By.ID, "reason")).first_selected_option.get_attribute("value") == (
                "sonstiges"
            )  # the choice is kept
            assert not (violations := axe_violations(driver)), describe(violations)
            screenshot(driver, "flaeche-stilllegen-fehler")
            comment.send_keys("an die Nachbarfirma verkauft")
            if not driver.find_element(By.ID, "confirm").is_selected():
                driver.find_element(By.ID, "confirm").click()
            driver.find_element(By.ID, "retire-confirm").click()
            WebDriverWait(driver, 10).until(lambda d: "stillgelegt=1" in d.current_url)
            assert "wurde stillgelegt" in driver.find_element(By.TAG_NAME, "main").text
    finally:
        driver.quit()
    with committed_db.connect() as conn:
        row = conn.execute(
            text("SELECT retired_by, retire_reason, retire_comment FROM parcel WHERE id = :i"), {"i": essen_parcel}
        ).one()
    assert tuple(row) == ("planung.essen", "sonstiges", "an die Nachbarfirma verkauft")
