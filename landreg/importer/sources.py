"""Reading import files through GDAL (pyogrio), in batches, so memory stays bounded.

Vector formats (GeoPackage, Shapefile – also zipped –, GeoJSON, GeoJSONSeq, FlatGeobuf, KML, GML) are
streamed as Arrow batches. Tables (CSV, XLSX, ODS) are read as text and their geometry is built here
from a WKT column or from x/y columns, so that a broken WKT is reported per row instead of
silently becoming an empty geometry.

Files are read as they come: what a file is, is decided by its content, not by its name (a
workbook saved as ``liste.csv`` is read as a workbook, an old ``.xls`` is named as such); a table's
text encoding is sniffed (UTF-8, UTF-16 by its byte order mark, else Windows-1252 when that gives
German text) and Excel's ``sep=;`` line honoured; a workbook's sheet is chosen by name (or is the
only one with coordinates); geometry columns are found by common German and English names and by
their content (WKT), outlines before points. :class:`Reading` says how the file was read.
"""

from __future__ import annotations

import codecs
import re
import tempfile
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

from landreg.importer.crs import geojson_assumed
from landreg.importer.mapping import ValueRejected, normalise, parse_number
from landreg.importer.refusals import ImportRefused, InvalidOption, kept, listed, option
from landreg.messages import Message, message

TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods"}
#: Column names (normalised, see :func:`_name_key`) that hold WKT.
WKT_COLUMNS = [
    "wkt", "geometry", "geom", "thegeom", "wktgeom", "geometrie", "shape", "umriss", "polygon", "ewkt",
    "geomwkt", "geometriewkt", "geometrywkt", "wktgeometrie", "wktgeometry", "stastext",
]  # fmt: skip
#: Pairs of x/y column names (normalised), in the order they are looked for.
XY_COLUMNS = [
    ("x", "y"), ("rechtswert", "hochwert"), ("rw", "hw"), ("easting", "northing"), ("east", "north"),
    ("ost", "nord"), ("ostwert", "nordwert"), ("geox", "geoy"), ("xwert", "ywert"), ("xkoord", "ykoord"),
    ("xcoord", "ycoord"), ("pointx", "pointy"), ("lon", "lat"), ("lng", "lat"), ("long", "lat"),
    ("longitude", "latitude"), ("laenge", "breite"), ("laengengrad", "breitengrad"), ("geolaenge", "geobreite"),
]  # fmt: skip
#: Words of a coordinate column's name that say its unit or CRS, not which axis it is ("X (UTM32, m)").
_NAME_NOISE = {
    "m", "meter", "metre", "utm", "utm32", "utm32n", "etrs89", "etrs", "epsg", "25832", "epsg25832", "4326",
    "wgs84", "gk", "dhdn", "grad", "deg", "degrees", "dezimal", "decimal", "koordinate", "koordinaten",
    "koord", "coord", "coordinate", "coordinates", "wert", "value",
}  # fmt: skip
SAMPLE_ROWS = 100  # rows of a table looked at to find its geometry columns (and the CRS its values suggest)
_SNIFF_BYTES = 8 << 20  # bytes of a text table whose encoding is sniffed
#: Characters beyond ASCII that German text read as Windows-1252 plausibly has.
_GERMAN_TEXT = set("äöüÄÖÜßéèêëáàâçñóòôúùûíìîÉÈÀÇ€„“”‚‘’–—…°§²³µ½¼¾·×´\u00a0")
_SEPARATORS = {",": "COMMA", ";": "SEMICOLON", "\t": "TAB", " ": "SPACE", "|": "PIPE"}
_EWKT_SRID = re.compile(r"^\s*SRID=(\d+);", re.IGNORECASE)

# A workbook's first row is its header, on every sheet: GDAL's XLSX driver applies its HEADERS open
# option to the first sheet only (GDAL 3.12), its config option to all (landreg reads no other XLSX).
pyogrio.set_gdal_config_options({"OGR_XLSX_HEADERS": "FORCE"})


class SourceError(ImportRefused):
    """The file cannot be read as a whole (missing, empty, corrupt, no layer, no geometry)."""

    def __init__(self, reason: str | Message, field: str = "file"):
        super().__init__(reason, field)


