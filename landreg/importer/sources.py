"""Reading import files through GDAL (pyogrio), in batches, so memory stays bounded.

Vector formats (GeoPackage, Shapefile – also zipped –, GeoJSON, GeoJSONSeq, FlatGeobuf, KML) are
streamed as Arrow batches. Tables (CSV, XLSX) are read as text and their geometry is built here
from a WKT column or from x/y columns, so that a broken WKT is reported per row instead of
silently becoming an empty geometry.
"""

from __future__ import annotations

import codecs
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS
from pyproj.exceptions import CRSError

from landreg.importer.mapping import normalise
from landreg.importer.refusals import ImportRefused, option

TABLE_SUFFIXES = {".csv", ".xlsx", ".xls", ".ods"}
WKT_COLUMNS = ["wkt", "geometry", "geom", "the_geom", "wkt_geom", "geometrie", "shape"]
X_COLUMNS = ["x", "rechtswert", "easting", "east", "lon", "lng", "longitude", "laenge", "xkoordinate"]
Y_COLUMNS = ["y", "hochwert", "northing", "north", "lat", "latitude", "breite", "ykoordinate"]


class SourceError(ImportRefused):
    """The file cannot be read as a whole (missing, empty, corrupt, no layer, no geometry)."""

    def __init__(self, message: str, field: str = "file"):
        super().__init__(message, field)


def _gdal_message(exc: Exception, path: Path, uri: str) -> str:
    """GDAL's message, with the file named by its name only: never a server's directory."""
    message = str(exc)
    for form in sorted({uri, f"/vsizip/{path}", str(path), str(path.resolve())}, key=len, reverse=True):
        message = message.replace(form, path.name)
    return message.replace(f"{path.parent}/", "").replace(f"{path.resolve().parent}/", "")


def _undecodable(path: Path, encoding: str | None, exc: Exception) -> SourceError:
    given = f"is not valid {encoding} text" if encoding else "does not say its text encoding and is not UTF-8"
    detail = f" ({exc.reason} at byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
    return SourceError(
        f"{path.name} {given}{detail}; give the file's encoding with {option('encoding')}, "
        f"e.g. {option('encoding', 'cp1252')} (Windows), {option('encoding', 'latin-1')} or {option('encoding', 'utf-8')}",
        field="encoding",
    )


@dataclass
class Batch:
    """Consecutive source rows: ``rows`` are 1-based record numbers in the file."""

    rows: np.ndarray
    attributes: pd.DataFrame
    geometries: np.ndarray  # shapely geometries in the source CRS; None where unreadable
    problems: dict[int, str] = field(default_factory=dict)  # row -> why its geometry is missing


