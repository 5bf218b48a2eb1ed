"""Writing the rejected rows of a keep-valid import to a file the user can fix and import again.

The rows are read again from the source (so memory stays bounded) and written with all their
original columns, their original geometry and CRS, plus ``import_errors`` with the reasons.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio

ERRORS_COLUMN = "import_errors"


def write_rejected(source, reasons: dict[int, list[str]], target: Path, crs) -> None:
    target = Path(target)
    target.unlink(missing_ok=True)
    first = True
    for rows, frame, geoms in source.frames():
        picked = [i for i, row in enumerate(rows) if int(row) in reasons]
        if not picked:
            continue
        out = frame.iloc[picked].copy()
        out.insert(0, "source_row", rows[picked])
        out[ERRORS_COLUMN] = ["; ".join(reasons[int(rows[i])]) for i in picked]
        if source.is_table:
            out.to_csv(target, mode="w" if first else "a", header=first, index=False)
        else:
            gdf = gpd.GeoDataFrame(out, geometry=list(geoms[picked]), crs=crs)
            pyogrio.write_dataframe(
                gdf, target, driver="GPKG", layer="rejected", append=not first, promote_to_multi=False
            )
        first = False
