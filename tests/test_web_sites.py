"""The investor's journey in a real browser: from the landing page to the search (the URL carries the
state) → compare → exposé → an enquiry from the exposé → the search kept as an alert whose feed a
feed reader reads; a click on the map setting the reference point, and axe-core without serious or
critical findings on every page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import feedparser
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg.parcels import create_parcel
from landreg.scoring import ensure_default_profiles, recompute
from tests.helpers import DORTMUND_REINOLDIKIRCHE, database_url, live_server, utm
from tests.web import axe_violations, chromium, describe, needs_browser, screenshot, submit

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


def _sites(engine) -> dict[str, str]:
    with engine.begin() as conn:
        ensure_default_profiles(conn)
    ids = {}
    with Session(engine) as session:
        for i, (ref, category) in enumerate(
            [("GI-1", "industrieflaeche"), ("GE-1", "gewerbeflaeche"), ("GE-2", "gewerbeflaeche")]
        ):
            ids[ref] = str(
                create_parcel(
                    session, "t", local_ref=ref, name=f"Standort {ref}", category=category, status="verfuegbar",
                    availability="kurzfristig", servicing="erschlossen", designation="GE", publication_allowed=True,
                    geom=shapely.box(X0 + i * 700, Y0, X0 + i * 700 + 250 + 50 * i, Y0 + 250),
                ).id
            )  # fmt: skip
        session.commit()
    recompute(engine, "test")
    return ids


@needs_browser
def test_the_investors_journey_in_a_browser(committed_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from api.app import create_app

    ids = _sites(committed_db)
    with live_server(create_app(database_url(committed_db))) as base:
        driver = chromium()
        try:
            driver.get(base)
            submit(driver, driver.find_element(By.ID, "site-search-link"))  # from the landing page
            assert driver.find_element(By.TAG_NAME, "h1").text == "Standortsuche"
            assert "3 Standorte gefunden" in driver.find_element(By.ID, "sites-count").text
            assert not axe_violations(driver), describe(axe_violations(driver))
            screenshot(driver, "standortsuche")
            # filter: commercial land only, sorted by size; the URL carries the search
            driver.find_element(By.CSS_SELECTOR, "input[name=category][value=gewerbeflaeche]").click()
            Select(driver.find_element(By.ID, "f-sort")).select_by_value("size")
            submit(driver, driver.find_element(By.CSS_SELECTOR, "#sites-form button[type=submit]"))
            state = parse_qs(urlsplit(driver.current_url).query)
            assert state == {"category": ["gewerbeflaeche"], "sort": ["size"]}, driver.current_url
            titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#site-list h3")]
            assert titles == ["Standort GE-2", "Standort GE-1"]  # the larger first
            shared = driver.current_url
            driver.get(shared)  # a shared search shows the same
            assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#site-list h3")] == titles
            # a click on the map sets the reference point (the field is the keyboard's way to it)
            driver.find_element(By.ID, "sites-map").click()
            WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "f-near").get_attribute("value"))
            lon, lat = map(float, driver.find_element(By.ID, "f-near").get_attribute("value").split(","))
            assert 7.3 < lon < 7.7 and 51.4 < lat < 51.6
            # a wrong value: the German message names the field
            near = driver.find_element(By.ID, "f-near")
            near.clear()
            near.send_keys("51.5,7.4")
            submit(driver, driver.find_element(By.CSS_SELECTOR, "#sites-form button[type=submit]"))
            assert "vertauscht" in driver.find_element(By.ID, "search-error").text
            assert not axe_violations(driver), describe(axe_violations(driver))
            # compare two sites
            driver.get(shared)
            for box in driver.find_elements(By.CSS_SELECTOR, "#compare-form input[name=ids]"):
                box.click()
            submit(driver, driver.find_element(By.CSS_SELECTOR, "#compare-form button[type=submit]"))
            assert "/standorte/vergleich" in driver.current_url
            assert driver.find_elements(By.CSS_SELECTOR, "#compare-table tr.differs")
            assert not axe_violations(driver), describe(axe_violations(driver))
            screenshot(driver, "standortvergleich")
            # the exposé
            submit(driver, driver.find_element(By.CSS_SELECTOR, "#compare-table thead a"))
            assert driver.current_url.split("?")[0].endswith(ids["GE-2"])
            assert "Eckdaten" in driver.page_source and "Exposé als PDF" in driver.page_source
            WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#expose-map path"))
            assert not axe_violations(driver), describe(axe_violations(driver))
            screenshot(driver, "standort-expose")
            # an enquiry from the exposé goes to the municipality (no planner's address shown)
            driver.find_element(By.ID, "enquiry-name").send_keys("Erika Investorin")
            driver.find_element(By.ID, "enquiry-email").send_keys("erika@example.org")
            driver.find_element(By.ID, "enquiry-message").send_keys("Wir suchen 2 ha ab Sommer. Passt GE-2?")
            submit(driver, driver.find_element(By.CSS_SELECTOR, ".enquiry-form button[type=submit]"))
            assert "Ihre Anfrage ist eingegangen" in driver.find_element(By.ID, "enquiry-sent").text
            # the search kept as an alert: its feed lists the sites the search finds
            driver.get(shared)
            submit(driver, driver.find_element(By.CSS_SELECTOR, "form.alert-button button"))
            assert not axe_violations(driver), describe(axe_violations(driver))
            submit(driver, driver.find_element(By.CSS_SELECTOR, ".alert-form button[type=submit]"))
            feed_url = driver.find_element(By.ID, "feed-url").get_attribute("value")
            assert re.fullmatch(rf"{base}/standorte/alarm/[A-Za-z0-9_-]{{43}}\.atom", feed_url)
            feed = feedparser.parse(feed_url)
            assert feed.bozo == 0 and feed.status == 200
            assert sorted(e.id for e in feed.entries) == sorted(f"urn:uuid:{ids[r]}" for r in ("GE-1", "GE-2"))
        finally:
            driver.quit()
    with committed_db.connect() as conn:
        enquiry = conn.execute(text("SELECT parcel_id::text, ags, message FROM enquiry")).one()
    assert enquiry == (ids["GE-2"], "05913000", "Wir suchen 2 ha ab Sommer. Passt GE-2?")
