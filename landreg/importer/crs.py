"""Coordinate reference systems of imported files, and the classic mistakes made with them.

A file's coordinates are checked against where NRW is before anything is stored: longitude and
latitude declared as metres, metres declared as degrees, swapped axes, Gauß-Krüger or
zone-prefixed UTM coordinates declared as plain UTM all produce a message that names the
mistake and the fix, instead of parcels somewhere in the Atlantic.
"""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from landreg import STORAGE_SRID
from landreg.importer.refusals import ImportRefused, InvalidOption, option

#: NRW's extent in EPSG:25832 (DVG2 boundaries), with 5 km to spare.
NRW_BOUNDS = (275_000.0, 5_572_000.0, 537_000.0, 5_826_000.0)


class CRSProblem(ImportRefused):
    """The file's CRS is missing, or does not fit its coordinates."""

    def __init__(self, message: str):
        super().__init__(message, field="crs")


def parse_crs(text: str | int) -> CRS:
    try:
        return CRS.from_user_input(int(text) if str(text).isdigit() else text)
    except CRSError:
        raise InvalidOption(f"unknown CRS {text!r}; give an EPSG code such as 25832 or 4326", field="crs") from None


def choose_crs(declared: CRS | None, given: CRS | None, file_name: str) -> CRS:
    """The file's own CRS, or the one given on the command line when the file has none."""
    if declared is None and given is None:
        raise CRSProblem(
            f"{file_name} does not say which coordinate reference system it uses; "
            f"give it with {option('crs')} (e.g. {option('crs', 25832)} for ETRS89/UTM 32N, "
            f"{option('crs', 4326)} for longitude/latitude)"
        )
    if declared is not None and given is not None and not declared.equals(given, ignore_axis_order=True):
        raise CRSProblem(
            f"{file_name} declares {_name(declared)} but {option('crs')} says {_name(given)}; "
            f"drop {option('crs')} to use the file's CRS, or fix the file"
        )
    return declared or given


def transformer(source: CRS) -> Transformer | None:
    target = CRS.from_epsg(STORAGE_SRID)
    if source.equals(target):
        return None
    try:
        return Transformer.from_crs(source, target, always_xy=True)
    except (CRSError, ProjError):
        raise CRSProblem(f"coordinates in {_name(source)} cannot be transformed to EPSG:{STORAGE_SRID}") from None


def _name(crs: CRS) -> str:
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


def diagnose(crs: CRS, x: np.ndarray, y: np.ndarray) -> str | None:
    """Why coordinates (centroids, in the file's CRS) do not lie in NRW, or None when most do."""
    if len(x) == 0:
        return None
    sx, sy = _to_storage(crs, x, y)
    if np.mean(_inside_nrw(sx, sy)) >= 0.5:
        return None
    degrees_like = np.all((np.abs(x) <= 180) & (np.abs(y) <= 90))
    name = _name(crs)
    if not crs.is_geographic and degrees_like:
        lon_first = np.median(x) < np.median(y)
        hint = option("crs", 4326) + ("" if lon_first else " after swapping the columns (latitude was given first)")
        return (
            f"the coordinates look like longitude/latitude in degrees (e.g. {x[0]:.5f}, {y[0]:.5f}), "
            f"but the file declares {name}; declare them as such with {hint}"
        )
    if crs.is_geographic and not degrees_like:
        return (
            f"the coordinates look like projected metres (e.g. {x[0]:.1f}, {y[0]:.1f}), but the file "
            f"declares {name} (degrees); declare the projected CRS, e.g. {option('crs', 25832)}"
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
    return (
        f"the parcels do not lie in North Rhine-Westphalia (first point {x[0]:.1f}, {y[0]:.1f} in {name}); "
        "check the coordinates and the CRS"
    )


def outside_nrw(minx: np.ndarray, miny: np.ndarray, maxx: np.ndarray, maxy: np.ndarray) -> np.ndarray:
    """Which bounding boxes (EPSG:25832) lie entirely outside NRW."""
    bminx, bminy, bmaxx, bmaxy = NRW_BOUNDS
    return (maxx < bminx) | (minx > bmaxx) | (maxy < bminy) | (miny > bmaxy)
