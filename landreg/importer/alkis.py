"""ALKIS Flurstücke as an import: each Flurstück a parcel, or the Flurstücke of a group one parcel.

Two layouts are read, both through GDAL (pyogrio):

* **NAS** (``AX_Flurstueck`` of a WFS FeatureCollection or a NAS file; GDAL's NAS driver where
  GDAL has it, which needs Xerces, else its GML driver – the one of the pyogrio wheels). GDAL
  names a nested element by its leaf (``kreis``) or, where the leaf repeats, by its path
  (``gemeindezugehoerigkeit|AX_Gemeindekennzeichen|land``), guesses numbers from digits
  (``05`` becomes 5) and gives repeated elements (``zeigtAufExternes/…/art``) as lists: the
  keys are found by leaf and path and zero-padded here, lists become text. Neither a ``.gfs``
  file is written beside the file nor a schema downloaded (``WRITE_GFS=NO``, ``DOWNLOAD_SCHEMA=NO``).
* **ALKIS vereinfacht** (the AdV product that NRW publishes as open data; Shapefile, GeoPackage
  or GeoJSON, also the NRW OGC API's ``flurstueck`` items): ``flstkennz`` (the Kennzeichen),
  ``flaeche`` (amtliche Fläche in m²) and ``gmdschl`` (the 8-digit AGS), in any letter case;
  the other columns (``gemaschl``, ``flur``, ``flstnrzae``, ``lagebeztxt``, …) are kept for
  ``--group-by``.

What a Flurstück says about itself is compared with its geometry by the import's own checks:
the amtliche Fläche as the area the file states (a note when the geometry's area differs by more
than :data:`AREA_TOLERANCE`; the amtliche Fläche is reduced to the ellipsoid, UTM's scale and the
height make ~0.1 % in NRW), the AGS of ``gemeindezugehoerigkeit`` as the municipality the row
claims (refused when the geometry lies in another). The import's rows are the Flurstücke in file
order, or the groups in the order of their first Flurstück; a group's reference (``local_ref``)
is its value of the ``--group-by`` column, a single Flurstück's its Kennzeichen.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from landreg import flurstueck
from landreg.importer.mapping import normalise
from landreg.importer.refusals import ImportRefused, InvalidOption, option
from landreg.importer.sources import Batch, SourceError, lists_as_text

NAS_LAYER = "AX_Flurstueck"
#: File types of NAS (a WFS answer is often saved as .xml).
NAS_SUFFIXES = frozenset({".xml", ".gml", ".nas"})
#: The amtliche Fläche and the geometry's area may differ by this share before the import notes it.
AREA_TOLERANCE = 0.01
#: The columns a Flurstück (or a group of them) becomes: each one a parcel field or the stated area.
COLUMNS = ("local_ref", "flurstueckskennzeichen", "gemeindezugehoerigkeit", "amtliche_flaeche")
_GML_OPTIONS = {"WRITE_GFS": "NO", "DOWNLOAD_SCHEMA": "NO"}
_GEMEINDE = ("land", "regierungsbezirk", "kreis", "gemeinde")


# -- options ---------------------------------------------------------------------------------
def check_options(options) -> None:
    """Options that do not fit an ALKIS import, refused before the file is read."""
    if options.group_by is not None and not options.from_alkis:
        raise InvalidOption(
            f"{option('group_by')} groups the Flurstücke of an ALKIS file: use it with {option('from_alkis')}",
            field="group_by",
        )
    if not options.from_alkis:
        return
    if options.retire_missing:
        raise InvalidOption(
            f"{option('from_alkis')} adds parcels of Flurstücke; it is no complete list of the municipality's "
            f"parcels, so {option('retire_missing')} would retire all others: import without it",
            field="retire_missing",
        )
    if not (options.category or options.mapping_file):
        raise InvalidOption(
            f"an ALKIS file says nothing of the land's category: give it with {option('category')} "
            f"(e.g. {option('category', 'brachflaeche')})",
            field="category",
        )


def refuse_nas(path: Path, columns: list[str]) -> None:
    """A NAS file of Flurstücke imported as a plain file would map none of its keys (its AGS is split
    into four elements, ``art`` of ``zeigtAufExternes`` looks like a category): refused, naming the option."""
    if _column(columns, "flurstueckskennzeichen") and _column(columns, "amtlicheFlaeche"):
        raise ImportRefused(
            f"{Path(path).name} holds ALKIS Flurstücke (NAS, {NAS_LAYER}): import them with {option('from_alkis')} "
            f"and their category (e.g. {option('category', 'brachflaeche')}); each Flurstück becomes a parcel, "
            f"or the Flurstücke of a group one ({option('group_by')} and the column that groups them)",
            field="from_alkis",
        )


def import_options(options):
    """The import's options for an ALKIS file: the amtliche Fläche is compared at :data:`AREA_TOLERANCE`."""
    return dataclasses.replace(
        options, checks=dataclasses.replace(options.checks, declared_area_tolerance=AREA_TOLERANCE)
    )