def _gdal_message(exc: Exception, path: Path, uri: str) -> str:
    """GDAL's message, with the file named by its name only: never a server's directory."""
    said = str(exc)
    uri = uri.split(":", 1)[1] if re.match(r"^[A-Z]+:/", uri) else uri  # a driver prefix (XLSX:/tmp/…)
    for form in sorted({uri, f"/vsizip/{path}", str(path), str(path.resolve())}, key=len, reverse=True):
        said = said.replace(form, path.name)
    said = said.replace(f"{Path(uri).parent}/", "")
    return said.replace(f"{path.parent}/", "").replace(f"{path.resolve().parent}/", "")


def _undecodable(path: Path, encoding: str | None, exc: Exception) -> SourceError:
    given = message("import.not_valid_text", encoding=encoding) if encoding else message("import.no_encoding")
    detail = message("import.at_byte", reason=exc.reason, byte=exc.start) if isinstance(exc, UnicodeDecodeError) else ""
    return SourceError(message("import.undecodable", file=path.name, given=given, detail=detail), field="encoding")


@dataclass
class Batch:
    """Consecutive source rows: ``rows`` are 1-based record numbers in the file."""

    rows: np.ndarray
    attributes: pd.DataFrame
    geometries: np.ndarray  # shapely geometries in the source CRS; None where unreadable
    # row -> why its geometry is missing, or (field, reason) of a row that cannot be used (landreg.importer.alkis)
    problems: dict[int, str | tuple[str, str]] = field(default_factory=dict)
    points_from: tuple[str, str] | None = None  # x/y columns the geometries were built from (points, no outline)


@dataclass
class Reading:
    """How a file was read, for the report: what it is, in which text encoding, where its geometry is,
    and notes on what was decided for it (its content differs from its name, a sniffed encoding …)."""

    format: str | None = None  # GDAL's driver, e.g. "XLSX", "CSV", "GPKG"
    encoding: str | None = None  # of a text table, as read
    geometry_columns: list[str] = field(default_factory=list)  # of a table: WKT, or x and y
    crs_assumed: bool = False  # the CRS is GeoJSON's RFC 7946 default, not the file's word
    notes: list[str] = field(default_factory=list)  # messages (refusals.kept), options named with refusals.option


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
    reading: Reading = field(default_factory=Reading)
    open_options: dict = field(default_factory=dict)  # GDAL's, e.g. HEADERS=FORCE for a workbook
    unused: list[str] = field(default_factory=list)  # coordinate columns left out when an outline column is read
    sample: np.ndarray | None = None  # geometries of the first rows (of a table), for suggesting a CRS
    srid: int | None = None  # the SRID=…; prefix of the WKT column's values (EWKT), if they carry one
    workdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)  # a re-encoded copy

    @property
    def geometry_columns(self) -> list[str]:
        if self.wkt_column:
            return [self.wkt_column]
        return list(self.xy_columns or ())

    def frames(self, size: int = 20_000) -> Iterator[tuple[np.ndarray, pd.DataFrame, np.ndarray | None]]:
        """(1-based rows, attributes, geometries or None for tables), batch by batch."""
        start = 1
        try:
            for frame, geoms in self._read(size):
                rows = np.arange(start, start + len(frame))
                start += len(frame)
                yield rows, frame, geoms
        except (DataSourceError, DataLayerError) as exc:
            reason = _gdal_message(exc, self.path, self.uri)
            said = message("import.unreadable_from", file=self.path.name, row=start, reason=reason)
            raise SourceError(said) from None
        except (UnicodeError, pa.ArrowException) as exc:  # text in another encoding than the one read
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
        points_from = None
        if self.wkt_column:
            text = _wkt_text(frame[self.wkt_column], self.srid)
            geoms = shapely.from_wkt(np.where(text == "", None, text), on_invalid="ignore")
            for i in np.flatnonzero(pd.isna(geoms)):
                problems[int(rows[i])] = _wkt_problem(text[i])
            if self.srid is not None:  # one file, one CRS: a row of another SRID is not read in this one
                srids = pd.to_numeric(frame[self.wkt_column].astype("string").str.extract(_EWKT_SRID, expand=False))
                for i in np.flatnonzero((srids.notna() & (srids != self.srid)).to_numpy()):
                    problems[int(rows[i])] = kept(
                        message("import.wkt_other_srid", srid=str(int(srids.iloc[i])), file_srid=str(self.srid))
                    )
                    geoms[i] = None
        else:
            x_col, y_col = points_from = self.xy_columns
            x, y = _numbers(frame[x_col]), _numbers(frame[y_col])
            geoms = shapely.points(x, y)
            for i in np.flatnonzero(np.isnan(x) | np.isnan(y)):
                said = message("import.xy_not_numbers", x=repr(frame[x_col].iloc[i]), y=repr(frame[y_col].iloc[i]))
                problems[int(rows[i])] = kept(said)
                geoms[i] = None
        attributes = frame.drop(columns=[*self.geometry_columns, *self.unused])
        return Batch(rows, attributes, np.asarray(geoms, dtype=object), problems, points_from)

    def sample_points(self) -> tuple[np.ndarray, np.ndarray] | None:
        """x and y of a point on each of the first geometries (in the file's coordinates), or None."""
        sample = self.sample
        if sample is None and not self.is_table:
            try:
                frame = pyogrio.read_dataframe(
                    self.uri, layer=self.layer, max_features=SAMPLE_ROWS, columns=[], **self.open_options
                )
                sample = frame.geometry.to_numpy()
            except (DataSourceError, DataLayerError, UnicodeDecodeError, ValueError):
                return None
        if sample is None:
            return None
        sample = sample[~pd.isna(sample)]
        sample = sample[~shapely.is_empty(sample)]
        if not len(sample):
            return None
        points = shapely.point_on_surface(shapely.make_valid(sample))
        return shapely.get_x(points), shapely.get_y(points)


