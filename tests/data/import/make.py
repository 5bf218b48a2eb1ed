"""Makes the import fixtures in this folder: municipal files as they come, each a few parcels in
Dortmund (40 m squares east of the Reinoldikirche, EPSG:25832) in one of the forms planners send.

    .venv/bin/python tests/data/import/make.py

Workbooks are written with GDAL's XLSX and ODS drivers (no other spreadsheet library is needed).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2]))
from tests.helpers import DORTMUND_REINOLDIKIRCHE, utm  # noqa: E402

X, Y = utm(*DORTMUND_REINOLDIKIRCHE)
NAMES = ["Lücke Kampstraße", "Zeche Süd", "Gewerbe Ost"]
CATEGORIES = ["Baulücke", "Brachfläche", "Gewerbefläche"]


def square(i: int, size: float = 40) -> shapely.Polygon:
    return shapely.box(X + 100 * i, Y, X + 100 * i + size, Y + size)


def table(**geometry_columns) -> pd.DataFrame:
    frame = pd.DataFrame({"Nr": [f"F-{i + 1}" for i in range(3)], "Bezeichnung": NAMES, "Kategorie": CATEGORIES})
    for name, values in geometry_columns.items():
        frame[name] = values
    return frame


def wkt() -> list[str]:
    return [square(i).wkt for i in range(3)]


def write_workbook(target: Path, sheets: dict[str, pd.DataFrame], driver: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"book.{driver.lower()}"
        for i, (name, frame) in enumerate(sheets.items()):
            pyogrio.write_dataframe(frame, path, driver=driver, layer=name, append=i > 0)
        shutil.copy(path, target)


def main() -> None:
    # an Excel workbook saved under .csv: outlines in a column "Location", a legend sheet beside
    legend = pd.DataFrame({"Kategorie": CATEGORIES, "Erklärung": ["Baulücke", "Brache", "Gewerbe"]})
    write_workbook(HERE / "flaechen-excel.csv", {"Legende": legend, "Flächen": table(Location=wkt())}, "XLSX")
    # a workbook with two sheets of parcels: which one is not for the importer to guess
    write_workbook(
        HERE / "flaechen.ods", {"Stand 2024": table(WKT=wkt()).iloc[:2], "Stand 2025": table(WKT=wkt())}, "ODS"
    )
    # CSV as Windows Excel writes it: semicolons, Windows-1252, decimal commas
    points = table(Rechtswert=[f"{X + 100 * i:.1f}".replace(".", ",") for i in range(3)],
                   Hochwert=[f"{Y:.1f}".replace(".", ",") for _ in range(3)], Umriss=wkt())  # fmt: skip
    points.to_csv(HERE / "excel-cp1252.csv", sep=";", index=False, encoding="cp1252")
    # Excel's "Unicode text": UTF-16 with byte order mark, tab-separated, named .txt
    table(WKT=wkt()).to_csv(HERE / "unicode-text.txt", sep="\t", index=False, encoding="utf-16")
    # Excel's "sep=" line before the header
    body = table(WKT=wkt()).to_csv(sep="|", index=False)
    (HERE / "sep-line.csv").write_text("sep=|\n" + body, encoding="utf-8")
    # coordinates only: GeoX/GeoY points (a parcel needs its outline)
    table(GeoX=[X + 100 * i for i in range(3)], GeoY=[Y] * 3).to_csv(HERE / "geox-geoy.csv", index=False)
    # points and outlines: Easting/Northing beside a WKT column under another name
    table(Easting=[X + 100 * i for i in range(3)], Northing=[Y] * 3, Location=wkt()).to_csv(
        HERE / "easting-northing-location.csv", index=False
    )
    # PostGIS's EWKT: the CRS in the value
    table(geom=[f"SRID=25832;{w}" for w in wkt()]).to_csv(HERE / "ewkt.csv", index=False)
    # GeoJSON in metres without a "crs" member (RFC 7946 says degrees)
    features = [
        {"type": "Feature", "properties": {"Nr": f"F-{i + 1}", "Kategorie": CATEGORIES[i]},
         "geometry": shapely.geometry.mapping(square(i))}
        for i in range(3)
    ]  # fmt: skip
    document = {"type": "FeatureCollection", "name": "flaechen", "features": features}
    (HERE / "metres-without-crs.geojson").write_text(json.dumps(document), encoding="utf-8")
    # the same with a "crs" member that says EPSG:4326 (the file's word, wrong)
    named = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4326"}}
    (HERE / "metres-crs-4326.geojson").write_text(json.dumps(document | {"crs": named}), encoding="utf-8")
    # an AGS column that is wrong (Essen's) for parcels in Dortmund
    table(AGS=["05113000"] * 3, WKT=wkt()).to_csv(HERE / "falsche-ags.csv", index=False)
    # GML, as the command line has always read it
    gml = table(WKT=wkt())
    gpd.GeoDataFrame(gml.drop(columns="WKT"), geometry=shapely.from_wkt(gml["WKT"]), crs=25832).to_file(
        HERE / "flaechen.gml", driver="GML", XSISCHEMA="OFF"
    )
    # an Excel 97-2003 workbook (only its signature matters)
    (HERE / "alt.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))


if __name__ == "__main__":
    main()