@dataclass
class Source:
    path: Path
    uri: str
    layer: str | None
    columns: list[str]
    crs: CRS | None
    feature_count: int | None
    is_table: bool
    encoding: str | None = None
    wkt_column: str | None = None
    xy_columns: tuple[str, str] | None = None

    @property
    def geometry_columns(self) -> list[str]:
        if self.wkt_column:
            return [self.wkt_column]
        return list(self.xy_columns or ())

    @property
    def open_options(self) -> dict:
        return {"HEADERS": "FORCE"} if self.path.suffix.lower() in (".xlsx", ".xls", ".ods") else {}

    def frames(self, size: int = 20_000) -> Iterator[tuple[np.ndarray, pd.DataFrame, np.ndarray | None]]:
        """(1-based rows, attributes, geometries or None for tables), batch by batch."""
        start = 1
        try:
            for frame, geoms in self._read(size):
                rows = np.arange(start, start + len(frame))
                start += len(frame)
                yield rows, frame, geoms
        except (DataSourceError, DataLayerError) as exc:
            message = _gdal_message(exc, self.path, self.uri)
            raise SourceError(f"{self.path.name}: cannot be read (row {start} onwards): {message}") from None
        except (UnicodeDecodeError, pa.ArrowException) as exc:  # text in another encoding than the one read
            raise _undecodable(self.path, self.encoding, exc) from None

    def _read(self, size: int):
        if self.encoding and codecs.lookup(self.encoding).name != "utf-8":
            # GDAL's Arrow stream is UTF-8 only: other encodings are read feature-wise, batch by batch
            offset = 0
            while True:
                frame = pyogrio.read_dataframe(
                    self.uri,
                    layer=self.layer,
                    encoding=self.encoding,
                    skip_features=offset,
                    max_features=size,
                    read_geometry=not self.is_table,
                    **self.open_options,
                )
                if len(frame) == 0:
                    return
                offset += len(frame)
                geoms = frame.geometry.to_numpy() if not self.is_table else None
                yield pd.DataFrame(frame.drop(columns="geometry", errors="ignore")), geoms
                if len(frame) < size:
                    return
        with pyogrio.open_arrow(
            self.uri,
            layer=self.layer,
            batch_size=size,
            use_pyarrow=True,
            read_geometry=not self.is_table,
            **self.open_options,
        ) as (meta, reader):
            geometry_name = meta.get("geometry_name") or "wkb_geometry"
            for record_batch in reader:
                frame = record_batch.to_pandas()
                if self.is_table:
                    yield frame, None
                    continue
                wkb = frame.pop(geometry_name).to_numpy() if geometry_name in frame else None
                geoms = (
                    shapely.from_wkb(wkb, on_invalid="ignore")
                    if wkb is not None
                    else np.full(len(frame), None, dtype=object)
                )
                yield frame, geoms

    def batches(self, size: int = 20_000) -> Iterator[Batch]:
        for rows, frame, geoms in self.frames(size):
            yield self._table_batch(rows, frame) if self.is_table else _vector_batch(rows, frame, geoms)

    def _table_batch(self, rows: np.ndarray, frame: pd.DataFrame) -> Batch:
        problems: dict[int, str] = {}
        if self.wkt_column:
            text = frame[self.wkt_column].astype("string").fillna("").str.strip().to_numpy(dtype=object)
            geoms = shapely.from_wkt(np.where(text == "", None, text), on_invalid="ignore")
            for i in np.flatnonzero(pd.isna(geoms)):
                problems[int(rows[i])] = _wkt_problem(text[i])
        else:
            x_col, y_col = self.xy_columns
            x = pd.to_numeric(frame[x_col].astype("string").str.replace(",", ".", regex=False), errors="coerce")
            y = pd.to_numeric(frame[y_col].astype("string").str.replace(",", ".", regex=False), errors="coerce")
            geoms = shapely.points(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
            for i in np.flatnonzero(x.isna() | y.isna()):
                problems[int(rows[i])] = f"x/y ({frame[x_col].iloc[i]!r}, {frame[y_col].iloc[i]!r}) are not numbers"
                geoms[i] = None
        return Batch(rows, frame.drop(columns=self.geometry_columns), np.asarray(geoms, dtype=object), problems)


def _vector_batch(rows: np.ndarray, frame: pd.DataFrame, geoms: np.ndarray) -> Batch:
    problems: dict[int, str] = {}
    for i in np.flatnonzero(pd.isna(geoms)):
        problems[int(rows[i])] = "no geometry"
    return Batch(rows, frame, np.asarray(geoms, dtype=object), problems)


def _wkt_problem(text: str) -> str:
    if not text:
        return "no geometry (the WKT column is empty)"
    try:
        shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        return f"WKT cannot be read: {str(exc).split(':', 1)[-1].strip()}"
    return "WKT cannot be read"


def _zip_uri(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        raise SourceError(f"{path.name}: is not a readable zip archive (truncated or corrupt?)") from None
    shapefiles = [n for n in names if n.lower().endswith(".shp")]
    if not shapefiles:
        listing = ", ".join(names[:10]) + (" …" if len(names) > 10 else "") if names else "nothing"
        raise SourceError(f"{path.name}: the zip archive holds no shapefile (.shp); it contains: {listing}")
    if len(shapefiles) > 1:
        raise SourceError(
            f"{path.name}: the zip archive holds several shapefiles ({', '.join(shapefiles)}); import them one by one"
        )
    return f"/vsizip/{path}/{shapefiles[0]}"


def _pick(columns: list[str], candidates: list[str], given: str | None, what: str) -> str | None:
    if given:
        if given not in columns:
            raise SourceError(f"the file has no {what} column {given!r}; its columns are: {', '.join(columns)}")
        return given
    by_normal = {normalise(c): c for c in columns}
    return next((by_normal[c] for c in candidates if c in by_normal), None)


def open_source(
    path: Path,
    layer: str | None = None,
    encoding: str | None = None,
    wkt_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
) -> Source:
    """Open a file (or one layer of it) and find its columns, CRS and geometry."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")  # only the command line names a file that is not there
    if path.stat().st_size == 0:
        raise SourceError(f"{path.name}: the file is empty")
    uri = _zip_uri(path) if path.suffix.lower() == ".zip" else str(path)
    try:
        layers = pyogrio.list_layers(uri)
        if layer is None and len(layers) > 1:
            names = ", ".join(str(name) for name, _ in layers)
            raise SourceError(f"{path.name} has several layers ({names}); choose one with {option('layer')}", "layer")
        if layer is not None and layer not in [name for name, _ in layers]:
            names = ", ".join(str(name) for name, _ in layers)
            raise SourceError(f"{path.name} has no layer {layer!r}; its layers are: {names}", "layer")
        options = {"HEADERS": "FORCE"} if path.suffix.lower() in (".xlsx", ".xls", ".ods") else {}
        info = pyogrio.read_info(uri, layer=layer, encoding=encoding, **options)
    except (DataSourceError, DataLayerError) as exc:
        message = _gdal_message(exc, path, uri)
        raise SourceError(f"{path.name}: cannot be read as a geodata file (corrupt or truncated?): {message}") from None
    except UnicodeDecodeError as exc:
        raise _undecodable(path, encoding, exc) from None
    columns = [str(c) for c in info["fields"]]
    is_table = path.suffix.lower() in TABLE_SUFFIXES or info.get("geometry_type") is None
    try:
        crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
        if crs is None and is_table and path.with_suffix(".prj").exists():  # as landreg's CSV exports carry it
            crs = CRS.from_wkt(path.with_suffix(".prj").read_text(errors="replace"))
    except CRSError:
        raise SourceError(
            f"{path.name} declares a coordinate reference system that cannot be read; "
            f"fix it in the file, or remove it and give the CRS with {option('crs')}",
            "crs",
        ) from None
    source = Source(path, uri, layer, columns, crs, info.get("features"), is_table, encoding)
    if is_table:
        source.wkt_column = _pick(columns, WKT_COLUMNS, wkt_column, "WKT")
        if not source.wkt_column:
            x = _pick(columns, X_COLUMNS, x_column, "x")
            y = _pick(columns, Y_COLUMNS, y_column, "y")
            if not (x and y):
                raise SourceError(
                    f"{path.name}: found no geometry: a table needs a WKT column (e.g. 'wkt') "
                    f"or x/y columns; its columns are: {', '.join(columns)}"
                )
            source.xy_columns = (x, y)
        source.columns = [c for c in columns if c not in source.geometry_columns]
    if source.feature_count == 0:
        raise SourceError(f"{path.name}: the file contains no features")
    return source