_NO_GEOMETRY = kept(message("import.no_geometry"))


def _vector_batch(rows: np.ndarray, frame: pd.DataFrame, geoms: np.ndarray) -> Batch:
    problems: dict[int, str] = {}
    for i in np.flatnonzero(pd.isna(geoms)):
        problems[int(rows[i])] = _NO_GEOMETRY
    return Batch(rows, lists_as_text(frame), np.asarray(geoms, dtype=object), problems)


def lists_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """GDAL's list fields (repeated elements of GML and NAS, e.g. ``art`` of ``zeigtAufExternes``) as one
    text each, ``a; b``: a value is compared and mapped like any other (a list is not even hashable).
    A list field's values are all lists, so the first one tells (object columns only, checked in C)."""
    for column in [c for c, kind in frame.dtypes.items() if pd.api.types.is_object_dtype(kind)]:
        first = frame[column].first_valid_index()
        if first is not None and isinstance(frame[column].loc[first], (np.ndarray, list)):
            frame[column] = frame[column].map(
                lambda v: "; ".join(map(str, v)) if isinstance(v, (np.ndarray, list)) else v
            )
    return frame


def _wkt_text(column: pd.Series, srid: int | None) -> np.ndarray:
    """WKT as text ('' where empty), without the SRID=…; prefix of EWKT."""
    text = column.astype("string").fillna("").str.strip()
    if srid is not None:
        text = text.str.replace(_EWKT_SRID, "", regex=True)
    return text.to_numpy(dtype=object)


def _numbers(column: pd.Series) -> np.ndarray:
    """Coordinates as numbers; written the German way too ("393575,9", "393.575,9"); NaN where none."""
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan)
    text = column.astype("string").str.strip()
    numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(np.isnan(numbers) & text.notna().to_numpy() & (text != "").to_numpy()):
        try:
            numbers[i] = parse_number(text.iloc[i])
        except ValueRejected:
            pass
    return numbers


def _wkt_problem(text: str) -> str:
    if not text:
        return kept(message("import.wkt_empty"))
    try:
        shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        return kept(message("import.wkt_unreadable", reason=str(exc).split(":", 1)[-1].strip()))
    return kept(message("import.wkt_unreadable_bare"))


# -- what a file is, by its content ----------------------------------------------------------------------


