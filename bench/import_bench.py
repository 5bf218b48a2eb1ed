"""Import benchmark: `landreg import` against `ogr2ogr -f PostgreSQL` (COPY) on the same file and server.

landreg's figure includes everything an import does (mapping, CRS checks, validity repair,
AGS by spatial join, duplicate and plausibility checks, history rows, the import record);
ogr2ogr's is a plain load with a spatial index. Both load the same generated GeoPackage into
fresh databases of the same embedded PostgreSQL, one after the other.

A second ogr2ogr run loads the same file into the registry's own ``parcel`` table, in one
transaction: the same constraints, indexes and trigger as landreg's writes, with the database
deriving each parcel's AGS (ogr2ogr has no validation, duplicate or change detection, no report).
It takes about a minute per 100,000 parcels, so it runs at the smallest size only.

The default ``landreg import`` (with its scoring: in the import's transaction up to 100,000 parcels,
a full rescoring right after it beyond) runs once more into a fresh registry, for the goal of an
import of 1M parcels including its scoring.

The last figure is the floor of any guarded import: the same rows, already in the database,
written with one INSERT … SELECT into an emptied ``parcel`` table (its constraints, indexes,
foreign key and trigger, as the importer writes them), no file read and no client work.

    python bench/import_bench.py                 # 100k, 300k and 1M parcels
    python bench/import_bench.py --sizes 100000  # quick
"""

from __future__ import annotations

import argparse
import sys
import time

import pyogrio
from common import VENV_BIN, BenchDatabase, Report, ensure_apt, markdown_table, run_measured
from generate import generate
from sqlalchemy import create_engine, text

from landreg.importer.rows import PARCEL_FIELDS


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return n


def write_floor(url: str) -> float:
    """Seconds to write the imported parcels again into an emptied parcel table (rolled back)."""
    fields = ", ".join(PARCEL_FIELDS)
    engine = create_engine(url)
    try:
        with engine.connect() as conn, conn.begin() as transaction:
            conn.execute(text(f"CREATE TEMP TABLE prepared AS SELECT ags, {fields}, geom FROM parcel"))
            # CASCADE: and whatever else refers to parcels (review's submission_parcel, enquiries, …);
            # rolled back below
            conn.execute(
                text(
                    "TRUNCATE parcel_indicator, parcel_score, parcel_quality, objection, plan_check_parcel, "
                    "parcel_past_version, parcel CASCADE"
                )
            )
            conn.execute(
                text(
                    "SET LOCAL jit = off; SET LOCAL landreg.locations_checked = 'on'; "
                    "SET LOCAL landreg.public_since_derived = 'on'"
                )
            )
            started = time.perf_counter()
            conn.execute(
                text(f"""
                INSERT INTO parcel (ags, {fields}, geom, created_by, updated_by, public_since)
                SELECT ags, {fields}, geom, 'bench', 'bench', notice.since FROM prepared
                 CROSS JOIN LATERAL parcel_notice_since(ags, category, publication_allowed) notice
                 ORDER BY geom
            """)
            )
            seconds = time.perf_counter() - started
            transaction.rollback()
    finally:
        engine.dispose()
    return seconds


GUARDED_MAX = 100_000


