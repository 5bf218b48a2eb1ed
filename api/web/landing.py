"""The start page for people (``/`` when a browser asks for HTML; :func:`api.ogc.landing` keeps the
JSON landing page for OGC clients) and the API documentation, ``/docs`` (Swagger UI) and
``/redoc`` (ReDoc), served from the vendored files: no script or style from another host, so both
work without internet access. And the register's icon at ``/favicon.ico``, where browsers look for
it on every page, the JSON and map pages too (``static/favicon.svg`` rendered at 16, 32 and 48 px,
PNG in ICO)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.web.pages import lang_of, page
from api.web.texts import register
from maps import MAP_NAMES
from maps.texts import t as map_text

router = APIRouter()
#: (path, text key, roles that see it in the navigation): the start page is the brand link
NAV: list[tuple[str, str, tuple[str, ...]]] = []
OPENAPI_URL = "/openapi.json"
FAVICON = Path(__file__).parent / "static" / "favicon.ico"

register(
    {
        "landing.title": ("Flächenregister Ruhr", "Ruhr land register"),
        "landing.lead": (
            "Das Flächenregister Ruhr sammelt die wiedernutzbaren Flächen des Ruhrgebiets an einem Ort: "
            "Brachflächen, Baulücken sowie Gewerbe- und Industrieflächen der 53 Kommunen des Regionalverbands "
            "Ruhr, mit ihrer vollständigen Geschichte.",
            "The Ruhr land register keeps the reusable land of the Ruhr region in one place: brownfields "
            "(Brachflächen), vacant infill lots (Baulücken) and commercial and industrial land of the 53 "
            "municipalities of the Regionalverband Ruhr, with their full history.",
        ),
        "landing.purpose": (
            "Es setzt Ziele der Ruhr-Konferenz um: Flächen zuerst im Bestand entwickeln, statt neue Freiflächen "
            "zu verbrauchen, und Gewerbe- und Industrieflächen für die Zukunft sichern (Flächensicherung). Die "
            "Gemeinden halten ihre Flächen aktuell, eine Prüfstelle sieht Änderungen durch, das Ministerium "
            "vergleicht die Gemeinden und setzt Prioritäten.",
            "It serves goals of the Ruhr-Konferenz: develop land that has been used before instead of consuming "
            "open land, and safeguard commercial and industrial land for the future (Flächensicherung). The "
            "municipalities keep their parcels current, reviewers check the changes, and the ministry compares "
            "the municipalities and sets priorities.",
        ),
        "landing.sample": (
            "Die gezeigten Flächen sind Beispieldaten innerhalb der echten Gemeindegrenzen, solange keine "
            "Gemeinde echte Daten eingespielt hat.",
            "The parcels shown are sample data inside the real municipal boundaries until municipalities load "
            "real data.",
        ),
        "landing.maps": ("Karten", "Maps"),
        "landing.maps_intro": (
            "Öffentliche Karten, ohne Anmeldung; angemeldet zeigen sie, was die eigene Rolle sehen darf.",
            "Public maps, no sign-in needed; signed in, they show what your role may see.",
        ),
        "landing.all_maps": ("Alle Karten im Überblick", "All maps at a glance"),
        "landing.search": ("Flächensuche für Investoren", "Site search for investors"),
        "landing.search_text": (
            "Passende Gewerbe- und Industrieflächen finden: nach Größe, Lage, Verfügbarkeit und Anbindung suchen, "
            "Standorte vergleichen, ein Exposé lesen und drucken, die Wirtschaftsförderung der Gemeinde fragen und "
            "einen Suchauftrag als Feed abonnieren.",
            "Find suitable commercial and industrial sites: search by size, location, availability and transport, "
            "compare sites, read and print an exposé, ask the municipality's economic development office and "
            "subscribe to a search as a feed.",
        ),
        "landing.to_search": ("Zur Standortsuche", "Go to the site search"),
        "landing.work": ("Arbeitsbereich", "Workspace"),
        "landing.work_text": (
            "Für die Planerinnen und Planer der Gemeinden, die Prüfung und das Ministerium: Flächen pflegen, "
            "Dateien importieren, Änderungen prüfen, Gemeinden vergleichen und Bewertungsprofile einstellen.",
            "For the municipalities' planners, reviewers and the ministry: keep parcels current, import files, "
            "review changes, compare municipalities and tune scoring profiles.",
        ),
        "landing.sign_in": ("Anmelden", "Sign in"),
        "landing.to_work": ("Zum Arbeitsbereich", "Go to the workspace"),
        "landing.signed_in": ("Sie sind angemeldet als {name}.", "You are signed in as {name}."),
        "landing.api": ("Schnittstellen für Maschinen", "API for machines"),
        "landing.api_text": (
            "Das Register ist eine OGC API – Features (mit Tiles): QGIS, GDAL und eigene Programme lesen es "
            "direkt; Gemeinden schreiben mit einem API-Token.",
            "The register is an OGC API – Features (with Tiles): QGIS, GDAL and your own programs read it "
            "directly; municipalities write with an API token.",
        ),
        "landing.api_landing": ("OGC-API-Startseite (JSON)", "OGC API landing page (JSON)"),
        "landing.api_collections": ("Sammlungen (Flächen und Kontextdaten)", "Collections (parcels and context)"),
        "landing.api_conformance": ("Konformitätsklassen", "Conformance classes"),
        "landing.api_docs": (
            "API-Dokumentation (Swagger UI, zum Ausprobieren)",
            "API documentation (Swagger UI, try it)",
        ),
        "landing.api_redoc": ("API-Referenz (ReDoc)", "API reference (ReDoc)"),
        "landing.api_openapi": ("OpenAPI 3.1 (JSON)", "OpenAPI 3.1 (JSON)"),
        "landing.api_openapi30": ("OpenAPI 3.0 (JSON, für ältere Werkzeuge)", "OpenAPI 3.0 (JSON, for older tools)"),
        "docs.title": ("API-Dokumentation", "API documentation"),
        "docs.redoc_title": ("API-Referenz", "API reference"),
        "docs.intro": (
            "Alle Operationen der Schnittstelle, zum Ausprobieren im Browser. Ohne Token antwortet das Register "
            "mit der öffentlichen Sicht.",
            "Every operation of the API, to try in the browser. Without a token the register answers with the "
            "public view.",
        ),
        "docs.other": ("Dieselbe Beschreibung als Referenz:", "The same description as a reference:"),
        "docs.loading": ("Die API-Beschreibung wird geladen …", "Loading the API description …"),
        "docs.choose": ("Medientyp oder Schema-Variante wählen", "Choose the media type or schema variant"),
        "docs.copy": ("In die Zwischenablage kopieren", "Copy to the clipboard"),
        "docs.noscript": (
            "Die Dokumentation braucht JavaScript; die Beschreibung selbst steht in /openapi.json.",
            "The documentation needs JavaScript; the description itself is /openapi.json.",
        ),
    }
)


def _maps(lang: str) -> list[dict]:
    return [
        {"href": f"/maps/{name}?lang={lang}", "title": map_text(name, lang), "about": map_text(f"{name}.sub", lang)}
        for name in MAP_NAMES
    ]


#: The API's entry points for machines: (href, text key, media type)
API_LINKS = (
    ("/?f=json", "landing.api_landing", "application/json"),
    ("/collections", "landing.api_collections", "application/json"),
    ("/conformance", "landing.api_conformance", "application/json"),
    ("/docs", "landing.api_docs", "text/html"),
    ("/redoc", "landing.api_redoc", "text/html"),
    (OPENAPI_URL, "landing.api_openapi", "application/vnd.oai.openapi+json;version=3.1"),
    ("/api", "landing.api_openapi30", "application/vnd.oai.openapi+json;version=3.0"),
)


def landing_page(request: Request) -> HTMLResponse:
    """The start page for people; ``/`` answers with it when a browser asks for HTML."""
    response = page(
        request,
        "landing.html",
        {
            "maps": _maps(lang_of(request)),
            "api_links": [{"href": href, "label": key, "type": kind} for href, key, kind in API_LINKS],
        },
    )
    response.headers["Vary"] = "Accept, Cookie"
    return response


#: The documentation pages fetch nothing from another host: ReDoc's sidebar would load Redocly's logo
#: from their CDN (it hides itself when refused), Swagger UI would ask an online validator.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


def _docs(request: Request, template: str) -> HTMLResponse:
    response = page(request, template, {"openapi_url": OPENAPI_URL})
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on ``/openapi.json``, from ``static/vendor/swagger-ui``."""
    return _docs(request, "docs/swagger.html")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on ``/openapi.json``, from ``static/vendor/redoc``."""
    return _docs(request, "docs/redoc.html")


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=604800"})