def _content(path: Path) -> str:
    """What the file is by its first bytes: zip, xlsx, ods, csv (text named as a table) or other
    (left to GDAL); an old Excel workbook and a PDF are refused here with what to do instead."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                if "xl/workbook.xml" in names:
                    return "xlsx"
                if "mimetype" in names and archive.read("mimetype").startswith(
                    b"application/vnd.oasis.opendocument.spreadsheet"
                ):
                    return "ods"
                shapefile = any(n.lower().endswith(".shp") for n in names)
        except zipfile.BadZipFile:
            shapefile = False  # named by _zip_uri
        return "zip" if shapefile or path.suffix.lower() == ".zip" else "other"  # (KMZ: GDAL's)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise SourceError(message("import.xls", file=path.name))
    if head.startswith(b"%PDF"):
        raise SourceError(message("import.pdf", file=path.name))
    if path.suffix.lower() in TABLE_SUFFIXES and not head.startswith(b"SQLite"):
        return "csv"
    return "other"


def _uri(path: Path, content: str, reading: Reading) -> str:
    """The name GDAL opens the file by: with a driver prefix when its name says something else."""
    suffix = path.suffix.lower()
    if content == "zip":
        return _zip_uri(path)
    expected = {"xlsx": (".xlsx",), "ods": (".ods",), "csv": (".csv", ".tsv")}.get(content)
    if expected is None or suffix in expected:
        return str(path)
    if content != "csv" or suffix in (".xlsx", ".xls", ".ods"):
        said = message("import.read_as_format", file=path.name, what=message(f"import.format.{content}"))
        reading.notes.append(kept(said))
    return f"{content.upper()}:{path}"


def _zip_uri(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        raise SourceError(message("import.zip_unreadable", file=path.name)) from None
    shapefiles = [n for n in names if n.lower().endswith(".shp")]
    if not shapefiles:
        contents = listed(names, 10) or message("import.nothing")
        raise SourceError(message("import.zip_no_shapefile", file=path.name, names=contents))
    if len(shapefiles) > 1:
        raise SourceError(message("import.zip_several", file=path.name, names=listed(shapefiles)))
    return f"/vsizip/{path}/{shapefiles[0]}"


# -- a text table's encoding and dialect -------------------------------------------------------------------
@dataclass
class _Text:
    uri: str
    encoding: str | None  # to read it with (None: UTF-8)
    separator: str | None = None  # GDAL's name of the separator an Excel "sep=" line gives
    workdir: tempfile.TemporaryDirectory | None = None


def _text_table(path: Path, uri: str, encoding: str | None, reading: Reading) -> _Text:
    """How to read a text table: its encoding (sniffed when not given) and Excel's ``sep=`` line.

    GDAL reads UTF-8 (with or without BOM) and, through pyogrio, single-byte encodings; a UTF-16
    file or one starting with ``sep=;`` is read from a UTF-8 copy without that line.
    """
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    wide = next((codec for bom, codec in _BOMS if head.startswith(bom)), None)
    if encoding is None and wide is None:
        encoding = _sniff(path, head, reading)
    read_as = wide if wide and (encoding is None or codecs.lookup(encoding).name.startswith(wide)) else encoding
    first = _first_line(head, read_as)
    separator = first[4:5] if first.lower().startswith("sep=") else None
    reading.encoding = read_as or "utf-8"
    if wide is None and separator is None:
        return _Text(uri, encoding)
    if wide:
        reading.notes.append(kept(message("import.read_as_wide", file=path.name, wide=wide.upper())))
    workdir = tempfile.TemporaryDirectory(prefix="landreg-import-")
    copy = Path(workdir.name) / f"{path.stem}.csv"
    try:
        with open(path, encoding=read_as or "utf-8", newline="") as src, open(copy, "w", encoding="utf-8") as out:
            if separator is not None:
                src.readline()
            while block := src.read(1 << 20):
                out.write(block)
    except UnicodeError as exc:
        workdir.cleanup()
        raise _undecodable(path, read_as, exc) from None
    return _Text(str(copy), None, _SEPARATORS.get(separator), workdir)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))  # fmt: skip


def _first_line(head: bytes, encoding: str | None) -> str:
    try:
        text = codecs.getincrementaldecoder(encoding or "utf-8-sig")(errors="replace").decode(head[:4096])
    except (LookupError, UnicodeError):  # an unknown codec; UTF-16 without its byte order mark
        return ""
    return text.split("\n", 1)[0].strip("\r")


def _sniff(path: Path, head: bytes, reading: Reading) -> str | None:
    """The encoding of a text table that names none: None for UTF-8; Windows-1252 when the file is
    not UTF-8 and reads as German text in it (noted); else refused, asking for the encoding."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return None
    except UnicodeDecodeError as exc:
        error = exc
    try:
        text = head.decode("cp1252")
    except UnicodeDecodeError:
        raise _undecodable(path, None, error) from None
    beyond_ascii = sorted({c for c in text if ord(c) > 127})
    if not beyond_ascii or set(beyond_ascii) - _GERMAN_TEXT:
        raise _undecodable(path, None, error)
    letters = [c for c in beyond_ascii if c.isalpha()] or beyond_ascii
    reading.notes.append(kept(message("import.read_as_cp1252", file=path.name, letters=listed(letters, 10))))
    return "cp1252"


