"""Replica benchmark (#19): what a read through a streaming standby adds to its latency.

    python bench/replica_bench.py --size 100000

A hot standby of the benchmark's cluster (``pg_basebackup -R -X stream``, as in
tests/test_replicas.py; its own directory and socket, no TCP) replays the primary. Two landreg
servers (uvicorn, one process each) serve the same database: one from the primary only, one with
the standby as its read replica (``LANDREG_READ_DATABASE_URLS``: anonymous GETs are read there,
after the routing's checks; /ready must show the replica in use first). The same seeded requests
go to each, alternating, 1 client: items in a bbox (limit 100) and single features. The first
round warms both servers and both clusters' caches and is not counted. Target: the standby adds
less than 10 % to the median latency.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from api_bench import measure
from common import (
    ROOT,
    VENV_BIN,
    BenchDatabase,
    Report,
    free_port,
    load_parcels,
    markdown_table,
    run_checked,
    start_server,
    stop_servers,
    vacuum,
)
from sqlalchemy import create_engine, text

from landreg.localdb import LocalCluster

TARGET_ADDED = 0.10


def _as_service_user(cluster: LocalCluster) -> dict:
    """Run a server program as the cluster's owner (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(cluster.service_user)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}


def start_standby(db: BenchDatabase) -> tuple[LocalCluster, float]:
    """A streaming standby of ``db``'s cluster, running; and the seconds its base backup took."""
    primary = db.cluster
    standby = LocalCluster(root=Path(tempfile.mkdtemp(prefix="landreg-standby-")), bindir=primary.bindir, port=db.port)
    standby._prepare_dirs()
    started = time.perf_counter()
    run_checked(
        [str(primary.bindir / "pg_basebackup"), "-h", str(primary.socket_dir), "-p", str(primary.port)]
        + ["-U", "landreg", "-D", str(standby.pgdata), "-R", "-X", "stream", "-c", "fast"],
        3600,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **_as_service_user(standby),
    )
    seconds = time.perf_counter() - started
    with (standby.pgdata / "postgresql.auto.conf").open("a") as conf:  # its own socket, no TCP port
        conf.write(f"listen_addresses = ''\nunix_socket_directories = '{standby.socket_dir}'\n")
    standby.start()
    return standby, seconds


def _ids(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = [str(i) for i in conn.execute(text(
            "SELECT id FROM parcel WHERE public_since <= current_date AND retired_at IS NULL ORDER BY id LIMIT 5000"
        )).scalars()]  # fmt: skip
    engine.dispose()
    return ids


def _wait_for_replica(base: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready = httpx.get(f"{base}/ready", timeout=10).json()
        if any(d["role"] == "replica" and d["in_use"] for d in ready.get("databases", [])):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the standby was not in use within {seconds:.0f} s: {ready}")


def run(size: int, requests: int = 200, db: BenchDatabase | None = None, name: str | None = None) -> Report:
    """``db`` and ``name``: an already loaded database to use (else one is loaded here). The standby
    is a copy of the whole cluster, made here and removed after."""
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_replica"
    servers = []
    standby = None
    rows, summary = [], []
    try:
        url = load_parcels(db, name, size) if own else db.cluster.url(name)
        ids = _ids(url)
        vacuum(url)  # before the backup: the standby gets the same visibility map and statistics
        standby, backup_s = start_standby(db)
        bases = {}
        for label, extra in (("primary", {}), ("standby", {"LANDREG_READ_DATABASE_URLS": standby.url(name)})):
            port = free_port()
            servers.append(start_server(
                [str(VENV_BIN / "uvicorn"), "--factory", "api.app:create_app", "--port", str(port), "--log-level", "warning"],
                {"LANDREG_DATABASE_URL": url, "PYTHONPATH": str(ROOT)} | extra,
                port,
                path="/ready",
            ))  # fmt: skip
            bases[label] = f"http://127.0.0.1:{port}"
        _wait_for_replica(bases["standby"])
        for kind, label in (("bbox", "items, bbox + limit 100"), ("feature", "single feature")):
            measured = {"primary": [], "standby": []}
            for round_ in range(3):  # the first warms both
                for target in ("primary", "standby"):
                    m = measure(bases[target], "parcels", ids, kind, 1, requests)
                    if round_:
                        measured[target].append(m)
            p, s = ({k: sum(m[k] for m in ms) / len(ms) for k in ms[0]} for ms in measured.values())
            added = s["median"] / p["median"] - 1
            rows.append([
                f"{label}, 1 client",
                f"{p['median']:.2f} / {p['p95']:.2f} ms",
                f"{s['median']:.2f} / {s['p95']:.2f} ms",
                f"{100 * added:+.1f} %",
                f"< {100 * TARGET_ADDED:.0f} %",
            ])  # fmt: skip
            summary.append([
                f"replica: {label} through the standby ({size:,} parcels)",
                f"{s['median']:.2f} ms",
                f"primary: {p['median']:.2f} ms",
                f"{p['median'] / s['median']:.2f} ({100 * added:+.1f} % added; target < {100 * TARGET_ADDED:.0f} %)",
            ])  # fmt: skip
    finally:
        stop_servers(servers)
        if standby is not None:
            if standby.is_running():
                standby.stop()
            shutil.rmtree(standby.root, ignore_errors=True)
        if own:
            db.close()
    table = markdown_table(
        ["request (median / p95 latency)", "primary only", "through the standby", "added", "target"], rows
    )
    return Report(
        f"Replica benchmark, {size:,} parcels (base backup of the cluster: {backup_s:.0f} s)",
        f"python bench/replica_bench.py --size {size} --requests {requests}",
        table,
        summary,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    report = run(args.size, args.requests)
    print(report.table)
    print(f"written to {report.save('replica')}", file=sys.stderr)


if __name__ == "__main__":
    main()
