"""Exporting a selection of parcels to GeoPackage, GeoJSON, CSV, Shapefile or FlatGeobuf.

An export writes what the feature API shows the same view (:func:`landreg.features.source`):
the same rows and the same fields, so ``--public`` is exactly the anonymous API's view. Exports
round-trip: ``landreg import`` of an export changes nothing. Shapefile field names are limited to
10 characters, so a Shapefile gets the registry's short names (which the importer recognises); a
CSV carries its geometry as WKT and its CRS in a ``.prj`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy import Connection, String, cast, func, select

from landreg import STORAGE_SRID, fields
from landreg.access import FULL, View
from landreg.features import COLLECTIONS, source

DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".csv": "CSV",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}
SHAPEFILE_NAMES = {f.name: f.shapefile_name for f in fields.ALL if f.shapefile_name}


_APPENDABLE = {"GPKG", "ESRI Shapefile", "CSV"}


class ExportError(ValueError):
    pass


@dataclass
class Selection:
    municipality: str | None = None
    category: str | None = None
    status: str | None = None
    include_retired: bool = False
    view: View = field(default=FULL)  # access.PUBLIC: what the anonymous API shows


def export_columns(view: View) -> list[str]:
    """The columns of an export for ``view``: ``id`` and the exportable fields it may see."""
    visible = source(COLLECTIONS["parcels"], view).properties
    return ["id", *(name for name in visible if fields.field(name).export)]


def export_parcels(
    conn: Connection,
    target: Path,
    selection: Selection,
    srid: int = STORAGE_SRID,
    chunk: int = 50_000,
    layer_options: dict | None = None,
) -> int:
    """Write the selected parcels to ``target`` (format by suffix); returns how many.
    ``layer_options``: further GDAL layer options (open data: ``RFC7946=YES`` for GeoJSON)."""
    target = Path(target)
    driver = DRIVERS.get(target.suffix.lower())
    if driver is None:
        raise ExportError(f"unknown export format {target.suffix!r}; use one of {', '.join(DRIVERS)}")
    src = source(COLLECTIONS["parcels"], selection.view, include_retired=selection.include_retired)
    p = src.properties
    columns = export_columns(selection.view)
    conditions = [
        p[name] == value
        for name, value in (
            ("ags", selection.municipality),
            ("category", selection.category),
            ("status", selection.status),
        )
        if value is not None
    ]
    query = (
        select(
            cast(src.id_column, String).label("id"),
            *[p[c].label(c) for c in columns[1:]],
            func.ST_AsBinary(func.ST_Transform(src.geometry, srid)).label("wkb"),
        )
        .where(*conditions)
        .order_by(p["ags"], p["local_ref"])
    )
    result = conn.execute(query, execution_options={"yield_per": chunk})
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg") if driver == "ESRI Shapefile" else ("", ".prj"):
        target.with_suffix(suffix if suffix else target.suffix).unlink(missing_ok=True)
    frames = (_frame(rows, srid) for rows in result.partitions())
    if driver not in _APPENDABLE:  # these formats cannot be appended to: written in one go
        collected = list(frames)
        frames = iter([pd.concat(collected, ignore_index=True)] if collected else [])
    written = 0
    for frame in frames:
        _write(frame, target, driver, append=written > 0, extra=layer_options)
        written += len(frame)
    if written == 0:
        empty = gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=srid)
        _write(empty, target, driver, append=False, extra=layer_options)
    if driver == "CSV":
        target.with_suffix(".prj").write_text(CRS.from_epsg(srid).to_wkt("WKT1_ESRI"))
    return written


def _frame(rows, srid: int) -> gpd.GeoDataFrame:
    frame = pd.DataFrame([dict(r._mapping) for r in rows])
    return gpd.GeoDataFrame(frame.drop(columns="wkb"), geometry=shapely.from_wkb(frame["wkb"]), crs=srid)


def _write(frame: gpd.GeoDataFrame, target: Path, driver: str, append: bool, extra: dict | None = None) -> None:
    options: dict = {}
    if driver == "ESRI Shapefile":
        frame = frame.rename(columns=SHAPEFILE_NAMES)
        options = {"encoding": "UTF-8"}
    elif driver == "CSV":
        options = {"layer_options": {"GEOMETRY": "AS_WKT"}}
    elif driver == "GeoJSON" and frame.crs and frame.crs.to_epsg() != 4326:
        options = {"layer_options": {"WRITE_NAME": "NO"}}
    if extra:
        options["layer_options"] = options.get("layer_options", {}) | extra
    pyogrio.write_dataframe(frame, target, driver=driver, append=append, promote_to_multi=True, **options)
