"""A state-scale parcel dataset for the benchmarks: N polygons tessellating the 53 RVR municipalities.

Voronoi cells of seeded random points, clipped to the municipal boundaries, denser in the
centres of the larger towns, with realistic attributes. Reproducible (same N and seed, same
file) and cached in ``bench/cache/``.

    python bench/generate.py 1000000        # prints the path of the GeoPackage
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

from landreg import STORAGE_SRID  # noqa: E402
from landreg.geodata import read_rvr_municipalities  # noqa: E402

CACHE = ROOT / "bench" / "cache"

CATEGORIES = np.array(["bauluecke", "brachflaeche", "gewerbeflaeche", "industrieflaeche"])
CATEGORY_P = [0.45, 0.20, 0.22, 0.13]
STATUS = np.array(["potenzial", "verfuegbar", "reserviert", "in_entwicklung", "genutzt", "andere_nutzung"])
STATUS_P = [0.25, 0.40, 0.12, 0.10, 0.10, 0.03]
CONTAMINATION = np.array(["keine_bekannt", "saniert", "untersucht", "verdacht"])
AVAILABILITY = np.array(["kurzfristig", "mittelfristig", "langfristig", "nicht_verfuegbar"])
OWNERSHIP = np.array(["oeffentlich", "privat_einzeln", "privat_mehrere"])
WILLING = np.array(["ja", "nein", "unbekannt"])
SERVICING = np.array(["erschlossen", "teilweise", "unerschlossen"])
DESIGNATION = np.array(["WA", "MI", "GE", "GI", "GIB", "SO"])


def _points(rng, boundary, n: int, dense: bool) -> np.ndarray:
    """n points in the boundary; with ``dense``, half of them clustered around its centre."""
    minx, miny, maxx, maxy = boundary.bounds
    centre = boundary.point_on_surface()
    spread = 0.15 * min(maxx - minx, maxy - miny)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(1000, 2 * (n - have))
        x, y = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
        if dense:
            k = m // 2
            x[:k] = rng.normal(centre.x, spread, k)
            y[:k] = rng.normal(centre.y, spread, k)
        inside = shapely.contains_xy(boundary, x, y)
        pts = np.column_stack([x[inside], y[inside]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def _cells(boundary, points: np.ndarray) -> np.ndarray:
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=boundary.envelope))
    inside = shapely.contains_properly(boundary, cells)
    edge = ~inside
    cells[edge] = shapely.intersection(cells[edge], boundary)
    polygonal = shapely.get_type_id(cells) == 3  # clipping can leave multipolygons or slivers
    cells = cells[(polygonal | (shapely.get_type_id(cells) == 6)) & (shapely.area(cells) > 20)]
    return shapely.set_precision(cells, 0.01)


def _attributes(rng, n: int, ags: str) -> dict:
    category = rng.choice(CATEGORIES, n, p=CATEGORY_P)
    return {
        "local_ref": [f"P{ags[2:5]}-{i:07d}" for i in range(n)],
        "category": category,
        "status": rng.choice(STATUS, n, p=STATUS_P),
        "designation": rng.choice(DESIGNATION, n),
        "contamination": rng.choice(CONTAMINATION, n, p=[0.6, 0.15, 0.1, 0.15]),
        "restriction_class": rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2]),
        "availability": rng.choice(AVAILABILITY, n),
        "ownership": rng.choice(OWNERSHIP, n, p=[0.35, 0.45, 0.2]),
        "owner_willing": rng.choice(WILLING, n, p=[0.55, 0.15, 0.3]),
        "servicing": rng.choice(SERVICING, n, p=[0.6, 0.3, 0.1]),
        "publication_allowed": rng.random(n) < 0.85,
        "name": [f"Benchmarkfläche {ags}-{i}" for i in range(n)],
    }


def generate(n: int, seed: int = 1) -> Path:
    """The cached GeoPackage with ``n`` parcels (generated on first use)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"parcels_{n}_{seed}.gpkg"
    if path.exists():
        return path
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    municipalities = read_rvr_municipalities().sort_values("ags").reset_index(drop=True)
    weight = municipalities.geometry.area.to_numpy() * np.where(municipalities["ags"].str.endswith("000"), 2.5, 1)
    counts = np.floor(n * weight / weight.sum()).astype(int)
    counts[: n - counts.sum()] += 1
    tmp = path.with_suffix(".partial.gpkg")
    tmp.unlink(missing_ok=True)
    written = 0
    for (_, muni), count in zip(municipalities.iterrows(), counts):
        boundary = muni.geometry
        shapely.prepare(boundary)
        cells = _cells(boundary, _points(rng, boundary, int(count), dense=muni["ags"].endswith("000")))
        frame = gpd.GeoDataFrame(_attributes(rng, len(cells), muni["ags"]), geometry=cells, crs=STORAGE_SRID)
        pyogrio.write_dataframe(frame, tmp, layer="parcels", append=written > 0, promote_to_multi=True)
        written += len(frame)
    tmp.rename(path)
    print(f"generated {written:,} parcels in {time.perf_counter() - started:.0f} s: {path}", file=sys.stderr)
    return path


if __name__ == "__main__":
    print(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
