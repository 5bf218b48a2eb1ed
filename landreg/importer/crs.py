"""Coordinate reference systems of imported files, and the classic mistakes made with them.

A file's coordinates are checked against where NRW is before anything is stored: longitude and
latitude declared as metres, metres declared as degrees, swapped axes, Gauß-Krüger or
zone-prefixed UTM coordinates declared as plain UTM all produce a message that names the
mistake and the fix, instead of parcels somewhere in the Atlantic.

GeoJSON is longitude/latitude by definition (RFC 7946), and GDAL reads a GeoJSON file without a
``crs`` member as EPSG:4326. That CRS is an assumption, not the file's word: a CRS given by the
person importing (``--crs``) replaces it (:func:`choose`), and the diagnosis says which it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from landreg import STORAGE_SRID
from landreg.importer.refusals import ImportRefused, InvalidOption, option

#: NRW's extent in EPSG:25832 (DVG2 boundaries), with 5 km to spare.
NRW_BOUNDS = (275_000.0, 5_572_000.0, 537_000.0, 5_826_000.0)
#: CRSs in which NRW's coordinates are met in practice, in the order a guess tries them.
USUAL_CRS = {
    25832: "ETRS89 / UTM 32N",
    4326: "longitude/latitude (WGS 84)",
    31466: "Gauß-Krüger zone 2",
    31467: "Gauß-Krüger zone 3",
    4647: "ETRS89 / UTM 32N with the zone prefix 32",
    3857: "Web Mercator",
}
_GEOJSON_HEAD = 1 << 20  # bytes of a GeoJSON file searched for its top-level members
GEOJSON_DEFAULT = 'GeoJSON without a "crs" member, which means longitude/latitude in degrees (RFC 7946)'


class CRSProblem(ImportRefused):
    """The file's CRS is missing, or does not fit its coordinates."""

    def __init__(self, message: str):
        super().__init__(message, field="crs")


def parse_crs(text: str | int) -> CRS:
    try:
        return CRS.from_user_input(int(text) if str(text).isdigit() else text)
    except CRSError:
        raise InvalidOption(f"unknown CRS {text!r}; give an EPSG code such as 25832 or 4326", field="crs") from None


@dataclass(frozen=True)
class Choice:
    """The CRS an import reads its coordinates in, and who said so (for the diagnosis' wording)."""

    crs: CRS
    said_by: str  # "file", "option" or "geojson" (the RFC 7946 default of a GeoJSON without a crs member)


def choose(
    declared: CRS | None,
    given: CRS | None,
    file_name: str,
    *,
    assumed: bool = False,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
) -> Choice:
    """The file's own CRS, or the one given when the file has none or only ``assumed`` one (GeoJSON).

    ``x``, ``y``: some of the file's coordinates, to suggest a CRS when none is known.
    """
    if declared is None and given is None:
        guess = suggest(x, y) if x is not None and y is not None else None
        hint = f"give it with {option('crs')}" + (
            f": by their values the coordinates are {USUAL_CRS[guess]} ({option('crs', guess)})"
            if guess
            else f" (e.g. {option('crs', 25832)} for ETRS89/UTM 32N, {option('crs', 4326)} for longitude/latitude)"
        )
        raise CRSProblem(f"{file_name} does not say which coordinate reference system it uses; {hint}")
    if given is not None and (declared is None or assumed):
        return Choice(given, "option")
    if given is not None and not declared.equals(given, ignore_axis_order=True):
        raise CRSProblem(
            f"{file_name} declares {describe(declared)} but {option('crs')} says {describe(given)}; "
            f"drop {option('crs')} to use the file's CRS, or fix the file"
        )
    return Choice(declared, "geojson" if assumed else "file")


def choose_crs(declared: CRS | None, given: CRS | None, file_name: str, assumed: bool = False) -> CRS:
    """The file's own CRS, or the one given when the file has none (or only assumes one, GeoJSON)."""
    return choose(declared, given, file_name, assumed=assumed).crs


def geojson_assumed(path: Path, driver: str | None) -> bool:
    """Whether a GeoJSON(Seq) file's CRS is only GDAL's RFC 7946 assumption: it has no ``crs`` member.

    The top-level members before ``features`` are searched (where GDAL, QGIS and ArcGIS write
    ``crs``), and the end of the file for a ``crs`` member after them; a GeoJSONSeq has none.
    """
    if driver == "GeoJSONSeq":
        return True
    if driver != "GeoJSON":
        return False
    with open(path, "rb") as f:
        head = f.read(_GEOJSON_HEAD)
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read()
    members = _top_level_keys(head.decode("utf-8", errors="replace"))
    if "crs" in members:
        return False
    return not re.search(rb'[\]}"\w]\s*,\s*"crs"\s*:\s*\{[^\[\]]*\}\s*}\s*$', tail)


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[{}\[\]]')


def _top_level_keys(text: str) -> list[str]:
    """The keys of the outermost JSON object in ``text``, up to its ``features`` member."""
    keys: list[str] = []
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        t = token[0]
        if t in "{[":
            depth += 1
        elif t in "}]":
            depth -= 1
        elif depth == 1 and t.endswith(":"):
            keys.append(t[1 : t.rindex('"')])
            if keys[-1] == "features":
                break
    return keys