def guarded_peer(db: BenchDatabase, path, n: int, ogr2ogr: str):
    """ogr2ogr appending the file to a fresh registry's parcel table, in one transaction."""
    url = db.fresh("bench_guarded")
    env = {"LANDREG_DATABASE_URL": url}
    run_measured([str(VENV_BIN / "landreg"), "migrate"], env)
    run_measured([str(VENV_BIN / "landreg"), "seed", "--count", "0"], env)
    run = run_measured(
        [
            ogr2ogr,
            "-append",
            "-f",
            "PostgreSQL",
            f"PG:{db.libpq('bench_guarded')}",
            str(path),
            "-nln",
            "parcel",
            "-dialect",
            "SQLite",
            "-sql",
            "SELECT *, 'ogr2ogr' AS created_by, 'ogr2ogr' AS updated_by FROM parcels",
            "-gt",
            "unlimited",
            "--config",
            "PG_USE_COPY",
            "YES",
        ]
    )
    assert _count(url, "parcel") == n, "ogr2ogr lost rows"
    return run


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

    guarded = guarded_peer(db, path, n, ogr2ogr) if n <= GUARDED_MAX else None

    url = db.fresh("bench_landreg")
    env = {"LANDREG_DATABASE_URL": url}
    run_measured([landreg, "migrate"], env)
    run_measured([landreg, "seed", "--count", "0"], env)
    ours = run_measured([landreg, "import", str(path), "--actor", "bench", "--no-score"], env)
    assert _count(url, "parcel") == n, f"landreg imported {_count(url, 'parcel')} of {n}:\n{ours.output}"
    again = run_measured([landreg, "import", str(path), "--actor", "bench", "--no-score"], env)
    assert f"unchanged {n}" in again.output, again.output
    floor = write_floor(url)
    scored = scored_import(db, path, n)

    return (
        ours,
        peer,
        guarded,
        floor,
        scored,
        [
            f"{n:,}",
            f"{ours.seconds:.1f} s ({n / ours.seconds:,.0f}/s)",
            f"{ours.peak_rss_mb:,.0f} MB",
            f"{peer.seconds:.1f} s ({n / peer.seconds:,.0f}/s)",
            f"{peer.peak_rss_mb:,.0f} MB",
            f"{peer.seconds / ours.seconds:.2f}",
            f"{again.seconds:.1f} s",
            f"{guarded.seconds:.1f} s ({guarded.seconds / ours.seconds:.2f})" if guarded else "—",
            f"{floor:.1f} s ({peer.seconds / floor:.2f})",
            f"{scored.seconds:.1f} s",
        ],
    )


#: The goal of issue #19 for the default import of 1M parcels, its scoring included.
SCORED_GOAL_S = {1_000_000: 90}


def scored_import(db: BenchDatabase, path, n: int):
    """The default ``landreg import`` into a fresh registry: with its scoring (in the import's
    transaction up to 100,000 parcels, a full run right after it beyond)."""
    url = db.fresh("bench_scored")
    env = {"LANDREG_DATABASE_URL": url}
    landreg = str(VENV_BIN / "landreg")
    run_measured([landreg, "migrate"], env)
    run_measured([landreg, "seed", "--count", "0"], env)
    scored = run_measured([landreg, "import", str(path), "--actor", "bench"], env)
    assert "scored every current parcel" in scored.output or "with the import" in scored.output, scored.output
    return scored


def run(sizes: list[int]) -> Report:
    ogr2ogr = ensure_apt("ogr2ogr", "gdal-bin")
    db = BenchDatabase()
    rows, summary = [], []
    try:
        for n in sizes:
            ours, peer, guarded, floor, scored, row = bench_size(db, n, ogr2ogr)
            rows.append(row)
            summary.append(
                [
                    f"import {row[0]} parcels (GeoPackage)",
                    row[1],
                    f"ogr2ogr: {row[3]}",
                    f"{peer.seconds / ours.seconds:.2f}",
                ]
            )
            if guarded:
                summary.append(
                    [
                        f"import {row[0]} parcels into the guarded parcel table",
                        row[1],
                        f"ogr2ogr into parcel: {guarded.seconds:.1f} s",
                        f"{guarded.seconds / ours.seconds:.2f}",
                    ]
                )
            summary.append(
                [
                    f"write floor {row[0]} parcels (INSERT into parcel, no file, no client)",
                    f"{floor:.1f} s",
                    f"ogr2ogr: {row[3]}",
                    f"{peer.seconds / floor:.2f}",
                ]
            )
            goal = SCORED_GOAL_S.get(n)
            summary.append(
                [
                    f"import {row[0]} parcels including their scoring (default `landreg import`)",
                    row[9],
                    f"landreg without scoring: {row[1]}",
                    f"{goal / scored.seconds:.2f} (goal < {goal} s)" if goal else "—",
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
            "ogr2ogr into parcel (same guards; its time / landreg's)",
            "write floor: INSERT of the prepared rows into parcel (ogr2ogr time / floor)",
            "landreg import with its scoring (the default)",
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
