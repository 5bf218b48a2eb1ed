"""The start page for people at ``/`` (HTML for browsers, the OGC landing page in JSON for clients)
and the API documentation ``/docs`` and ``/redoc`` from the vendored Swagger UI and ReDoc."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from landreg.scoring.profiles import ensure_default_profiles
from maps import MAP_NAMES
from maps.texts import t as map_text
from tests.helpers import app_client
from tests.web import PASSWORD, axe_violations, chromium, describe, needs_browser, people, screenshot, sign_in

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what Chromium sends
API_LINKS = ("/?f=json", "/collections", "/conformance", "/docs", "/redoc", "/openapi.json", "/api")


def _hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'<a [^>]*href="([^"]+)"', html)]


def _assets(html: str) -> list[str]:
    """Every script and style the page loads."""
    return re.findall(r'<script [^>]*src="([^"]+)"', html) + re.findall(r'<link [^>]*href="([^"]+)"', html)


def test_a_browser_asking_for_html_gets_the_landing_page(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)  # the Prioritätenkarte needs a scoring profile
    with app_client(committed_db) as client:
        for url, headers in (("/", {"Accept": BROWSER}), ("/?f=html", {}), ("/?f=html", {"Accept": "*/*"})):
            answer = client.get(url, headers=headers)
            assert answer.status_code == 200, (url, answer.text[:500])
            assert answer.headers["content-type"].startswith("text/html")
            assert "Accept" in answer.headers["vary"]
            html, hrefs = answer.text, _hrefs(answer.text)
            assert '<html lang="de">' in html and '<main id="main"' in html and 'class="skip" href="#main"' in html
            assert "Flächenregister Ruhr" in html and "Brachflächen" in html and "Ruhr-Konferenz" in html
            assert "Flächensicherung" in html
            # the maps: the overview and the four maps with their titles
            assert "/maps?lang=de" in hrefs
            for name in MAP_NAMES:
                assert f"/maps/{name}?lang=de" in hrefs and map_text(name, "de") in html, name
            # the investor search and the open data
            assert "Flächensuche für Investoren" in html
            assert "/standorte?lang=de" in hrefs and "/downloads?lang=de" in hrefs
            # sign in, and the API for machines
            assert "/app/login" in hrefs
            for link in API_LINKS:
                assert link in hrefs, link
            assert "http://" not in "".join(_assets(html)) and "https://" not in "".join(_assets(html))
        # every link of the page leads somewhere
        for href in sorted(set(hrefs) - {"#main", "?lang=en"}):
            assert client.get(href, follow_redirects=True).status_code == 200, href


def test_the_landing_page_in_english_and_for_a_signed_in_person(committed_db):
    people(committed_db, **{"planung.essen": ("planner", ["05113000"])})
    with app_client(committed_db) as client:
        english = client.get("/?lang=en", headers={"Accept": BROWSER}).text
        assert '<html lang="en">' in english and "Ruhr land register" in english and "brownfields" in english
        assert "Site search for investors" in english and "API for machines" in english
        for name in MAP_NAMES:
            assert f"/maps/{name}?lang=en" in _hrefs(english) and map_text(name, "en") in english
        assert "Brachflächen, Baulücken sowie" not in english
        assert "Deutsch" in english and "?lang=de" in _hrefs(english)  # the way back
        client.get("/?lang=de", headers={"Accept": BROWSER})

        form = client.get("/app/login").text
        token = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)
        signed = client.post(
            "/app/login",
            data={"username": "planung.essen", "password": PASSWORD, "login_csrf": token, "next": "/"},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        home = client.get("/", headers={"Accept": BROWSER}).text
        assert "Zum Arbeitsbereich" in home and 'href="/app"' in home
        assert "Sie sind angemeldet als planung.essen" in home
        # JSON stays the same for a signed-in browser session asking for JSON
        assert client.get("/?f=json").json()["title"] == "landreg – Flächenregister Ruhr"


def test_ogc_clients_keep_the_json_landing_page(committed_db):
    with app_client(committed_db) as client:
        bodies = [
            client.get("/", headers={"Accept": "application/json"}),
            client.get("/?f=json", headers={"Accept": BROWSER}),
            client.get("/"),  # */*
        ]
        for answer in bodies:
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
            assert "Accept" in answer.headers["vary"]
        body = bodies[0].json()
        assert all(other.json() == body for other in bodies[1:])
        links = {link["rel"]: link for link in body["links"]}
        assert {"self", "service-desc", "service-doc", "conformance", "data", "alternate"} <= set(links)
        assert links["service-doc"]["href"].endswith("/docs") and links["service-doc"]["type"] == "text/html"
        for rel, link in links.items():
            answer = client.get(link["href"])  # TestClient's base is http://testserver
            assert answer.status_code == 200, (rel, link)
            if link["type"] == "text/html":
                assert answer.headers["content-type"].startswith("text/html"), rel
        alternate = client.get(links["alternate"]["href"]).text
        assert "/app/login" in alternate and "/maps/standortkarte" in alternate  # the people's page
        assert client.get("/?f=xml").status_code == 400


def test_docs_and_redoc_are_served_from_the_vendored_files(committed_db):
    with app_client(committed_db) as client:
        for path, title, script in (
            ("/docs", "API-Dokumentation", "/app/static/vendor/swagger-ui/swagger-ui-bundle.js"),
            ("/redoc", "API-Referenz", "/app/static/vendor/redoc/redoc.standalone.js"),
        ):
            answer = client.get(path)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
            assert "img-src 'self' data:;" in answer.headers["content-security-policy"]  # nothing from elsewhere
            html = answer.text
            assert f"<title>{title}" in html and "/openapi.json" in html
            assets = _assets(html)
            assert script in assets
            for asset in assets:
                parts = urlsplit(asset)
                assert not parts.scheme and not parts.netloc, f"{path} loads {asset} from another host"
                assert client.get(asset).status_code == 200, asset
            assert not re.search(r"(src|href)=\"(https?:)?//", html), f"{path} refers to another host"
            for cdn in ("cdn.jsdelivr", "unpkg", "fonts.googleapis", "cdnjs", "validator.swagger.io"):
                assert cdn not in html, (path, cdn)
            english = client.get(f"{path}?lang=en").text
            assert "<title>API documentation" in english or "<title>API reference" in english
            client.get(f"{path}?lang=de")
        spec = client.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.1") and "/docs" not in spec["paths"] and "/redoc" not in spec["paths"]
        assert client.get("/api").json()["openapi"].startswith("3.0")
        assert client.get("/docs/oauth2-redirect").status_code == 404  # FastAPI's own pages are off


@needs_browser
def test_landing_page_and_api_documentation_in_a_browser_offline(committed_db):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from api.app import create_app
    from tests.helpers import database_url, live_server

    people(committed_db, **{"ministerium": ("ministry",)})
    driver = chromium()
    try:
        with live_server(create_app(database_url(committed_db))) as base:

            def leaving_or_failing() -> list[str]:
                """Requests to another host the page's Content-Security-Policy did not refuse (ReDoc
                asks Redocly's CDN for a logo), and whatever else the browser reports as an error."""
                log = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                refused = " ".join(m for m in log if "violates the following Content Security Policy" in m)
                names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
                leaving = [n for n in names if not n.startswith(base) and f"'{n}'" not in refused]
                failing = [m for m in log if m not in refused and "/favicon.ico" not in m]  # no icon yet: 404
                return leaving + failing

            driver.get(f"{base}/")  # the browser's own Accept header: the people's page
            assert driver.find_element(By.TAG_NAME, "h1").text == "Flächenregister Ruhr"
            assert driver.find_element(By.CSS_SELECTOR, "a[href='/app/login'].button").is_displayed()
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            screenshot(driver, "startseite")
            driver.get(f"{base}/?lang=en")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Ruhr land register"
            violations = axe_violations(driver)
            assert not violations, describe(violations)
            driver.get(f"{base}/?lang=de")

            driver.get(f"{base}/docs")
            WebDriverWait(driver, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 10)
            assert driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path[data-path='/collections']")
            assert "landreg" in driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
            assert not (problems := leaving_or_failing()), problems
            screenshot(driver, "api-dokumentation")

            driver.get(f"{base}/redoc")
            WebDriverWait(driver, 30).until(
                lambda d: (
                    "Flächenregister Ruhr" in d.find_element(By.ID, "redoc").text
                    and d.find_elements(By.CSS_SELECTOR, "#redoc [role=menuitem], #redoc li[data-item-id]")
                )
            )
            assert "/collections" in driver.find_element(By.ID, "redoc").text
            assert not (problems := leaving_or_failing()), problems
            screenshot(driver, "api-referenz")

            sign_in(driver, base, "ministerium")
            driver.get(f"{base}/")
            assert driver.find_element(By.CSS_SELECTOR, "a[href='/app'].button").is_displayed()
    finally:
        driver.quit()
