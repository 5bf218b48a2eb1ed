"""Maps benchmark: vector tiles against the raw SQL (the floor) and tipg, map HTML sizes, and the
time until the investor map draws its first parcel in headless Chromium.

    python bench/maps_bench.py --size 1000000

Tiles: a seeded set of tiles over the RVR at z10, z13 and z16, each fetched from landreg's tile
endpoint (anonymous: public parcels, access control included), computed by the same SQL
statement run directly over one psycopg connection with the session settings the API uses (what
psql would do: no HTTP, no Python web stack), and fetched from tipg's tile endpoint for the same
table. landreg's time is reported twice: the round trip the client sees, and the application's own
time from its Server-Timing header (request in to response out: routing, access control, the
database, compression), which is the tile's generation time the goal is about. landreg's tile cache
is off here (``LANDREG_TILE_CACHE_MB=0``): every tile is generated, as by its peers; what the cache
saves is measured by ``tile_cache_bench``. The HTTP floor is an
empty ASGI application on the same uvicorn sending bodies of the same size: what any Python HTTP
answer costs here before any work is done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import time

import httpx
import morecantile
import psycopg
from api_bench import _load, _port, _start, _tipg_python
from common import (
    ROOT,
    VENV_BIN,
    BenchDatabase,
    Report,
    cpu_busy_seconds,
    load_parcels,
    markdown_table,
    run_measured,
    stats,
    stop_servers,
    vacuum,
)
from sqlalchemy import literal
from sqlalchemy.dialects import postgresql

from landreg import clock, tiles
from landreg.access import PUBLIC
from landreg.features import COLLECTIONS

TMS = morecantile.tms.get("WebMercatorQuad")
RVR_BOX = (6.6, 51.35, 7.8, 51.7)
MAPS = ("standortkarte", "prioritaetenkarte", "flaechensicherungskarte", "gemeindeuebersicht")


def tile_set(z: int, n: int, seed: int) -> list[morecantile.Tile]:
    rng = random.Random(seed + z)
    return [TMS.tile(rng.uniform(RVR_BOX[0], RVR_BOX[2]), rng.uniform(RVR_BOX[1], RVR_BOX[3]), z) for _ in range(n)]


def raw_sql(tile: morecantile.Tile) -> str:
    """The SQL the API runs for an anonymous tile, with its values written in."""
    _, params = tiles.tile_query(COLLECTIONS["parcels"], PUBLIC, tiles.TileRequest(tile.z, tile.x, tile.y))
    aggregated = tile.z < tiles.DETAIL_ZOOM
    statement = tiles._build(  # the statement of tile_query, its values written in instead of slots
        COLLECTIONS["parcels"], PUBLIC, aggregated, False, [], None, lambda name, type_: literal(params[name], type_)
    )
    options = {"literal_binds": True, clock.INLINE: True}  # the register's day written in, as the rest
    return str(statement.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs=options))


def z10_throughput(base: str, n: int) -> list[str]:
    """Throughput of uncached z10 tiles (each aggregates a large share of the parcels) with 1 and 8
    clients: does a second core help when many ask at once (issue #19: it did not, each query took
    both cores with its parallel workers; now each tile takes one). The machine's busy cores (``/proc/stat``) and the CPU
    each tile cost say why: when 8 clients keep every core busy, their rate is the cores ÷ the CPU
    per tile, and a ratio of 2 needs one client to keep less than half of the machine busy."""
    path = base + "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"
    urls = [path.format(z=t.z, x=t.x, y=t.y) for t in tile_set(10, max(n, 16), seed=4)]
    rates, busy = {}, {}
    for clients in (1, 8):
        asyncio.run(_load(urls[:4], clients))  # warm-up
        before = cpu_busy_seconds()
        latencies, seconds = asyncio.run(_load(urls, clients))
        busy[clients] = (cpu_busy_seconds() - before) / seconds
        rates[clients] = (len(urls) / seconds, stats(latencies))
    (one, s1), (eight, s8) = rates[1], rates[8]
    cores = os.cpu_count() or 2
    return [
        "tile z10 throughput (uncached), 8 clients vs 1",
        f"{eight / one:.2f}: {one:.1f} req/s (median {s1['median']:.0f} ms) → {eight:.1f} req/s "
        f"(median {s8['median']:.0f}, p95 {s8['p95']:.0f} ms); cores busy {busy[1]:.2f} → {busy[8]:.2f} of {cores}, "
        f"CPU per tile {busy[1] / one * 1000:.0f} → {busy[8] / eight * 1000:.0f} ms",
        ">= 2",
    ]


def time_http(client: httpx.Client, urls: list[str]) -> tuple[list[float], list[int], list[float]]:
    """Latency seen by the client, body sizes, and the server's own time (Server-Timing) if it says."""
    latencies, sizes, app = [], [], []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        sizes.append(len(response.content))
        timing = response.headers.get("server-timing", "")
        if "app;dur=" in timing:
            app.append(float(timing.split("app;dur=")[1].split(",")[0]))
    return latencies, sizes, app


