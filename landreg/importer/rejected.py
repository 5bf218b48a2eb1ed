"""Writing the rejected rows of a keep-valid import to a file the user can fix and import again.

The rows are read again from the source (so memory stays bounded) and written with all their
original columns, their original geometry and CRS, plus ``import_errors`` with the reasons.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely

ERRORS_COLUMN = "import_errors"


def write_rejected(source, reasons: dict[int, list[str]], target: Path, crs) -> None:
    target = Path(target)
    target.unlink(missing_ok=True)
    first = True
    start = 1
    with pyogrio.open_arrow(source.uri, layer=source.layer, encoding=source.encoding, use_pyarrow=True,
                            read_geometry=not source.is_table) as (meta, reader):
        geometry_name = meta.get("geometry_name") or "wkb_geometry"
        for record_batch in reader:
            frame = record_batch.to_pandas()
            frame.index = range(start, start + len(frame))
            start += len(frame)
            picked = frame.loc[[r for r in frame.index if r in reasons]]
            if picked.empty:
                continue
            picked[ERRORS_COLUMN] = ["; ".join(reasons[r]) for r in picked.index]
            if source.is_table:
                picked.to_csv(target, mode="w" if first else "a", header=first, index_label="source_row")
            else:
                wkb = picked.pop(geometry_name) if geometry_name in picked else None
                geoms = shapely.from_wkb(wkb.to_numpy(), on_invalid="ignore") if wkb is not None else None
                gdf = gpd.GeoDataFrame(picked.reset_index(names="source_row"), geometry=geoms, crs=crs)
                pyogrio.write_dataframe(gdf, target, driver="GPKG", layer="rejected", append=not first,
                                        promote_to_multi=False)
            first = False
