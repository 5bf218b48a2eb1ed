"""Workers benchmark (#19): throughput of ``landreg serve`` with 2 worker processes against 1.

    python bench/workers_bench.py --size 100000

``landreg serve --workers 1`` runs one uvicorn process, ``--workers 2`` gunicorn with two uvicorn
workers (each with its share of the connection budget). Both serve the same database; the client
(httpx, asyncio, in this process) sends items in a 1.5 km bbox with limit 100 from 8 concurrent
clients, the same seeded requests to each, the two servers alternating so that drift hits both
alike. Target: 2 workers at least 1.7 times the requests per second of 1 on this 2-core machine,
where PostgreSQL and the client share the same two cores (so the figure is a floor for a machine
with the database elsewhere).

Where the cores go is measured too: the machine's busy CPU-seconds over each round (``/proc/stat``),
the server's (its processes, gunicorn's workers included) and the client's own; the rest is
PostgreSQL's. Divided by the requests, they give the most requests per second this machine could
answer if every core did nothing but this work (2 cores ÷ CPU-seconds per request), and so the
largest ratio any number of workers could reach here: the target is out of reach when that
ceiling is below it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from api_bench import _load, _requests
from common import (
    VENV_BIN,
    BenchDatabase,
    Report,
    cpu_busy_seconds,
    free_port,
    load_parcels,
    markdown_table,
    start_server,
    stats,
    stop_servers,
    tree_cpu_seconds,
    vacuum,
)
from sqlalchemy import create_engine, text

TARGET = 1.7
CONCURRENCY = 8


def _ids(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = [str(i) for i in conn.execute(text("SELECT id FROM parcel ORDER BY id LIMIT 100")).scalars()]
    engine.dispose()
    return ids


def run(size: int, requests: int = 300, db: BenchDatabase | None = None, name: str | None = None) -> Report:
    """``db`` and ``name``: an already loaded database to use (else one is loaded here)."""
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_workers"
    servers = {}
    runs: dict[int, list[dict]] = {1: [], 2: []}
    try:
        url = load_parcels(db, name, size) if own else db.cluster.url(name)
        ids = _ids(url)
        vacuum(url)
        bases = {}
        for workers in (1, 2):
            port = free_port()
            servers[workers] = start_server(
                [str(VENV_BIN / "landreg"), "serve", "--workers", str(workers), "--port", str(port)],
                {"LANDREG_DATABASE_URL": url},
                port,
                path="/ready",
            )
            bases[workers] = f"http://127.0.0.1:{port}"
        for _ in range(2):  # alternating
            for workers in (1, 2):
                pid, base = servers[workers].pid, bases[workers]
                asyncio.run(_load(_requests("bbox", base, "parcels", ids, 20, seed=99), CONCURRENCY))  # warm-up
                cpu, busy, served = time.process_time(), cpu_busy_seconds(), tree_cpu_seconds(pid)
                latencies, seconds = asyncio.run(
                    _load(_requests("bbox", base, "parcels", ids, requests, seed=7), CONCURRENCY)
                )  # as api_bench.measure, the CPU read around the timed requests only
                m = stats(latencies) | {"rps": requests / seconds}
                m["client_cores"] = (time.process_time() - cpu) / seconds
                m["server_cores"] = (tree_cpu_seconds(pid) - served) / seconds
                m["busy_cores"] = (cpu_busy_seconds() - busy) / seconds
                runs[workers].append(m)
    finally:
        stop_servers(list(servers.values()))
        if own:
            db.close()
    mean = {w: {k: sum(m[k] for m in ms) / len(ms) for k in ms[0]} for w, ms in runs.items()}
    ratio = mean[2]["rps"] / mean[1]["rps"]
    figures = {w: f"{m['rps']:.0f} req/s (median {m['median']:.1f} / p95 {m['p95']:.1f} ms)" for w, m in mean.items()}
    client = " / ".join(f"{mean[w]['client_cores']:.2f}" for w in (1, 2))
    # CPU-seconds per request of the 2-worker rounds; the machine's 2 cores full of that work
    cores = os.cpu_count() or 2
    per_request = mean[2]["busy_cores"] / mean[2]["rps"]
    ceiling = cores / per_request / mean[1]["rps"]
    split = " / ".join(
        f"{mean[w]['busy_cores']:.2f}: server {mean[w]['server_cores']:.2f}, client {mean[w]['client_cores']:.2f}, "
        f"database and rest {mean[w]['busy_cores'] - mean[w]['server_cores'] - mean[w]['client_cores']:.2f}"
        for w in (1, 2)
    )
    table = markdown_table(
        ["items, bbox + limit 100, 8 clients", "1 worker (uvicorn)", "2 workers (gunicorn)", "2 ÷ 1", "target",
         "the client's own CPU (cores busy, 1 / 2 workers)", "cores busy, 1 / 2 workers",
         f"ceiling: {cores} cores ÷ CPU per request, ÷ 1 worker's rate"],
        [[f"{size:,} parcels, {requests} requests × 2 rounds", figures[1], figures[2], f"{ratio:.2f}", f">= {TARGET}",
          client, split, f"{ceiling:.2f} ({per_request * 1000:.2f} ms per request)"]],
    )  # fmt: skip
    summary = [
        [
            f"throughput, 2 workers vs 1 (items bbox, 8 clients, {size:,} parcels)",
            figures[2],
            f"1 worker: {figures[1]}",
            f"{ratio:.2f} (target >= {TARGET}; this machine allows at most {ceiling:.2f})",
        ]
    ]
    return Report(
        f"Workers benchmark, {size:,} parcels",
        f"python bench/workers_bench.py --size {size} --requests {requests}",
        table,
        summary,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    report = run(args.size, args.requests)
    print(report.table)
    print(f"written to {report.save('workers')}", file=sys.stderr)


if __name__ == "__main__":
    main()