# -- layers and sheets -----------------------------------------------------------------------------------
#: GML (GDAL's driver) otherwise writes a .gfs schema file beside the planner's file and may fetch schemas
_GML_OPTIONS = {"WRITE_GFS": "NO", "DOWNLOAD_SCHEMA": "NO"}


def _layer_names(uri: str, options: dict) -> list[str]:
    """The names of the file's layers; of GML read one by one with the open options (``list_layers``
    takes none, and would leave a .gfs file)."""
    if options.get("WRITE_GFS") != "NO":
        return [str(name) for name, _ in pyogrio.list_layers(uri)]
    names = []
    while True:
        try:
            names.append(str(pyogrio.read_info(uri, layer=len(names), **options)["layer_name"]))
        except DataLayerError:
            return names


def _choose_layer(
    path: Path, uri: str, layer: str | None, sheet: str | None, spreadsheet: bool, reading: Reading, options: dict
) -> str | None:
    """The layer to read: the one asked for (a workbook's sheet by ``sheet`` or ``layer``), the only
    one, or of a workbook's sheets the only one with coordinates or outlines (noted)."""
    names = _layer_names(uri, options)
    what, option_name = ("sheet", "sheet") if spreadsheet else ("layer", "layer")
    if sheet is not None and not spreadsheet:
        raise InvalidOption(message("import.sheet_not_spreadsheet", file=path.name), field="sheet")
    if sheet is not None and layer is not None and sheet != layer:
        raise InvalidOption(message("import.sheet_and_layer"), field="sheet")
    wanted = sheet if sheet is not None else layer
    if wanted is not None:
        if wanted in names:
            return wanted
        alike = [n for n in names if normalise(n) == normalise(wanted)]
        if len(alike) == 1:
            return alike[0]
        said = message(f"import.no_such_{what}", file=path.name, wanted=wanted, names=listed(names, quote=True))
        raise SourceError(said, "sheet" if sheet is not None else "layer")
    if len(names) <= 1:
        return names[0] if names and spreadsheet else None
    if spreadsheet:
        with_geometry = [n for n in names if _has_geometry(_sample(path, uri, n, None, options))]
        if len(with_geometry) == 1:
            names_listed = listed(names, quote=True)
            reading.notes.append(
                kept(message("import.sheet_chosen", file=path.name, names=names_listed, sheet=with_geometry[0]))
            )
            return with_geometry[0]
    raise SourceError(message(f"import.several_{what}s", file=path.name, names=listed(names, quote=True)), option_name)


def _sample(path: Path, uri: str, layer: str | None, encoding: str | None, options: dict) -> pd.DataFrame:
    """The first rows of a table, as text and numbers (to find its geometry columns)."""
    try:
        frame = pyogrio.read_dataframe(
            uri, layer=layer, encoding=encoding, max_features=SAMPLE_ROWS, read_geometry=False, **options
        )
    except (DataSourceError, DataLayerError) as exc:
        raise SourceError(message("import.unreadable", file=path.name, reason=_gdal_message(exc, path, uri))) from None
    except UnicodeError as exc:
        raise _undecodable(path, encoding, exc) from None
    return pd.DataFrame(frame)


# -- geometry columns of a table ---------------------------------------------------------------------------
def _name_key(column: str) -> str:
    """A column's name without unit and CRS words, as the lists above have it: 'X-Koordinate (UTM32)' -> 'x'."""
    return "".join(word for word in normalise(column).split("_") if word not in _NAME_NOISE)


