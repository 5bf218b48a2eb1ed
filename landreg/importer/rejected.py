"""Writing the rejected rows of a keep-valid import to a file the user can fix and import again.

The rows are read again from the source and their reasons streamed from the database in row
order (so memory stays bounded however many rows were rejected), and written with all their
original columns, their original geometry and CRS, plus ``import_errors`` with the reasons.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio

ERRORS_COLUMN = "import_errors"


def write_rejected(source, reasons: Iterator[tuple[int, str]], target: Path, crs) -> int:
    """Every row ``reasons`` names (ascending row numbers, each with its reasons); returns how many."""
    target = Path(target)
    target.unlink(missing_ok=True)
    written = 0
    pending = next(reasons, None)
    for rows, frame, geoms in source.frames():
        first, last = int(rows[0]), int(rows[-1])
        picked, texts = [], []
        while pending is not None and pending[0] <= last:
            if pending[0] >= first:
                picked.append(pending[0] - first)
                texts.append(pending[1])
            pending = next(reasons, None)
        if not picked:
            continue
        out = frame.iloc[picked].copy()
        out.insert(0, "source_row", rows[picked])
        out[ERRORS_COLUMN] = texts
        if source.is_table:
            out.to_csv(target, mode="w" if not written else "a", header=not written, index=False)
        else:
            gdf = gpd.GeoDataFrame(out, geometry=list(geoms[picked]), crs=crs)
            pyogrio.write_dataframe(
                gdf, target, driver="GPKG", layer="rejected", append=bool(written), promote_to_multi=False
            )
        written += len(picked)
    return written