def transformer(source: CRS) -> Transformer | None:
    target = CRS.from_epsg(STORAGE_SRID)
    if source.equals(target):
        return None
    try:
        return Transformer.from_crs(source, target, always_xy=True)
    except (CRSError, ProjError):
        raise CRSProblem(f"coordinates in {describe(source)} cannot be transformed to EPSG:{STORAGE_SRID}") from None


def describe(crs: CRS) -> str:
    """A CRS as messages name it: ``EPSG:25832 (ETRS89 / UTM zone 32N)``."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} ({crs.name})" if epsg else crs.name


def _inside_nrw(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    minx, miny, maxx, maxy = NRW_BOUNDS
    return (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)


def _to_storage(crs: CRS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = transformer(crs)
    if t is None:
        return x, y
    with np.errstate(invalid="ignore"):
        return t.transform(x, y, errcheck=False)


def suggest(x: np.ndarray, y: np.ndarray) -> int | None:
    """The first of the usual CRSs (:data:`USUAL_CRS`) in which most of these coordinates lie in NRW."""
    if len(x) == 0:
        return None
    for epsg in USUAL_CRS:
        sx, sy = _to_storage(CRS.from_epsg(epsg), x, y)
        if np.mean(_inside_nrw(sx, sy)) >= 0.5:
            return epsg
    return None


def _said(crs: CRS, said_by: str) -> str:
    name = describe(crs)
    if said_by == "option":
        return f"{option('crs')} says {name}"
    if said_by == "geojson":
        return f"the file is {GEOJSON_DEFAULT}"
    return f"the file declares {name}"


def diagnose(crs: CRS, x: np.ndarray, y: np.ndarray, said_by: str = "file") -> str | None:
    """Why coordinates (centroids, in the file's CRS) do not lie in NRW, or None when most do.

    ``said_by``: who named ``crs`` (see :class:`Choice`), for the wording of the fix.
    """
    if len(x) == 0:
        return None
    sx, sy = _to_storage(crs, x, y)
    if np.mean(_inside_nrw(sx, sy)) >= 0.5:
        return None
    degrees_like = np.all((np.abs(x) <= 180) & (np.abs(y) <= 90))
    name, said = describe(crs), _said(crs, said_by)
    if not crs.is_geographic and degrees_like:
        lon_first = np.median(x) < np.median(y)
        hint = option("crs", 4326) + ("" if lon_first else " after swapping the columns (latitude was given first)")
        return (
            f"the coordinates look like longitude/latitude in degrees (e.g. {x[0]:.5f}, {y[0]:.5f}), "
            f"but {said}; declare them as such with {hint}"
        )
    if crs.is_geographic and not degrees_like:
        guess = suggest(x, y)
        fix = (
            f"by their values they are {USUAL_CRS[guess]}: give {option('crs', guess)}"
            if guess
            else f"give the projected CRS, e.g. {option('crs', 25832)}"
        )
        overrides = ", which replaces that default" if said_by == "geojson" else ""
        degrees = "" if said_by == "geojson" else " (degrees)"
        return (
            f"the coordinates look like projected metres (e.g. {x[0]:.1f}, {y[0]:.1f}), but {said}{degrees}; "
            f"{fix}{overrides}"
        )
    swapped_x, swapped_y = _to_storage(crs, y, x)
    if np.mean(_inside_nrw(swapped_x, swapped_y)) >= 0.5:
        return (
            f"the axes appear to be swapped: with x and y exchanged the parcels lie in NRW "
            f"(first point {x[0]:.5f}, {y[0]:.5f}); exchange the x and y columns"
        )
    median_x, median_y = float(np.median(x)), float(np.median(y))
    if 5_550_000 < median_y < 5_850_000:
        if 2_250_000 < median_x < 2_700_000 or 3_250_000 < median_x < 3_700_000:
            zone = 2 if median_x < 3_000_000 else 3
            return (
                f"the coordinates look like Gauß-Krüger zone {zone} (x ≈ {median_x:,.0f}), "
                f"not {name}; declare {option('crs', 31464 + zone)}"
            )
        if 32_250_000 < median_x < 32_600_000:
            return (
                f"the coordinates carry the zone prefix 32 (x ≈ {median_x:,.0f}): they are EPSG:4647, "
                f"not {name}; declare {option('crs', 4647)}"
            )
    guess = suggest(x, y)
    fix = (
        f"by their values they are {USUAL_CRS[guess]}: give {option('crs', guess)}"
        if guess
        else "check the coordinates and the CRS"
    )
    return f"the parcels do not lie in North Rhine-Westphalia (first point {x[0]:.1f}, {y[0]:.1f} in {name}); {fix}"


def outside_nrw(minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray) -> np.ndarray:
    """Which bounding boxes (EPSG:25832) lie entirely outside NRW."""
    bminx, bminy, bmaxx, bmaxy = NRW_BOUNDS
    return (maxx < bminx) | (minx > bmaxx) | (maxy < bminy) | (miny > bmaxy)
