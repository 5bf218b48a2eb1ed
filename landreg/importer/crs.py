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
from landreg.importer.refusals import ImportRefused, InvalidOption
from landreg.messages import Message, message

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

    def __init__(self, reason: str | Message):
        super().__init__(reason, field="crs")


def usual(epsg: int) -> Message:
    """One of :data:`USUAL_CRS` by name, German and English."""
    return message(f"crs.usual.{epsg}")


def about(diagnosis: Message, subject: str) -> Message:
    """A diagnosis (:func:`diagnose`, which speaks of parcels) said of ``subject``: "plan" or "features"."""
    they = diagnosis.values.get("they")
    if not isinstance(they, Message) or not they.code.endswith(".parcels"):
        return diagnosis
    return Message(diagnosis.code, {**diagnosis.values, "they": message(they.code.rsplit(".", 1)[0] + "." + subject)})


def parse_crs(text: str | int) -> CRS:
    try:
        return CRS.from_user_input(int(text) if str(text).isdigit() else text)
    except CRSError:
        raise InvalidOption(message("crs.unknown", value=text), field="crs") from None


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
        if guess:
            raise CRSProblem(message("crs.missing_guess", file=file_name, usual=usual(guess), code=str(guess)))
        raise CRSProblem(message("crs.missing", file=file_name))
    if given is not None and (declared is None or assumed):
        return Choice(given, "option")
    if given is not None and not declared.equals(given, ignore_axis_order=True):
        raise CRSProblem(message("crs.conflict", file=file_name, declared=describe(declared), given=describe(given)))
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
        said = message("crs.not_transformable", crs=describe(source), target=str(STORAGE_SRID))
        raise CRSProblem(said) from None


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


def _said(crs: CRS, said_by: str) -> Message:
    name = describe(crs)
    if said_by == "option":
        return message("crs.said.option", name=name)
    if said_by == "geojson":
        return message("crs.said.geojson", default=message("crs.geojson_default"))
    return message("crs.said.file", name=name)


def _fix(guess: int | None, otherwise: Message) -> Message:
    return message("crs.fix.guess", usual=usual(guess), code=str(guess)) if guess else otherwise


def degrees_like(x, y) -> bool:
    """Whether every coordinate could be a longitude (x) and latitude (y) in degrees."""
    return bool(np.all((np.abs(np.asarray(x)) <= 180) & (np.abs(np.asarray(y)) <= 90)))


def diagnose(crs: CRS, x: np.ndarray, y: np.ndarray, said_by: str = "file") -> Message | None:
    """Why coordinates (centroids, in the file's CRS) do not lie in NRW, or None when most do.

    ``said_by``: who named ``crs`` (see :class:`Choice`), for the wording of the fix. The diagnosis
    speaks of parcels; :func:`about` says it of a plan or a layer's features.
    """
    if len(x) == 0:
        return None
    sx, sy = _to_storage(crs, x, y)
    if np.mean(_inside_nrw(sx, sy)) >= 0.5:
        return None
    in_degrees = degrees_like(x, y)
    name, said = describe(crs), _said(crs, said_by)
    first_x, first_y = float(x[0]), float(y[0])
    if not crs.is_geographic and in_degrees:
        lon_first = np.median(x) < np.median(y)
        swap = "" if lon_first else message("crs.swap_columns")
        return message("crs.looks_degrees", x=round(first_x, 5), y=round(first_y, 5), said=said, swap=swap)
    if crs.is_geographic and not in_degrees:
        geojson = said_by == "geojson"
        return message(
            "crs.looks_metres",
            x=round(first_x, 1),
            y=round(first_y, 1),
            said=said,
            degrees="" if geojson else message("crs.in_degrees"),
            fix=_fix(suggest(x, y), message("crs.fix.projected")),
            replaces=message("crs.replaces_default") if geojson else "",
        )
    swapped_x, swapped_y = _to_storage(crs, y, x)
    if np.mean(_inside_nrw(swapped_x, swapped_y)) >= 0.5:
        they = message("crs.they_lie.parcels")
        return message("crs.swapped", they=they, x=round(first_x, 5), y=round(first_y, 5))
    median_x, median_y = float(np.median(x)), float(np.median(y))
    if 5_550_000 < median_y < 5_850_000:
        if 2_250_000 < median_x < 2_700_000 or 3_250_000 < median_x < 3_700_000:
            zone = 2 if median_x < 3_000_000 else 3
            return message("crs.gauss_krueger", zone=zone, x=round(median_x), name=name, code=str(31464 + zone))
        if 32_250_000 < median_x < 32_600_000:
            return message("crs.zone_prefix", x=round(median_x), name=name)
    they = message("crs.they_do_not_lie.parcels")
    fix = _fix(suggest(x, y), message("crs.fix.check"))
    return message("crs.outside_nrw", they=they, x=round(first_x, 1), y=round(first_y, 1), name=name, fix=fix)


def outside_nrw(minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray) -> np.ndarray:
    """Which bounding boxes (EPSG:25832) lie entirely outside NRW."""
    bminx, bminy, bmaxx, bmaxy = NRW_BOUNDS
    return (maxx < bminx) | (minx > bmaxx) | (maxy < bminy) | (miny > bmaxy)