def time_sql(conninfo: str, statements: list[str], z: int) -> list[float]:
    """The statements over one connection, with the session settings the API uses for this zoom."""
    latencies = []
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET jit = off")
        conn.execute("SET statement_timeout = '120s'")  # as the API's limit bounds its own
        conn.execute("SET max_parallel_workers_per_gather = 0")
        if z < tiles.DETAIL_ZOOM:
            conn.execute("SET work_mem = '64MB'")
        for sql in statements:
            started = time.perf_counter()
            conn.execute(sql).fetchone()
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def time_prepared(url: str, tileset: list[morecantile.Tile]) -> list[float]:
    """The API's own statements with their parameters, through landreg's serving engine in this
    process (prepared from a statement's sixth run and planned as PostgreSQL chooses, as in the
    API): the database's part of a tile as the API gets it, without HTTP and the request's path."""
    from landreg.db import make_engine, single_statements

    engine = make_engine(url, serving=True, pool_size=1, max_overflow=0)
    latencies = []
    try:
        for t in tileset:
            statement, params = tiles.tile_query(COLLECTIONS["parcels"], PUBLIC, tiles.TileRequest(t.z, t.x, t.y))
            with engine.connect() as conn:
                if t.z >= tiles.DETAIL_ZOOM:
                    single_statements(conn)
                started = time.perf_counter()
                tiles.render_tile(conn, statement, params)
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        engine.dispose()
    return latencies


