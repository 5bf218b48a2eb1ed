"""Second-table benchmark: landreg against tipg on two independent parcel tables, same run, same method.

The other benchmarks measure one table, made by :mod:`generate` (cells clipped to the
municipalities). A result that held only there could be an artefact of that generator, so this one
also loads a second register made differently (:mod:`generate_cells`: Voronoi cells over the
region's bounding box, not clipped to municipalities, another size distribution and attribute mix,
empty fields), through landreg's own import like the first, and measures both tables with the same
requests: items in a bbox (limit 100) and single features with 1 and 8 clients (as ``api_bench``),
tiles at z13, z16 and z10 (as ``maps_bench``: landreg's HTTP round trip and its Server-Timing,
tipg's round trip; landreg's tile cache off, so every tile is generated). Ratios are against tipg
serving the same table in the same run.

    python bench/cells_bench.py --size 100000
"""

from __future__ import annotations

import argparse
import sys

import httpx
from api_bench import _tipg_python, compare
from common import (
    ROOT,
    VENV_BIN,
    BenchDatabase,
    Report,
    free_port,
    load_parcels,
    markdown_table,
    start_server,
    stats,
    stop_servers,
    vacuum,
    warm_rows,
)
from generate_cells import generate_cells
from maps_bench import tile_set, time_http
from sqlalchemy import create_engine, text

CELLS_DB = "bench_cells"
TABLES = {"municipal cells": "generate.py: cells clipped to municipalities", "open cells": "generate_cells.py"}


def _public_ids(url: str) -> tuple[list[str], int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = [str(i) for i in conn.execute(text(
            "SELECT id FROM parcel WHERE public_since <= current_date AND retired_at IS NULL ORDER BY id LIMIT 5000"
        )).scalars()]  # fmt: skip
        count = conn.execute(text("SELECT count(*) FROM parcel")).scalar_one()
    engine.dispose()
    return ids, count


def _measure_table(db: BenchDatabase, name: str, requests: int, n_tiles: int, tipg_python: str) -> tuple[list, int]:
    """Rows (what, landreg, tipg, ratio) for the table in database ``name``, and its parcel count."""
    url = db.cluster.url(name)
    ids, count = _public_ids(url)
    vacuum(url)
    warm_rows(url, ids)
    servers = []
    rows = []
    try:
        ours_port, tipg_port = free_port(), free_port()
        servers.append(start_server(
            [str(VENV_BIN / "uvicorn"), "--factory", "api.app:create_app", "--port", str(ours_port), "--log-level", "warning"],
            {"LANDREG_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "LANDREG_TILE_CACHE_MB": "0"},  # as maps_bench
            ours_port,
        ))  # fmt: skip
        servers.append(start_server(
            [tipg_python, "-m", "uvicorn", "tipg.main:app", "--port", str(tipg_port), "--log-level", "warning"],
            {"DATABASE_URL": db.tcp_url(name), "TIPG_NAME": "tipg", "TIPG_MAX_FEATURES_PER_QUERY": "10000"},
            tipg_port,
        ))  # fmt: skip
        ours, peer = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{tipg_port}"
        for kind, label in (("bbox", "items, bbox + limit 100"), ("feature", "single feature")):
            for concurrency in (1, 8):
                o, p, ratio = compare((ours, "parcels"), (peer, "public.parcel"), ids, kind, concurrency, requests)
                rows.append([
                    f"{label}, {concurrency} client{'s' if concurrency > 1 else ''}",
                    f"{o['median']:.1f} / {o['p95']:.1f} ms, {o['rps']:.0f} req/s",
                    f"{p['median']:.1f} / {p['p95']:.1f} ms, {p['rps']:.0f} req/s",
                    ratio,
                ])  # fmt: skip
        with httpx.Client(timeout=120) as client:
            for z in (13, 16, 10):
                warm, chosen = tile_set(z, 5, seed=1), tile_set(z, n_tiles, seed=2)
                for tileset in (warm, chosen):
                    o_t, o_sizes, o_app = time_http(
                        client, [f"{ours}/collections/parcels/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}" for t in tileset]
                    )
                    p_t, p_sizes, _ = time_http(
                        client,
                        [f"{peer}/collections/public.parcel/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}" for t in tileset],
                    )
                o, a, p = stats(o_t), stats(o_app), stats(p_t)
                rows.append([
                    f"tile z{z} ({n_tiles} tiles)",
                    f"{o['median']:.1f} / {o['p95']:.1f} ms (in the app {a['median']:.1f} ms), "
                    f"{sum(o_sizes) / len(o_sizes) / 1024:.0f} KiB",
                    f"{p['median']:.1f} / {p['p95']:.1f} ms, {sum(p_sizes) / len(p_sizes) / 1024:.0f} KiB",
                    f"{p['median'] / o['median']:.2f}",
                ])  # fmt: skip
    finally:
        stop_servers(servers)
    return rows, count


def run(
    size: int,
    requests: int = 200,
    n_tiles: int = 30,
    db: BenchDatabase | None = None,
    name: str | None = None,
) -> Report:
    """``db`` and ``name``: the database of :mod:`generate`'s parcels already loaded (e.g. the shared
    one); the second table is loaded here into ``bench_cells`` of the same cluster and dropped after."""
    tipg_python = _tipg_python()
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_api"
    measured = {}
    try:
        if own:
            load_parcels(db, name, size)
        load_parcels(db, CELLS_DB, size, generate_cells(size))
        for table, database in zip(TABLES, (name, CELLS_DB)):
            measured[table] = _measure_table(db, database, requests, n_tiles, tipg_python)
    finally:
        if not own:  # the shared cluster keeps its disk for the benchmarks after this one
            with db.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{CELLS_DB}" WITH (FORCE)'))
        else:
            db.close()
    (first, n_first), (second, n_second) = measured.values()
    rows, summary = [], []
    for a, b in zip(first, second):
        rows.append([a[0], a[1], a[2], a[3], b[1], b[2], b[3]])
        # items and features: req/s; tiles: median round trip
        for table, row, n in ((list(TABLES)[0], a, n_first), (list(TABLES)[1], b, n_second)):
            summary.append([f"{table}: {row[0]} vs tipg ({n:,} parcels)", row[1], f"tipg: {row[2]}", row[3]])
    table = markdown_table(
        [
            "request (median / p95)",
            f"municipal cells ({n_first:,}): landreg",
            "tipg",
            "ratio (>1: landreg faster)",
            f"open cells ({n_second:,}): landreg",
            "tipg",
            "ratio (>1: landreg faster)",
        ],
        rows,
    )
    note = (
        "Ratios: items and single features landreg req/s ÷ tipg req/s, the median of three rounds in turn "
        "[their range] (api_bench.compare); tiles tipg median ÷ landreg median (HTTP round trip). "
        f"Tables: {'; '.join(f'{k} = {v}' for k, v in TABLES.items())}."
    )
    return Report(
        f"Two tables: landreg vs tipg, about {size:,} parcels each",
        f"python bench/cells_bench.py --size {size} --requests {requests} --tiles {n_tiles}",
        f"{table}\n\n{note}",
        summary,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tiles", type=int, default=30, help="tiles per zoom level")
    args = parser.parse_args()
    report = run(args.size, args.requests, args.tiles)
    print(report.table)
    print(f"written to {report.save('cells')}", file=sys.stderr)


if __name__ == "__main__":
    main()
