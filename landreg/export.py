"""Exporting a selection of parcels to GeoPackage, GeoJSON, CSV, Shapefile or FlatGeobuf.

Exports round-trip: ``landreg import`` of an export changes nothing. Shapefile field names are
limited to 10 characters, so a Shapefile gets the short names below (which the importer
recognises); a CSV carries its geometry as WKT and its CRS in a ``.prj`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy import Connection, text

from landreg import STORAGE_SRID
from landreg.models import PARCEL_ATTRIBUTES

DRIVERS = {
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".csv": "CSV",
    ".shp": "ESRI Shapefile",
    ".fgb": "FlatGeobuf",
}
CONFIDENTIAL = ("owner_contact", "internal_notes")
COLUMNS = ("id", "ags", *PARCEL_ATTRIBUTES, "area_m2", "version")
SHAPEFILE_NAMES = {
    "designation": "designat",
    "planning_status": "plan_stat",
    "previous_use": "prev_use",
    "contamination": "contamin",
    "restriction_class": "restr_cls",
    "availability": "avail",
    "owner_willing": "owner_wil",
    "owner_contact": "owner_cont",
    "internal_notes": "int_notes",
    "publication_allowed": "pub_allow",
    "abstand_class": "abstand_kl",
}


_APPENDABLE = {"GPKG", "ESRI Shapefile", "CSV"}


class ExportError(ValueError):
    pass


@dataclass
class Selection:
    municipality: str | None = None
    category: str | None = None
    status: str | None = None
    include_retired: bool = False
    confidential: bool = True  # False: the public view (no owner contact, no internal notes)


def export_parcels(
    conn: Connection, target: Path, selection: Selection, srid: int = STORAGE_SRID, chunk: int = 50_000
) -> int:
    """Write the selected parcels to ``target`` (format by suffix); returns how many."""
    target = Path(target)
    driver = DRIVERS.get(target.suffix.lower())
    if driver is None:
        raise ExportError(f"unknown export format {target.suffix!r}; use one of {', '.join(DRIVERS)}")
    columns = [c for c in COLUMNS if selection.confidential or c not in CONFIDENTIAL]
    result = conn.execute(
        text(f"""
        SELECT {", ".join(columns)}, ST_AsBinary(ST_Transform(geom, :srid)) AS wkb
          FROM parcel
         WHERE (CAST(:ags AS text) IS NULL OR ags = :ags)
           AND (CAST(:category AS text) IS NULL OR category = :category)
           AND (CAST(:status AS text) IS NULL OR status = :status)
           AND (:include_retired OR retired_at IS NULL)
         ORDER BY ags, local_ref
    """),
        {
            "srid": srid,
            "ags": selection.municipality,
            "category": selection.category,
            "status": selection.status,
            "include_retired": selection.include_retired,
        },
        execution_options={"yield_per": chunk},
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg") if driver == "ESRI Shapefile" else ("", ".prj"):
        target.with_suffix(suffix if suffix else target.suffix).unlink(missing_ok=True)
    frames = (_frame(rows, srid) for rows in result.partitions())
    if driver not in _APPENDABLE:  # these formats cannot be appended to: written in one go
        collected = list(frames)
        frames = iter([pd.concat(collected, ignore_index=True)] if collected else [])
    written = 0
    for frame in frames:
        _write(frame, target, driver, append=written > 0)
        written += len(frame)
    if written == 0:
        _write(gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=srid), target, driver, append=False)
    if driver == "CSV":
        target.with_suffix(".prj").write_text(CRS.from_epsg(srid).to_wkt("WKT1_ESRI"))
    return written


def _frame(rows, srid: int) -> gpd.GeoDataFrame:
    frame = pd.DataFrame([dict(r._mapping) for r in rows])
    frame["id"] = frame["id"].astype(str)
    return gpd.GeoDataFrame(frame.drop(columns="wkb"), geometry=shapely.from_wkb(frame["wkb"]), crs=srid)


def _write(frame: gpd.GeoDataFrame, target: Path, driver: str, append: bool) -> None:
    options: dict = {}
    if driver == "ESRI Shapefile":
        frame = frame.rename(columns=SHAPEFILE_NAMES)
        options = {"encoding": "UTF-8"}
    elif driver == "CSV":
        options = {"layer_options": {"GEOMETRY": "AS_WKT"}}
    elif driver == "GeoJSON" and frame.crs and frame.crs.to_epsg() != 4326:
        options = {"layer_options": {"WRITE_NAME": "NO"}}
    pyogrio.write_dataframe(frame, target, driver=driver, append=append, promote_to_multi=True, **options)