def _has_geometry(sample: pd.DataFrame) -> bool:
    columns = [str(c) for c in sample.columns]
    return bool(_wkt_columns(columns, sample) or _xy_columns(columns, sample))


@dataclass
class _WKTColumn:
    name: str
    named: bool  # by its name, else found by its content
    parsed: float  # share of the sampled values that are WKT
    polygonal: float  # share of them that are (multi)polygons
    srids: set[int]


def _wkt_columns(columns: list[str], sample: pd.DataFrame) -> list[_WKTColumn]:
    """Columns named like WKT, and columns most of whose sampled values are WKT, best first."""
    found = []
    for column in columns:
        named = _name_key(column) in WKT_COLUMNS
        values = sample[column] if column in sample else pd.Series(dtype=object)
        if not named and pd.api.types.is_numeric_dtype(values):
            continue
        text = values.astype("string").dropna().str.strip()
        text = text[text != ""]
        srids = {int(srid) for srid in text.str.extract(_EWKT_SRID, expand=False).dropna()}
        geoms = shapely.from_wkt(
            text.str.replace(_EWKT_SRID, "", regex=True).to_numpy(dtype=object), on_invalid="ignore"
        )
        parsed = ~pd.isna(geoms)
        share = parsed.mean() if len(text) else 0.0
        if not named and share < 0.5:
            continue
        types = shapely.get_type_id(geoms[parsed])
        polygonal = np.isin(types, (3, 6)).mean() if parsed.any() else 0.0
        found.append(_WKTColumn(column, named, share, polygonal, srids))
    return sorted(found, key=lambda c: (c.polygonal < 0.5, c.parsed == 0, not c.named))


def _xy_columns(columns: list[str], sample: pd.DataFrame) -> tuple[str, str] | None:
    """The first pair of x/y columns (by name) whose sampled values are mostly numbers."""
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(_name_key(column), column)
    for x, y in XY_COLUMNS:
        if x in by_key and y in by_key:
            pair = by_key[x], by_key[y]
            if all(_mostly_numbers(sample[c]) for c in pair if c in sample):
                return pair
    return None


def _mostly_numbers(values: pd.Series) -> bool:
    filled = values.astype("string").str.strip()
    filled = filled[filled.notna() & (filled != "")]
    return not len(filled) or np.mean(~np.isnan(_numbers(filled))) >= 0.5


def _given_column(columns: list[str], given: str, name: str) -> str:
    """A column named by an option: as written, or the one column whose name differs only in case or umlauts."""
    if given in columns:
        return given
    alike = [c for c in columns if normalise(c) == normalise(given)]
    if len(alike) == 1:
        return alike[0]
    said = message("import.no_such_column", column=given, option=option(name), columns=listed(columns, 40))
    raise SourceError(said, name)


def _find_geometry(
    source: Source, sample: pd.DataFrame, wkt_column: str | None, x_column: str | None, y_column: str | None
) -> None:
    """Set the table's geometry columns: those given, else an outline (WKT polygons) before points."""
    columns, name = source.columns, source.path.name
    if wkt_column and (x_column or y_column):
        raise InvalidOption(message("import.wkt_or_xy"), field="wkt_column")
    if bool(x_column) != bool(y_column):
        raise InvalidOption(message("import.x_and_y"), field="x_column" if not x_column else "y_column")
    notes = source.reading.notes
    if wkt_column:
        source.wkt_column = _given_column(columns, wkt_column, "wkt_column")
    elif x_column:
        source.xy_columns = (_given_column(columns, x_column, "x_column"), _given_column(columns, y_column, "y_column"))
    else:
        wkt = _wkt_columns(columns, sample)
        xy = _xy_columns(columns, sample)
        best = wkt[0] if wkt else None
        if best and (best.polygonal >= 0.5 or not xy):
            source.wkt_column = best.name
            if not best.named:
                notes.append(kept(message("import.wkt_found", column=best.name)))
            if xy and best.polygonal >= 0.5:
                source.unused = list(xy)
                notes.append(kept(message("import.outlines_and_points", column=best.name, x=xy[0], y=xy[1])))
        elif xy:
            source.xy_columns = xy
        else:
            raise SourceError(message("import.no_geometry_found", file=name, columns=listed(columns, 40)))
    if source.wkt_column:
        srids = sorted(set().union(*(c.srids for c in _wkt_columns([source.wkt_column], sample))))
        if len(srids) > 1:
            srids_listed = f"SRID={', SRID='.join(map(str, srids))}"
            raise SourceError(
                message("import.several_srids", file=name, column=source.wkt_column, srids=srids_listed), "crs"
            )
        source.srid = srids[0] if srids else None
        if source.srid is not None and source.crs is None:
            try:
                source.crs = CRS.from_epsg(source.srid)
            except CRSError:
                raise SourceError(message("import.unknown_srid", file=name, srid=str(source.srid)), "crs") from None
            notes.append(kept(message("import.crs_from_srid", srid=str(source.srid))))
    source.columns = [c for c in columns if c not in source.geometry_columns and c not in source.unused]
    source.reading.geometry_columns = source.geometry_columns
    source.sample = _sample_geometries(source, sample)