# -- reading ---------------------------------------------------------------------------------
@dataclass
class Flurstuecke:
    """The Flurstücke of a file, one row each in file order (row ``i`` is Flurstück ``i + 1``).

    ``frame``: ``kennzeichen`` (stored form, or None), ``ags`` (8 digits, or None) and
    ``amtliche_flaeche`` (m², or NaN); ``attributes``: the file's own columns (lists as text).
    ``problems``: 1-based row -> (field, reason) of the Flurstücke that cannot be used.
    """

    layout: str  # "NAS" or "ALKIS vereinfacht"
    layer: str
    crs: CRS | None
    frame: pd.DataFrame
    attributes: pd.DataFrame
    geometries: np.ndarray  # shapely, in ``crs``; None where there is none
    problems: dict[int, tuple[str, str]]

    def __len__(self) -> int:
        return len(self.frame)


def read_flurstuecke(path: Path, layer: str | None = None, encoding: str | None = None) -> Flurstuecke:
    """Read the Flurstücke of a NAS or ALKIS vereinfacht file; SourceError when it holds none."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SourceError(f"{path.name}: the file is empty")
    uri = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)
    is_gml = path.suffix.lower() in NAS_SUFFIXES
    options = dict(_GML_OPTIONS) if is_gml else {}
    if encoding:
        options["encoding"] = encoding
    try:
        with warnings.catch_warnings():  # GDAL's notes on repeated NAS elements, not the user's concern
            warnings.simplefilter("ignore", RuntimeWarning)
            layer = layer or (NAS_LAYER if is_gml else _flurstueck_layer(path, uri))
            frame = pyogrio.read_dataframe(uri, layer=layer, **options)
    except DataLayerError:
        what = f"no {NAS_LAYER} features (Flurstücke)" if is_gml and layer == NAS_LAYER else f"no layer {layer!r}"
        raise SourceError(f"{path.name}: holds {what}", "layer") from None
    except DataSourceError as exc:
        message = str(exc).replace(uri, path.name).replace(str(path.parent) + "/", "")
        raise SourceError(f"{path.name}: cannot be read as NAS or ALKIS vereinfacht (corrupt?): {message}") from None
    except CRSError:
        raise SourceError(f"{path.name} declares a coordinate reference system that cannot be read", "crs") from None
    except UnicodeDecodeError:
        raise SourceError(
            f"{path.name} is not UTF-8 text; give its encoding with {option('encoding')}, "
            f"e.g. {option('encoding', 'cp1252')}",
            "encoding",
        ) from None
    crs = CRS.from_user_input(frame.crs) if getattr(frame, "crs", None) is not None else None
    geometries = frame.geometry.to_numpy() if "geometry" in frame else np.full(len(frame), None, dtype=object)
    attributes = lists_as_text(pd.DataFrame(frame.drop(columns="geometry", errors="ignore")))
    if len(attributes) == 0:
        raise SourceError(f"{path.name}: the file contains no Flurstücke", "file")
    columns = [str(c) for c in attributes.columns]
    if _column(columns, "flurstueckskennzeichen"):
        layout, keys = "NAS", _nas_keys(attributes, columns)
    elif _column(columns, "flstkennz"):
        layout, keys = "ALKIS vereinfacht", _simplified_keys(attributes, columns)
    else:
        raise SourceError(
            f"{path.name}: layer {layer!r} is neither NAS ({NAS_LAYER} with flurstueckskennzeichen) nor ALKIS "
            f"vereinfacht (a column flstkennz); its columns are: {', '.join(columns)}",
            "file",
        )
    problems = _problems(keys, geometries)
    return Flurstuecke(layout, layer, crs, keys, attributes, np.asarray(geometries, dtype=object), problems)


def _flurstueck_layer(path: Path, uri: str) -> str | None:
    """The layer of Flurstücke in a file of several (ALKIS vereinfacht comes with Gebäude and Nutzung)."""
    layers = [str(name) for name, _ in pyogrio.list_layers(uri)]
    if len(layers) == 1:
        return layers[0]
    named = [name for name in layers if "flurstueck" in normalise(name)]
    if len(named) == 1:
        return named[0]
    raise SourceError(
        f"{path.name} has several layers ({', '.join(layers)}); choose the one of the Flurstücke with {option('layer')}",
        "layer",
    )


def _column(columns: list[str], leaf: str, within: str | None = None) -> str | None:
    """The column of an element by its leaf name (any letter case), inside ``within`` if GDAL named the path."""
    matches = [c for c in columns if c.split("|")[-1].casefold() == leaf.casefold()]
    if within is not None:
        inside = [c for c in matches if within.casefold() in c.casefold()]
        matches = inside or [c for c in matches if "|" not in c]
    return matches[0] if matches else None


def _values(frame: pd.DataFrame, column: str | None) -> list:
    """A column as a list, missing values None (all None without the column)."""
    if column is None:
        return [None] * len(frame)
    values = frame[column]
    return values.astype(object).where(values.notna(), None).tolist()


def _nas_keys(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    kennzeichen = _values(frame, _column(columns, "flurstueckskennzeichen"))
    parts = {part: _column(columns, part, "gemeindezugehoerigkeit") for part in _GEMEINDE}
    # GDAL names the first "land" of a feature by its leaf: the Gemarkung's, unless its path says
    # gemeindezugehoerigkeit. A Flurstück's Gemarkung and Gemeinde lie in the same Land, which its
    # Kennzeichen begins with.
    if parts["land"] is not None and "gemeindezugehoerigkeit" not in parts["land"].casefold():
        parts["land"] = None
    values = {part: _values(frame, column) for part, column in parts.items()}
    municipalities = []
    for i, key in enumerate(kennzeichen):
        land, rest = values["land"][i], [values[p][i] for p in _GEMEINDE[1:]]
        if parts["land"] is None and isinstance(key, str) and any(v is not None for v in rest):
            land = key.strip()[:2]
        municipalities.append(_attempt(flurstueck.ags, land, *rest))
    return _keys(kennzeichen, municipalities, frame, _column(columns, "amtlicheFlaeche"))


def _simplified_keys(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    ags_column = _column(columns, "gmdschl")
    municipalities = [
        _attempt(_ags_text, value, ags_column) if value is not None and str(value).strip() else (None, None)
        for value in _values(frame, ags_column)
    ]
    return _keys(_values(frame, _column(columns, "flstkennz")), municipalities, frame, _column(columns, "flaeche"))


def _attempt(function, *args) -> tuple:
    """(result, None), or (None, the ValueError's message)."""
    try:
        return function(*args), None
    except ValueError as exc:
        return None, str(exc)


def _keys(kennzeichen: list, municipalities: list[tuple], frame: pd.DataFrame, area_column: str | None) -> pd.DataFrame:
    """Kennzeichen, AGS and amtliche Fläche of every Flurstück; what cannot be used as a reason (``_problem``)."""
    stated = _values(frame, area_column)
    numbers = pd.to_numeric(pd.Series(stated, dtype=object), errors="coerce").to_numpy(dtype=float)
    out = {"kennzeichen": [], "ags": [], "amtliche_flaeche": [], "_problem": []}
    for raw, (ags, ags_problem), value, number in zip(kennzeichen, municipalities, stated, numbers):
        key, problem = None, None
        if raw is None or not str(raw).strip():
            problem = ("flurstueckskennzeichen", "the Flurstück has no flurstueckskennzeichen")
        else:
            key, reason = _attempt(flurstueck.key, raw)
            problem = ("flurstueckskennzeichen", reason) if reason else None
        if ags_problem:
            problem = problem or ("ags", ags_problem)
        if np.isnan(number) and value is not None and str(value).strip():
            problem = problem or ("declared_area_m2", f"amtliche Fläche {value!r} is not a number")
        elif number <= 0:
            problem = problem or ("declared_area_m2", f"amtliche Fläche {number:g} m² is not positive")
        out["kennzeichen"].append(key)
        out["ags"].append(ags)
        out["amtliche_flaeche"].append(number if number > 0 else np.nan)
        out["_problem"].append(problem)
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in out.items()}).astype(
        {"amtliche_flaeche": float}
    )  # None stays None (pandas 3 would make missing text NaN)


