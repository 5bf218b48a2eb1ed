"""A second, independent parcel dataset for the benchmarks: Voronoi cells over the RVR's bounding box.

:mod:`generate` tessellates each municipality on its own (cells clipped to its boundary, denser in
the big towns' centres, one attribute mix). This one is made differently, so that a result that
holds on both is not an artefact of one generator: seeded random points over the whole region's
bounding box in EPSG:25832 (half spread evenly, half in a few hundred clusters of random width:
cells from a few hundred square metres to several hectares), one Voronoi diagram for all of them,
cells **not** clipped to municipalities (a cell on a border crosses it and belongs, by landreg's
rule, to the municipality with the larger share), kept where their point lies in the RVR. Its
attributes come from the code lists of :mod:`landreg.vocab` in another mix, with fields left empty
as real deliveries leave them (only ``local_ref`` and ``category`` are always given), in German
string codes where the first generator writes numbers. Reproducible and cached in ``bench/cache/``.

    python bench/generate_cells.py 1000000        # prints the path of the GeoPackage
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from landreg import STORAGE_SRID, vocab  # noqa: E402
from landreg.geodata import read_rvr_municipalities  # noqa: E402

CACHE = ROOT / "bench" / "cache"
CLUSTERS = 400
#: Attribute mix: (code list, probabilities in the order of its codes, share left empty).
MIX = {
    "category": (vocab.CATEGORY, [0.35, 0.15, 0.30, 0.20], 0.0),  # brachflaeche, bauluecke, gewerbe, industrie
    "status": (vocab.STATUS, [0.15, 0.45, 0.15, 0.10, 0.10, 0.05], 0.05),
    "designation": (vocab.DESIGNATION, None, 0.30),
    "planning_status": (vocab.PLANNING_STATUS, [0.35, 0.10, 0.25, 0.20, 0.10], 0.40),
    "contamination": (vocab.CONTAMINATION, [0.40, 0.20, 0.15, 0.25], 0.25),
    "availability": (vocab.AVAILABILITY, [0.35, 0.30, 0.20, 0.15], 0.20),
    "ownership": (vocab.OWNERSHIP, [0.50, 0.30, 0.20], 0.30),
    "owner_willing": (vocab.OWNER_WILLING, [0.40, 0.20, 0.40], 0.50),
    "servicing": (vocab.SERVICING, [0.45, 0.35, 0.20], 0.15),
    "restriction_class": (vocab.RESTRICTION_CLASS, [0.6, 0.25, 0.15], 0.10),
}
MIN_AREA_M2 = 50.0
#: Larger cells (only at small sizes, at the box's edge) are left out: landreg refuses parcels over 2,000 ha; 200 ha is far from it.
MAX_AREA_M2 = 2_000_000.0


def _points(rng: np.random.Generator, bounds: tuple[float, float, float, float], m: int) -> np.ndarray:
    """m points in ``bounds``: half even, half in CLUSTERS Gaussian clusters (width 300 m to 3 km,
    lognormal weights), so that cell sizes spread over two orders of magnitude."""
    minx, miny, maxx, maxy = bounds
    even = m // 2
    x = [rng.uniform(minx, maxx, even)]
    y = [rng.uniform(miny, maxy, even)]
    centres = np.column_stack([rng.uniform(minx, maxx, CLUSTERS), rng.uniform(miny, maxy, CLUSTERS)])
    sigma = np.exp(rng.uniform(np.log(300), np.log(3000), CLUSTERS))
    weight = rng.lognormal(0, 1, CLUSTERS)
    counts = rng.multinomial(m - even, weight / weight.sum())
    for (cx, cy), s, k in zip(centres, sigma, counts):
        x.append(rng.normal(cx, s, k))
        y.append(rng.normal(cy, s, k))
    x, y = np.concatenate(x), np.concatenate(y)
    inside = (x > minx) & (x < maxx) & (y > miny) & (y < maxy)
    points = np.column_stack([x[inside], y[inside]]).round(2)
    return np.unique(points, axis=0)  # Voronoi needs distinct points


def _attributes(rng: np.random.Generator, n: int) -> dict:
    out: dict = {"local_ref": [f"Z-{i:07d}" for i in range(n)]}
    for name, (codes, p, empty) in MIX.items():
        values = rng.choice(np.array(codes.codes, dtype=object), n, p=p)
        values[rng.random(n) < empty] = None
        out[name] = values
    out["publication_allowed"] = rng.random(n) < 0.75
    names = np.array([f"Zelle {i}" for i in range(n)], dtype=object)
    names[rng.random(n) < 0.6] = None
    out["name"] = names
    return out


def generate_cells(n: int, seed: int = 2) -> Path:
    """The cached GeoPackage with about ``n`` cells (generated on first use)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"cells_{n}_{seed}.gpkg"
    if path.exists():
        return path
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    region = shapely.union_all(read_rvr_municipalities().to_crs(STORAGE_SRID).geometry.to_numpy())
    shapely.prepare(region)
    bounds = region.bounds
    box = shapely.box(*bounds)
    # cells are kept where their point lies in the region: draw as many more as the box is larger
    # (and a little more for the cells too small to be parcels)
    points = _points(rng, bounds, int(1.06 * n * box.area / region.area))
    # one diagram of every point (so that no cell on the region's edge grows into the empty box)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=box, ordered=True))
    cells = shapely.set_precision(cells[shapely.contains_xy(region, points[:, 0], points[:, 1])], 0.01)
    area = shapely.area(cells)
    cells = cells[(shapely.get_type_id(cells) == 3) & (area >= MIN_AREA_M2) & (area <= MAX_AREA_M2)]
    cells = cells[rng.permutation(len(cells))[:n]]  # n of them, from everywhere
    frame = gpd.GeoDataFrame(_attributes(rng, len(cells)), geometry=cells, crs=STORAGE_SRID)
    tmp = path.with_suffix(".partial.gpkg")
    tmp.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, tmp, layer="cells", promote_to_multi=True)
    tmp.rename(path)
    print(f"generated {len(frame):,} cells in {time.perf_counter() - started:.0f} s: {path}", file=sys.stderr)
    return path


if __name__ == "__main__":
    print(generate_cells(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
