"""Open data: the public view of the whole register as files anyone may download, with a manifest
and DCAT-AP.de metadata that national portals harvest.

:func:`refresh` writes the files with :func:`landreg.export.export_parcels` for the public view
(exactly ``landreg export --public``): GeoPackage and CSV in EPSG:25832 (the register's own CRS,
coordinates unchanged), GeoJSON in EPSG:4326 as RFC 7946 asks. It rewrites them only when a
fingerprint of the public view changed, so that a daily timer costs one query on a quiet day.
Each refresh writes a new generation directory and then replaces ``manifest.json`` (both by
rename), so a reader sees either the old files or the new ones, never a mix. Readers
(:func:`load_manifest`, :func:`download`) never write: the web serves only what a refresh made.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Connection, Numeric, Text, cast, func, select

from landreg import STORAGE_SRID
from landreg.access import PUBLIC
from landreg.errors import NotFound
from landreg.export import Selection, export_columns, export_parcels
from landreg.features import COLLECTIONS, source
from landreg.settings import get_settings
from landreg.sites import changes

MANIFEST = "manifest.json"
_GENERATION = re.compile(r"(\.tmp-)?\d{8}T\d{6}Z-[0-9a-f]{6}")
BASENAME = "flaechenregister-ruhr"
BERLIN = ZoneInfo("Europe/Berlin")
#: Generations kept besides the current one: a download that began before a refresh can finish.
KEEP_PREVIOUS = 1


@dataclass(frozen=True)
class Format:
    suffix: str
    label: str
    media_type: str
    srid: int
    #: EU file type authority (DCAT-AP dct:format) and IANA media type (dcat:mediaType)
    eu_file_type: str
    layer_options: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{BASENAME}.{self.suffix}"


FORMATS = (
    Format("gpkg", "GeoPackage", "application/geopackage+sqlite3", STORAGE_SRID, "GPKG"),
    Format("csv", "CSV", "text/csv", STORAGE_SRID, "CSV"),
    Format("geojson", "GeoJSON", "application/geo+json", 4326, "GEOJSON", (("RFC7946", "YES"),)),
)


class OpenDataSettings(BaseSettings):
    """What the published data says about itself (prefix ``LANDREG_OPENDATA_``)."""

    model_config = SettingsConfigDict(env_prefix="LANDREG_OPENDATA_", env_file=".env", extra="ignore")

    licence_id: str = "dl-de/by-2-0"
    licence_uri: str = "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
    licence_name: str = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
    #: Required by dl-de/by-2-0: how users must name the source.
    attribution: str = "Regionalverband Ruhr, Flächenregister Ruhr (landreg)"
    publisher: str = "Regionalverband Ruhr"
    publisher_uri: str = "https://www.rvr.ruhr/"
    #: The portal that harvests the catalogue (DCAT-AP.de contributor vocabulary).
    contributor_id: str = "http://dcat-ap.de/def/contributors/openNRW"
    contact_name: str = "Regionalverband Ruhr, Flächenregister"
    contact_email: str = "flaechenregister@example.org"


def opendata_settings() -> OpenDataSettings:
    return OpenDataSettings()


def downloads_dir() -> Path:
    settings = get_settings()
    return settings.downloads_dir or settings.data_dir / "downloads"


# --- the public view's state ---------------------------------------------------------------------


def public_state(conn: Connection) -> dict:
    """Fingerprint, count, newest change, extent and data dates of the public view.

    The fingerprint sums a hash of every exported value of every row (the version number, which
    counts confidential edits too, is not public), in any order: it changes when a parcel enters,
    leaves or changes in the public view, also through a value that is not versioned (the Abstand
    class from the indicators), and not when confidential fields alone are edited. The newest change is the latest change of public
    facts (:func:`landreg.sites.changes.latest_change`), never an edit the public cannot see."""
    src = source(COLLECTIONS["parcels"], PUBLIC)
    p = src.properties
    values = [src.id_column, *(p[c] for c in export_columns(PUBLIC)[1:])]
    row_hash = func.hashtextextended(cast(func.json_build_array(*values), Text), 0)
    extent = func.ST_Transform(func.ST_SetSRID(func.ST_Extent(src.geometry), STORAGE_SRID), 4326)
    row = conn.execute(
        select(
            func.count().label("count"),
            func.coalesce(func.sum(cast(row_hash, Numeric)), 0).label("hash"),
            func.min(p["data_date"]).label("data_from"),
            func.max(p["data_date"]).label("data_to"),
            func.ST_XMin(extent).label("xmin"),
            func.ST_YMin(extent).label("ymin"),
            func.ST_XMax(extent).label("xmax"),
            func.ST_YMax(extent).label("ymax"),
        ).select_from(src.query)
    ).one()
    newest = changes.latest_change(conn)
    return {
        "fingerprint": f"{row.count}:{row.hash}",
        "count": row.count,
        "newest_change": newest.astimezone(dt.UTC) if newest else None,
        "extent": [row.xmin, row.ymin, row.xmax, row.ymax] if row.count else None,
        "data_dates": [str(row.data_from), str(row.data_to)] if row.data_from else None,
    }


# --- refresh -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refreshed:
    changed: bool
    manifest: dict


def refresh(engine, target: Path | None = None, force: bool = False) -> Refreshed:
    """Write the files and the manifest when the public view changed since the last refresh (or
    ``force``); otherwise leave everything as it is. One snapshot (repeatable read) for the
    fingerprint and all three files, so they agree with each other."""
    target = target or downloads_dir()
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one refresh at a time (a timer and a manual run)
        return _refresh(engine, target, force)


def _refresh(engine, target: Path, force: bool) -> Refreshed:
    previous = load_manifest(target)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        state = public_state(conn)
        if not force and previous and previous["fingerprint"] == state["fingerprint"] and _intact(target, previous):
            return Refreshed(False, previous)
        now = dt.datetime.now(dt.UTC)
        generation = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        building = target / f".tmp-{generation}"
        building.mkdir()
        try:
            files = [_write_format(conn, building, f) for f in FORMATS]
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    building.rename(target / generation)
    manifest = _manifest(state, previous, generation, files, now)
    _write_atomically(target / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    _prune(target, keep={generation, previous["generation"] if previous else generation})
    return Refreshed(True, manifest)


def _write_format(conn: Connection, directory: Path, fmt: Format) -> dict:
    path = directory / fmt.name
    count = export_parcels(conn, path, Selection(view=PUBLIC), srid=fmt.srid, layer_options=dict(fmt.layer_options))
    path.with_suffix(".prj").unlink(missing_ok=True)  # the CRS is in the manifest and the catalogue
    return {
        "name": fmt.name,
        "format": fmt.label,
        "media_type": fmt.media_type,
        "crs": f"EPSG:{fmt.srid}",
        "count": count,
        "size": path.stat().st_size,
        "sha256": _sha256(path),
    }


def _manifest(state: dict, previous: dict | None, generation: str, files: list[dict], now: dt.datetime) -> dict:
    """The Datenstand is the time of the newest change of public facts
    (:func:`landreg.sites.changes.latest_change`). When the public data changed without a newer one
    (a parcel entered or left the view: a publication, an objection, a retirement; an Abstand class
    moved with the context layers), it is the time this refresh saw the change, for those have no
    public time of their own; when the public data did not change (a forced refresh), it stays."""
    newest = state["newest_change"]
    before = dt.datetime.fromisoformat(previous["datenstand"]) if previous else None
    if previous and previous["fingerprint"] == state["fingerprint"]:
        newest = before
    elif newest is None or (before and newest <= before):
        newest = now
    settings = opendata_settings()
    return {
        "datenstand": newest.isoformat(),
        "generated_at": now.isoformat(),
        "issued": previous["issued"] if previous else now.isoformat(),
        "fingerprint": state["fingerprint"],
        "count": state["count"],
        "extent": state["extent"],
        "data_dates": state["data_dates"],
        "licence": {"id": settings.licence_id, "uri": settings.licence_uri, "name": settings.licence_name},
        "attribution": settings.attribution,
        "generation": generation,
        "files": files,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _intact(target: Path, manifest: dict) -> bool:
    """Whether the manifest's files are all there with their sizes (a deleted file is rewritten)."""
    return all(
        (p := target / manifest["generation"] / f["name"]).is_file() and p.stat().st_size == f["size"]
        for f in manifest["files"]
    )