def _sample_geometries(source: Source, sample: pd.DataFrame) -> np.ndarray:
    if source.wkt_column:
        text = _wkt_text(sample[source.wkt_column], source.srid)
        return shapely.from_wkt(np.where(text == "", None, text), on_invalid="ignore")
    x_col, y_col = source.xy_columns
    x, y = _numbers(sample[x_col]), _numbers(sample[y_col])
    keep = ~(np.isnan(x) | np.isnan(y))
    return shapely.points(x[keep], y[keep])


# -- opening a file --------------------------------------------------------------------------------------
def open_source(
    path: Path,
    layer: str | None = None,
    encoding: str | None = None,
    wkt_column: str | None = None,
    x_column: str | None = None,
    y_column: str | None = None,
    sheet: str | None = None,
) -> Source:
    """Open a file (or one layer or sheet of it) and find its columns, CRS and geometry."""
    path = Path(path)
    if not path.exists():
        raise SourceError(message("import.no_such_file", file=str(path)))  # only the command line names one
    if path.stat().st_size == 0:
        raise SourceError(message("import.empty_file", file=path.name))
    reading = Reading()
    content = _content(path)
    uri = _uri(path, content, reading)
    spreadsheet = content in ("xlsx", "ods")
    options: dict = {"HEADERS": "FORCE"} if spreadsheet else {}
    if path.suffix.lower() in (".gml", ".xml"):
        options.update(_GML_OPTIONS)
    text = _text_table(path, uri, encoding, reading) if content == "csv" else None
    if text is not None:
        uri, encoding = text.uri, text.encoding
        if text.separator:
            options["SEPARATOR"] = text.separator
    try:
        layer = _choose_layer(path, uri, layer, sheet, spreadsheet, reading, options)
        info = pyogrio.read_info(uri, layer=layer, encoding=encoding, **options)
    except (DataSourceError, DataLayerError) as exc:
        said = message("import.unreadable_geodata", file=path.name, reason=_gdal_message(exc, path, uri))
        raise SourceError(said) from None
    except UnicodeError as exc:  # UnicodeDecodeError, or a UTF-16 file without its byte order mark
        raise _undecodable(path, encoding, exc) from None
    columns = [str(c) for c in info["fields"]]
    is_table = content in ("csv", "xlsx", "ods") or info.get("geometry_type") is None
    reading.format = info.get("driver")
    try:
        crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
        if crs is None and is_table and path.with_suffix(".prj").exists():  # as landreg's CSV exports carry it
            crs = CRS.from_wkt(path.with_suffix(".prj").read_text(errors="replace"))
    except CRSError:
        raise SourceError(message("import.crs_unreadable", file=path.name), "crs") from None
    reading.crs_assumed = not is_table and geojson_assumed(path, reading.format)
    source = Source(path, uri, layer, columns, crs, info.get("features"), is_table, encoding)
    source.reading, source.open_options = reading, options
    source.workdir = text.workdir if text is not None else None
    if is_table:
        _find_geometry(source, _sample(path, uri, layer, encoding, options), wkt_column, x_column, y_column)
    elif wkt_column or x_column or y_column:
        given = "wkt_column" if wkt_column else "x_column" if x_column else "y_column"
        said = message("import.own_geometry", file=path.name, format=reading.format, given=option(given))
        raise InvalidOption(said, field=given)
    if source.feature_count == 0:
        raise SourceError(message("import.no_features", file=path.name))
    return source