def first_parcel_seconds(url: str, runs: int) -> list[float]:
    """Seconds from navigation until the first parcel path is in the page, in fresh browser tabs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    # "eager": navigation returns at DOMContentLoaded, not at the load event, which waits for the
    # base map's images; unreachable here, they would add the resolver's timeout to every run
    options.page_load_strategy = "eager"
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    found = "return document.querySelector('.leaflet-overlay-pane path, .leaflet-tile-container path') !== null"
    results = []
    try:
        for _ in range(runs + 1):  # the first run warms the browser's caches of scripts, not of tiles
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            started = time.perf_counter()
            driver.get(url)
            while not driver.execute_script(found):
                if time.perf_counter() - started > 60:
                    raise RuntimeError("no parcel drawn within 60 s")
                time.sleep(0.02)
            results.append(time.perf_counter() - started)
    finally:
        driver.quit()
    return results[1:]


def run(
    size: int, n_tiles: int = 30, browser_runs: int = 5, db: BenchDatabase | None = None, name: str | None = None
) -> Report:
    """``db`` and ``name``: an already loaded and scored database to use (else one is prepared here)."""
    tipg_python = _tipg_python()
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_maps"
    servers = []
    rows, sizes_rows, summary = [], [], []
    try:
        if own:
            url = load_parcels(db, name, size)
            run_measured([str(VENV_BIN / "landreg"), "score"], {"LANDREG_DATABASE_URL": url})
        url = db.cluster.url(name)
        env = {"LANDREG_DATABASE_URL": url}
        vacuum(url)
        ours_port, tipg_port = _port(), _port()
        servers.append(
            _start(
                [str(VENV_BIN / "uvicorn"), "--factory", "api.app:create_app", "--port", str(ours_port)]
                + ["--log-level", "warning"],
                # no tile cache: tiles are generated for each request, as by the raw SQL and tipg (a
                # random set repeats tiles at z10); the cache has its own benchmark (tile_cache_bench)
                env | {"PYTHONPATH": str(ROOT), "LANDREG_TILE_CACHE_MB": "0"},
                ours_port,
            )
        )
        servers.append(
            _start(
                [tipg_python, "-m", "uvicorn", "tipg.main:app", "--port", str(tipg_port), "--log-level", "warning"],
                {"DATABASE_URL": db.tcp_url(name), "TIPG_NAME": "tipg"},
                tipg_port,
            )
        )
        echo_port = _port()
        servers.append(
            _start(
                [str(VENV_BIN / "uvicorn"), "echo_app:app", "--port", str(echo_port), "--log-level", "warning"],
                {"PYTHONPATH": str(ROOT / "bench")},
                echo_port,
            )
        )
        ours, peer = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{tipg_port}"
        echo = f"http://127.0.0.1:{echo_port}"
        conninfo = db.libpq(name)
        with httpx.Client(timeout=120) as client:
            for z in (10, 13, 16):
                warm, chosen = tile_set(z, 5, seed=1), tile_set(z, n_tiles, seed=2)
                path_of = "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"
                tipg_of = "/collections/public.parcel/tiles/WebMercatorQuad/{z}/{x}/{y}"
                for tileset in (warm, chosen):
                    ours_t, ours_sizes, ours_app = time_http(
                        client, [ours + path_of.format(z=t.z, x=t.x, y=t.y) for t in tileset]
                    )
                    sql_t = time_sql(conninfo, [raw_sql(t) for t in tileset], z)
                    prepared_t = time_prepared(url, warm + tileset)[len(warm) :]
                    tipg_t, tipg_sizes, _ = time_http(
                        client, [peer + tipg_of.format(z=t.z, x=t.x, y=t.y) for t in tileset]
                    )
                    # the same bodies, uncompressed, from a server that does nothing else
                    echo_t, _, _ = time_http(client, [f"{echo}/?bytes={n}" for n in ours_sizes])
                o, a, s, p, e = stats(ours_t), stats(ours_app), stats(sql_t), stats(tipg_t), stats(echo_t)
                r = stats(prepared_t)
                rows.append(
                    [
                        f"tile z{z} ({n_tiles} tiles)",
                        f"{o['median']:.1f} / {o['p95']:.1f} ms, {sum(ours_sizes) / len(ours_sizes) / 1024:.0f} KiB",
                        f"{a['median']:.1f} / {a['p95']:.1f} ms",
                        f"{s['median']:.1f} / {s['p95']:.1f} ms",
                        f"{r['median']:.1f} / {r['p95']:.1f} ms",
                        f"{p['median']:.1f} / {p['p95']:.1f} ms, {sum(tipg_sizes) / len(tipg_sizes) / 1024:.0f} KiB",
                        f"{e['median']:.1f} ms",
                        f"{a['median'] / s['median']:.2f}",
                        f"{a['median'] / r['median']:.2f}",
                        f"{o['median'] / s['median']:.2f}",
                        f"{p['median'] / o['median']:.2f}",
                    ]
                )
                summary.append(
                    [
                        f"tile z{z}, generated in the API (Server-Timing median, {size:,} parcels)",
                        f"{a['median']:.1f} ms",
                        f"raw SQL: {s['median']:.1f} ms",
                        f"{s['median'] / a['median']:.2f} (goal >= 0.77)",
                    ]
                )
                summary.append(
                    [
                        f"tile z{z}, generated in the API vs its own statement prepared (in process)",
                        f"{a['median']:.1f} ms",
                        f"prepared: {r['median']:.1f} ms",
                        f"{r['median'] / a['median']:.2f}",
                    ]
                )
                summary.append(
                    [
                        f"tile z{z}, HTTP round trip (median)",
                        f"{o['median']:.1f} ms",
                        f"raw SQL + empty HTTP answer: {s['median'] + e['median']:.1f} ms",
                        f"{(s['median'] + e['median']) / o['median']:.2f}",
                    ]
                )
                summary.append(
                    [f"tile z{z} vs tipg", f"{o['median']:.1f} ms", f"tipg: {p['median']:.1f} ms", rows[-1][-1]]
                )
            z10 = z10_throughput(ours, n_tiles)
            sizes_rows.append(z10)
            summary.append([f"tile z10 throughput, 8 clients vs 1 ({size:,} parcels)", z10[1], "— (goal >= 2)", "—"])
            for name in MAPS:
                response = client.get(f"{ours}/maps/{name}")
                response.raise_for_status()
                sizes_rows.append([name, f"{len(response.content) / 1e6:.3f} MB", "< 1 MB"])
                summary.append([f"map HTML: {name}", sizes_rows[-1][1], "— (goal < 1 MB)", "—"])
        lon, lat = 7.012, 51.455  # Essen centre: dense parcels
        drawn = stats(
            [
                1000 * s
                for s in first_parcel_seconds(f"{ours}/maps/standortkarte?lat={lat}&lon={lon}&zoom=15", browser_runs)
            ]
        )
        sizes_rows.append(
            [
                "standortkarte: first parcel drawn (Chromium, z15)",
                f"median {drawn['median'] / 1000:.2f} s, p95 {drawn['p95'] / 1000:.2f} s, max {drawn['max'] / 1000:.2f} s",
                "< 3 s",
            ]
        )
        summary.append(["investor map, first parcels drawn (Chromium)", sizes_rows[-1][1], "— (goal < 3 s)", "—"])
    finally:
        stop_servers(servers)
        if own:
            db.close()
    tile_table = markdown_table(
        [
            "tiles (median / p95)",
            "landreg API (HTTP round trip)",
            "landreg API (Server-Timing: in the application)",
            "raw SQL (floor)",
            "the API's statement, prepared (landreg's engine, in process)",
            "tipg (HTTP round trip)",
            "HTTP floor: same bytes from an empty ASGI app",
            "landreg application / raw SQL (goal <= 1.3)",
            "landreg application / its statement prepared",
            "landreg HTTP / raw SQL",
            "tipg / landreg HTTP (>1: landreg faster)",
        ],
        rows,
    )
    map_table = markdown_table(["map", "landreg", "goal"], sizes_rows)
    command = f"python bench/maps_bench.py --size {size} --tiles {n_tiles} --browser-runs {browser_runs}"
    return Report(f"Maps benchmark, {size:,} parcels", command, f"{tile_table}\n\n{map_table}", summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--tiles", type=int, default=30, help="tiles per zoom level")
    parser.add_argument("--browser-runs", type=int, default=5)
    args = parser.parse_args()
    report = run(args.size, args.tiles, args.browser_runs)
    print(report.table)
    print(f"written to {report.save('maps')}", file=sys.stderr)


if __name__ == "__main__":
    main()