def _prune(target: Path, keep: set[str]) -> None:
    """Remove older generations and what a killed refresh left behind (nothing else)."""
    for entry in target.iterdir():
        if entry.is_dir() and entry.name not in keep and _GENERATION.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)


# --- reading (never writes) ----------------------------------------------------------------------


def load_manifest(target: Path | None = None) -> dict | None:
    """The manifest of the last refresh; None when no refresh has produced one yet."""
    path = (target or downloads_dir()) / MANIFEST
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def download(name: str, target: Path | None = None) -> tuple[Path, dict]:
    """The file of the last refresh called ``name`` and its manifest entry. Only names the manifest
    lists are looked up (no path from the request reaches the file system)."""
    target = target or downloads_dir()
    manifest = load_manifest(target)
    entry = next((f for f in manifest["files"] if f["name"] == name), None) if manifest else None
    if entry is None:
        known = ", ".join(f["name"] for f in manifest["files"]) if manifest else "none yet"
        raise NotFound(f"no open data file {name!r}; the files are: {known}", field="name")
    path = target / manifest["generation"] / entry["name"]
    if not path.is_file():
        raise NotFound(f"the file {name!r} is missing; the operator runs `landreg opendata refresh --force`")
    return path, entry


# --- DCAT-AP.de ----------------------------------------------------------------------------------

_CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatde": "http://dcat-ap.de/def/dcatde/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "locn": "http://www.w3.org/ns/locn#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "gsp": "http://www.opengis.net/ont/geosparql#",
    "spdx": "http://spdx.org/rdf/terms#",
}
_EU = "http://publications.europa.eu/resource/authority"
_IANA = "https://www.iana.org/assignments/media-types/"
#: North Rhine-Westphalia in the DCAT-AP.de political geocoding (Land key 05).
_NRW = "http://dcat-ap.de/def/politicalGeocoding/stateKey/05"
_FORMATS_BY_NAME = {f.name: f for f in FORMATS}


def _date(value: str) -> dict:
    return {"@value": value, "@type": "xsd:dateTime"}


def catalog(manifest: dict, base_url: str) -> dict:
    """The DCAT-AP.de catalogue (JSON-LD) of the open data described by ``manifest``: one dataset,
    one distribution per file. ``base_url``: the request's address, used where the register's public
    address (``LANDREG_PUBLIC_URL``) is not set."""
    settings = opendata_settings()
    base = (get_settings().public_url or base_url).rstrip("/")
    licence = {"@id": manifest["licence"]["uri"]}
    publisher = {"@id": settings.publisher_uri, "@type": "foaf:Agent", "foaf:name": settings.publisher}
    modified, issued = _date(manifest["datenstand"]), _date(manifest["issued"])
    spatial: dict = {"@type": "dct:Location"}
    if manifest["extent"]:
        x0, y0, x1, y1 = manifest["extent"]
        wkt = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
        spatial["dcat:bbox"] = {"@value": wkt, "@type": "gsp:wktLiteral"}
    dataset = {
        "@id": f"{base}/catalog.jsonld#dataset",
        "@type": "dcat:Dataset",
        "dct:identifier": f"{base}/catalog.jsonld#dataset",
        "dct:title": [
            {
                "@value": "Flächenregister Ruhr: Brachflächen, Baulücken, Gewerbe- und Industrieflächen",
                "@language": "de",
            },
            {
                "@value": "Ruhr land register: brownfields, infill lots, commercial and industrial land",
                "@language": "en",
            },
        ],
        "dct:description": [
            {
                "@value": "Die öffentlich sichtbaren Flächen des Flächenregisters Ruhr (§ 200 Abs. 3 BauGB): "
                "wiedernutzbare Brachflächen, Baulücken sowie Gewerbe- und Industrieflächen der Kommunen im "
                "Regionalverband Ruhr, ohne vertrauliche Angaben.",
                "@language": "de",
            },
            {
                "@value": "The publicly visible parcels of the Ruhr land register: reusable brownfields, infill "
                "lots and commercial and industrial land of the municipalities of the Regionalverband Ruhr, "
                "without confidential facts.",
                "@language": "en",
            },
        ],
        "dct:publisher": publisher,
        "dcatde:contributorID": {"@id": settings.contributor_id},
        "dcatde:politicalGeocodingURI": {"@id": _NRW},
        "dcatde:politicalGeocodingLevelURI": {"@id": "http://dcat-ap.de/def/politicalGeocoding/Level/state"},
        "dct:license": licence,
        "dcatde:licenseAttributionByText": manifest["attribution"],
        "dct:modified": modified,
        "dct:issued": issued,
        "dcat:theme": [{"@id": f"{_EU}/data-theme/REGI"}, {"@id": f"{_EU}/data-theme/ENVI"}],
        "dcat:keyword": ["Brachfläche", "Baulücke", "Gewerbefläche", "Industriefläche", "Flächenregister", "Ruhr"],
        "dct:spatial": spatial,
        "dcat:contactPoint": {
            "@type": "vcard:Organization",
            "vcard:fn": settings.contact_name,
            "vcard:hasEmail": {"@id": f"mailto:{settings.contact_email}"},
        },
        "dcat:landingPage": {"@id": f"{base}/downloads"},
        "dcat:distribution": [_distribution(base, manifest, f, licence, modified, issued) for f in manifest["files"]],
    }
    if manifest["data_dates"]:
        start, end = manifest["data_dates"]
        dataset["dct:temporal"] = {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": {"@value": start, "@type": "xsd:date"},
            "dcat:endDate": {"@value": end, "@type": "xsd:date"},
        }
    return {
        "@context": _CONTEXT,
        "@id": f"{base}/catalog.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": [{"@value": "Flächenregister Ruhr – offene Daten", "@language": "de"}],
        "dct:description": [
            {"@value": "Offene Daten des Flächenregisters Ruhr (landreg).", "@language": "de"},
        ],
        "dct:publisher": publisher,
        "dct:modified": modified,
        "dct:issued": issued,
        "dct:license": licence,
        "foaf:homepage": {"@id": f"{base}/"},
        "dcat:dataset": dataset,
    }


def _distribution(base: str, manifest: dict, file: dict, licence: dict, modified: dict, issued: dict) -> dict:
    fmt = _FORMATS_BY_NAME[file["name"]]
    url = f"{base}/downloads/{file['name']}"
    return {
        "@id": f"{url}#distribution",
        "@type": "dcat:Distribution",
        "dct:title": f"{fmt.label} ({file['crs']})",
        "dcat:accessURL": {"@id": f"{base}/downloads"},
        "dcat:downloadURL": {"@id": url},
        "dct:format": {"@id": f"{_EU}/file-type/{fmt.eu_file_type}"},
        "dcat:mediaType": {"@id": _IANA + fmt.media_type},
        "dct:license": licence,
        "dcatde:licenseAttributionByText": manifest["attribution"],
        "dcat:byteSize": {"@value": str(file["size"]), "@type": "xsd:nonNegativeInteger"},
        "spdx:checksum": {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"},
            "spdx:checksumValue": file["sha256"],
        },
        "dct:conformsTo": {"@id": f"http://www.opengis.net/def/crs/EPSG/0/{file['crs'].removeprefix('EPSG:')}"},
        "dct:modified": modified,
        "dct:issued": issued,
    }
