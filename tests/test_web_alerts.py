"""In a real browser: an investor asks about a site through its form, the municipality's planner
reads it under "Anfragen" and marks it handled; an investor keeps a search and gets its feed URL.
Every page has no serious or critical accessibility violation (axe-core)."""

from __future__ import annotations

import re

import feedparser
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg.parcels import create_parcel
from tests.helpers import ESSEN_HBF, database_url, live_server, square_at
from tests.web import axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in, submit

ESSEN = "05113000"


def _site(engine) -> str:
    with Session(engine) as session:
        parcel = create_parcel(
            session, "seed", local_ref="E-ANFRAGE", name="Gewerbepark Anfrage", category="gewerbeflaeche",
            availability="kurzfristig", publication_allowed=True, geom=square_at(ESSEN_HBF, 150),
        )  # fmt: skip
        session.commit()
        return str(parcel.id)


def _no_violations(driver, name: str) -> None:
    violations = axe_violations(driver)
    assert not violations, f"{name}:\n{describe(violations)}"


@needs_browser
def test_an_enquiry_sent_in_the_browser_reaches_the_planner(committed_db):
    from selenium.webdriver.common.by import By

    from api.app import create_app

    people(committed_db, **{"planung.essen": ("planner", [ESSEN]), "planung.bottrop": ("planner", ["05512000"])})
    site = _site(committed_db)
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            driver.get(f"{base}/standorte/{site}/anfrage")
            assert "Gewerbepark Anfrage" in driver.find_element(By.TAG_NAME, "h1").text
            # the honeypot is in the page but out of sight and out of the tab order
            honeypot = driver.find_element(By.ID, "enquiry-website")
            assert not honeypot.is_displayed() or honeypot.rect["x"] < 0
            _no_violations(driver, "form")
            screenshot(driver, "anfrage-formular")
            # sent empty: the page says which field is missing, the input kept
            driver.find_element(By.ID, "enquiry-name").send_keys("Erika Investorin")
            driver.find_element(By.ID, "enquiry-email").send_keys("erika@example.org")
            submit(driver, driver.find_element(By.CSS_SELECTOR, ".enquiry-form button[type=submit]"))
            assert "Nachricht: bitte ausfüllen" in driver.find_element(By.ID, "enquiry-error").text
            assert driver.find_element(By.ID, "enquiry-message").get_attribute("aria-invalid") == "true"
            assert driver.find_element(By.ID, "enquiry-name").get_attribute("value") == "Erika Investorin"
            _no_violations(driver, "form with an error")
            driver.find_element(By.ID, "enquiry-message").send_keys("Ist die Fläche ab März verfügbar?\nGruß")
            submit(driver, driver.find_element(By.CSS_SELECTOR, ".enquiry-form button[type=submit]"))
            assert "Ihre Anfrage ist eingegangen" in driver.find_element(By.ID, "enquiry-sent").text
            _no_violations(driver, "sent")
            # another municipality's planner sees nothing
            sign_in(driver, base, "planung.bottrop")
            driver.get(f"{base}/app/anfragen")
            assert "Erika" not in driver.page_source and "Keine Anfragen" in driver.page_source
            submit(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/app/logout'] button"))
            # Essen's planner: the navigation shows one open enquiry, the list shows it
            sign_in(driver, base, "planung.essen")
            driver.get(f"{base}/app/anfragen")
            nav = driver.find_element(By.CSS_SELECTOR, "header nav a[href='/app/anfragen']")
            assert nav.get_attribute("aria-current") == "page" and re.search(r"Anfragen\s*1", nav.text)
            item = driver.find_element(By.CSS_SELECTOR, "ol.enquiries li.open")
            assert "Ist die Fläche ab März verfügbar?" in item.text and "erika@example.org" in item.text
            assert "Gewerbepark Anfrage" in item.text
            _no_violations(driver, "list")
            screenshot(driver, "anfragen")
            submit(driver, item.find_element(By.CSS_SELECTOR, "button[type=submit]"))
            assert "1 Anfrage(n) als erledigt markiert" in driver.find_element(By.CSS_SELECTOR, "p.notice").text
            assert driver.find_elements(By.CSS_SELECTOR, "ol.enquiries li.handled")
            assert "Keine offenen Anfragen" in driver.find_element(By.ID, "open-count").text
    finally:
        driver.quit()
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT handled_by FROM enquiry")).scalar_one() == "planung.essen"


@needs_browser
def test_a_search_alert_saved_in_the_browser_gives_a_feed(committed_db):
    from selenium.webdriver.common.by import By

    from api.app import create_app

    site = _site(committed_db)
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:
            driver.get(f"{base}/standorte/alarm/neu?category=gewerbeflaeche&ags={ESSEN}&min_ha=1")
            assert ESSEN in driver.find_element(By.CSS_SELECTOR, "dl.criteria").text
            _no_violations(driver, "alert form")
            submit(driver, driver.find_element(By.CSS_SELECTOR, ".alert-form button[type=submit]"))
            feed_url = driver.find_element(By.ID, "feed-url").get_attribute("value")
            assert re.fullmatch(rf"{base}/standorte/alarm/[A-Za-z0-9_-]{{43}}\.atom", feed_url)
            _no_violations(driver, "alert saved")
            screenshot(driver, "suchauftrag")
            parsed = feedparser.parse(feed_url)
            assert parsed.bozo == 0 and parsed.status == 200
            assert [e.id for e in parsed.entries] == [f"urn:uuid:{site}"]
    finally:
        driver.quit()
