"""The real geodata bundled in ``data/geo`` (sources and licences in ``data/geo/README.md``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from landreg import STORAGE_SRID

GEO_DIR = Path(__file__).resolve().parent.parent / "data" / "geo"


@dataclass(frozen=True)
class Source:
    path: Path
    attribution: str
    data_date: dt.date | None = None


MUNICIPALITIES = Source(
    GEO_DIR / "nrw_gemeinden_dvg2" / "dvg2gem_nw.shp",
    "© GeoBasis NRW, DVG2 Gemeinden, dl-de/zero-2-0",
    dt.date(2022, 3, 8),
)
DISTRICTS = Source(
    GEO_DIR / "nrw_gemeinden_dvg2" / "dvg2krs_nw.shp",
    "© GeoBasis NRW, DVG2 Kreise, dl-de/zero-2-0",
    dt.date(2022, 3, 8),
)
RVR_MUNICIPALITIES = Source(
    GEO_DIR / "rvr_gemeinden_dvg2_25832.gpkg",
    "© GeoBasis NRW, DVG2 Gemeinden (RVR), dl-de/zero-2-0",
    dt.date(2022, 3, 8),
)
RAIL_STATIONS = Source(
    GEO_DIR / "rvr_db_stations_4326.geojson",
    "DB Station&Service AG, Stationsdaten, CC BY 4.0",
)
TRANSIT_STOPS = Source(
    GEO_DIR / "rvr_hafas_stops_4326.gpkg",
    # no ";" in attributions: GDAL takes a GeoJSON string with one for a list of data sources
    "DB InfraGO AG, HAFAS-Haltestellen, CC BY 4.0 / © OpenStreetMap contributors, ODbL",
)


def read_nrw_municipalities() -> gpd.GeoDataFrame:
    """All 396 NRW municipalities with AGS, name, district and RVR membership, EPSG:25832."""
    gem = gpd.read_file(MUNICIPALITIES.path).to_crs(STORAGE_SRID)
    krs = pd.DataFrame(gpd.read_file(DISTRICTS.path, ignore_geometry=True))
    rvr = set(gpd.read_file(RVR_MUNICIPALITIES.path, ignore_geometry=True)["KN"])
    out = gpd.GeoDataFrame(
        {
            "ags": gem["KN"],
            "name": gem["GN"],
            "district_ags": gem["KN"].str[:5],
            "region": gem["KN"].map(lambda ags: "RVR" if ags in rvr else None),
        },
        geometry=gem.geometry,
        crs=STORAGE_SRID,
    )
    names = dict(zip(krs["KN"].str[:5], krs["GN"]))  # district keys come as 05958000
    out["district_name"] = out["district_ags"].map(names)
    return out.dissolve(by="ags", as_index=False, aggfunc="first")


def read_rvr_municipalities() -> gpd.GeoDataFrame:
    """The 53 municipalities of the Regionalverband Ruhr: ``ags``, ``name``, geometry (EPSG:25832)."""
    gdf = gpd.read_file(RVR_MUNICIPALITIES.path).to_crs(STORAGE_SRID)
    return gpd.GeoDataFrame({"ags": gdf["KN"], "name": gdf["GN"]}, geometry=gdf.geometry, crs=STORAGE_SRID)


def read_rail_stations() -> gpd.GeoDataFrame:
    return gpd.read_file(RAIL_STATIONS.path).to_crs(STORAGE_SRID)


def read_transit_stops() -> gpd.GeoDataFrame:
    return gpd.read_file(TRANSIT_STOPS.path).to_crs(STORAGE_SRID)