def _ags_text(value, column: str) -> str:
    text = str(value).strip()
    text = text.split(".")[0] if text.replace(".", "", 1).isdigit() else text
    if not text.isdigit() or len(text) > 8:
        raise ValueError(f"{column} {value!r} is not an 8-digit AGS (Gemeindeschlüssel), e.g. 05113000")
    return text.zfill(8)


def _problems(keys: pd.DataFrame, geometries: np.ndarray) -> dict[int, tuple[str, str]]:
    problems = {}
    for i, problem in enumerate(keys.pop("_problem").tolist()):
        geometry = geometries[i]
        if geometry is None or (not isinstance(geometry, shapely.Geometry) and pd.isna(geometry)):
            problem = problem or ("geom", "the Flurstück has no geometry")
        if problem:
            problems[i + 1] = problem
    return problems


# -- the import's source ---------------------------------------------------------------------
class AlkisSource:
    """The Flurstücke of a file as the rows of an import (the interface of ``sources.Source``)."""

    is_table = False

    def __init__(self, path: Path, flurstuecke: Flurstuecke, group_by: str | None = None):
        self.path, self.uri, self.layer = path, str(path), flurstuecke.layer
        self.crs = flurstuecke.crs
        self.columns = list(COLUMNS)
        self.frame, self.geometries, self.problems = _rows(path, flurstuecke, group_by)
        self.feature_count = len(self.frame)

    def frames(self, size: int = 20_000) -> Iterator[tuple[np.ndarray, pd.DataFrame, np.ndarray]]:
        for start in range(0, len(self.frame), size):
            stop = min(start + size, len(self.frame))
            yield np.arange(start + 1, stop + 1), self.frame.iloc[start:stop], self.geometries[start:stop]

    def batches(self, size: int = 20_000) -> Iterator[Batch]:
        for rows, frame, geometries in self.frames(size):
            problems = {int(r): self.problems[int(r)] for r in rows if int(r) in self.problems}
            yield Batch(rows, frame.reset_index(drop=True), geometries.copy(), problems)


