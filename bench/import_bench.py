"""Import benchmark: `landreg import` against `ogr2ogr -f PostgreSQL` (COPY) on the same file and server.

landreg's figure includes everything an import does (mapping, CRS checks, validity repair,
AGS by spatial join, duplicate and plausibility checks, history rows, the import record);
ogr2ogr's is a plain load with a spatial index. Both load the same generated GeoPackage into
fresh databases of the same embedded PostgreSQL, one after the other.

    python bench/import_bench.py                 # 100k, 300k and 1M parcels
    python bench/import_bench.py --sizes 100000  # quick
"""

from __future__ import annotations

import argparse
import sys

import pyogrio
from common import VENV_BIN, BenchDatabase, Report, ensure_apt, markdown_table, run_measured
from generate import generate
from sqlalchemy import create_engine, text


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return n


def bench_size(db: BenchDatabase, n: int, ogr2ogr: str) -> list:
    path = generate(n)
    n = pyogrio.read_info(path)["features"]  # a few slivers of the tessellation are dropped
    landreg = str(VENV_BIN / "landreg")

    url = db.fresh("bench_ogr")
    peer = run_measured(
        [
            ogr2ogr,
            "-f",
            "PostgreSQL",
            f"PG:{db.libpq('bench_ogr')}",
            str(path),
            "-nln",
            "parcels",
            "-nlt",
            "MULTIPOLYGON",
            "-lco",
            "GEOMETRY_NAME=geom",
            "-lco",
            "SPATIAL_INDEX=GIST",
            "--config",
            "PG_USE_COPY",
            "YES",
        ]
    )
    assert _count(url, "parcels") == n, "ogr2ogr lost rows"

    url = db.fresh("bench_landreg")
    env = {"LANDREG_DATABASE_URL": url}
    run_measured([landreg, "migrate"], env)
    run_measured([landreg, "seed", "--count", "0"], env)
    ours = run_measured([landreg, "import", str(path), "--actor", "bench", "--no-score"], env)
    assert _count(url, "parcel") == n, f"landreg imported {_count(url, 'parcel')} of {n}:\n{ours.output}"
    again = run_measured([landreg, "import", str(path), "--actor", "bench", "--no-score"], env)
    assert f"unchanged {n}" in again.output, again.output

    return (
        ours,
        peer,
        [
            f"{n:,}",
            f"{ours.seconds:.1f} s ({n / ours.seconds:,.0f}/s)",
            f"{ours.peak_rss_mb:,.0f} MB",
            f"{peer.seconds:.1f} s ({n / peer.seconds:,.0f}/s)",
            f"{peer.peak_rss_mb:,.0f} MB",
            f"{peer.seconds / ours.seconds:.2f}",
            f"{again.seconds:.1f} s",
        ],
    )


def run(sizes: list[int]) -> Report:
    ogr2ogr = ensure_apt("ogr2ogr", "gdal-bin")
    db = BenchDatabase()
    rows, summary = [], []
    try:
        for n in sizes:
            ours, peer, row = bench_size(db, n, ogr2ogr)
            rows.append(row)
            summary.append(
                [
                    f"import {row[0]} parcels (GeoPackage)",
                    row[1],
                    f"ogr2ogr: {row[3]}",
                    f"{peer.seconds / ours.seconds:.2f}",
                ]
            )
            summary.append(
                [
                    f"peak memory, import {row[0]}",
                    row[2],
                    f"ogr2ogr: {row[4]}",
                    f"{peer.peak_rss_mb / ours.peak_rss_mb:.2f}",
                ]
            )
    finally:
        db.close()
    table = markdown_table(
        [
            "parcels",
            "landreg import",
            "landreg peak RSS",
            "ogr2ogr (COPY)",
            "ogr2ogr peak RSS",
            "ratio (ogr2ogr time / landreg time, >1: landreg faster)",
            "landreg re-import (all unchanged)",
        ],
        rows,
    )
    return Report(
        "Import benchmark", f"python bench/import_bench.py --sizes {' '.join(map(str, sizes))}", table, summary
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    report = run(parser.parse_args().sizes)
    print(report.table)
    print(f"written to {report.save('import')}", file=sys.stderr)


if __name__ == "__main__":
    main()
