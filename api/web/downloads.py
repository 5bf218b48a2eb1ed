"""Open data for everyone, no sign-in: ``/downloads`` lists the files the last ``landreg opendata
refresh`` produced, ``/downloads/{name}`` serves them, ``/catalog.jsonld`` describes them in
DCAT-AP.de for the portals that harvest it. Reads only: nothing here produces a file
(:mod:`landreg.opendata`), so the pages work on a read-only replica."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from api.web.pages import lang_of, page
from api.web.texts import register
from landreg import opendata
from landreg.errors import NotFound

router = APIRouter()
NAV: list[tuple[str, str, tuple[str, ...]]] = []

register(
    {
        "downloads.title": ("Offene Daten", "Open data"),
        "downloads.lead": (
            "Alle öffentlich sichtbaren Flächen des Registers zum Herunterladen: dieselben Flächen und Angaben "
            "wie auf den öffentlichen Karten und in der Schnittstelle, ohne vertrauliche Angaben und ohne "
            "Flächen, die (noch) nicht veröffentlicht sind (§ 200 Abs. 3 BauGB).",
            "Every publicly visible parcel of the register to download: the same parcels and facts as the "
            "public maps and the API show, without confidential facts and without parcels not (yet) published "
            "(§ 200 (3) BauGB).",
        ),
        "downloads.none": (
            "Es wurden noch keine Dateien erzeugt. Der Betrieb erzeugt sie mit dem Befehl "
            "„landreg opendata refresh“ (täglich per Timer); danach stehen sie hier.",
            "No files have been produced yet. The operators produce them with the command "
            "“landreg opendata refresh” (daily by a timer); then they are listed here.",
        ),
        "downloads.datenstand": ("Datenstand", "Data as of"),
        "downloads.count": ("Flächen", "Parcels"),
        "downloads.licence": ("Lizenz", "Licence"),
        "downloads.attribution": ("Quellenvermerk", "Attribution"),
        "downloads.attribution_text": (
            "Bitte nennen Sie bei jeder Nutzung die Quelle so:",
            "Please name the source like this wherever you use the data:",
        ),
        "downloads.files": ("Dateien", "Files"),
        "downloads.file": ("Datei", "File"),
        "downloads.format": ("Format", "Format"),
        "downloads.crs": ("Koordinatensystem", "Coordinate reference system"),
        "downloads.size": ("Größe", "Size"),
        "downloads.checksum": ("Prüfsumme (SHA-256)", "Checksum (SHA-256)"),
        "downloads.download": ("{name} herunterladen", "Download {name}"),
        "downloads.csv_note": (
            "Die CSV-Datei enthält die Umrisse als WKT in der Spalte „WKT“ (EPSG:25832).",
            "The CSV file holds the outlines as WKT in the column “WKT” (EPSG:25832).",
        ),
        "downloads.catalog": ("Metadaten (DCAT-AP.de, JSON-LD)", "Metadata (DCAT-AP.de, JSON-LD)"),
        "downloads.catalog_text": (
            "Datenportale übernehmen die Beschreibung dieser Daten automatisch aus:",
            "Data portals harvest the description of these data from:",
        ),
        "downloads.refreshed": (
            "Die Dateien werden täglich neu erzeugt, wenn sich die öffentlichen Daten geändert haben (zuletzt {when}).",
            "The files are produced again daily when the public data changed (last on {when}).",
        ),
        "downloads.landing_link": ("Offene Daten zum Herunterladen", "Open data to download"),
    }
)


def _when(value: str, lang: str) -> str:
    moment = dt.datetime.fromisoformat(value).astimezone(opendata.BERLIN)
    return f"{moment:%d.%m.%Y, %H:%M} Uhr" if lang == "de" else f"{moment:%Y-%m-%d %H:%M} (Berlin)"


def _size(size: int, lang: str) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            number = f"{size / factor:.1f}"
            return f"{number.replace('.', ',') if lang == 'de' else number} {unit}"
    return f"{size} B" if lang == "en" else f"{size} Byte"


@router.get("/downloads")
def downloads_page(request: Request) -> HTMLResponse:
    """The files of the last refresh with Datenstand, licence, attribution and checksums."""
    lang = lang_of(request)
    manifest = opendata.load_manifest()
    context: dict = {"manifest": manifest}
    if manifest:
        context |= {
            "datenstand": _when(manifest["datenstand"], lang),
            "generated": _when(manifest["generated_at"], lang),
            "files": [f | {"size_text": _size(f["size"], lang)} for f in manifest["files"]],
        }
    return page(request, "downloads/list.html", context)


@router.get("/downloads/{name}")
def download_file(name: str, request: Request) -> Response:
    """One file of the last refresh, by a name its manifest lists (any other name: 404)."""
    path, entry = opendata.download(name)
    manifest = opendata.load_manifest() or {}
    etag = f'"{entry["sha256"]}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(dt.datetime.fromisoformat(manifest["generated_at"]), usegmt=True),
        "Cache-Control": "public, max-age=3600",
    }
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=entry["media_type"], filename=entry["name"], headers=headers)


@router.get("/catalog.jsonld")
def catalog(request: Request) -> JSONResponse:
    """The DCAT-AP.de catalogue of the open data (JSON-LD)."""
    manifest = opendata.load_manifest()
    if manifest is None:
        raise NotFound("no open data produced yet: the operators run `landreg opendata refresh`")
    return JSONResponse(
        opendata.catalog(manifest, str(request.base_url)),
        media_type="application/ld+json",
        headers={"Last-Modified": format_datetime(dt.datetime.fromisoformat(manifest["generated_at"]), usegmt=True)},
    )
