"""Writes flurstuecke_vereinfacht.zip: three made-up Flurstücke in Essen in the layout of the AdV
product "ALKIS vereinfacht" (Flurstück), as NRW publishes it as open data: a zipped Shapefile in
EPSG:25832 with the product's columns in upper case. FLAECHE is the amtliche Fläche in m², GMDSCHL
the 8-digit AGS, GEMASCHL Land and Gemarkung. FLAECHE_NR is no ALKIS column: a planner's, naming
the parcel each Flurstück belongs to (``--group-by FLAECHE_NR``).

    .venv/bin/python tests/data/alkis/make_vereinfacht.py
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import shapely

HERE = Path(__file__).parent
COMMON = {
    "LAND": "Nordrhein-Westfalen", "LANDSCHL": "05", "GEMARKUNG": "Testgemarkung", "GEMASCHL": "053501",
    "FLUR": "003", "FLURSCHL": "053501003", "REGBEZIRK": "Düsseldorf", "REGBEZSCHL": "051",
    "KREIS": "Essen", "KREISSCHL": "05113", "GEMEINDE": "Essen", "GMDSCHL": "05113000", "ABWRECHT": "nein",
    "AKTUALIT": "2026-11-01",
}  # fmt: skip
ROWS = [
    # Kennzeichen, Zähler, Nenner, amtliche Fläche, Lage, the planner's parcel, outline
    ("05350100300201______", "201", None, 1200, "Teststraße 1", "BF-7", shapely.box(362300, 5700800, 362340, 5700830)),
    ("05350100300202______", "202", None, 1203, "Teststraße 3", "BF-7", shapely.box(362340, 5700800, 362380, 5700830)),
    ("053501003002030001__", "203", "1", 520, "Teststraße 9", "BF-8", shapely.box(362400, 5700800, 362425, 5700820)),
]


def main() -> None:
    frame = gpd.GeoDataFrame(
        [
            COMMON
            | {
                "OID": f"DENWTEST0000V{n:03d}FL",
                "IDFLURST": f"DENWTEST0000V{n:03d}",
                "FLSTKENNZ": key,
                "FLSTNRZAE": zaehler,
                "FLSTNRNEN": nenner,
                "FLAECHE": area,
                "LAGEBEZTXT": lage,
                "TNTXT": f"Industrie- und Gewerbefläche;{area}",
                "FLAECHE_NR": parcel,
            }
            for n, (key, zaehler, nenner, area, lage, parcel, _) in enumerate(ROWS, 1)
        ],
        geometry=[row[-1] for row in ROWS],
        crs=25832,
    )
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / "Flurstueck.shp"
        frame.to_file(shp, driver="ESRI Shapefile", encoding="utf-8")
        with zipfile.ZipFile(HERE / "flurstuecke_vereinfacht.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                archive.write(part, part.name)


if __name__ == "__main__":
    main()