def open_source(path: Path, options) -> AlkisSource:
    """The import's source for ``--from-alkis``: one row per Flurstück, or per group (``group_by``)."""
    path = Path(path)
    return AlkisSource(path, read_flurstuecke(path, options.layer, options.encoding), options.group_by)


def _rows(path: Path, f: Flurstuecke, group_by: str | None):
    """The import's rows: (frame of :data:`COLUMNS`, geometries, row -> (field, reason))."""
    if group_by is not None and group_by not in f.attributes.columns:
        raise SourceError(
            f"{path.name} has no column {group_by!r} to group the Flurstücke by; its columns are: "
            f"{', '.join(map(str, f.attributes.columns))}",
            "group_by",
        )
    frame = f.frame
    if group_by is None:
        rows = pd.DataFrame(
            {
                "local_ref": frame["kennzeichen"],
                "flurstueckskennzeichen": frame["kennzeichen"],
                "gemeindezugehoerigkeit": frame["ags"],
                "amtliche_flaeche": frame["amtliche_flaeche"],
            }
        )
        geometries = f.geometries.copy()
        for row in f.problems:
            geometries[row - 1] = None
        return rows, geometries, dict(f.problems)
    groups = f.attributes[group_by].astype("string").str.strip().fillna("")
    out, geometries, problems = [], [], {}
    for n, (value, members) in enumerate(pd.Series(range(len(frame))).groupby(groups.to_numpy(), sort=False), 1):
        members = members.to_numpy()
        problem = _group_problem(value, group_by, members, f)
        areas = frame["amtliche_flaeche"].to_numpy()[members]
        claimed = sorted({a for a in frame["ags"].to_numpy()[members] if isinstance(a, str)})
        out.append(
            {
                "local_ref": value or None,
                "flurstueckskennzeichen": flurstueck.joined(
                    k for k in frame["kennzeichen"].to_numpy()[members] if isinstance(k, str)
                ),
                "gemeindezugehoerigkeit": claimed[0] if len(claimed) == 1 else None,
                "amtliche_flaeche": float(areas.sum()) if not np.isnan(areas).any() else np.nan,
            }
        )
        if problem is None and len(claimed) > 1:
            problem = (
                "ags",
                f"the Flurstücke of {value!r} belong to several municipalities by their gemeindezugehoerigkeit "
                f"({', '.join(claimed)}); a parcel lies in one: group them by municipality",
            )
        if problem is None:
            geometries.append(shapely.union_all(f.geometries[members]))
        else:
            geometries.append(None)
            problems[n] = problem
    shapes = np.empty(len(geometries), dtype=object)
    shapes[:] = geometries
    return pd.DataFrame(out, columns=list(COLUMNS)), shapes, problems


def _group_problem(value: str, group_by: str, members: np.ndarray, f: Flurstuecke) -> tuple[str, str] | None:
    if not value:
        rows = ", ".join(str(i + 1) for i in members[:10]) + (" …" if len(members) > 10 else "")
        return ("local_ref", f"column {group_by!r} is empty (Flurstücke in rows {rows}): it names the parcel of each")
    for i in members:
        if i + 1 in f.problems:
            field, reason = f.problems[i + 1]
            key = f.frame["kennzeichen"].iloc[i]
            which = flurstueck.readable(key) if isinstance(key, str) else f"in row {i + 1} of the file"
            return field, f"Flurstück {which}: {reason}"
    return None
